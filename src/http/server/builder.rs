//! [`AuthServerBuilder`]: what an [`AuthServer`] is configured with, checked once at
//! [`AuthServerBuilder::build`].

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderValue;

use super::{AuthServer, paths};
use crate::error::{Error, ErrorKind, Result};
use crate::http::cookie::RefreshCookie;
use crate::issuer::Issuer;
use crate::revocation::{RevocationList, Syncer};
use crate::store::SessionStore;
use crate::verify::Verifier;

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
    sync_every: Duration,
    ring: Option<Box<dyn super::sync::RingSource>>,
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
    /// The defaults ([`AuthServer::builder`]).
    pub(super) fn new(issuer: Issuer<S>) -> Self {
        Self {
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
            sync_every: Duration::from_secs(1),
            ring: None,
        }
    }

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
    /// address is the request's [`Peer`](super::Peer) (or axum's `ConnectInfo`): a request that carries
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

    /// Keep the signing keys and refresh secrets from the shared key ring `ring` (build the
    /// issuer with its [`KeyRing::keys`](crate::store::key_ring::KeyRing::keys)): the server
    /// applies the ring's rules itself, with no task to spawn. A request arriving when the
    /// ring was last looked at longer ago than its poll interval looks first (one request
    /// at a time; one store read, and the keys are opened only when the ring changed):
    /// rotations happen on schedule, made once by whichever instance sees them due, and every
    /// instance adopts the others' within the interval of its next request.
    pub fn key_ring<K: crate::store::key_ring::KeyStore>(
        mut self,
        ring: crate::store::key_ring::KeyRing<K>,
    ) -> Self {
        self.ring = Some(Box::new(ring));
        self
    }

    /// How often the server brings its revocation view (and its verifier's keys) up to the
    /// store (default every second). No task is needed: the first request to an endpoint
    /// that checks access tokens (the account endpoints, `/revoke`, `/introspect`) after
    /// this long syncs first, one request at a time while the others answer from the view
    /// they have; revocations made through this server apply at once.
    pub fn revocation_sync(mut self, every: Duration) -> Self {
        self.sync_every = every;
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
        #[cfg(feature = "status-list")]
        if let Some(lists) = self.issuer.status_lists()
            && lists.base() != format!("{base}{}", super::paths::STATUS_LISTS)
        {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "the issuer's status lists must be published where this server serves them: \
                 its issuer URL followed by /statuslists",
            ));
        }
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
            sync_every: self.sync_every,
            tried_at: Mutex::new(None),
            syncing: std::sync::atomic::AtomicBool::new(false),
            ring: self.ring.map(super::sync::RingSlot::new),
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
