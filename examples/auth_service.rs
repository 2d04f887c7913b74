//! The auth service: logs users in and hands out token pairs, rotates refresh tokens, serves
//! its JWKS and revocation list.
//!
//! ```sh
//! cargo run --example auth_service -- --user alice:secret
//! curl -s localhost:8080/login -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"secret","device":"laptop"}'
//! ```
//!
//! The endpoints are the library's ([`tidepass::http::server`], as an axum router): `/token`,
//! `/logout`, `/sessions`, `/revoke`, `/introspect`, the JWKS, the revocation feed and the
//! RFC 8414 metadata. What is this service's own: the user table, the argon2 password check
//! behind `/login`, `/healthz`, `/metrics` and the flags.
//!
//! Flags: `--listen ADDR` (127.0.0.1:8080), `--issuer URL` (the issuer identifier and public
//! base URL; default the address it listens on), `--data DIR` (./tidepass-data: the signing key,
//! the refresh secret and, by default, the redb store, so a restart keeps keys and sessions),
//! `--store URL` (`memory:`, `redb:PATH`, `redis://…`, `redis+cluster://host:port,…`,
//! `postgres://…` with the matching feature), `--access-ttl SECS` (300), `--grace SECS` (10), `--user NAME:PASSWORD`
//! (repeatable), `--client-secret S` (for `/introspect`, by HTTP Basic or the form, as client
//! `--client-id ID`, default `resource-server`), `--host-cookie` (the refresh cookie in its
//! `__Host-` form on `Path=/`), `--dpop-nonces` (DPoP proofs on `/login` and `/token` must
//! carry a server nonce, RFC 9449 §8; proofs are accepted and bind sessions either way),
//! `--trusted-proxy IP` (repeatable: whose `X-Forwarded-For` names the client for the rate
//! limits on failed logins and refreshes; anyone else's is ignored), `--allowed-origin URL`
//! (repeatable: the pages whose cookie-mode refreshes are accepted; without one, only
//! same-origin requests), `--rotate-every SECS` (86400: the signing key's period, with a
//! shared key ring), `--jwks-max-age SECS` (300: the JWKS `Cache-Control: max-age`; the next
//! key is published `max-age` + 15 s before it signs, and a retired key kept the access-token
//! lifetime + 65 s after it stopped).
//!
//! Keys and secrets. On a shared store (`redis://…`, `postgres://…`) the service keeps nothing
//! on local disk: the signing keys and the refresh secret live in the store's key ring,
//! sealed under the KEK in the environment variable `TIDEPASS_KEK` (base64url, no padding, of
//! at least 32 random bytes; the same on every instance). Without it, the service refuses to
//! start: it never makes keys of its own there. Every instance rotates the ring on schedule
//! (the first to see a rotation due makes it; the others adopt it within 5 s), and the refresh
//! secret every 30 days (the superseded one accepted for the longest session). With the
//! embedded default (redb under `--data`) and no `TIDEPASS_KEK`, the key and the secret are
//! files in `--data`, as one instance needs; set `TIDEPASS_KEK` and they live sealed in the
//! redb file's key ring too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tidepass::http::axum::{into_response, json_errors};
use tidepass::http::cookie::RefreshCookie;
use tidepass::http::server::{AuthServer, Delivery};
use tidepass::issuer::events::{Both, MetricsSink, TracingSink};
use tidepass::issuer::guard::{DefaultRisk, FailureLimiter};
use tidepass::keys::{Algorithm, Kek, KeySet, RingPolicy, SigningKey};
use tidepass::session::refresh::RefreshSecrets;
use tidepass::store::SessionStore;
use tidepass::store::key_ring::{KeyStore, maintain_key_ring_at};
use tidepass::verify::dpop::{Nonces, ProofChecker};
use tidepass::{ClientContext, Issuer, Login, Minter, Policy};

const AUDIENCE: &str = "api";

