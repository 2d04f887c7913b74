//! The microservice side: the stateless verifier every request goes through, its
//! verified-token cache, bearer-credential parsing, and the JWKS key sync.
//!
//! (One file of about 800 lines of code on purpose: the verifier's checks in the order a
//! token meets them, its builder and its cache's key-generation rule, which are one
//! argument about what a removed key may still accept.)

pub mod bearer;
mod cache;
pub mod dpop;
#[cfg(feature = "follow")]
pub mod follow;
pub mod metadata;
pub mod step_up;
pub mod sync;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache::{Cache, RevIds};

use arc_swap::ArcSwap;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, CoarseClock};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::VerifyingKeys;
use crate::revocation::{self, RevocationList};
use crate::token::claims::{AccessClaims, NoExtra};
use crate::token::jws;
use crate::token::mint::ACCESS_TOKEN_TYPE;

pub use crate::token::DEFAULT_MAX_TOKEN_LEN;
/// Default clock-skew leeway: 30 seconds.
pub const DEFAULT_LEEWAY: u64 = 30;
/// The largest leeway a verifier accepts: revocation entries outlive tokens by this much.
pub const MAX_LEEWAY: u64 = 300;
/// Default capacity of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Default maximum token lifetime (`exp - iat`): one day.
pub const DEFAULT_MAX_TOKEN_LIFETIME: u64 = 86_400;
/// Default longest time a verifier's revocation list may go without a sync: five minutes.
pub const DEFAULT_MAX_STALENESS: u64 = 300;

/// What a verifier does when its revocation list is older than its `max_staleness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenStale {
    /// Refuse every token with [`ErrorKind::RevocationsStale`] (answer 503) until the list
    /// syncs again: a logout the verifier has not heard of is never accepted. The default.
    #[default]
    FailClosed,
    /// Keep verifying against the list it has, logging a `warn` (at most once a minute) and
    /// counting `tidepass_revocations_stale_total`: availability over the bound.
    FailOpen,
}

/// Verified claims, shared (a cache hit hands out the same allocation).
///
/// Shared with the cache when the cache is on; owned (no extra allocation) when it is off.
pub struct Verified<C = NoExtra>(Held<C>);

// Inline owned claims are the point: no allocation per verification when the cache is off.
#[allow(clippy::large_enum_variant)]
enum Held<C> {
    Shared(Arc<AccessClaims<C>>),
    Owned(AccessClaims<C>),
}

impl<C: Clone> Clone for Verified<C> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Held::Shared(a) => Held::Shared(a.clone()),
            Held::Owned(c) => Held::Owned(c.clone()),
        })
    }
}

impl<C> Deref for Verified<C> {
    type Target = AccessClaims<C>;
    fn deref(&self) -> &AccessClaims<C> {
        match &self.0 {
            Held::Shared(a) => a,
            Held::Owned(c) => c,
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for Verified<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<C> Verified<C> {
    /// Check that every scope in `required` is granted.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InsufficientScope`] when one is missing (answer 403).
    pub fn require_scopes(&self, required: &[&str]) -> Result<()> {
        if self.has_scopes(required) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InsufficientScope))
        }
    }

    /// The claims, shared.
    pub fn into_inner(self) -> Arc<AccessClaims<C>> {
        match self.0 {
            Held::Shared(a) => a,
            Held::Owned(c) => Arc::new(c),
        }
    }
}

/// Options for a [`Verifier`]; the issuer, audience and keys are required up front.
#[derive(Debug)]
#[must_use = "call build() to get a Verifier"]
pub struct VerifierBuilder<C = NoExtra> {
    issuer: String,
    audience: String,
    keys: VerifyingKeys,
    leeway: u64,
    typ: Option<String>,
    max_len: usize,
    max_lifetime: u64,
    max_staleness: u64,
    when_stale: WhenStale,
    cache: usize,
    clock: Arc<dyn Clock>,
    revocations: Option<Arc<RevocationList>>,
    #[cfg(feature = "status-list")]
    status_lists: Option<Arc<crate::revocation::status_list::HeldLists>>,
    dpop: Option<dpop::ProofChecker>,
    _claims: PhantomData<fn() -> C>,
}

