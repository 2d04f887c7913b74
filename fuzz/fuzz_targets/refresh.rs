//! The refresh-token parser: any bytes are refused without a panic, and only tokens the
//! issuer made are accepted.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tidepass::session::refresh::RefreshSecrets;

static SECRETS: LazyLock<RefreshSecrets> =
    LazyLock::new(|| RefreshSecrets::from_secret(1, &[3u8; 32]).expect("secret"));

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        if let Ok(p) = SECRETS.parse(token) {
            // Accepted: it must be exactly the token the issuer would make.
            let again = SECRETS
                .encode(p.secret_id, &p.sid, p.generation)
                .expect("encode");
            assert_eq!(again.expose(), token);
        }
    }
});
