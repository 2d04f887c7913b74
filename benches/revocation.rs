//! The revocation list: lookup cost at 0, 10 k and 1 M entries (absent and present ids),
//! verify with and without a list, memory per entry (resident set, measured), encoded size,
//! and the time to apply a 1 M-entry snapshot and a 1 k-entry delta.
//!
//! `cargo bench --bench revocation`

#![allow(missing_docs)] // criterion_group! generates undocumented public items

use std::sync::Arc;

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::{Changes, Delta, Entry, RevocationList, Snapshot, Target};
use tidepass::{Minter, Verifier};

const NOW: u64 = 1_800_000_000;

/// A deterministic stream of well-spread 128-bit ids (splitmix64 pairs).
fn ids(seed: u64, n: usize) -> Vec<u128> {
    let mut x = seed;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| (u128::from(next()) << 64) | u128::from(next()))
        .collect()
}

fn entries(seed: u64, n: usize) -> Vec<Entry> {
    ids(seed, n)
        .into_iter()
        .enumerate()
        .map(|(i, id)| Entry {
            target: if i % 4 == 0 {
                Target::Session
            } else {
                Target::Token
            },
            id,
            before: 0,
            expires: NOW + 300 + (i as u64 % 600),
        })
        .collect()
}

fn list_of(n: usize) -> RevocationList {
    let list = RevocationList::new();
    list.apply_snapshot_at(
        Snapshot {
            head: 0,
            epoch: 0,
            version: 1,
            entries: entries(1, n),
        },
        NOW,
    );
    list
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Printed, not timed: resident memory per entry and encoded bytes per entry at 1 M.
///
/// glibc keeps freed heap memory (and raises its mmap threshold after large frees), which
/// would hide or inflate the list's own footprint; so the measurement runs in a child process
/// with a fixed mmap threshold, where every large temporary is returned to the OS when freed.
fn sizes() {
    if std::env::var_os("TIDEPASS_SIZES").is_none() {
        let status = std::process::Command::new(std::env::current_exe().expect("exe"))
            .env("TIDEPASS_SIZES", "1")
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            .status()
            .expect("size child");
        assert!(status.success(), "size measurement failed");
        return;
    }
    let n = 1_000_000;
    let encoded = Changes::Snapshot(Snapshot {
        head: 0,
        epoch: 0,
        version: 1,
        entries: entries(7, n),
    })
    .encode()
    .expect("encode");
    let before = rss_bytes();
    let list = RevocationList::new();
    list.apply_snapshot_at(
        Snapshot {
            head: 0,
            epoch: 0,
            version: 1,
            entries: entries(7, n),
        },
        NOW,
    );
    let after = rss_bytes();
    println!(
        "revocation/size: {} entries, resident {:.1} bytes/entry (RSS delta {} KiB), encoded {:.2} bytes/entry ({} bytes)",
        list.len(),
        (after.saturating_sub(before)) as f64 / n as f64,
        after.saturating_sub(before) / 1024,
        encoded.len() as f64 / n as f64,
        encoded.len(),
    );
    std::process::exit(0);
}

fn bench(c: &mut Criterion) {
    sizes();
    for n in [0usize, 10_000, 1_000_000] {
        let list = list_of(n);
        let present = ids(1, n.max(1))[n / 2];
        let absent = ids(99, 1)[0];
        let mut g = c.benchmark_group(format!("revocation/lookup_{n}"));
        g.bench_function("absent", |b| {
            b.iter(|| list.is_revoked(black_box(absent), None, 0, 0, NOW))
        });
        if n > 0 {
            g.bench_function("present", |b| {
                b.iter(|| list.is_revoked(black_box(present), None, 0, 0, NOW))
            });
        }
        g.finish();
    }

    // Verify (EdDSA, cache off) with no list and with a 1 M-entry list.
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let minter = Minter::new(key, "iss", "aud").expect("minter");
    let token = minter
        .token("user-42")
        .sid("AAAAAAAAAAAAAAAAAAAAAA")
        .mint_at(NOW)
        .expect("mint");
    let plain = Verifier::builder("iss", "aud", keys.clone())
        .cache_capacity(0)
        .build()
        .expect("v");
    let listed = Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .revocations(Arc::new(list_of(1_000_000)))
        .build()
        .expect("v");
    listed.verify_at(token.as_str(), NOW).expect("not revoked");
    let mut g = c.benchmark_group("revocation/verify_EdDSA");
    g.bench_function("without_list", |b| {
        b.iter(|| plain.verify_at(black_box(token.as_str()), NOW).is_ok())
    });
    g.bench_function("with_1M_list", |b| {
        b.iter(|| listed.verify_at(black_box(token.as_str()), NOW).is_ok())
    });
    g.finish();

    let mut g = c.benchmark_group("revocation/apply");
    g.sample_size(10);
    let snapshot = Snapshot {
        head: 0,
        epoch: 0,
        version: 1,
        entries: entries(3, 1_000_000),
    };
    g.bench_function("snapshot_1M", |b| {
        b.iter_batched(
            || snapshot.clone(),
            |s| RevocationList::new().apply_snapshot_at(s, NOW),
            BatchSize::LargeInput,
        )
    });
    let base = list_of(1_000_000);
    let delta = Delta {
        base: 0,
        head: 0,
        epoch: 0,
        from: 1,
        to: 2,
        entries: entries(5, 1_000),
    };
    g.bench_function("delta_1k_onto_1M", |b| {
        b.iter_batched(
            || {
                let l = RevocationList::new();
                l.apply_snapshot_at(base.snapshot(), NOW);
                l
            },
            |l| l.apply_delta_at(delta.clone(), NOW),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
