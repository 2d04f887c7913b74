//! Strict base64url (RFC 4648 §5, no padding): decoding for the verify hot path, and
//! encoding straight into a token's buffer for the mint path.
//!
//! Rejects anything outside the alphabet, padding, a length that leaves one dangling
//! character, and non-zero trailing bits (a non-canonical encoding), exactly like the `base64`
//! crate's strict `URL_SAFE_NO_PAD` engine, against which it is property-tested. It exists
//! because it decodes about twice as fast: one table lookup per character and one validity
//! check per block.

// Every index here is a `u8` into a 256-entry table, a constant position in a 4-byte
// `chunks_exact` chunk, or a constant position in an output slice whose length the match arm's
// pattern fixes: in bounds by construction, on the hottest path of verification.
#![allow(clippy::indexing_slicing)]

const INVALID: u8 = 0xFF;

const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// `TABLE` pre-shifted into each of the four positions of a 24-bit block; invalid characters
/// set bit 24 or above, so one comparison checks four characters.
const fn shifted(shift: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if TABLE[i] == INVALID {
            1 << 31
        } else {
            (TABLE[i] as u32) << shift
        };
        i += 1;
    }
    t
}
const S18: [u32; 256] = shifted(18);
const S12: [u32; 256] = shifted(12);
const S6: [u32; 256] = shifted(6);
const S0: [u32; 256] = shifted(0);

/// Decoded length of `len` base64url characters, or `None` for an impossible length.
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + r.saturating_sub(1)),
    }
}

