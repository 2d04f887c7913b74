//! A microservice that verifies tokens on its own. The library's `Follower` reads the auth
//! service's RFC 8414 metadata, fetches its JWKS (again on an unknown kid) and keeps a
//! revocation list in step with the signed feed (failing closed, 503, after five minutes
//! without a sync). What is this service's own: its routes and its flags.
//!
//! ```sh
//! cargo run --example microservice -- --auth http://127.0.0.1:8080
//! curl -s localhost:8081/me -H "authorization: Bearer $ACCESS"
//! ```
//!
//! `--auth URL` (required), `--issuer URL` (the tokens' `iss`; default `--auth`), `--listen
//! ADDR` (127.0.0.1:8081), `--sync-interval MS` (1000), `--revocations redis://…` (pushed
//! revocations, within milliseconds), `--public-url URL` (the URL DPoP proofs name, behind a
//! proxy), `--revocation-source feed|status-lists|both` (feed: tidepass's signed feed, the
//! default; status-lists: the IETF Token Status Lists the auth service publishes, the mechanism
//! verifiers in other languages use). `GET /me` answers the verified claims; `GET /admin`
//! needs scope `admin`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::{Json, Router, routing::get};
use tidepass::Verifier;
use tidepass::http::axum::{Auth, AuthRejection, require_scope};
use tidepass::verify::{dpop::ProofChecker, follow::Follower};

async fn me(Auth(claims): Auth) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*claims).unwrap_or_default())
}

async fn admin(Auth(claims): Auth) -> Result<&'static str, AuthRejection> {
    require_scope(&claims, "admin")?;
    Ok("welcome, admin\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut flags = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let (Some(flag), Some(value)) = (args.next(), args.next()) {
        flags.insert(flag, value);
    }
    let flag = |name: &str| flags.get(name).cloned();
    let auth = flag("--auth").ok_or("--auth URL is required")?;
    let auth = auth.trim_end_matches('/');
    let issuer = flag("--issuer").unwrap_or_else(|| auth.to_owned());
    let interval = flag("--sync-interval").map_or(Ok(1000), |ms| ms.parse())?;
    let mut follow = Follower::builder(&issuer, "api")
        .poll_interval(Duration::from_millis(interval))
        .wait_for_issuer(Duration::from_secs(60));
    if let Some(url) = flag("--revocations") {
        follow = follow.redis_push(&url, "tidepass");
    }
    match flag("--revocation-source").as_deref() {
        None | Some("feed") => {}
        Some("status-lists") => follow = follow.without_revocations().status_lists(),
        Some("both") => follow = follow.status_lists(),
        Some(_) => return Err("--revocation-source is feed, status-lists or both".into()),
    }
    if let Some(url) = flag("--public-url") {
        follow = follow.dpop(ProofChecker::new().public_base(url));
    }
    if issuer != auth {
        // The issuer identifier is not where we reach it: name the documents directly.
        follow = follow
            .jwks_url(format!("{auth}/.well-known/jwks.json"))
            .revocations_url(format!("{auth}/revocations"));
    }
    // Kept to the end: dropping the follower stops its key and revocation refreshes.
    let follower = follow.start().await?;
    let verifier: Arc<Verifier> = follower.verifier().clone();
    let app = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .with_state(verifier);
    let listen = flag("--listen").unwrap_or_else(|| "127.0.0.1:8081".into());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "microservice listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
