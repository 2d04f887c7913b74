//! The conformance suite every [`SessionStore`] must pass (feature `test-util`).
//!
//! (One file over 600 lines on purpose: it is one suite, read top to bottom, each check a
//! self-contained story over a fresh store; splitting it would scatter the rotation table.)
//!
//! It drives a real [`Issuer`] over the store with a manual clock: every row of the rotation
//! table, timeouts at their exact boundaries, list and revoke operations, cleanup, and races
//! (many tasks refreshing one token at once; a reuse racing a legitimate refresh). Each check
//! panics with a message naming the rule that failed.
//!
//! ```no_run
//! # async fn demo() {
//! use tidepass::{conformance, store::MemoryStore};
//! conformance::run_all(|| async { MemoryStore::new() }).await;
//! # }
//! ```
//!
//! The race checks spawn tasks on the current tokio runtime; use a multi-threaded one
//! (`#[tokio::test(flavor = "multi_thread")]`) so they really run in parallel.

// Test code: a panic is how a check reports a failure.
#![allow(clippy::indexing_slicing, clippy::string_slice)]

pub mod key_ring;
pub mod risk;
#[cfg(feature = "status-list")]
pub mod status;

use std::future::Future;
use std::sync::Arc;

use crate::clock::{Clock, ManualClock};
use crate::error::ErrorKind;
use crate::issuer::events::{Event, MemorySink};
use crate::issuer::{Issuer, Login};
use crate::keys::{Algorithm, SigningKey};
use crate::session::refresh::RefreshSecrets;
use crate::session::{ClientContext, Policy, RevokeReason, SessionId};
use crate::store::SessionStore;
use crate::token::mint::Minter;

const T0: u64 = 1_800_000_000;

/// The policy the suite uses: banking timeouts (15 min idle, 12 h absolute), 5 s grace,
/// 32 replays.
pub const POLICY: Policy = Policy::banking();
/// [`POLICY`]'s timeouts in seconds, as the clock counts.
const IDLE: u64 = POLICY.idle.as_secs();
const GRACE: u64 = POLICY.grace.as_secs();
const ABSOLUTE: u64 = POLICY.absolute.as_secs();

struct Rig<S> {
    issuer: Arc<Issuer<S>>,
    clock: Arc<ManualClock>,
    events: Arc<MemorySink>,
}

fn rig<S: SessionStore>(store: S) -> Rig<S> {
    rig_with(store, |b| b)
}

/// [`rig`] with more options set on its issuer (a risk policy).
fn rig_with<S: SessionStore>(
    store: S,
    options: impl FnOnce(crate::issuer::IssuerBuilder<S>) -> crate::issuer::IssuerBuilder<S>,
) -> Rig<S> {
    let clock = Arc::new(ManualClock::new(T0));
    let events = Arc::new(MemorySink::default());
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, "https://auth.example", "api")
        .expect("minter")
        .with_ttl(std::time::Duration::from_secs(300))
        .with_clock(clock.clone());
    let issuer = options(
        Issuer::builder(store, minter)
            .refresh_secrets(RefreshSecrets::from_secret(1, &[42u8; 32]).expect("secret"))
            .policy(POLICY)
            .clock(clock.clone())
            .events(events.clone()),
    )
    .build()
    .expect("issuer");
    Rig {
        issuer: Arc::new(issuer),
        clock,
        events,
    }
}

fn kind<T: std::fmt::Debug>(r: crate::Result<T>) -> ErrorKind {
    r.expect_err("expected a refusal").kind()
}

/// Run every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    rotation_table(make().await).await;
    lost_rotations_are_recovered(make().await).await;
    grace_window_and_replay_cap(make().await).await;
    a_shared_cookie_jar_never_revokes(make().await).await;
    a_bound_session_answers_only_its_key(make().await).await;
    risk::the_risk_check_rides_the_rotation(make().await).await;
    risk::a_changed_context_meets_the_whole_policy(make().await).await;
    timeouts_at_their_boundaries(make().await).await;
    bad_tokens_never_reach_the_store(make().await).await;
    list_and_revoke(make().await).await;
    elevate_replaces_the_session(make().await).await;
    cleanup_removes_only_ended_sessions(make().await).await;
    concurrent_refreshes_leave_one_chain(make().await).await;
    reuse_racing_a_refresh_revokes(make().await).await;
    reuse_puts_the_session_on_the_revocation_list(make().await).await;
    revocation_log_is_shared_and_versioned(make().await).await;
    #[cfg(feature = "status-list")]
    status::every_revocation_sets_the_entry(make().await).await;
}

