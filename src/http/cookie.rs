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

/// The refresh token from a `Cookie` request header, if present once. Malformed pairs are
/// skipped. Two refresh cookies are refused (`None`): a sibling subdomain can plant a second
/// one with `Domain=`, and which of them a server reads first is the attacker's choice.
pub fn read(cookie_header: &str) -> Option<&str> {
    let mut found = Cookie::split_parse(cookie_header)
        .filter_map(Result::ok)
        .filter(|c| c.name() == NAME);
    let first = found.next();
    if found.next().is_some() {
        return None;
    }
    first
        .and_then(|c| {
            // Return a slice of the input, not the parsed copy.
            let v = c.value();
            cookie_header
                .find(v)
                .and_then(|i| cookie_header.get(i..i.checked_add(v.len())?))
        })
        .filter(|v| !v.is_empty())
}

/// The refresh token from a request's `Cookie` headers (on the `http` crate's types), if it
/// is there exactly once across all of them (see [`read`]).
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    let mut found = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|h| h.contains(NAME));
    let (first, second) = (found.next(), found.next());
    match (first, second) {
        (Some(h), None) => read(h),
        _ => None,
    }
}

/// Is a cookie-authenticated request from a page we trust? Its `Origin` must be one of
/// `allowed` (`https://app.example`, exactly as browsers send it); without `Origin`, its
/// `Sec-Fetch-Site` must be `same-origin`. Anything else is refused: a cross-site form post,
/// a request from a sibling subdomain (`same-site` is not enough), or a client that sends
/// neither header (browsers send `Origin` on every POST). `SameSite=Strict` already keeps the
/// cookie off cross-site requests in current browsers; this is the second, server-side wall.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue};
/// use tidepass::http::cookie::origin_allowed;
///
/// let mut h = HeaderMap::new();
/// h.insert("origin", HeaderValue::from_static("https://app.example"));
/// assert!(origin_allowed(&h, &["https://app.example"]));
/// h.insert("origin", HeaderValue::from_static("https://evil.example"));
/// assert!(!origin_allowed(&h, &["https://app.example"]));
/// ```
pub fn origin_allowed(headers: &axum::http::HeaderMap, allowed: &[&str]) -> bool {
    let one = |name: &str| {
        let mut all = headers.get_all(name).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => v.to_str().ok(),
            _ => None,
        }
    };
    match one("origin") {
        Some(origin) => allowed.contains(&origin),
        None => headers.get("origin").is_none() && one("sec-fetch-site") == Some("same-origin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        use axum::http::{HeaderMap, HeaderValue};
        let allowed = ["https://app.example"];
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, HeaderValue::from_static(v));
            }
            origin_allowed(&h, &allowed)
        };
        assert!(with(&[("origin", "https://app.example")]));
        assert!(!with(&[("origin", "https://app.example.evil")]));
        assert!(!with(&[("origin", "null")]));
        assert!(!with(&[
            ("origin", "https://app.example"),
            ("origin", "https://app.example")
        ]));
        assert!(with(&[("sec-fetch-site", "same-origin")]));
        assert!(
            !with(&[("sec-fetch-site", "same-site")]),
            "a sibling subdomain"
        );
        assert!(!with(&[("sec-fetch-site", "cross-site")]));
        assert!(!with(&[]), "neither header");
    }

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
        // A planted second cookie: refused, whichever comes first.
        let pair = set.split(';').next().expect("pair");
        assert_eq!(read(&format!("{pair}; {NAME}=tprt_planted")), None);
        assert_eq!(read(&format!("{NAME}=tprt_planted; {pair}")), None);
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", pair.parse().expect("header"));
        assert_eq!(from_headers(&headers), Some(token.expose()));
        headers.append(
            "cookie",
            format!("{NAME}=tprt_planted").parse().expect("header"),
        );
        assert_eq!(
            from_headers(&headers),
            None,
            "one in each of two Cookie headers"
        );
        let cleared = clear();
        assert!(
            cleared.contains("Max-Age=0") && cleared.starts_with("__Secure-tidepass-refresh=;")
        );
    }
}
