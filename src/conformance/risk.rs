//! The risk check that rides the rotation ([`RiskPolicy::fingerprint`]): one store round trip
//! for a refresh whose context the stored fingerprint admits, the whole policy on the stored
//! session otherwise, and every rule of the rotation table unchanged around it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{GRACE, IDLE, kind, rig, rig_with};
use crate::error::{ErrorKind, Result};
use crate::issuer::Login;
use crate::issuer::guard::{DefaultRisk, RiskDecision, RiskFingerprint, RiskPolicy};
use crate::keys::Thumbprint;
use crate::revocation::{Changes, Entry};
use crate::session::{ClientContext, RevokeReason, Rotation, RotationRules, Session, SessionId};
use crate::store::SessionStore;

/// A store that counts the calls a refresh makes: loads and rotations.
struct Counting<S> {
    inner: S,
    loads: AtomicUsize,
    rotations: AtomicUsize,
    /// Say the store does not compare risk fingerprints (a store written before the rule).
    older: bool,
}

impl<S> Counting<S> {
    /// (loads, rotations) since the last call, and start counting again.
    fn take(&self) -> (usize, usize) {
        (self.loads.swap(0, Relaxed), self.rotations.swap(0, Relaxed))
    }
}

impl<S: SessionStore> SessionStore for Counting<S> {
    fn create(&self, session: &Session) -> impl Future<Output = Result<()>> + Send {
        self.inner.create(session)
    }
    fn load(&self, sid: SessionId) -> impl Future<Output = Result<Option<Session>>> + Send {
        self.loads.fetch_add(1, Relaxed);
        self.inner.load(sid)
    }
    fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> impl Future<Output = Result<Option<Rotation>>> + Send {
        self.rotations.fetch_add(1, Relaxed);
        self.inner.rotate(sid, presented, rules)
    }
    fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> impl Future<Output = Result<Option<Session>>> + Send {
        self.inner.revoke(sid, reason, now)
    }
    fn list(&self, subject: &str, now: u64) -> impl Future<Output = Result<Vec<Session>>> + Send {
        self.inner.list(subject, now)
    }
    fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> impl Future<Output = Result<Vec<Session>>> + Send {
        self.inner.revoke_subject(subject, keep, reason, now)
    }
    fn cleanup(&self, now: u64, limit: usize) -> impl Future<Output = Result<usize>> + Send {
        self.inner.cleanup(now, limit)
    }
    fn append_revocations(&self, entries: &[Entry]) -> impl Future<Output = Result<u64>> + Send {
        self.inner.append_revocations(entries)
    }
    fn lists_reuse(&self) -> bool {
        self.inner.lists_reuse()
    }
    fn compares_risk(&self) -> bool {
        !self.older && self.inner.compares_risk()
    }
    fn revocation_changes(
        &self,
        since: Option<u64>,
        now: u64,
    ) -> impl Future<Output = Result<Changes>> + Send {
        self.inner.revocation_changes(since, now)
    }
}

fn counting<S: SessionStore>(store: S) -> Arc<Counting<S>> {
    Arc::new(Counting {
        inner: store,
        loads: AtomicUsize::new(0),
        rotations: AtomicUsize::new(0),
        older: false,
    })
}

fn agent(ua: &str) -> ClientContext {
    ClientContext {
        user_agent: Some(ua.into()),
        ..Default::default()
    }
}

