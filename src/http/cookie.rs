//! The refresh token in a cookie, with secure defaults (feature `axum`, on the `cookie` crate).
//!
//! `HttpOnly` (scripts cannot read it), `Secure` (HTTPS only), `SameSite=Strict` (no cross-site
//! sends), `Path=/token` (only the refresh endpoint ever sees it), and the `__Secure-` name
//! prefix, which browsers only accept with `Secure` (the stronger `__Host-` prefix requires
//! `Path=/`, which would send the token with every request).

use cookie::{Cookie, SameSite};

use crate::session::refresh::RefreshToken;

/// The cookie's name.
pub const NAME: &str = "__Secure-tidepass-refresh";
/// The only path the cookie is sent to.
pub const PATH: &str = "/token";

/// The `Set-Cookie` value carrying `token` for `max_age` seconds (the session's remaining
/// life).
pub fn set(token: &RefreshToken, max_age: u64) -> String {
    Cookie::build((NAME, token.expose()))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(PATH)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that deletes the cookie (logout).
pub fn clear() -> String {
    Cookie::build((NAME, ""))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(PATH)
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string()
}

/// The refresh token from a `Cookie` request header, if present. Malformed pairs are skipped.
pub fn read(cookie_header: &str) -> Option<&str> {
    Cookie::split_parse(cookie_header)
        .filter_map(Result::ok)
        .find(|c| c.name() == NAME)
        .and_then(|c| {
            // Return a slice of the input, not the parsed copy.
            let v = c.value();
            cookie_header
                .find(v)
                .and_then(|i| cookie_header.get(i..i.checked_add(v.len())?))
        })
        .filter(|v| !v.is_empty())
}

/// The refresh token from a request's `Cookie` headers (on the `http` crate's types).
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_round_trip() {
        let secrets = crate::session::refresh::RefreshSecrets::from_secret(1, &[1; 32]).expect("s");
        let token = secrets
            .encode(1, &crate::SessionId::from_bytes([2; 16]), 1)
            .expect("t");
        let set = set(&token, 3600);
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/token",
            "Max-Age=3600",
        ] {
            assert!(set.contains(attr), "{set} lacks {attr}");
        }
        assert!(set.starts_with("__Secure-tidepass-refresh=tprt_"));
        let header = format!("a=b; {}; c=d", set.split(';').next().expect("pair"));
        assert_eq!(read(&header), Some(token.expose()));
        assert_eq!(read("a=b"), None);
        let cleared = clear();
        assert!(
            cleared.contains("Max-Age=0") && cleared.starts_with("__Secure-tidepass-refresh=;")
        );
    }
}
