//! The auth service's HTTP half on the `http` crate's types, with no framework (feature
//! `server`): a request in, a response out. The axum `Router` (feature `axum`,
//! [`crate::http::axum::router`]) is built from these, and a hyper service calls
//! [`AuthServer::handle`] directly.
//!
//! | endpoint | what | spec |
//! |---|---|---|
//! | `POST /token` | `grant_type=refresh_token`, the token from the form or the refresh cookie | RFC 6749 §6, §5.1, §5.2 |
//! | your own `/login` | the application authenticates; [`AuthServer::login`] opens the session | |
//! | `POST /logout` | end the bearer's session (and clear the cookie) | |
//! | `GET /sessions` | the bearer's sessions, the current one marked | |
//! | `DELETE /sessions/{id}` | end one of them | |
//! | `POST /sessions/revoke-others` | end every other one | |
//! | `POST /revoke` | refresh tokens (the session) and access tokens (their `jti` listed) | RFC 7009 |
//! | `POST /introspect` | any token; `client_secret_basic` or `client_secret_post` | RFC 7662 |
//! | `GET /.well-known/oauth-authorization-server` | the metadata | RFC 8414 |
//! | `GET /.well-known/jwks.json` | the public keys, with `Cache-Control` | RFC 7517 |
//! | `GET /revocations?since=V` | the revocation feed: signed (`Accept: application/jwt`), JSON or binary | |
//!
//! Endpoint URLs are the issuer identifier (the minter's `iss`) followed by these paths, so
//! the service must be reachable at its issuer URL (RFC 8414 §3.3: the metadata's `issuer` is
//! the URL the metadata was fetched from).
//!
//! The account endpoints and introspection check access tokens with the server's own
//! [`Verifier`], which follows a revocation list kept from the issuer's store: run
//! [`AuthServer::follow_revocations`] beside the server (until its first round the verifier
//! fails closed), and each revocation made through the server is applied at once.
//!
//! ```
//! use tidepass::http::server::{AuthServer, Delivery};
//! use tidepass::{Issuer, Login, MemoryStore, Minter, keys::{Algorithm, SigningKey}};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth.example", "api")?;
//! let issuer = Issuer::builder(MemoryStore::new(), minter).ephemeral_refresh_secrets().client_id("web").build()?;
//! let server = AuthServer::builder(issuer)
//!     .introspection_client("resource-server", "s3cret")
//!     .build()?;
//! server.sync_revocations().await?;
//!
//! // Your login handler checks the password, then hands the login over.
//! let (parts, _) = http::Request::post("https://auth.example/login").body(())?.into_parts();
//! let reply = server.login(&parts, Delivery::Body, async { Some(Login::new("alice")) }).await;
//! assert_eq!(reply.status(), 200);
//! let body: serde_json::Value = serde_json::from_slice(reply.body())?;
//! let refresh = body["refresh_token"].as_str().unwrap_or_default();
//!
//! // The client refreshes at the token endpoint (RFC 6749 §6).
//! let req = http::Request::post("https://auth.example/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(format!("grant_type=refresh_token&refresh_token={refresh}"))?;
//! let reply = server.handle(req).await;
//! assert_eq!(reply.status(), 200);
//! assert_eq!(reply.headers()["cache-control"], "no-store");
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::http::Rejection;
use crate::http::cookie::{RefreshCookie, origin_allowed};
use crate::issuer::{Issuer, Login, TokenPair};
use crate::revocation::{RevocationList, Syncer};
use crate::session::{ClientContext, SessionId};
use crate::store::SessionStore;
use crate::verify::{Verified, Verifier};

/// A response with its whole body.
pub type Reply = Response<Vec<u8>>;

/// The paths the server answers on, below the issuer URL.
pub mod paths {
    /// RFC 6749 token endpoint.
    pub const TOKEN: &str = "/token";
    /// End the bearer's session.
    pub const LOGOUT: &str = "/logout";
    /// The bearer's sessions (`GET`); `DELETE /sessions/{id}` ends one.
    pub const SESSIONS: &str = "/sessions";
    /// End every session of the bearer's but the current one.
    pub const REVOKE_OTHERS: &str = "/sessions/revoke-others";
    /// RFC 7009 revocation endpoint.
    pub const REVOKE: &str = "/revoke";
    /// RFC 7662 introspection endpoint.
    pub const INTROSPECT: &str = "/introspect";
    /// The JWKS.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// The revocation feed.
    pub const REVOCATIONS: &str = "/revocations";
    /// RFC 8414 metadata (for an issuer with a path, the path follows: RFC 8414 §3).
    pub const METADATA: &str = "/.well-known/oauth-authorization-server";
}

/// The address a request came from, as the server should see it: put it in the request's
/// extensions (the axum router does it from `ConnectInfo`). Failed logins and refreshes are
/// rate-limited per client address ([`crate::issuer::guard::client_address`]: a forwarded
/// address counts only from a trusted proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

/// How a login's token pair reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Both tokens in the JSON body (native and mobile clients).
    Body,
    /// The refresh token in the `HttpOnly` cookie, the access token in the body (browsers).
    Cookie,
}

impl Delivery {
    /// [`Delivery::Cookie`] when the request's query has `cookie=1`, else [`Delivery::Body`].
    pub fn from_query(parts: &Parts) -> Self {
        let cookie = parts.uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "cookie" && v == "1")
        });
        if cookie { Self::Cookie } else { Self::Body }
    }
}

