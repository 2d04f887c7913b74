//! Verification: tidepass (cold and warm) beside raw ring, jsonwebtoken 11 and jwt-simple, on
//! the same token, in the same run.
//!
//! `cargo bench --bench verify`

#![allow(missing_docs)] // criterion_group! generates undocumented public items

mod common;

use common::*;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tidepass::keys::{Algorithm, VerifyingKeys};
use tidepass::{AccessClaims, Minter, Verifier};

fn bench(c: &mut Criterion) {
    let provider = jwt_provider();
    for alg in ALGS {
        let key = signing_key(alg);
        let (_, decoding) = jwt_keys(&key);
        let raw = raw_verifier(&key);
        let simple = jwt_simple_verify(alg, &key);
        let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let cold = Verifier::builder(ISS, AUD, keys.clone())
            .cache_capacity(0)
            .build()
            .expect("v");
        let precise = Verifier::builder(ISS, AUD, keys.clone())
            .clock(tidepass::clock::SystemClock)
            .build()
            .expect("v");
        let warm = Verifier::builder(ISS, AUD, keys).build().expect("v");
        let (_, token, now) = minted(key);
        let token = token.as_str();
        let (input, signature) = signing_input(token);
        let validation = jwt_validation(alg);

        // Every contender must accept the token, or the numbers mean nothing.
        assert!(raw(&input, &signature));
        assert!(simple(token));
        cold.verify_at(token, now).expect("cold");
        warm.verify_at(token, now).expect("warm");
        warm.verify(token).expect("warm, on the clock");
        precise.verify(token).expect("warm, on SystemTime");
        jsonwebtoken::decode::<AccessClaims>(token, &decoding, &validation).expect("jsonwebtoken");

        let mut g = c.benchmark_group(format!("verify/{alg}"));
        let only = only_jsonwebtoken();
        if !only {
            g.bench_function("ring_raw", |b| {
                b.iter(|| raw(black_box(&input), black_box(&signature)))
            });
            g.bench_function("tidepass_cold", |b| {
                b.iter(|| cold.verify_at(black_box(token), now).is_ok())
            });
            g.bench_function("tidepass_warm", |b| {
                b.iter(|| warm.verify_at(black_box(token), now).is_ok())
            });
            // The call users make: it reads the verifier's clock.
            g.bench_function("tidepass_warm_verify", |b| {
                b.iter(|| warm.verify(black_box(token)).is_ok())
            });
            // The same on std's SystemTime (the default before the coarse clock).
            g.bench_function("tidepass_warm_verify_systemtime", |b| {
                b.iter(|| precise.verify(black_box(token)).is_ok())
            });
        }
        g.bench_function(format!("jsonwebtoken_{provider}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims>(black_box(token), &decoding, &validation)
                    .is_ok()
            })
        });
        if !only {
            g.bench_function("jwt_simple", |b| b.iter(|| simple(black_box(token))));
        }
        g.finish();
    }
    run_aws_lc_child();
}

/// A stream of distinct tokens through a verifier whose cache is full: each verification
/// inserts and evicts. The cost per verification must not grow with the cache's size.
fn cache_churn(c: &mut Criterion) {
    let key =
        tidepass::keys::SigningKey::from_hmac_secret(Algorithm::HS256, &[7u8; 32]).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let minter = Minter::new(key, ISS, AUD)
        .expect("minter")
        .with_ttl(std::time::Duration::from_secs(3600));
    let now = jsonwebtoken::get_current_timestamp();
    let tokens: Vec<String> = (0..150_000)
        .map(|i| {
            minter
                .token(&format!("user-{i}"))
                .mint_at(now)
                .expect("mint")
                .into_string()
        })
        .collect();
    let mut g = c.benchmark_group("cache_churn/HS256");
    for capacity in [0, 1_024, 65_536] {
        let v = Verifier::builder(ISS, AUD, keys.clone())
            .cache_capacity(capacity)
            .build()
            .expect("v");
        for t in &tokens {
            v.verify_at(t, now).expect("verify"); // fill the cache
        }
        let mut i = 0;
        g.bench_function(format!("distinct_tokens_capacity_{capacity}"), |b| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                v.verify_at(black_box(&tokens[i]), now).is_ok()
            })
        });
    }
    // The same cache built on quick_cache (a well-kept crate, the candidate) in front
    // of tidepass's cold path: keyed by the whole token, holding the verified claims. What a
    // quick_cache-backed verifier would cost at least, beside the CLOCK slab above.
    let cold = Verifier::builder(ISS, AUD, keys.clone())
        .cache_capacity(0)
        .build()
        .expect("v");
    for capacity in [1_024, 65_536] {
        let cache: quick_cache::sync::Cache<Box<str>, std::sync::Arc<tidepass::Verified>> =
            quick_cache::sync::Cache::new(capacity);
        let through = |t: &str| -> bool {
            if let Some(v) = cache.get(t) {
                return !v.sub.is_empty();
            }
            match cold.verify_at(t, now) {
                Ok(v) => {
                    cache.insert(t.into(), std::sync::Arc::new(v));
                    true
                }
                Err(_) => false,
            }
        };
        for t in &tokens {
            assert!(through(t)); // fill the cache
        }
        let mut i = 0;
        g.bench_function(
            format!("quick_cache_distinct_tokens_capacity_{capacity}"),
            |b| {
                b.iter(|| {
                    i = (i + 1) % tokens.len();
                    through(black_box(&tokens[i]))
                })
            },
        );
        g.bench_function(format!("quick_cache_hit_capacity_{capacity}"), |b| {
            b.iter(|| through(black_box(&tokens[tokens.len() - 1])))
        });
    }
    let warm = Verifier::builder(ISS, AUD, keys)
        .cache_capacity(65_536)
        .build()
        .expect("v");
    let hot = &tokens[0];
    warm.verify_at(hot, now).expect("verify");
    g.bench_function("tidepass_hit_capacity_65536", |b| {
        b.iter(|| warm.verify_at(black_box(hot), now).is_ok())
    });
    g.finish();
}

