//! Minting: tidepass beside raw ring signing, jsonwebtoken 11 `encode` and jwt-simple, in the
//! same run.
//!
//! `cargo bench --bench mint`

#![allow(missing_docs)] // criterion_group! generates undocumented public items

mod common;

use common::*;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tidepass::Minter;

fn bench(c: &mut Criterion) {
    let provider = jwt_provider();
    for alg in ALGS {
        let key = signing_key(alg);
        let (encoding, _) = jwt_keys(&key);
        let raw = raw_signer(&key);
        let simple = jwt_simple_sign(alg);
        let mut header = jsonwebtoken::Header::new(jwt_alg(alg));
        header.kid = Some(key.kid().to_string());
        header.typ = Some("at+jwt".into());
        let minter = Minter::new(key, ISS, AUD).expect("minter");
        let sample = minter
            .token("user-42")
            .sid("0190b6e0c3a97000")
            .scope("read write")
            .mint_at(NOW)
            .expect("mint");
        let (input, _) = signing_input(sample.as_str());
        let claims = jwt_claims(NOW);
        jsonwebtoken::encode(&header, &claims, &encoding).expect("jsonwebtoken encode");

        let mut g = c.benchmark_group(format!("mint/{alg}"));
        let only = only_jsonwebtoken();
        if !only {
            g.bench_function("ring_raw", |b| b.iter(|| raw(black_box(&input))));
            g.bench_function("tidepass", |b| {
                b.iter(|| {
                    minter
                        .token(black_box("user-42"))
                        .sid("0190b6e0c3a97000")
                        .scope("read write")
                        .mint_at(NOW)
                })
            });
        }
        g.bench_function(format!("jsonwebtoken_{provider}"), |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding))
        });
        if !only {
            g.bench_function("jwt_simple", |b| b.iter(&simple));
        }
        g.finish();
    }
    run_aws_lc_child();
}

criterion_group!(benches, bench);
criterion_main!(benches);
