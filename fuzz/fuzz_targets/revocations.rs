//! The revocation-list decoder and the list behind it. The harness recomputes the checksum
//! (for inputs whose first byte is even), so the decoder's field checks and the list's
//! delta/snapshot/gap/divergence logic are reached instead of dying at the trailer. Hostile
//! bytes are refused without a panic; whatever decodes re-encodes to the same changes; and
//! applying anything never makes the list forget an entry it held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidepass::revocation::{Applied, Changes, Entry, RevocationList, Snapshot, Target};

const FAR: u64 = 4_000_000_000;

fn held() -> RevocationList {
    let list = RevocationList::new();
    let entries = (1..=3u128)
        .map(|id| Entry {
            target: [Target::Token, Target::Session, Target::Subject][id as usize - 1],
            id,
            before: 500,
            expires: FAR,
        })
        .collect();
    list.apply_snapshot_at(
        Snapshot {
            epoch: 7,
            version: 5,
            head: 0x1111,
            entries,
        },
        0,
    );
    list
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode % 2 == 0 && bytes.len() >= 8 {
        let n = bytes.len() - 8;
        let sum = ring::digest::digest(&ring::digest::SHA256, &bytes[..n]);
        bytes[n..].copy_from_slice(&sum.as_ref()[..8]);
    }
    let Ok(changes) = Changes::decode(&bytes) else {
        return;
    };
    let again = Changes::decode(&changes.encode().expect("re-encode")).expect("decode again");
    assert_eq!(again, changes);
    let list = held();
    let now = u64::from(mode) * 16;
    let applied = list.apply_at(changes.clone(), now);
    // Nothing held is ever forgotten (entries end only by expiring).
    assert!(list.is_revoked(1, None, 0, 0, now), "{applied:?}");
    assert!(list.is_revoked(0, Some(2), 0, 0, now), "{applied:?}");
    assert!(list.is_revoked(0, None, 3, 500, now), "{applied:?}");
    if matches!(applied, Applied::Advanced(_) | Applied::Resynced(_)) {
        let entries = match &changes {
            Changes::Snapshot(s) => &s.entries,
            Changes::Delta(d) => &d.entries,
        };
        for e in entries.iter().filter(|e| e.expires > now) {
            let revoked = match e.target {
                Target::Token => list.is_revoked(e.id, None, 0, 0, now),
                Target::Session => list.is_revoked(0, Some(e.id), 0, 0, now),
                Target::Subject => list.is_revoked(0, None, e.id, e.before, now),
            };
            assert!(revoked, "{e:?} applied but not in force ({applied:?})");
        }
    }
    // Applying the same changes again is idempotent.
    let version = list.version();
    let len = list.len();
    list.apply_at(changes, now);
    assert_eq!((list.version(), list.len()), (version, len));
});
