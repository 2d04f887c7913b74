//! The refresh path: [`Issuer::refresh`] and its one builder, [`Refresh`], then the store's
//! rotation and the answer for each of its outcomes.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::Poll;

use super::{Issuer, RELISTED_MAX};
use crate::error::{Error, ErrorKind, Result};
use crate::issuer::TokenPair;
use crate::issuer::events::Event;
use crate::issuer::guard::{RiskDecision, RiskPolicy};
use crate::issuer::overlap::{let_io_start, poll_once};
use crate::keys::Thumbprint;
use crate::session::refresh::{Presented, RefreshSecrets};
use crate::session::{ClientContext, RevokeReason, RiskFingerprint, Rotation, Session};
use crate::store::SessionStore;

/// One refresh: trade a refresh token for a new pair. Made by [`Issuer::refresh`]; set what the
/// request carried, then `.await` it.
///
/// ```
/// # async fn run(issuer: &tidepass::Issuer<tidepass::MemoryStore>, token: &str,
/// #     jkt: Option<tidepass::keys::Thumbprint>) -> tidepass::Result<()> {
/// use tidepass::session::ClientContext;
///
/// // A bearer client: the token alone.
/// let pair = issuer.refresh(token).await?;
/// # let token = pair.refresh.expose();
/// // An HTTP request: what the client told us (the risk policy compares it with the context
/// // stored at login) and the thumbprint of the DPoP proof it carried, if any.
/// let context = ClientContext { user_agent: Some("app/1.0".into()), ..Default::default() };
/// let pair = issuer.refresh(token).context(&context).dpop(jkt).await?;
/// # Ok(()) }
/// ```
#[must_use = "a refresh does nothing until it is awaited"]
pub struct Refresh<'a, S> {
    issuer: &'a Issuer<S>,
    token: &'a str,
    context: Option<&'a ClientContext>,
    dpop: Option<Thumbprint>,
    shared: bool,
    now: Option<u64>,
    presented: Option<Presented>,
}

impl<S> std::fmt::Debug for Refresh<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresh")
            .field("token", &"[redacted]")
            .field("context", &self.context)
            .field("dpop", &self.dpop)
            .field("shared", &self.shared)
            .field("now", &self.now)
            .finish()
    }
}

impl<'a, S: SessionStore> Refresh<'a, S> {
    /// What the client told us about itself in this request: the risk policy (if the issuer
    /// has one, [`IssuerBuilder::risk`](crate::IssuerBuilder::risk)) compares it with the
    /// context stored at login before the rotation. Without a context the policy is not asked.
    pub fn context(mut self, context: &'a ClientContext) -> Self {
        self.context = Some(context);
        self
    }

    /// The request carried a DPoP proof (RFC 9449 §5) by the key with this thumbprint, which
    /// the caller has checked ([`ProofChecker`](crate::verify::dpop::ProofChecker), `htm`
    /// POST, `htu` the token endpoint); `None` for a request without one. A DPoP-bound
    /// session rotates only with a proof by its own key; an unbound session ignores the proof
    /// and stays a bearer session.
    ///
    /// A bound session also keeps a device that was killed mid-refresh: its parent token,
    /// presented with the key's proof, gets the identical child for as long as the child has
    /// never been used (the rotation rule: [`crate::session`]), not only inside the grace
    /// window.
    pub fn dpop(mut self, jkt: impl Into<Option<Thumbprint>>) -> Self {
        self.dpop = jkt.into();
        self
    }

