//! A microservice that verifies bearer tokens on its own: the library's `Follower` reads the
//! auth service's RFC 8414 metadata, fetches its JWKS (again on an unknown kid, at most once
//! per 10 s: the `Auth` extractor does it before it answers, so a key rotation never answers
//! 401 to a valid token) and keeps a revocation list in step by polling the signed revocation feed,
//! checked against that JWKS (a forged or replayed feed is refused); with no sync for five
//! minutes it fails closed (503). What is this service's own: its routes and flags.
//!
//! ```sh
//! cargo run --example microservice -- --auth http://127.0.0.1:8080
//! curl -s localhost:8081/me -H "authorization: Bearer $ACCESS"
//! ```
//!
//! Flags: `--auth URL` (required), `--issuer URL` (the tokens' `iss`; default the `--auth`
//! URL, which is the auth service's default), `--listen ADDR` (127.0.0.1:8081), `--sync-interval MS`
//! (1000), `--revocations redis://…` (also follow the auth service's Redis store: revocations
//! arrive by pub/sub within milliseconds; polling stays on as the fallback). `GET /me` answers the verified claims or 401 with `WWW-Authenticate`; `GET /admin`
//! needs scope `admin` (403 `insufficient_scope` otherwise).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use tidepass::Verifier;
use tidepass::http::axum::{Auth, AuthRejection, require_scope};
use tidepass::verify::follow::Follower;

const AUDIENCE: &str = "api";

#[derive(Clone)]
struct App {
    follower: Arc<Follower>,
}

impl FromRef<App> for Arc<Verifier> {
    fn from_ref(app: &App) -> Self {
        app.follower.verifier().clone()
    }
}

async fn me(Auth(claims): Auth) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*claims).unwrap_or_default())
}

async fn admin(Auth(claims): Auth) -> Result<&'static str, AuthRejection> {
    require_scope(&claims, "admin")?;
    Ok("welcome, admin\n")
}

fn usage() -> ! {
    eprintln!(
        "usage: microservice --auth URL [--issuer URL] [--listen ADDR] [--sync-interval MS] [--revocations redis://…] [--public-url URL]"
    );
    std::process::exit(if std::env::args().any(|a| a == "--help" || a == "-h") {
        0
    } else {
        2
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut revocations: Option<String> = None;
    let mut issuer: Option<String> = None;
    // DPoP proofs name the URL a request was sent to: by default the request's own (its
    // `Host`, as reached here directly); behind a proxy, the public URL.
    let mut public_url: Option<String> = None;
    let (mut auth, mut listen, mut interval): (Option<String>, SocketAddr, u64) =
        (None, "127.0.0.1:8081".parse()?, 1000);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--auth" => auth = Some(value().trim_end_matches('/').to_owned()),
            "--issuer" => issuer = Some(value()),
            "--listen" => listen = value().parse().unwrap_or_else(|_| usage()),
            "--sync-interval" => interval = value().parse().unwrap_or_else(|_| usage()),
            "--revocations" => revocations = Some(value()),
            "--public-url" => public_url = Some(value()),
            _ => usage(),
        }
    }
    let auth = auth.unwrap_or_else(|| usage());
    let issuer = issuer.unwrap_or_else(|| auth.clone());
    // The library follows the issuer: its RFC 8414 metadata names the JWKS and the signed
    // revocation feed. When the issuer identifier is not where we reach it (one public URL
    // in front of several instances), name the documents directly.
    let builder = || {
        let mut b =
            Follower::builder(&issuer, AUDIENCE).poll_interval(Duration::from_millis(interval));
        // With --revocations redis://…, revocations are also pushed (Redis pub/sub), within
        // milliseconds; polling stays on as the fallback.
        if let Some(url) = &revocations {
            b = b.redis_push(url, "tidepass");
        }
        if let Some(url) = &public_url {
            b = b.dpop(tidepass::verify::dpop::ProofChecker::new().public_base(url));
        }
        if issuer == auth {
            b
        } else {
            b.jwks_url(format!("{auth}/.well-known/jwks.json"))
                .revocations_url(format!("{auth}/revocations"))
        }
    };
    let follower = loop {
        match builder().start().await {
            Ok(f) => break Arc::new(f),
            Err(e) => {
                eprintln!("microservice: waiting for {auth}: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };

    let app = App { follower };
    let router = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "microservice listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router).await?;
    Ok(())
}
