//! A verifier that follows an issuer by itself over HTTP (feature `follow`): one builder call
//! gives a [`Verifier`] whose keys come from the issuer's JWKS (refreshed per
//! `Cache-Control`, and at once, single-flight and rate-limited, when a token names an
//! unknown `kid`) and whose revocation list follows the issuer's signed feed (checked against
//! those keys; a verifier cut off for longer than `max_staleness` fails closed).
//!
//! Where to look comes from the issuer's RFC 8414 metadata
//! (`{issuer}/.well-known/oauth-authorization-server`, whose `issuer` must be the one asked
//! for), or from URLs given directly. HTTP goes through hyper's client on rustls with ring
//! and the platform's trust roots (or your own [`rustls::ClientConfig`]:
//! [`FollowerBuilder::tls_config`]); responses are bounded (1 MiB) and time out after 5 s.
//!
//! ```no_run
//! use std::time::Duration;
//! use tidepass::verify::follow::Follower;
//!
//! # async fn run() -> Result<(), tidepass::Error> {
//! let follower = Follower::builder("https://auth.example", "api")
//!     .poll_interval(Duration::from_secs(1))
//!     .start()
//!     .await?;
//! let claims = follower.verify("eyJ…").await?;
//! // Or hand `follower.verifier()` to the axum extractor or the tower layer, and call
//! // `follower.saw_unknown_kid()` when they refuse an unknown kid.
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{RevocationList, Syncer};
use crate::token::claims::NoExtra;
use crate::verify::metadata::Metadata;
use crate::verify::sync::KeySync;
use crate::verify::{Verified, Verifier};
use serde::de::DeserializeOwned;

mod fetch;
#[cfg(feature = "status-list")]
mod status;

use fetch::Fetch;

/// Builds a [`Follower`]; from [`Follower::builder`].
#[derive(Debug)]
pub struct FollowerBuilder {
    issuer: String,
    audience: String,
    jwks_url: Option<String>,
    revocations_url: Option<String>,
    revocations: bool,
    poll: Duration,
    max_staleness: Option<Duration>,
    min_kid_gap: Duration,
    tls: Option<rustls::ClientConfig>,
    #[cfg(feature = "redis")]
    push: Option<(String, String)>,
    dpop: Option<crate::verify::dpop::ProofChecker>,
    wait: Duration,
    #[cfg(feature = "status-list")]
    status_lists: bool,
}

/// A verifier following its issuer (see the [module docs](self)). Dropping it stops the
/// background refreshes. `C` is the type of the tokens' custom claims
/// ([`FollowerBuilder::start_with_claims`]); none by default.
pub struct Follower<C = NoExtra> {
    verifier: Arc<Verifier<C>>,
    list: Option<Arc<RevocationList>>,
    keys: Arc<KeySync<C>>,
    fetch: Arc<Fetch>,
    /// Registered (weakly) with the verifier, so the axum extractor, `require_auth` and the
    /// tower layer refresh the keys on an unknown `kid` themselves.
    refresher: Arc<Refresher<C>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    #[cfg(feature = "status-list")]
    held: Option<Arc<crate::revocation::status_list::HeldLists>>,
}

impl<C> std::fmt::Debug for Follower<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("verifier", &self.verifier)
            .field("fetch", &self.fetch)
            .finish_non_exhaustive()
    }
}

/// The unknown-`kid` refresh, as the verifier's [`KeyRefresh`](crate::verify::KeyRefresh).
struct Refresher<C> {
    keys: Arc<KeySync<C>>,
    fetch: Arc<Fetch>,
}

impl<C: DeserializeOwned + Send + Sync + 'static> crate::verify::KeyRefresh for Refresher<C> {
    fn refresh(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            self.keys
                .on_unknown_kid(SystemClock.now(), || self.fetch.jwks())
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "JWKS refresh on an unknown kid failed");
                    false
                })
        })
    }
}

