//! The refresh-token parser, behind its tag: the harness builds the token body from the
//! input (any version byte, secret id, session id, generation), computes the HMAC tag the way
//! the documented format says, base64url-encodes it, and optionally tampers with one
//! character. Only the issuer's own tokens are accepted, each as exactly what it encodes.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tidepass::session::refresh::RefreshSecrets;

const SECRET: [u8; 32] = [3u8; 32];
static SECRETS: LazyLock<RefreshSecrets> =
    LazyLock::new(|| RefreshSecrets::from_secret(1, &SECRET).expect("secret"));

#[derive(Arbitrary, Debug)]
struct Input {
    version: u8,
    secret_id: u8,
    sid: [u8; 16],
    generation: u64,
    /// Replace the character at this index with this byte.
    tamper: Option<(u8, u8)>,
    /// Bytes appended to the body before encoding (a wrong length).
    extra: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut body = vec![input.version, input.secret_id];
    body.extend_from_slice(&input.sid);
    body.extend_from_slice(&input.generation.to_be_bytes());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &SECRET);
    let mut signed = b"tidepass refresh token\0".to_vec();
    signed.extend_from_slice(&body);
    let tag = ring::hmac::sign(&key, &signed);
    body.extend_from_slice(tag.as_ref());
    body.extend_from_slice(&input.extra);
    let honest = format!(
        "tprt_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body)
    );
    let genuine = input.version == 1 && input.secret_id == 1 && input.extra.is_empty();
    match SECRETS.parse(&honest) {
        Ok(p) => {
            assert!(genuine, "accepted a token the issuer would not make");
            assert_eq!(
                (p.secret_id, *p.sid.as_bytes(), p.generation),
                (1, input.sid, input.generation)
            );
            let again = SECRETS.encode(1, &p.sid, p.generation).expect("encode");
            assert_eq!(again.expose(), honest);
        }
        Err(_) => assert!(!genuine, "refused the issuer's own token"),
    }
    if let Some((at, byte)) = input.tamper {
        let mut t = honest.clone().into_bytes();
        let at = usize::from(at) % t.len();
        t[at] = byte;
        if let Ok(text) = String::from_utf8(t) {
            if text != honest {
                assert!(
                    SECRETS.parse(&text).is_err(),
                    "a tampered token was accepted"
                );
            }
        }
    }
});