impl<C: DeserializeOwned + Send + Sync + 'static> VerifierBuilder<C> {
    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 30 s, at most 300 s; whole
    /// seconds count).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// Require this `typ` header (default `at+jwt`); `None` accepts any or none.
    pub fn typ(mut self, typ: Option<&str>) -> Self {
        self.typ = typ.map(str::to_owned);
        self
    }

    /// Largest token accepted, in bytes (default 8 KiB). Longer tokens are refused before any
    /// decoding.
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// The longest lifetime (`exp - iat`, seconds) a token may claim (default a day). A signed
    /// token claiming more is refused with [`ErrorKind::LifetimeTooLong`]: it bounds what a
    /// leaked signing key, or a minter misconfigured with a far-future `exp`, can do.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime.as_secs();
        self
    }

    /// The longest time the revocation list may go without a sync before
    /// [`VerifierBuilder::when_stale`] applies (default five minutes; whole seconds count). Set
    /// it to a few poll intervals.
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max.as_secs();
        self
    }

    /// What to do with a stale revocation list (default [`WhenStale::FailClosed`]).
    pub fn when_stale(mut self, when: WhenStale) -> Self {
        self.when_stale = when;
        self
    }

    /// Capacity of the verified-token cache (default 10 000 tokens); 0 turns it off.
    pub fn cache_capacity(mut self, tokens: usize) -> Self {
        self.cache = tokens;
        self
    }

    /// Use another clock (the default is [`CoarseClock`]: the system clock to the second, read
    /// in a few nanoseconds).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Check every token against this revocation list (keep it in step with a
    /// [`crate::revocation::Syncer`]). Revoked tokens fail with [`ErrorKind::Revoked`].
    ///
    /// A list that has not synced for longer than [`VerifierBuilder::max_staleness`] (five
    /// minutes by default), or never, fails closed: see [`WhenStale`].
    pub fn revocations(mut self, list: Arc<RevocationList>) -> Self {
        self.revocations = Some(list);
        self
    }

    /// Check every token that carries a Token Status List entry (`status.status_list`)
    /// against these lists: any status but VALID fails with [`ErrorKind::Revoked`]; a list
    /// not held or past its `exp` is stale ([`ErrorKind::RevocationsStale`], or accepted and
    /// logged under [`WhenStale::FailOpen`]). Keep them filled with a follower
    /// ([`FollowerBuilder::status_lists`](crate::verify::follow::FollowerBuilder::status_lists)).
    /// Tokens without an entry pass. Works beside [`VerifierBuilder::revocations`] or alone.
    #[cfg(feature = "status-list")]
    #[cfg_attr(docsrs, doc(cfg(feature = "status-list")))]
    pub fn status_lists(mut self, lists: Arc<crate::revocation::status_list::HeldLists>) -> Self {
        self.status_lists = Some(lists);
        self
    }

    /// Use another custom-claims type.
    pub fn claims<D: DeserializeOwned + Send + Sync + 'static>(self) -> VerifierBuilder<D> {
        VerifierBuilder {
            issuer: self.issuer,
            audience: self.audience,
            keys: self.keys,
            leeway: self.leeway,
            typ: self.typ,
            max_len: self.max_len,
            max_lifetime: self.max_lifetime,
            max_staleness: self.max_staleness,
            when_stale: self.when_stale,
            cache: self.cache,
            clock: self.clock,
            revocations: self.revocations,
            #[cfg(feature = "status-list")]
            status_lists: self.status_lists,
            dpop: self.dpop,
            _claims: PhantomData,
        }
    }

    /// How DPoP proofs are checked for `DPoP`-scheme requests ([`Verifier::verify_dpop_at`]):
    /// algorithms, the `iat` window, the replay cache's size, server nonces. By default a
    /// [`dpop::ProofChecker::new`].
    pub fn dpop(mut self, checker: dpop::ProofChecker) -> Self {
        self.dpop = Some(checker);
        self
    }

    /// Build the verifier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an empty issuer or audience, a leeway over 300 s, a
    /// maximum token length under 64 bytes or over 1 MiB, or a maximum lifetime of 0.
    pub fn build(self) -> Result<Verifier<C>> {
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "issuer and audience must be set",
            ));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "leeway over 300 seconds",
            ));
        }
        if self.max_lifetime == 0 {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "max token lifetime must be positive",
            ));
        }
        if !(64..=1 << 20).contains(&self.max_len) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "max token length out of range",
            ));
        }
        Ok(Verifier {
            issuer: self.issuer,
            audience: self.audience,
            keys: ArcSwap::from_pointee(self.keys),
            key_generation: AtomicU64::new(0),
            leeway: self.leeway,
            typ: self.typ,
            max_len: self.max_len,
            max_lifetime: self.max_lifetime,
            max_staleness: self.max_staleness,
            when_stale: self.when_stale,
            stale_warned: AtomicU64::new(0),
            clock: self.clock,
            cache: (self.cache > 0).then(|| Cache::new(self.cache)),
            revocations: self.revocations,
            #[cfg(feature = "status-list")]
            status_lists: self.status_lists,
            dpop: self.dpop.unwrap_or_default(),
            #[cfg(feature = "server")]
            key_refresh: std::sync::OnceLock::new(),
        })
    }
}

