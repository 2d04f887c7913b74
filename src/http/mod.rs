//! HTTP glue without a framework: RFC 6750 bearer credentials, refresh-token cookies,
//! rejection responses, and the auth service's endpoints ([`server`]) on the `http` crate's
//! types (feature `server`); the axum extractor, middleware and `Router` on top (feature
//! `axum`).

#[cfg(feature = "axum")]
pub mod axum;
/// RFC 6750 §2.1 `Authorization: Bearer` parsing (it lives with the verifier, which uses it).
pub use crate::verify::bearer;
#[cfg(feature = "server")]
pub mod cookie;
#[cfg(feature = "tower")]
pub mod layer;
pub mod rejection;
#[cfg(feature = "server")]
pub mod server;

pub use rejection::Rejection;

/// The URL a request was sent to, for a DPoP proof's `htu`: the checker's
/// [`public_base`](crate::verify::dpop::ProofChecker::public_base) plus the path when one is
/// set, else the request's own absolute URI (HTTP/2), else `http://` and its `Host` header.
///
/// # Errors
///
/// [`ErrorKind::InvalidDpopProof`](crate::ErrorKind::InvalidDpopProof) when the request names
/// no host.
#[cfg(feature = "server")]
pub fn request_url(
    checker: &crate::verify::dpop::ProofChecker,
    uri: &::http::Uri,
    headers: &::http::HeaderMap,
) -> crate::Result<String> {
    let path = uri.path();
    if let Some(base) = checker.public_base_url() {
        return Ok(format!("{base}{path}"));
    }
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        return Ok(format!("{scheme}://{authority}{path}"));
    }
    match headers
        .get(::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(host) if !host.is_empty() => Ok(format!("http://{host}{path}")),
        _ => Err(crate::Error::with(
            crate::ErrorKind::InvalidDpopProof,
            "the request names no host to check htu against",
        )),
    }
}

#[cfg(feature = "server")]
/// [`verify_http`], and when the token names a `kid` the verifier does not know and a
/// [`Follower`](crate::verify::follow::Follower) follows the issuer for it: one JWKS refresh
/// (single-flight, rate-limited) and one more try, before answering. So a key rotation never
/// answers 401 to a valid token, with no code of the application's. The axum extractor, the
/// `require_auth` middleware and the tower layer use it.
///
/// # Errors
///
/// As [`verify_http`].
pub async fn verify_http_following<C: serde::de::DeserializeOwned + Send + Sync + 'static>(
    verifier: &crate::Verifier<C>,
    method: &::http::Method,
    uri: &::http::Uri,
    headers: &::http::HeaderMap,
) -> crate::Result<crate::Verified<C>> {
    match verify_http(verifier, method, uri, headers) {
        Err(e) if e.kind() == crate::ErrorKind::UnknownKey => {
            if verifier.refresh_for_unknown_kid().await {
                verify_http(verifier, method, uri, headers)
            } else {
                Err(e)
            }
        }
        other => other,
    }
}

/// Verify a request's `Authorization` under either scheme, `Bearer` or `DPoP` (with its one
/// `DPoP` header, checked against the request's method and [`request_url`]): what the axum
/// extractor, the middleware and the tower layer do.
///
/// # Errors
///
/// [`ErrorKind::MissingToken`](crate::ErrorKind::MissingToken) without `Authorization`;
/// [`ErrorKind::InvalidDpopProof`](crate::ErrorKind::InvalidDpopProof) for a `DPoP` request
/// without exactly one proof; otherwise as [`crate::Verifier::verify_request`].
#[cfg(feature = "server")]
pub fn verify_http<C: serde::de::DeserializeOwned + Send + Sync + 'static>(
    verifier: &crate::Verifier<C>,
    method: &::http::Method,
    uri: &::http::Uri,
    headers: &::http::HeaderMap,
) -> crate::Result<crate::Verified<C>> {
    use crate::{Error, ErrorKind};
    let authorization = match headers.get(::http::header::AUTHORIZATION) {
        None => return Err(Error::new(ErrorKind::MissingToken)),
        Some(v) => v
            .to_str()
            .map_err(|_| Error::with(ErrorKind::InvalidRequest, "non-ASCII header"))?,
    };
    // The header is split once, here; the token goes straight to the verifier.
    let (scheme, token) =
        crate::verify::bearer::split_credentials(authorization, verifier.max_token_len())?;
    let now = verifier.now();
    if scheme == bearer::Scheme::Bearer {
        return verifier.verify_credentials(scheme, token, None, method.as_str(), "", now);
    }
    let mut proofs = headers.get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (Some(p), None) => p.to_str().ok(),
        _ => None,
    }
    .ok_or(Error::with(
        ErrorKind::InvalidDpopProof,
        "a DPoP request carries exactly one DPoP header",
    ))?;
    let url = request_url(verifier.dpop(), uri, headers)?;
    verifier.verify_credentials(scheme, token, Some(proof), method.as_str(), &url, now)
}
