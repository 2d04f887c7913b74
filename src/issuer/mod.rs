//! The auth service's side: log in, refresh with rotation and reuse detection, log out, list
//! and revoke sessions, elevate; its guards (rate limits, risk policy) and events.
//!
//! Uses [`crate::session`] (the records and rules), [`crate::store`], [`crate::revocation`]
//! and [`crate::token`]; nothing below it uses this module.

pub mod events;
pub mod guard;
mod login;
pub(crate) mod overlap;
mod revoke;

pub use login::{Login, SessionView, TokenPair};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use arc_swap::ArcSwap;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::issuer::events::{Event, EventSink, TracingSink};
use crate::issuer::guard::{RiskDecision, RiskPolicy};
use crate::issuer::overlap::{KnownSessions, MintedFrom, let_io_start, poll_once};
use crate::session::refresh::{Presented, RefreshSecrets};
use crate::session::{
    ClientContext, Policy, RevokeReason, Rotation, Session, SessionId, new_session,
};
use crate::store::SessionStore;
use crate::token::mint::{AccessToken, Minter};

/// Options for an [`Issuer`].
#[must_use = "call build()"]
pub struct IssuerBuilder<S> {
    store: S,
    minter: Minter,
    secrets: Option<Secrets>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    risk: Option<Arc<dyn RiskPolicy>>,
    overlap: usize,
    client_id: Option<String>,
}

impl<S> fmt::Debug for IssuerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerBuilder")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> IssuerBuilder<S> {
    /// Refresh-token secrets: the same on every instance of the auth service, and kept across
    /// restarts (from the application's own secret store, or a file only this service
    /// reads). One of this or [`IssuerBuilder::ephemeral_refresh_secrets`] is required.
    pub fn refresh_secrets(mut self, secrets: RefreshSecrets) -> Self {
        self.secrets = Some(Secrets::Given(secrets));
        self
    }

    /// One random refresh-token secret, made at [`IssuerBuilder::build`] and never kept:
    /// every refresh token dies with the process, and a second instance refuses the first
    /// one's tokens. For tests, demos and the tour; named, so it is never the silent default.
    pub fn ephemeral_refresh_secrets(mut self) -> Self {
        self.secrets = Some(Secrets::Ephemeral);
        self
    }

    /// Session timeouts and grace (default [`Policy::web`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock (default: the system clock). The minter keeps its own.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where events go (default: `tracing`).
    pub fn events(mut self, sink: impl EventSink) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// Assess every [`Issuer::refresh_from`] with this policy (for example
    /// [`crate::issuer::guard::DefaultRisk`]). Off by default: a plain [`Issuer::refresh`] never
    /// assesses. The assessment reads the stored session first: one more store round trip
    /// per refresh.
    pub fn risk(mut self, policy: impl RiskPolicy) -> Self {
        self.risk = Some(Arc::new(policy));
        self
    }

    /// How many recently refreshed sessions the issuer remembers the claims of, to sign a
    /// refresh's access token while the rotation is on its way to the store (default 16,384,
    /// a few hundred bytes each; 0 turns it off). A refresh then no longer waits for the
    /// store's round trip plus the signature (measured in `BENCHMARKS.md`). The early token is
    /// handed out only when the store confirms the rotation of a session with those very
    /// claims, and dropped unseen otherwise. Needs a store call that is still pending when
    /// first polled (Redis, PostgreSQL, redb) and a tokio runtime; elsewhere it does nothing.
    pub fn overlap_sessions(mut self, sessions: usize) -> Self {
        self.overlap = sessions;
        self
    }

    /// The `client_id` of every access token whose login names none ([`Login::client_id`]
    /// overrides it): RFC 9068 §2.2 makes the claim required in JWT access tokens. Unset by
    /// default (tokens then carry `client_id` only when the login gives one).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> tidepass::Result<()> {
    /// use tidepass::keys::{Algorithm, SigningKey};
    /// use tidepass::{Issuer, Login, MemoryStore, Minter, Verifier};
    ///
    /// let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth", "api")?;
    /// let verifier = Verifier::new("https://auth", "api", minter.keys().verifying_keys())?;
    /// let issuer = Issuer::builder(MemoryStore::new(), minter).ephemeral_refresh_secrets().client_id("web").build()?;
    /// let web = issuer.login(Login::new("alice")).await?;
    /// assert_eq!(verifier.verify(web.access.as_str())?.client_id.as_deref(), Some("web"));
    /// let app = issuer.login(Login::new("alice").client_id("ios")).await?;
    /// assert_eq!(verifier.verify(app.access.as_str())?.client_id.as_deref(), Some("ios"));
    /// # Ok(()) }
    /// ```
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Build the issuer.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an inconsistent policy, or when neither
    /// [`IssuerBuilder::refresh_secrets`] nor [`IssuerBuilder::ephemeral_refresh_secrets`]
    /// was called (a secret made up per process would log users out at every restart and
    /// behind every load balancer); [`ErrorKind::Random`] if the RNG fails for ephemeral
    /// secrets.
    pub fn build(self) -> Result<Issuer<S>> {
        self.policy.validate()?;
        let secrets = match self.secrets {
            Some(Secrets::Given(s)) => s,
            Some(Secrets::Ephemeral) => RefreshSecrets::generate()?,
            None => {
                return Err(Error::with(
                    ErrorKind::InvalidConfig,
                    "no refresh-token secrets: give IssuerBuilder::refresh_secrets (the same \
                     on every instance, kept across restarts), or ephemeral_refresh_secrets() \
                     for tests",
                ));
            }
        };
        Ok(Issuer {
            store: self.store,
            minter: self.minter,
            secrets: ArcSwap::from_pointee(secrets),
            secrets_lock: std::sync::Mutex::new(()),
            policy: self.policy,
            clock: self.clock,
            events: self.events,
            risk: self.risk,
            logins: AtomicU64::new(0),
            known: KnownSessions::new(self.overlap),
            relisted: dashmap::DashSet::new(),
            client_id: self.client_id,
        })
    }
}

