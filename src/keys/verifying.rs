//! Verifying keys (the public half, or an HMAC secret) and a verifier's key set.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::crypto::{self, Verifier};
use super::der::{self, KeyType};
use super::{Algorithm, SigningKey, jwk, parse_pem};
use super::{KeyId, PublicParts};
use crate::error::{Error, ErrorKind, Result};

pub(super) struct VerifyingInner {
    pub(super) alg: Algorithm,
    pub(super) kid: KeyId,
    pub(super) verifier: Verifier,
    pub(super) public: Option<PublicParts>,
    /// A slot the token layer fills with the exact header its minter writes for this key
    /// (computed once, on first use). Keys know nothing of JWS; they only keep the cache.
    pub(super) token_header: OnceLock<Box<str>>,
}

impl VerifyingInner {
    pub(super) fn new(
        alg: Algorithm,
        kid: KeyId,
        verifier: Verifier,
        public: Option<PublicParts>,
    ) -> Self {
        Self {
            alg,
            kid,
            verifier,
            public,
            token_header: OnceLock::new(),
        }
    }
}

/// A key prepared for verifying signatures: the public half, or an HMAC secret.
///
/// Cheap to clone (shared). `Debug` never prints key material.
#[derive(Clone)]
pub struct VerifyingKey(pub(super) Arc<VerifyingInner>);

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.0.alg)
            .field("kid", &self.0.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl VerifyingKey {
    /// A public key from PEM: SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1
    /// (`RSA PUBLIC KEY`), or the public half of a private key PEM. `alg` defaults by key type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] / [`ErrorKind::WeakKey`] as for [`SigningKey::from_pem`].
    pub fn from_pem(pem: &[u8], alg: Option<Algorithm>) -> Result<Self> {
        let doc = parse_pem(pem)?;
        let (kind, key) = match doc.tag() {
            "PUBLIC KEY" => der::spki(doc.contents())?,
            "RSA PUBLIC KEY" => (KeyType::Rsa, doc.contents()),
            "PRIVATE KEY" | "RSA PRIVATE KEY" => {
                return Ok(SigningKey::from_pem(pem, alg)?.verifying_key());
            }
            _ => {
                return Err(Error::with(
                    ErrorKind::InvalidKey,
                    "PEM is not a public key",
                ));
            }
        };
        let alg = Algorithm::for_key(kind, alg)?;
        let (verifier, public) = match kind {
            KeyType::Rsa => {
                let (n, e) = der::rsa_public_key(key)?;
                let v = crypto::rsa_verifier(alg, n, e)?;
                let public = PublicParts::Rsa {
                    n: crypto::strip_zeros(n).to_vec(),
                    e: crypto::strip_zeros(e).to_vec(),
                };
                (v, public)
            }
            KeyType::P256 | KeyType::P384 => {
                (crypto::ec_verifier(alg, key)?, PublicParts::from_point(key))
            }
            KeyType::Ed25519 => (
                crypto::ed_verifier(key)?,
                PublicParts::Okp { x: key.to_vec() },
            ),
        };
        let kid = KeyId(public.thumbprint().into());
        Ok(Self(Arc::new(VerifyingInner::new(
            alg,
            kid,
            verifier,
            Some(public),
        ))))
    }

    /// A verification key from one JWK document (public members, or `oct` for HMAC); the same
    /// argument as [`SigningKey::from_jwk`](crate::keys::SigningKey::from_jwk).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKeySet`] for text that is not a JSON JWK, or (as
    /// [`ErrorKind::WeakKey`]) for refused keys (see [`VerifyingKeys::from_jwks`]).
    pub fn from_jwk(jwk: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(jwk)
            .map_err(|e| Error::source_from(ErrorKind::InvalidKeySet, "JWK is not JSON", e))?;
        jwk::verifying_from_jwk(&v)
    }

    /// The public key a JWS header embeds (a DPoP proof's `jwk`), for the header's `alg`.
    pub(crate) fn from_embedded_jwk(jwk: &Value, alg: Algorithm) -> Result<Self> {
        jwk::embedded_public(jwk, alg)
    }

    /// Replace the key id.
    pub fn with_kid(self, kid: KeyId) -> Self {
        let inner = &*self.0;
        let verifier = inner.verifier.clone();
        Self(Arc::new(VerifyingInner::new(
            inner.alg,
            kid,
            verifier,
            inner.public.clone(),
        )))
    }

    /// The key's algorithm: the only algorithm a token checked with this key may use.
    pub fn algorithm(&self) -> Algorithm {
        self.0.alg
    }

    /// The key id.
    pub fn kid(&self) -> &KeyId {
        &self.0.kid
    }

    /// `true` for HMAC keys (secret, never published).
    pub fn is_secret(&self) -> bool {
        self.0.public.is_none()
    }

    /// The public JWK, or `None` for HMAC keys.
    pub fn public_jwk(&self) -> Option<Value> {
        self.0
            .public
            .as_ref()
            .map(|p| p.to_jwk(self.0.alg, &self.0.kid))
    }

    /// The RFC 7638 thumbprint of the public key (whatever its `kid`), or `None` for HMAC keys.
    pub fn thumbprint(&self) -> Option<super::Thumbprint> {
        self.0.public.as_ref().map(super::PublicParts::jkt)
    }

    /// The public key as SubjectPublicKeyInfo PEM, or `None` for HMAC keys.
    pub fn public_pem(&self) -> Option<String> {
        let der = self.0.public.as_ref()?.spki_der();
        Some(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }

    /// See [`VerifyingInner::token_header`].
    pub(crate) fn token_header_slot(&self) -> &OnceLock<Box<str>> {
        &self.0.token_header
    }

    /// Verify `signature` over `msg` with this key's algorithm.
    pub(crate) fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        self.0.verifier.verify(msg, signature)
    }
}

/// A verifier's key set: the keys tokens may be signed with, found by `kid`.
///
/// Built from a [`KeySet`](super::KeySet) (same process) or a JWKS document (another service). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct VerifyingKeys {
    pub(super) keys: Arc<[VerifyingKey]>,
}