impl<C> Drop for Follower<C> {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// `attempt` until it succeeds, fails otherwise than unreachable, or `wait` is spent.
async fn patiently<T, F, Fut>(wait: Duration, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let until = std::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(250);
    loop {
        match attempt().await {
            Err(e) if e.kind() == ErrorKind::Fetch && std::time::Instant::now() + pause < until => {
                tracing::info!(error = %e, "waiting for the issuer");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            done => return done,
        }
    }
}

impl FollowerBuilder {
    /// How the verifier checks DPoP proofs (RFC 9449), for example with the
    /// [`public_base`](crate::verify::dpop::ProofChecker::public_base) this service is reached
    /// at behind a proxy (see [`VerifierBuilder::dpop`](crate::VerifierBuilder::dpop)).
    pub fn dpop(mut self, checker: crate::verify::dpop::ProofChecker) -> Self {
        self.dpop = Some(checker);
        self
    }

    /// Take the JWKS from `url` instead of the metadata's `jwks_uri` (no metadata is fetched
    /// unless the revocation feed needs it).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Follow the signed revocation feed at `url` instead of the one the metadata names.
    pub fn revocations_url(mut self, url: impl Into<String>) -> Self {
        self.revocations_url = Some(url.into());
        self
    }

    /// Check each token's Token Status List entry (draft-ietf-oauth-status-list): the lists
    /// the metadata's `status_list_aggregation_endpoint` names are fetched, verified against
    /// the followed JWKS, and fetched again as their `ttl` runs out (checked every
    /// [`FollowerBuilder::poll_interval`]); a token on a list not held yet makes the next
    /// round fetch it. With [`FollowerBuilder::without_revocations`] it is the only
    /// revocation mechanism, the same one verifiers in other languages use; what it cannot
    /// say stays with the native feed: single access tokens revoked by `jti` and subject
    /// watermarks. A logout reaches this verifier within the list's `ttl` plus the issuer's
    /// rebuild interval (60 s + 2 s by default), against about one poll for the feed. Sessions
    /// opened before the issuer turned lists on carry no entry (their tokens pass), so keep the
    /// feed on beside the lists until those have ended; and keep
    /// [`FollowerBuilder::max_staleness`] above the lists' `ttl` plus the rebuild interval
    /// (a list issued longer ago than it fails closed).
    #[cfg(feature = "status-list")]
    #[cfg_attr(docsrs, doc(cfg(feature = "status-list")))]
    pub fn status_lists(mut self) -> Self {
        self.status_lists = true;
        self
    }

    /// Do not follow a revocation feed at all: the verifier checks signatures and claims
    /// only, and revoked tokens live out their lifetime (unless
    /// [`status lists`](FollowerBuilder::status_lists) are followed).
    pub fn without_revocations(mut self) -> Self {
        self.revocations = false;
        self
    }

    /// Wait up to `up_to` for an issuer that cannot be reached yet (services starting
    /// together, the auth service restarting): [`FollowerBuilder::start`] retries its first
    /// fetches with backoff (250 ms doubling to 5 s) instead of failing at once. Only
    /// unreachability is retried; an issuer that answers something wrong fails at once.
    pub fn wait_for_issuer(mut self, up_to: Duration) -> Self {
        self.wait = up_to;
        self
    }

    /// How often the revocation feed is polled (default 1 s): a logout reaches this verifier
    /// within about this long.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// How long the list may go without a successful poll before verification fails closed
    /// (default: the verifier's, five minutes).
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = Some(max);
        self
    }

    /// The least time between two unknown-`kid` refreshes (default 10 s), so forged kids
    /// cannot make the verifier flood the issuer.
    pub fn min_unknown_kid_gap(mut self, gap: Duration) -> Self {
        self.min_kid_gap = gap;
        self
    }

    /// Also follow the issuer's Redis revocation log by push (feature `redis`): revocations
    /// arrive over pub/sub within milliseconds, and the HTTP feed stays on as the fallback.
    /// `url` and `prefix` are the issuer's `RedisStore`'s; the verifier only reads.
    #[cfg(feature = "redis")]
    pub fn redis_push(mut self, url: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.push = Some((url.into(), prefix.into()));
        self
    }

    /// Use this TLS setup (your own roots, a client certificate) instead of rustls on ring
    /// with the platform's roots.
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Fetch the metadata (when needed) and the keys, sync the revocation list once, and
    /// start following them in the background (tokio tasks). Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Fetch`] when the issuer cannot be reached; a store error when the Redis
    /// log to follow by push cannot be reached; [`ErrorKind::InvalidMetadata`]
    /// for its metadata refused (another `issuer`, no usable `jwks_uri`, a URL the HTTP client
    /// cannot parse); the JWKS refusal;
    /// [`ErrorKind::InvalidConfig`] for an issuer that is not an `http(s)` URL, or a feed
    /// wanted but named nowhere. A first revocation sync that fails is not an error: the
    /// verifier fails closed until one succeeds.
    pub async fn start(self) -> Result<Follower> {
        self.start_with_claims().await
    }

    /// [`FollowerBuilder::start`] for tokens whose custom claims (the ones an issuer mints
    /// with [`Login::claims`](crate::Login::claims)) deserialize into `C`: the follower's
    /// verifier is a `Verifier<C>`, for `Auth<C>`, `require_auth::<C>` and `AuthLayer<C>`.
    ///
    /// # Errors
    ///
    /// As [`FollowerBuilder::start`].
    pub async fn start_with_claims<C: DeserializeOwned + Send + Sync + 'static>(
        self,
    ) -> Result<Follower<C>> {
        let http = crate::net::client(match self.tls {
            Some(c) => c,
            None => crate::net::default_tls()?,
        });
        #[cfg(not(feature = "status-list"))]
        let lists_wanted = false;
        #[cfg(feature = "status-list")]
        let lists_wanted = self.status_lists;
        let needs_metadata = self.jwks_url.is_none()
            || self.revocations && self.revocations_url.is_none()
            || lists_wanted;
        let metadata = if needs_metadata {
            let url = Metadata::url_for(&self.issuer)?;
            let probe = Fetch {
                http: http.clone(),
                jwks: String::new(),
                feed: None,
            };
            let wait = self.wait;
            let (body, _) = patiently(wait, || probe.get(&url, "application/json")).await?;
            let m = Metadata::parse(body.as_bytes(), &self.issuer)?;
            // `Metadata::parse` checks the scheme and host (it needs no HTTP crate); a URL
            // the HTTP client then cannot parse is the metadata's fault, not the caller's.
            let mut urls = std::iter::once(&m.jwks_uri).chain(m.revocations_endpoint.as_ref());
            if urls.any(|u| u.parse::<http::Uri>().is_err()) {
                return Err(Error::with(
                    ErrorKind::InvalidMetadata,
                    "the metadata names a URL the HTTP client cannot parse",
                ));
            }
            Some(m)
        } else {
            None
        };
        let jwks = match (self.jwks_url, &metadata) {
            (Some(u), _) => u,
            (None, Some(m)) => m.jwks_uri.clone(),
            (None, None) => return Err(Error::with(ErrorKind::InvalidConfig, "no JWKS URL")),
        };
        let feed = if self.revocations {
            let named = self.revocations_url.or_else(|| {
                metadata
                    .as_ref()
                    .and_then(|m| m.revocations_endpoint.clone())
            });
            Some(named.ok_or_else(|| {
                Error::with(
                    ErrorKind::InvalidConfig,
                    "the metadata names no revocation feed: give revocations_url or \
                     without_revocations",
                )
            })?)
        } else {
            None
        };
        let fetch = Arc::new(Fetch { http, jwks, feed });
        let list = Arc::new(RevocationList::new());
        let mut builder = Verifier::builder(
            &self.issuer,
            &self.audience,
            crate::keys::VerifyingKeys::default(),
        )
        .claims::<C>();
        if fetch.feed.is_some() {
            builder = builder.revocations(list.clone());
        }
        if let Some(max) = self.max_staleness {
            builder = builder.max_staleness(max);
        }
        if let Some(checker) = self.dpop {
            builder = builder.dpop(checker);
        }
        #[cfg(feature = "status-list")]
        let lists = match (lists_wanted, &metadata) {
            (false, _) => None,
            (true, Some(m)) => Some(status::Lists::new(
                m.status_list_aggregation_endpoint.clone().ok_or_else(|| {
                    Error::with(
                        ErrorKind::InvalidConfig,
                        "the metadata names no status_list_aggregation_endpoint",
                    )
                })?,
                &self.issuer,
                self.max_staleness
                    .map_or(crate::verify::DEFAULT_MAX_STALENESS, |d| d.as_secs()),
            )),
            (true, None) => {
                return Err(Error::with(
                    ErrorKind::InvalidConfig,
                    "status lists are found through the issuer's metadata",
                ));
            }
        };
        #[cfg(feature = "status-list")]
        let held = lists
            .as_ref()
            .map(|_| Arc::new(crate::revocation::status_list::HeldLists::new()));
        #[cfg(feature = "status-list")]
        if let Some(h) = &held {
            builder = builder.status_lists(h.clone());
        }
        let verifier = Arc::new(builder.build()?);
        let keys = Arc::new(KeySync::new(
            verifier.clone(),
            Duration::from_secs(300),
            self.min_kid_gap,
        ));
        let mut every = patiently(self.wait, || keys.sync(|| fetch.jwks())).await?;
        let mut tasks = Vec::new();
        {
            let (keys, fetch) = (keys.clone(), fetch.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(every)).await;
                    match keys.sync(|| fetch.jwks()).await {
                        Ok(next) => every = next,
                        Err(e) => {
                            tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys")
                        }
                    }
                }
            }));
        }
        #[cfg(feature = "status-list")]
        if let (Some(mut lists), Some(held)) = (lists, held.clone()) {
            if let Err(e) = lists
                .round(&fetch, &held, &verifier, SystemClock.now())
                .await
            {
                tracing::warn!(error = %e, "first status list fetch failed; failing closed until one succeeds");
            }
            let (fetch, verifier, poll) = (fetch.clone(), verifier.clone(), self.poll);
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(poll).await;
                    if let Err(e) = lists
                        .round(&fetch, &held, &verifier, SystemClock.now())
                        .await
                    {
                        tracing::warn!(error = %e, "status list fetch failed; keeping the lists");
                    }
                }
            }));
        }
        let followed = fetch.feed.is_some().then(|| list.clone());
        if fetch.feed.is_some() {
            let syncer = Syncer::new(list);
            let first = syncer
                .sync_signed_once(
                    SystemClock.now(),
                    &verifier.keys(),
                    verifier.issuer(),
                    |since| fetch.feed(since),
                )
                .await;
            if let Err(e) = first {
                tracing::warn!(error = %e, "first revocation sync failed; failing closed until one succeeds");
            }
            let (fetch, verifier, poll) = (fetch.clone(), verifier.clone(), self.poll);
            let (kid_keys, kid_fetch) = (keys.clone(), fetch.clone());
            tasks.push(tokio::spawn(async move {
                syncer
                    .run_signed(
                        poll,
                        &SystemClock,
                        || verifier.keys(),
                        verifier.issuer(),
                        |since| fetch.feed(since),
                        tokio::time::sleep,
                        |e| {
                            tracing::warn!(error = %e, "revocation sync failed; keeping the list");
                            // A feed signed by a key not fetched yet (the issuer rotated): the
                            // keys now, so the next round (one poll later) applies it.
                            if e.kind() == ErrorKind::UnknownKey {
                                let (keys, fetch) = (kid_keys.clone(), kid_fetch.clone());
                                tokio::spawn(async move {
                                    let _ = keys
                                        .on_unknown_kid(SystemClock.now(), || fetch.jwks())
                                        .await;
                                });
                            }
                        },
                    )
                    .await;
            }));
        }
        #[cfg(feature = "redis")]
        if let (Some((url, prefix)), Some(list)) = (self.push, followed.clone()) {
            let store =
                crate::store::RedisStore::connect(&url, &prefix, Duration::from_secs(2)).await?;
            let client = redis::Client::open(url.as_str())
                .map_err(|_| Error::with(ErrorKind::InvalidConfig, "not a Redis URL"))?;
            tasks.push(tokio::spawn(crate::store::follow_revocations(
                client,
                store,
                list,
                Arc::new(SystemClock),
                |e| tracing::warn!(error = %e, "revocation push failed; polling goes on"),
            )));
        }
        let refresher = Arc::new(Refresher {
            keys: keys.clone(),
            fetch: fetch.clone(),
        });
        let weak: std::sync::Weak<dyn crate::verify::KeyRefresh> =
            Arc::downgrade(&(refresher.clone() as Arc<dyn crate::verify::KeyRefresh>));
        verifier.set_key_refresh(weak);
        Ok(Follower {
            verifier,
            list: followed,
            keys,
            fetch,
            refresher,
            tasks,
            #[cfg(feature = "status-list")]
            held,
        })
    }
}

