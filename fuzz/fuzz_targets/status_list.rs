//! The Token Status List decoder and encoder. The first byte picks the width (its low two bits:
//! 1, 2, 4 or 8 bits; the rest of the byte is kept, so other widths are tried too); the rest is
//! the `lst` text, or (for inputs whose first byte has its top bit set) raw bytes the harness
//! ZLIB-compresses and encodes itself, so the decoder's list logic is reached and not only its
//! base64 and inflate refusals. Hostile input is refused without a panic; whatever decodes
//! re-encodes to a list that decodes to the same entries; reads past the end are `None`.
#![no_main]

use std::io::Write;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tidepass::revocation::status_list::{StatusList, token};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
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
    let Ok(list) = StatusList::decode(bits, &lst) else {
        return;
    };
    assert!([1, 2, 4, 8].contains(&bits));
    assert!(!list.is_empty());
    assert_eq!(list.get(list.len()), None);
    let again = list.encode().expect("a decoded list encodes");
    let back = StatusList::decode(again.bits, &again.lst).expect("our own encoding decodes");
    assert_eq!(back, list);
    // Read a few entries, and one far past the end.
    for idx in [0, list.len() / 2, list.len() - 1, usize::MAX / 16] {
        assert_eq!(back.get(idx), list.get(idx));
    }
    // Tokens: the same text as a compact JWT must be refused, never panic.
    let keys = tidepass::keys::VerifyingKeys::from_keys([]).ok();
    if let Some(keys) = keys {
        let _ = token::verify(&lst, &keys, "https://x", 0);
    }
});
