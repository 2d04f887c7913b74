//! The Token Status List at a million sessions (one 1-bit entry each), with 0.1% and 10% of
//! them revoked at random: the Status List Token's size on the wire, the time to encode and
//! sign it (what the issuer does per publication), the time to verify and decode it (what a
//! verifier does per fetch), and the time to check one entry (per request).
//!
//! `cargo bench --bench status_list --features status-list`

#![allow(missing_docs)] // criterion_group! generates undocumented public items

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::status_list::{Bits, Status, StatusList, token};

const ENTRIES: usize = 1 << 20;
const NOW: u64 = 1_800_000_000;
const URI: &str = "https://auth.example/statuslists/0";

/// A list of `ENTRIES` with `per_mille` of them INVALID, at well-spread indices (splitmix64).
fn list(per_mille: usize) -> StatusList {
    let mut list = StatusList::new(Bits::One, ENTRIES).expect("list");
    let mut x = 42u64;
    let mut set = 0;
    while set < ENTRIES * per_mille / 1000 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let idx = usize::try_from((z ^ (z >> 31)) % ENTRIES as u64).expect("idx");
        if list.get(idx) == Some(Status::VALID) {
            list.set(idx, Status::INVALID).expect("set");
            set += 1;
        }
    }
    list
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    for (name, per_mille) in [("0.1%", 1), ("10%", 100)] {
        let l = list(per_mille);
        let jwt = token::sign(&key, URI, &l, NOW, NOW + 3600, 300).expect("sign");
        println!(
            "status list, {ENTRIES} entries, {name} revoked: raw {} bytes, lst {} characters, token {} bytes",
            l.as_bytes().len(),
            l.encode().expect("encode").lst.len(),
            jwt.len()
        );
        c.bench_function(&format!("status_list/encode_and_sign/{name}"), |b| {
            b.iter(|| token::sign(&key, URI, black_box(&l), NOW, NOW + 3600, 300).expect("sign"))
        });
        c.bench_function(&format!("status_list/verify_and_decode/{name}"), |b| {
            b.iter(|| token::verify(black_box(&jwt), &keys, URI, NOW + 1).expect("verify"))
        });
    }
    let l = list(1);
    let mut i = 0usize;
    c.bench_function("status_list/check_one_entry", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            black_box(l.get(black_box(i)))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
