//! Signing while the store answers. A session's claims never change (elevation opens a new
//! session), so an issuer that has seen a session can mint its next access token while the
//! rotation is on its way to the store, instead of after: a refresh then no longer waits for
//! their sum (`BENCHMARKS.md`, stores under load at concurrency 1).
//!
//! The early token is only a guess. It is handed out only when the store answers "rotated" for
//! a session whose claims equal the ones it was minted from; otherwise it is dropped unseen
//! and the pair is minted from the stored session as before. Only the generation last seen
//! current is guessed on, so an old or replayed refresh token costs no signature, and any
//! answer but a rotation forgets the session.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use dashmap::DashMap;
use serde_json::{Map, Value};

use crate::session::{Session, SessionId};

/// Everything of a session that its access tokens carry, besides its id.
#[derive(Debug, PartialEq)]
pub(crate) struct MintedFrom<'a> {
    pub(crate) subject: &'a str,
    pub(crate) auth_time: u64,
    /// The assurance level, minted as `acr`.
    pub(crate) assurance: u8,
    pub(crate) scope: Option<&'a str>,
    pub(crate) client_id: Option<&'a str>,
    pub(crate) claims: &'a Map<String, Value>,
    /// The DPoP key the tokens are bound to (`cnf.jkt`).
    pub(crate) dpop_jkt: Option<crate::keys::Thumbprint>,
    /// The session's status-list index (`status.status_list`).
    pub(crate) status_index: Option<u64>,
}

impl<'a> From<&'a Session> for MintedFrom<'a> {
    fn from(s: &'a Session) -> Self {
        Self {
            subject: &s.subject,
            auth_time: s.auth_time,
            assurance: s.assurance,
            scope: s.scope.as_deref(),
            client_id: s.client_id.as_deref(),
            claims: &s.claims,
            dpop_jkt: s.dpop_jkt,
            status_index: s.status_index,
        }
    }
}

/// A remembered session: what its tokens carry, and its last seen generation.
#[derive(Debug)]
pub(crate) struct Known {
    subject: String,
    auth_time: u64,
    assurance: u8,
    scope: Option<String>,
    client_id: Option<String>,
    claims: Map<String, Value>,
    dpop_jkt: Option<crate::keys::Thumbprint>,
    /// The risk fingerprint of its login context, as the store compares it.
    risk_fingerprint: Option<crate::session::RiskFingerprint>,
    status_index: Option<u64>,
    generation: AtomicU64,
}

impl Known {
    /// Whether the store would let a refresh presenting `print` through to the rotation rule
    /// (no risk check asked, or the stored fingerprint admits it).
    pub(crate) fn risk_admits(&self, print: Option<crate::session::RiskFingerprint>) -> bool {
        print.is_none_or(|p| self.risk_fingerprint.is_some_and(|f| f.admits(p)))
    }

    pub(crate) fn minted_from(&self) -> MintedFrom<'_> {
        MintedFrom {
            subject: &self.subject,
            auth_time: self.auth_time,
            assurance: self.assurance,
            scope: self.scope.as_deref(),
            client_id: self.client_id.as_deref(),
            claims: &self.claims,
            dpop_jkt: self.dpop_jkt,
            status_index: self.status_index,
        }
    }

    /// `true` when `s` mints exactly the tokens this does.
    pub(crate) fn same_claims(&self, s: &Session) -> bool {
        self.minted_from() == MintedFrom::from(s)
    }
}

/// Recently seen sessions, at most `capacity` of them (0: none, the overlap is off).
#[derive(Debug)]
pub(crate) struct KnownSessions {
    map: DashMap<SessionId, Arc<Known>>,
    capacity: usize,
}

impl KnownSessions {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity,
        }
    }

    /// The session's claims, when `generation` is the one last seen current.
    pub(crate) fn current(&self, sid: &SessionId, generation: u64) -> Option<Arc<Known>> {
        let known = self.map.get(sid)?;
        (known.generation.load(Ordering::Relaxed) == generation).then(|| known.clone())
    }

    /// `s` is current as of now (after a login or a rotation); `known` is what was remembered.
    pub(crate) fn saw(&self, s: &Session, known: Option<&Arc<Known>>) {
        if self.capacity == 0 {
            return;
        }
        if let Some(k) = known.filter(|k| k.same_claims(s)) {
            k.generation.store(s.generation, Ordering::Relaxed);
            return;
        }
        if self.map.len() >= self.capacity {
            // Full: forget about half, whichever (they are only guesses).
            let mut n = 0usize;
            self.map.retain(|_, _| {
                n += 1;
                n.is_multiple_of(2)
            });
        }
        self.map.insert(
            s.sid,
            Arc::new(Known {
                subject: s.subject.clone(),
                auth_time: s.auth_time,
                assurance: s.assurance,
                scope: s.scope.clone(),
                client_id: s.client_id.clone(),
                claims: s.claims.clone(),
                dpop_jkt: s.dpop_jkt,
                risk_fingerprint: s.risk_fingerprint,
                status_index: s.status_index,
                generation: AtomicU64::new(s.generation),
            }),
        );
    }

    /// The session ended, was refused or is unknown: guess no more.
    pub(crate) fn forget(&self, sid: &SessionId) {
        self.map.remove(sid);
    }
}

