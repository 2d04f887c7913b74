//! Differential: tidepass's base64url decoder (JWS segments, refresh tokens) against the
//! `base64` crate's URL_SAFE_NO_PAD (canonical, no padding): the same inputs accepted, the
//! same bytes out; and its encoder (the minter's) against the crate's on the same bytes.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = vec![0u8; data.len() + 3];
    let ours = tidepass::fuzzing::b64_decode(data, &mut out).map(|n| out[..n].to_vec());
    let theirs = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data)
        .ok();
    assert_eq!(ours, theirs, "input {:?}", String::from_utf8_lossy(data));

    let mut encoded = b"prefix.".to_vec();
    tidepass::fuzzing::b64_encode(data, &mut encoded);
    let want = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
    assert_eq!(&encoded[7..], want.as_bytes(), "encoding {data:?}");
});
