//! RFC 8414 authorization-server metadata, as a resource server reads it: what
//! [`Follower`](crate::verify::follow::Follower) fetches from
//! `{issuer}/.well-known/oauth-authorization-server` to find the issuer's keys and revocation
//! feed. Parsing needs no feature; every byte comes from the network, so the document is
//! bounded, and the `issuer` must be exactly the one asked for (§3.3: otherwise a server could
//! speak for another issuer).
//!
//! ```
//! use tidepass::verify::metadata::Metadata;
//!
//! let doc = r#"{"issuer":"https://auth.example","jwks_uri":"https://auth.example/jwks",
//!               "tidepass_revocations_endpoint":"https://auth.example/revocations"}"#;
//! let m = Metadata::parse(doc.as_bytes(), "https://auth.example")?;
//! assert_eq!(m.jwks_uri, "https://auth.example/jwks");
//! assert!(Metadata::parse(doc.as_bytes(), "https://evil.example").is_err());
//! # Ok::<(), tidepass::Error>(())
//! ```

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// The largest metadata document accepted: 64 KiB.
pub const MAX_METADATA_LEN: usize = 64 * 1024;

/// The extension field under which tidepass's server names its revocation feed.
pub const REVOCATIONS_FIELD: &str = "tidepass_revocations_endpoint";

/// The fields of the metadata a resource server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// The issuer identifier (equal to the one asked for).
    pub issuer: String,
    /// Where the public keys are (RFC 8414 §2 `jwks_uri`).
    pub jwks_uri: String,
    /// The introspection endpoint, if any.
    pub introspection_endpoint: Option<String>,
    /// tidepass's revocation feed ([`REVOCATIONS_FIELD`]), if the server has one.
    pub revocations_endpoint: Option<String>,
    /// The Token Status List aggregation (draft-ietf-oauth-status-list §9.3
    /// `status_list_aggregation_endpoint`), if the server publishes lists.
    pub status_list_aggregation_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    issuer: Option<String>,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    tidepass_revocations_endpoint: Option<String>,
    status_list_aggregation_endpoint: Option<String>,
}

fn refuse(why: &'static str) -> Error {
    Error::with(ErrorKind::InvalidMetadata, why)
}

/// Is `url` an absolute URL a verifier may fetch for `issuer`: `https`, or `http` only when
/// the issuer itself is `http` (a loopback or test deployment), with a host and no fragment?
fn usable(url: &str, issuer: &str) -> bool {
    let Ok(uri) = http_uri(url) else {
        return false;
    };
    let scheme_ok = match uri.0 {
        "https" => true,
        "http" => issuer.starts_with("http://"),
        _ => false,
    };
    scheme_ok && !uri.1.is_empty() && !url.contains('#')
}

/// The scheme and host of an absolute URL (no dependency on a URL crate: what is checked is
/// small, and everything else is left to the HTTP client).
fn http_uri(url: &str) -> std::result::Result<(&str, &str), ()> {
    let (scheme, rest) = url.split_once("://").ok_or(())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(['@', ' ']) || url.chars().any(char::is_control) {
        return Err(());
    }
    Ok((scheme, host))
}

