//! tidepass beside its peers in interleaved rounds: for every (operation, algorithm) cell, each
//! round times a batch of every contender in turn (the starting contender rotating), so a
//! noisy neighbour slows all of them alike; the report is each contender's median over the
//! rounds, and tidepass's ratio to the fastest peer.
//!
//! ```sh
//! cargo bench --bench peers                        # tidepass on ring
//! cargo bench --bench peers --features aws-lc-rs   # tidepass on aws-lc-rs
//! ```
//!
//! Peers: jsonwebtoken 11 on its own aws-lc-rs provider (installed for this process) and
//! jwt-simple 0.12; raw ring (the signature operation alone, key prepared once) is the floor
//! and is not counted as a peer. `PEERS_ROUNDS` (default 21) sets the rounds, `PEERS_ALGS`
//! (say `HS256,EdDSA`) the algorithms.

#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use tidepass::keys::{Algorithm, VerifyingKeys};
use tidepass::{AccessClaims, Verifier};

type Op<'a> = Box<dyn Fn() + 'a>;

/// Median nanoseconds per call of each contender, over interleaved rounds.
fn interleaved(contenders: &[(&str, Op<'_>)], rounds: usize) -> Vec<f64> {
    // A batch of about 2 ms per contender, from one timed calibration call each.
    let batch: Vec<u32> = contenders
        .iter()
        .map(|(_, f)| {
            f();
            let t = Instant::now();
            for _ in 0..10 {
                f();
            }
            let per = t.elapsed().as_nanos().max(1) as f64 / 10.0;
            (2_000_000.0 / per).clamp(5.0, 200_000.0) as u32
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); contenders.len()];
    for r in 0..rounds {
        for k in 0..contenders.len() {
            let i = (r + k) % contenders.len();
            let (_, f) = &contenders[i];
            let n = batch[i];
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            samples[i].push(t.elapsed().as_nanos() as f64 / f64::from(n));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn report(op: &str, alg: Algorithm, names: &[&str], medians: &[f64]) {
    // Contender 0 is tidepass, the last is raw ring (the floor, not a peer).
    let peers = &medians[1..medians.len() - 1];
    let fastest = peers.iter().copied().fold(f64::INFINITY, f64::min);
    let cells: Vec<String> = names
        .iter()
        .zip(medians)
        .map(|(n, m)| format!("{n} {}", fmt_ns(*m)))
        .collect();
    println!(
        "| {op} | {alg} | {} | {:.2}x | {:.2}x |",
        cells.join(" · "),
        medians[0] / fastest,
        medians[0] / medians[medians.len() - 1],
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
        .install_default()
        .expect("jsonwebtoken's aws-lc-rs provider, installed once");
    let rounds: usize = std::env::var("PEERS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    println!(
        "tidepass on {}, {rounds} interleaved rounds, medians\n",
        tidepass::keys::BACKEND
    );
    println!(
        "| op | alg | contenders (median per call) | tidepass ÷ fastest peer | tidepass ÷ raw ring |"
    );
    println!("| --- | --- | --- | ---: | ---: |");
    let algs = [
        Algorithm::HS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
    ];
    // `PEERS_ALGS=HS256,EdDSA` measures only those.
    let only = std::env::var("PEERS_ALGS").ok();
    for alg in algs {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|a| a == alg.as_str()))
        {
            continue;
        }
        let key = signing_key(alg);
        let (encoding, decoding) = jwt_keys(&key);
        let raw_verify = raw_verifier(&key);
        let raw_sign = raw_signer(&key);
        let simple_verify = jwt_simple_verify(alg, &key);
        let simple_sign = jwt_simple_sign(alg);
        let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let cold = Verifier::builder(ISS, AUD, keys)
            .cache_capacity(0)
            .build()
            .expect("verifier");
        let mut header = jsonwebtoken::Header::new(jwt_alg(alg));
        header.kid = Some(key.kid().to_string());
        header.typ = Some("at+jwt".into());
        let (minter, token, now) = minted(key);
        let token = token.as_str();
        let (input, signature) = signing_input(token);
        let validation = jwt_validation(alg);
        let claims = jwt_claims(now);
        // Every contender must do its job, or the numbers mean nothing.
        assert!(raw_verify(&input, &signature));
        assert!(simple_verify(token));
        cold.verify_at(token, now).expect("tidepass verifies");
        jsonwebtoken::decode::<AccessClaims>(token, &decoding, &validation)
            .expect("jsonwebtoken verifies");
        jsonwebtoken::encode(&header, &claims, &encoding).expect("jsonwebtoken signs");

        let names = ["tidepass", "jsonwebtoken_aws_lc", "jwt_simple", "ring_raw"];
        let verify: Vec<(&str, Op<'_>)> = vec![
            (
                names[0],
                Box::new(|| {
                    black_box(cold.verify_at(black_box(token), now)).ok();
                }),
            ),
            (
                names[1],
                Box::new(|| {
                    black_box(jsonwebtoken::decode::<AccessClaims>(
                        black_box(token),
                        &decoding,
                        &validation,
                    ))
                    .ok();
                }),
            ),
            (
                names[2],
                Box::new(|| {
                    black_box(simple_verify(black_box(token)));
                }),
            ),
            (
                names[3],
                Box::new(|| {
                    black_box(raw_verify(black_box(&input), &signature));
                }),
            ),
        ];
        report("cold verify", alg, &names, &interleaved(&verify, rounds));
        drop(verify);
        let mint: Vec<(&str, Op<'_>)> = vec![
            (
                names[0],
                Box::new(|| {
                    black_box(
                        minter
                            .token(black_box("user-42"))
                            .sid("0190b6e0c3a97000")
                            .scope("read write")
                            .mint_at(now),
                    )
                    .ok();
                }),
            ),
            (
                names[1],
                Box::new(|| {
                    black_box(jsonwebtoken::encode(&header, black_box(&claims), &encoding)).ok();
                }),
            ),
            (
                names[2],
                Box::new(|| {
                    black_box(simple_sign());
                }),
            ),
            (
                names[3],
                Box::new(|| {
                    black_box(raw_sign(black_box(&input)));
                }),
            ),
        ];
        report("mint", alg, &names, &interleaved(&mint, rounds));
    }
}
