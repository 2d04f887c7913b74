//! The refresh token in a cookie, with secure defaults (feature `server`, on the `cookie` crate).
//!
//! `HttpOnly` (scripts cannot read it), `Secure` (HTTPS only), `SameSite=Strict` (no cross-site
//! sends), `Path=/token` (only the refresh endpoint ever sees it), and the `__Secure-` name
//! prefix, which browsers only accept with `Secure`. The stronger `__Host-` form
//! ([`RefreshCookie::host`]) requires `Path=/`, which sends the token with every request to
//! the host; [`RefreshCookie::new`] takes your own name and path.

use cookie::{Cookie, SameSite};

use crate::error::{Error, ErrorKind, Result};
use crate::session::refresh::RefreshToken;

/// The default cookie's name.
pub const NAME: &str = "__Secure-tidepass-refresh";
/// The default cookie's path: only the refresh endpoint ever sees it.
pub const PATH: &str = "/token";
/// The name of the `__Host-` form ([`RefreshCookie::host`]).
pub const HOST_NAME: &str = "__Host-tidepass-refresh";

/// Where the refresh cookie lives: its name and path. Always `HttpOnly`, `Secure`,
/// `SameSite=Strict`, and never a `Domain` (a host-only cookie: sibling subdomains neither
/// receive it nor, for the `__Host-` form, can overwrite it).
///
/// - [`RefreshCookie::default`]: `__Secure-tidepass-refresh`, `Path=/token`. The token travels
///   with refresh requests only; a sibling subdomain can still plant a second cookie of the
///   same name with `Domain=`, which is why a request with two is refused.
/// - [`RefreshCookie::host`]: `__Host-tidepass-refresh`, `Path=/`. Browsers refuse a `__Host-`
///   cookie with a `Domain` or another path, so nobody else can plant it; the price is that
///   the token rides along with every request to this host.
/// - [`RefreshCookie::new`]: your own name and path (for a token endpoint mounted elsewhere).
///
/// ```
/// use tidepass::http::cookie::RefreshCookie;
///
/// let host = RefreshCookie::host();
/// assert_eq!((host.name(), host.path()), ("__Host-tidepass-refresh", "/"));
/// let mine = RefreshCookie::new("__Secure-app-refresh", "/auth/token")?;
/// assert!(mine.clear().starts_with("__Secure-app-refresh=;"));
/// // A `__Host-` cookie must have `Path=/`: browsers would drop it silently.
/// assert!(RefreshCookie::new("__Host-x", "/auth").is_err());
/// # Ok::<(), tidepass::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshCookie {
    name: String,
    path: String,
}

impl Default for RefreshCookie {
    fn default() -> Self {
        Self {
            name: NAME.to_owned(),
            path: PATH.to_owned(),
        }
    }
}

impl RefreshCookie {
    /// The `__Host-tidepass-refresh` cookie on `Path=/`.
    pub fn host() -> Self {
        Self {
            name: HOST_NAME.to_owned(),
            path: "/".to_owned(),
        }
    }