/// A detected reuse puts the session's access tokens on the revocation list (until they have
/// all expired). A store that says it [`SessionStore::lists_reuse`] does so within `rotate`
/// itself, and only when asked (`list_reuse_until` not 0).
pub async fn reuse_puts_the_session_on_the_revocation_list<S: SessionStore>(store: S) {
    use crate::revocation::{Changes, Target};
    use crate::session::Rotation;
    let r = rig(store);
    let listed = |changes: Changes, sid: SessionId| -> Vec<u64> {
        let Changes::Snapshot(s) = changes else {
            panic!("no version asked: a snapshot")
        };
        s.entries
            .iter()
            .filter(|e| e.target == Target::Session && e.id == u128::from_be_bytes(*sid.as_bytes()))
            .map(|e| e.expires)
            .collect()
    };
    let p1 = r.issuer.login(Login::new("ada")).await.expect("login");
    r.issuer.refresh(p1.refresh.expose()).await.expect("rotate");
    r.clock.advance(GRACE);
    assert_eq!(
        kind(r.issuer.refresh(p1.refresh.expose()).await),
        ErrorKind::RefreshReuse
    );
    let changes = r.issuer.revocation_changes(None).await.expect("changes");
    let expires = listed(changes, p1.session_id);
    assert_eq!(expires.len(), 1, "listed once");
    assert!(
        expires[0] >= r.clock.now() + 300,
        "listed until every access token has expired"
    );

    if !r.issuer.store().lists_reuse() {
        return;
    }
    let store = r.issuer.store();
    let rules = |until: u64| POLICY.rules(r.clock.now(), 1, until);
    for until in [0, T0 + 99_999] {
        let p = r.issuer.login(Login::new("bo")).await.expect("login");
        let p2 = r.issuer.refresh(p.refresh.expose()).await.expect("rotate");
        r.issuer
            .refresh(p2.refresh.expose())
            .await
            .expect("rotate again");
        // Generation 1 is now two behind: reuse, decided and listed by the store alone.
        let outcome = store.rotate(p.session_id, 1, rules(until)).await;
        assert!(
            matches!(outcome, Ok(Some(Rotation::Reuse(_)))),
            "{outcome:?}"
        );
        let changes = store
            .revocation_changes(None, r.clock.now())
            .await
            .expect("changes");
        let expected: Vec<u64> = if until == 0 { vec![] } else { vec![until] };
        assert_eq!(listed(changes, p.session_id), expected, "until {until}");
    }
}

