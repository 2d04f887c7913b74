//! The revocation list: verifier integration, encodings, order and gaps, and two verifiers
//! kept in step with an issuer by polling.
//!
//! (Over 600 lines: a catalogue of independent tests sharing one rig; each reads alone.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tidepass::clock::{Clock, ManualClock, SystemClock};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::revocation::{
    Applied, Changes, Delta, Entry, Log, RevocationList, Snapshot, Syncer, Target,
};
use tidepass::{ErrorKind, Issuer, Login, MemoryStore, Minter, Verifier};

fn entry(target: Target, id: u128, expires: u64) -> Entry {
    Entry {
        target,
        id,
        before: if target == Target::Subject {
            expires - 10
        } else {
            0
        },
        expires,
    }
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just(Target::Token),
                Just(Target::Session),
                Just(Target::Subject)
            ],
            any::<u128>(),
            1_000u64..100_000,
        )
            .prop_map(|(t, id, exp)| entry(t, id, exp)),
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn encodings_round_trip(es in entries(), from in 0u64..1000, span in 1u64..1000, base: u64, head: u64) {
        for c in [
            Changes::Snapshot(Snapshot { head, epoch: 0, version: from + span, entries: es.clone() }),
            Changes::Delta(Delta { base, head, epoch: 0, from, to: from + span, entries: es.clone() }),
        ] {
            let bytes = c.encode().expect("encode");
            let back = Changes::decode(&bytes).expect("decode");
            // The binary form groups entries by target; compare as sets.
            let (mut a, mut b) = match (&c, &back) {
                (Changes::Snapshot(x), Changes::Snapshot(y)) => { prop_assert_eq!(x.head, y.head); (x.entries.clone(), y.entries.clone()) }
                (Changes::Delta(x), Changes::Delta(y)) => { prop_assert_eq!((x.from, x.to, x.base, x.head), (y.from, y.to, y.base, y.head)); (x.entries.clone(), y.entries.clone()) }
                _ => return Err(TestCaseError::fail("kind changed")),
            };
            a.sort_by_key(|e| (e.target, e.id, e.expires));
            b.sort_by_key(|e| (e.target, e.id, e.expires));
            prop_assert_eq!(a, b);
            prop_assert!(bytes.len() <= 66 + 8 + es.len() * 24);
            let json = serde_json::to_string(&c).expect("json");
            prop_assert_eq!(serde_json::from_str::<Changes>(&json).expect("json back"), c);
        }
    }

    /// Deltas in any order, with duplicates, end in the same list as one snapshot.
    #[test]
    fn deltas_in_any_order_converge(batches in proptest::collection::vec(entries(), 1..8), seed in any::<u64>()) {
        let now = 500;
        let mut log = Log::new();
        let mut deltas = Vec::new();
        for b in &batches {
            let from = log.version();
            log.append(b);
            if let Changes::Delta(d) = log.changes_since(Some(from), now) { deltas.push(d) }
        }
        // Shuffle deterministically, and deliver some twice.
        let mut order: Vec<usize> = (0..deltas.len()).chain(0..deltas.len() / 2).collect();
        let mut x = seed | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let list = RevocationList::new();
        for i in order { list.apply_delta_at(deltas[i].clone(), now); }
        prop_assert_eq!(list.version(), log.version());
        let Changes::Snapshot(full) = log.changes_since(None, now) else { return Err(TestCaseError::fail("snapshot")) };
        let reference = RevocationList::new();
        reference.apply_snapshot_at(full, now);
        let key = |s: Snapshot| { let mut v: Vec<(u128, u64, u64)> = s.entries.iter().map(|e| (e.id, e.before, e.expires)).collect(); v.sort(); v };
        prop_assert_eq!(key(list.snapshot()), key(reference.snapshot()));
    }

    /// Hostile bytes never panic and never change a list.
    #[test]
    fn hostile_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let list = RevocationList::new();
        list.apply_snapshot_at(Snapshot { head: 0, epoch: 0, version: 3, entries: vec![entry(Target::Token, 1, 9_999)] }, 0);
        if let Ok(c) = Changes::decode(&bytes) { list.apply_at(c, 0); } else { prop_assert_eq!(list.version(), 3); }
    }
}