/// Verifies access tokens statelessly: signature (key chosen by `kid`, algorithm from the key),
/// header rules, `iss`, `aud`, `exp`, `nbf`, `iat`.
///
/// Thread-safe and lock-free on the verify path; share it by reference or `Arc`. Swap keys with
/// [`Verifier::set_keys`] while requests are being verified.
///
/// Repeat verifications of the same token are answered from a bounded cache of verified
/// tokens (keyed by the whole token; `exp`, `nbf` and `iat` are checked again on every hit);
/// see [`VerifierBuilder::cache_capacity`].
pub struct Verifier<C = NoExtra> {
    issuer: String,
    audience: String,
    keys: ArcSwap<VerifyingKeys>,
    /// Bumped by every [`Verifier::set_keys`], after the new set is stored. A cache entry
    /// remembers the generation read *before* its keys were loaded, and a hit is answered only
    /// while that is still current: no token is answered from the cache once its key set has
    /// been replaced, whatever the interleaving.
    key_generation: AtomicU64,
    leeway: u64,
    typ: Option<String>,
    max_len: usize,
    max_lifetime: u64,
    max_staleness: u64,
    when_stale: WhenStale,
    /// When the last fail-open warning was logged (rate limit).
    stale_warned: AtomicU64,
    clock: Arc<dyn Clock>,
    cache: Option<Cache<C>>,
    /// Checks the DPoP proofs of `DPoP`-scheme requests (its replay cache is this verifier's).
    dpop: dpop::ProofChecker,
    revocations: Option<Arc<RevocationList>>,
    #[cfg(feature = "status-list")]
    status_lists: Option<Arc<crate::revocation::status_list::HeldLists>>,
    /// Who fetches the keys again when a token names an unknown `kid` (a [`follow::Follower`]
    /// registers itself); weak, so a dropped follower stops refreshing and nothing leaks.
    #[cfg(feature = "server")]
    key_refresh: std::sync::OnceLock<std::sync::Weak<dyn KeyRefresh>>,
}

/// Fetches a verifier's keys again when a token names a `kid` it does not know (the issuer
/// rotated); single-flight and rate-limited by the implementor. Answers whether the keys were
/// fetched (so one more try may succeed).
#[cfg(feature = "server")]
pub(crate) trait KeyRefresh: Send + Sync {
    fn refresh(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

impl<C> fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.load().len())
            .field("leeway", &self.leeway)
            .field("typ", &self.typ)
            .field("max_len", &self.max_len)
            .field("cache", &self.cache.as_ref().map(|c| c.capacity()))
            .finish()
    }
}

impl Verifier<NoExtra> {
    /// Start a verifier. The expected issuer and audience are required: a token must carry
    /// exactly this `iss` and an `aud` equal to (or containing) `audience`.
    pub fn builder(issuer: &str, audience: &str, keys: VerifyingKeys) -> VerifierBuilder<NoExtra> {
        VerifierBuilder {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys,
            leeway: DEFAULT_LEEWAY,
            typ: Some(ACCESS_TOKEN_TYPE.to_owned()),
            max_len: DEFAULT_MAX_TOKEN_LEN,
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            max_staleness: DEFAULT_MAX_STALENESS,
            when_stale: WhenStale::FailClosed,
            cache: DEFAULT_CACHE_CAPACITY,
            clock: Arc::new(CoarseClock),
            revocations: None,
            #[cfg(feature = "status-list")]
            status_lists: None,
            dpop: None,
            _claims: PhantomData,
        }
    }

