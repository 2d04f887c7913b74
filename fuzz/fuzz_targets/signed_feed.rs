//! The signed revocation feed, reached: the harness builds snapshots and deltas from the input,
//! signs them with the fuzz key (so every input passes the signature), and then optionally
//! changes one character of the JWS. A signed feed decodes to exactly what was signed; a
//! changed one is refused; a refused feed changes nothing on the list.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::{Changes, Delta, Entry, RevocationList, Snapshot, Target};

static KEY: LazyLock<(SigningKey, VerifyingKeys)> = LazyLock::new(|| {
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &[9u8; 32]).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    (key, keys)
});

/// The issuer whose log the harness signs; a feed verifies only for it.
const ISS: &str = "https://auth.example";

#[derive(Arbitrary, Debug)]
struct Input {
    delta: bool,
    epoch: u64,
    from: u64,
    span: u64,
    base: u64,
    head: u64,
    /// (target, id, expiry offset, before offset)
    entries: Vec<(u8, u128, u32, u32)>,
    signed_at: u32,
    now: u32,
    tamper: Option<(u16, u8)>,
}

fuzz_target!(|input: Input| {
    let (key, keys) = &*KEY;
    let entries: Vec<Entry> = input
        .entries
        .iter()
        .map(|&(t, id, exp, before)| {
            let target = Target::from_code(t % 3).expect("code");
            Entry {
                target,
                id,
                before: if target == Target::Subject {
                    1_000 + u64::from(before)
                } else {
                    0
                },
                expires: 1_000 + u64::from(exp),
            }
        })
        .collect();
    let to = input.from.saturating_add(input.span);
    let changes = if input.delta {
        Changes::Delta(Delta {
            epoch: input.epoch,
            from: input.from,
            to,
            base: input.base,
            head: input.head,
            entries,
        })
    } else {
        Changes::Snapshot(Snapshot {
            epoch: input.epoch,
            version: to,
            head: input.head,
            entries,
        })
    };
    let Ok(feed) = changes.sign(key, ISS, u64::from(input.signed_at)) else {
        return; // entry times spanning over 2^32 s cannot be encoded
    };
    let (back, at) = Changes::verify_signed(&feed, keys, ISS).expect("own feed");
    assert_eq!(at, u64::from(input.signed_at));
    assert!(
        Changes::verify_signed(&feed, keys, "https://auth.example/other").is_err(),
        "another issuer's log verified"
    );
    let sorted = |c: &Changes| {
        let mut c = c.clone();
        match &mut c {
            Changes::Snapshot(s) => s.entries.sort_by_key(|e| (e.target, e.id)),
            Changes::Delta(d) => d.entries.sort_by_key(|e| (e.target, e.id)),
        }
        c
    };
    assert_eq!(sorted(&back), sorted(&changes));
    let list = RevocationList::new();
    let _ = list.apply_signed_at(&feed, keys, ISS, u64::from(input.now));
    if let Some((at, byte)) = input.tamper {
        let mut t = feed.clone().into_bytes();
        let at = usize::from(at) % t.len();
        t[at] = byte;
        if let Ok(text) = String::from_utf8(t) {
            if text != feed {
                assert!(
                    Changes::verify_signed(&text, keys, ISS).is_err(),
                    "a changed feed verified"
                );
                let fresh = RevocationList::new();
                assert!(
                    fresh
                        .apply_signed_at(&text, keys, ISS, u64::from(input.now))
                        .is_err()
                );
                assert_eq!((fresh.version(), fresh.len(), fresh.synced_at()), (0, 0, 0));
            }
        }
    }
});