/// Two issuers ("instances") on one store share the revocation log: versions increase, a
/// logout on one shows in the other's changes, deltas carry only what is new, expired entries
/// leave, and a version the log no longer covers gets a snapshot.
pub async fn revocation_log_is_shared_and_versioned<S: SessionStore>(store: S) {
    use crate::revocation::{Changes, Target};
    let shared = Arc::new(store);
    let a = rig(shared.clone());
    let b = rig(shared.clone());
    b.clock.set(a.clock.now());
    let Changes::Snapshot(empty) = a.issuer.revocation_changes(None).await.expect("changes") else {
        panic!("no version asked: a snapshot")
    };
    assert!(empty.entries.is_empty());
    let p = a.issuer.login(Login::new("alice")).await.expect("login");
    let q = b.issuer.login(Login::new("bob")).await.expect("login");
    assert!(a.issuer.logout(p.session_id).await.expect("logout"));
    let Changes::Snapshot(s1) = b.issuer.revocation_changes(None).await.expect("changes") else {
        panic!("snapshot")
    };
    assert_eq!(
        s1.entries.len(),
        1,
        "a logout on one instance is seen by the other"
    );
    assert_eq!(s1.entries[0].target, Target::Session);
    assert_ne!(s1.epoch, 0, "a log that has entries has an epoch");
    assert_eq!(
        s1.entries[0].id,
        u128::from_be_bytes(*p.session_id.as_bytes())
    );
    assert!(
        s1.entries[0].expires >= T0 + 300,
        "outlives the access tokens"
    );

    assert_eq!(b.issuer.revoke_all("bob").await.expect("all"), 1);
    let Changes::Delta(d) = a
        .issuer
        .revocation_changes(Some(s1.version))
        .await
        .expect("changes")
    else {
        panic!("a covered version gets a delta")
    };
    assert_eq!((d.from, d.entries.len()), (s1.version, 1));
    assert!(d.to > s1.version, "versions increase");
    assert_eq!(d.epoch, s1.epoch, "the epoch is stable");
    assert_eq!(
        d.entries[0].id,
        u128::from_be_bytes(*q.session_id.as_bytes())
    );
    let Changes::Delta(none) = a
        .issuer
        .revocation_changes(Some(d.to))
        .await
        .expect("changes")
    else {
        panic!("delta")
    };
    assert!(none.entries.is_empty(), "nothing new");
    assert_eq!((none.from, none.to), (d.to, d.to));
    // An up-to-date poll is a success that changes nothing, in both encodings.
    let up_to_date = Changes::Delta(none);
    let binary = Changes::decode(&up_to_date.encode().expect("encode"))
        .expect("an up-to-date delta decodes");
    let json: Changes =
        serde_json::from_str(&serde_json::to_string(&up_to_date).expect("json")).expect("json");
    assert_eq!(binary, up_to_date);
    assert_eq!(json, up_to_date);
    let list = crate::revocation::RevocationList::new();
    list.apply_at(Changes::Snapshot(s1.clone()), a.clock.now());
    list.apply_at(
        a.issuer
            .revocation_changes(Some(s1.version))
            .await
            .expect("changes"),
        a.clock.now(),
    );
    assert_eq!(list.version(), d.to);
    assert_eq!(
        list.apply_at(binary, a.clock.now()),
        crate::revocation::Applied::Unchanged
    );

    // Past every entry's expiry, cleanup empties the log and old versions need a snapshot.
    let later = T0 + 24 * 3600;
    a.clock.set(later);
    a.issuer
        .store()
        .cleanup(later, 1000)
        .await
        .expect("cleanup");
    let after = a
        .issuer
        .revocation_changes(Some(s1.version - 1))
        .await
        .expect("changes");
    match after {
        Changes::Snapshot(s) => assert!(s.entries.is_empty() && s.version >= d.to),
        Changes::Delta(_) => panic!("a pruned version must get a snapshot"),
    }
}

/// Current generation rotates; previous inside grace yields the identical child; older is
/// reuse and revokes the session; newer is refused.
pub async fn rotation_table<S: SessionStore>(store: S) {
    let r = rig(store);
    let p1 = r.issuer.login(Login::new("alice")).await.expect("login");
    r.clock.advance(10);
    let p2 = r
        .issuer
        .refresh(p1.refresh.expose())
        .await
        .expect("current generation rotates");
    assert_eq!(p2.session_id, p1.session_id, "rotation keeps the session");
    assert_ne!(
        p2.refresh, p1.refresh,
        "rotation issues a new refresh token"
    );
    let s = r
        .issuer
        .store()
        .load(p1.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(s.generation, 2);
    assert_eq!(s.idle_expires_at, T0 + 10 + IDLE, "idle deadline slides");
    assert_eq!(
        s.absolute_expires_at,
        T0 + ABSOLUTE,
        "absolute deadline never moves"
    );

    // Previous generation inside the grace window: the identical child, a fresh access token.
    r.clock.advance(1);
    let again = r
        .issuer
        .refresh(p1.refresh.expose())
        .await
        .expect("grace replay");
    assert_eq!(
        again.refresh, p2.refresh,
        "grace replay hands out the identical child"
    );
    assert_ne!(
        again.access.jti(),
        p2.access.jti(),
        "with a fresh access token"
    );

    // The child continues the chain.
    let p3 = r
        .issuer
        .refresh(p2.refresh.expose())
        .await
        .expect("child rotates");
    // Two generations back is reuse: the whole session dies.
    assert_eq!(
        kind(r.issuer.refresh(p1.refresh.expose()).await),
        ErrorKind::RefreshReuse
    );
    let s = r
        .issuer
        .store()
        .load(p1.session_id)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(
        s.revoked.map(|v| v.reason),
        Some(RevokeReason::ReuseDetected)
    );
    assert_eq!(
        kind(r.issuer.refresh(p3.refresh.expose()).await),
        ErrorKind::SessionRevoked,
        "even the newest token is dead"
    );
    let events = r.events.take();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ReuseDetected { .. })),
        "reuse emits an event"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::GraceReplay { .. }))
    );
}

