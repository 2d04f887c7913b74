//! mint → verify: any subject, scope and custom claim round-trips exactly.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{Minter, Verifier};

static PAIR: LazyLock<(Minter, Verifier<serde_json::Value>)> = LazyLock::new(|| {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let minter = Minter::new(key, "iss", "aud").expect("minter");
    let verifier = Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .claims::<serde_json::Value>()
        .build()
        .expect("v");
    (minter, verifier)
});

fuzz_target!(|input: (String, String, String, u32)| {
    let (sub, scope, note, now) = input;
    let (minter, verifier) = &*PAIR;
    let now = u64::from(now);
    let extra = serde_json::json!({ "note": note });
    let token = minter
        .token(&sub)
        .scope(&scope)
        .claims(&extra)
        .mint_at(now)
        .expect("mint");
    let claims = verifier
        .verify_at(token.as_str(), now)
        .expect("verify own token");
    assert_eq!(claims.sub, sub);
    assert_eq!(claims.scope.as_deref(), Some(scope.as_str()));
    assert_eq!(claims.extra["note"], serde_json::Value::String(note));
});