#[test]
fn gaps_wait_then_fill_and_duplicates_change_nothing() {
    let list = RevocationList::new();
    let d = |from, to, id| Delta {
        base: 0,
        head: 0,
        epoch: 0,
        from,
        to,
        entries: vec![entry(Target::Token, id, 1_000)],
    };
    assert_eq!(list.apply_delta_at(d(0, 2, 1), 0), Applied::Advanced(2));
    assert_eq!(
        list.apply_delta_at(d(0, 2, 1), 0),
        Applied::Unchanged,
        "duplicate"
    );
    assert_eq!(
        list.apply_delta_at(d(4, 6, 3), 0),
        Applied::Gap { have: 2, needs: 4 }
    );
    assert!(
        !list.is_revoked(3, None, 0, 0, 0),
        "a gapped delta is not applied yet"
    );
    assert_eq!(
        list.apply_delta_at(d(2, 4, 2), 0),
        Applied::Advanced(6),
        "the missing piece pulls in the waiting one"
    );
    assert!(list.is_revoked(3, None, 0, 0, 0) && list.is_revoked(2, None, 0, 0, 0));
    // A snapshot older than the list: the log went back (or it is a stale copy). The list
    // follows it from there and keeps every entry it held.
    assert_eq!(
        list.apply_snapshot_at(
            Snapshot {
                head: 0,
                epoch: 0,
                version: 5,
                entries: vec![]
            },
            0
        ),
        Applied::Resynced(5)
    );
    assert!(list.is_revoked(3, None, 0, 0, 0) && list.is_revoked(2, None, 0, 0, 0));
    assert_eq!(list.len(), 3);
}

#[tokio::test]
async fn a_gap_the_log_no_longer_covers_makes_the_syncer_fetch_a_snapshot() {
    let log = std::sync::Mutex::new(Log::new());
    log.lock()
        .expect("log")
        .append(&[entry(Target::Token, 1, 50)]);
    let list = Arc::new(RevocationList::new());
    let syncer = Syncer::new(list.clone());
    let fetch = |since: Option<u64>| {
        let c = log.lock().expect("log").changes_since(since, 10);
        async move { c.encode() }
    };
    assert_eq!(
        syncer.sync_once(10, fetch).await.expect("sync"),
        Applied::Advanced(1)
    );
    // Entry 1 expires and is pruned; the floor passes the verifier's version.
    {
        let mut l = log.lock().expect("log");
        l.append(&[entry(Target::Session, 2, 500)]);
        l.append(&[entry(Target::Token, 3, 60)]);
        l.prune(61);
    }
    let fetch = |since: Option<u64>| {
        let c = log.lock().expect("log").changes_since(since, 61);
        async move { c.encode() }
    };
    let applied = syncer.sync_once(61, fetch).await.expect("sync");
    assert_eq!(
        applied,
        Applied::Advanced(3),
        "a snapshot at the log's version"
    );
    assert!(list.is_revoked(0, Some(2), 0, 0, 61), "session 2 is listed");
    assert!(
        !list.is_revoked(2, None, 0, 0, 61),
        "as a session, not as a token id"
    );
    // Corrupt data leaves the list as it was.
    let bad = |_| async { Ok(vec![1, 2, 3]) };
    assert_eq!(
        syncer.sync_once(62, bad).await.expect_err("corrupt").kind(),
        ErrorKind::Malformed
    );
    assert_eq!(list.version(), 3);
}

