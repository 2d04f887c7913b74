//! The auth service: logs users in and hands out token pairs, rotates refresh tokens, serves
//! its JWKS and revocation list.
//!
//! ```sh
//! cargo run --example auth_service -- --user alice:secret
//! curl -s localhost:8080/login -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"secret","device":"laptop"}'
//! ```
//!
//! Flags: `--listen ADDR` (127.0.0.1:8080), `--data DIR` (./tidepass-data: the signing key,
//! the refresh secret and, by default, the redb store, so a restart keeps keys and sessions),
//! `--store URL` (`memory:`, `redb:PATH`, `redis://…`, `postgres://…` with the matching
//! feature), `--access-ttl SECS` (300), `--grace SECS` (10), `--user NAME:PASSWORD`
//! (repeatable), `--client-secret S` (for `/introspect`, by HTTP Basic or the form),
//! `--trusted-proxy IP` (repeatable: whose `X-Forwarded-For` names the client for the rate
//! limits on failed logins and refreshes; anyone else's is ignored), `--allowed-origin URL`
//! (repeatable: the pages whose cookie-mode refreshes are accepted; without one, only
//! same-origin requests).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Form, FromRef, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tidepass::http::axum::Auth;
use tidepass::http::cookie;
use tidepass::issuer::events::{Both, MetricsSink, TracingSink};
use tidepass::issuer::guard::{DefaultRisk, FailureLimiter};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::revocation::{RevocationList, Syncer};
use tidepass::session::refresh::RefreshSecrets;
use tidepass::store::SessionStore;
use tidepass::{ClientContext, Issuer, Login, Minter, Policy, SessionId, TokenPair, Verifier};

const ISSUER: &str = "http://tidepass.local";
const AUDIENCE: &str = "api";

struct Options {
    listen: SocketAddr,
    data: PathBuf,
    store: Option<String>,
    access_ttl: u64,
    grace: u64,
    users: Vec<(String, String)>,
    client_secret: Option<String>,
    trusted_proxies: Vec<std::net::IpAddr>,
    allowed_origins: Vec<String>,
}

fn usage() -> ! {
    let help = std::env::args().any(|a| a == "--help" || a == "-h");
    eprintln!(
        "usage: auth_service [--listen ADDR] [--data DIR] [--store URL] [--access-ttl SECS] \
         [--grace SECS] [--user NAME:PASSWORD]... [--client-secret S] [--trusted-proxy IP]... [--allowed-origin URL]..."
    );
    std::process::exit(if help { 0 } else { 2 })
}

