//! Compact JWS (RFC 7515) encoding and verification on prepared keys: the hot path.
//!
//! Each part of a token is decoded once, into a stack buffer where its size allows. The key
//! is chosen by `kid`; the key's algorithm must equal the header's `alg`, which never chooses
//! anything by itself.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::{Algorithm, SigningKey, VerifyingKey, VerifyingKeys};

/// Largest header accepted, in base64url characters.
const MAX_HEADER_B64: usize = 2048;
/// Largest signature accepted, in bytes (RSA-8192).
const MAX_SIG: usize = 1024;

/// What the JWS layer demands beyond a valid signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy<'a> {
    /// Refuse tokens without `kid` even when the key set has a single key.
    pub(crate) require_kid: bool,
    /// Required `typ` (compared case-insensitively, `application/` prefix allowed).
    pub(crate) typ: Option<&'a str>,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// `true` whenever the member exists, whatever its value (even `null`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

fn malformed(detail: &'static str) -> Error {
    Error::with(ErrorKind::Malformed, detail)
}

/// Decode base64url (no padding, canonical trailing bits) into `buf`; returns the bytes.
fn decode_into<'b>(part: &str, buf: &'b mut [u8]) -> Result<&'b [u8]> {
    let n = crate::token::b64::decode(part.as_bytes(), buf)
        .ok_or_else(|| malformed("bad base64url"))?;
    buf.get(..n).ok_or_else(|| malformed("bad base64url"))
}

/// `true` when the first non-whitespace byte opens a JSON object. serde would otherwise accept a
/// JSON array for a struct.
pub(crate) fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b" \t\r\n".contains(b)) == Some(&b'{')
}

/// RFC 7515 §4.1.9: `typ` compares case-insensitively, and an `application/` prefix may be left
/// out. Byte-wise on purpose: `typ` is attacker-chosen and need not split on a char boundary
/// where the prefix ends.
pub(crate) fn typ_matches(typ: &str, want: &str) -> bool {
    const PREFIX: &[u8] = b"application/";
    let t = typ.as_bytes();
    let t = match t.split_at_checked(PREFIX.len()) {
        Some((head, rest)) if !rest.is_empty() && head.eq_ignore_ascii_case(PREFIX) => rest,
        _ => t,
    };
    t.eq_ignore_ascii_case(want.as_bytes())
}

/// Split a compact token into its three parts.
pub(crate) fn split(token: &str) -> Result<(&str, &str, &str)> {
    let b = token.as_bytes();
    let mut dots = memchr::memchr_iter(b'.', b);
    match (dots.next(), dots.next(), dots.next()) {
        // '.' is ASCII, so these are char boundaries (and `get` checks it anyway).
        (Some(i), Some(j), None) => match (token.get(..i), token.get(i + 1..j), token.get(j + 1..))
        {
            (Some(h), Some(p), Some(s)) => Ok((h, p, s)),
            _ => Err(malformed("compact JWS has three parts")),
        },
        (Some(_), Some(_), Some(_)) if memchr::memchr_iter(b'.', b).count() == 4 => {
            Err(Error::new(ErrorKind::Encrypted))
        }
        _ => Err(malformed("compact JWS has three parts")),
    }
}

/// Decode a base64url part into a stack buffer sized to it (heap only beyond 2 KiB) and hand
/// the bytes to `f`. Small tiers keep the zeroing of unused buffer space off the hot path.
pub(crate) fn with_decoded<R>(part: &str, f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
    let need = part.len() / 4 * 3 + 3;
    if need <= 128 {
        f(decode_into(part, &mut [0u8; 128])?)
    } else if need <= 256 {
        f(decode_into(part, &mut [0u8; 256])?)
    } else if need <= 512 {
        f(decode_into(part, &mut [0u8; 512])?)
    } else if need <= 2048 {
        f(decode_into(part, &mut [0u8; 2048])?)
    } else {
        f(decode_into(part, &mut vec![0u8; need])?)
    }
}

