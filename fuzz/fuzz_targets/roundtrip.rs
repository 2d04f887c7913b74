//! mint → verify: any subject, scope and custom claim round-trips exactly (or is refused as
//! too large to mint, never minted too large to verify).
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
    let token = match minter.token(&sub).scope(&scope).claims(&extra).mint_at(now) {
        Ok(t) => t,
        // The minter refuses a token the verifier would refuse (over 8 KiB): only for inputs
        // that can make one (a character escapes to at most 6 bytes, base64 adds a third).
        Err(e) => {
            assert_eq!(e.kind(), tidepass::ErrorKind::MintTooLarge, "{e}");
            assert!(sub.len() + scope.len() + note.len() > 1_000, "{e}");
            return;
        }
    };
    let claims = verifier
        .verify_at(token.as_str(), now)
        .expect("verify own token");
    assert_eq!(claims.sub, sub);
    assert_eq!(claims.scope.as_deref(), Some(scope.as_str()));
    assert_eq!(claims.extra["note"], serde_json::Value::String(note));
});
