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

/// The external-signer seam: a key held by a device tidepass never reads (here an Ed25519
/// key pair in ring, standing in for an HSM) mints tokens that verify against the published
/// JWKS; every signature is the device's; nothing can be exported; a device answering a
/// malformed signature fails the mint with an error, not a panic.
#[test]
fn an_external_signer_mints_through_the_seam() {
    use base64::Engine as _;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tidepass::keys::ExternalSigner;

    struct Hsm {
        pair: Ed25519KeyPair,
        signed: AtomicUsize,
        broken: bool,
    }
    impl ExternalSigner for Hsm {
        fn algorithm(&self) -> Algorithm {
            Algorithm::EdDSA
        }
        fn public_jwk(&self) -> serde_json::Value {
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(self.pair.public_key().as_ref());
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x})
        }
        fn sign(&self, message: &[u8]) -> tidepass::Result<Vec<u8>> {
            self.signed.fetch_add(1, Ordering::Relaxed);
            let sig = self.pair.sign(message).as_ref().to_vec();
            Ok(if self.broken { sig[..10].to_vec() } else { sig })
        }
    }
    let hsm = |broken| {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("k");
        Arc::new(Hsm {
            pair: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair"),
            signed: AtomicUsize::new(0),
            broken,
        })
    };
    let device = hsm(false);
    let key = SigningKey::external(device.clone()).expect("external key");
    assert!(key.export_private().is_err(), "tidepass never holds it");
    let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
    let token = minter.token("ada").mint().expect("mint");
    assert_eq!(
        device.signed.load(Ordering::Relaxed),
        1,
        "the device signed it"
    );
    let jwks = minter.keys().jwks().to_string();
    let keys = tidepass::keys::VerifyingKeys::from_jwks(&jwks).expect("published");
    let verifier = tidepass::Verifier::new("https://auth.example", "api", keys).expect("verifier");
    assert_eq!(
        verifier.verify(token.as_str()).expect("verifies").sub,
        "ada"
    );

    let broken = Minter::new(
        SigningKey::external(hsm(true)).expect("key"),
        "https://a",
        "api",
    )
    .expect("minter");
    let e = broken.token("ada").mint().expect_err("a short signature");
    assert_eq!(e.kind(), ErrorKind::InvalidKey);
}

/// The operator's `tidepass keyring` commands on a redb store: status without the KEK (it
/// opens nothing), a rotation by hand in its two steps, a leaked key retired at once, a KEK
/// re-seal; no KEK in the environment is a one-line refusal.
#[cfg(all(feature = "cli", feature = "redb"))]
#[tokio::test]
async fn the_cli_rotates_retires_and_reseals_the_ring() {
    use std::process::Command;
    use tidepass::keys::Kek;
    use tidepass::store::RedbStore;
    use tidepass::store::key_ring::load_key_ring;
    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4";
    let path = crate::stores::redb::temp_path("keyring-cli");
    let first = {
        let store = RedbStore::open(&path).expect("open");
        let kek = Kek::from_base64url_secret(K1).expect("kek");
        load_key_ring(&store, &kek, "https://auth.example", Algorithm::EdDSA)
            .await
            .expect("ring")
            .keys
            .active()
            .kid()
            .as_str()
            .to_owned()
    };
    let store = format!("redb:{}", path.display());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tidepass"));
        c.arg("keyring")
            .args(args)
            .args(["--store", &store, "--issuer", "https://auth.example"]);
        c.env_remove("TIDEPASS_KEK").env_remove("TIDEPASS_NEW_KEK");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            serde_json::from_str::<serde_json::Value>(&text).ok(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, status, err) = run(&["status"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let status = status.expect("json");
    assert_eq!(status["active"], first.as_str());
    let (code, _, err) = run(&["rotate", "--publish-ahead", "0"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("TIDEPASS_KEK"), "{err}");
    let k1 = [("TIDEPASS_KEK", K1)];
    let (_, step1, _) = run(&["rotate", "--publish-ahead", "0"], &k1);
    assert_eq!(
        step1.expect("json")["active"],
        first.as_str(),
        "published, not signing"
    );
    let next = run(&["status"], &[]).1.expect("json")["next"]
        .as_str()
        .expect("next")
        .to_owned();
    let (_, step2, _) = run(&["rotate", "--publish-ahead", "0"], &k1);
    assert_eq!(
        step2.expect("json")["active"],
        next.as_str(),
        "the next key signs"
    );
    let status = run(&["status"], &[]).1.expect("json");
    assert_eq!(status["retired"], serde_json::json!([first]));
    let (code, retired, err) = run(&["retire", &first], &k1);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(retired.expect("json")["active"], next.as_str());
    assert_eq!(
        run(&["status"], &[]).1.expect("json")["retired"],
        serde_json::json!([])
    );
    let (code, _, err) = run(
        &["reseal"],
        &[("TIDEPASS_KEK", K1), ("TIDEPASS_NEW_KEK", K2)],
    );
    assert_eq!(code, Some(0), "{err}");
    let k2_id = Kek::from_base64url_secret(K2).expect("kek").id().to_owned();
    assert_eq!(
        run(&["status"], &[]).1.expect("json")["sealed_under"],
        serde_json::json!([k2_id])
    );
    let (code, _, _) = run(&["rotate"], &k1);
    assert_eq!(code, Some(1), "the old KEK no longer opens it");
}
