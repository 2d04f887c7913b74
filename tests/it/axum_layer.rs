//! The `require_auth` middleware in a real axum server on a loopback port, driven over HTTP.

use std::sync::Arc;

use axum::{Extension, Router, middleware, routing::get};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::token::claims::NoExtra;
use tidepass::{Minter, Verified, Verifier, http::axum::require_auth};

async fn me(Extension(claims): Extension<Verified>) -> String {
    format!("hello {}", claims.sub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_auth_guards_a_router_and_hands_the_claims_on() {
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    let verifier = Arc::new(
        Verifier::builder(
            "https://auth.example",
            "api",
            minter.keys().verifying_keys(),
        )
        .build()
        .expect("verifier"),
    );
    let app = Router::new()
        .route("/me", get(me))
        .layer(middleware::from_fn_with_state(
            verifier,
            require_auth::<NoExtra>,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/me", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    let token = minter.token("ada").mint().expect("mint");
    let ok = http
        .get(&url)
        .bearer_auth(token.as_str())
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), "hello ada");

    let none = http.get(&url).send().await.expect("request");
    assert_eq!(none.status(), 401);
    let challenge = none
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error="), "no token: no error code");

    let other = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    let forged = other.token("mallory").mint().expect("mint");
    let bad = http
        .get(&url)
        .bearer_auth(forged.as_str())
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 401);
    let challenge = bad
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}