    /// A cookie named `name` on `path`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a name that is not a cookie token (RFC 6265 §4.1.1),
    /// a path that does not start with `/` or holds a `;` or a control character, or a
    /// `__Host-` name with a path other than `/` (browsers would refuse the cookie).
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Result<Self> {
        let (name, path) = (name.into(), path.into());
        let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "the cookie name must be an RFC 6265 token",
            ));
        }
        if !path.starts_with('/') || path.chars().any(|c| c == ';' || c.is_control()) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "the cookie path must start with / and hold no ; or control characters",
            ));
        }
        if name.starts_with("__Host-") && path != "/" {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "a __Host- cookie must have Path=/",
            ));
        }
        Ok(Self { name, path })
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cookie's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn build<'a>(&'a self, value: &'a str, max_age: cookie::time::Duration) -> Cookie<'a> {
        Cookie::build((self.name.as_str(), value))
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .path(self.path.as_str())
            .max_age(max_age)
            .build()
    }

    /// The `Set-Cookie` value carrying `token` for `max_age` seconds (the session's
    /// remaining life).
    pub fn set(&self, token: &RefreshToken, max_age: u64) -> String {
        let age = cookie::time::Duration::seconds(i64::try_from(max_age).unwrap_or(i64::MAX));
        self.build(token.expose(), age).to_string()
    }

    /// The `Set-Cookie` value that deletes the cookie (logout).
    pub fn clear(&self) -> String {
        let mut c = self.build("", cookie::time::Duration::ZERO);
        c.set_expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
        c.to_string()
    }

    /// The refresh token from a `Cookie` request header, if present once. Malformed pairs are
    /// skipped. Two refresh cookies are refused (`None`): a sibling subdomain can plant a
    /// second one with `Domain=`, and which of them a server reads first is the attacker's
    /// choice.
    pub fn read<'h>(&self, cookie_header: &'h str) -> Option<&'h str> {
        let mut found = Cookie::split_parse(cookie_header)
            .filter_map(Result::ok)
            .filter(|c| c.name() == self.name);
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

    /// The refresh token from a request's `Cookie` headers, if it is there exactly once
    /// across all of them (see [`RefreshCookie::read`]).
    pub fn from_headers<'h>(&self, headers: &'h http::HeaderMap) -> Option<&'h str> {
        let mut found = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|h| h.contains(self.name.as_str()));
        let (first, second) = (found.next(), found.next());
        match (first, second) {
            (Some(h), None) => self.read(h),
            _ => None,
        }
    }
}

/// [`RefreshCookie::set`] for the default cookie.
pub fn set(token: &RefreshToken, max_age: u64) -> String {
    RefreshCookie::default().set(token, max_age)
}

/// [`RefreshCookie::clear`] for the default cookie.
pub fn clear() -> String {
    RefreshCookie::default().clear()
}

/// [`RefreshCookie::read`] for the default cookie.
pub fn read(cookie_header: &str) -> Option<&str> {
    RefreshCookie::default().read(cookie_header)
}

/// [`RefreshCookie::from_headers`] for the default cookie.
pub fn from_headers(headers: &http::HeaderMap) -> Option<&str> {
    RefreshCookie::default().from_headers(headers)
}

/// Is a cookie-authenticated request from a page we trust? Its `Origin` must be one of
/// `allowed` (`https://app.example`, exactly as browsers send it); without `Origin`, its
/// `Sec-Fetch-Site` must be `same-origin`. Anything else is refused: a cross-site form post,
/// a request from a sibling subdomain (`same-site` is not enough), or a client that sends
/// neither header (browsers send `Origin` on every POST). `SameSite=Strict` already keeps the
/// cookie off cross-site requests in current browsers; this is the second, server-side wall.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tidepass::http::cookie::origin_allowed;
///
/// let mut h = HeaderMap::new();
/// h.insert("origin", HeaderValue::from_static("https://app.example"));
/// assert!(origin_allowed(&h, &["https://app.example"]));
/// h.insert("origin", HeaderValue::from_static("https://evil.example"));
/// assert!(!origin_allowed(&h, &["https://app.example"]));
/// ```
pub fn origin_allowed(headers: &http::HeaderMap, allowed: &[&str]) -> bool {
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
        use http::{HeaderMap, HeaderValue};
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
        let mut headers = http::HeaderMap::new();
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
        // The __Host- form and a custom cookie read and write their own name only.
        let host = RefreshCookie::host();
        let h = host.set(&token, 60);
        assert!(
            h.starts_with("__Host-tidepass-refresh=tprt_") && h.contains("Path=/;")
                || h.ends_with("Path=/"),
            "{h}"
        );
        assert!(!h.contains("Domain"));
        let pair_h = h.split(';').next().expect("pair");
        assert_eq!(
            host.read(&format!("{pair}; {pair_h}")),
            Some(token.expose())
        );
        assert_eq!(
            read(pair_h),
            None,
            "the default cookie ignores the __Host- one"
        );
        assert!(RefreshCookie::new("bad name", "/").is_err());
        assert!(RefreshCookie::new("ok", "token").is_err());
        assert!(RefreshCookie::new("ok", "/t;Domain=evil").is_err());
        let cleared = clear();
        assert!(
            cleared.contains("Max-Age=0") && cleared.starts_with("__Secure-tidepass-refresh=;")
        );
    }
}