/// Poll `fut` once: its output if it is ready at once, else `Pending` (it has started: a
/// store call has queued its request).
pub(crate) async fn poll_once<F: Future>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(move |cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Let the task that sends a queued request run before this one goes on; `false` where no
/// runtime can be asked to (then there is nothing to overlap with).
///
/// tokio's `yield_now` puts this task behind the connection task the request woke (a plain
/// self-wake does not: measured, the request then left only after the signature).
#[cfg(any(
    feature = "redb",
    feature = "redis",
    feature = "postgres",
    feature = "client",
    feature = "test-util"
))]
pub(crate) async fn let_io_start() -> bool {
    tokio::task::yield_now().await;
    true
}

/// Without tokio in the build: no overlap.
#[cfg(not(any(
    feature = "redb",
    feature = "redis",
    feature = "postgres",
    feature = "client",
    feature = "test-util"
)))]
pub(crate) async fn let_io_start() -> bool {
    false
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::error::Result;
    use crate::keys::{Algorithm, SigningKey};
    use crate::revocation::{Changes, Entry};
    use crate::session::{RevokeReason, Rotation, RotationRules};
    use crate::store::{MemoryStore, SessionStore};
    use crate::{Issuer, Login, Minter, Verifier};

    /// A memory store whose rotation answers later (as a networked one does) and can answer
    /// with other claims than it was given at login.
    #[derive(Default)]
    struct Later {
        inner: MemoryStore,
        scope_override: Mutex<Option<String>>,
        rotations: AtomicU64,
    }

    impl SessionStore for Later {
        async fn create(&self, s: &Session) -> Result<()> {
            self.inner.create(s).await
        }
        async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
            self.inner.load(sid).await
        }
        async fn rotate(
            &self,
            sid: SessionId,
            presented: u64,
            rules: RotationRules,
        ) -> Result<Option<Rotation>> {
            tokio::task::yield_now().await;
            self.rotations.fetch_add(1, Ordering::Relaxed);
            let mut out = self.inner.rotate(sid, presented, rules).await?;
            let scope = self.scope_override.lock().expect("lock").clone();
            if let (Some(Rotation::Rotated(s)), Some(scope)) = (&mut out, scope) {
                s.scope = Some(scope);
            }
            Ok(out)
        }
        async fn revoke(
            &self,
            sid: SessionId,
            reason: RevokeReason,
            now: u64,
        ) -> Result<Option<Session>> {
            self.inner.revoke(sid, reason, now).await
        }
        async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
            self.inner.list(subject, now).await
        }
        async fn revoke_subject(
            &self,
            subject: &str,
            keep: Option<SessionId>,
            reason: RevokeReason,
            now: u64,
        ) -> Result<Vec<Session>> {
            self.inner.revoke_subject(subject, keep, reason, now).await
        }
        async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
            self.inner.cleanup(now, limit).await
        }
        async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
            self.inner.append_revocations(entries).await
        }
        async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
            self.inner.revocation_changes(since, now).await
        }
    }

    fn issuer(overlap: usize) -> (Issuer<Later>, Verifier) {
        let minter = Minter::new(
            SigningKey::generate(Algorithm::ES256).expect("key"),
            "i",
            "a",
        )
        .expect("minter");
        let verifier = Verifier::builder("i", "a", minter.keys().verifying_keys())
            .build()
            .expect("verifier");
        let issuer = Issuer::builder(Later::default(), minter)
            .ephemeral_refresh_secrets()
            .overlap_sessions(overlap)
            .build()
            .expect("issuer");
        (issuer, verifier)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn early_tokens_carry_the_stored_claims_and_guesses_follow_the_chain() {
        let (issuer, verifier) = issuer(16);
        let mut pair = issuer
            .login(Login::new("ada").scope("read"))
            .await
            .expect("login");
        let sid = pair.session_id;
        let first = pair.refresh.expose().to_owned();
        for generation in 1..=3 {
            assert!(issuer.known.current(&sid, generation).is_some());
            assert!(issuer.known.current(&sid, generation + 1).is_none());
            pair = issuer
                .refresh(pair.refresh.expose())
                .await
                .expect("refresh");
            let claims = verifier.verify(pair.access.as_str()).expect("verifies");
            assert_eq!(claims.sub, "ada");
            assert_eq!(claims.scope.as_deref(), Some("read"));
            assert_eq!(claims.sid.as_deref(), Some(sid.to_string().as_str()));
        }
        assert_eq!(issuer.store().rotations.load(Ordering::Relaxed), 3);

        // The store answers with other claims than remembered: the guess is dropped.
        *issuer.store().scope_override.lock().expect("lock") = Some("admin".into());
        let next = issuer
            .refresh(pair.refresh.expose())
            .await
            .expect("refresh");
        let claims = verifier.verify(next.access.as_str()).expect("verifies");
        assert_eq!(claims.scope.as_deref(), Some("admin"));
        assert!(issuer.known.current(&sid, 5).is_some());

        // A refusal (here: reuse of the first token) forgets the session.
        assert!(issuer.refresh(&first).await.is_err());
        assert!(issuer.known.current(&sid, 5).is_none());
        assert!(issuer.known.current(&sid, 4).is_none());
    }

    #[tokio::test]
    async fn off_means_no_guesses_and_the_same_answers() {
        let (issuer, verifier) = issuer(0);
        let pair = issuer
            .login(Login::new("ada").scope("read"))
            .await
            .expect("login");
        assert!(issuer.known.current(&pair.session_id, 1).is_none());
        let next = issuer
            .refresh(pair.refresh.expose())
            .await
            .expect("refresh");
        let claims = verifier.verify(next.access.as_str()).expect("verifies");
        assert_eq!(claims.scope.as_deref(), Some("read"));
        assert!(issuer.known.current(&next.session_id, 2).is_none());
    }

    #[tokio::test]
    async fn logout_forgets() {
        let (issuer, _) = issuer(16);
        let pair = issuer.login(Login::new("ada")).await.expect("login");
        assert!(issuer.known.current(&pair.session_id, 1).is_some());
        assert!(issuer.logout(pair.session_id).await.expect("logout"));
        assert!(issuer.known.current(&pair.session_id, 1).is_none());
    }

    /// The early-signature gate: a refresh whose context the store will send to the risk
    /// policy gets no signature ahead of the store's answer.
    #[test]
    fn no_early_signature_for_a_context_the_policy_must_see() {
        use crate::session::RiskFingerprint;
        let known = KnownSessions::new(8);
        let (f, g) = (RiskFingerprint::of(&[b"f"]), RiskFingerprint::of(&[b"g"]));
        let mut s = crate::session::new_session(
            SessionId::random().expect("sid"),
            "ada".into(),
            0,
            &crate::Policy::web(),
            1,
            None,
            None,
            Map::new(),
            1,
            0,
            crate::session::ClientContext::default(),
            None,
        );
        s.risk_fingerprint = Some(f);
        known.saw(&s, None);
        let k = known.current(&s.sid, 1).expect("known");
        assert!(k.risk_admits(None), "no check asked");
        assert!(k.risk_admits(Some(f)), "the same context");
        assert!(
            !k.risk_admits(Some(g)),
            "another context: the policy decides first"
        );
        s.sid = SessionId::random().expect("sid");
        s.risk_fingerprint = None;
        known.saw(&s, None);
        let k = known.current(&s.sid, 1).expect("known");
        assert!(
            !k.risk_admits(Some(f)),
            "no stored fingerprint: the policy decides first"
        );
    }

    #[test]
    fn remembers_at_most_its_capacity() {
        let known = KnownSessions::new(8);
        for i in 0..100u64 {
            let s = crate::session::new_session(
                SessionId::random().expect("sid"),
                format!("user{i}"),
                0,
                &crate::Policy::web(),
                1,
                None,
                None,
                Map::new(),
                1,
                0,
                crate::session::ClientContext::default(),
                None,
            );
            known.saw(&s, None);
            assert!(known.map.len() <= 8, "{} entries", known.map.len());
            assert!(known.current(&s.sid, s.generation).is_some());
        }
    }
}
