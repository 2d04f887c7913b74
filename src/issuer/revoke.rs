//! Ending sessions: logout, revoke one / others / all, elevation, access-token and subject
//! revocations, and the listing rules that make every revocation reach every token.

use crate::error::{Error, ErrorKind, Result};
use crate::issuer::events::Event;
use crate::issuer::{Issuer, Login, SessionView, TokenPair};
use crate::revocation::{Changes, Entry, Target};
use crate::session::{RevokeReason, Session, SessionId};
use crate::store::{SessionStore, session_entry};

/// Seconds a session's revocation entry outlives the longest token it can have minted.
const LIST_MARGIN: u64 = 60;

impl<S: SessionStore> Issuer<S> {
    /// How long a revocation entry must live: the longest access-token lifetime minted plus
    /// the largest leeway a verifier may apply.
    pub(super) fn revocation_ttl(&self) -> u64 {
        self.minter
            .max_ttl()
            .saturating_add(crate::verify::MAX_LEEWAY)
    }

    /// Can an access token of `s` still be accepted somewhere at `now`? Its newest one was
    /// minted at `last_used_at` (login, rotation or grace replay) and lives at most
    /// [`Issuer::revocation_ttl`] from then.
    pub(super) fn tokens_may_live(&self, s: &Session, now: u64) -> bool {
        now < s.last_used_at.saturating_add(self.revocation_ttl())
    }

