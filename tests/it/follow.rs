//! `Follower` against an issuer on a loopback port: discovery through RFC 8414 metadata (and
//! its refusal when the metadata speaks for another issuer), keys followed across a rotation
//! with one refresh on the new kid, and forged kids that cannot make it flood the issuer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::verify::follow::Follower;
use tidepass::{ErrorKind, Minter};

struct Issuer {
    minter: Minter,
    issuer_in_metadata: std::sync::Mutex<String>,
    jwks_hits: AtomicUsize,
}

async fn metadata(State(s): State<Arc<Issuer>>) -> axum::Json<serde_json::Value> {
    let iss = s.issuer_in_metadata.lock().expect("lock").clone();
    axum::Json(serde_json::json!({
        "issuer": iss,
        "jwks_uri": format!("{}/jwks", s.minter.issuer()),
    }))
}

async fn jwks(State(s): State<Arc<Issuer>>) -> axum::Json<serde_json::Value> {
    s.jwks_hits.fetch_add(1, Ordering::Relaxed);
    axum::Json(s.minter.keys().jwks())
}

/// An issuer at `http://127.0.0.1:PORT` serving its metadata and JWKS.
async fn issuer() -> Arc<Issuer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Arc::new(Issuer {
        minter: Minter::new(
            SigningKey::generate(Algorithm::EdDSA).expect("key"),
            &url,
            "api",
        )
        .expect("minter"),
        issuer_in_metadata: std::sync::Mutex::new(url),
        jwks_hits: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/jwks", get(jwks))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_keys_found_through_metadata() {
    let s = issuer().await;
    let url = s.minter.issuer().to_owned();
    let follower = Follower::builder(&url, "api")
        .without_revocations()
        .min_unknown_kid_gap(Duration::from_secs(3600))
        .start()
        .await
        .expect("start");
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 1);
    let token = s.minter.token("ada").mint().expect("mint");
    assert_eq!(
        follower.verify(token.as_str()).await.expect("verify").sub,
        "ada"
    );

    // The issuer rotates: a token with the new kid costs one JWKS fetch, then verifies.
    s.minter.rotate_at(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        0,
        Duration::from_secs(60),
    );
    let rotated = s.minter.token("bob").mint().expect("mint");
    assert_eq!(
        follower.verify(rotated.as_str()).await.expect("verify").sub,
        "bob"
    );
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 2);

    // Forged kids: refused, and inside the gap none of them reaches the issuer.
    let other = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        &url,
        "api",
    )
    .expect("minter");
    for _ in 0..20 {
        let forged = other.token("mallory").mint().expect("mint");
        let err = follower.verify(forged.as_str()).await.expect_err("forged");
        assert_eq!(err.kind(), ErrorKind::UnknownKey);
    }
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 2, "no flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_for_another_issuer_is_refused() {
    let s = issuer().await;
    let url = s.minter.issuer().to_owned();
    *s.issuer_in_metadata.lock().expect("lock") = "https://evil.example".into();
    let err = Follower::builder(&url, "api")
        .without_revocations()
        .start()
        .await
        .expect_err("another issuer's metadata");
    assert_eq!(err.kind(), ErrorKind::InvalidMetadata);
    assert_eq!(
        s.jwks_hits.load(Ordering::Relaxed),
        0,
        "its keys were never fetched"
    );
    // Asked for a feed the metadata does not name: a clear configuration error.
    *s.issuer_in_metadata.lock().expect("lock") = url.clone();
    let err = Follower::builder(&url, "api")
        .start()
        .await
        .expect_err("no feed");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    // Nobody listening: a fetch error, not a hang.
    let err = Follower::builder("http://127.0.0.1:9", "api")
        .without_revocations()
        .start()
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind(), ErrorKind::Fetch);
}
