//! The auth service's side: log in, refresh with rotation and reuse detection, log out, list
//! and revoke sessions, elevate; its guards (rate limits, risk policy) and events.
//!
//! Uses [`crate::session`] (the records and rules), [`crate::store`], [`crate::revocation`]
//! and [`crate::token`]; nothing below it uses this module.

pub mod events;
pub mod guard;
pub(crate) mod login;
pub(crate) mod overlap;
mod refresh;
mod revoke;
#[cfg(feature = "status-list")]
#[cfg_attr(docsrs, doc(cfg(feature = "status-list")))]
pub mod status;
#[cfg(feature = "status-list")]
pub use status::StatusLists;

pub use login::{Login, SessionView, TokenPair};
pub use refresh::Refresh;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::issuer::events::{Event, EventSink, TracingSink};
use crate::issuer::guard::RiskPolicy;
use crate::issuer::overlap::{KnownSessions, MintedFrom};
use crate::session::refresh::RefreshSecrets;
use crate::session::{Policy, Session, SessionId, new_session};
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
    #[cfg(feature = "status-list")]
    status: Option<StatusLists>,
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

    /// Assess every refresh that carries a client context ([`Refresh::context`](refresh::Refresh::context)) with this policy (for example
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

    /// Publish Token Status Lists (draft-ietf-oauth-status-list): every session gets an
    /// entry, its access tokens carry `status.status_list`, its revocation sets the entry, and
    /// [`Issuer::status_list`] signs the lists ([`StatusLists`] says how and why). The store
    /// must allocate indices ([`SessionStore::reserve_status_indices`]: the four stores here
    /// do). Sessions opened before this was on have no entry (their tokens carry no `status`).
    #[cfg(feature = "status-list")]
    #[cfg_attr(docsrs, doc(cfg(feature = "status-list")))]
    pub fn status_lists(mut self, lists: StatusLists) -> Self {
        self.status = Some(lists);
        self
    }

    /// Build the issuer.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an inconsistent policy or status-list settings, or
    /// when neither
    /// [`IssuerBuilder::refresh_secrets`] nor [`IssuerBuilder::ephemeral_refresh_secrets`]
    /// was called (a secret made up per process would log users out at every restart and
    /// behind every load balancer); [`ErrorKind::Random`] if the RNG fails for ephemeral
    /// secrets.
    pub fn build(self) -> Result<Issuer<S>> {
        self.policy.validate()?;
        #[cfg(feature = "status-list")]
        if let Some(lists) = &self.status {
            lists.validate()?;
        }
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
            #[cfg(feature = "status-list")]
            status: self.status.map(status::Publisher::new),
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
    /// The Token Status Lists it publishes, if any.
    #[cfg(feature = "status-list")]
    status: Option<status::Publisher>,
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
            #[cfg(feature = "status-list")]
            status: None,
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
        #[cfg(feature = "status-list")]
        let uri;
        #[cfg(feature = "status-list")]
        if let (Some(idx), Some(p)) = (from.status_index, &self.status) {
            uri = p.config.uri(idx / status::LIST_SIZE);
            mint = mint.status(idx % status::LIST_SIZE, &uri);
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
        let claims = login.claims.map_err(Error::new)?;
        // An Arc, not a guard: the future must stay Send across the store call.
        let secrets = self.secrets.load_full();
        let mut session = new_session(
            SessionId::random()?,
            login.subject,
            now,
            &self.policy,
            secrets.current(),
            login.scope,
            login.client_id.or_else(|| self.client_id.clone()),
            claims,
            login.assurance,
            login.auth_time.unwrap_or(now),
            login.context,
            login.dpop_jkt,
        );
        // What the store compares on refresh, so the risk check rides the rotation.
        session.risk_fingerprint = self
            .risk
            .as_deref()
            .and_then(|p| p.fingerprint(&session.context));
        #[cfg(feature = "status-list")]
        if let Some(p) = &self.status {
            session.status_index = Some(p.allocate(&self.store).await?);
        }
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