/// Where an issuer's refresh-token secrets come from.
enum Secrets {
    Given(RefreshSecrets),
    Ephemeral,
}

/// Sessions whose claims an issuer remembers by default, to sign while the store rotates.
const DEFAULT_OVERLAP_SESSIONS: usize = 16_384;

/// Reused sessions remembered as listed, at most (then forgotten all at once).
const RELISTED_MAX: usize = 65_536;

/// How often (in logins) the issuer asks the store to drop ended sessions, and how many.
const CLEANUP_EVERY: u64 = 64;
const CLEANUP_BATCH: usize = 256;

/// The auth service: sessions with rotating refresh tokens over a [`SessionStore`].
///
/// Thread-safe; share it (`Arc<Issuer<S>>`) across request handlers.
pub struct Issuer<S> {
    store: S,
    minter: Minter,
    secrets: ArcSwap<RefreshSecrets>,
    secrets_lock: std::sync::Mutex<()>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    risk: Option<Arc<dyn RiskPolicy>>,
    logins: AtomicU64,
    pub(crate) known: KnownSessions,
    /// Reused sessions this process has listed after the store revoked them (stores that
    /// list in a second call): a thief replaying the old token lists nothing more.
    relisted: dashmap::DashSet<SessionId>,
    /// The default `client_id` ([`IssuerBuilder::client_id`]).
    client_id: Option<String>,
}

