//! The Status List Token (§5.1): a JWT whose header has `typ` `statuslist+jwt` and whose claims
//! are `sub` (the list's URI, as referenced tokens name it), `iat`, `exp`, `ttl` and
//! `status_list` (`bits` and `lst`). Signed with the issuer's keys, so it verifies against the
//! JWKS its access tokens verify against; served as [`MEDIA_TYPE`] (§5.1, §14).
//!
//! ```
//! use tidepass::keys::{Algorithm, SigningKey};
//! use tidepass::revocation::status_list::{Bits, Status, StatusList, token};
//!
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let mut list = StatusList::new(Bits::One, 1 << 10)?;
//! list.set(7, Status::INVALID)?;
//! let uri = "https://auth.example/statuslists/0";
//! let now = 1_800_000_000;
//! let jwt = token::sign(&key, uri, &list, now, now + 3600, 300)?;
//!
//! // A verifier: the JWKS's keys, the URI from the token's `status` claim, its clock.
//! let keys = tidepass::keys::VerifyingKeys::from_keys([key.verifying_key()])?;
//! let verified = token::verify(&jwt, &keys, uri, now + 60)?;
//! assert_eq!(verified.list.get(7), Some(Status::INVALID));
//! # Ok::<(), tidepass::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use super::{EncodedList, StatusList};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{SigningKey, VerifyingKeys};
use crate::token::jws;

/// The header's `typ` (§5.1).
pub const STATUS_LIST_TYPE: &str = "statuslist+jwt";

/// The media type a Status List Token is served as (§14).
pub const MEDIA_TYPE: &str = "application/statuslist+jwt";

/// The largest token [`verify`] reads and [`sign`] makes: the longest `lst`
/// ([`MAX_LST_CHARS`](super::MAX_LST_CHARS)) with room for the other claims, base64url-encoded
/// again as the payload, with room for the header and the signature.
pub const MAX_TOKEN: usize = (super::MAX_LST_CHARS + 8192).div_ceil(3) * 4 + 8192;

/// The claims of a Status List Token (§5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusListClaims {
    /// The list's URI: the `uri` of every `status` claim that points into it.
    pub sub: String,
    /// When it was issued (Unix seconds).
    pub iat: u64,
    /// When it stops being valid (Unix seconds); optional in the draft, always written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// How long (seconds) a verifier may cache it before fetching it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Not valid before (Unix seconds), if the issuer says so (RFC 7519 §4.1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The list.
    pub status_list: EncodedList,
}

/// A verified Status List Token: its list and its timing claims.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedStatusList {
    /// The decoded list.
    pub list: StatusList,
    /// `iat`.
    pub issued_at: u64,
    /// `exp`, when present.
    pub expires_at: Option<u64>,
    /// `ttl`, when present.
    pub ttl: Option<u64>,
}

/// Sign `list` as the Status List Token at `uri`, issued at `iat`, valid until `exp`, to be
/// cached for at most `ttl` seconds.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when `exp` is not after `iat`, `ttl` is 0 (§5.1: positive) or
/// the list is empty; [`ErrorKind::MintTooLarge`] past [`MAX_TOKEN`] (only for a `uri` of
/// kilobytes); a serialization or signing error.
pub fn sign(
    key: &SigningKey,
    uri: &str,
    list: &StatusList,
    iat: u64,
    exp: u64,
    ttl: u64,
) -> Result<String> {
    if exp <= iat || ttl == 0 || list.is_empty() {
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            "a status list token needs exp after iat, a positive ttl and a non-empty list",
        ));
    }
    let claims = StatusListClaims {
        sub: uri.to_owned(),
        iat,
        exp: Some(exp),
        ttl: Some(ttl),
        nbf: None,
        status_list: list.encode()?,
    };
    let payload = serde_json::to_vec(&claims)
        .map_err(|e| Error::source_from(ErrorKind::Serialization, "status list token", e))?;
    let jwt = jws::sign(&jws::header_b64(key, STATUS_LIST_TYPE), &payload, key)?;
    if jwt.len() > MAX_TOKEN {
        return Err(Error::new(ErrorKind::MintTooLarge));
    }
    Ok(jwt)
}

/// Verify a Status List Token fetched from `uri` (§8.3): the signature by a key of `keys`,
/// `typ` `statuslist+jwt`, claims that are a JSON object, `sub` equal to `uri`, `exp` (if any)
/// after `now`, `nbf` (if any) and `iat` not in the future (a minute of clock skew allowed
/// for both), a positive `ttl` (if any), and a list that decodes. A token without `exp` is
/// accepted (the draft only recommends it); bound how long you keep one by its `iat`.
///
/// # Errors
///
/// [`ErrorKind::TooLarge`] past [`MAX_TOKEN`]; the JWS kinds ([`ErrorKind::InvalidSignature`],
/// [`ErrorKind::UnknownKey`], [`ErrorKind::InvalidType`], …); [`ErrorKind::InvalidSubject`]
/// when `sub` is not `uri` (another list's token: its entries say nothing about this one);
/// [`ErrorKind::Expired`]; [`ErrorKind::NotYetValid`]; [`ErrorKind::IssuedInFuture`];
/// [`ErrorKind::MissingClaim`] for claims that do not parse (`ttl` 0 included) and
/// [`ErrorKind::Malformed`] for claims that are not a JSON object; the list's own decoding
/// errors.
pub fn verify(
    token: &str,
    keys: &VerifyingKeys,
    uri: &str,
    now: u64,
) -> Result<VerifiedStatusList> {
    if token.len() > MAX_TOKEN {
        return Err(Error::with(
            ErrorKind::TooLarge,
            "status list token too large",
        ));
    }
    let policy = jws::Policy {
        require_kid: false,
        typ: Some(STATUS_LIST_TYPE),
    };
    let claims: StatusListClaims = jws::verify(token, keys, policy, |payload, _| {
        // serde would read a JSON array into the struct too.
        if !jws::is_json_object(payload) {
            return Err(Error::with(
                ErrorKind::Malformed,
                "status list token claims are not a JSON object",
            ));
        }
        serde_json::from_slice(payload)
            .map_err(|_| Error::with(ErrorKind::MissingClaim, "status list token claims"))
    })?;
    if claims.sub != uri {
        return Err(Error::with(
            ErrorKind::InvalidSubject,
            "the status list token's sub is not the list's uri",
        ));
    }
    if claims.ttl == Some(0) {
        return Err(Error::with(ErrorKind::MissingClaim, "ttl must be positive"));
    }
    if claims.exp.is_some_and(|exp| exp <= now) {
        return Err(Error::new(ErrorKind::Expired));
    }
    // A minute of clock skew, as for access tokens.
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(60)) {
        return Err(Error::new(ErrorKind::NotYetValid));
    }
    if claims.iat > now.saturating_add(60) {
        return Err(Error::new(ErrorKind::IssuedInFuture));
    }
    Ok(VerifiedStatusList {
        list: StatusList::decode(claims.status_list.bits, &claims.status_list.lst)?,
        issued_at: claims.iat,
        expires_at: claims.exp,
        ttl: claims.ttl,
    })
}
