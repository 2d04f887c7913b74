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
pub(crate) mod der;
mod jwk;
pub mod provider;
pub mod sync;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crypto::{Signer, Verifier};
use der::KeyType;

/// A JWS signature algorithm (RFC 7518, RFC 8037) that tidepass implements.
///
/// `ES512` and `none` are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
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

    fn for_key(kind: KeyType, requested: Option<Self>) -> Result<Self> {
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
        use ring::signature::KeyPair as _;
        match signer {
            Signer::Hmac(_) => None,
            Signer::Ecdsa(k) => Some(Self::from_point(k.public_key().as_ref())),
            Signer::Ed25519(k) => Some(Self::Okp {
                x: k.public_key().as_ref().to_vec(),
            }),
            Signer::Rsa(k, _) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public());
                Some(Self::Rsa { n: c.n, e: c.e })
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

    /// RFC 7638 canonical JSON: required members only, lexicographic order, no whitespace.
    fn thumbprint(&self) -> String {
        let canonical = match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n)),
            Self::Ec { crv, x, y } => {
                format!(
                    r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64(x),
                    b64(y)
                )
            }
            Self::Okp { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x)),
        };
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
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

/// Secret material a [`SigningKey`] can export: the PKCS#8 document or the HMAC secret.
enum Private {
    Pkcs8(Zeroizing<Vec<u8>>),
    Secret(Zeroizing<Vec<u8>>),
    /// Imported from a JWK or PKCS#1: usable for signing, not exportable.
    None,
}

/// A private key or HMAC secret, prepared once for signing.
///
/// Deliberately not `Clone`, `PartialEq`, `Display` or `Serialize`. `Debug` shows only the
/// algorithm and kid.
pub struct SigningKey {
    alg: Algorithm,
    kid: KeyId,
    signer: Signer,
    public: Option<PublicParts>,
    private: Private,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    fn assemble(alg: Algorithm, signer: Signer, private: Private) -> Self {
        // Any use of tidepass keys makes jsonwebtoken run on ring too, unless the application
        // chose another provider first (never a panic either way).
        provider::install();
        let public = PublicParts::from_signer(&signer);
        let kid = match (&public, &private) {
            (Some(p), _) => p.thumbprint(),
            // An RFC 7638 thumbprint of an `oct` key would publish a hash of the secret; an
            // HMAC of a fixed label under the secret identifies the key without revealing it.
            (None, _) => match &signer {
                Signer::Hmac(k) => {
                    let tag = ring::hmac::sign(k, b"tidepass kid v1");
                    b64(tag.as_ref().get(..16).unwrap_or(tag.as_ref()))
                }
                _ => String::from("key"),
            },
        };
        Self {
            alg,
            kid: KeyId(kid.into()),
            signer,
            public,
            private,
        }
    }

    /// Generate a new key with ring: `EdDSA`, `ES256`, `ES384`, or an HMAC secret (`HS256`,
    /// `HS384`, `HS512`) as long as the hash output.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] for RSA (ring cannot generate RSA keys; import a PEM instead),
    /// [`ErrorKind::Random`] if the system RNG fails.
    pub fn generate(alg: Algorithm) -> Result<Self> {
        let (signer, private) = crypto::generate(alg)?;
        let private = if alg.is_hmac() {
            Private::Secret(private)
        } else {
            Private::Pkcs8(private)
        };
        Ok(Self::assemble(alg, signer, private))
    }

    /// An HMAC key from a secret of at least the hash output's length.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] for a short secret, [`ErrorKind::InvalidKey`] for a non-HMAC `alg`.
    pub fn from_hmac_secret(alg: Algorithm, secret: &[u8]) -> Result<Self> {
        let signer = crypto::hmac_signer(alg, secret)?;
        Ok(Self::assemble(
            alg,
            signer,
            Private::Secret(Zeroizing::new(secret.to_vec())),
        ))
    }

