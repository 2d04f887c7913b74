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