struct Options {
    listen: SocketAddr,
    issuer: Option<String>,
    data: PathBuf,
    store: Option<String>,
    access_ttl: u64,
    grace: u64,
    users: Vec<(String, String)>,
    client_id: String,
    client_secret: Option<String>,
    host_cookie: bool,
    dpop_nonces: bool,
    trusted_proxies: Vec<std::net::IpAddr>,
    allowed_origins: Vec<String>,
    rotate_every: u64,
    jwks_max_age: u64,
}

fn usage() -> ! {
    let help = std::env::args().any(|a| a == "--help" || a == "-h");
    eprintln!(
        "usage: auth_service [--listen ADDR] [--issuer URL] [--data DIR] [--store URL] \
         [--access-ttl SECS] [--grace SECS] [--user NAME:PASSWORD]... [--client-id ID] \
         [--client-secret S] [--host-cookie] [--dpop-nonces] [--trusted-proxy IP]... [--allowed-origin URL]... \
         [--rotate-every SECS] [--jwks-max-age SECS]"
    );
    std::process::exit(if help { 0 } else { 2 })
}

fn options() -> Options {
    let mut o = Options {
        listen: "127.0.0.1:8080".parse().expect("default address"),
        issuer: None,
        data: PathBuf::from("tidepass-data"),
        store: None,
        access_ttl: 300,
        grace: 10,
        users: Vec::new(),
        client_id: "resource-server".to_owned(),
        client_secret: None,
        host_cookie: false,
        dpop_nonces: false,
        trusted_proxies: Vec::new(),
        allowed_origins: Vec::new(),
        rotate_every: 86_400,
        jwks_max_age: 300,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => o.listen = value().parse().unwrap_or_else(|_| usage()),
            "--issuer" => o.issuer = Some(value()),
            "--data" => o.data = PathBuf::from(value()),
            "--store" => o.store = Some(value()),
            "--access-ttl" => o.access_ttl = value().parse().unwrap_or_else(|_| usage()),
            "--grace" => o.grace = value().parse().unwrap_or_else(|_| usage()),
            "--user" => {
                let v = value();
                let (n, p) = v.split_once(':').unwrap_or_else(|| usage());
                o.users.push((n.to_owned(), p.to_owned()));
            }
            "--client-id" => o.client_id = value(),
            "--client-secret" => o.client_secret = Some(value()),
            "--host-cookie" => o.host_cookie = true,
            "--dpop-nonces" => o.dpop_nonces = true,
            "--allowed-origin" => o.allowed_origins.push(value()),
            "--rotate-every" => o.rotate_every = value().parse().unwrap_or_else(|_| usage()),
            "--jwks-max-age" => o.jwks_max_age = value().parse().unwrap_or_else(|_| usage()),
            "--trusted-proxy" => o
                .trusted_proxies
                .push(value().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    o
}

/// Load a file written on first start, or create it (0600) with `make`.
fn kept(path: &Path, make: impl FnOnce() -> String) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = make();
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &s)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            }
            std::fs::rename(&tmp, path)?;
            Ok(s)
        }
        Err(e) => Err(e),
    }
}

/// The library's server plus what is ours: the users and their password hashes.
struct Service<S> {
    server: Arc<AuthServer<S>>,
    users: HashMap<String, String>,
    /// Verified against when the user is unknown, so that it costs the same time.
    dummy_hash: String,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
    device: Option<String>,
}

/// `POST /login` (JSON `username`, `password`, `device`; `?cookie=1` for browsers): the
/// password check is ours, the rest (rate limit, session, answer) the library's.
async fn login<S: SessionStore>(
    State(app): State<Arc<Service<S>>>,
    parts: Parts,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": "invalid_request" })),
        )
            .into_response();
    };
    let check = async {
        // An unknown user costs the same hash as a known one: no timing tells them apart.
        let known = app.users.get(&body.username);
        let hash = known.unwrap_or(&app.dummy_hash);
        let verified = PasswordHash::new(hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(body.password.as_bytes(), &h)
                .is_ok()
        });
        (known.is_some() && verified).then(|| {
            Login::new(body.username.clone())
                .scope("read")
                .context(ClientContext {
                    device: body.device.clone(),
                    ..ClientContext::default()
                })
        })
    };
    let delivery = Delivery::from_query(&parts);
    into_response(app.server.login(&parts, delivery, check).await)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics<S: SessionStore>(State(app): State<Arc<Service<S>>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

fn router<S: SessionStore + 'static>(app: Arc<Service<S>>) -> Router {
    Router::new()
        .route("/login", post(login::<S>))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::<S>))
        .with_state(app.clone())
        .merge(tidepass::http::axum::router(app.server.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::from_fn(json_errors))
}