    /// The refresh token comes from a jar that concurrent requests share (a browser's refresh
    /// cookie): inside the grace window after a rotation, the child it issued is handed out
    /// again instead of rotating once more ([`Policy::settle_within_grace`](
    /// crate::session::Policy::settle_within_grace)), so the jar's parallel requests, which
    /// carry the parent or the child in any order, all end on one child and never look like
    /// reuse.
    pub fn shared_jar(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Refresh as of `now` (Unix seconds) instead of the issuer's clock.
    pub fn at(mut self, now: u64) -> Self {
        self.now = Some(now);
        self
    }

    /// The token's tag was checked already (the token endpoint does it before the proof).
    #[cfg(feature = "server")]
    pub(crate) fn authenticated(mut self, presented: Presented) -> Self {
        self.presented = Some(presented);
        self
    }

    async fn run(self) -> Result<TokenPair> {
        let issuer = self.issuer;
        let now = self.now.unwrap_or_else(|| issuer.clock.now());
        let secrets = issuer.secrets.load_full();
        let presented = match self.presented {
            Some(p) => p,
            None => issuer.authenticate(&secrets, self.token)?,
        };
        // The risk check rides the rotation when the policy gives fingerprints
        // (`RiskPolicy::fingerprint`): one round trip in the common case. A policy without
        // them sees the loaded session first, as before.
        let mut check = None;
        if let (Some(context), Some(policy)) = (self.context, issuer.risk.as_deref()) {
            match policy.fingerprint(context) {
                // Allowed against any stored context: nothing to compare.
                Some(RiskFingerprint::ANY) => {}
                // Only a store that says it compares them gets a fingerprint to compare.
                Some(print) if issuer.store.compares_risk() => check = Some((print, context)),
                _ => issuer.assess(presented, context, self.dpop, now).await?,
            }
        }
        let asked = Asked {
            now,
            shared: self.shared,
            dpop: self.dpop,
            check,
        };
        issuer.rotate_presented(&secrets, presented, asked).await
    }
}

/// What a refresh asks of the store, beside the token.
#[derive(Clone, Copy)]
struct Asked<'a> {
    now: u64,
    shared: bool,
    dpop: Option<Thumbprint>,
    /// The presented context and its risk fingerprint, for the store to compare.
    check: Option<(RiskFingerprint, &'a ClientContext)>,
}

/// One boxed future per refresh: `impl Trait` cannot name an associated type on stable Rust.
/// The allocation is tens of nanoseconds beside a refresh's signature (tens of microseconds)
/// and store round trip.
impl<'a, S: SessionStore> IntoFuture for Refresh<'a, S> {
    type Output = Result<TokenPair>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<TokenPair>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S: SessionStore> Issuer<S> {
    /// Rotate: trade a refresh token for a new pair, by the rotation rule ([`crate::session`]).
    /// Returns a [`Refresh`] to say what else the request carried (its client context, a DPoP
    /// proof's thumbprint, a shared cookie jar); `.await` it.
    ///
    /// # Errors
    ///
    /// For the client, every refusal is `invalid_grant` ([`Error::is_invalid_grant`]); the
    /// kind says which case it was: [`ErrorKind::InvalidRefreshToken`] (no store access),
    /// [`ErrorKind::UnknownSession`], [`ErrorKind::SessionRevoked`],
    /// [`ErrorKind::SessionExpired`], [`ErrorKind::RefreshReuse`] (the session has just been
    /// revoked), [`ErrorKind::RefreshFromFuture`] (only with
    /// [`Policy::recover_lost_rotations`](crate::session::Policy::recover_lost_rotations)
    /// off). Not `invalid_grant`: [`ErrorKind::GraceReplayLimit`] (the parent inside the grace
    /// window, over the replay cap; the session lives on: answer 429 with
    /// [`Error::retry_after`]); with a [`Refresh::context`], [`ErrorKind::StepUpRequired`]
    /// (session kept) and [`ErrorKind::RiskDenied`] (session revoked); for a DPoP-bound session
    /// refreshed without a proof by its key, [`ErrorKind::InvalidDpopProof`] (answer
    /// `invalid_dpop_proof`; nothing changed, the session lives on). Store failures are
    /// [`Error::is_store`].
    pub fn refresh<'a>(&'a self, refresh_token: &'a str) -> Refresh<'a, S> {
        Refresh {
            issuer: self,
            token: refresh_token,
            context: None,
            dpop: None,
            shared: false,
            now: None,
            presented: None,
        }
    }

    /// Check a refresh token's tag only (no store access, nothing changes): the token
    /// endpoint does it before it checks (and records) a DPoP proof, then hands the result to
    /// [`Refresh::authenticated`].
    #[cfg(feature = "server")]
    pub(crate) fn authenticate_refresh_token(&self, refresh_token: &str) -> Result<Presented> {
        let secrets = self.secrets.load();
        self.authenticate(&secrets, refresh_token)
    }

    /// The risk policy, if one is set, on the live session the token names. The binding is
    /// checked first: a bound session answers only its key's holder, so a proofless refresh of
    /// it (a thief's copy) must not reach a policy that can revoke the session or demand a
    /// step-up from its owner.
    async fn assess(
        &self,
        presented: Presented,
        context: &ClientContext,
        dpop: Option<Thumbprint>,
        now: u64,
    ) -> Result<()> {
        let Some(policy) = &self.risk else {
            return Ok(());
        };
        // Only a live session meets the policy; an ended one is answered by the rotation rule
        // (ended), so a dead session's token cannot make it revoke, list or sync.
        let Some(stored) = self.store.load(presented.sid).await? else {
            return Ok(());
        };
        if !stored.is_active_at(now) {
            return Ok(());
        }
        if stored.dpop_jkt.is_some() && stored.dpop_jkt != dpop {
            self.emit(Event::RefreshRejected {
                kind: ErrorKind::InvalidDpopProof,
            });
            return Err(Error::new(ErrorKind::InvalidDpopProof));
        }
        self.judge(policy.as_ref(), &stored, context, now).await
    }

    /// The risk policy's decision on a live session whose binding held, and its effect.
    async fn judge(
        &self,
        policy: &dyn RiskPolicy,
        stored: &Session,
        context: &ClientContext,
        now: u64,
    ) -> Result<()> {
        match policy.assess(&stored.context, context) {
            RiskDecision::Allow => Ok(()),
            RiskDecision::StepUp => {
                self.emit(Event::StepUpRequired { sid: stored.sid });
                Err(Error::new(ErrorKind::StepUpRequired))
            }
            RiskDecision::Deny => {
                self.revoke_one(stored.sid, RevokeReason::RiskDenied, now)
                    .await?;
                Err(Error::new(ErrorKind::RiskDenied))
            }
        }
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
        asked: Asked<'_>,
    ) -> Result<TokenPair> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            "tidepass.refresh",
            sid = %presented.sid,
            generation = presented.generation
        );
        self.rotate_inner(secrets, presented, asked)
            .instrument(span)
            .await
    }