impl Metadata {
    /// Parse `body` as the metadata of `expected_issuer`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLarge`] over [`MAX_METADATA_LEN`]; [`ErrorKind::InvalidMetadata`] for
    /// anything but a JSON object whose `issuer` equals `expected_issuer` exactly and whose
    /// `jwks_uri` (and revocation feed, when present) is an absolute `https` URL (`http` is
    /// accepted only for an `http` issuer).
    pub fn parse(body: &[u8], expected_issuer: &str) -> Result<Self> {
        if body.len() > MAX_METADATA_LEN {
            return Err(Error::with(ErrorKind::TooLarge, "metadata over 64 KiB"));
        }
        let raw: Raw = serde_json::from_slice(body).map_err(|_| refuse("not a JSON object"))?;
        let issuer = raw.issuer.ok_or_else(|| refuse("no issuer"))?;
        if issuer != expected_issuer {
            return Err(refuse(
                "issuer differs from the one asked for (RFC 8414 §3.3)",
            ));
        }
        let jwks_uri = raw.jwks_uri.ok_or_else(|| refuse("no jwks_uri"))?;
        if !usable(&jwks_uri, &issuer) {
            return Err(refuse("jwks_uri is not a usable https URL"));
        }
        if let Some(feed) = &raw.tidepass_revocations_endpoint
            && !usable(feed, &issuer)
        {
            return Err(refuse("the revocation feed is not a usable https URL"));
        }
        if let Some(lists) = &raw.status_list_aggregation_endpoint
            && !usable(lists, &issuer)
        {
            return Err(refuse(
                "the status list aggregation is not a usable https URL",
            ));
        }
        Ok(Self {
            issuer,
            jwks_uri,
            introspection_endpoint: raw.introspection_endpoint,
            revocations_endpoint: raw.tidepass_revocations_endpoint,
            status_list_aggregation_endpoint: raw.status_list_aggregation_endpoint,
        })
    }

    /// Where `issuer`'s metadata is (RFC 8414 §3): the well-known path inserted between the
    /// host and the issuer's own path.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when `issuer` is not an absolute `http(s)` URL without
    /// query or fragment.
    pub fn url_for(issuer: &str) -> Result<String> {
        let bad = || {
            Error::with(
                ErrorKind::InvalidConfig,
                "the issuer must be an http(s) URL without query or fragment",
            )
        };
        let (scheme, rest) = issuer.split_once("://").ok_or_else(bad)?;
        if !matches!(scheme, "https" | "http") || issuer.contains(['?', '#']) {
            return Err(bad());
        }
        let (host, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(format!(
            "{scheme}://{host}/.well-known/oauth-authorization-server{}",
            path.trim_end_matches('/')
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let ok = |doc: &str| Metadata::parse(doc.as_bytes(), "https://a.example");
        assert!(ok(r#"{"issuer":"https://a.example","jwks_uri":"https://a.example/k"}"#).is_ok());
        for bad in [
            "[]",
            "null",
            "{",
            r#"{"jwks_uri":"https://a.example/k"}"#,
            r#"{"issuer":"https://a.example/","jwks_uri":"https://a.example/k"}"#,
            r#"{"issuer":"https://a.example"}"#,
            r#"{"issuer":"https://a.example","jwks_uri":"http://a.example/k"}"#,
            r#"{"issuer":"https://a.example","jwks_uri":"/k"}"#,
            r#"{"issuer":"https://a.example","jwks_uri":"https://u@a.example/k"}"#,
            r#"{"issuer":"https://a.example","jwks_uri":"https://a.example/k#f"}"#,
            r#"{"issuer":"https://a.example","jwks_uri":"https://a.example/k","tidepass_revocations_endpoint":"ftp://x"}"#,
            r#"{"issuer":1,"jwks_uri":"https://a.example/k"}"#,
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let big = format!(r#"{{"issuer":"{}"}}"#, "a".repeat(MAX_METADATA_LEN));
        assert_eq!(ok(&big).map_err(|e| e.kind()), Err(ErrorKind::TooLarge));
        // An http issuer (loopback) may use http endpoints.
        let local = r#"{"issuer":"http://127.0.0.1:8080","jwks_uri":"http://127.0.0.1:8080/k"}"#;
        assert!(Metadata::parse(local.as_bytes(), "http://127.0.0.1:8080").is_ok());
    }

    #[test]
    fn well_known_urls() {
        assert_eq!(
            Metadata::url_for("https://a.example").expect("url"),
            "https://a.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            Metadata::url_for("https://a.example/tenant/").expect("url"),
            "https://a.example/.well-known/oauth-authorization-server/tenant"
        );
        for bad in [
            "a.example",
            "ftp://a.example",
            "https://a.example?x",
            "https:///x",
        ] {
            assert!(Metadata::url_for(bad).is_err(), "{bad}");
        }
    }
}