#[tokio::test]
async fn verifier_refuses_revoked_tokens_by_jti_session_and_subject_even_from_its_cache() {
    let (clock, keys, issuer) = manual_issuer();
    let list = Arc::new(RevocationList::new());
    let verifier = Verifier::builder("iss", "aud", keys)
        .clock(clock.clone())
        .revocations(list.clone())
        .build()
        .expect("v");
    async fn sync(issuer: &Issuer<MemoryStore>, list: &RevocationList, now: u64) {
        let c = issuer
            .revocation_changes(Some(list.version()))
            .await
            .expect("changes");
        list.apply_at(c, now);
    }

    let a = issuer.login(Login::new("alice")).await.expect("login");
    let b = issuer.login(Login::new("bob")).await.expect("login");
    let c = issuer.login(Login::new("carol")).await.expect("login");
    // A list that never synced fails closed: bring it up to date first.
    sync(&issuer, &list, clock.now()).await;
    for p in [&a, &b, &c] {
        verifier
            .verify(p.access.as_str())
            .expect("valid and now cached");
    }
    issuer.logout(a.session_id).await.expect("logout");
    issuer
        .revoke_access_token(b.access.jti(), b.access.expires_at())
        .await
        .expect("revoke jti");
    issuer
        .revoke_subject_tokens_before("carol", clock.now() + 1)
        .await
        .expect("watermark");
    sync(&issuer, &list, clock.now()).await;
    for p in [&a, &b, &c] {
        assert_eq!(
            verifier
                .verify(p.access.as_str())
                .expect_err("revoked")
                .kind(),
            ErrorKind::Revoked
        );
    }
    // Carol's tokens issued after the watermark are fine.
    clock.advance(2);
    let c2 = issuer.refresh(c.refresh.expose()).await.expect("refresh");
    verifier
        .verify(c2.access.as_str())
        .expect("issued after the watermark");
}

