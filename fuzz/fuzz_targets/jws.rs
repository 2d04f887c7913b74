//! The compact JWS parser and verifier: any bytes, never a panic, never an acceptance of a
//! token the key did not sign.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{Minter, Verifier};

static KEYS: LazyLock<(Minter, Verifier)> = LazyLock::new(|| {
    let secret = [7u8; 32];
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &secret).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let minter = Minter::new(key, "iss", "aud").expect("minter");
    let verifier = Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .build()
        .expect("v");
    (minter, verifier)
});

fuzz_target!(|data: &[u8]| {
    let (_, verifier) = &*KEYS;
    if let Ok(token) = std::str::from_utf8(data) {
        // Only tokens signed with the fuzz key can pass; the fuzzer does not hold it.
        if let Ok(claims) = verifier.verify_at(token, 1_000) {
            assert_eq!(claims.iss, "iss");
        }
        let _ = tidepass::dangerous::decode_unverified(token);
    }
});