    /// Put sessions' access tokens on the revocation list (their status-list entries with
    /// them: the published lists are built from this log).
    pub(super) async fn list_sessions_revoked(
        &self,
        sessions: &[&Session],
        now: u64,
    ) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        // A margin over the longest token lifetime: listed before it is revoked, a session can
        // still rotate in between and mint a token a moment after `now`.
        let expires = now
            .saturating_add(self.revocation_ttl())
            .saturating_add(LIST_MARGIN);
        let entries: Vec<Entry> = sessions.iter().map(|s| session_entry(s, expires)).collect();
        self.store.append_revocations(&entries).await.map(|_| ())
    }

    pub(super) async fn revoke_one(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<bool> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("tidepass.revoke", sid = %sid, reason = reason.as_str());
        async {
            match self.store.load(sid).await? {
                Some(s) => self.revoke_loaded(&s, reason, now).await,
                None => Ok(false),
            }
        }
        .instrument(span)
        .await
    }

    /// Revoke `s` (as just loaded). List first, then revoke (as `revoke_many` does): should
    /// the append fail, nothing is revoked yet and a retry starts over. Revoked first, a
    /// retry after a failed append would find an ended session, which the store may already
    /// have dropped, and list nothing: its access tokens would live out their lifetime. A
    /// session that ended so long ago that none of its tokens can be alive is not listed (and
    /// an unknown one never is), so no request can grow the log with entries for nothing.
    async fn revoke_loaded(&self, s: &Session, reason: RevokeReason, now: u64) -> Result<bool> {
        let sid = s.sid;
        self.known.forget(&sid);
        if !s.is_active_at(now) && !self.tokens_may_live(s, now) {
            return Ok(false);
        }
        self.list_sessions_revoked(&[s], now).await?;
        let done = self.store.revoke(sid, reason, now).await?;
        if done.is_some() {
            self.emit(Event::Revoked { sid, reason });
        }
        Ok(done.is_some())
    }

    /// Revoke one access token by its `jti` until `expires_at` (its `exp`).
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn revoke_access_token(&self, jti: &str, expires_at: u64) -> Result<u64> {
        let entry = Entry {
            target: Target::Token,
            id: crate::revocation::token_id(jti),
            before: 0,
            expires: expires_at.saturating_add(crate::verify::MAX_LEEWAY),
        };
        self.store.append_revocations(&[entry]).await
    }

    /// Revoke every access token of `subject` issued at or before `before` (Unix seconds), for
    /// example at a password change with `before` = now. Sessions are not touched (see
    /// [`Issuer::revoke_all`]).
    ///
    /// `iat` has one-second resolution, so the whole second of `before` counts: a token minted
    /// a few milliseconds before the call is revoked, and so is one minted in the same second
    /// just after it (a client that gets 401 for it refreshes and receives a token of a later
    /// second). Failing closed within that second is the price of never missing the token
    /// minted just before.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn revoke_subject_tokens_before(&self, subject: &str, before: u64) -> Result<u64> {
        let entry = Entry {
            target: Target::Subject,
            id: crate::revocation::subject_id(subject),
            before,
            expires: before.saturating_add(self.revocation_ttl()),
        };
        self.store.append_revocations(&[entry]).await
    }

    /// The revocation changes after `since` (a delta), or a snapshot for `None` or a version
    /// the log no longer covers: what a `GET /revocations?since=V` handler serves
    /// ([`Changes::encode`] for the binary body, serde for JSON).
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn revocation_changes(&self, since: Option<u64>) -> Result<Changes> {
        self.store.revocation_changes(since, self.clock.now()).await
    }

    /// [`Issuer::revocation_changes`], signed with the minter's active key as of now
    /// ([`Changes::sign`]): the feed verifiers check against the JWKS they already follow
    /// ([`crate::revocation::Syncer::sync_signed_once`]).
    ///
    /// # Errors
    ///
    /// A store error; a signing failure.
    pub async fn signed_revocation_changes(&self, since: Option<u64>) -> Result<String> {
        let now = self.clock.now();
        let changes = self.store.revocation_changes(since, now).await?;
        changes.sign(self.minter.keys().active(), self.minter.issuer(), now)
    }

    /// Log out: revoke the session. Returns `false` when it was unknown or already ended.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn logout(&self, sid: SessionId) -> Result<bool> {
        self.revoke_one(sid, RevokeReason::Logout, self.clock.now())
            .await
    }

    /// The subject's active sessions, with `current` marked.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn sessions(
        &self,
        subject: &str,
        current: Option<SessionId>,
    ) -> Result<Vec<SessionView>> {
        let now = self.clock.now();
        let list = self.store.list(subject, now).await?;
        Ok(list
            .into_iter()
            .map(|session| SessionView {
                current: Some(session.sid) == current,
                session,
            })
            .collect())
    }

    /// Revoke one of `subject`'s sessions ("sign out that device"). Returns `false` when the
    /// session is not the subject's, unknown, or already ended.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn revoke(&self, subject: &str, sid: SessionId) -> Result<bool> {
        match self.store.load(sid).await? {
            Some(s) if s.subject == subject => {
                self.revoke_loaded(&s, RevokeReason::Revoked, self.clock.now())
                    .await
            }
            _ => Ok(false),
        }
    }

    async fn revoke_many(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
    ) -> Result<usize> {
        let now = self.clock.now();
        // List first, then revoke: should the append fail, nothing is revoked yet and a retry
        // starts over (revoked first, a retry would find nothing active and list nothing).
        let active = self.store.list(subject, now).await?;
        let listed: Vec<&Session> = active.iter().filter(|s| Some(s.sid) != keep).collect();
        self.list_sessions_revoked(&listed, now).await?;
        let revoked = self
            .store
            .revoke_subject(subject, keep, reason, now)
            .await?;
        for s in &revoked {
            self.known.forget(&s.sid);
            self.emit(Event::Revoked { sid: s.sid, reason });
        }
        // Sessions opened between the two calls.
        let late: Vec<&Session> = revoked
            .iter()
            .filter(|s| !listed.iter().any(|l| l.sid == s.sid))
            .collect();
        self.list_sessions_revoked(&late, now).await?;
        Ok(revoked.len())
    }

    /// Revoke every session of `subject` but `keep` ("log out everywhere else").
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn revoke_others(&self, subject: &str, keep: SessionId) -> Result<usize> {
        self.revoke_many(subject, Some(keep), RevokeReason::RevokedOthers)
            .await
    }

    /// Revoke every session of `subject` ("log out everywhere", after a password change).
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn revoke_all(&self, subject: &str) -> Result<usize> {
        self.revoke_many(subject, None, RevokeReason::RevokedAll)
            .await
    }

    /// Privilege change: replace session `sid` by a new session with a new id, the given
    /// assurance level (and scope, if given), and revoke the old one. This is the
    /// session-fixation defence: whoever knew the old session id or held its tokens gains
    /// nothing from the elevation. A DPoP-bound session elevates only through
    /// [`Issuer::elevate_with`] and its key's proof.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownSession`], [`ErrorKind::SessionRevoked`] or
    /// [`ErrorKind::SessionExpired`] when `sid` is not active; [`ErrorKind::InvalidDpopProof`]
    /// for a DPoP-bound session (nothing changes); a store error.
    pub async fn elevate(
        &self,
        sid: SessionId,
        assurance: u8,
        scope: Option<String>,
    ) -> Result<TokenPair> {
        self.elevate_with(sid, assurance, scope, None).await
    }

    /// [`Issuer::elevate`] for a request that carried a checked DPoP proof by the key with
    /// thumbprint `dpop` (RFC 9449). The new session keeps the old one's binding: a bound
    /// session stays bound to its key, and an unbound one becomes bound to `dpop` when a
    /// proof came with the request. A step-up never turns a sender-constrained session into
    /// a bearer one, and a bound session moves only with its key's proof.
    ///
    /// # Errors
    ///
    /// As [`Issuer::elevate`]; [`ErrorKind::InvalidDpopProof`] when the old session is bound
    /// and `dpop` is missing or names another key (nothing changes then).
    pub async fn elevate_with(
        &self,
        sid: SessionId,
        assurance: u8,
        scope: Option<String>,
        dpop: Option<crate::keys::Thumbprint>,
    ) -> Result<TokenPair> {
        let now = self.clock.now();
        let stored = self.store.load(sid).await?;
        let binding = match stored.as_ref() {
            None => return Err(Error::new(ErrorKind::UnknownSession)),
            Some(s) => match (s.dpop_jkt, dpop) {
                (Some(bound), presented) if Some(bound) != presented => {
                    return Err(Error::with(
                        ErrorKind::InvalidDpopProof,
                        "the proof is not by the session's key",
                    ));
                }
                (bound, presented) => bound.or(presented),
            },
        };
        // List first, then revoke: a failed append leaves the old session as it was, and a
        // retry lists it again (revoked first, a retry could find it cleaned up).
        if let Some(s) = stored
            .as_ref()
            .filter(|s| s.is_active_at(now) || self.tokens_may_live(s, now))
        {
            self.list_sessions_revoked(&[s], now).await?;
        }
        self.known.forget(&sid);
        let Some(old) = self.store.revoke(sid, RevokeReason::Elevated, now).await? else {
            return match stored {
                None => Err(Error::new(ErrorKind::UnknownSession)),
                Some(s) if s.revoked.is_some() => Err(Error::new(ErrorKind::SessionRevoked)),
                Some(_) => Err(Error::new(ErrorKind::SessionExpired)),
            };
        };
        self.emit(Event::Revoked {
            sid,
            reason: RevokeReason::Elevated,
        });
        let mut login = Login::new(old.subject.clone())
            .context(old.context.clone())
            .claims(old.claims.clone())
            .assurance(assurance)
            .auth_time(now);
        if let Some(scope) = scope.or(old.scope) {
            login = login.scope(scope);
        }
        if let Some(client) = old.client_id {
            login = login.client_id(client);
        }
        if let Some(jkt) = binding {
            login = login.dpop(jkt);
        }
        let pair = self.login_at(login, now).await?;
        self.emit(Event::Elevated {
            from: sid,
            to: pair.session_id,
            assurance,
        });
        Ok(pair)
    }

    /// RFC 7009 revocation by refresh token: end the token's session when the token is
    /// authentic and is its session's current generation or the one just before it (a
    /// client that revokes right after a refresh whose answer it never saw), or a newer one
    /// the store lost ([`crate::Policy::recover_lost_rotations`]). Anything older is an
    /// invalid token under RFC 7009 §2.2 and changes nothing. A DPoP-bound session's token
    /// revokes only when `dpop`, the thumbprint of a checked proof, is the session's key: a
    /// thief holding a copy of a bound session's refresh token cannot log its owner out.
    /// Returns whether a session ended.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidDpopProof`] for a bound session's recent token without its key's
    /// proof (nothing changes; answer `invalid_dpop_proof`); a store error. A token that is
    /// not ours, tampered, too old, or of an ended session is not an error (`Ok(false)`), as
    /// RFC 7009 asks.
    pub async fn revoke_refresh_token(
        &self,
        refresh_token: &str,
        dpop: Option<crate::keys::Thumbprint>,
    ) -> Result<bool> {
        self.revoke_refresh_token_checked(refresh_token, || Ok(dpop))
            .await
    }

    /// [`Issuer::revoke_refresh_token`] with the proof checked by `proof` only when it is
    /// needed (a bound session's recent token): the auth server records a proof's `jti` only
    /// then, so no token of a dead or unbound session lets anyone fill its replay cache.
    pub(crate) async fn revoke_refresh_token_checked(
        &self,
        refresh_token: &str,
        proof: impl FnOnce() -> Result<Option<crate::keys::Thumbprint>>,
    ) -> Result<bool> {
        let Ok(presented) = self.secrets.load().parse(refresh_token) else {
            return Ok(false);
        };
        let Some(s) = self.store.load(presented.sid).await? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let recent = presented.generation == s.generation
            || presented.generation.saturating_add(1) == s.generation
            || (presented.generation > s.generation && self.policy.recover_lost_rotations);
        if !recent || !s.is_active_at(now) {
            return Ok(false);
        }
        if let Some(bound) = s.dpop_jkt
            && proof()? != Some(bound)
        {
            return Err(Error::with(
                ErrorKind::InvalidDpopProof,
                "a DPoP-bound session's refresh token revokes only with its key's proof",
            ));
        }
        self.revoke_loaded(&s, RevokeReason::Logout, now).await
    }
}