impl Follower {
    /// Follow `issuer` (its identifier: tokens must carry it as `iss`) for tokens meant for
    /// `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> FollowerBuilder {
        FollowerBuilder {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            revocations_url: None,
            revocations: true,
            poll: Duration::from_secs(1),
            max_staleness: None,
            min_kid_gap: Duration::from_secs(10),
            tls: None,
            #[cfg(feature = "redis")]
            push: None,
            dpop: None,
            wait: Duration::ZERO,
            #[cfg(feature = "status-list")]
            status_lists: false,
        }
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> Follower<C> {
    /// The verifier, for the axum extractor, the tower layer or your own calls.
    pub fn verifier(&self) -> &Arc<Verifier<C>> {
        &self.verifier
    }

    /// The Token Status Lists held (`None` unless [`FollowerBuilder::status_lists`]).
    #[cfg(feature = "status-list")]
    #[cfg_attr(docsrs, doc(cfg(feature = "status-list")))]
    pub fn status_lists(&self) -> Option<&Arc<crate::revocation::status_list::HeldLists>> {
        self.held.as_ref()
    }

    /// The revocation list the feed keeps (`None` without a feed): also feed it from Redis
    /// pushes (`store::follow_revocations`) for revocations within milliseconds.
    pub fn revocation_list(&self) -> Option<&Arc<RevocationList>> {
        self.list.as_ref()
    }

    /// Verify `token`; a token signed by a key the verifier does not know yet (the issuer has
    /// just rotated) triggers one JWKS refresh (single-flight, at most one per
    /// [`FollowerBuilder::min_unknown_kid_gap`]) and one more try. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    pub async fn verify(&self, token: &str) -> Result<Verified<C>> {
        match self.verifier.verify(token) {
            Err(e) if e.kind() == ErrorKind::UnknownKey => {
                if crate::verify::KeyRefresh::refresh(&*self.refresher).await {
                    return self.verifier.verify(token);
                }
                Err(e)
            }
            other => other,
        }
    }

    /// A token was refused for an unknown `kid` on a path of your own: refresh the keys in
    /// the background, within the same limits as [`Follower::verify`]. (The axum extractor,
    /// `require_auth` and the tower layer need no such call: for this follower's verifier
    /// they refresh and try once more themselves.)
    pub fn saw_unknown_kid(&self) {
        let (keys, fetch) = (self.keys.clone(), self.fetch.clone());
        tokio::spawn(async move {
            let _ = keys
                .on_unknown_kid(SystemClock.now(), || fetch.jwks())
                .await;
        });
    }
}