    async fn rotate_inner(
        &self,
        secrets: &RefreshSecrets,
        presented: Presented,
        asked: Asked<'_>,
    ) -> Result<TokenPair> {
        let Asked {
            now, shared, dpop, ..
        } = asked;
        let rules = crate::session::RotationRules {
            settle: shared && self.policy.settle_within_grace,
            dpop,
            risk: asked.check.map(|(print, _)| print),
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
                // Not for a bound session presented without its key's proof, nor for a
                // context the store will send to the risk policy: that refresh is refused or
                // decided later, and a signature for it would be work an attacker chose.
                let key_ok = k
                    .minted_from()
                    .dpop_jkt
                    .is_none_or(|bound| Some(bound) == dpop);
                if key_ok && k.risk_admits(rules.risk) && let_io_start().await {
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
            // A proofless try at a bound session, or a context for the policy to see,
            // changes nothing: keep what the owner's next refresh signs ahead with.
            Some(Rotation::KeyMismatch(_) | Rotation::ContextChanged(_)) => {}
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
                    self.list_sessions_revoked(&[&s], now).await?;
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
                // the store acknowledged it: the store lost rotations (the crate docs: "A store that went back").
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
                    self.list_sessions_revoked(&[&s], now).await?;
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
            Some(Rotation::ContextChanged(s)) => {
                // The rare path: the policy sees the stored session (the store has checked
                // that it is alive and the binding held), then a second round trip rotates
                // without the fingerprint. Only a store asked to compare answers this.
                let (Some((_, context)), Some(policy)) = (asked.check, self.risk.as_deref()) else {
                    return Err(Error::with(
                        ErrorKind::StoreCorrupt,
                        "the store asked for a risk check it was not given",
                    ));
                };
                self.judge(policy, &s, context, now).await?;
                let again = Asked {
                    check: None,
                    ..asked
                };
                Box::pin(self.rotate_inner(secrets, presented, again)).await
            }
        }
    }
}
