//! JWKS and JWK parsing: arbitrary documents are refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = std::str::from_utf8(data) {
        if let Ok(keys) = tidepass::keys::VerifyingKeys::from_jwks(doc) {
            // Whatever was accepted exports again without secrets.
            let out = keys.to_jwks().to_string();
            assert!(!out.contains("\"d\"") && !out.contains("\"k\""));
        }
        let _ = tidepass::keys::SigningKey::from_jwk(doc);
        let _ = tidepass::keys::SigningKey::from_pem(data, None);
        let _ = tidepass::keys::VerifyingKey::from_pem(data, None);
    }
});