impl VerifyingKeys {
    /// A key set from individual keys.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKeySet`] for a duplicate `kid`, or for a set that mixes HMAC secrets
    /// with public keys (the setting of algorithm-confusion attacks; Wycheproof
    /// `MixedKeySet`).
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self> {
        let keys: Vec<VerifyingKey> = keys.into_iter().collect();
        for (i, k) in keys.iter().enumerate() {
            if keys.iter().take(i).any(|o| o.kid() == k.kid()) {
                return Err(Error::with(
                    ErrorKind::InvalidKeySet,
                    "duplicate kid in key set",
                ));
            }
        }
        if keys.iter().any(VerifyingKey::is_secret) && keys.iter().any(|k| !k.is_secret()) {
            return Err(Error::with(
                ErrorKind::InvalidKeySet,
                "key set mixes HMAC secrets with public keys",
            ));
        }
        Ok(Self { keys: keys.into() })
    }

    /// A key set from a JWKS document (RFC 7517 §5).
    ///
    /// Every key must be usable for signatures: `use` absent or `"sig"`, `key_ops` absent or
    /// containing `"verify"`, an `alg` tidepass implements that fits the key type and curve,
    /// RSA moduli of 2048 bits or more with a sane exponent and without the ROCA fingerprint,
    /// EC points on their curve, HMAC secrets at least as long as the hash. Keys without `alg`
    /// get EdDSA, ES256 or ES384 from their curve and RS256 for RSA; `oct` keys must name their
    /// `alg`. One bad key refuses the whole document, and so does any private key material
    /// (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` on an RSA, EC or OKP key): a published private
    /// key is a leak.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKeySet`] or [`ErrorKind::WeakKey`]; [`ErrorKind::TooLarge`] for a
    /// document over 1 MiB.
    pub fn from_jwks(jwks: &str) -> Result<Self> {
        if jwks.len() > 1 << 20 {
            return Err(Error::with(ErrorKind::TooLarge, "JWKS over 1 MiB"));
        }
        let v: Value = serde_json::from_str(jwks)
            .map_err(|e| Error::source_from(ErrorKind::InvalidKeySet, "JWKS is not JSON", e))?;
        let keys = v.get("keys").and_then(Value::as_array).ok_or(Error::with(
            ErrorKind::InvalidKeySet,
            "JWKS has no \"keys\" array",
        ))?;
        if keys.len() > 1000 {
            return Err(Error::with(ErrorKind::TooLarge, "JWKS with over 1000 keys"));
        }
        // A published private key is a leak, never a configuration: refuse the document.
        if keys.iter().any(jwk::has_private_parts) {
            return Err(Error::with(
                ErrorKind::InvalidKeySet,
                "JWKS contains private key material (d, p, q, dp, dq, qi or oth): a leaked key",
            ));
        }
        Self::from_keys(
            keys.iter()
                .map(jwk::verifying_from_jwk)
                .collect::<Result<Vec<_>>>()?,
        )
    }

    /// The key with this kid.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid().as_str() == kid)
    }

    /// The only key, when there is exactly one.
    pub(crate) fn single(&self) -> Option<&VerifyingKey> {
        match &*self.keys {
            [k] => Some(k),
            _ => None,
        }
    }

    /// All keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public JWKS document (HMAC keys are left out).
    pub fn to_jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter_map(VerifyingKey::public_jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }
}