/// A logout on the issuer is refused by two independent verifiers within one sync interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_verifiers_refuse_a_logout_within_one_sync_interval() {
    let interval = Duration::from_millis(250);
    let minter = Minter::new(
        SigningKey::generate(Algorithm::ES256).expect("k"),
        "iss",
        "aud",
    )
    .expect("m");
    let keys = minter.keys().verifying_keys();
    let issuer = Arc::new(
        Issuer::builder(MemoryStore::new(), minter)
            .ephemeral_refresh_secrets()
            .build()
            .expect("issuer"),
    );
    let mut verifiers = Vec::new();
    let mut lists = Vec::new();
    for _ in 0..2 {
        let list = Arc::new(RevocationList::new());
        lists.push(list.clone());
        let verifier = Verifier::builder("iss", "aud", keys.clone())
            .revocations(list.clone())
            .build()
            .expect("v");
        let syncer = Arc::new(Syncer::new(list));
        let issuer = issuer.clone();
        tokio::spawn(async move {
            let fetch = move |since: Option<u64>| {
                let issuer = issuer.clone();
                async move { issuer.revocation_changes(since).await?.encode() }
            };
            syncer
                .run(interval, &SystemClock, fetch, tokio::time::sleep, |e| {
                    panic!("sync failed: {e}")
                })
                .await;
        });
        verifiers.push(verifier);
    }
    let pair = issuer.login(Login::new("alice")).await.expect("login");
    // Until its first sync a verifier fails closed; wait for both syncers' first round.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lists.iter().any(|l| l.synced_at() == 0) {
        assert!(Instant::now() < deadline, "the syncers never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for v in &verifiers {
        v.verify(pair.access.as_str()).expect("valid before logout");
    }
    let logged_out = Instant::now();
    issuer.logout(pair.session_id).await.expect("logout");
    let mut refused_after = Vec::new();
    for v in &verifiers {
        loop {
            match v.verify(pair.access.as_str()) {
                Err(e) if e.kind() == ErrorKind::Revoked => break,
                Ok(_) => assert!(
                    logged_out.elapsed() < interval * 3,
                    "still accepted after {:?}",
                    logged_out.elapsed()
                ),
                Err(e) => panic!("unexpected {e}"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        refused_after.push(logged_out.elapsed());
    }
    // One interval plus scheduling slack on a shared 2-core machine.
    for t in &refused_after {
        assert!(
            *t <= interval + Duration::from_millis(250),
            "refused only after {t:?}"
        );
    }
    let _ = SystemClock.now();
}

#[test]
fn a_recreated_log_is_recognised_by_its_epoch() {
    let list = RevocationList::new();
    let snap = |epoch, version, id| Snapshot {
        head: 0,
        epoch,
        version,
        entries: vec![entry(Target::Token, id, 1_000)],
    };
    assert_eq!(
        list.apply_snapshot_at(snap(7, 10, 1), 0),
        Applied::Advanced(10)
    );
    // Same log, older version: the log went back; followed from there, nothing forgotten.
    assert_eq!(
        list.apply_snapshot_at(snap(7, 5, 2), 0),
        Applied::Resynced(5)
    );
    assert!(list.is_revoked(1, None, 0, 0, 0) && list.is_revoked(2, None, 0, 0, 0));
    // Another log (the store lost its history and started over): a delta is a gap...
    let d = Delta {
        base: 0,
        head: 0,
        epoch: 9,
        from: 1,
        to: 2,
        entries: vec![entry(Target::Token, 3, 1_000)],
    };
    assert!(matches!(list.apply_delta_at(d, 0), Applied::Gap { .. }));
    // ...and its snapshot is followed even at a lower version; what the list held stays in
    // force until it expires (the new log lost those revocations, the tokens did not die).
    assert_eq!(
        list.apply_snapshot_at(snap(9, 2, 3), 0),
        Applied::Resynced(2)
    );
    assert_eq!(list.version(), 2);
    assert!(list.is_revoked(3, None, 0, 0, 0) && list.is_revoked(1, None, 0, 0, 0));
    assert!(!list.is_revoked(1, None, 0, 0, 1_000), "until they expire");
    let bytes = Changes::Snapshot(snap(9, 2, 3)).encode().expect("encode");
    assert_eq!(
        Changes::decode(&bytes).expect("decode"),
        Changes::Snapshot(snap(9, 2, 3)),
        "epoch travels in the encoding"
    );
}

/// The seeds were written by `tests/data/revocations/encode.py`, a few lines of Python written
/// from the documented format rather than from the Rust code: they must decode to what that
/// encoder meant.
#[test]
fn the_documented_format_decodes_from_an_independent_encoder() {
    // The same bytes, after a mode byte, seeded the revocations fuzz target (fuzz/corpus/revocations).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/revocations");
    let snapshot = std::fs::read(format!("{dir}/seed-snapshot")).expect("seed");
    let Changes::Snapshot(s) = Changes::decode(&snapshot).expect("decode") else {
        panic!("snapshot")
    };
    assert_eq!(
        (s.epoch, s.version, s.head, s.entries.len()),
        (7, 3, 0x1111, 4)
    );
    assert_eq!(
        s.entries[3],
        Entry {
            target: Target::Subject,
            id: 4,
            before: 1100,
            expires: 1600
        }
    );
    assert_eq!(
        s.entries[2],
        Entry {
            target: Target::Session,
            id: 3,
            before: 0,
            expires: 1500
        }
    );
    let delta = std::fs::read(format!("{dir}/seed-delta")).expect("seed");
    let Changes::Delta(d) = Changes::decode(&delta).expect("decode") else {
        panic!("delta")
    };
    assert_eq!(
        (d.epoch, d.from, d.to, d.base, d.head),
        (7, 3, 5, 0x1111, 0x2222)
    );
    assert_eq!(
        d.entries,
        vec![Entry {
            target: Target::Token,
            id: 9,
            before: 0,
            expires: 1300
        }]
    );
}

/// An issuer on a manual clock, and the verifying keys of its minter.
fn manual_issuer() -> (
    Arc<ManualClock>,
    tidepass::keys::VerifyingKeys,
    Issuer<MemoryStore>,
) {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("k"),
        "iss",
        "aud",
    )
    .expect("m")
    .with_clock(clock.clone());
    let keys = minter.keys().verifying_keys();
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .clock(clock.clone())
        .build()
        .expect("issuer");
    (clock, keys, issuer)
}

/// A verifier cut off from the feed fails closed once its list is older than `max_staleness`
/// (and before its first sync); an up-to-date poll keeps it fresh; fail-open is a choice.
#[tokio::test]
async fn a_verifier_whose_list_went_stale_fails_closed_unless_told_otherwise() {
    use tidepass::verify::WhenStale;
    let (clock, keys, issuer) = manual_issuer();
    let list = Arc::new(RevocationList::new());
    let verifier = |when: WhenStale| {
        Verifier::builder("iss", "aud", keys.clone())
            .revocations(list.clone())
            .max_staleness(Duration::from_secs(60))
            .when_stale(when)
            .clock(clock.clone())
            .build()
            .expect("v")
    };
    let (closed, open) = (
        verifier(WhenStale::FailClosed),
        verifier(WhenStale::FailOpen),
    );
    let pair = issuer.login(Login::new("alice")).await.expect("login");
    let token = pair.access.as_str();
    let e = closed.verify(token).expect_err("never synced");
    assert_eq!(e.kind(), ErrorKind::RevocationsStale);
    assert!(!e.is_rejected() && e.is_fetch(), "not the client's fault");
    assert_eq!(
        tidepass::http::Rejection::from_error(&e, "api", None).status,
        503
    );
    open.verify(token).expect("fail open verifies anyway");

    let syncer = Syncer::new(list.clone());
    let fetch = |since: Option<u64>| {
        let issuer = &issuer;
        async move { issuer.revocation_changes(since).await?.encode() }
    };
    syncer.sync_once(clock.now(), &fetch).await.expect("sync");
    closed.verify(token).expect("fresh");
    // Quiet system: up-to-date polls (v..v) keep the list fresh.
    for _ in 0..5 {
        clock.advance(50);
        syncer.sync_once(clock.now(), &fetch).await.expect("poll");
        closed.verify(token).expect("still fresh");
    }
    assert_eq!(list.age_at(clock.now()), Some(0));
    // Cut off: 61 s without a sync and the verifier fails closed, from its cache too.
    clock.advance(61);
    assert_eq!(
        closed.verify(token).expect_err("stale").kind(),
        ErrorKind::RevocationsStale
    );
    open.verify(token).expect("fail open");
    syncer.sync_once(clock.now(), &fetch).await.expect("back");
    closed.verify(token).expect("synced again");
}

/// The signed feed: only what the issuer's key signed is applied; a forged "freeze" snapshot, a
/// tampered or unsigned feed, an access token passed off as a feed, and a replayed older feed
/// are refused and change nothing; the list's age counts from the issuer's signature.
#[tokio::test]
async fn a_signed_feed_is_applied_only_when_the_issuers_key_signed_it() {
    use tidepass::revocation::Snapshot;
    let (clock, keys, issuer) = manual_issuer();
    let list = Arc::new(RevocationList::new());
    let syncer = Syncer::new(list.clone());
    let fetch = |since: Option<u64>| {
        let issuer = &issuer;
        async move { issuer.signed_revocation_changes(since).await }
    };
    let p = issuer.login(Login::new("alice")).await.expect("login");
    issuer.logout(p.session_id).await.expect("logout");
    syncer
        .sync_signed_once(clock.now(), &keys, "iss", &fetch)
        .await
        .expect("signed sync");
    let sid = tidepass::revocation::session_id(&p.session_id.to_string());
    assert!(list.is_revoked(0, Some(sid), 0, 0, clock.now()));
    let (version, synced) = (list.version(), list.synced_at());
    let old_feed = issuer.signed_revocation_changes(None).await.expect("feed");

    // The freeze attack: a snapshot at a huge version, signed by a key the verifier lacks.
    let forger = SigningKey::generate(Algorithm::EdDSA).expect("k");
    let freeze = Changes::Snapshot(Snapshot {
        head: 0,
        epoch: 0,
        version: u64::MAX - 1,
        entries: vec![],
    });
    let forged = freeze.sign(&forger, "iss", clock.now()).expect("sign");
    let unchanged = |what: &str| {
        assert_eq!(
            (list.version(), list.synced_at()),
            (version, synced),
            "{what}"
        );
        assert!(list.is_revoked(0, Some(sid), 0, 0, clock.now()), "{what}");
    };
    assert!(
        list.apply_signed_at(&forged, &keys, "iss", clock.now())
            .is_err()
    );
    unchanged("forged");
    // Tampered: one character of the payload changed.
    let mut tampered: Vec<char> = old_feed.chars().collect();
    let mid = old_feed.find('.').expect("dot") + 5;
    tampered[mid] = if tampered[mid] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    assert!(
        list.apply_signed_at(&tampered, &keys, "iss", clock.now())
            .is_err()
    );
    unchanged("tampered");
    // Unsigned (the plain binary encoding as text) and an access token passed off as a feed.
    let plain = String::from_utf8_lossy(&freeze.encode().expect("encode")).into_owned();
    assert!(
        list.apply_signed_at(&plain, &keys, "iss", clock.now())
            .is_err()
    );
    assert_eq!(
        list.apply_signed_at(p.access.as_str(), &keys, "iss", clock.now())
            .expect_err("an access token is not a feed")
            .kind(),
        ErrorKind::InvalidType
    );
    unchanged("unsigned / access token");

    // Later, a fresh feed; then the old one replayed: refused, and it cannot refresh the age.
    clock.advance(120);
    syncer
        .sync_signed_once(clock.now(), &keys, "iss", &fetch)
        .await
        .expect("fresh");
    assert_eq!(list.synced_at(), clock.now());
    let e = list
        .apply_signed_at(&old_feed, &keys, "iss", clock.now())
        .expect_err("replayed");
    assert_eq!(e.kind(), ErrorKind::FeedReplayed);
    assert_eq!(
        list.synced_at(),
        clock.now(),
        "a replay does not count as a sync"
    );
    // The age counts from the signature: a feed signed long ago is old on arrival.
    clock.advance(600);
    let late = issuer.signed_revocation_changes(None).await.expect("feed");
    clock.advance(400);
    list.apply_signed_at(&late, &keys, "iss", clock.now())
        .expect("applies");
    assert_eq!(list.age_at(clock.now()), Some(400));
}

/// A feed names the issuer whose log it is, and a verifier takes only its own issuer's: with
/// two logs under one signing key (two tenants, staging and production), the other log's
/// genuine, current feed is refused and does not count as a sync, so a verifier cut off from
/// its own log still goes stale and fails closed (before, it was applied as a fresh sync).
#[tokio::test]
async fn another_logs_feed_under_the_same_key_is_not_a_sync() {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let key = SigningKey::generate(Algorithm::EdDSA).expect("k");
    let pem = key.export_private().expect("pem");
    let issuer_for = |iss: &str| {
        let key = SigningKey::from_pem(pem.as_bytes(), Some(Algorithm::EdDSA)).expect("same key");
        let minter = Minter::new(key, iss, "aud")
            .expect("m")
            .with_clock(clock.clone());
        Issuer::builder(MemoryStore::new(), minter)
            .ephemeral_refresh_secrets()
            .clock(clock.clone())
            .build()
            .expect("issuer")
    };
    let (ours, theirs) = (
        issuer_for("https://a.example"),
        issuer_for("https://b.example"),
    );
    let keys = ours.minter().keys().verifying_keys();
    let list = Arc::new(RevocationList::new());
    let p = ours.login(Login::new("alice")).await.expect("login");
    ours.logout(p.session_id).await.expect("logout");
    let feed = ours.signed_revocation_changes(None).await.expect("feed");
    list.apply_signed_at(&feed, &keys, "https://a.example", clock.now())
        .expect("our own feed");
    let (version, synced) = (list.version(), list.synced_at());
    let sid = tidepass::revocation::session_id(&p.session_id.to_string());
    assert!(list.is_revoked(0, Some(sid), 0, 0, clock.now()));

    clock.advance(600);
    let other = theirs.signed_revocation_changes(None).await.expect("feed");
    let e = list
        .apply_signed_at(&other, &keys, "https://a.example", clock.now())
        .expect_err("another log's feed");
    assert_eq!(e.kind(), ErrorKind::InvalidIssuer);
    assert_eq!((list.version(), list.synced_at()), (version, synced));
    assert_eq!(
        list.age_at(clock.now()),
        Some(600),
        "still as stale as it was"
    );
}
