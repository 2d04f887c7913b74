//! RFC 6750 §2.1 `Authorization: Bearer` parsing.

use crate::error::{Error, ErrorKind, Result};

/// Extract the token from an `Authorization` header value.
///
/// The scheme is matched case-insensitively (RFC 7235 §2.1); one or more spaces (RFC 6750
/// `1*SP`, nothing else) separate it from the credential, which must be a `b64token`
/// (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding only) of at most `max_len` bytes.
///
/// ```
/// use tidepass::http::bearer;
/// assert_eq!(bearer::parse("bearer abc.def.ghi", 8192)?, "abc.def.ghi");
/// assert!(bearer::parse("Basic dXNlcjpwYXNz", 8192).is_err());
/// # Ok::<(), tidepass::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::MissingToken`] for an empty value; [`ErrorKind::InvalidRequest`] for another
/// scheme, a missing or malformed credential; [`ErrorKind::TooLarge`] beyond `max_len`.
pub fn parse(authorization: &str, max_len: usize) -> Result<&str> {
    match parse_credentials(authorization, max_len)? {
        (Scheme::Bearer, token) => Ok(token),
        (Scheme::Dpop, _) => Err(Error::with(
            ErrorKind::InvalidRequest,
            "authorization scheme is not Bearer",
        )),
    }
}

/// RFC 6750 `b64token` characters (before the `=` padding), as a table: one load per byte.
// A `u8` always indexes a 256-entry table; the const loop stays below 256.
#[allow(clippy::indexing_slicing)]
static B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    t
};

/// The two token schemes tidepass verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449 §7.1): the token comes with a proof in the `DPoP` header.
    Dpop,
}

/// [`parse`] for either scheme, `Bearer` or `DPoP` (both case-insensitive, with the same
/// `b64token` credential rules).
///
/// ```
/// use tidepass::http::bearer::{self, Scheme};
/// assert_eq!(bearer::parse_credentials("DPoP abc.def.ghi", 8192)?, (Scheme::Dpop, "abc.def.ghi"));
/// # Ok::<(), tidepass::Error>(())
/// ```
///
/// # Errors
///
/// As [`parse`], with "another scheme" meaning neither of the two.
pub fn parse_credentials(authorization: &str, max_len: usize) -> Result<(Scheme, &str)> {
    let (scheme, token) = split_credentials(authorization, max_len)?;
    if !is_b64token(token) {
        return Err(not_b64token());
    }
    Ok((scheme, token))
}

fn not_b64token() -> Error {
    Error::with(
        ErrorKind::InvalidRequest,
        "bearer credential is not a b64token",
    )
}

/// `true` for an RFC 6750 `b64token`: its characters, then `=` padding only.
pub(crate) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| B64TOKEN.get(usize::from(b)).copied().unwrap_or(false))
}

/// [`parse_credentials`] without the per-byte `b64token` check: for the verifier, which
/// refuses every character outside base64url and `.` anyway when it decodes the token, and
/// checks `b64token` only to name a refusal ([`classify`]). A token that verifies is a
/// `b64token`. (The per-byte check was 3–5% of a microservice's CPU on a cached `/me`.)
pub(crate) fn split_credentials(authorization: &str, max_len: usize) -> Result<(Scheme, &str)> {
    let value = authorization.trim_matches(|c| c == ' ' || c == '\t');
    if value.is_empty() {
        return Err(Error::new(ErrorKind::MissingToken));
    }
    if value.len() > max_len.saturating_add(8) {
        return Err(Error::with(
            ErrorKind::TooLarge,
            "authorization header too large",
        ));
    }
    let (scheme, token) = match value.split_once(' ') {
        Some((scheme, rest)) => (scheme, rest.trim_start_matches(' ')),
        None => (value, ""),
    };
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(Error::with(
            ErrorKind::InvalidRequest,
            "authorization scheme is not Bearer or DPoP",
        ));
    };
    if token.is_empty() {
        return Err(Error::with(
            ErrorKind::InvalidRequest,
            "bearer credential is empty",
        ));
    }
    if token.len() > max_len {
        return Err(Error::with(ErrorKind::TooLarge, "bearer token too large"));
    }
    Ok((scheme, token))
}

/// The refusal of a credential from [`split_credentials`] that did not verify: the
/// `b64token` error [`parse_credentials`] would have given, else the verifier's own.
pub(crate) fn classify(token: &str, e: Error) -> Error {
    if is_b64token(token) {
        e
    } else {
        not_b64token()
    }
}

/// The bearer token of a request's `Authorization` header (on the `http` crate's types,
/// feature `server`).
///
/// # Errors
///
/// [`ErrorKind::MissingToken`] without the header; otherwise as [`parse`].
#[cfg(feature = "server")]
pub fn from_headers(headers: &http::HeaderMap, max_len: usize) -> Result<&str> {
    match headers.get(http::header::AUTHORIZATION) {
        None => Err(Error::new(ErrorKind::MissingToken)),
        Some(v) => parse(
            v.to_str()
                .map_err(|_| Error::with(ErrorKind::InvalidRequest, "non-ASCII header"))?,
            max_len,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(v: &str) -> Option<ErrorKind> {
        parse(v, 64).err().map(|e| e.kind())
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER a.b.c",
            "bEaReR a.b.c",
            // RFC 6750 §2.1: `1*SP` between scheme and credential.
            "Bearer  a.b.c",
            "Bearer    a.b.c",
        ] {
            assert_eq!(parse(v, 64).ok(), Some("a.b.c"), "{v}");
        }
    }

    #[test]
    fn refusals_have_kinds() {
        assert_eq!(kind(""), Some(ErrorKind::MissingToken));
        assert_eq!(kind("Bearer"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer "), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Basic abc"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer\ta.b.c"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer \ta.b.c"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer a.b.c\n"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer a b"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer a\"b"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer =abc"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer ab=c"), Some(ErrorKind::InvalidRequest));
        assert_eq!(kind("Bearer ümlaut"), Some(ErrorKind::InvalidRequest));
        assert_eq!(
            kind(&format!("Bearer {}", "a".repeat(65))),
            Some(ErrorKind::TooLarge)
        );
        assert_eq!(parse("Bearer abc==", 64).ok(), Some("abc=="));
    }
}