/// Builds an [`AuthServer`]; from [`AuthServer::builder`].
pub struct AuthServerBuilder<S> {
    issuer: Issuer<S>,
    cookie: RefreshCookie,
    allowed_origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    clients: Vec<(String, String)>,
    #[cfg(feature = "guard")]
    failures: Option<crate::issuer::guard::FailureLimiter>,
    max_body: usize,
    max_staleness: Option<Duration>,
    dpop: crate::verify::dpop::ProofChecker,
    jwks_max_age: Duration,
}

impl<S> std::fmt::Debug for AuthServerBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServerBuilder")
            .field("issuer", &self.issuer)
            .field("cookie", &self.cookie)
            .field("allowed_origins", &self.allowed_origins)
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> AuthServerBuilder<S> {
    /// Where the refresh cookie lives (default: [`RefreshCookie::default`]).
    pub fn cookie(mut self, cookie: RefreshCookie) -> Self {
        self.cookie = cookie;
        self
    }

    /// A page origin (`https://app.example`) whose cookie-mode refreshes are accepted, besides
    /// the issuer's own origin (always accepted) and requests without `Origin` that say
    /// `Sec-Fetch-Site: same-origin`.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// A proxy whose `X-Forwarded-For` names the client; anyone else's is ignored.
    pub fn trusted_proxy(mut self, proxy: IpAddr) -> Self {
        self.trusted_proxies.push(proxy);
        self
    }

    /// A client allowed to call the introspection endpoint, with its secret (by HTTP Basic
    /// or in the form). Without one, introspection answers `invalid_client` to everyone.
    pub fn introspection_client(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.clients.push((id.into(), secret.into()));
        self
    }

    /// Rate-limit failed logins and refreshes per client address (feature `guard`). The
    /// address is the request's [`Peer`] (or axum's `ConnectInfo`): a request that carries
    /// neither is not limited, so put one in every request when you serve with hyper.
    #[cfg(feature = "guard")]
    pub fn failure_limiter(mut self, limiter: crate::issuer::guard::FailureLimiter) -> Self {
        self.failures = Some(limiter);
        self
    }

    /// The JWKS's `Cache-Control: max-age` (default 5 minutes): how long verifiers may
    /// cache it. With a shared key ring, its `publish_ahead` must be at least this (plus
    /// how often instances look at the ring and a leeway), so every cached JWKS holds a key
    /// before it signs ([`crate::keys::RingPolicy`]).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// The largest request body read, in bytes (default 16 KiB); larger ones get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How old the server's revocation list may grow before its verifier fails closed
    /// (default: the verifier's, five minutes).
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = Some(max);
        self
    }

    /// How DPoP proofs (RFC 9449) are checked at every endpoint (login, token, revocation,
    /// and the account endpoints' `DPoP` scheme): algorithms, window, replay cache, server
    /// nonces. The `htu` they must name is the issuer's origin
    /// plus the endpoint's path, unless the checker has its own
    /// [`public_base`](crate::verify::dpop::ProofChecker::public_base). A login that carries a
    /// valid proof opens a session bound to its key; every refresh of it then needs a proof by
    /// that key. Logins without a proof stay bearer sessions.
    pub fn dpop(mut self, checker: crate::verify::dpop::ProofChecker) -> Self {
        self.dpop = checker;
        self
    }

    /// The server.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the issuer identifier is not an `http` or `https` URL
    /// without query and fragment (RFC 8414 §2), or an introspection client has an empty id or
    /// secret.
    pub fn build(self) -> Result<AuthServer<S>> {
        let iss = self.issuer.minter().issuer();
        let scheme_ok = iss.starts_with("https://") || iss.starts_with("http://");
        if !scheme_ok || iss.contains(['?', '#']) || http::Uri::try_from(iss).is_err() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "the issuer must be an http(s) URL without query or fragment (RFC 8414 §2)",
            ));
        }
        if self
            .clients
            .iter()
            .any(|(id, secret)| id.is_empty() || secret.is_empty())
        {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "an introspection client needs an id and a secret",
            ));
        }
        let base = iss.trim_end_matches('/').to_owned();
        // Computed once: every routed request compares against them.
        let prefix = http::Uri::try_from(base.as_str())
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        // Pages served from the issuer's own origin may always refresh by cookie.
        let own_origin = http::Uri::try_from(iss)
            .ok()
            .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)));
        let mut allowed_origins = self.allowed_origins;
        allowed_origins.extend(own_origin.clone());
        let origin = self
            .dpop
            .public_base_url()
            .map(str::to_owned)
            .or(own_origin)
            .unwrap_or_default();
        // Every endpoint checks proofs as configured (algorithms, window, nonces): the login,
        // token and revocation endpoints with this checker, the account endpoints' `DPoP`
        // scheme (and any route sharing the verifier) with a sibling that has its own replay
        // cache, so proofs flooding one door cannot fill the cache of the other.
        let checker = if self.dpop.public_base_url().is_some() {
            self.dpop
        } else {
            self.dpop.public_base(origin.clone())
        };
        let resource_checker = checker.sibling();
        let audience = match self.issuer.minter().audience() {
            crate::Audience::One(a) => a.to_string(),
            crate::Audience::Many(v) => v.first().map(|a| a.to_string()).unwrap_or_default(),
        };
        let keys = self.issuer.minter().keys();
        let list = Arc::new(RevocationList::new());
        let mut verifier = Verifier::builder(iss, &audience, keys.verifying_keys())
            .revocations(list.clone())
            .dpop(resource_checker);
        if let Some(max) = self.max_staleness {
            verifier = verifier.max_staleness(max);
        }
        Ok(AuthServer {
            verifier: Arc::new(verifier.build()?),
            published: Mutex::new(keys.jwks()),
            syncer: Syncer::new(list),
            issuer: self.issuer,
            prefix: prefix.clone(),
            metadata_path: format!("{}{prefix}", paths::METADATA),
            base,
            cookie: self.cookie,
            allowed_origins,
            trusted_proxies: self.trusted_proxies,
            clients: self.clients,
            #[cfg(feature = "guard")]
            failures: self.failures,
            max_body: self.max_body,
            dpop: checker,
            origin,
            jwks_cache: HeaderValue::from_str(&format!(
                "public, max-age={}",
                self.jwks_max_age.as_secs()
            ))
            .unwrap_or(HeaderValue::from_static("public, max-age=300")),
        })
    }
}

