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

/// RFC 9470 step-up through the issuer's own tokens: `acr` carries the session's assurance
/// level and `auth_time` the login; a route that demands a recent level-2 login refuses the
/// others with the demand in the challenge, and the elevated session passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_demands_a_recent_strong_login() {
    use axum::extract::FromRef;
    use tidepass::http::axum::{Auth, AuthRejection, require_step_up};
    use tidepass::verify::step_up::StepUp;
    use tidepass::{Issuer, Login, MemoryStore};

    #[derive(Clone)]
    struct App(Arc<Verifier>);
    impl FromRef<App> for Arc<Verifier> {
        fn from_ref(app: &App) -> Self {
            app.0.clone()
        }
    }
    async fn pay(Auth(claims): Auth) -> Result<&'static str, AuthRejection> {
        let demand = StepUp::new()
            .max_age(std::time::Duration::from_secs(300))
            .acr_at_least(2);
        require_step_up(&claims, &demand)?;
        Ok("paid")
    }

    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    let keys = minter.keys().verifying_keys();
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .build()
        .expect("issuer");
    let verifier = Arc::new(
        Verifier::builder("https://auth.example", "api", keys)
            .build()
            .expect("verifier"),
    );
    let app = Router::new()
        .route("/pay", get(pay))
        .with_state(App(verifier.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/pay", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let call = |token: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http.get(url).bearer_auth(token).send().await.expect("pay");
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (r.status().as_u16(), challenge)
        }
    };

    // A fresh level-1 login: acr too low.
    let weak = issuer.login(Login::new("ada")).await.expect("login");
    let claims = verifier.verify(weak.access.as_str()).expect("verify");
    assert_eq!(
        claims.acr.as_deref(),
        Some("1"),
        "acr is the assurance level"
    );
    let (status, challenge) = call(weak.access.as_str().to_owned()).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\"")
            && challenge.contains("acr_values=\"2\"")
            && challenge.contains("max_age=\"300\""),
        "{challenge}"
    );
    // Elevated (a new session id, level 2, auth_time now): paid.
    let strong = issuer
        .elevate(weak.session_id, 2, None)
        .await
        .expect("elevate");
    assert_eq!(
        verifier
            .verify(strong.access.as_str())
            .expect("verify")
            .acr
            .as_deref(),
        Some("2")
    );
    assert_eq!(call(strong.access.as_str().to_owned()).await.0, 200);
    // Level 2, but the login was an hour ago: too old.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let stale = issuer
        .login(Login::new("ada").assurance(2).auth_time(now - 3_600))
        .await
        .expect("login");
    let (status, challenge) = call(stale.access.as_str().to_owned()).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("max_age=\"300\""), "{challenge}");
}
