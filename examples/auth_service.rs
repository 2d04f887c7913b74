//! The auth service: the library's endpoints (`tidepass::http::server` as an axum router) plus
//! what is this service's own: its users, the argon2 password check behind `/login`,
//! `/healthz`, `/metrics` and its flags (below; see the README for each).
//!
//! ```sh
//! cargo run --example auth_service -- --user alice:secret
//! curl -s localhost:8080/login -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"secret","device":"laptop"}'
//! ```
//!
//! `--listen ADDR --issuer URL --data DIR --store URL --access-ttl SECS --grace SECS
//! --user NAME:PASSWORD... --client-id ID --client-secret S --host-cookie --dpop-nonces
//! --trusted-proxy IP... --allowed-origin URL... --rotate-every SECS --jwks-max-age SECS
//! --status-list-ttl SECS`.
//! On a shared store (Redis, PostgreSQL) the keys live in its key ring, sealed under the KEK
//! in `TIDEPASS_KEK` (required there); on the embedded store without one, in `--data`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, extract::State};
use tidepass::http::axum::{into_response, json_errors};
use tidepass::http::server::{AuthServer, Delivery};
use tidepass::issuer::StatusLists;
use tidepass::issuer::events::{Both, MetricsSink, TracingSink};
use tidepass::issuer::guard::{DefaultRisk, FailureLimiter};
use tidepass::keys::{Algorithm, Kek, RingPolicy, files};
use tidepass::store::{AnyStore, key_ring::KeyRing};
use tidepass::verify::dpop::{Nonces, ProofChecker};
use tidepass::{ClientContext, Issuer, Login, Minter, Policy};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Ours: the users' argon2 hashes, and one to check when the user is unknown (same cost).
struct Users(HashMap<String, String>, String);

fn hash(password: &str) -> Result<String, Failure> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let hash = argon2::Argon2::default().hash_password(password.as_bytes(), &salt);
    Ok(hash.map_err(|e| e.to_string())?.to_string())
}

#[derive(serde::Deserialize)]
struct LoginBody {
    username: String,
    password: String,
    device: Option<String>,
}