/// The auth service's endpoints over an [`Issuer`] (see the [module docs](self)).
pub struct AuthServer<S> {
    issuer: Issuer<S>,
    verifier: Arc<Verifier>,
    /// The JWKS the verifier was last given (its keys follow the minter's rotations).
    published: Mutex<Value>,
    syncer: Syncer,
    base: String,
    /// The issuer URL's path, without a trailing `/`: the endpoints follow it.
    prefix: String,
    /// Where the RFC 8414 metadata is served.
    metadata_path: String,
    cookie: RefreshCookie,
    allowed_origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    clients: Vec<(String, String)>,
    #[cfg(feature = "guard")]
    failures: Option<crate::issuer::guard::FailureLimiter>,
    max_body: usize,
    /// Checks the proofs of the login, token and revocation endpoints.
    dpop: crate::verify::dpop::ProofChecker,
    /// The JWKS's `Cache-Control`.
    jwks_cache: HeaderValue,
    /// The scheme and authority a proof's `htu` names (with the request's path).
    origin: String,
}

impl<S> std::fmt::Debug for AuthServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.issuer)
            .field("cookie", &self.cookie)
            .field("allowed_origins", &self.allowed_origins)
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

/// A JSON response with `status`.
fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut r = Response::new(serde_json::to_vec(body).unwrap_or_default());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An OAuth error response (RFC 6749 §5.2 shape).
fn oauth_error(status: StatusCode, code: &str) -> Reply {
    json_reply(status, &json!({ "error": code }))
}