    /// A verifier with the default options.
    ///
    /// # Errors
    ///
    /// As [`VerifierBuilder::build`].
    pub fn new(issuer: &str, audience: &str, keys: VerifyingKeys) -> Result<Self> {
        Self::builder(issuer, audience, keys).build()
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> Verifier<C> {
    /// Replace the key set. Verifications in flight finish with the old set; the cache is
    /// emptied so that no token signed by a removed key is answered from it.
    pub fn set_keys(&self, keys: VerifyingKeys) {
        self.keys.store(Arc::new(keys));
        // After the store: a verification that reads the new generation loads the new keys.
        self.key_generation.fetch_add(1, Ordering::SeqCst);
        if let Some(c) = &self.cache {
            c.clear();
        }
    }

    /// The expected audience (also the RFC 6750 realm of rejections).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_len(&self) -> usize {
        self.max_len
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<VerifyingKeys> {
        self.keys.load_full()
    }

    /// Verify a token, reading the verifier's clock.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_at`].
    pub fn verify(&self, token: &str) -> Result<Verified<C>> {
        self.verify_at(token, self.clock.now())
    }

    /// Verify an `Authorization` header value (`Bearer <token>`, RFC 6750 §2.1).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRequest`] for a header that is not a bearer credential, else as
    /// [`Verifier::verify_at`].
    pub fn verify_bearer(&self, authorization: &str) -> Result<Verified<C>> {
        let token = bearer::parse(authorization, self.max_len)?;
        self.verify_at(token, self.clock.now())
    }

    /// Verify a request's credentials under either scheme: `Authorization: Bearer <token>`
    /// (a DPoP-bound token is refused there), or `Authorization: DPoP <token>` with the
    /// request's `DPoP` header (`proof`), its method and the URL it was sent to.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_bearer`] and [`Verifier::verify_dpop_at`];
    /// [`ErrorKind::InvalidDpopProof`] for the `DPoP` scheme without a proof.
    pub fn verify_request(
        &self,
        authorization: &str,
        proof: Option<&str>,
        method: &str,
        url: &str,
    ) -> Result<Verified<C>> {
        let (scheme, token) = bearer::split_credentials(authorization, self.max_len)?;
        self.verify_credentials(scheme, token, proof, method, url, self.clock.now())
    }

    /// The credentials of a request, already split from its `Authorization` header, as of
    /// `now`: [`Verifier::verify_request`] and the HTTP layers' `verify_http` share it.
    pub(crate) fn verify_credentials(
        &self,
        scheme: bearer::Scheme,
        token: &str,
        proof: Option<&str>,
        method: &str,
        url: &str,
        now: u64,
    ) -> Result<Verified<C>> {
        match scheme {
            bearer::Scheme::Bearer => self.verify_at(token, now),
            bearer::Scheme::Dpop => match proof {
                Some(proof) => self.verify_dpop_at(token, proof, method, url, now),
                None => Err(self.refused(Error::with(
                    ErrorKind::InvalidDpopProof,
                    "DPoP scheme without a DPoP proof",
                ))),
            },
        }
        .map_err(|e| bearer::classify(token, e))
    }

    /// Verify a DPoP-bound token (RFC 9449 §7) with its proof, for a request with `method`
    /// sent to `url`, as of `now`: the token as [`Verifier::verify_at`] does, then the proof
    /// ([`dpop::ProofChecker::check_at`], with `ath` for this token), then that the proof's
    /// key is the one the token's `cnf.jkt` names.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_at`]; [`ErrorKind::InvalidDpopProof`] for a refused proof, a
    /// proof by another key, or a token that is not DPoP-bound; [`ErrorKind::UseDpopNonce`]
    /// when nonces are demanded and the proof has no current one.
    pub fn verify_dpop_at(
        &self,
        token: &str,
        proof: &str,
        method: &str,
        url: &str,
        now: u64,
    ) -> Result<Verified<C>> {
        let checked = self.verify_inner(token, now, true).and_then(|v| {
            let jkt = match &v.cnf {
                Some(c) if !c.other_methods => c.jkt,
                _ => None,
            }
            .ok_or_else(|| Error::with(ErrorKind::InvalidDpopProof, "token is not DPoP-bound"))?;
            self.dpop
                .check_bound_at(proof, method, url, Some(token), now, &jkt)?;
            Ok(v)
        });
        checked.map_err(|e| self.refused(e))
    }

    /// Register who refreshes the keys on an unknown `kid` (once; later calls are ignored).
    #[cfg(feature = "follow")]
    pub(crate) fn set_key_refresh(&self, refresh: std::sync::Weak<dyn KeyRefresh>) {
        let _ = self.key_refresh.set(refresh);
    }

    /// Whether someone follows the issuer's keys for this verifier (a live
    /// [`follow::Follower`]).
    #[cfg(feature = "tower")]
    pub(crate) fn follows_keys(&self) -> bool {
        self.key_refresh.get().is_some_and(|w| w.strong_count() > 0)
    }

    /// A token named an unknown `kid`: have the keys fetched again, when someone follows the
    /// issuer for this verifier. Whether they were (and one more try may succeed).
    /// Cancellation-safe: the refresh's in-flight mark is cleared when it is dropped.
    #[cfg(feature = "server")]
    pub(crate) async fn refresh_for_unknown_kid(&self) -> bool {
        let Some(refresh) = self.key_refresh.get().and_then(std::sync::Weak::upgrade) else {
            return false;
        };
        refresh.refresh().await
    }

    /// The verifier's clock reading (Unix seconds).
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The checker of DPoP proofs (for the nonce to send and the `algs` to announce).
    pub fn dpop(&self) -> &dpop::ProofChecker {
        &self.dpop
    }

    /// Verify a token as of `now` (Unix seconds).
    ///
    /// # Errors
    ///
    /// Every refusal is a rejected [`Error`] (see [`Error::is_rejected`]) with its own kind:
    /// [`ErrorKind::TooLarge`], [`ErrorKind::Malformed`], [`ErrorKind::Encrypted`],
    /// [`ErrorKind::AlgorithmNone`], [`ErrorKind::UnsupportedAlgorithm`],
    /// [`ErrorKind::AlgorithmMismatch`], [`ErrorKind::MissingKeyId`],
    /// [`ErrorKind::UnknownKey`], [`ErrorKind::EmbeddedKey`], [`ErrorKind::UnknownCritical`],
    /// [`ErrorKind::InvalidType`], [`ErrorKind::InvalidSignature`],
    /// [`ErrorKind::MissingClaim`], [`ErrorKind::InvalidIssuer`],
    /// [`ErrorKind::InvalidAudience`], [`ErrorKind::Expired`], [`ErrorKind::NotYetValid`],
    /// [`ErrorKind::IssuedInFuture`], [`ErrorKind::LifetimeTooLong`],
    /// [`ErrorKind::InvalidNumericDate`], [`ErrorKind::Revoked`]; and
    /// [`ErrorKind::RevocationsStale`] (not rejected: answer 503) when a revocation list is
    /// configured and has not synced within `max_staleness`.
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Verified<C>> {
        // No local holding the (large) result: it is returned in place, and the refusal
        // bookkeeping sits out of line.
        match self.verify_inner(token, now, false) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.refused(e)),
        }
    }

