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

/// Decode base64url (no padding, canonical trailing bits) into `buf`; returns the length used.
fn decode_into(part: &str, buf: &mut [u8]) -> Result<usize> {
    URL_SAFE_NO_PAD
        .decode_slice(part, buf)
        .map_err(|_| malformed("bad base64url"))
}

/// `true` when the first non-whitespace byte opens a JSON object. serde would otherwise accept a
/// JSON array for a struct.
pub(crate) fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b" \t\r\n".contains(b)) == Some(&b'{')
}

fn typ_matches(typ: &str, want: &str) -> bool {
    let t = if typ.len() > 12 && typ[..12].eq_ignore_ascii_case("application/") {
        &typ[12..]
    } else {
        typ
    };
    t.eq_ignore_ascii_case(want)
}

/// Split a compact token into its three parts.
pub(crate) fn split(token: &str) -> Result<(&str, &str, &str)> {
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) => Ok((h, p, s)),
        _ if token.bytes().filter(|&b| b == b'.').count() == 4 => {
            Err(Error::new(ErrorKind::Encrypted))
        }
        _ => Err(malformed("compact JWS has three parts")),
    }
}

/// Verify a compact JWS against `keys`; returns the decoded payload and the key that verified.
pub(crate) fn verify<'k>(
    token: &str,
    keys: &'k VerifyingKeys,
    policy: Policy<'_>,
) -> Result<(Vec<u8>, &'k VerifyingKey)> {
    let (h64, p64, s64) = split(token)?;
    if h64.len() > MAX_HEADER_B64 {
        return Err(Error::with(ErrorKind::TooLarge, "header too large"));
    }
    let mut hbuf = [0u8; MAX_HEADER_B64 * 3 / 4 + 3];
    let hlen = decode_into(h64, &mut hbuf)?;
    let hbytes = &hbuf[..hlen];
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

    if s64.len() > MAX_SIG * 4 / 3 + 2 {
        return Err(Error::new(ErrorKind::InvalidSignature));
    }
    let mut sbuf = [0u8; MAX_SIG + 3];
    let slen = decode_into(s64, &mut sbuf)?;
    let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
    if !key.verify(signing_input, &sbuf[..slen]) {
        return Err(Error::new(ErrorKind::InvalidSignature));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(p64)
        .map_err(|_| malformed("bad base64url"))?;
    Ok((payload, key))
}

/// The base64url header of every token a key signs, computed once per key.
pub(crate) fn header_b64(key: &SigningKey, typ: &str) -> String {
    let header = serde_json::json!({
        "alg": key.algorithm().as_str(),
        "kid": key.kid().as_str(),
        "typ": typ,
    });
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// Sign `payload` (JSON bytes) under a precomputed header.
pub(crate) fn sign(header_b64: &str, payload: &[u8], key: &SigningKey) -> Result<String> {
    let sig_len = (key.signer().signature_len() * 4).div_ceil(3);
    let mut out =
        String::with_capacity(header_b64.len() + 2 + (payload.len() * 4).div_ceil(3) + sig_len);
    out.push_str(header_b64);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let input_len = out.len();
    // Sign the bytes in place; the signature goes after the separator.
    let mut sig = String::with_capacity(sig_len);
    key.signer()
        .sign_b64(&out.as_bytes()[..input_len], &mut sig)?;
    out.push('.');
    out.push_str(&sig);
    Ok(out)
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