    /// A private key from PEM: PKCS#8 (`PRIVATE KEY`: RSA, P-256, P-384, Ed25519) or PKCS#1
    /// (`RSA PRIVATE KEY`). `alg` defaults to RS256, ES256, ES384 or EdDSA by key type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] when the PEM or key is malformed or does not fit `alg`;
    /// [`ErrorKind::WeakKey`] for an RSA modulus under 2048 bits or a bad exponent.
    pub fn from_pem(pem: &[u8], alg: Option<Algorithm>) -> Result<Self> {
        let doc = parse_pem(pem)?;
        match doc.tag() {
            "PRIVATE KEY" => Self::from_pkcs8_der(doc.contents(), alg),
            "RSA PRIVATE KEY" => {
                let alg = Algorithm::for_key(KeyType::Rsa, alg)?;
                let signer = crypto::signer_from_der(alg, doc.contents())?;
                Ok(Self::assemble(alg, signer, Private::None))
            }
            "EC PRIVATE KEY" => Err(Error::with(
                ErrorKind::InvalidKey,
                "SEC1 EC keys are not supported; convert with `openssl pkcs8 -topk8 -nocrypt`",
            )),
            _ => Err(Error::with(
                ErrorKind::InvalidKey,
                "PEM is not an unencrypted private key",
            )),
        }
    }

    /// A private key from PKCS#8 DER.
    ///
    /// # Errors
    ///
    /// As [`SigningKey::from_pem`].
    pub fn from_pkcs8_der(der: &[u8], alg: Option<Algorithm>) -> Result<Self> {
        let alg = Algorithm::for_key(der::pkcs8_key_type(der)?, alg)?;
        let signer = crypto::signer_from_der(alg, der)?;
        Ok(Self::assemble(
            alg,
            signer,
            Private::Pkcs8(Zeroizing::new(der.to_vec())),
        ))
    }

    /// A private key from a JWK document (RSA, EC, OKP with private members, or `oct`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKeySet`] when the JWK is malformed, has no private part, or its parts
    /// disagree; [`ErrorKind::WeakKey`] for weak keys.
    pub fn from_jwk(jwk: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(jwk)
            .map_err(|e| Error::source_from(ErrorKind::InvalidKeySet, "JWK is not JSON", e))?;
        let (alg, kid, signer) = jwk::signing_from_jwk(&v, None)?;
        let secret = match (&signer, v.get("k").and_then(Value::as_str)) {
            (Signer::Hmac(_), Some(k)) => Private::Secret(Zeroizing::new(jwk::decode_b64(k)?)),
            _ => Private::None,
        };
        let mut key = Self::assemble(alg, signer, secret);
        if let Some(kid) = kid {
            key.kid = kid;
        }
        Ok(key)
    }

