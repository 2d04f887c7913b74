//! Signing keys: generated, or imported from PEM, DER or JWK; exported as PKCS#8 or JWK.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use zeroize::Zeroizing;

use super::crypto::{self, Signer, Verifier};
use super::der::{self, KeyType};
use super::{Algorithm, VerifyingInner, VerifyingKey, jwk, parse_pem};
use super::{KeyId, PublicParts, b64};
use crate::error::{Error, ErrorKind, Result};

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
    pub(super) alg: Algorithm,
    pub(super) kid: KeyId,
    pub(super) signer: Signer,
    pub(super) public: Option<PublicParts>,
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
        let public = PublicParts::from_signer(&signer);
        let kid = match (&public, &private) {
            (Some(p), _) => p.thumbprint(),
            // An RFC 7638 thumbprint of an `oct` key would publish a hash of the secret; an
            // HMAC of a fixed label under the secret identifies the key without revealing it.
            (None, _) => match &signer {
                Signer::Hmac(k) => {
                    let tag = crate::backend::hmac::sign(k, b"tidepass kid v1");
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

    /// A key whose private half stays in a KMS or HSM ([`super::ExternalSigner`]): tidepass
    /// keeps its public half (checked to be a public key of the signer's algorithm), names it
    /// by its RFC 7638 thumbprint and asks the device for every signature.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] when the signer's JWK is not a public key of its algorithm,
    /// or the algorithm is symmetric (an HMAC secret cannot be published).
    pub fn external(signer: Arc<dyn super::ExternalSigner>) -> Result<Self> {
        let alg = signer.algorithm();
        if alg.is_hmac() {
            return Err(Error::with(
                ErrorKind::InvalidKey,
                "an external signer signs with an asymmetric algorithm",
            ));
        }
        let public = VerifyingKey::from_embedded_jwk(&signer.public_jwk(), alg)?;
        let sig_len = match alg {
            Algorithm::ES256 | Algorithm::EdDSA => 64,
            Algorithm::ES384 => 96,
            _ => public
                .0
                .public
                .as_ref()
                .and_then(super::PublicParts::rsa_modulus_len)
                .ok_or(Error::with(
                    ErrorKind::InvalidKey,
                    "an RSA key without its modulus",
                ))?,
        };
        let parts = public.0.public.clone();
        let verifier = public.0.verifier.clone();
        let external = super::external::External { signer, sig_len };
        let mut key = Self::assemble(
            alg,
            Signer::External(Box::new(external), verifier),
            Private::None,
        );
        key.kid = KeyId(
            parts
                .as_ref()
                .map(super::PublicParts::thumbprint)
                .unwrap_or_default()
                .into(),
        );
        key.public = parts;
        Ok(key)
    }

    /// The raw JWS signature of `message` (what an [`super::ExternalSigner`] answers; for a
    /// test device or a signing agent of your own).
    ///
    /// # Errors
    ///
    /// A backend failure.
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.signer.sign_into(message, &mut out)?;
        Ok(out)
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

    /// The RFC 7638 thumbprint of the public key (whatever its `kid`), or `None` for HMAC keys.
    pub fn thumbprint(&self) -> Option<super::Thumbprint> {
        self.public.as_ref().map(super::PublicParts::jkt)
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
    Verifier::Refuse
}
