//! The RFC 6750 Authorization header parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        if let Ok(token) = tidepass::http::bearer::parse(value, 4096) {
            assert!(!token.is_empty() && token.len() <= 4096);
            assert!(!token.contains(' '));
        }
    }
});