    /// Replace the key id (by default the RFC 7638 thumbprint).
    pub fn with_kid(mut self, kid: KeyId) -> Self {
        self.kid = kid;
        self
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id put in every token's header.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Sign `payload` under exactly the protected header `header_json` (compact JWS). The header
    /// must be a JSON object whose `alg` is this key's algorithm. This is the low-level form;
    /// access tokens come from [`crate::Minter`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the header is not a JSON object or names another `alg`.
    pub fn sign_jws(&self, header_json: &[u8], payload: &[u8]) -> Result<String> {
        let header: Value = serde_json::from_slice(header_json)
            .map_err(|_| Error::with(ErrorKind::InvalidConfig, "header is not JSON"))?;
        if header.get("alg").and_then(Value::as_str) != Some(self.alg.as_str()) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "header alg is not the key's",
            ));
        }
        crate::jws::sign(&b64(header_json), payload, self)
    }

    /// The matching verification key.
    pub fn verifying_key(&self) -> VerifyingKey {
        let secret = match &self.private {
            Private::Secret(s) => Some(&s[..]),
            _ => None,
        };
        // Building the verifier from our own signer cannot fail for a key we prepared.
        let verifier = match self.signer.verifier(self.alg, secret) {
            Ok(v) => v,
            Err(_) => unreachable_verifier(),
        };
        VerifyingKey(Arc::new(VerifyingInner::new(
            self.alg,
            self.kid.clone(),
            verifier,
            self.public.clone(),
        )))
    }

    /// The public JWK (RFC 7517), or `None` for HMAC keys, whose secret is never published.
    pub fn public_jwk(&self) -> Option<Value> {
        self.public.as_ref().map(|p| p.to_jwk(self.alg, &self.kid))
    }

    /// Export the private key for storage: PKCS#8 PEM for asymmetric keys (Ed25519 in the
    /// RFC 8410 v1 form that OpenSSL, pyca/cryptography and WebCrypto read), or the base64url
    /// secret for HMAC keys. The returned string zeroizes itself on drop.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::KeyCannotSign`] for keys imported from JWK or PKCS#1, whose PKCS#8 form
    /// tidepass does not hold.
    pub fn export_private(&self) -> Result<Zeroizing<String>> {
        match &self.private {
            Private::Pkcs8(der) => {
                // Ed25519 in the RFC 8410 (v1) form every other implementation reads.
                let der = match self.alg {
                    Algorithm::EdDSA => der::ed25519_pkcs8_v1(der),
                    _ => Zeroizing::new(der.to_vec()),
                };
                let p = pem::Pem::new("PRIVATE KEY", der.to_vec());
                Ok(Zeroizing::new(pem::encode(&p)))
            }
            Private::Secret(s) => Ok(Zeroizing::new(b64(s))),
            Private::None => Err(Error::with(
                ErrorKind::KeyCannotSign,
                "this key was imported from JWK or PKCS#1 and has no PKCS#8 form to export",
            )),
        }
    }
}

#[cold]
fn unreachable_verifier() -> Verifier {
    // A signer always yields its verifier; keep a harmless value rather than a panic path.
    Verifier::Public(&ring::signature::ED25519, Vec::new())
}

fn parse_pem(pem: &[u8]) -> Result<pem::Pem> {
    pem::parse(pem).map_err(|e| Error::source_from(ErrorKind::InvalidKey, "not PEM", e))
}

struct VerifyingInner {
    alg: Algorithm,
    kid: KeyId,
    verifier: Verifier,
    public: Option<PublicParts>,
    /// The base64url header tidepass's minter writes for this key (`typ: at+jwt`).
    access_header: Box<str>,
}

impl VerifyingInner {
    fn new(alg: Algorithm, kid: KeyId, verifier: Verifier, public: Option<PublicParts>) -> Self {
        let access_header =
            crate::jws::header_b64_for(alg, kid.as_str(), crate::mint::ACCESS_TOKEN_TYPE).into();
        Self {
            alg,
            kid,
            verifier,
            public,
            access_header,
        }
    }
}

/// A key prepared for verifying signatures: the public half, or an HMAC secret.
///
/// Cheap to clone (shared). `Debug` never prints key material.
#[derive(Clone)]
pub struct VerifyingKey(Arc<VerifyingInner>);

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
                let crypto::Verifier::Rsa(_, c) = &v else {
                    return Err(ErrorKind::InvalidKey.into());
                };
                let public = PublicParts::Rsa {
                    n: c.n.clone(),
                    e: c.e.clone(),
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

    /// A verification key from one JWK (public members, or `oct` for HMAC).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKeySet`] or [`ErrorKind::WeakKey`] for refused keys (see
    /// [`VerifyingKeys::from_jwks`]).
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        jwk::verifying_from_jwk(jwk)
    }

    /// Replace the key id.
    pub fn with_kid(self, kid: KeyId) -> Self {
        let inner = &*self.0;
        let verifier = match &inner.verifier {
            Verifier::Hmac(k) => Verifier::Hmac(k.clone()),
            Verifier::Public(a, b) => Verifier::Public(*a, b.clone()),
            Verifier::Rsa(p, c) => Verifier::Rsa(
                p,
                ring::rsa::PublicKeyComponents {
                    n: c.n.clone(),
                    e: c.e.clone(),
                },
            ),
        };
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

    /// The public key as SubjectPublicKeyInfo PEM, or `None` for HMAC keys.
    pub fn public_pem(&self) -> Option<String> {
        let der = self.0.public.as_ref()?.spki_der();
        Some(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }

    pub(crate) fn access_header(&self) -> &str {
        &self.0.access_header
    }

    /// Verify `signature` over `msg` with this key's algorithm.
    pub(crate) fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        self.0.verifier.verify(msg, signature)
    }
}

