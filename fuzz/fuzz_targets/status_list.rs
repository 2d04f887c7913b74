//! The Token Status List: the `{bits, lst}` decoder and encoder, and the Status List Token's
//! claims. The first byte picks the mode and width: with bit 0x20 set, the rest is the claims
//! JSON of a token the harness signs itself (so the claim checks behind the signature are
//! reached); otherwise its low two bits give the width (1, 2, 4 or 8; with bit 0x40 a width
//! the draft does not have), and the rest is the `lst` text or, with bit 0x80, raw bytes the
//! harness ZLIB-compresses itself (so the list logic is reached past base64 and inflate).
//! Hostile input is refused without a panic; whatever decodes re-encodes to a list that
//! decodes to the same entries; reads past the end are `None`.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::status_list::{StatusList, token};

fn key() -> &'static (SigningKey, VerifyingKeys, String) {
    static KEY: OnceLock<(SigningKey, VerifyingKeys, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let header = serde_json::json!({
            "alg": "EdDSA", "kid": key.kid().as_str(), "typ": "statuslist+jwt"
        })
        .to_string();
        (key, keys, header)
    })
}

fn check(list: &StatusList) {
    assert!(!list.is_empty());
    assert_eq!(list.get(list.len()), None);
    let again = list.encode().expect("a decoded list encodes");
    let back = StatusList::decode(again.bits, &again.lst).expect("our own encoding decodes");
    assert_eq!(&back, list);
    for idx in [0, list.len() / 2, list.len() - 1, usize::MAX / 16] {
        assert_eq!(back.get(idx), list.get(idx));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if first & 0x20 != 0 {
        let (key, keys, header) = key();
        let Ok(jwt) = key.sign_jws(header.as_bytes(), rest) else {
            return;
        };
        if let Ok(verified) = token::verify(&jwt, keys, "https://x", 1_800_000_000) {
            assert!(verified.issued_at <= 1_800_000_060);
            assert!(verified.ttl != Some(0));
            check(&verified.list);
        }
        return;
    }
    let bits = match first & 0x43 {
        0 => 1,
        1 => 2,
        2 => 4,
        3 => 8,
        other => other, // 0x40..0x43: a width the draft does not have
    };
    let lst = if first & 0x80 != 0 {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = z.write_all(rest);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(z.finish().unwrap_or_default())
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    if let Ok(list) = StatusList::decode(bits, &lst) {
        assert!([1, 2, 4, 8].contains(&bits));
        check(&list);
    }
});
