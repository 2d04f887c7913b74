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

/// The largest token [`verify`] reads: a list of [`MAX_LIST_BYTES`](super::MAX_LIST_BYTES)
/// that does not compress at all, in base64url, with room for the rest.
pub const MAX_TOKEN: usize = super::MAX_LIST_BYTES / 3 * 4 + 8192;

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
/// [`ErrorKind::InvalidConfig`] when `exp` is not after `iat`; a serialization or signing
/// error.
pub fn sign(
    key: &SigningKey,
    uri: &str,
    list: &StatusList,
    iat: u64,
    exp: u64,
    ttl: u64,
) -> Result<String> {
    if exp <= iat {
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            "a status list token's exp must be after its iat",
        ));
    }
    let claims = StatusListClaims {
        sub: uri.to_owned(),
        iat,
        exp: Some(exp),
        ttl: Some(ttl),
        status_list: list.encode()?,
    };
    let payload = serde_json::to_vec(&claims)
        .map_err(|e| Error::source_from(ErrorKind::Serialization, "status list token", e))?;
    jws::sign(&jws::header_b64(key, STATUS_LIST_TYPE), &payload, key)
}

/// Verify a Status List Token fetched from `uri` (§8.3): the signature by a key of `keys`,
/// `typ` `statuslist+jwt`, `sub` equal to `uri`, `exp` (if any) after `now`, `iat` not in the
/// future, and a list that decodes.
///
/// # Errors
///
/// [`ErrorKind::TooLarge`] past [`MAX_TOKEN`]; the JWS kinds ([`ErrorKind::InvalidSignature`],
/// [`ErrorKind::UnknownKey`], [`ErrorKind::InvalidType`], …); [`ErrorKind::InvalidIssuer`]
/// when `sub` is not `uri` (another list's token: its entries say nothing about this one);
/// [`ErrorKind::Expired`]; [`ErrorKind::IssuedInFuture`]; [`ErrorKind::MissingClaim`] or
/// [`ErrorKind::Malformed`] for claims that do not parse; the list's own decoding errors.
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
        serde_json::from_slice(payload)
            .map_err(|_| Error::with(ErrorKind::MissingClaim, "status list token claims"))
    })?;
    if claims.sub != uri {
        return Err(Error::with(
            ErrorKind::InvalidIssuer,
            "the status list token's sub is not the list's uri",
        ));
    }
    if claims.exp.is_some_and(|exp| exp <= now) {
        return Err(Error::new(ErrorKind::Expired));
    }
    // A minute of clock skew, as for access tokens.
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
