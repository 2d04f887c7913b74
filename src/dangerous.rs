//! Sharp edges, behind one name.
//!
//! Nothing here verifies anything. Use it to look at a token while debugging, never to decide
//! whether to trust one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::token::jws;

/// A token's header and claims, decoded **without verifying the signature**.
#[derive(Debug, Clone, PartialEq)]
pub struct Unverified {
    /// The JOSE header.
    pub header: Value,
    /// The claims (payload) as JSON, or `Value::Null` when the payload is not JSON.
    pub claims: Value,
}

/// Decode a compact JWS without verifying it. The result proves nothing about who made it.
///
/// # Errors
///
/// [`ErrorKind::TooLarge`] over 64 KiB; [`ErrorKind::Encrypted`] for a JWE;
/// [`ErrorKind::Malformed`] when the parts are not base64url or the header is not a JSON
/// object.
pub fn decode_unverified(token: &str) -> Result<Unverified> {
    if token.len() > 64 * 1024 {
        return Err(Error::new(ErrorKind::TooLarge));
    }
    let (h, p, _) = jws::split(token)?;
    let bad = |_| Error::with(ErrorKind::Malformed, "bad base64url");
    let header = URL_SAFE_NO_PAD.decode(h).map_err(bad)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(bad)?;
    if !jws::is_json_object(&header) {
        return Err(Error::with(
            ErrorKind::Malformed,
            "header is not a JSON object",
        ));
    }
    let header: Value = serde_json::from_slice(&header)
        .map_err(|_| Error::with(ErrorKind::Malformed, "header is not valid JSON"))?;
    let claims = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    Ok(Unverified { header, claims })
}
