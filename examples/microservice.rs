//! A microservice that verifies bearer tokens on its own: it fetches the auth service's JWKS
//! (again on an unknown kid, at most once per 10 s) and keeps a revocation list in step by
//! polling the auth service's signed revocation feed, checked against that JWKS (a forged or
//! replayed feed is refused); with no sync for five minutes it fails closed (503).
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
use tidepass::clock::{Clock, SystemClock};
use tidepass::http::axum::{Auth, AuthRejection, require_scope};
use tidepass::keys::VerifyingKeys;
use tidepass::revocation::{RevocationList, Syncer};
use tidepass::verify::sync::{Fetched, KeySync};
use tidepass::{ErrorKind, Verifier};

const AUDIENCE: &str = "api";

#[derive(Clone)]
struct App {
    verifier: Arc<Verifier>,
    keys: Arc<KeySync>,
    jwks: JwksFetcher,
}

impl FromRef<App> for Arc<Verifier> {
    fn from_ref(app: &App) -> Self {
        app.verifier.clone()
    }
}

/// Fetches the JWKS over HTTP, with its Cache-Control header.
#[derive(Clone)]
struct JwksFetcher {
    url: String,
    http: reqwest::Client,
}

impl JwksFetcher {
    async fn fetch(&self) -> tidepass::Result<Fetched> {
        let unavailable = |e| tidepass::Error::fetch("jwks", e);
        let r = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?;
        let cache_control = r
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.map_err(unavailable)?;
        Ok(Fetched {
            body,
            cache_control,
        })
    }
}

async fn me(Auth(claims): Auth) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*claims).unwrap_or_default())
}

async fn admin(Auth(claims): Auth) -> Result<&'static str, AuthRejection> {
    require_scope(&claims, "admin")?;
    Ok("welcome, admin\n")
}

/// Runs before the extractor's refusal reaches the client: on an unknown kid, refresh the
/// JWKS (rate-limited) so the next request with a newly rotated key succeeds.
async fn watch_unknown_kid(
    axum::extract::State(app): axum::extract::State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(req).await;
    if response.status() == 401
        && let Some(h) = header
        && app
            .verifier
            .verify_bearer(&h)
            .is_err_and(|e| e.kind() == ErrorKind::UnknownKey)
    {
        let _ = app
            .keys
            .on_unknown_kid(SystemClock.now(), || app.jwks.fetch())
            .await;
    }
    response
}

fn usage() -> ! {
    eprintln!(
        "usage: microservice --auth URL [--issuer URL] [--listen ADDR] [--sync-interval MS] [--revocations redis://…]"
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
            _ => usage(),
        }
    }
    let auth = auth.unwrap_or_else(|| usage());
    let issuer = issuer.unwrap_or_else(|| auth.clone());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let jwks = JwksFetcher {
        url: format!("{auth}/.well-known/jwks.json"),
        http: http.clone(),
    };
    let list = Arc::new(RevocationList::new());
    let verifier = Arc::new(
        Verifier::builder(&issuer, AUDIENCE, VerifyingKeys::default())
            .revocations(list.clone())
            .build()?,
    );
    // Wait for the auth service's keys, then follow them (max-age, unknown kids).
    let keys = Arc::new(KeySync::new(
        verifier.clone(),
        std::time::Duration::from_secs(300),
        std::time::Duration::from_secs(10),
    ));
    let mut every = loop {
        match keys.sync(|| jwks.fetch()).await {
            Ok(every) => break every,
            Err(e) => {
                eprintln!("microservice: waiting for {auth}: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    {
        let (keys, jwks) = (keys.clone(), jwks.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(every)).await;
                match keys.sync(|| jwks.fetch()).await {
                    Ok(next) => every = next,
                    Err(e) => eprintln!("microservice: JWKS refresh failed, keeping the keys: {e}"),
                }
            }
        });
    }

    // With --revocations redis://…, revocations are pushed (Redis pub/sub) instead of polled.
    if let Some(url) = revocations {
        let store =
            tidepass::store::RedisStore::connect(&url, "tidepass", Duration::from_secs(2)).await?;
        let client = redis::Client::open(url.as_str())?;
        tokio::spawn(tidepass::store::follow_revocations(
            client,
            store,
            list.clone(),
            Arc::new(SystemClock),
            |e| eprintln!("microservice: revocation push: {e}"),
        ));
    }
    // Keep the revocation list in step by polling the signed feed, checked against the keys
    // the JWKS sync keeps current: a forged or replayed feed is refused.
    let syncer = Syncer::new(list);
    let url = format!("{auth}/revocations");
    let feed_keys = verifier.clone();
    tokio::spawn(async move {
        let fetch = |since: Option<u64>| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let mut req = http
                    .get(&url)
                    .header(reqwest::header::ACCEPT, "application/jwt");
                if let Some(v) = since {
                    req = req.query(&[("since", v)]);
                }
                let body = req.send().await.and_then(|r| r.error_for_status());
                let body = match body {
                    Ok(r) => r.text().await,
                    Err(e) => Err(e),
                };
                body.map_err(|e| tidepass::Error::fetch("revocation feed", e))
            }
        };
        syncer
            .run_signed(
                Duration::from_millis(interval),
                &SystemClock,
                || feed_keys.keys(),
                fetch,
                tokio::time::sleep,
                |e| eprintln!("microservice: revocation sync failed, keeping the last list: {e}"),
            )
            .await;
    });

    let app = App {
        verifier,
        keys,
        jwks,
    };
    let router = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            watch_unknown_kid,
        ))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "microservice listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router).await?;
    Ok(())
}
