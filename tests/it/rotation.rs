//! Key rotation across time with a manual clock, and key swaps under concurrent verification.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tidepass::clock::ManualClock;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{ErrorKind, Minter, Verifier};

const T0: u64 = 1_800_000_000;
const TTL: u64 = 300;
const LEEWAY: u64 = 30;

#[test]
fn old_tokens_verify_until_expiry_and_not_after_the_key_is_dropped() {
    let clock = Arc::new(ManualClock::new(T0));
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("k"),
        "iss",
        "aud",
    )
    .expect("minter")
    .with_ttl(std::time::Duration::from_secs(TTL))
    .with_clock(clock.clone());
    let verifier = Verifier::builder("iss", "aud", minter.keys().verifying_keys())
        .leeway(std::time::Duration::from_secs(LEEWAY))
        .clock(clock.clone())
        .build()
        .expect("verifier");
    let old = minter.token("u").mint().expect("mint");

    clock.advance(10);
    minter.rotate_at(
        SigningKey::generate(Algorithm::EdDSA).expect("k2"),
        clock.now(),
        std::time::Duration::from_secs(LEEWAY),
    );
    verifier.set_keys(minter.keys().verifying_keys());
    let new = minter.token("u").mint().expect("mint");
    assert_ne!(
        old.as_str().split('.').next(),
        new.as_str().split('.').next(),
        "new kid"
    );
    assert_eq!(
        minter.keys().jwks()["keys"].as_array().map(Vec::len),
        Some(2)
    );

    // Both verify throughout the old token's life.
    for t in [T0 + 10, T0 + 200, T0 + TTL - 1] {
        clock.set(t);
        verifier
            .verify(old.as_str())
            .expect("old token before expiry");
        verifier.verify(new.as_str()).expect("new token");
    }
    // Past expiry plus leeway, the old token is refused for its time.
    clock.set(T0 + TTL + LEEWAY);
    assert_eq!(
        verifier.verify(old.as_str()).expect_err("expired").kind(),
        ErrorKind::Expired
    );

    // The retired key is kept until rotation time + ttl + leeway, then dropped.
    minter.prune_at(T0 + 10 + TTL + LEEWAY - 1);
    assert_eq!(
        minter.keys().verifying_keys().len(),
        2,
        "kept until its tokens expired"
    );
    minter.prune_at(T0 + 10 + TTL + LEEWAY);
    assert_eq!(minter.keys().verifying_keys().len(), 1);
    verifier.set_keys(minter.keys().verifying_keys());
    // Even at a time inside its old life, the old token now has no key.
    let e = verifier
        .verify_at(old.as_str(), T0 + 20)
        .expect_err("key dropped");
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
    verifier
        .verify_at(new.as_str(), T0 + 20)
        .expect("new key stays");
}

use tidepass::clock::Clock as _;

#[test]
fn key_swaps_never_break_concurrent_verification() {
    let a = SigningKey::generate(Algorithm::ES256).expect("a");
    let b = SigningKey::generate(Algorithm::ES256).expect("b");
    let (va, vb) = (a.verifying_key(), b.verifying_key());
    let minter = Minter::new(a, "iss", "aud").expect("minter");
    let token = minter.token("u").mint().expect("mint");
    // Two sets that both hold key a, in different orders and with or without b.
    let set1 = VerifyingKeys::from_keys([va.clone()]).expect("s1");
    let set2 = VerifyingKeys::from_keys([vb, va]).expect("s2");
    let verifier = Arc::new(
        Verifier::builder("iss", "aud", set1.clone())
            .cache_capacity(0)
            .build()
            .expect("v"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (v, stop, ok, t) = (verifier.clone(), stop.clone(), ok.clone(), token.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    v.verify(t.as_str())
                        .expect("token signed by a key in every set");
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Swap until the workers have verified plenty of times while swaps were happening.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut swaps = 0u64;
    while ok.load(Ordering::Relaxed) < 2000 && std::time::Instant::now() < deadline {
        verifier.set_keys(if swaps.is_multiple_of(2) {
            set2.clone()
        } else {
            set1.clone()
        });
        swaps += 1;
    }
    assert!(swaps > 100, "swaps happened: {swaps}");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("no verification failed during swaps");
    }
    assert!(ok.load(Ordering::Relaxed) >= 2000);
}
