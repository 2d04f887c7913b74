//! JWKS and JWK parsing: arbitrary documents are refused with an error, never a panic; what
//! is accepted exports again without private members (checked on the parsed JSON, so a key
//! whose `kid` happens to be "d" is not taken for a leak).
#![no_main]

use libfuzzer_sys::fuzz_target;

const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = std::str::from_utf8(data) {
        if let Ok(keys) = tidepass::keys::VerifyingKeys::from_jwks(doc) {
            let out = keys.to_jwks();
            for key in out["keys"].as_array().expect("keys array") {
                let key = key.as_object().expect("a key object");
                for member in PRIVATE {
                    assert!(!key.contains_key(member), "exported {member}: {key:?}");
                }
            }
        }
        let _ = tidepass::keys::SigningKey::from_jwk(doc);
        let _ = tidepass::keys::SigningKey::from_pem(data, None);
        let _ = tidepass::keys::VerifyingKey::from_pem(data, None);
    }
});
