//! Where an issuer's secrets come from (issue 28): never made up silently per process.

use tidepass::keys::{Algorithm, SigningKey};
use tidepass::session::refresh::RefreshSecrets;
use tidepass::{ErrorKind, Issuer, Login, MemoryStore, Minter};

fn minter() -> Minter {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    Minter::new(key, "https://auth.example", "api").expect("minter")
}

/// Building an issuer without naming where its refresh-token secrets come from is an error
/// that says what to do (before: a random secret per process, silently, so every restart and
/// every second instance logged users out).
#[test]
fn an_issuer_without_a_secret_source_refuses_to_build() {
    let e = Issuer::builder(MemoryStore::new(), minter())
        .build()
        .expect_err("no secrets");
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(e.to_string().contains("refresh_secrets"), "{e}");
    Issuer::builder(MemoryStore::new(), minter())
        .ephemeral_refresh_secrets()
        .build()
        .expect("named ephemeral secrets");
}

/// Two instances with the same given secret (as behind a load balancer) accept each other's
/// refresh tokens; two ephemeral ones do not, which is why that kind must be asked for.
#[tokio::test]
async fn instances_sharing_a_secret_and_a_store_refresh_each_others_tokens() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let secret = [7u8; 32];
    let on = |secrets: Option<RefreshSecrets>| {
        let b = Issuer::builder(store.clone(), minter());
        match secrets {
            Some(s) => b.refresh_secrets(s),
            None => b.ephemeral_refresh_secrets(),
        }
        .build()
        .expect("issuer")
    };
    let shared = || Some(RefreshSecrets::from_secret(1, &secret).expect("secret"));
    let (a, b) = (on(shared()), on(shared()));
    let pair = a.login(Login::new("alice")).await.expect("login on A");
    b.refresh(pair.refresh.expose())
        .await
        .expect("refresh on B");
    let (c, d) = (on(None), on(None));
    let pair = c.login(Login::new("bob")).await.expect("login on C");
    let e = d
        .refresh(pair.refresh.expose())
        .await
        .expect_err("D cannot");
    assert_eq!(e.kind(), ErrorKind::InvalidRefreshToken);
}

/// Two instances (and a third restarted later on "an empty disk") on one store load the same
/// key ring: the same JWKS, and a refresh token minted by one refreshes on the others. The
/// store never holds the keys in plaintext (checked by the conformance suite on every
/// backend).
#[tokio::test]
async fn instances_on_a_shared_store_share_one_key_ring() {
    use tidepass::keys::Kek;
    use tidepass::store::key_ring::load_key_ring;
    use tidepass::{Audience, Issuer};
    let store = std::sync::Arc::new(MemoryStore::new());
    let instance = || async {
        let kek = Kek::from_secret(&[11u8; 32]).expect("kek");
        let ring = load_key_ring(&*store, &kek, "https://auth.example", Algorithm::EdDSA)
            .await
            .expect("ring");
        let minter =
            Minter::with_keys(ring.keys, "https://auth.example", Audience::from("api")).expect("m");
        Issuer::builder(store.clone(), minter)
            .refresh_secrets(ring.secrets)
            .build()
            .expect("issuer")
    };
    let (a, b) = (instance().await, instance().await);
    assert_eq!(a.minter().keys().jwks(), b.minter().keys().jwks());
    let pair = a.login(Login::new("alice")).await.expect("login on A");
    let next = b
        .refresh(pair.refresh.expose())
        .await
        .expect("refresh on B");
    drop((a, b));
    let c = instance().await;
    c.refresh(next.refresh.expose())
        .await
        .expect("refresh on a restarted C");
}