/// A verifier's key set: the keys tokens may be signed with, found by `kid`.
///
/// Built from a [`KeySet`] (same process) or a JWKS document (another service). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct VerifyingKeys {
    keys: Arc<[VerifyingKey]>,
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
        provider::install();
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
                .map(VerifyingKey::from_jwk)
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

    /// Verify a compact JWS at the signature level only, and return its payload.
    ///
    /// The key is chosen by `kid` (a token without `kid` is accepted only when the set holds a
    /// single key), the header's `alg` must equal the key's, and `none`, `crit`, embedded keys
    /// and JWE are refused. No claim is looked at: for access tokens use
    /// [`crate::Verifier`], which adds `typ`, `iss`, `aud` and time checks.
    ///
    /// # Errors
    ///
    /// The token-level kinds of [`crate::Verifier::verify_at`] that concern the JWS itself.
    pub fn verify_jws(&self, token: &str) -> Result<Vec<u8>> {
        if token.len() > 1 << 20 {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let policy = crate::jws::Policy {
            require_kid: false,
            typ: None,
        };
        crate::jws::verify(token, self, policy, |payload, _| Ok(payload.to_vec()))
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

/// The auth service's keys: one active signing key, plus retired keys kept verify-only until
/// every token they signed has expired.
///
/// Cloning shares the signing key (it is never copied).
///
/// ```
/// use tidepass::keys::{Algorithm, KeySet, SigningKey};
/// let mut keys = KeySet::new(SigningKey::generate(Algorithm::EdDSA)?);
/// let old = keys.active().kid().clone();
/// // Tokens live 15 minutes: keep the old key 15 minutes (+ leeway) after rotating.
/// keys.rotate_at(SigningKey::generate(Algorithm::EdDSA)?, 1_700_000_000, 15 * 60 + 60);
/// assert!(keys.verifying_keys().get(old.as_str()).is_some());
/// keys.prune_at(1_700_000_000 + 15 * 60 + 60);
/// assert!(keys.verifying_keys().get(old.as_str()).is_none());
/// # Ok::<(), tidepass::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySet {
    active: Arc<SigningKey>,
    retired: Vec<(VerifyingKey, u64)>,
}

impl KeySet {
    /// A key set with one active key.
    pub fn new(active: SigningKey) -> Self {
        Self {
            active: Arc::new(active),
            retired: Vec::new(),
        }
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    pub(crate) fn active_shared(&self) -> &Arc<SigningKey> {
        &self.active
    }

    /// Make `next` the active key at time `now`; the previous key stays verify-only until
    /// `now + keep_for` (set `keep_for` to the longest access-token lifetime plus leeway).
    /// There is no gap: tokens signed by either key verify throughout.
    pub fn rotate_at(&mut self, next: SigningKey, now: u64, keep_for: u64) {
        let old = std::mem::replace(&mut self.active, Arc::new(next));
        self.retired
            .push((old.verifying_key(), now.saturating_add(keep_for)));
    }

    /// Drop retired keys whose tokens have all expired at `now`.
    pub fn prune_at(&mut self, now: u64) {
        self.retired.retain(|(_, until)| now < *until);
    }

    /// The active key and the retired keys still kept, for a verifier.
    pub fn verifying_keys(&self) -> VerifyingKeys {
        let keys: Vec<VerifyingKey> = std::iter::once(self.active.verifying_key())
            .chain(self.retired.iter().map(|(k, _)| k.clone()))
            .collect();
        VerifyingKeys { keys: keys.into() }
    }

    /// The JWKS to publish: public halves only, never private parts, never HMAC secrets.
    pub fn jwks(&self) -> Value {
        self.verifying_keys().to_jwks()
    }
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
