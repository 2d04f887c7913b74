//! Key material: generation, import (PEM, DER, JWK), key sets with rotation, JWKS.
//!
//! - [`SigningKey`]: a private key (or HMAC secret) prepared once for signing. No `Clone`, no
//!   `Serialize`; `Debug` prints `[redacted]`; its secret bytes are zeroized on drop.
//! - [`VerifyingKey`]: the public half (or the HMAC secret) prepared for verifying.
//! - [`KeySet`]: the auth service's keys: one active signing key plus retired keys kept
//!   verify-only until the tokens they signed have expired.
//! - [`VerifyingKeys`]: a verifier's keys, from a [`KeySet`] or a JWKS document.
//!
//! The algorithm belongs to the key. A token's header never chooses it.

pub(crate) mod crypto;

/// The cryptography backend this build of tidepass uses: `"ring"` (the default) or
/// `"aws-lc-rs"` (the `aws-lc-rs` feature).
///
/// ```
/// assert!(["ring", "aws-lc-rs"].contains(&tidepass::keys::BACKEND));
/// ```
#[cfg(not(feature = "aws-lc-rs"))]
pub const BACKEND: &str = "ring";
/// The cryptography backend this build of tidepass uses: `"ring"` (the default) or
/// `"aws-lc-rs"` (the `aws-lc-rs` feature).
///
/// ```
/// assert!(["ring", "aws-lc-rs"].contains(&tidepass::keys::BACKEND));
/// ```
#[cfg(feature = "aws-lc-rs")]
pub const BACKEND: &str = "aws-lc-rs";
pub(crate) mod der;
mod jwk;
pub mod provider;

mod algorithm;
mod external;
pub mod files;
pub(crate) mod ring;
pub mod sealed;
mod set;
mod signing;
mod verifying;

pub use algorithm::Algorithm;
pub use external::ExternalSigner;
pub use ring::{RingKeys, RingPolicy};
pub use sealed::Kek;
pub use set::KeySet;
pub use signing::SigningKey;
use verifying::VerifyingInner;
pub use verifying::{VerifyingKey, VerifyingKeys};

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crypto::Signer;
use der::KeyType;

/// A key identifier (`kid`). Defaults to the RFC 7638 thumbprint of the public key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Arc<str>);

impl KeyId {
    /// A key id from any non-empty string of at most 256 bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when empty or longer than 256 bytes.
    pub fn new(kid: impl Into<String>) -> Result<Self> {
        let kid = kid.into();
        if kid.is_empty() || kid.len() > 256 {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "kid must be 1 to 256 bytes",
            ));
        }
        Ok(Self(kid.into()))
    }

    /// The identifier as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", &*self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An RFC 7638 JWK SHA-256 thumbprint: what a DPoP-bound token's `cnf.jkt` holds and what a
/// session is bound to. Printed (and serialized) as its 43-character base64url form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thumbprint([u8; 32]);

impl Thumbprint {
    /// The thumbprint from its raw 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn of_canonical(canonical: &str) -> Self {
        let d =
            crate::backend::digest::digest(&crate::backend::digest::SHA256, canonical.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({self})")
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64(&self.0))
    }
}

impl std::str::FromStr for Thumbprint {
    type Err = Error;
    /// The base64url form (43 characters, no padding).
    fn from_str(s: &str) -> Result<Self> {
        let mut out = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
            Ok(32) if s.len() == 43 => Ok(Self(out)),
            _ => Err(Error::with(
                ErrorKind::Malformed,
                "a JWK thumbprint is 43 base64url characters",
            )),
        }
    }
}

impl serde::Serialize for Thumbprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Thumbprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public half of a key, kept for JWK export and thumbprints.
#[derive(Clone)]
enum PublicParts {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        crv: &'static str,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Okp {
        x: Vec<u8>,
    },
}

impl PublicParts {
    fn from_signer(signer: &Signer) -> Option<Self> {
        use crate::backend::signature::KeyPair as _;
        match signer {
            Signer::Hmac(_) => None,
            Signer::Ecdsa(k) => Some(Self::from_point(k.public_key().as_ref())),
            Signer::Ed25519(k) => Some(Self::Okp {
                x: k.public_key().as_ref().to_vec(),
            }),
            // Taken from the device's JWK instead ([`SigningKey::external`]).
            Signer::External(..) => None,
            Signer::Rsa(k, _) => {
                let (n, e) = crypto::rsa_public_parts(k);
                Some(Self::Rsa { n, e })
            }
        }
    }

    fn from_point(p: &[u8]) -> Self {
        let (x, y) = ec_coordinates(p).unwrap_or_default();
        let crv = if x.len() == 32 { "P-256" } else { "P-384" };
        Self::Ec {
            crv,
            x: x.to_vec(),
            y: y.to_vec(),
        }
    }

    /// An RSA key's modulus length in bytes (its signature length).
    fn rsa_modulus_len(&self) -> Option<usize> {
        match self {
            Self::Rsa { n, .. } => Some(n.len()),
            _ => None,
        }
    }

    /// The RFC 7638 thumbprint, as bytes.
    fn jkt(&self) -> Thumbprint {
        Thumbprint::of_canonical(&self.canonical())
    }

    /// The RFC 7638 thumbprint in base64url (the default `kid`).
    fn thumbprint(&self) -> String {
        b64(self.jkt().as_bytes())
    }

    /// RFC 7638 canonical JSON: required members only, lexicographic order, no whitespace.
    fn canonical(&self) -> String {
        match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n)),
            Self::Ec { crv, x, y } => {
                format!(
                    r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64(x),
                    b64(y)
                )
            }
            Self::Okp { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x)),
        }
    }

    fn to_jwk(&self, alg: Algorithm, kid: &KeyId) -> Value {
        let mut m = Map::new();
        match self {
            Self::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(n).into());
                m.insert("e".into(), b64(e).into());
            }
            Self::Ec { crv, x, y } => {
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), (*crv).into());
                m.insert("x".into(), b64(x).into());
                m.insert("y".into(), b64(y).into());
            }
            Self::Okp { x } => {
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), b64(x).into());
            }
        }
        m.insert("use".into(), "sig".into());
        m.insert("alg".into(), alg.as_str().into());
        m.insert("kid".into(), kid.as_str().into());
        Value::Object(m)
    }

    fn spki_der(&self) -> Vec<u8> {
        match self {
            Self::Rsa { n, e } => der::encode_spki(KeyType::Rsa, &der::encode_rsa_public_key(n, e)),
            Self::Ec { crv, x, y } => {
                let mut p = vec![4u8];
                p.extend_from_slice(x);
                p.extend_from_slice(y);
                let kind = if *crv == "P-256" {
                    KeyType::P256
                } else {
                    KeyType::P384
                };
                der::encode_spki(kind, &p)
            }
            Self::Okp { x } => der::encode_spki(KeyType::Ed25519, x),
        }
    }
}

fn parse_pem(pem: &[u8]) -> Result<pem::Pem> {
    pem::parse(pem).map_err(|e| Error::source_from(ErrorKind::InvalidKey, "not PEM", e))
}

/// The (x, y) coordinates of an uncompressed EC point `04 ‖ x ‖ y`; `None` for anything else.
pub(crate) fn ec_coordinates(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&4, xy) = p.split_first()? else {
        return None;
    };
    if xy.is_empty() || xy.len() % 2 != 0 {
        return None;
    }
    xy.split_at_checked(xy.len() / 2)
}
