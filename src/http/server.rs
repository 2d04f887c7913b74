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
//! [`Verifier`], which follows a revocation list kept from the issuer's store. The server keeps
//! it current by itself, with no task to spawn: a request that checks a token first brings
//! the view up to the store when it is older than
//! [`AuthServerBuilder::revocation_sync`] (a
//! second by default; revocations made elsewhere, by other instances or the CLI, show within
//! that), and each revocation made through the server is applied at once.
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
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::http::Rejection;
use crate::http::cookie::RefreshCookie;
use crate::issuer::Issuer;
use crate::revocation::Syncer;
use crate::session::{ClientContext, SessionId};
use crate::store::SessionStore;
use crate::verify::{Verified, Verifier};

mod account;
mod builder;
mod introspection;
#[cfg(feature = "status-list")]
mod status;
mod sync;
mod token;

pub use builder::AuthServerBuilder;

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
    /// The Token Status Lists: `/statuslists/k` is list `k`, `/statuslists` their aggregation
    /// (draft-ietf-oauth-status-list §9.3). Served when the issuer publishes lists.
    pub const STATUS_LISTS: &str = "/statuslists";
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

/// The auth service's endpoints over an [`Issuer`] (see the [module docs](self)).
pub struct AuthServer<S> {
    issuer: Issuer<S>,
    verifier: Arc<Verifier>,
    /// The JWKS the verifier was last given (its keys follow the minter's rotations).
    published: Mutex<Value>,
    syncer: Syncer,
    /// How often requests bring the revocation view up to the store, when it last was, and
    /// whether a request is at it now.
    sync_every: Duration,
    tried_at: Mutex<Option<std::time::Instant>>,
    syncing: std::sync::atomic::AtomicBool,
    /// The shared key ring the server keeps its keys from, if it has one.
    ring: Option<sync::RingSlot>,
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

fn session_of(claims: &Verified) -> Option<SessionId> {
    claims.sid.as_deref().and_then(|s| s.parse().ok())
}

impl<S: SessionStore> AuthServer<S> {
    /// Start a server over `issuer`.
    pub fn builder(issuer: Issuer<S>) -> AuthServerBuilder<S> {
        AuthServerBuilder::new(issuer)
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
            #[cfg(feature = "status-list")]
            paths::STATUS_LISTS => (Method::GET, Endpoint::StatusLists),
            p => match p.strip_prefix("/sessions/") {
                Some(id) if !id.contains('/') => {
                    (Method::DELETE, Endpoint::RevokeSession(id.to_owned()))
                }
                #[cfg(feature = "status-list")]
                _ if p.starts_with("/statuslists/") => match status::list_number(p) {
                    Some(k) => (Method::GET, Endpoint::StatusList(k)),
                    None => return oauth_error(StatusCode::NOT_FOUND, "not_found"),
                },
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
        // The endpoints below look at the key ring themselves; the JWKS and metadata here.
        if matches!(reply, Endpoint::Jwks | Endpoint::Metadata) {
            self.keys_current().await;
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
            #[cfg(feature = "status-list")]
            Endpoint::StatusList(k) => self.status_list(&parts, k).await,
            #[cfg(feature = "status-list")]
            Endpoint::StatusLists => self.status_lists().await,
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

    /// The bearer's verified claims.
    async fn bearer(&self, parts: &Parts) -> Result<Verified> {
        // No credentials, no store access: refused below without a sync.
        if parts.headers.contains_key(header::AUTHORIZATION) {
            self.keys_current().await;
            self.current().await;
        }
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

    /// The RFC 8414 metadata document.
    pub fn metadata_document(&self) -> Value {
        let at = |p: &str| format!("{}{p}", self.base);
        #[cfg_attr(not(feature = "status-list"), allow(unused_mut))]
        let mut doc = json!({
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
        });
        #[cfg(feature = "status-list")]
        if self.issuer.status_lists().is_some()
            && let Some(m) = doc.as_object_mut()
        {
            // draft-ietf-oauth-status-list §9.3 registers this metadata name.
            m.insert(
                "status_list_aggregation_endpoint".into(),
                Value::from(at(paths::STATUS_LISTS)),
            );
        }
        doc
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
        // The signed feed is signed with the minter's key: the ring's current one.
        self.keys_current().await;
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
    #[cfg(feature = "status-list")]
    StatusList(u64),
    #[cfg(feature = "status-list")]
    StatusLists,
}