/// `POST /login` (JSON; `?cookie=1` for browsers): the password check is ours, on a blocking
/// thread (argon2 takes tens of milliseconds of CPU); the rest is the library's.
async fn login(
    State((server, users)): State<(Arc<AuthServer<AnyStore>>, Arc<Users>)>,
    parts: Parts,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        let error = Json(serde_json::json!({ "error": "invalid_request" }));
        return (axum::http::StatusCode::BAD_REQUEST, error).into_response();
    };
    let check = async move {
        let (name, password) = (body.username.clone(), body.password);
        let ok = tokio::task::spawn_blocking(move || {
            let (argon, hash) = (argon2::Argon2::default(), users.0.get(&name));
            let parsed = PasswordHash::new(hash.unwrap_or(&users.1));
            let ok = parsed.is_ok_and(|h| argon.verify_password(password.as_bytes(), &h).is_ok());
            ok && hash.is_some()
        });
        let device = ClientContext {
            device: body.device,
            ..Default::default()
        };
        let login = Login::new(body.username).scope("read").context(device);
        ok.await.unwrap_or(false).then_some(login)
    };
    let delivery = Delivery::from_query(&parts);
    into_response(server.login(&parts, delivery, check).await)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut flags: HashMap<String, Vec<String>> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(f) = args.next() {
        let switch = matches!(f.as_str(), "--host-cookie" | "--dpop-nonces");
        let value = switch.then(String::new).or_else(|| args.next());
        let value = value.ok_or(format!("{f} needs a value"))?;
        flags.entry(f).or_default().push(value);
    }
    let flag = |n: &str, d: &str| {
        flags
            .get(n)
            .and_then(|v| v.last())
            .map_or(d.into(), String::clone)
    };
    let all = |name: &str| flags.get(name).cloned().unwrap_or_default();
    let secs = |name: &str, default: &str| flag(name, default).parse().map(Duration::from_secs);
    let (access_ttl, jwks_max_age) = (secs("--access-ttl", "300")?, secs("--jwks-max-age", "300")?);
    let poll = Duration::from_secs(5);
    let data = std::path::PathBuf::from(flag("--data", "tidepass-data"));
    std::fs::create_dir_all(&data)?;
    let listener = tokio::net::TcpListener::bind(flag("--listen", "127.0.0.1:8080")).await?;
    let issuer_url = flag("--issuer", &format!("http://{}", listener.local_addr()?));
    let default_store = format!("redb:{}", data.join("sessions.redb").display());
    let store = AnyStore::connect(&flag("--store", &default_store), "tidepass").await?;
    // Keys: the store's sealed key ring with a KEK (required on a shared store), else files.
    let kek = match Kek::from_env("TIDEPASS_KEK") {
        Err(e) if std::env::var_os("TIDEPASS_KEK").is_some() => return Err(e.into()), // malformed
        kek => kek.ok(),
    };
    // DPoP nonces every instance accepts: from the KEK they share (else this process's own).
    let secret = kek
        .as_ref()
        .map(|k| k.derived_secret(&format!("dpop-nonces {issuer_url}")));
    let ring = match kek {
        Some(kek) => {
            let every = secs("--rotate-every", "86400")?;
            // Refresh secrets every 30 days, the superseded one kept as long as a session.
            let keep = Policy::web().absolute + Duration::from_secs(65);
            let policy = RingPolicy::for_server(every, jwks_max_age, access_ttl, poll)
                .rotate_secrets(Duration::from_secs(30 * 86_400), keep);
            Some(KeyRing::new(store.clone(), kek, &issuer_url, Algorithm::EdDSA, policy).poll(poll))
        }
        None if store.is_shared() => return Err("a shared store needs TIDEPASS_KEK".into()),
        None => None,
    };
    let keys = match &ring {
        Some(ring) => ring.keys().await?,
        None => files::load_or_create(&data, Algorithm::EdDSA)?,
    };
    let minter = Minter::with_keys(keys.keys, &issuer_url, "api".into())?.with_ttl(access_ttl);
    let mut policy = Policy::web();
    policy.grace = secs("--grace", "10")?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let mut issuer = Issuer::builder(store, minter)
        .client_id("tidepass-example")
        .refresh_secrets(keys.secrets)
        .policy(policy)
        .risk(DefaultRisk)
        .events(Both(TracingSink, MetricsSink));
    // Token Status Lists at <issuer>/statuslists/k, for verifiers in any language: published
    // over https, or plain http on loopback (a test issuer such as http://auth.local serves
    // none: a list fetched over plain http could be replayed).
    let ttl = secs("--status-list-ttl", "60")?;
    match StatusLists::new(format!("{}/statuslists", issuer_url.trim_end_matches('/'))) {
        Ok(lists) => issuer = issuer.status_lists(lists.ttl(ttl)?),
        Err(_) if issuer_url.starts_with("http://") && !flags.contains_key("--status-list-ttl") => {
            eprintln!("no status lists: the issuer {issuer_url} is plain http off loopback");
        }
        Err(e) => return Err(e.into()),
    }
    let issuer = issuer.build()?;
    // Failed logins and refreshes per client address (bounded): 10 at once, then one per 6 s.
    let mut server = AuthServer::builder(issuer)
        .jwks_max_age(jwks_max_age)
        .failure_limiter(FailureLimiter::new(10, Duration::from_secs(6)));
    if let Some(ring) = ring {
        server = server.key_ring(ring);
    }
    if flags.contains_key("--host-cookie") {
        server = server.cookie(tidepass::http::cookie::RefreshCookie::host());
    }
    if flags.contains_key("--dpop-nonces") {
        let window = Duration::from_secs(300);
        let nonces = secret.map_or_else(|| Nonces::generate(window), |s| Nonces::new(&*s, window));
        server = server.dpop(ProofChecker::new().nonces(nonces?));
    }
    if let Some(secret) = flags.get("--client-secret").and_then(|v| v.last()) {
        server = server.introspection_client(flag("--client-id", "resource-server"), secret);
    }
    for origin in all("--allowed-origin") {
        server = server.allowed_origin(origin);
    }
    for proxy in all("--trusted-proxy") {
        server = server.trusted_proxy(proxy.parse()?);
    }
    let server = Arc::new(server.build()?);

    let users = all("--user");
    let users = tokio::task::spawn_blocking(move || -> Result<Users, Failure> {
        let mut table = HashMap::new();
        for user in users {
            let (name, password) = user.split_once(':').ok_or("--user NAME:PASSWORD")?;
            table.insert(name.to_owned(), hash(password)?);
        }
        Ok(Users(table, hash("no such user")?))
    });
    let users = Arc::new(users.await??);
    let metrics = move || std::future::ready(metrics.render());
    let app = Router::new()
        .route("/login", post(login))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state((server.clone(), users))
        .merge(tidepass::http::axum::router(server))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::from_fn(json_errors));
    println!("auth_service issuer {issuer_url}");
    let (address, app) = (
        listener.local_addr()?,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    println!("auth_service listening on http://{address}");
    axum::serve(listener, app).await?;
    Ok(())
}