impl<S> fmt::Debug for Issuer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("minter", &self.minter)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> Issuer<S> {
    /// Start an issuer over `store`, minting access tokens with `minter`.
    pub fn builder(store: S, minter: Minter) -> IssuerBuilder<S> {
        IssuerBuilder {
            store,
            minter,
            secrets: None,
            policy: Policy::default(),
            clock: Arc::new(SystemClock),
            events: Arc::new(TracingSink),
            risk: None,
            overlap: DEFAULT_OVERLAP_SESSIONS,
            client_id: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The minter (for the JWKS and key rotation).
    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    /// The session policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Now, by the issuer's clock (Unix seconds).
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Make a new refresh secret current; tokens of older secrets keep working until
    /// [`Issuer::retire_refresh_secret`].
    ///
    /// # Errors
    ///
    /// As [`RefreshSecrets::rotate_to`].
    pub fn rotate_refresh_secret(&self, id: u8, secret: &[u8]) -> Result<()> {
        let _guard = self.secrets_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.secrets.load().duplicate();
        next.rotate_to(id, secret)?;
        self.secrets.store(Arc::new(next));
        Ok(())
    }

    /// Forget refresh secret `id`.
    ///
    /// # Errors
    ///
    /// As [`RefreshSecrets::retire`].
    pub fn retire_refresh_secret(&self, id: u8) -> Result<()> {
        let _guard = self.secrets_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.secrets.load().duplicate();
        next.retire(id)?;
        self.secrets.store(Arc::new(next));
        Ok(())
    }

    /// Use the keys a shared key ring gives
    /// ([`crate::store::key_ring::maintain_key_ring_at`]): the minter's signing keys and the
    /// refresh-token secrets, replaced whole. Refreshes and mints in flight finish with what
    /// they started with.
    pub fn use_ring_keys(&self, ring: crate::keys::RingKeys) {
        self.minter.set_keys(ring.keys);
        let _guard = self.secrets_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.secrets.store(Arc::new(ring.secrets));
    }

    /// The session of an authentic refresh token, without touching the store. `None` for
    /// anything else. (To revoke by refresh token, use [`Issuer::revoke_refresh_token`], which
    /// also keeps a DPoP-bound session's binding and refuses old generations.)
    pub fn inspect_refresh_token(&self, refresh_token: &str) -> Option<SessionId> {
        self.secrets.load().parse(refresh_token).ok().map(|p| p.sid)
    }

    /// RFC 7662 for a refresh token: its session, when the token is authentic, its session
    /// is active now and it is the session's current generation (the one a refresh would
    /// rotate). `None` for anything else: not ours, tampered, an older generation (presenting
    /// it would be reuse), an ended or unknown session. One store read; nothing changes.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn introspect_refresh_token(&self, refresh_token: &str) -> Result<Option<Session>> {
        let Ok(presented) = self.secrets.load().parse(refresh_token) else {
            return Ok(None);
        };
        let now = self.clock.now();
        Ok(self
            .store
            .load(presented.sid)
            .await?
            .filter(|s| s.is_active_at(now) && s.generation == presented.generation))
    }

    pub(super) fn emit(&self, e: Event) {
        self.events.emit(&e);
    }

    /// The access token for a session's claims, expiring no later than `ends_at` (the
    /// session's end: an access token never outlives its session).
    fn access(
        &self,
        sid: &SessionId,
        from: MintedFrom<'_>,
        ends_at: u64,
        now: u64,
    ) -> Result<AccessToken> {
        let sid = sid.to_string();
        let acr = from.assurance.to_string();
        let mut mint = self
            .minter
            .token(from.subject)
            .sid(&sid)
            .auth_time(from.auth_time)
            .acr(&acr);
        let left = ends_at.saturating_sub(now);
        if left < self.minter.ttl() {
            mint = mint.ttl(std::time::Duration::from_secs(left));
        }
        if let Some(scope) = from.scope {
            mint = mint.scope(scope);
        }
        if let Some(client) = from.client_id {
            mint = mint.client_id(client);
        }
        if let Some(jkt) = from.dpop_jkt {
            mint = mint.dpop_jkt(jkt);
        }
        mint.claims(from.claims).mint_at(now)
    }

    fn pair(&self, s: &Session, secrets: &RefreshSecrets, now: u64) -> Result<TokenPair> {
        let access = self.access(&s.sid, s.into(), s.ends_at(), now)?;
        self.pair_with(access, s, secrets, now)
    }

    /// A pair of `access` (minted for `s`) and the refresh token of `s`'s generation.
    fn pair_with(
        &self,
        access: AccessToken,
        s: &Session,
        secrets: &RefreshSecrets,
        now: u64,
    ) -> Result<TokenPair> {
        let refresh = secrets.encode(s.secret_id, &s.sid, s.generation)?;
        Ok(TokenPair {
            expires_in: access.expires_at().saturating_sub(now),
            access,
            refresh,
            session_id: s.sid,
            refresh_expires_at: s.ends_at(),
            dpop_bound: s.dpop_jkt.is_some(),
        })
    }

    /// Open a session for an authenticated user and return its first token pair.
    ///
    /// # Errors
    ///
    /// A store error ([`Error::is_store`]); [`ErrorKind::Serialization`] when custom claims
    /// repeat a registered claim; [`ErrorKind::InvalidConfig`] for an empty subject.
    pub async fn login(&self, login: Login) -> Result<TokenPair> {
        self.login_at(login, self.clock.now()).await
    }

    /// [`Issuer::login`] as of `now`.
    ///
    /// # Errors
    ///
    /// As [`Issuer::login`].
    pub async fn login_at(&self, login: Login, now: u64) -> Result<TokenPair> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("tidepass.login", sid = tracing::field::Empty);
        self.login_inner(login, now).instrument(span).await
    }