fn options() -> Options {
    let mut o = Options {
        listen: "127.0.0.1:8080".parse().expect("default address"),
        data: PathBuf::from("tidepass-data"),
        store: None,
        access_ttl: 300,
        grace: 10,
        users: Vec::new(),
        client_secret: None,
        trusted_proxies: Vec::new(),
        allowed_origins: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => o.listen = value().parse().unwrap_or_else(|_| usage()),
            "--data" => o.data = PathBuf::from(value()),
            "--store" => o.store = Some(value()),
            "--access-ttl" => o.access_ttl = value().parse().unwrap_or_else(|_| usage()),
            "--grace" => o.grace = value().parse().unwrap_or_else(|_| usage()),
            "--user" => {
                let v = value();
                let (n, p) = v.split_once(':').unwrap_or_else(|| usage());
                o.users.push((n.to_owned(), p.to_owned()));
            }
            "--client-secret" => o.client_secret = Some(value()),
            "--allowed-origin" => o.allowed_origins.push(value()),
            "--trusted-proxy" => o
                .trusted_proxies
                .push(value().parse().unwrap_or_else(|_| usage())),
            "--help" | "-h" => usage(),
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

struct Service<S> {
    issuer: Issuer<S>,
    /// Verifies the access tokens of the account endpoints and `/introspect`, against the
    /// revocation list `syncer` keeps from our own store: a logged-out session's token is
    /// refused here at once, not only once it expires.
    verifier: Arc<Verifier>,
    syncer: Syncer,
    users: HashMap<String, String>,
    /// Verified against when the user is unknown, so that it costs the same time.
    dummy_hash: String,
    client_secret: Option<String>,
    /// Failed logins and refreshes per client address (bounded): 10 at once, then one per 6 s.
    failures: FailureLimiter,
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins whose cookie-authenticated refreshes are accepted (CSRF defence).
    allowed_origins: Vec<String>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

type App<S> = Arc<Service<S>>;

struct AppState<S>(App<S>);

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S> FromRef<AppState<S>> for Arc<Verifier> {
    fn from_ref(s: &AppState<S>) -> Self {
        s.0.verifier.clone()
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

fn tidepass_error(e: &tidepass::Error) -> Response {
    if e.is_store() {
        error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
    } else if let Some(secs) = e.retry_after() {
        // Too many concurrent refreshes of one token: the session lives on; retry.
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
        r.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
        r
    } else if e.is_invalid_grant() {
        error(StatusCode::BAD_REQUEST, "invalid_grant")
    } else if e.is_rejected() {
        error(StatusCode::BAD_REQUEST, "invalid_request")
    } else {
        error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
    }
}

/// The pair as an OAuth token response; with `cookie`, the refresh token goes into a cookie.
fn pair_response(pair: &TokenPair, cookie: bool) -> Response {
    let mut body = json!({
        "access_token": pair.access.as_str(),
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "session_id": pair.session_id.to_string(),
    });
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if cookie {
        let max_age = pair
            .refresh_expires_at
            .saturating_sub(tidepass::clock::Clock::now(&tidepass::clock::SystemClock));
        if let Ok(v) = HeaderValue::from_str(&cookie::set(&pair.refresh, max_age)) {
            headers.insert(header::SET_COOKIE, v);
        }
    } else {
        body["refresh_token"] = json!(pair.refresh.expose());
    }
    (StatusCode::OK, headers, Json(body)).into_response()
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
    device: Option<String>,
}

#[derive(Deserialize)]
struct CookieFlag {
    cookie: Option<String>,
}

fn context(headers: &HeaderMap, device: Option<String>, peer: Option<String>) -> ClientContext {
    ClientContext {
        device,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ip: peer,
    }
}

async fn login<S: SessionStore>(
    State(app): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(flag): Query<CookieFlag>,
    headers: HeaderMap,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let app = &app.0;
    // Password guessing is rate-limited like failed refreshes, before any hashing.
    let key = client_key(app, peer, &headers);
    if let Err(wait) = app.failures.check(&key) {
        return slow_down(wait);
    }
    let Ok(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    // An unknown user costs the same hash as a known one: no timing tells them apart.
    let known = app.users.get(&body.username);
    let hash = known.unwrap_or(&app.dummy_hash);
    let verified = PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(body.password.as_bytes(), &h)
            .is_ok()
    });
    let ok = known.is_some() && verified;
    if !ok {
        if let Some(wait) = app.failures.failed(&key) {
            return slow_down(wait);
        }
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let login =
        Login::new(body.username)
            .scope("read")
            .context(context(&headers, body.device, None));
    match app.issuer.login(login).await {
        Ok(pair) => pair_response(&pair, flag.cookie.as_deref() == Some("1")),
        Err(e) => tidepass_error(&e),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    refresh_token: Option<String>,
}

async fn token<S: SessionStore>(
    State(app): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let key = client_key(&app.0, peer, &headers);
    if let Err(wait) = app.0.failures.check(&key) {
        return slow_down(wait);
    }
    let Ok(Form(form)) = form else {
        app.0.failures.failed(&key);
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if form.grant_type != "refresh_token" {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let from_cookie = cookie::from_headers(&headers);
    let (token, via_cookie) = match (form.refresh_token.as_deref(), from_cookie) {
        (Some(t), _) => (t.to_owned(), false),
        (None, Some(c)) => (c.to_owned(), true),
        // No refresh cookie, or two of them (one planted by a sibling subdomain).
        (None, None) => return error(StatusCode::BAD_REQUEST, "invalid_request"),
    };
    // A cookie rides along with any request the browser makes: accept it only from our pages.
    let origins: Vec<&str> = app.0.allowed_origins.iter().map(String::as_str).collect();
    if via_cookie && !cookie::origin_allowed(&headers, &origins) {
        return error(StatusCode::FORBIDDEN, "invalid_request");
    }
    let presented = context(&headers, None, Some(key.clone()));
    match app.0.issuer.refresh_from(&token, &presented).await {
        Ok(pair) => pair_response(&pair, via_cookie),
        Err(e) => {
            if e.is_invalid_grant() {
                app.0.failures.failed(&key);
            }
            tidepass_error(&e)
        }
    }
}

impl<S: SessionStore> Service<S> {
    /// Bring our revocation list up to the store's log (after each revocation of ours, and
    /// every second for those made by other instances). A failure leaves the list as it was;
    /// the verifier fails closed once it is older than its `max_staleness`.
    async fn sync(&self) {
        let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
        let _ = self
            .syncer
            .sync_changes_once(now, |since| self.issuer.revocation_changes(since))
            .await;
    }
}

/// The rate limits' key: the client's address, from `X-Forwarded-For` only when a trusted
/// proxy sent it.
fn client_key<S>(app: &Service<S>, peer: SocketAddr, headers: &HeaderMap) -> String {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    tidepass::issuer::guard::client_address(peer.ip(), forwarded, &app.trusted_proxies).to_string()
}

/// 429 with `Retry-After`.
fn slow_down(wait: std::time::Duration) -> Response {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    let secs = wait.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn session_of(claims: &tidepass::Verified) -> Option<SessionId> {
    claims.sid.as_deref().and_then(|s| s.parse().ok())
}

async fn logout<S: SessionStore>(State(app): State<AppState<S>>, Auth(claims): Auth) -> Response {
    let Some(sid) = session_of(&claims) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    match app.0.issuer.logout(sid).await {
        Ok(_) => {
            app.0.sync().await;
            let mut r = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie::clear()) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => tidepass_error(&e),
    }
}

async fn sessions<S: SessionStore>(State(app): State<AppState<S>>, Auth(claims): Auth) -> Response {
    match app
        .0
        .issuer
        .sessions(&claims.sub, session_of(&claims))
        .await
    {
        Ok(list) => {
            let items: Vec<_> = list
                .iter()
                .map(|v| {
                    json!({
                        "session_id": v.session.sid.to_string(),
                        "device": v.session.context.device,
                        "user_agent": v.session.context.user_agent,
                        "ip": v.session.context.ip,
                        "created_at": v.session.created_at,
                        "last_used_at": v.session.last_used_at,
                        "current": v.current,
                    })
                })
                .collect();
            Json(json!({ "sessions": items })).into_response()
        }
        Err(e) => tidepass_error(&e),
    }
}

async fn revoke_session<S: SessionStore>(
    State(app): State<AppState<S>>,
    Auth(claims): Auth,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let Ok(sid) = id.parse::<SessionId>() else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    match app.0.issuer.revoke(&claims.sub, sid).await {
        Ok(true) => {
            app.0.sync().await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "not_found"),
        Err(e) => tidepass_error(&e),
    }
}

async fn revoke_others<S: SessionStore>(
    State(app): State<AppState<S>>,
    Auth(claims): Auth,
) -> Response {
    let Some(sid) = session_of(&claims) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    match app.0.issuer.revoke_others(&claims.sub, sid).await {
        Ok(_) => {
            app.0.sync().await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => tidepass_error(&e),
    }
}

#[derive(Deserialize)]
struct TokenParam {
    token: String,
    client_secret: Option<String>,
}

/// RFC 7009: revoke a refresh token (its whole session) or an access token (its `jti` goes
/// on the revocation list until its `exp`). Always 200, as the RFC asks, unless the store is
/// down: a token that is neither, or already dead, needs nothing.
async fn revoke<S: SessionStore>(
    State(app): State<AppState<S>>,
    form: Result<Form<TokenParam>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let done = if let Some(sid) = app.0.issuer.inspect_refresh_token(&form.token) {
        app.0.issuer.logout(sid).await.map(|_| ())
    } else if let Ok(c) = app.0.verifier.verify(&form.token) {
        app.0
            .issuer
            .revoke_access_token(&c.jti, c.exp)
            .await
            .map(|_| ())
    } else {
        return StatusCode::OK.into_response();
    };
    if let Err(e) = done {
        return tidepass_error(&e);
    }
    app.0.sync().await;
    StatusCode::OK.into_response()
}

/// The client's secret from HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1: the id and the
/// secret form-urlencoded, then base64) or from the form (`client_secret_post`).
fn client_secret(headers: &HeaderMap, form: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (_, secret) = pair.split_once(':')?;
            let secret = secret.replace('+', " ");
            form_urlencoded_decode(&secret)
        });
    basic.or_else(|| form.map(str::to_owned))
}

/// Percent-decoding of one form-urlencoded value.
fn form_urlencoded_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// RFC 7662 for access tokens, for a client holding the static secret (HTTP Basic or the
/// form). A token of a revoked session, or a revoked token, is `active: false`.
async fn introspect<S: SessionStore>(
    State(app): State<AppState<S>>,
    headers: HeaderMap,
    form: Result<Form<TokenParam>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let secret = client_secret(&headers, form.client_secret.as_deref());
    match (&app.0.client_secret, &secret) {
        (Some(want), Some(got)) if want.len() == got.len() && ring_eq(want, got) => {}
        _ => return error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    if let Ok(c) = app.0.verifier.verify(&form.token) {
        return Json(json!({
            "active": true, "token_type": "access_token", "sub": c.sub, "scope": c.scope,
            "exp": c.exp, "iat": c.iat, "iss": c.iss, "jti": c.jti, "sid": c.sid,
            "client_id": c.client_id,
        }))
        .into_response();
    }
    // Any token type: a refresh token is active while it is its session's current one.
    match app.0.issuer.introspect_refresh_token(&form.token).await {
        Ok(Some(s)) => Json(json!({
            "active": true, "token_type": "refresh_token", "sub": s.subject, "scope": s.scope,
            "exp": s.ends_at(), "iat": s.rotated_at, "iss": ISSUER, "sid": s.sid.to_string(),
            "client_id": s.client_id,
        }))
        .into_response(),
        Ok(None) => Json(json!({ "active": false })).into_response(),
        Err(e) => tidepass_error(&e),
    }
}

/// RFC 8414 authorization-server metadata, from the address the client used.
async fn metadata(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}");
    let mut r = Json(json!({
        "issuer": ISSUER,
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "introspection_endpoint": format!("{base}/introspect"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
    }))
    .into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

fn ring_eq(a: &str, b: &str) -> bool {
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn jwks<S: SessionStore>(State(app): State<AppState<S>>) -> Response {
    let mut r = Json(app.0.issuer.minter().keys().jwks()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn revocations<S: SessionStore>(
    State(app): State<AppState<S>>,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The signed feed (what the microservice polls): checked by verifiers against our JWKS.
    if accept.contains("application/jwt") {
        return match app.0.issuer.signed_revocation_changes(q.since).await {
            Ok(feed) => ([(header::CONTENT_TYPE, "application/jwt")], feed).into_response(),
            Err(e) => tidepass_error(&e),
        };
    }
    let changes = match app.0.issuer.revocation_changes(q.since).await {
        Ok(c) => c,
        Err(e) => return tidepass_error(&e),
    };
    let json = accept.contains("application/json");
    if json {
        return Json(changes).into_response();
    }
    match changes.encode() {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, "application/vnd.tidepass.revocations")],
            bytes,
        )
            .into_response(),
        Err(e) => tidepass_error(&e),
    }
}

/// Every refusal is JSON: axum's own plain-text 4xx answers (unknown route, wrong method, body
/// too large, wrong content type) get a JSON body too.
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let r = next.run(req).await;
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !r.status().is_client_error()
        || is_json
        || r.status() == StatusCode::UNAUTHORIZED
            && r.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        return r;
    }
    let code = match r.status() {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        StatusCode::TOO_MANY_REQUESTS => "slow_down",
        _ => "invalid_request",
    };
    let (mut parts, _) = r.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        axum::body::Body::from(json!({ "error": code }).to_string()),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics<S: SessionStore>(State(app): State<AppState<S>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.0.metrics.render(),
    )
        .into_response()
}

fn router<S: SessionStore>(app: App<S>) -> Router {
    Router::new()
        .route("/login", post(login::<S>))
        .route("/token", post(token::<S>))
        .route("/logout", post(logout::<S>))
        .route("/sessions", get(sessions::<S>))
        .route("/sessions/revoke-others", post(revoke_others::<S>))
        .route("/sessions/{id}", delete(revoke_session::<S>))
        .route("/revoke", post(revoke::<S>))
        .route("/introspect", post(introspect::<S>))
        .route("/.well-known/jwks.json", get(jwks::<S>))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/revocations", get(revocations::<S>))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(AppState(app))
}

async fn serve<S: SessionStore>(store: S, o: Options) -> Result<(), Box<dyn std::error::Error>> {
    let pem = kept(&o.data.join("signing.pem"), || {
        let key = SigningKey::generate(Algorithm::EdDSA).expect("generate a key");
        key.export_private().expect("export").to_string()
    })?;
    let key = SigningKey::from_pem(pem.as_bytes(), None)?;
    let secret = kept(&o.data.join("refresh.secret"), || {
        let mut b = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("rng");
        b.iter().map(|x| format!("{x:02x}")).collect()
    })?;
    let secret: Vec<u8> = (0..secret.trim().len() / 2)
        .map(|i| u8::from_str_radix(&secret.trim()[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()?;
    let minter =
        Minter::new(key, ISSUER, AUDIENCE)?.with_ttl(std::time::Duration::from_secs(o.access_ttl));
    let keys = minter.keys().verifying_keys();
    let mut policy = Policy::web();
    policy.grace = std::time::Duration::from_secs(o.grace);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let issuer = Issuer::builder(store, minter)
        .client_id("tidepass-example")
        .refresh_secrets(RefreshSecrets::from_secret(1, &secret)?)
        .policy(policy)
        .risk(DefaultRisk)
        .events(Both(TracingSink, MetricsSink))
        .build()?;
    let list = Arc::new(RevocationList::new());
    let verifier = Arc::new(
        Verifier::builder(ISSUER, AUDIENCE, keys)
            .revocations(list.clone())
            .build()?,
    );
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
    let failures = FailureLimiter::new(10, std::time::Duration::from_secs(6));
    let app = Arc::new(Service {
        issuer,
        verifier,
        syncer: Syncer::new(list),
        users,
        dummy_hash,
        trusted_proxies: o.trusted_proxies,
        allowed_origins: o.allowed_origins,
        client_secret: o.client_secret,
        failures,
        metrics,
    });
    // The verifier fails closed until its list has synced once; then every second (other
    // instances' revocations), and at once after each of ours.
    app.sync().await;
    let follower = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            follower.sync().await;
        }
    });
    let listener = tokio::net::TcpListener::bind(o.listen).await?;
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
        Some(("memory", _)) => serve(tidepass::MemoryStore::new(), o).await,
        Some(("redb", path)) => serve(tidepass::store::RedbStore::open(path)?, o).await,
        Some(("redis", _)) => {
            let s = tidepass::store::RedisStore::connect(
                &store,
                "tidepass",
                std::time::Duration::from_secs(2),
            )
            .await?;
            serve(s, o).await
        }
        Some(("postgres" | "postgresql", _)) => {
            let s =
                tidepass::store::PgStore::connect(&store, 16, std::time::Duration::from_secs(2))?;
            s.migrate().await?;
            serve(s, o).await
        }
        _ => {
            eprintln!("--store must be memory:, redb:PATH, redis://… or postgres://…");
            std::process::exit(2)
        }
    }
}