/// RFC 6749 §5.1: token responses are never cached.
fn no_store(mut r: Reply) -> Reply {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn with_status(status: StatusCode) -> Reply {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = status;
    r
}

/// The answer for an issuer error: 503 for the store (or a revocation list too stale to rely
/// on), 429 with `Retry-After` for too many concurrent refreshes of one token (the session
/// lives on), 400 `invalid_grant` for a refused refresh token, 400 `invalid_request` for other
/// refusals, 500 otherwise.
pub fn error_reply(e: &Error) -> Reply {
    if e.is_store() || e.is_fetch() {
        oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
    } else if let Some(secs) = e.retry_after() {
        let mut r = oauth_error(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
        r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        r
    } else if e.kind() == ErrorKind::InvalidDpopProof {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    } else if e.kind() == ErrorKind::UseDpopNonce {
        oauth_error(StatusCode::BAD_REQUEST, "use_dpop_nonce")
    } else if e.is_invalid_grant() {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
    } else if e.is_rejected() {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request")
    } else {
        oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
    }
}

/// 429 `slow_down` with `Retry-After`.
#[cfg(feature = "guard")]
fn slow_down(wait: Duration) -> Reply {
    let mut r = oauth_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    r.headers_mut()
        .insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
    r
}

/// A form-urlencoded body as its parameters. `None` when it is not a form (by its
/// `Content-Type`) or repeats a parameter (RFC 6749 §3.1: "MUST NOT be included more than
/// once").
fn form(parts: &Parts, body: &[u8]) -> Option<Vec<(String, String)>> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return None;
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in form_urlencoded::parse(body) {
        // A set, not a scan of `out`: a 16 KiB body of distinct names stays linear.
        if !seen.insert(k.clone()) {
            return None;
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Some(out)
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The client's id and secret from HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1: each
/// form-urlencoded, then together base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let pair = String::from_utf8(raw).ok()?;
    let (id, secret) = pair.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// Constant-time equality of two secrets (by their SHA-256, so lengths leak nothing either).
fn secret_eq(a: &str, b: &str) -> bool {
    #[cfg(test)]
    COMPARED.with(|c| c.set(c.get() + 1));
    let (a, b) = (
        crate::backend::digest::digest(&crate::backend::digest::SHA256, a.as_bytes()),
        crate::backend::digest::digest(&crate::backend::digest::SHA256, b.as_bytes()),
    );
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Is (`id`, `secret`) one of `clients`? Every client is compared, id and secret both in
/// constant time and without a short circuit, so the time tells neither which ids exist nor
/// how much matched.
fn client_matches(clients: &[(String, String)], id: &str, secret: &str) -> bool {
    clients.iter().fold(false, |ok, (want_id, want)| {
        let matched = secret_eq(want_id, id) & secret_eq(want, secret);
        ok | matched
    })
}

#[cfg(test)]
thread_local! {
    static COMPARED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An introspection answer's `cnf` (RFC 9449 §6.2): the key a DPoP-bound token is bound to.
fn with_cnf(body: &mut Value, jkt: crate::keys::Thumbprint) {
    if let Some(o) = body.as_object_mut() {
        o.insert("cnf".into(), json!({ "jkt": jkt.to_string() }));
    }
}

fn session_of(claims: &Verified) -> Option<SessionId> {
    claims.sid.as_deref().and_then(|s| s.parse().ok())
}

impl<S: SessionStore> AuthServer<S> {
    /// Start a server over `issuer`.
    pub fn builder(issuer: Issuer<S>) -> AuthServerBuilder<S> {
        AuthServerBuilder {
            issuer,
            cookie: RefreshCookie::default(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            clients: Vec::new(),
            #[cfg(feature = "guard")]
            failures: None,
            max_body: 16 * 1024,
            max_staleness: None,
            dpop: crate::verify::dpop::ProofChecker::new(),
            jwks_max_age: Duration::from_secs(300),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &Issuer<S> {
        &self.issuer
    }

    /// The verifier of the account endpoints and introspection (it follows the revocation
    /// list): share it with routes of your own on this service.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The refresh cookie.
    pub fn cookie(&self) -> &RefreshCookie {
        &self.cookie
    }

    /// The largest request body the server reads.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// The path of the RFC 8414 metadata: `/.well-known/oauth-authorization-server`, followed
    /// by the issuer's own path when it has one (RFC 8414 §3).
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The issuer's own path, without a trailing `/` (empty for `https://auth.example`): the
    /// endpoints' [`paths`] follow it.
    pub fn path_prefix(&self) -> &str {
        &self.prefix
    }

    /// Bring the server's revocation list up to the store's log, and its verifier's keys up
    /// to the minter's (after a key rotation). After each revocation made through the server
    /// this runs at once; [`AuthServer::follow_revocations`] runs it periodically for those
    /// made elsewhere (other instances, the CLI).
    ///
    /// # Errors
    ///
    /// A store error (the list is left as it was).
    pub async fn sync_revocations(&self) -> Result<()> {
        let jwks = self.issuer.minter().keys().jwks();
        {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            if *published != jwks {
                self.verifier
                    .set_keys(self.issuer.minter().keys().verifying_keys());
                *published = jwks;
            }
        }
        self.syncer
            .sync_changes_once(self.issuer.now(), |since| {
                self.issuer.revocation_changes(since)
            })
            .await
            .map(|_| ())
    }

    /// [`AuthServer::sync_revocations`] every `interval`, forever, waiting with `sleep` (for
    /// example `tokio::time::sleep`). Failed rounds are logged and retried next time; the
    /// verifier fails closed once its list is older than its `max_staleness`. Cancel it by
    /// dropping the future: it holds nothing across its awaits that a drop could leave half
    /// done.
    pub async fn follow_revocations<F, Fut>(&self, interval: Duration, sleep: F)
    where
        F: Fn(Duration) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if let Err(e) = self.sync_revocations().await {
                tracing::warn!(error = %e, "revocation sync failed; retrying");
            }
            sleep(interval).await;
        }
    }

    /// Route `request` to its endpoint by method and path (the paths in [`paths`], below the
    /// issuer's own path). The login is yours (see [`AuthServer::login`]); anything else
    /// answers a JSON 404 or 405. The body must already be collected; one over
    /// [`AuthServer::max_body`] answers 413.
    pub async fn handle<B: AsRef<[u8]>>(&self, request: Request<B>) -> Reply {
        let (parts, body) = request.into_parts();
        let body = body.as_ref();
        if body.len() > self.max_body {
            return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large");
        }
        let path = parts.uri.path();
        let local = if path == self.metadata_path {
            paths::METADATA
        } else {
            match path.strip_prefix(self.prefix.as_str()) {
                Some(p) if p.starts_with('/') => p,
                _ => return oauth_error(StatusCode::NOT_FOUND, "not_found"),
            }
        };
        let m = &parts.method;
        let (method, reply) = match local {
            paths::TOKEN => (Method::POST, Endpoint::Token),
            paths::LOGOUT => (Method::POST, Endpoint::Logout),
            paths::SESSIONS => (Method::GET, Endpoint::Sessions),
            paths::REVOKE_OTHERS => (Method::POST, Endpoint::RevokeOthers),
            paths::REVOKE => (Method::POST, Endpoint::Revoke),
            paths::INTROSPECT => (Method::POST, Endpoint::Introspect),
            paths::JWKS => (Method::GET, Endpoint::Jwks),
            paths::REVOCATIONS => (Method::GET, Endpoint::Revocations),
            paths::METADATA => (Method::GET, Endpoint::Metadata),
            p => match p.strip_prefix("/sessions/") {
                Some(id) if !id.contains('/') => {
                    (Method::DELETE, Endpoint::RevokeSession(id.to_owned()))
                }
                _ => return oauth_error(StatusCode::NOT_FOUND, "not_found"),
            },
        };
        if *m != method {
            // RFC 9110 §15.5.6: a 405 names the methods the resource supports.
            let mut r = oauth_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
            if let Ok(v) = HeaderValue::from_str(method.as_str()) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
        match reply {
            Endpoint::Token => self.token(&parts, body).await,
            Endpoint::Logout => self.logout(&parts).await,
            Endpoint::Sessions => self.sessions(&parts).await,
            Endpoint::RevokeOthers => self.revoke_others(&parts).await,
            Endpoint::RevokeSession(id) => self.revoke_session(&parts, &id).await,
            Endpoint::Revoke => self.revoke(&parts, body).await,
            Endpoint::Introspect => self.introspect(&parts, body).await,
            Endpoint::Jwks => self.jwks(),
            Endpoint::Revocations => self.revocations(&parts).await,
            Endpoint::Metadata => self.metadata(),
        }
    }

    /// The client's address for the rate limits.
    fn client_key(&self, parts: &Parts) -> Option<String> {
        let peer = parts.extensions.get::<Peer>().map(|p| p.0);
        // axum's `ConnectInfo` (with `into_make_service_with_connect_info`) serves as well.
        #[cfg(feature = "axum")]
        let peer = peer.or_else(|| {
            parts
                .extensions
                .get::<::axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        });
        let peer = peer?;
        // Every field line, in order: a proxy that appends a line of its own instead of
        // extending the client's leaves the hop it saw on the last one (RFC 9110 §5.3: the
        // lines combine into one list). A line that is not text ends the chain there.
        let mut lines = Vec::new();
        for v in parts.headers.get_all("x-forwarded-for") {
            match v.to_str() {
                Ok(v) => lines.push(v),
                Err(_) => lines.push("?"),
            }
        }
        let forwarded = (!lines.is_empty()).then(|| lines.join(","));
        Some(
            crate::issuer::guard::client_address(peer, forwarded.as_deref(), &self.trusted_proxies)
                .to_string(),
        )
    }

    /// `Some(429)` when `key` has failed too often.
    #[cfg_attr(not(feature = "guard"), allow(unused_variables, clippy::unused_self))]
    fn throttled(&self, key: Option<&str>) -> Option<Reply> {
        #[cfg(feature = "guard")]
        if let (Some(limiter), Some(key)) = (&self.failures, key) {
            return limiter.check(key).err().map(slow_down);
        }
        None
    }

    /// Count a failure of `key`; `Some(429)` once it is over its budget.
    #[cfg_attr(not(feature = "guard"), allow(unused_variables, clippy::unused_self))]
    fn failed(&self, key: Option<&str>) -> Option<Reply> {
        #[cfg(feature = "guard")]
        if let (Some(limiter), Some(key)) = (&self.failures, key) {
            return limiter.failed(key).map(slow_down);
        }
        None
    }

    fn context(&self, parts: &Parts, key: Option<String>) -> ClientContext {
        ClientContext {
            device: None,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ip: key,
        }
    }

    /// The pair as an RFC 6749 §5.1 token response; with [`Delivery::Cookie`] the refresh
    /// token goes into the cookie instead of the body.
    pub fn pair_reply(&self, pair: &TokenPair, delivery: Delivery) -> Reply {
        let mut body = serde_json::Map::new();
        body.insert("access_token".into(), pair.access.as_str().into());
        body.insert("token_type".into(), pair.token_type().into());
        body.insert("expires_in".into(), pair.expires_in.into());
        body.insert("session_id".into(), pair.session_id.to_string().into());
        if delivery == Delivery::Body {
            body.insert("refresh_token".into(), pair.refresh.expose().into());
        }
        let mut r = self.with_nonce(no_store(json_reply(StatusCode::OK, &Value::Object(body))));
        if delivery == Delivery::Cookie {
            let max_age = pair.refresh_expires_at.saturating_sub(self.issuer.now());
            if let Ok(v) = HeaderValue::from_str(&self.cookie.set(&pair.refresh, max_age)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// A fresh `DPoP-Nonce`, when the server demands nonces (RFC 9449 §8: with every answer,
    /// so clients always hold a current one).
    fn with_nonce(&self, mut r: Reply) -> Reply {
        if let Some(n) = self
            .dpop
            .nonce_at(self.issuer.now())
            .and_then(|n| HeaderValue::from_str(&n).ok())
        {
            r.headers_mut().insert("dpop-nonce", n);
        }
        r
    }

    /// The request's DPoP proof (RFC 9449 §4.3) checked for this endpoint: `None` without
    /// one, else the thumbprint of its key. A refusal is answered with [`Self::refuse_proof`].
    fn proof(&self, parts: &Parts) -> Result<Option<crate::keys::Thumbprint>> {
        let mut all = parts.headers.get_all("dpop").iter();
        let proof = match (all.next(), all.next()) {
            (None, _) => return Ok(None),
            (Some(p), None) => p.to_str().ok(),
            _ => None,
        };
        let htu = format!("{}{}", self.origin, parts.uri.path());
        let checked = proof
            .ok_or(Error::with(
                ErrorKind::InvalidDpopProof,
                "one DPoP header at most",
            ))
            .and_then(|p| {
                self.dpop
                    .check_at(p, parts.method.as_str(), &htu, None, self.issuer.now())
            });
        checked.map(Some)
    }

    /// 400 `invalid_dpop_proof`, or `use_dpop_nonce` with a fresh nonce.
    fn refuse_proof(&self, e: &Error) -> Reply {
        tracing::info!(target: "tidepass::dpop", kind = %e.kind(), "DPoP proof refused");
        self.with_nonce(error_reply(e))
    }

    /// The login helper. `authenticate` is your check of the credentials (a password hash, a
    /// passkey, an upstream identity provider): it runs only after the client's address has
    /// passed the failure rate limit, so it cannot be used to guess passwords quickly, and
    /// answers the [`Login`] to open (`None`: refused). The server opens the session and
    /// answers the pair ([`Delivery`]), `401 invalid_credentials`, or `429 slow_down`. The
    /// login's user agent and address default to the request's. Make a refused check cost
    /// what an accepted one does (hash a dummy password for an unknown user), or response
    /// times tell which users exist.
    pub async fn login(
        &self,
        parts: &Parts,
        delivery: Delivery,
        authenticate: impl Future<Output = Option<Login>>,
    ) -> Reply {
        let key = self.client_key(parts);
        if let Some(r) = self.throttled(key.as_deref()) {
            return no_store(r);
        }
        // A proof of possession binds the session to its key (checked before the password).
        let jkt = match self.proof(parts) {
            Ok(jkt) => jkt,
            Err(e) => return no_store(self.refuse_proof(&e)),
        };
        let Some(mut login) = authenticate.await else {
            return no_store(
                self.failed(key.as_deref()).unwrap_or_else(|| {
                    oauth_error(StatusCode::UNAUTHORIZED, "invalid_credentials")
                }),
            );
        };
        let seen = self.context(parts, key);
        login.context.user_agent = login.context.user_agent.or(seen.user_agent);
        login.context.ip = login.context.ip.or(seen.ip);
        if let Some(jkt) = jkt {
            login = login.dpop(jkt);
        }
        match self.issuer.login(login).await {
            Ok(pair) => self.pair_reply(&pair, delivery),
            Err(e) => no_store(error_reply(&e)),
        }
    }

    /// `POST /token` (RFC 6749 §6): `grant_type=refresh_token` with the token from the form
    /// or, when the form has none, from the refresh cookie. A cookie refresh is accepted only
    /// from an allowed origin ([`origin_allowed`]) and with exactly one refresh cookie; its
    /// new token goes back into the cookie. Failures count against the client's address.
    pub async fn token(&self, parts: &Parts, body: &[u8]) -> Reply {
        no_store(self.token_inner(parts, body).await)
    }

    async fn token_inner(&self, parts: &Parts, body: &[u8]) -> Reply {
        let key = self.client_key(parts);
        if let Some(r) = self.throttled(key.as_deref()) {
            return r;
        }
        let Some(form) = form(parts, body) else {
            let _ = self.failed(key.as_deref());
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match param(&form, "grant_type") {
            Some("refresh_token") => {}
            Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        }
        let (token, delivery) = match param(&form, "refresh_token") {
            Some(t) => (t, Delivery::Body),
            None => match self.cookie.from_headers(&parts.headers) {
                Some(c) => (c, Delivery::Cookie),
                // No refresh cookie, or two of them (one planted by a sibling subdomain).
                None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
            },
        };
        // A cookie rides along with any request the browser makes: accept it only from our
        // pages.
        let origins: Vec<&str> = self.allowed_origins.iter().map(String::as_str).collect();
        if delivery == Delivery::Cookie && !origin_allowed(&parts.headers, &origins) {
            return oauth_error(StatusCode::FORBIDDEN, "invalid_request");
        }
        // The token's tag first (no store access): only a holder of an authentic refresh token
        // gets a proof checked, and so recorded in the replay cache.
        if let Err(e) = self.issuer.authenticate_refresh_token(token) {
            if let Some(r) = self.failed(key.as_deref()) {
                return r;
            }
            return error_reply(&e);
        }
        let jkt = match self.proof(parts) {
            Ok(jkt) => jkt,
            Err(e) => {
                let _ = self.failed(key.as_deref());
                return self.refuse_proof(&e);
            }
        };
        let presented = self.context(parts, key.clone());
        // A cookie is a jar the browser's concurrent requests share: settle inside the window.
        // A DPoP-bound session needs its key's proof on either path.
        let shared = delivery == Delivery::Cookie;
        let refreshed = self
            .issuer
            .refresh_checked(token, &presented, shared, jkt)
            .await;
        match refreshed {
            Ok(pair) => self.pair_reply(&pair, delivery),
            Err(e) => {
                if e.kind() == ErrorKind::RefreshReuse || e.kind() == ErrorKind::RiskDenied {
                    // A theft response takes effect here at once, not at the next sync: the
                    // revoked session's access tokens stop working at this server's account
                    // endpoints and introspection now.
                    self.revoked().await;
                }
                if e.is_invalid_grant()
                    && let Some(r) = self.failed(key.as_deref())
                {
                    return r;
                }
                error_reply(&e)
            }
        }
    }

    /// The bearer's verified claims.
    fn bearer(&self, parts: &Parts) -> Result<Verified> {
        crate::http::verify_http(&self.verifier, &parts.method, &parts.uri, &parts.headers)
    }

    /// The RFC 6750 refusal of a bearer token (the reason logged, never sent).
    fn refuse(&self, e: &Error) -> Reply {
        tracing::info!(target: "tidepass::verify", kind = %e.kind(), "request refused");
        let r = Rejection::from_error(e, self.verifier.audience(), None)
            .with_dpop_algs(&self.verifier.dpop().algorithm_names())
            .to_response();
        // With the nonce to use next, when the configured checker demands nonces.
        self.with_nonce(r.map(String::into_bytes))
    }

    /// Apply our own revocation at once (a failure is left to the next periodic round).
    async fn revoked(&self) {
        if let Err(e) = self.sync_revocations().await {
            tracing::warn!(error = %e, "revocation sync after a revocation failed");
        }
    }

    /// `POST /logout`: end the bearer's session; 204, and the refresh cookie cleared.
    pub async fn logout(&self, parts: &Parts) -> Reply {
        let claims = match self.bearer(parts) {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        let Some(sid) = session_of(&claims) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match self.issuer.logout(sid).await {
            Ok(_) => {
                self.revoked().await;
                let mut r = with_status(StatusCode::NO_CONTENT);
                if let Ok(v) = HeaderValue::from_str(&self.cookie.clear()) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            }
            Err(e) => error_reply(&e),
        }
    }

    /// `GET /sessions`: the bearer's active sessions (`session_id`, `device`, `user_agent`,
    /// `ip`, `created_at`, `last_used_at`, `current`).
    pub async fn sessions(&self, parts: &Parts) -> Reply {
        let claims = match self.bearer(parts) {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        match self.issuer.sessions(&claims.sub, session_of(&claims)).await {
            Ok(list) => {
                let items: Vec<Value> = list
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
                json_reply(StatusCode::OK, &json!({ "sessions": items }))
            }
            Err(e) => error_reply(&e),
        }
    }

    /// `DELETE /sessions/{id}`: end one of the bearer's sessions; 204, or 404 when it is not
    /// one of theirs.
    pub async fn revoke_session(&self, parts: &Parts, id: &str) -> Reply {
        let claims = match self.bearer(parts) {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        let Ok(sid) = id.parse::<SessionId>() else {
            return oauth_error(StatusCode::NOT_FOUND, "not_found");
        };
        match self.issuer.revoke(&claims.sub, sid).await {
            Ok(true) => {
                self.revoked().await;
                with_status(StatusCode::NO_CONTENT)
            }
            Ok(false) => oauth_error(StatusCode::NOT_FOUND, "not_found"),
            Err(e) => error_reply(&e),
        }
    }

    /// `POST /sessions/revoke-others`: end every session of the bearer's but this one; 204.
    pub async fn revoke_others(&self, parts: &Parts) -> Reply {
        let claims = match self.bearer(parts) {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        let Some(sid) = session_of(&claims) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match self.issuer.revoke_others(&claims.sub, sid).await {
            Ok(_) => {
                self.revoked().await;
                with_status(StatusCode::NO_CONTENT)
            }
            Err(e) => error_reply(&e),
        }
    }

    /// `POST /revoke` (RFC 7009): a refresh token ends its whole session when it is the
    /// session's current generation or the one before ([`Issuer::revoke_refresh_token`]);
    /// a DPoP-bound session's only with a proof by its key (`DPoP` header, `htu` this
    /// endpoint). An access token's `jti`, bound or not, goes on the revocation list until its
    /// `exp`. Always 200, as the RFC asks (a token that is neither, too old, without its key's
    /// proof, or already dead, changes nothing), unless the store is down or a proof that was
    /// sent is refused (400 `invalid_dpop_proof` or `use_dpop_nonce`).
    pub async fn revoke(&self, parts: &Parts, body: &[u8]) -> Reply {
        let Some(token) = form(parts, body)
            .as_deref()
            .and_then(|f| param(f, "token"))
            .map(str::to_owned)
        else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        let key = self.client_key(parts);
        if let Some(r) = self.throttled(key.as_deref()) {
            return r;
        }
        let done = if self.issuer.inspect_refresh_token(&token).is_some() {
            // A bound session's refresh token revokes only with its key's proof, which is
            // checked (and its `jti` recorded) only for such a session's recent token.
            let revoked = self
                .issuer
                .revoke_refresh_token_checked(&token, || self.proof(parts))
                .await;
            match revoked {
                Ok(ended) => ended,
                Err(e) if e.is_dpop_refusal() => {
                    let _ = self.failed(key.as_deref());
                    return self.refuse_proof(&e);
                }
                Err(e) => return error_reply(&e),
            }
        } else {
            match self.verifier.verify_unconstrained(&token) {
                // A bound access token too (its holder may end it; it cannot move the session).
                Ok(c) => match self.issuer.revoke_access_token(&c.jti, c.exp).await {
                    Ok(_) => true,
                    Err(e) => return error_reply(&e),
                },
                // A stale list cannot tell a live token from a revoked one: answer 503.
                Err(e) if e.is_store() || e.is_fetch() => {
                    return error_reply(&e);
                }
                Err(_) => false,
            }
        };
        if done {
            self.revoked().await;
        }
        with_status(StatusCode::OK)
    }

    /// Is the request from a registered introspection client (HTTP Basic, or `client_id` and
    /// `client_secret` in the form)?
    fn client_authenticated(&self, parts: &Parts, form: &[(String, String)]) -> bool {
        let presented = basic_credentials(&parts.headers).or_else(|| {
            Some((
                param(form, "client_id")?.to_owned(),
                param(form, "client_secret")?.to_owned(),
            ))
        });
        let Some((id, secret)) = presented else {
            return false;
        };
        client_matches(&self.clients, &id, &secret)
    }

    /// `POST /introspect` (RFC 7662) for a registered client: any token — an access token is
    /// active while it verifies (revocation list included), a refresh token while it is its
    /// session's current one — with the §2.2 fields; anything else `{"active": false}`.
    pub async fn introspect(&self, parts: &Parts, body: &[u8]) -> Reply {
        let Some(form) = form(parts, body) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        if !self.client_authenticated(parts, &form) {
            let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"introspection\""),
            );
            return r;
        }
        let Some(token) = param(&form, "token") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        // A DPoP-bound token is active too, with its `cnf.jkt` (RFC 9449 §6.2): the resource
        // server asking checks the proof itself.
        if let Ok(c) = self.verifier.verify_unconstrained(token) {
            let mut body = json!({
                "active": true, "token_type": "access_token", "sub": c.sub,
                "scope": c.scope, "client_id": c.client_id, "exp": c.exp, "iat": c.iat,
                "nbf": c.nbf, "aud": c.aud, "iss": c.iss, "jti": c.jti, "sid": c.sid,
                "auth_time": c.auth_time, "acr": c.acr,
            });
            if let Some(jkt) = c.cnf.as_ref().and_then(|c| c.jkt) {
                with_cnf(&mut body, jkt);
            }
            return json_reply(StatusCode::OK, &body);
        }
        match self.issuer.introspect_refresh_token(token).await {
            Ok(Some(s)) => {
                let mut body = json!({
                    "active": true, "token_type": "refresh_token", "sub": s.subject,
                    "scope": s.scope, "client_id": s.client_id, "exp": s.ends_at(),
                    "iat": s.rotated_at, "iss": self.issuer.minter().issuer(),
                    "sid": s.sid.to_string(),
                });
                if let Some(jkt) = s.dpop_jkt {
                    with_cnf(&mut body, jkt);
                }
                json_reply(StatusCode::OK, &body)
            }
            Ok(None) => json_reply(StatusCode::OK, &json!({ "active": false })),
            Err(e) => error_reply(&e),
        }
    }

    /// The RFC 8414 metadata document.
    pub fn metadata_document(&self) -> Value {
        let at = |p: &str| format!("{}{p}", self.base);
        json!({
            "issuer": self.issuer.minter().issuer(),
            "token_endpoint": at(paths::TOKEN),
            "revocation_endpoint": at(paths::REVOKE),
            "introspection_endpoint": at(paths::INTROSPECT),
            "jwks_uri": at(paths::JWKS),
            "tidepass_revocations_endpoint": at(paths::REVOCATIONS),
            "grant_types_supported": ["refresh_token"],
            "dpop_signing_alg_values_supported": self.dpop.algorithm_names(),
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post"],
        })
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3), cacheable for 5 minutes.
    pub fn metadata(&self) -> Reply {
        let mut r = json_reply(StatusCode::OK, &self.metadata_document());
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        r
    }

    /// `GET /.well-known/jwks.json`, cacheable for [`AuthServerBuilder::jwks_max_age`]
    /// (verifiers also refetch on an unknown `kid`, so a rotation is seen at once).
    pub fn jwks(&self) -> Reply {
        let mut r = json_reply(StatusCode::OK, &self.issuer.minter().keys().jwks());
        r.headers_mut()
            .insert(header::CACHE_CONTROL, self.jwks_cache.clone());
        r
    }

    /// `GET /revocations?since=V`: the signed feed with `Accept: application/jwt` (what
    /// verifiers over a network should follow, checked against the JWKS), JSON with
    /// `Accept: application/json`, else the compact binary form.
    pub async fn revocations(&self, parts: &Parts) -> Reply {
        let since = match parts.uri.query() {
            None => None,
            Some(q) => match form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "since") {
                None => None,
                Some((_, v)) => match v.parse::<u64>() {
                    Ok(v) => Some(v),
                    Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
                },
            },
        };
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let typed = |ct: &'static str, body: Vec<u8>| {
            let mut r = Response::new(body);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        };
        if accept.contains("application/jwt") {
            return match self.issuer.signed_revocation_changes(since).await {
                Ok(feed) => typed("application/jwt", feed.into_bytes()),
                Err(e) => error_reply(&e),
            };
        }
        let changes = match self.issuer.revocation_changes(since).await {
            Ok(c) => c,
            Err(e) => return error_reply(&e),
        };
        if accept.contains("application/json") {
            return match serde_json::to_value(&changes) {
                Ok(v) => json_reply(StatusCode::OK, &v),
                Err(_) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
            };
        }
        match changes.encode() {
            Ok(bytes) => typed("application/vnd.tidepass.revocations", bytes),
            Err(e) => error_reply(&e),
        }
    }
}

/// What [`AuthServer::handle`] routed to.
enum Endpoint {
    Token,
    Logout,
    Sessions,
    RevokeOthers,
    RevokeSession(String),
    Revoke,
    Introspect,
    Jwks,
    Revocations,
    Metadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Introspection client authentication does the same comparisons whatever the id: an
    /// unknown id costs what a known one with a wrong secret does (before, `==` on the id
    /// short-circuited the secret's comparison, and the time told which ids exist).
    #[test]
    fn client_authentication_does_not_short_circuit_on_the_id() {
        let clients = vec![
            (
                "rs".to_owned(),
                "a long secret of the resource server".to_owned(),
            ),
            ("other".to_owned(), "another secret".to_owned()),
        ];
        let compares = |id: &str, secret: &str| {
            COMPARED.with(|c| c.set(0));
            let ok = client_matches(&clients, id, secret);
            (ok, COMPARED.with(std::cell::Cell::get))
        };
        let known = compares("rs", "wrong");
        let unknown = compares("nobody", "wrong");
        let right = compares("rs", "a long secret of the resource server");
        assert_eq!((known.0, unknown.0, right.0), (false, false, true));
        assert_eq!(known.1, unknown.1);
        assert_eq!(known.1, right.1);
    }
}