/// Decode `input` into the front of `out`; returns the number of bytes written, or `None` when
/// the input is not canonical base64url or `out` is too small.
pub(crate) fn decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = decoded_len(input.len())?;
    let out = out.get_mut(..n)?;
    let mut bad = 0u8;
    let full = input.len() / 4;
    let (blocks, rest) = input.split_at(full * 4);
    let (out_blocks, out_rest) = out.split_at_mut(full * 3);
    let mut invalid = 0u32;
    let quad = |src: &[u8]| {
        S18[usize::from(src[0])]
            | S12[usize::from(src[1])]
            | S6[usize::from(src[2])]
            | S0[usize::from(src[3])]
    };
    // Eight characters into six bytes per step (one store), then the odd block of four.
    let pairs = blocks.len() / 8;
    let (b8, b4) = blocks.split_at(pairs * 8);
    let (o8, o4) = out_blocks.split_at_mut(pairs * 6);
    for (src, dst) in b8.chunks_exact(8).zip(o8.chunks_exact_mut(6)) {
        let (hi, lo) = (quad(&src[..4]), quad(&src[4..]));
        invalid |= hi | lo;
        let v = u64::from(hi) << 24 | u64::from(lo & 0x00FF_FFFF);
        dst.copy_from_slice(&v.to_be_bytes()[2..]);
    }
    for (src, dst) in b4.chunks_exact(4).zip(o4.chunks_exact_mut(3)) {
        let v = quad(src);
        invalid |= v;
        dst.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    if invalid >> 24 != 0 {
        return None;
    }
    match rest {
        [] => {}
        [x, y] => {
            let (a, b) = (TABLE[usize::from(*x)], TABLE[usize::from(*y)]);
            bad |= a | b;
            // 12 bits carry 8: the low 4 must be zero.
            bad |= u8::from(b & 0x0F != 0) << 7;
            out_rest[0] = (a << 2) | (b >> 4);
        }
        [x, y, z] => {
            let (a, b, c) = (
                TABLE[usize::from(*x)],
                TABLE[usize::from(*y)],
                TABLE[usize::from(*z)],
            );
            bad |= a | b | c;
            // 18 bits carry 16: the low 2 must be zero.
            bad |= u8::from(c & 0x03 != 0) << 7;
            out_rest[0] = (a << 2) | (b >> 4);
            out_rest[1] = (b << 4) | (c >> 2);
        }
        _ => return None,
    }
    // Valid values are below 64; INVALID and the trailing-bit flags set bit 6 or 7.
    (bad & 0xC0 == 0).then_some(n)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every 12-bit value as its two base64url characters, the first in the low byte: two lookups
/// encode three bytes.
const PAIRS: [u16; 4096] = {
    let mut t = [0u16; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = ALPHABET[i >> 6] as u16 | (ALPHABET[i & 63] as u16) << 8;
        i += 1;
    }
    t
};

/// Append the base64url (no padding) form of `input` to `out`, in place. Agrees with the
/// `base64` crate (property-tested); it exists because it is faster on the mint path, where
/// `Engine::encode_string` also goes through a stack buffer and a UTF-8 check (BENCHMARKS.md).
pub(crate) fn encode_append(input: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + (input.len() * 4).div_ceil(3), 0);
    let Some(dst) = out.get_mut(start..) else {
        return;
    };
    // Six bytes into eight characters per step (one load, four lookups, one store), then the
    // odd block of three, then the tail.
    let (wide, narrow) = input.split_at(input.len() / 6 * 6);
    let (dst_wide, dst_narrow) = dst.split_at_mut(wide.len() / 6 * 8);
    for (b, d) in wide.chunks_exact(6).zip(dst_wide.chunks_exact_mut(8)) {
        let v = b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        // Each index is masked to 12 bits: in bounds, and lossless as usize.
        let pair = |shift: u32| u64::from(PAIRS[(v >> shift & 0xFFF) as usize]);
        let chars = pair(36) | pair(24) << 16 | pair(12) << 32 | pair(0) << 48;
        d.copy_from_slice(&chars.to_le_bytes());
    }
    let (blocks, rest) = narrow.split_at(narrow.len() / 3 * 3);
    let (dst_blocks, dst_rest) = dst_narrow.split_at_mut(blocks.len() / 3 * 4);
    for (b, d) in blocks.chunks_exact(3).zip(dst_blocks.chunks_exact_mut(4)) {
        let v = usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]);
        let chars = u32::from(PAIRS[v >> 12]) | u32::from(PAIRS[v & 0xFFF]) << 16;
        d.copy_from_slice(&chars.to_le_bytes());
    }
    match (rest, dst_rest) {
        ([a], [x, y]) => [*x, *y] = PAIRS[usize::from(*a) << 4].to_le_bytes(),
        ([a, b], [x, y, z]) => {
            let v = usize::from(*a) << 10 | usize::from(*b) << 2;
            [*x, *y] = PAIRS[v >> 6].to_le_bytes();
            *z = ALPHABET[v & 63];
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    fn ours(s: &[u8]) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; s.len()];
        super::decode(s, &mut buf).map(|n| buf[..n].to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn agrees_with_the_base64_crate_on_any_input(s in "[A-Za-z0-9_=+/.-]{0,40}") {
            prop_assert_eq!(ours(s.as_bytes()), URL_SAFE_NO_PAD.decode(s.as_bytes()).ok());
        }

        #[test]
        fn agrees_on_any_bytes(s in proptest::collection::vec(any::<u8>(), 0..24)) {
            prop_assert_eq!(ours(&s), URL_SAFE_NO_PAD.decode(&s).ok());
        }

        #[test]
        fn encodes_like_the_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut out = b"x.".to_vec();
            super::encode_append(&data, &mut out);
            prop_assert_eq!(out, [&b"x."[..], URL_SAFE_NO_PAD.encode(&data).as_bytes()].concat());
        }

        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let text = URL_SAFE_NO_PAD.encode(&data);
            prop_assert_eq!(ours(text.as_bytes()), Some(data));
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        assert_eq!(ours(b"QQ"), Some(b"A".to_vec()));
        assert_eq!(ours(b"QR"), None);
        assert_eq!(ours(b"QUI"), Some(b"AB".to_vec()));
        assert_eq!(ours(b"QUJ"), None);
        assert_eq!(ours(b"Q"), None);
        assert_eq!(ours(b"QQ=="), None);
    }
}
