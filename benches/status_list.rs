//! The Token Status List at a million sessions (one 1-bit entry each), with 0.1% and 10% of
//! them revoked at random: the Status List Token's size on the wire, the time to encode and
//! sign it (what the issuer does per publication), the time to verify and decode it (what a
//! verifier does per fetch), and the time to check one entry (per request); then the issuer's
//! whole publication (log snapshot, list, encode, sign: `Issuer::status_list`) and what the
//! `status` claim adds to a verification.
//!
//! `cargo bench --bench status_list --features status-list`

#![allow(missing_docs)] // criterion_group! generates undocumented public items

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tidepass::issuer::StatusLists;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::status_list::{Bits, HeldLists, Status, StatusList, token};
use tidepass::revocation::{Entry, Target};
use tidepass::store::SessionStore;
use tidepass::{Issuer, MemoryStore, Minter, Verifier};

const ENTRIES: usize = 1 << 20;
const NOW: u64 = 1_800_000_000;
const URI: &str = "https://auth.example/statuslists/0";

/// `per_mille` of `ENTRIES` distinct, well-spread indices (splitmix64).
fn revoked(per_mille: usize) -> Vec<usize> {
    let mut seen = vec![false; ENTRIES];
    let mut out = Vec::new();
    let mut x = 42u64;
    while out.len() < ENTRIES * per_mille / 1000 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let idx = usize::try_from((z ^ (z >> 31)) % ENTRIES as u64).expect("idx");
        if !seen[idx] {
            seen[idx] = true;
            out.push(idx);
        }
    }
    out
}

/// A list of `ENTRIES` with `per_mille` of them INVALID.
fn list(per_mille: usize) -> StatusList {
    let mut list = StatusList::new(Bits::One, ENTRIES).expect("list");
    for idx in revoked(per_mille) {
        list.set(idx, Status::INVALID).expect("set");
    }
    list
}

/// An issuer over a memory store whose log holds a revoked session for each of `per_mille`
/// of a million indices (all handed out), building its list on every call.
fn issuer(per_mille: usize) -> Issuer<MemoryStore> {
    let store = MemoryStore::new();
    let rt = runtime();
    rt.block_on(async {
        store
            .reserve_status_indices(ENTRIES as u64)
            .await
            .expect("reserve");
        let entries: Vec<Entry> = revoked(per_mille)
            .into_iter()
            .enumerate()
            .map(|(n, idx)| Entry {
                target: Target::Session,
                id: n as u128 + 1,
                before: idx as u64 + 1,
                expires: u64::MAX / 2,
            })
            .collect();
        for chunk in entries.chunks(4096) {
            store.append_revocations(chunk).await.expect("append");
        }
    });
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
    let lists = StatusLists::new("https://auth.example/statuslists")
        .and_then(|l| l.rebuild_after(std::time::Duration::ZERO))
        .expect("lists");
    Issuer::builder(store, minter)
        .ephemeral_refresh_secrets()
        .status_lists(lists)
        .build()
        .expect("issuer")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
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
    let rt = runtime();
    for (name, per_mille) in [("0.1%", 1), ("10%", 100)] {
        let issuer = issuer(per_mille);
        c.bench_function(&format!("status_list/issuer_publishes/{name}"), |b| {
            b.iter(|| {
                rt.block_on(issuer.status_list(0))
                    .expect("store")
                    .expect("list 0")
            })
        });
    }
    // What the claim adds to a verification (no token cache: every call parses and checks).
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    let held = std::sync::Arc::new(HeldLists::new());
    let jwt = token::sign(&key, URI, &list(1), NOW, NOW + 3600, 300).expect("sign");
    held.put(
        URI,
        token::verify(&jwt, &keys, URI, NOW).expect("verify"),
        NOW,
    );
    let verifier = Verifier::builder(
        "https://auth.example",
        "api",
        minter.keys().verifying_keys(),
    )
    .cache_capacity(0)
    .status_lists(held)
    .build()
    .expect("verifier");
    let plain = minter.token("alice").sid("s").mint().expect("mint");
    let listed = minter
        .token("alice")
        .sid("s")
        .status(4242, URI)
        .mint()
        .expect("mint");
    for (name, t) in [("without_status", &plain), ("with_status", &listed)] {
        verifier.verify(t.as_str()).expect("valid");
        c.bench_function(&format!("status_list/verify_access_token/{name}"), |b| {
            b.iter(|| verifier.verify(black_box(t.as_str())).expect("valid"))
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