    async fn login_inner(&self, login: Login, now: u64) -> Result<TokenPair> {
        if login.subject.is_empty() || login.subject.len() > 1024 {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "subject must be 1 to 1024 bytes",
            ));
        }
        // An Arc, not a guard: the future must stay Send across the store call.
        let secrets = self.secrets.load_full();
        let session = new_session(
            SessionId::random()?,
            login.subject,
            now,
            &self.policy,
            secrets.current(),
            login.scope,
            login.client_id.or_else(|| self.client_id.clone()),
            login.claims,
            login.assurance,
            login.auth_time.unwrap_or(now),
            login.context,
            login.dpop_jkt,
        );
        // Mint first: a pair that cannot be minted (bad claims) leaves no session behind.
        let pair = self.pair(&session, &secrets, now)?;
        self.store.create(&session).await?;
        tracing::Span::current().record("sid", tracing::field::display(&session.sid));
        self.known.saw(&session, None);
        self.emit(Event::LoggedIn {
            sid: session.sid,
            subject: session.subject.clone(),
        });
        if self.logins.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            // Cleanup without a cron job: a bounded batch every so often. A failure here must
            // not fail the login; the next round retries.
            // Ended sessions are kept until every access token they can have minted is dead
            // (cleanup as of `now - revocation_ttl`): a revocation whose log append failed
            // is listed by its retry only while the store still holds the session.
            let horizon = now.saturating_sub(self.revocation_ttl());
            let _ = self.store.cleanup(horizon, CLEANUP_BATCH).await;
        }
        Ok(pair)
    }

    /// Rotate: trade a refresh token for a new pair (DESIGN.md's table).
    ///
    /// # Errors
    ///
    /// For the client, every refusal is `invalid_grant` ([`Error::is_invalid_grant`]); the
    /// kind says which case it was: [`ErrorKind::InvalidRefreshToken`] (no store access),
    /// [`ErrorKind::UnknownSession`], [`ErrorKind::SessionRevoked`],
    /// [`ErrorKind::SessionExpired`], [`ErrorKind::RefreshReuse`] (the session has just been
    /// revoked), [`ErrorKind::RefreshFromFuture`] (only with
    /// [`Policy::recover_lost_rotations`] off). One refusal is not `invalid_grant`:
    /// [`ErrorKind::GraceReplayLimit`] (the parent inside the grace window, over the replay
    /// cap; the session lives on: answer 429 with [`Error::retry_after`]). Store failures are
    /// [`Error::is_store`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        self.refresh_at(refresh_token, self.clock.now()).await
    }

    /// [`Issuer::refresh`] for a client presenting `context`: the risk policy (if one is set)
    /// compares it with the context stored at login first.
    ///
    /// # Errors
    ///
    /// As [`Issuer::refresh`], plus [`ErrorKind::StepUpRequired`] (session kept) and
    /// [`ErrorKind::RiskDenied`] (session revoked).
    pub async fn refresh_from(
        &self,
        refresh_token: &str,
        context: &ClientContext,
    ) -> Result<TokenPair> {
        self.refresh_checked(refresh_token, context, false, None)
            .await
    }

    /// [`Issuer::refresh_from`] for a request that carried a DPoP proof (RFC 9449 §5) by the
    /// key with thumbprint `dpop`, which the caller has checked
    /// ([`ProofChecker`](crate::verify::dpop::ProofChecker), `htm` POST, `htu` the token
    /// endpoint). A DPoP-bound session rotates only with a proof by its own key; an unbound
    /// session ignores the proof and stays a bearer session.
    ///
    /// A bound session also keeps a device that was killed mid-refresh: its parent token,
    /// presented with the key's proof, gets the identical child for as long as the child has
    /// never been used (DESIGN.md's table), not only inside the grace window.
    ///
    /// # Errors
    ///
    /// As [`Issuer::refresh_from`], plus [`ErrorKind::InvalidDpopProof`] for a bound session
    /// refreshed without a proof by its key (answer `invalid_dpop_proof`; nothing changed,
    /// the session lives on).
    pub async fn refresh_with(
        &self,
        refresh_token: &str,
        context: &ClientContext,
        dpop: Option<crate::keys::Thumbprint>,
    ) -> Result<TokenPair> {
        self.refresh_checked(refresh_token, context, false, dpop)
            .await
    }

    /// [`Issuer::refresh_from`] for a refresh token from a cookie jar that concurrent
    /// requests share (a browser's refresh cookie): inside the grace window after a rotation,
    /// the child it issued is handed out again instead of rotating once more
    /// ([`Policy::settle_within_grace`]), so the jar's parallel requests, which carry the
    /// parent or the child in any order, all end on one child and never look like reuse.
    ///
    /// # Errors
    ///
    /// As [`Issuer::refresh_from`].
    pub async fn refresh_shared_from(
        &self,
        refresh_token: &str,
        context: &ClientContext,
    ) -> Result<TokenPair> {
        self.refresh_checked(refresh_token, context, true, None)
            .await
    }

    /// Every `refresh_*` with a client context ends here; `shared` settles a cookie jar's
    /// concurrent requests, `dpop` is the thumbprint of a checked proof.
    pub(crate) async fn refresh_checked(
        &self,
        refresh_token: &str,
        context: &ClientContext,
        shared: bool,
        dpop: Option<crate::keys::Thumbprint>,
    ) -> Result<TokenPair> {
        let now = self.clock.now();
        let secrets = self.secrets.load_full();
        let presented = self.authenticate(&secrets, refresh_token)?;
        if let Some(policy) = &self.risk
            && let Some(stored) = self.store.load(presented.sid).await?
            // Only a live session meets the policy; an ended one is answered by the rotation
            // rule (ended), so a dead session's token cannot make it revoke, list or sync.
            && stored.is_active_at(now)
        {
            // The binding first: a bound session answers only its key's holder, so a
            // proofless refresh of it (a thief's copy) must not reach a policy that can
            // revoke the session or demand a step-up from its owner.
            if stored.dpop_jkt.is_some() && stored.dpop_jkt != dpop {
                self.emit(Event::RefreshRejected {
                    kind: ErrorKind::InvalidDpopProof,
                });
                return Err(Error::new(ErrorKind::InvalidDpopProof));
            }
            match policy.assess(&stored.context, context) {
                RiskDecision::Allow => {}
                RiskDecision::StepUp => {
                    self.emit(Event::StepUpRequired { sid: stored.sid });
                    return Err(Error::new(ErrorKind::StepUpRequired));
                }
                RiskDecision::Deny => {
                    self.revoke_one(stored.sid, RevokeReason::RiskDenied, now)
                        .await?;
                    return Err(Error::new(ErrorKind::RiskDenied));
                }
            }
        }
        self.rotate_presented(&secrets, presented, now, shared, dpop)
            .await
    }

    /// [`Issuer::refresh`] as of `now`.
    ///
    /// # Errors
    ///
    /// As [`Issuer::refresh`].
    pub async fn refresh_at(&self, refresh_token: &str, now: u64) -> Result<TokenPair> {
        let secrets = self.secrets.load_full();
        let presented = self.authenticate(&secrets, refresh_token)?;
        self.rotate_presented(&secrets, presented, now, false, None)
            .await
    }

    /// Check a refresh token's tag only (no store access, nothing changes): the token
    /// endpoint does it before it checks (and records) a DPoP proof.
    #[cfg(feature = "server")]
    pub(crate) fn authenticate_refresh_token(&self, refresh_token: &str) -> Result<()> {
        let secrets = self.secrets.load();
        self.authenticate(&secrets, refresh_token).map(|_| ())
    }

    /// Check a refresh token's tag (no store access); a refusal is counted as an event.
    fn authenticate(&self, secrets: &RefreshSecrets, refresh_token: &str) -> Result<Presented> {
        secrets.parse(refresh_token).inspect_err(|e| {
            self.emit(Event::RefreshRejected { kind: e.kind() });
        })
    }

    /// The store's rotation and its outcome, for an authenticated token.
    async fn rotate_presented(
        &self,
        secrets: &RefreshSecrets,
        presented: Presented,
        now: u64,
        shared: bool,
        dpop: Option<crate::keys::Thumbprint>,
    ) -> Result<TokenPair> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            "tidepass.refresh",
            sid = %presented.sid,
            generation = presented.generation
        );
        self.rotate_inner(secrets, presented, now, shared, dpop)
            .instrument(span)
            .await
    }

    async fn rotate_inner(
        &self,
        secrets: &RefreshSecrets,
        presented: Presented,
        now: u64,
        shared: bool,
        dpop: Option<crate::keys::Thumbprint>,
    ) -> Result<TokenPair> {
        let rules = crate::session::RotationRules {
            settle: shared && self.policy.settle_within_grace,
            dpop,
            ..self.policy.rules(
                now,
                secrets.current(),
                now.saturating_add(self.revocation_ttl()),
            )
        };
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let known = self.known.current(&presented.sid, presented.generation);
        let mut rotating = std::pin::pin!(self.store.rotate(
            presented.sid,
            presented.generation,
            rules
        ));
        let mut early = None;
        let outcome = match (&known, poll_once(rotating.as_mut()).await) {
            (_, Poll::Ready(outcome)) => outcome,
            (None, Poll::Pending) => rotating.await,
            (Some(k), Poll::Pending) => {
                // The request is queued: let its connection send it, then sign meanwhile.
                // Not for a bound session presented without its key's proof: that refresh is
                // refused, and a signature for it would be work an attacker chose.
                let key_ok = k
                    .minted_from()
                    .dpop_jkt
                    .is_none_or(|bound| Some(bound) == dpop);
                if key_ok && let_io_start().await {
                    // Uncapped: the session's new end is known only from the answer, and an
                    // early token that would outlive it is dropped below.
                    early = self
                        .access(&presented.sid, k.minted_from(), u64::MAX, now)
                        .ok();
                }
                rotating.await
            }
        };
        #[cfg(feature = "metrics")]
        metrics::histogram!("tidepass_store_seconds", "op" => "rotate")
            .record(started.elapsed().as_secs_f64());
        let outcome = outcome?;
        match &outcome {
            Some(
                Rotation::Rotated(s)
                | Rotation::GraceReplay(s)
                | Rotation::Recovered { session: s, .. },
            ) => {
                self.known.saw(s, known.as_ref());
            }
            // A proofless try at a bound session changes nothing: keep what the owner's next
            // refresh signs ahead with.
            Some(Rotation::KeyMismatch(_)) => {}
            _ => self.known.forget(&presented.sid),
        }
        let reject = |kind: ErrorKind| {
            self.emit(Event::RefreshRejected { kind });
            Err(Error::new(kind))
        };
        match outcome {
            None => reject(ErrorKind::UnknownSession),
            Some(Rotation::Rotated(s)) => {
                self.emit(Event::Rotated {
                    sid: s.sid,
                    generation: s.generation,
                });
                // The early token, if the store confirmed the claims it was minted from.
                match (early, &known) {
                    (Some(access), Some(k))
                        if s.sid == presented.sid
                            && k.same_claims(&s)
                            && access.expires_at() <= s.ends_at() =>
                    {
                        self.pair_with(access, &s, secrets, now)
                    }
                    _ => self.pair(&s, secrets, now),
                }
            }
            Some(Rotation::GraceReplay(s)) => {
                self.emit(Event::GraceReplay {
                    sid: s.sid,
                    generation: s.generation,
                });
                self.pair(&s, secrets, now)
            }
            Some(Rotation::Reuse(s)) => {
                self.emit(Event::ReuseDetected {
                    sid: s.sid,
                    subject: s.subject.clone(),
                    presented: presented.generation,
                    current: s.generation,
                });
                self.emit(Event::Revoked {
                    sid: s.sid,
                    reason: RevokeReason::ReuseDetected,
                });
                // The session is revoked in the store already. A store that lists it in the
                // same step has put its access tokens on the list too; for the others they go
                // on it now, and should this append fail, the caller gets the store error and
                // the tokens live out their short lifetime.
                if !self.store.lists_reuse() {
                    self.list_sessions_revoked(&[s.sid], now).await?;
                    if self.relisted.len() >= RELISTED_MAX {
                        self.relisted.clear();
                    }
                    self.relisted.insert(s.sid);
                }
                Err(Error::new(ErrorKind::RefreshReuse))
            }
            Some(Rotation::GraceExhausted(s)) => {
                self.emit(Event::GraceExhausted {
                    sid: s.sid,
                    generation: s.generation,
                });
                Err(Error::new(ErrorKind::GraceReplayLimit))
            }
            Some(Rotation::Recovered { session, stored }) => {
                // The tag proves the issuer minted this generation, and it mints one only after
                // the store acknowledged it: the store lost rotations (THREAT_MODEL.md).
                self.emit(Event::LostRotations {
                    sid: session.sid,
                    presented: presented.generation,
                    stored,
                });
                self.pair(&session, secrets, now)
            }
            Some(Rotation::Future(s)) => {
                self.emit(Event::FutureGeneration {
                    sid: s.sid,
                    presented: presented.generation,
                    current: s.generation,
                });
                Err(Error::new(ErrorKind::RefreshFromFuture))
            }
            Some(Rotation::Ended(s)) if s.revoked.is_some() => {
                // A reuse the store revoked but could not list (the append after it failed):
                // a retry of the same refresh lists it, for as long as any of its access
                // tokens can be alive. Stores that list in the same step never need this.
                let reuse = s
                    .revoked
                    .is_some_and(|r| r.reason == RevokeReason::ReuseDetected);
                if reuse
                    && !self.store.lists_reuse()
                    && self.tokens_may_live(&s, now)
                    && !self.relisted.contains(&s.sid)
                {
                    self.list_sessions_revoked(&[s.sid], now).await?;
                    // Bounded: forgetting only costs one more append.
                    if self.relisted.len() >= RELISTED_MAX {
                        self.relisted.clear();
                    }
                    self.relisted.insert(s.sid);
                }
                reject(ErrorKind::SessionRevoked)
            }
            Some(Rotation::Ended(_)) => reject(ErrorKind::SessionExpired),
            Some(Rotation::KeyMismatch(_)) => reject(ErrorKind::InvalidDpopProof),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Issuer future is Send, so handlers of multi-threaded servers can await them.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn futures_are_send(issuer: &Issuer<crate::MemoryStore>, sid: SessionId) {
        fn send<T: Send>(_: T) {}
        send(issuer.login(Login::new("u")));
        send(issuer.refresh("t"));
        send(issuer.logout(sid));
        send(issuer.sessions("u", None));
        send(issuer.revoke("u", sid));
        send(issuer.revoke_others("u", sid));
        send(issuer.revoke_all("u"));
        send(issuer.elevate(sid, 2, None));
        send(issuer.revoke_access_token("j", 0));
        send(issuer.revoke_subject_tokens_before("u", 0));
        send(issuer.revocation_changes(None));
    }
}
