//! The JWS algorithms tidepass implements; each key has exactly one.

use std::fmt;
use std::str::FromStr;

use super::der::KeyType;
use crate::error::{Error, ErrorKind, Result};

/// A JWS signature algorithm (RFC 7518, RFC 8037) that tidepass implements.
///
/// `ES512` and `none` are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256. The secret must be at least 32 bytes.
    HS256,
    /// HMAC with SHA-384. The secret must be at least 48 bytes.
    HS384,
    /// HMAC with SHA-512. The secret must be at least 64 bytes.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit modulus or more).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Algorithm; 12] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The JOSE name (`"ES256"`, `"EdDSA"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parse an exact JOSE name. Case-sensitive, as RFC 7515 requires.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// HS256, HS384 or HS512.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// RS* or PS*.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512
        )
    }

    fn key_type(self) -> Option<KeyType> {
        match self {
            Self::ES256 => Some(KeyType::P256),
            Self::ES384 => Some(KeyType::P384),
            Self::EdDSA => Some(KeyType::Ed25519),
            a if a.is_rsa() => Some(KeyType::Rsa),
            _ => None,
        }
    }

    /// The default algorithm for a key type found in a PEM/DER document.
    fn default_for(kind: KeyType) -> Self {
        match kind {
            KeyType::Rsa => Self::RS256,
            KeyType::P256 => Self::ES256,
            KeyType::P384 => Self::ES384,
            KeyType::Ed25519 => Self::EdDSA,
        }
    }

    pub(super) fn for_key(kind: KeyType, requested: Option<Self>) -> Result<Self> {
        match requested {
            None => Ok(Self::default_for(kind)),
            Some(a) if a.key_type() == Some(kind) => Ok(a),
            Some(_) => Err(Error::with(
                ErrorKind::InvalidKey,
                "key type does not fit the algorithm",
            )),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(s).ok_or_else(|| Error::with(ErrorKind::InvalidConfig, "unknown algorithm"))
    }
}