/// Check the header and pick the key: every rule that does not need the signature.
fn check_header<'k>(
    hbytes: &[u8],
    keys: &'k VerifyingKeys,
    policy: Policy<'_>,
) -> Result<&'k VerifyingKey> {
    if !is_json_object(hbytes) {
        return Err(malformed("header is not a JSON object"));
    }
    let header: Header<'_> =
        serde_json::from_slice(hbytes).map_err(|_| malformed("header is not valid JSON"))?;
    let alg = header
        .alg
        .as_deref()
        .ok_or(malformed("header has no alg"))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(Error::new(ErrorKind::AlgorithmNone));
    }
    let alg = Algorithm::from_name(alg).ok_or(Error::new(ErrorKind::UnsupportedAlgorithm))?;
    if header.crit {
        return Err(Error::new(ErrorKind::UnknownCritical));
    }
    if header.jwk || header.jku || header.x5u || header.x5c {
        return Err(Error::new(ErrorKind::EmbeddedKey));
    }
    if let Some(want) = policy.typ {
        match header.typ.as_deref() {
            Some(t) if typ_matches(t, want) => {}
            _ => return Err(Error::new(ErrorKind::InvalidType)),
        }
    }
    let key = match header.kid.as_deref() {
        Some(kid) => keys.get(kid).ok_or(Error::new(ErrorKind::UnknownKey))?,
        None if policy.require_kid => return Err(Error::new(ErrorKind::MissingKeyId)),
        None => keys.single().ok_or(Error::new(ErrorKind::MissingKeyId))?,
    };
    if key.algorithm() != alg {
        return Err(Error::new(ErrorKind::AlgorithmMismatch));
    }
    Ok(key)
}

/// Verify a compact JWS against `keys`, then hand the decoded payload to `parse`.
pub(crate) fn verify<T>(
    token: &str,
    keys: &VerifyingKeys,
    policy: Policy<'_>,
    parse: impl FnOnce(&[u8], &VerifyingKey) -> Result<T>,
) -> Result<T> {
    let (h64, p64, s64) = split(token)?;
    if h64.len() > MAX_HEADER_B64 {
        return Err(Error::with(ErrorKind::TooLarge, "header too large"));
    }
    // A header byte-identical to the one tidepass writes for a key has, by construction, that
    // key's kid and alg, typ at+jwt and nothing else: skip decoding and parsing it.
    let typ_ok = policy
        .typ
        .is_none_or(|t| t.eq_ignore_ascii_case(crate::token::mint::ACCESS_TOKEN_TYPE));
    let known = if typ_ok {
        keys.iter().find(|k| access_header(k) == h64)
    } else {
        None
    };
    let key = match known {
        Some(k) => k,
        None => with_decoded(h64, |h| check_header(h, keys, policy))?,
    };
    if s64.len() > MAX_SIG * 4 / 3 + 2 {
        return Err(Error::new(ErrorKind::InvalidSignature));
    }
    let signing_input = token
        .as_bytes()
        .get(..h64.len() + 1 + p64.len())
        .ok_or_else(|| malformed("compact JWS has three parts"))?;
    with_decoded(s64, |sig| match key.verify(signing_input, sig) {
        true => Ok(()),
        false => Err(Error::new(ErrorKind::InvalidSignature)),
    })?;
    with_decoded(p64, |payload| parse(payload, key))
}

// The JWS operations on keys live here, beside the format: `keys` knows nothing of JWS.
impl SigningKey {
    /// Sign `payload` under exactly the protected header `header_json` (compact JWS). The header
    /// must be a JSON object whose `alg` is this key's algorithm. This is the low-level form;
    /// access tokens come from [`crate::Minter`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the header is not a JSON object or names another `alg`.
    pub fn sign_jws(&self, header_json: &[u8], payload: &[u8]) -> Result<String> {
        let header: serde_json::Value = serde_json::from_slice(header_json)
            .map_err(|_| Error::with(ErrorKind::InvalidConfig, "header is not JSON"))?;
        if header.get("alg").and_then(serde_json::Value::as_str) != Some(self.algorithm().as_str())
        {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "header alg is not the key's",
            ));
        }
        sign(&URL_SAFE_NO_PAD.encode(header_json), payload, self)
    }
}