/// A refresh token ahead of its stored session (the store lost rotations in a failover or a
/// restore): the session catches up by rotating from the presented generation, the honest
/// client keeps its session, older tokens are reuse again, and the event says so. With
/// recovery off the store refuses and changes nothing.
pub async fn lost_rotations_are_recovered<S: SessionStore>(store: S) {
    use crate::session::Rotation;
    let r = rig(store);
    let q = r.issuer.login(Login::new("bob")).await.expect("login");
    let first = r.issuer.store().load(q.session_id).await.expect("load");
    let stored = first.expect("the session exists").generation;
    // What the issuer handed out before the store went back: generation stored + 4.
    let secrets = RefreshSecrets::from_secret(1, &[42u8; 32]).expect("secret");
    let ahead = stored + 4;
    let newest = secrets.encode(1, &q.session_id, ahead).expect("encode");

    let off = crate::session::RotationRules {
        recover_lost: false,
        ..POLICY.rules(r.clock.now(), 1, 0)
    };
    let refused = r.issuer.store().rotate(q.session_id, ahead, off).await;
    assert!(
        matches!(refused, Ok(Some(Rotation::Future(ref s))) if s.generation == stored),
        "recovery off: refused, unchanged ({refused:?})"
    );
    r.events.take();

    r.clock.advance(1);
    let p = r
        .issuer
        .refresh(newest.expose())
        .await
        .expect("the newest token is honest: the store lost rotations");
    assert_eq!(p.session_id, q.session_id);
    let now = r.issuer.store().load(q.session_id).await.expect("load");
    assert_eq!(
        now.map(|s| s.generation),
        Some(ahead + 1),
        "rotated from it"
    );
    assert!(
        r.events.take().iter().any(|e| matches!(e,
            Event::LostRotations { presented, stored: s, .. } if *presented == ahead && *s == stored)),
        "the event names both generations"
    );
    // A second tab with the same token inside the grace window: the identical child.
    let again = r.issuer.refresh(newest.expose()).await.expect("grace");
    assert_eq!(again.refresh, p.refresh);
    // The child works; the token from before the loss is reuse now.
    let next = r.issuer.refresh(p.refresh.expose()).await.expect("child");
    r.clock.advance(GRACE);
    assert_eq!(
        kind(r.issuer.refresh(q.refresh.expose()).await),
        ErrorKind::RefreshReuse
    );
    assert_eq!(
        kind(r.issuer.refresh(next.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
}

/// A DPoP-bound session (RFC 9449 §5; ARCHITECTURE.md's rotation table): a refresh without a proof by its
/// key is refused and changes nothing, whatever generation it presents, so a thief holding a
/// copied token neither rotates nor revokes the session; the key's holder presenting the
/// parent gets the identical, never-used child at any later time, past the grace window and
/// the replay cap (a device killed between the server's rotation and saving the answer);
/// once the child has been used, the parent is reuse as for any session.
pub async fn a_bound_session_answers_only_its_key<S: SessionStore>(store: S) {
    use crate::keys::Thumbprint;
    let r = rig(store);
    let ctx = ClientContext::default();
    let (key, other) = (
        Thumbprint::from_bytes([1; 32]),
        Thumbprint::from_bytes([2; 32]),
    );
    let g1 = r
        .issuer
        .login(Login::new("erin").dpop(key))
        .await
        .expect("login");
    assert_eq!(g1.token_type(), "DPoP");
    let load = |sid| {
        let issuer = r.issuer.clone();
        async move {
            issuer
                .store()
                .load(sid)
                .await
                .expect("load")
                .expect("stored")
        }
    };
    assert_eq!(load(g1.session_id).await.dpop_jkt, Some(key), "stored");
    for presented in [None, Some(other)] {
        assert_eq!(
            kind(
                r.issuer
                    .refresh(g1.refresh.expose())
                    .context(&ctx)
                    .dpop(presented)
                    .await
            ),
            ErrorKind::InvalidDpopProof,
            "{presented:?}"
        );
    }
    assert_eq!(
        kind(r.issuer.refresh(g1.refresh.expose()).await),
        ErrorKind::InvalidDpopProof,
        "plain refresh of a bound session"
    );
    let s = load(g1.session_id).await;
    assert_eq!((s.generation, s.revoked), (1, None), "nothing changed");
    let g2 = r
        .issuer
        .refresh(g1.refresh.expose())
        .context(&ctx)
        .dpop(Some(key))
        .await
        .expect("rotate with the key");
    assert!(g2.dpop_bound && g2.refresh != g1.refresh);
    // Past the window (any time inside the idle timeout: days under the mobile preset), and
    // past the replay cap, the parent with the key still gets the same child.
    r.clock.advance(GRACE + 60);
    // A thief with the parent and no key: refused, nothing revoked.
    assert_eq!(
        kind(
            r.issuer
                .refresh(g1.refresh.expose())
                .context(&ctx)
                .dpop(None)
                .await
        ),
        ErrorKind::InvalidDpopProof
    );
    for _ in 0..=POLICY.max_grace_replays {
        let again = r
            .issuer
            .refresh(g1.refresh.expose())
            .context(&ctx)
            .dpop(Some(key))
            .await
            .expect("the unused child again");
        assert_eq!(again.refresh, g2.refresh, "the identical child");
    }
    let s = load(g1.session_id).await;
    assert_eq!((s.generation, s.revoked), (2, None), "no rotation, alive");
    // The child used: the parent is reuse now.
    let g3 = r
        .issuer
        .refresh(g2.refresh.expose())
        .context(&ctx)
        .dpop(Some(key))
        .await
        .expect("the child rotates");
    assert_ne!(g3.refresh, g2.refresh);
    r.clock.advance(GRACE + 1);
    assert_eq!(
        kind(
            r.issuer
                .refresh(g1.refresh.expose())
                .context(&ctx)
                .dpop(Some(key))
                .await
        ),
        ErrorKind::RefreshReuse
    );
    // A bearer session ignores a proof and stays a bearer session.
    let b = r.issuer.login(Login::new("fay")).await.expect("login");
    let b2 = r
        .issuer
        .refresh(b.refresh.expose())
        .context(&ctx)
        .dpop(Some(key))
        .await
        .expect("bearer with a proof");
    assert_eq!(b2.token_type(), "Bearer");
}

/// [`Policy::settle_within_grace`] (every preset) for refresh tokens from a shared cookie jar
/// ([`Refresh::shared_jar`](crate::issuer::Refresh::shared_jar)): requests sharing the jar present the parent and the
/// child in any order inside the window, and all get the same child; the session rotates
/// again only after the window, and reuse is still detected then. (Before, the child's second
/// rotation made the late parent a grandparent and revoked the honest session: what chromium
/// showed with five parallel refreshes from one page.) Tokens a client holds itself
/// ([`Issuer::refresh`]) rotate on every presentation, as in [`rotation_table`].
pub async fn a_shared_cookie_jar_never_revokes<S: SessionStore>(store: S) {
    const { assert!(POLICY.settle_within_grace, "every preset settles") };
    let r = rig(store);
    let jar = ClientContext::default();
    let g1 = r.issuer.login(Login::new("dora")).await.expect("login");
    r.clock.advance(30);
    // The first request rotates; the jar now holds the child.
    let g2 = r
        .issuer
        .refresh(g1.refresh.expose())
        .context(&jar)
        .shared_jar()
        .await
        .expect("rotate");
    assert_ne!(g2.refresh, g1.refresh);
    // Requests sent after the jar changed present the child; late ones the parent.
    let child = r
        .issuer
        .refresh(g2.refresh.expose())
        .context(&jar)
        .shared_jar()
        .await
        .expect("child in the window");
    assert_eq!(
        child.refresh, g2.refresh,
        "the child is handed out again, not rotated"
    );
    r.clock.advance(1);
    let parent = r
        .issuer
        .refresh(g1.refresh.expose())
        .context(&jar)
        .shared_jar()
        .await
        .expect("late parent");
    assert_eq!(
        parent.refresh, g2.refresh,
        "the late parent gets the same child"
    );
    let s = r
        .issuer
        .store()
        .load(g1.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!((s.generation, s.revoked), (2, None), "one rotation, alive");
    // After the window the child rotates, and the parent is reuse again.
    r.clock.advance(GRACE);
    let g3 = r
        .issuer
        .refresh(g2.refresh.expose())
        .context(&jar)
        .shared_jar()
        .await
        .expect("rotate");
    assert_ne!(g3.refresh, g2.refresh);
    r.clock.advance(GRACE);
    assert_eq!(
        kind(
            r.issuer
                .refresh(g1.refresh.expose())
                .context(&jar)
                .shared_jar()
                .await
        ),
        ErrorKind::RefreshReuse
    );
}

/// The grace window is `[rotated_at, rotated_at + grace)` and serves at most the cap.
pub async fn grace_window_and_replay_cap<S: SessionStore>(store: S) {
    let r = rig(store);
    let p1 = r.issuer.login(Login::new("alice")).await.expect("login");
    let p2 = r.issuer.refresh(p1.refresh.expose()).await.expect("rotate");
    for _ in 0..POLICY.max_grace_replays {
        let again = r
            .issuer
            .refresh(p1.refresh.expose())
            .await
            .expect("replay under the cap");
        assert_eq!(again.refresh, p2.refresh);
    }
    let over = r.issuer.refresh(p1.refresh.expose()).await;
    assert_eq!(
        over.as_ref().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::GraceReplayLimit),
        "one replay over the cap is refused with its own kind, not reuse"
    );
    assert!(
        over.as_ref()
            .is_err_and(|e| !e.is_invalid_grant() && e.retry_after() == Some(1))
    );
    let s = r
        .issuer
        .store()
        .load(p1.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert!(s.revoked.is_none(), "over the cap, the session lives on");
    r.issuer
        .refresh(p2.refresh.expose())
        .await
        .expect("the child the client already holds still rotates");

    let q1 = r.issuer.login(Login::new("carol")).await.expect("login");
    r.issuer.refresh(q1.refresh.expose()).await.expect("rotate");
    r.clock.advance(GRACE - 1);
    r.issuer
        .refresh(q1.refresh.expose())
        .await
        .expect("last second of the window");
    r.clock.advance(1);
    assert_eq!(
        kind(r.issuer.refresh(q1.refresh.expose()).await),
        ErrorKind::RefreshReuse,
        "the window is half-open"
    );
}

/// Idle and absolute timeouts end sessions at their exact second.
pub async fn timeouts_at_their_boundaries<S: SessionStore>(store: S) {
    let r = rig(store);
    let p = r.issuer.login(Login::new("alice")).await.expect("login");
    r.clock.advance(IDLE - 1);
    let p = r
        .issuer
        .refresh(p.refresh.expose())
        .await
        .expect("just inside idle");
    r.clock.advance(IDLE);
    assert_eq!(
        kind(r.issuer.refresh(p.refresh.expose()).await),
        ErrorKind::SessionExpired,
        "idle end is exclusive"
    );

    // Refresh just inside the idle window again and again: the absolute end still wins.
    r.clock.set(T0);
    let mut p = r.issuer.login(Login::new("bob")).await.expect("login");
    let mut now = T0;
    while now + IDLE - 1 < T0 + ABSOLUTE {
        now += IDLE - 1;
        r.clock.set(now);
        p = r
            .issuer
            .refresh(p.refresh.expose())
            .await
            .expect("refresh inside both windows");
        assert!(p.refresh_expires_at <= T0 + ABSOLUTE);
    }
    r.clock.set(T0 + ABSOLUTE);
    assert_eq!(
        kind(r.issuer.refresh(p.refresh.expose()).await),
        ErrorKind::SessionExpired,
        "absolute end"
    );
    let listed = r.issuer.sessions("bob", None).await.expect("list");
    assert!(listed.is_empty(), "ended sessions are not listed");
}

/// Garbage and forgeries fail before the store: no session changes.
pub async fn bad_tokens_never_reach_the_store<S: SessionStore>(store: S) {
    let r = rig(store);
    let p = r.issuer.login(Login::new("alice")).await.expect("login");
    let good = p.refresh.expose().to_owned();
    let foreign = RefreshSecrets::from_secret(1, &[7u8; 32])
        .expect("s")
        .encode(1, &p.session_id, 1)
        .expect("t");
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    for bad in [
        "",
        "garbage",
        "tprt_",
        &good[..good.len() - 1],
        &format!("{good}A"),
        foreign.expose(),
        &flipped,
        &good.to_uppercase(),
    ] {
        assert_eq!(
            kind(r.issuer.refresh(bad).await),
            ErrorKind::InvalidRefreshToken,
            "{bad:?}"
        );
    }
    let s = r
        .issuer
        .store()
        .load(p.session_id)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(
        (s.generation, s.revoked),
        (1, None),
        "bad tokens changed nothing"
    );
    r.issuer
        .refresh(&good)
        .await
        .expect("the real token still works");
    // An authentic token for a session the store never had.
    let stranger = RefreshSecrets::from_secret(1, &[42u8; 32])
        .expect("s")
        .encode(1, &SessionId::random().expect("id"), 1)
        .expect("t");
    assert_eq!(
        kind(r.issuer.refresh(stranger.expose()).await),
        ErrorKind::UnknownSession
    );
}

/// Logout, list (with the current one marked), revoke one, revoke others, revoke all.
pub async fn list_and_revoke<S: SessionStore>(store: S) {
    let r = rig(store);
    let ctx = |d: &str| ClientContext {
        device: Some(d.into()),
        user_agent: Some("ua".into()),
        ip: Some("127.0.0.1".into()),
    };
    let phone = r
        .issuer
        .login(Login::new("alice").context(ctx("phone")))
        .await
        .expect("login");
    r.clock.advance(1);
    let laptop = r
        .issuer
        .login(Login::new("alice").context(ctx("laptop")))
        .await
        .expect("login");
    r.clock.advance(1);
    let tablet = r
        .issuer
        .login(Login::new("alice").context(ctx("tablet")))
        .await
        .expect("login");
    let bob = r.issuer.login(Login::new("bob")).await.expect("login");

    let list = r
        .issuer
        .sessions("alice", Some(laptop.session_id))
        .await
        .expect("list");
    let devices: Vec<_> = list
        .iter()
        .map(|v| v.session.context.device.clone().unwrap_or_default())
        .collect();
    assert_eq!(devices, ["phone", "laptop", "tablet"], "oldest first");
    assert_eq!(
        list.iter()
            .filter(|v| v.current)
            .map(|v| v.session.sid)
            .collect::<Vec<_>>(),
        [laptop.session_id]
    );

    assert!(
        !r.issuer
            .revoke("bob", phone.session_id)
            .await
            .expect("revoke"),
        "cannot revoke another's session"
    );
    assert!(
        r.issuer
            .revoke("alice", tablet.session_id)
            .await
            .expect("revoke")
    );
    assert_eq!(
        kind(r.issuer.refresh(tablet.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
    assert!(
        !r.issuer
            .revoke("alice", tablet.session_id)
            .await
            .expect("again"),
        "already revoked"
    );

    assert_eq!(
        r.issuer
            .revoke_others("alice", laptop.session_id)
            .await
            .expect("others"),
        1
    );
    assert_eq!(
        kind(r.issuer.refresh(phone.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
    r.issuer
        .refresh(laptop.refresh.expose())
        .await
        .expect("the kept session lives");

    assert!(r.issuer.logout(laptop.session_id).await.expect("logout"));
    assert!(
        r.issuer
            .sessions("alice", None)
            .await
            .expect("list")
            .is_empty()
    );
    let again = r.issuer.login(Login::new("alice")).await.expect("login");
    assert_eq!(r.issuer.revoke_all("alice").await.expect("all"), 1);
    assert_eq!(
        kind(r.issuer.refresh(again.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
    r.issuer
        .refresh(bob.refresh.expose())
        .await
        .expect("other subjects are untouched");
}

/// Elevation: a new session id and pair, the old session revoked.
pub async fn elevate_replaces_the_session<S: SessionStore>(store: S) {
    let r = rig(store);
    let p = r
        .issuer
        .login(Login::new("alice").scope("read"))
        .await
        .expect("login");
    let e = r
        .issuer
        .elevate(p.session_id, 2, Some("read admin".into()))
        .await
        .expect("elevate");
    assert_ne!(e.session_id, p.session_id, "a new session id");
    assert_eq!(
        kind(r.issuer.refresh(p.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
    let s = r
        .issuer
        .store()
        .load(e.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!((s.assurance, s.scope.as_deref()), (2, Some("read admin")));
    assert_eq!(
        kind(r.issuer.elevate(p.session_id, 3, None).await),
        ErrorKind::SessionRevoked
    );
    r.issuer
        .refresh(e.refresh.expose())
        .await
        .expect("the new session works");
}

/// Cleanup deletes ended sessions and keeps live ones.
pub async fn cleanup_removes_only_ended_sessions<S: SessionStore>(store: S) {
    let r = rig(store);
    let dead = r.issuer.login(Login::new("alice")).await.expect("login");
    let live = r.issuer.login(Login::new("alice")).await.expect("login");
    r.issuer.logout(dead.session_id).await.expect("logout");
    r.clock.advance(1);
    let n = r
        .issuer
        .store()
        .cleanup(r.clock.now(), 100)
        .await
        .expect("cleanup");
    assert_eq!(n, 1);
    assert!(
        r.issuer
            .store()
            .load(dead.session_id)
            .await
            .expect("load")
            .is_none()
    );
    assert!(
        r.issuer
            .store()
            .load(live.session_id)
            .await
            .expect("load")
            .is_some()
    );
    r.clock.advance(IDLE);
    assert_eq!(
        r.issuer
            .store()
            .cleanup(r.clock.now(), 100)
            .await
            .expect("cleanup"),
        1,
        "idle-expired"
    );
    assert_eq!(
        r.issuer
            .store()
            .cleanup(r.clock.now(), 100)
            .await
            .expect("cleanup"),
        0
    );
}

/// Many tasks refresh the same token at once: every winner holds the same child, and the
/// chain continues from it.
pub async fn concurrent_refreshes_leave_one_chain<S: SessionStore>(store: S) {
    let r = rig(store);
    let p = r.issuer.login(Login::new("alice")).await.expect("login");
    let token = p.refresh.expose().to_owned();
    // One rotation plus the whole replay cap (at least 32 in every preset), all at once.
    const { assert!(POLICY.max_grace_replays >= 32) };
    let tasks: Vec<_> = (0..=POLICY.max_grace_replays)
        .map(|_| {
            let (issuer, token) = (r.issuer.clone(), token.clone());
            tokio::spawn(async move { issuer.refresh(&token).await })
        })
        .collect();
    let mut children = Vec::new();
    for t in tasks {
        let pair = t
            .await
            .expect("task")
            .expect("every concurrent refresh is honest and served");
        children.push(pair.refresh.expose().to_owned());
    }
    children.dedup();
    assert_eq!(children.len(), 1, "all winners hold the same child");
    let s = r
        .issuer
        .store()
        .load(p.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(s.generation, 2, "exactly one rotation happened");
    r.issuer
        .refresh(&children[0])
        .await
        .expect("the chain continues from the child");
}

/// A thief replays an old token while the owner refreshes: the session ends revoked.
pub async fn reuse_racing_a_refresh_revokes<S: SessionStore>(store: S) {
    let r = rig(store);
    for round in 0..20 {
        let p1 = r
            .issuer
            .login(Login::new(format!("user{round}")))
            .await
            .expect("login");
        let p2 = r.issuer.refresh(p1.refresh.expose()).await.expect("rotate");
        r.clock.advance(GRACE); // p1 is now outside the grace window: presenting it is reuse
        let (i1, i2) = (r.issuer.clone(), r.issuer.clone());
        let (old, cur) = (
            p1.refresh.expose().to_owned(),
            p2.refresh.expose().to_owned(),
        );
        let thief = tokio::spawn(async move { i1.refresh(&old).await });
        let owner = tokio::spawn(async move { i2.refresh(&cur).await });
        let thief = thief.await.expect("task");
        let owner = owner.await.expect("task");
        assert_eq!(
            thief.map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::RefreshReuse)
        );
        let s = r
            .issuer
            .store()
            .load(p1.session_id)
            .await
            .expect("load")
            .expect("stored");
        assert_eq!(
            s.revoked.map(|v| v.reason),
            Some(RevokeReason::ReuseDetected),
            "round {round}"
        );
        if let Ok(pair) = owner {
            // The owner won the race; its new token is dead now too.
            assert_eq!(
                kind(r.issuer.refresh(pair.refresh.expose()).await),
                ErrorKind::SessionRevoked
            );
        }
    }
}