    /// A token verified as [`Verifier::verify`] does, except that a DPoP-bound token (`cnf`)
    /// is not refused: for the auth server's revocation and introspection endpoints, which
    /// are asked *about* a token rather than presented one as a credential (RFC 7009, RFC
    /// 7662 and RFC 9449 §6.2). Never use it to let a request in.
    #[cfg(feature = "server")]
    pub(crate) fn verify_unconstrained(&self, token: &str) -> Result<Verified<C>> {
        self.verify_inner(token, self.clock.now(), true)
            .map_err(|e| self.refused(e))
    }

    /// A refusal is routine under attack: `debug`, structured, never the token.
    #[cold]
    fn refused(&self, e: Error) -> Error {
        tracing::debug!(
            target: "tidepass::verify",
            kind = e.kind().code(),
            issuer = %self.issuer,
            "access token refused"
        );
        #[cfg(feature = "metrics")]
        metrics::counter!("tidepass_verify_failures_total", "kind" => e.kind().code()).increment(1);
        e
    }

    /// `bound_ok`: the token comes under the `DPoP` scheme, and the caller checks its `cnf`.
    /// Otherwise (a bearer token) any `cnf` is refused: a sender-constrained token is no
    /// bearer token (RFC 9449 §7.1).
    fn verify_inner(&self, token: &str, now: u64, bound_ok: bool) -> Result<Verified<C>> {
        if token.len() > self.max_len {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let generation = self.key_generation.load(Ordering::SeqCst);
        if let Some(cache) = &self.cache
            && let Some((claims, ids)) = cache.get(token, generation)
        {
            if claims.cnf.is_some() && !bound_ok {
                return Err(Error::new(ErrorKind::DpopBoundToken));
            }
            self.check_time(&claims, now)?;
            self.check_revoked(&claims, ids, now)?;
            #[cfg(feature = "status-list")]
            self.check_status(&claims, now)?;
            return Ok(Verified(Held::Shared(claims)));
        }
        let keys = self.keys.load();
        let policy = jws::Policy {
            // Without `kid`, the one key of a one-key set (its algorithm still has to be the
            // header's): the single-secret setup PyJWT and jose mint for by default.
            require_kid: false,
            typ: self.typ.as_deref(),
        };
        let claims = jws::verify(token, &keys, policy, |payload, _| {
            self.parse_claims(payload)
        })?;
        if claims.iss != self.issuer {
            return Err(Error::new(ErrorKind::InvalidIssuer));
        }
        if !claims.aud.contains(&self.audience) {
            return Err(Error::new(ErrorKind::InvalidAudience));
        }
        if claims.cnf.is_some() && !bound_ok {
            return Err(Error::new(ErrorKind::DpopBoundToken));
        }
        self.check_time(&claims, now)?;
        let ids = self.revocations.as_ref().map(|_| RevIds::of(&claims));
        if ids.is_some() {
            self.check_revoked(&claims, ids, now)?;
        }
        #[cfg(feature = "status-list")]
        self.check_status(&claims, now)?;
        let Some(cache) = &self.cache else {
            return Ok(Verified(Held::Owned(claims)));
        };
        let claims = Arc::new(claims);
        cache.insert(token, claims.clone(), ids, generation, now);
        Ok(Verified(Held::Shared(claims)))
    }

    fn parse_claims(&self, payload: &[u8]) -> Result<AccessClaims<C>> {
        if !jws::is_json_object(payload) {
            return Err(Error::with(
                ErrorKind::Malformed,
                "claims are not a JSON object",
            ));
        }
        // One UTF-8 check over the whole payload (fast for ASCII) instead of one per string.
        let text = std::str::from_utf8(payload)
            .map_err(|_| Error::with(ErrorKind::Malformed, "claims are not UTF-8"))?;
        if let Some(claims) = crate::token::claims::parse_simple(text) {
            return Ok(claims);
        }
        serde_json::from_str(text).map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                claim_error(payload)
            } else {
                Error::with(ErrorKind::Malformed, "claims are not valid JSON")
            }
        })
    }

    fn check_revoked(&self, c: &AccessClaims<C>, ids: Option<RevIds>, now: u64) -> Result<()> {
        let Some(list) = &self.revocations else {
            return Ok(());
        };
        let synced = list.synced_at();
        if synced == 0 || now.saturating_sub(synced) > self.max_staleness {
            self.stale(now)?;
        }
        let ids = ids.unwrap_or_else(|| RevIds::of(c));
        // The subject id is a hash: compute it only when a subject watermark exists at all.
        let sub = if list.has_subjects() {
            revocation::subject_id(&c.sub)
        } else {
            0
        };
        if list.is_revoked(ids.jti, ids.sid, sub, c.iat, now) {
            return Err(Error::new(ErrorKind::Revoked));
        }
        Ok(())
    }

    /// The token's Token Status List entry, when the verifier holds lists and the token has
    /// an entry (a token without one passes: it was minted before its issuer published
    /// lists, or by an issuer that does not).
    #[cfg(feature = "status-list")]
    fn check_status(&self, c: &AccessClaims<C>, now: u64) -> Result<()> {
        match (&self.status_lists, &c.status) {
            (Some(lists), Some(status)) => match lists.check(status, now, self.max_staleness) {
                Err(e) if e.kind() == ErrorKind::RevocationsStale => self.stale(now),
                other => other,
            },
            _ => Ok(()),
        }
    }

    /// The list is past `max_staleness` (or never synced).
    #[cold]
    fn stale(&self, now: u64) -> Result<()> {
        match self.when_stale {
            WhenStale::FailClosed => Err(Error::new(ErrorKind::RevocationsStale)),
            _ => {
                #[cfg(feature = "metrics")]
                metrics::counter!("tidepass_revocations_stale_total").increment(1);
                let last = self.stale_warned.load(Ordering::Relaxed);
                if now >= last.saturating_add(60)
                    && self
                        .stale_warned
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        target: "tidepass::verify",
                        event = "revocations_stale",
                        synced_at = self.revocations.as_ref().map_or(0, |l| l.synced_at()),
                        "revocation list past max_staleness; verifying anyway (fail open)"
                    );
                }
                Ok(())
            }
        }
    }

    fn check_time(&self, c: &AccessClaims<C>, now: u64) -> Result<()> {
        if c.exp.saturating_sub(c.iat) > self.max_lifetime {
            return Err(Error::new(ErrorKind::LifetimeTooLong));
        }
        let late = now.saturating_sub(self.leeway);
        let early = now.saturating_add(self.leeway);
        if c.exp <= late {
            return Err(Error::new(ErrorKind::Expired));
        }
        if c.nbf.is_some_and(|nbf| nbf > early) {
            return Err(Error::new(ErrorKind::NotYetValid));
        }
        if c.iat > early {
            return Err(Error::new(ErrorKind::IssuedInFuture));
        }
        Ok(())
    }
}