/// With [`DefaultRisk`] (which gives fingerprints): a refresh whose `User-Agent` product
/// matches is one rotation and no load; a changed product is one rotation that changes nothing
/// (step-up, the session kept); the binding, timeouts and reuse still come first or as before.
pub async fn the_risk_check_rides_the_rotation<S: SessionStore>(store: S) {
    let store = counting(store);
    let r = rig_with(store.clone(), |b| b.risk(DefaultRisk));
    let login = Login::new("gus").context(agent("App/1.0 (iPhone)"));
    let g1 = r.issuer.login(login).await.expect("login");
    let stored = store
        .inner
        .load(g1.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(
        stored.risk_fingerprint,
        DefaultRisk.fingerprint(&agent("App/1.0")),
        "the login context's fingerprint is stored"
    );
    store.take();
    // Same product, a new version and address: one round trip.
    let moved = ClientContext {
        ip: Some("198.51.100.4".into()),
        ..agent("App/1.1")
    };
    let g2 = r
        .issuer
        .refresh(g1.refresh.expose())
        .context(&moved)
        .await
        .expect("same product rotates");
    assert_eq!(store.take(), (0, 1), "one rotation, no load");
    // Another product: the store changes nothing and the policy asks for step-up.
    assert_eq!(
        kind(
            r.issuer
                .refresh(g2.refresh.expose())
                .context(&agent("curl/8"))
                .await
        ),
        ErrorKind::StepUpRequired
    );
    assert_eq!(store.take(), (0, 1), "one rotation that changed nothing");
    let s = store
        .inner
        .load(g2.session_id)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!((s.generation, s.revoked), (2, None), "kept as it was");
    // No `User-Agent` never counts as a change: no fingerprint to compare.
    let g3 = r
        .issuer
        .refresh(g2.refresh.expose())
        .context(&ClientContext::default())
        .await
        .expect("no user agent rotates");
    assert_eq!(store.take(), (0, 1));
    // An old generation with a changed context: the policy first (as when it loaded), so
    // step-up, and the session lives.
    r.clock.advance(GRACE + 1);
    assert_eq!(
        kind(
            r.issuer
                .refresh(g1.refresh.expose())
                .context(&agent("curl/8"))
                .await
        ),
        ErrorKind::StepUpRequired
    );
    // With a matching context the rotation rule decides: reuse.
    assert_eq!(
        kind(
            r.issuer
                .refresh(g1.refresh.expose())
                .context(&agent("App/3"))
                .await
        ),
        ErrorKind::RefreshReuse
    );
    assert_eq!(
        kind(
            r.issuer
                .refresh(g3.refresh.expose())
                .context(&agent("App/3"))
                .await
        ),
        ErrorKind::SessionRevoked,
        "the reuse revoked it"
    );
    // An ended session is ended, whatever the context.
    let e = r
        .issuer
        .login(Login::new("gus").context(agent("App/1.0")))
        .await
        .expect("login");
    r.clock.advance(IDLE);
    assert_eq!(
        kind(
            r.issuer
                .refresh(e.refresh.expose())
                .context(&agent("curl/8"))
                .await
        ),
        ErrorKind::SessionExpired
    );
    // A login without a `User-Agent` is allowed against anything, in one round trip.
    let any = r.issuer.login(Login::new("gus")).await.expect("login");
    store.take();
    r.issuer
        .refresh(any.refresh.expose())
        .context(&agent("curl/8"))
        .await
        .expect("stored without a user agent");
    assert_eq!(store.take(), (0, 1));
    // A bound session: the key before the context.
    let key = Thumbprint::from_bytes([7; 32]);
    let b = r
        .issuer
        .login(Login::new("gus").context(agent("App/1.0")).dpop(key))
        .await
        .expect("bound login");
    assert_eq!(
        kind(
            r.issuer
                .refresh(b.refresh.expose())
                .context(&agent("curl/8"))
                .await
        ),
        ErrorKind::InvalidDpopProof,
        "a thief's proofless refresh with its own agent"
    );
    assert_eq!(
        kind(
            r.issuer
                .refresh(b.refresh.expose())
                .context(&agent("curl/8"))
                .dpop(Some(key))
                .await
        ),
        ErrorKind::StepUpRequired
    );
    r.issuer
        .refresh(b.refresh.expose())
        .context(&agent("App/2"))
        .dpop(Some(key))
        .await
        .expect("the owner rotates");
}

/// Stays a device unless the address stays too; denies a new device from a new address.
struct DeviceOrAddress;

impl RiskPolicy for DeviceOrAddress {
    fn assess(&self, stored: &ClientContext, presented: &ClientContext) -> RiskDecision {
        if stored.device == presented.device || stored.ip == presented.ip {
            RiskDecision::Allow
        } else {
            RiskDecision::Deny
        }
    }

    fn fingerprint(&self, context: &ClientContext) -> Option<RiskFingerprint> {
        let device = context.device.as_deref().unwrap_or_default();
        Some(RiskFingerprint::of(&[b"device 1", device.as_bytes()]))
    }
}

/// Asks for step-up on another `User-Agent`, and gives no fingerprint.
struct NoFingerprint;

impl RiskPolicy for NoFingerprint {
    fn assess(&self, stored: &ClientContext, presented: &ClientContext) -> RiskDecision {
        if stored.user_agent == presented.user_agent {
            RiskDecision::Allow
        } else {
            RiskDecision::StepUp
        }
    }
}

/// Fingerprints that differ where the policy allows (a second round trip rotates), a denial
/// (the session revoked), a custom policy without fingerprints (load, then rotate, as before),
/// and a session stored before its issuer had a fingerprinting policy.
pub async fn a_changed_context_meets_the_whole_policy<S: SessionStore>(store: S) {
    let store = counting(store);
    let r = rig_with(store.clone(), |b| b.risk(DeviceOrAddress));
    let at = |device: &str, ip: &str| ClientContext {
        device: Some(device.into()),
        ip: Some(ip.into()),
        user_agent: None,
    };
    let g1 = r
        .issuer
        .login(Login::new("hal").context(at("phone", "192.0.2.1")))
        .await
        .expect("login");
    store.take();
    let g2 = r
        .issuer
        .refresh(g1.refresh.expose())
        .context(&at("phone", "192.0.2.99"))
        .await
        .expect("same device");
    assert_eq!(store.take(), (0, 1));
    let g3 = r
        .issuer
        .refresh(g2.refresh.expose())
        .context(&at("tablet", "192.0.2.1"))
        .await
        .expect("another device, same address: allowed by the whole policy");
    assert_eq!(store.take(), (0, 2), "asked, then rotated");
    assert_eq!(
        kind(
            r.issuer
                .refresh(g3.refresh.expose())
                .context(&at("laptop", "203.0.113.5"))
                .await
        ),
        ErrorKind::RiskDenied
    );
    let s = store
        .inner
        .load(g3.session_id)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(
        s.revoked.map(|v| v.reason),
        Some(RevokeReason::RiskDenied),
        "denied: revoked"
    );
    assert_eq!(s.generation, 3, "not rotated first");

    // A policy without fingerprints: loaded first, as before.
    let plain = rig_with(store.clone(), |b| b.risk(NoFingerprint));
    let p1 = plain
        .issuer
        .login(Login::new("ida").context(agent("App/1")))
        .await
        .expect("login");
    store.take();
    let p2 = plain
        .issuer
        .refresh(p1.refresh.expose())
        .context(&agent("App/1"))
        .await
        .expect("allowed");
    assert_eq!(store.take(), (1, 1), "loaded, then rotated");
    assert_eq!(
        kind(
            plain
                .issuer
                .refresh(p2.refresh.expose())
                .context(&agent("App/2"))
                .await
        ),
        ErrorKind::StepUpRequired
    );
    assert_eq!(store.take(), (1, 0), "loaded, not rotated");

    // A session from an issuer without a risk policy (no fingerprint stored), refreshed by
    // one with DefaultRisk over the same store: the whole policy decides each time.
    let before = rig(store.clone());
    let o1 = before
        .issuer
        .login(Login::new("jo").context(agent("App/1")))
        .await
        .expect("login");
    let after = rig_with(store.clone(), |b| b.risk(DefaultRisk));
    store.take();
    let o2 = after
        .issuer
        .refresh(o1.refresh.expose())
        .context(&agent("App/1"))
        .await
        .expect("allowed");
    assert_eq!(store.take(), (0, 2), "asked, then rotated");
    assert_eq!(
        kind(
            after
                .issuer
                .refresh(o2.refresh.expose())
                .context(&agent("curl/8"))
                .await
        ),
        ErrorKind::StepUpRequired
    );

    // A store that does not say it compares fingerprints is never trusted to: the issuer
    // loads and asks its policy first, as before the rule existed.
    let older = Arc::new(Counting {
        inner: store.clone(),
        loads: AtomicUsize::new(0),
        rotations: AtomicUsize::new(0),
        older: true,
    });
    let r = rig_with(older.clone(), |b| b.risk(DefaultRisk));
    let q1 = r
        .issuer
        .login(Login::new("kim").context(agent("App/1")))
        .await
        .expect("login");
    older.take();
    let q2 = r
        .issuer
        .refresh(q1.refresh.expose())
        .context(&agent("App/2"))
        .await
        .expect("allowed");
    assert_eq!(older.take(), (1, 1), "loaded, then rotated");
    assert_eq!(
        kind(
            r.issuer
                .refresh(q2.refresh.expose())
                .context(&agent("curl/8"))
                .await
        ),
        ErrorKind::StepUpRequired
    );
    assert_eq!(older.take(), (1, 0), "loaded, refused, not rotated");
}