/// DPoP (RFC 9449) beside bearer verification of the same kind of token (EdDSA-signed, the
/// issuer's default): a request under the `DPoP` scheme costs the token's verification plus one
/// proof check (the proof's JWK parsed, its signature checked, `ath` hashed, its `jti`
/// recorded). Proofs are single-use, so every iteration takes the next of a pool made before
/// the run; a fresh verifier (empty replay cache) takes over when the pool is used up, outside
/// the measured time.
fn dpop(c: &mut Criterion) {
    use std::cell::RefCell;
    use tidepass::client::DpopKey;
    const POOL: usize = 20_000;
    const URL: &str = "https://api.example/orders";
    let key = tidepass::keys::SigningKey::generate(Algorithm::EdDSA).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let minter = Minter::new(key, ISS, AUD)
        .expect("minter")
        .with_ttl(std::time::Duration::from_secs(3600));
    let now = jsonwebtoken::get_current_timestamp();
    let mut g = c.benchmark_group("dpop/EdDSA_token");
    let plain = minter
        .token("user-42")
        .mint_at(now)
        .expect("mint")
        .into_string();
    for capacity in [0, 1_024] {
        let v = Verifier::builder(ISS, AUD, keys.clone())
            .cache_capacity(capacity)
            .build()
            .expect("v");
        let name = if capacity == 0 { "cold" } else { "warm" };
        v.verify_at(&plain, now).expect("bearer");
        g.bench_function(format!("bearer_{name}"), |b| {
            b.iter(|| v.verify_at(black_box(&plain), now).is_ok())
        });
    }
    for proof_alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let device = DpopKey::generate(proof_alg).expect("device key");
        let bound = minter
            .token("user-42")
            .dpop_jkt(device.thumbprint())
            .mint_at(now)
            .expect("mint")
            .into_string();
        let proofs: Vec<String> = (0..POOL)
            .map(|_| {
                device
                    .proof_at("GET", URL, Some(&bound), None, now)
                    .expect("proof")
            })
            .collect();
        // The floor: one raw ring verification of a proof's signature, in the same run.
        {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let (head, sig) = proofs[0].rsplit_once('.').expect("jws");
            let header: serde_json::Value = serde_json::from_slice(
                &b64.decode(head.split('.').next().expect("h")).expect("b64"),
            )
            .expect("json");
            let coord = |m: &str| {
                b64.decode(header["jwk"][m].as_str().expect("member"))
                    .expect("b64")
            };
            let (alg, public): (&'static dyn ring::signature::VerificationAlgorithm, Vec<u8>) =
                if proof_alg == Algorithm::ES256 {
                    let mut p = vec![4u8];
                    p.extend(coord("x"));
                    p.extend(coord("y"));
                    (&ring::signature::ECDSA_P256_SHA256_FIXED, p)
                } else {
                    (&ring::signature::ED25519, coord("x"))
                };
            let sig = b64.decode(sig).expect("b64");
            let raw = ring::signature::UnparsedPublicKey::new(alg, public);
            assert!(raw.verify(head.as_bytes(), &sig).is_ok());
            g.bench_function(format!("ring_raw_proof_{proof_alg}"), |b| {
                b.iter(|| {
                    raw.verify(black_box(head.as_bytes()), black_box(&sig))
                        .is_ok()
                })
            });
        }
        for capacity in [0, 1_024] {
            let make = || {
                Verifier::builder(ISS, AUD, keys.clone())
                    .cache_capacity(capacity)
                    .build()
                    .expect("v")
            };
            let v = RefCell::new(make());
            let name = if capacity == 0 { "cold" } else { "warm" };
            v.borrow()
                .verify_dpop_at(&bound, &proofs[0], "GET", URL, now)
                .expect("DPoP");
            let mut i = 1;
            g.bench_function(format!("dpop_{name}_proof_{proof_alg}"), |b| {
                b.iter_batched(
                    || {
                        if i == POOL {
                            i = 0;
                            *v.borrow_mut() = make();
                        }
                        i += 1;
                        i - 1
                    },
                    |n| {
                        v.borrow()
                            .verify_dpop_at(black_box(&bound), &proofs[n], "GET", URL, now)
                            .is_ok()
                    },
                    criterion::BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, cache_churn, dpop);
criterion_main!(benches);