/// The precise reason typed claims did not deserialize (slow path: errors only).
fn claim_error(payload: &[u8]) -> Error {
    let Ok(serde_json::Value::Object(c)) = serde_json::from_slice::<serde_json::Value>(payload)
    else {
        return Error::with(ErrorKind::Malformed, "claims are not a JSON object");
    };
    let is_str = |v: &serde_json::Value| v.is_string();
    if !c.get("iss").is_some_and(is_str) {
        return Error::with(ErrorKind::InvalidIssuer, "iss missing or not a string");
    }
    match c.get("aud") {
        Some(serde_json::Value::String(_)) => {}
        Some(serde_json::Value::Array(a)) if a.iter().all(is_str) => {}
        _ => return Error::with(ErrorKind::InvalidAudience, "aud missing or mistyped"),
    }
    // The very rule the claims parser applies (one implementation), on the value.
    let bad_date = |v: &serde_json::Value| {
        Option::<crate::token::claims::NumericDate<false>>::deserialize(v).is_err()
    };
    if ["exp", "iat", "nbf", "auth_time"]
        .iter()
        .any(|name| c.get(*name).is_some_and(bad_date))
    {
        return Error::with(
            ErrorKind::InvalidNumericDate,
            "a time claim is not a NumericDate",
        );
    }
    Error::with(
        ErrorKind::MissingClaim,
        "a required claim is missing or mistyped",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};
    use crate::token::mint::Minter;

    #[test]
    fn cache_is_bounded_and_rechecks_expiry() {
        let key = SigningKey::generate(Algorithm::HS256).expect("key");
        let keys = crate::keys::VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let minter = Minter::new(key, "iss", "aud")
            .expect("minter")
            .with_ttl(std::time::Duration::from_secs(100));
        let v = Verifier::builder("iss", "aud", keys)
            .cache_capacity(32)
            .build()
            .expect("v");
        let now = 1_000_000;
        for i in 0..200 {
            let t = minter.token(&format!("u{i}")).mint_at(now).expect("mint");
            v.verify_at(t.as_str(), now).expect("verify");
        }
        let cache = v.cache.as_ref().expect("cache on");
        assert!(
            cache.len() <= cache.capacity(),
            "{} > {}",
            cache.len(),
            cache.capacity()
        );
        let t = minter.token("again").mint_at(now).expect("mint");
        v.verify_at(t.as_str(), now).expect("first");
        assert!(
            cache.get(t.as_str(), 0).is_some(),
            "verified token is cached"
        );
        // A cache hit still checks exp.
        let e = v
            .verify_at(t.as_str(), now + 100 + DEFAULT_LEEWAY)
            .expect_err("expired");
        assert_eq!(e.kind(), ErrorKind::Expired);
        // A swapped key set empties the cache.
        v.set_keys(VerifyingKeys::default());
        assert_eq!(cache.len(), 0);
        let e = v.verify_at(t.as_str(), now).expect_err("key gone");
        assert_eq!(e.kind(), ErrorKind::UnknownKey);
    }
}