impl VerifyingKeys {
    /// Verify a compact JWS at the signature level only, and return its payload.
    ///
    /// The key is chosen by `kid` (a token without `kid` is accepted only when the set holds a
    /// single key), the header's `alg` must equal the key's, and `none`, `crit`, embedded keys
    /// and JWE are refused. No claim is looked at: for access tokens use
    /// [`crate::Verifier`], which adds `typ`, `iss`, `aud` and time checks.
    ///
    /// # Errors
    ///
    /// The token-level kinds of [`crate::Verifier::verify_at`] that concern the JWS itself.
    pub fn verify_jws(&self, token: &str) -> Result<Vec<u8>> {
        if token.len() > 1 << 20 {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let policy = Policy {
            require_kid: false,
            typ: None,
        };
        verify(token, self, policy, |payload, _| Ok(payload.to_vec()))
    }
}

/// The exact base64url header the minter writes for `key` (`typ: at+jwt`), computed once per
/// key and kept in the key's slot.
pub(crate) fn access_header(key: &VerifyingKey) -> &str {
    key.token_header_slot().get_or_init(|| {
        header_b64_for(
            key.algorithm(),
            key.kid().as_str(),
            crate::token::mint::ACCESS_TOKEN_TYPE,
        )
        .into()
    })
}

/// The base64url header of every token a key signs, computed once per key.
pub(crate) fn header_b64(key: &SigningKey, typ: &str) -> String {
    header_b64_for(key.algorithm(), key.kid().as_str(), typ)
}

/// The exact header tidepass writes for (alg, kid, typ). Verifiers recognise it byte for byte.
pub(crate) fn header_b64_for(alg: Algorithm, kid: &str, typ: &str) -> String {
    let header = serde_json::json!({ "alg": alg.as_str(), "kid": kid, "typ": typ });
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// The length of the compact JWS that [`sign`] makes of a `payload_len`-byte payload.
pub(crate) fn compact_len(header_b64: &str, payload_len: usize, key: &SigningKey) -> usize {
    let sig_len = (key.signer().signature_len() * 4).div_ceil(3);
    header_b64.len() + 2 + (payload_len * 4).div_ceil(3) + sig_len
}

/// Sign `payload` (JSON bytes) under a precomputed header.
pub(crate) fn sign(header_b64: &str, payload: &[u8], key: &SigningKey) -> Result<String> {
    let mut out = Vec::with_capacity(compact_len(header_b64, payload.len(), key));
    out.extend_from_slice(header_b64.as_bytes());
    out.push(b'.');
    crate::token::b64::encode_append(payload, &mut out);
    // Sign the bytes in place; the signature goes after the separator, in the same buffer.
    key.signer().sign_append_b64(&mut out)?;
    // ASCII by construction (a base64url header, dots, base64url): the check cannot fail.
    String::from_utf8(out).map_err(|_| Error::with(ErrorKind::Serialization, "token is not ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison_follows_rfc7515() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/", "at+jwt"));
    }

    /// Regression: `typ[..12]` sliced inside a multi-byte character and panicked before the
    /// signature was checked.
    #[test]
    fn typ_with_a_multibyte_char_across_the_prefix_end_is_refused_not_a_panic() {
        for typ in [
            "aaaaaaaaaaa\u{e9}x",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "applicatio\u{1f600}",
        ] {
            assert!(!typ_matches(typ, "at+jwt"), "{typ}");
        }
        assert!(typ_matches("application/\u{e9}", "\u{e9}"));
    }

    #[test]
    fn five_parts_is_jwe() {
        assert_eq!(
            split("a.b.c.d.e").err().map(|e| e.kind()),
            Some(ErrorKind::Encrypted)
        );
        assert_eq!(
            split("a.b.c.d").err().map(|e| e.kind()),
            Some(ErrorKind::Malformed)
        );
        assert_eq!(
            split("a.b").err().map(|e| e.kind()),
            Some(ErrorKind::Malformed)
        );
    }
}