/// The signing key and refresh secret as files in `--data` (one instance on the embedded
/// store, without a KEK).
fn keys_from_files(data: &Path) -> Result<(KeySet, RefreshSecrets), Box<dyn std::error::Error>> {
    let pem = kept(&data.join("signing.pem"), || {
        let key = SigningKey::generate(Algorithm::EdDSA).expect("generate a key");
        key.export_private().expect("export").to_string()
    })?;
    let key = SigningKey::from_pem(pem.as_bytes(), None)?;
    let secret = kept(&data.join("refresh.secret"), || {
        let mut b = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("rng");
        b.iter().map(|x| format!("{x:02x}")).collect()
    })?;
    let secret: Vec<u8> = (0..secret.trim().len() / 2)
        .map(|i| u8::from_str_radix(&secret.trim()[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()?;
    Ok((KeySet::new(key), RefreshSecrets::from_secret(1, &secret)?))
}

/// How often every instance applies the key ring's rules (and adopts what another did).
const RING_POLL: u64 = 5;

async fn serve<S: SessionStore + KeyStore + Clone + 'static>(
    store: S,
    o: Options,
    shared: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    // Bind first: the issuer URL defaults to the address we really listen on.
    let listener = tokio::net::TcpListener::bind(o.listen).await?;
    let issuer_url = o
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", listener.local_addr().expect("bound")));
    // Keys: the store's sealed key ring whenever a KEK is given (required on a shared store),
    // else files in --data.
    let ring_policy = RingPolicy::signing(
        std::time::Duration::from_secs(o.rotate_every),
        std::time::Duration::from_secs(o.jwks_max_age + RING_POLL + 10),
        std::time::Duration::from_secs(o.access_ttl + RING_POLL + 60),
    )
    // The refresh secret too, every 30 days; a superseded one is accepted for as long as the
    // longest session can live, so a secret rotation logs nobody out.
    .rotate_secrets(
        std::time::Duration::from_secs(30 * 86_400),
        Policy::web().absolute + std::time::Duration::from_secs(RING_POLL + 60),
    );
    let kek = match Kek::from_env("TIDEPASS_KEK") {
        Ok(kek) => Some(Arc::new(kek)),
        Err(e) if shared => {
            return Err(format!(
                "a shared store needs its KEK in TIDEPASS_KEK (base64url of at least 32 random \
                 bytes, the same on every instance): {e}"
            )
            .into());
        }
        Err(_) => None,
    };
    let (keys, secrets) = match &kek {
        Some(kek) => {
            let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
            let ring = maintain_key_ring_at(
                &store,
                kek,
                &issuer_url,
                Algorithm::EdDSA,
                &ring_policy,
                now,
            )
            .await?;
            (ring.keys, ring.secrets)
        }
        None => keys_from_files(&o.data)?,
    };
    let ring_store = kek.as_ref().map(|_| store.clone());
    let minter = Minter::with_keys(keys, &issuer_url, AUDIENCE.into())?
        .with_ttl(std::time::Duration::from_secs(o.access_ttl));
    let mut policy = Policy::web();
    policy.grace = std::time::Duration::from_secs(o.grace);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let issuer = Issuer::builder(store, minter)
        .client_id("tidepass-example")
        .refresh_secrets(secrets)
        .policy(policy)
        .risk(DefaultRisk)
        .events(Both(TracingSink, MetricsSink))
        .build()?;
    // Failed logins and refreshes per client address (bounded): 10 at once, then one per 6 s.
    let mut server = AuthServer::builder(issuer)
        .jwks_max_age(std::time::Duration::from_secs(o.jwks_max_age))
        .failure_limiter(FailureLimiter::new(10, std::time::Duration::from_secs(6)));
    if o.host_cookie {
        server = server.cookie(RefreshCookie::host());
    }
    if o.dpop_nonces {
        // One instance: a random secret. Several instances share one (Nonces::new).
        let nonces = Nonces::generate(std::time::Duration::from_secs(300))?;
        server = server.dpop(ProofChecker::new().nonces(nonces));
    }
    if let Some(secret) = o.client_secret {
        server = server.introspection_client(o.client_id, secret);
    }
    for origin in o.allowed_origins {
        server = server.allowed_origin(origin);
    }
    for proxy in o.trusted_proxies {
        server = server.trusted_proxy(proxy);
    }
    let server = Arc::new(server.build()?);
    let hash = |password: &str| -> Result<String, Box<dyn std::error::Error>> {
        let mut salt = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| "rng")?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| e.to_string())?;
        Ok(hash.to_string())
    };
    let mut users = HashMap::new();
    for (name, password) in o.users {
        users.insert(name, hash(&password)?);
    }
    let dummy_hash = hash("no such user")?;
    // The server's verifier fails closed until its list has synced once; then every second
    // (other instances' revocations), and at once after each of ours.
    if let Err(e) = server.sync_revocations().await {
        eprintln!("auth_service: first revocation sync failed, retrying every second: {e}");
    }
    let follower = server.clone();
    tokio::spawn(async move {
        follower
            .follow_revocations(std::time::Duration::from_secs(1), tokio::time::sleep)
            .await;
    });
    // The key ring's rules, every few seconds: rotations on schedule, made once (the store's
    // compare-and-set) and adopted by every instance.
    if let (Some(kek), Some(store)) = (kek, ring_store) {
        let (server, issuer_url) = (server.clone(), issuer_url.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(RING_POLL)).await;
                let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
                match maintain_key_ring_at(
                    &store,
                    &kek,
                    &issuer_url,
                    Algorithm::EdDSA,
                    &ring_policy,
                    now,
                )
                .await
                {
                    Ok(ring) => server.issuer().use_ring_keys(ring),
                    Err(e) => eprintln!("auth_service: key ring: {e}; keeping the keys"),
                }
            }
        });
    }
    let app = Arc::new(Service {
        server,
        users,
        dummy_hash,
        metrics,
    });
    println!("auth_service issuer {issuer_url}");
    println!(
        "auth_service listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options();
    // The key files and the default redb store live here: make it before either is opened.
    std::fs::create_dir_all(&o.data)?;
    let store = o
        .store
        .clone()
        .unwrap_or_else(|| format!("redb:{}", o.data.join("sessions.redb").display()));
    match store.split_once(':') {
        Some(("memory", _)) => serve(Arc::new(tidepass::MemoryStore::new()), o, false).await,
        Some(("redb", path)) => serve(tidepass::store::RedbStore::open(path)?, o, false).await,
        Some(("redis", _)) => {
            let s = tidepass::store::RedisStore::connect(
                &store,
                "tidepass",
                std::time::Duration::from_secs(2),
            )
            .await?;
            serve(s, o, true).await
        }
        // A Redis Cluster: `redis+cluster://host:port,host:port,…` (the nodes to start from).
        Some(("redis+cluster", nodes)) => {
            let urls: Vec<String> = nodes
                .trim_start_matches("//")
                .split(',')
                .map(|n| format!("redis://{n}"))
                .collect();
            let con = redis::cluster::ClusterClient::new(urls)?
                .get_async_connection()
                .await?;
            serve(
                tidepass::store::RedisStore::with_connection(con, "tidepass"),
                o,
                true,
            )
            .await
        }
        Some(("postgres" | "postgresql", _)) => {
            let s =
                tidepass::store::PgStore::connect(&store, 16, std::time::Duration::from_secs(2))?;
            s.migrate().await?;
            serve(s, o, true).await
        }
        _ => {
            eprintln!(
                "--store must be memory:, redb:PATH, redis://…, redis+cluster://host:port,… \
                 or postgres://…"
            );
            std::process::exit(2)
        }
    }
}
