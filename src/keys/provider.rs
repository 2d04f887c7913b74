//! A [`jsonwebtoken::crypto::CryptoProvider`] on tidepass's own crypto backend (ring, or
//! aws-lc-rs with the `aws-lc-rs` feature).
//!
//! jsonwebtoken 11 delegates all cryptography to a process-wide provider. tidepass ships one
//! built on the same prepared keys it uses itself, so jsonwebtoken's `encode`, `decode` and
//! JWK helpers run on tidepass's backend and no second crypto library enters the tree.
//!
//! Which provider a process uses is the application's decision: tidepass never installs one
//! as a side effect (building keys, reading a JWKS and verifying tokens go straight to the
//! backend and never through jsonwebtoken's global provider). An application that uses
//! jsonwebtoken beside tidepass and wants it on the same backend calls [`install`] once at
//! start-up; one that wants another provider installs that one instead, at any time.

use crate::backend::signature::KeyPair as _;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind as JwtErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature;
use jsonwebtoken::{DecodingKey, EncodingKey};

use super::Algorithm;
use super::crypto::{self, Signer, Verifier};

/// The provider. Install it with [`install`] (or `RING_PROVIDER.install_default()`).
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_from_private,
        rsa_pub_components_from_public_key: rsa_from_public,
        ec_pub_components_from_private_key: ec_from_private,
        ed_pub_components_from_private_key: ed_from_private,
        compute_digest: digest,
    },
};

/// Set by a successful [`install`]: jsonwebtoken hands back the provider it was *given* when
/// one is already installed, not the one in place, so this is the only way to know.
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Install [`RING_PROVIDER`] as jsonwebtoken's process default. Never panics.
///
/// Returns `true` when the ring provider is the process default afterwards (installed by this
/// call or by an earlier `install`), `false` when another provider was installed first (or
/// jsonwebtoken already fell back to its feature default): that is the application's choice,
/// and tidepass keeps working, since its own code never uses jsonwebtoken's provider.
pub fn install() -> bool {
    use std::sync::atomic::Ordering;
    match RING_PROVIDER.install_default() {
        Ok(()) => {
            INSTALLED.store(true, Ordering::SeqCst);
            true
        }
        Err(_) => INSTALLED.load(Ordering::SeqCst),
    }
}

fn alg_of(a: jsonwebtoken::Algorithm) -> jsonwebtoken::errors::Result<Algorithm> {
    use jsonwebtoken::Algorithm as J;
    Ok(match a {
        J::HS256 => Algorithm::HS256,
        J::HS384 => Algorithm::HS384,
        J::HS512 => Algorithm::HS512,
        J::RS256 => Algorithm::RS256,
        J::RS384 => Algorithm::RS384,
        J::RS512 => Algorithm::RS512,
        J::PS256 => Algorithm::PS256,
        J::PS384 => Algorithm::PS384,
        J::PS512 => Algorithm::PS512,
        J::ES256 => Algorithm::ES256,
        J::ES384 => Algorithm::ES384,
        J::EdDSA => Algorithm::EdDSA,
        _ => return Err(JwtErrorKind::InvalidAlgorithm.into()),
    })
}

fn invalid_key(a: Algorithm) -> JwtError {
    match a {
        a if a.is_rsa() => JwtErrorKind::InvalidRsaKey("key refused".into()).into(),
        Algorithm::ES256 | Algorithm::ES384 => JwtErrorKind::InvalidEcdsaKey.into(),
        Algorithm::EdDSA => JwtErrorKind::InvalidEddsaKey.into(),
        _ => JwtErrorKind::InvalidKeyFormat.into(),
    }
}

struct RingSigner(jsonwebtoken::Algorithm, Signer);

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = Vec::with_capacity(self.1.signature_len());
        self.1
            .sign_into(msg, &mut out)
            .map_err(signature::Error::from_source)?;
        Ok(out)
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> jsonwebtoken::Algorithm {
        self.0
    }
}

struct RingVerifier(jsonwebtoken::Algorithm, Verifier);

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        if self.1.verify(msg, sig) {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> jsonwebtoken::Algorithm {
        self.0
    }
}

fn new_signer(
    jalg: &jsonwebtoken::Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    let alg = alg_of(*jalg)?;
    let signer = if alg.is_hmac() {
        // jsonwebtoken accepts any HMAC secret length; the provider keeps its contract and
        // leaves the RFC 7518 length rule to tidepass's own key constructors.
        let a = crypto::hmac_alg(alg).map_err(|_| invalid_key(alg))?;
        Signer::Hmac(crypto::hmac_key(a, key.as_bytes()))
    } else {
        crypto::signer_from_der(alg, key.as_bytes()).map_err(|_| invalid_key(alg))?
    };
    Ok(Box::new(RingSigner(*jalg, signer)))
}

fn new_verifier(
    jalg: &jsonwebtoken::Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    use jsonwebtoken::DecodingKeyKind as K;
    let alg = alg_of(*jalg)?;
    let verifier = match (key.kind(), alg) {
        (K::SecretOrDer(s), a) if a.is_hmac() => {
            let h = crypto::hmac_alg(a).map_err(|_| invalid_key(a))?;
            Verifier::Hmac(crypto::hmac_key(h, s))
        }
        (K::SecretOrDer(der), a) if a.is_rsa() => {
            let (n, e) = super::der::rsa_public_key(der).map_err(|_| invalid_key(a))?;
            crypto::rsa_verifier_per_call(a, n, e).map_err(|_| invalid_key(a))?
        }
        (K::RsaModulusExponent { n, e }, a) if a.is_rsa() => {
            crypto::rsa_verifier_per_call(a, n, e).map_err(|_| invalid_key(a))?
        }
        (K::SecretOrDer(p), a @ (Algorithm::ES256 | Algorithm::ES384)) => {
            crypto::ec_verifier_per_call(a, p).map_err(|_| invalid_key(a))?
        }
        (K::SecretOrDer(x), Algorithm::EdDSA) => {
            crypto::ed_verifier(x).map_err(|_| invalid_key(alg))?
        }
        _ => return Err(JwtErrorKind::InvalidKeyFormat.into()),
    };
    Ok(Box::new(RingVerifier(*jalg, verifier)))
}

type Components = jsonwebtoken::errors::Result<(Vec<u8>, Vec<u8>)>;

fn rsa_from_private(der: &[u8]) -> Components {
    let kp = crate::backend::signature::RsaKeyPair::from_der(der)
        .or_else(|_| crate::backend::signature::RsaKeyPair::from_pkcs8(der))
        .map_err(|e| JwtErrorKind::InvalidRsaKey(e.to_string()))?;
    Ok(crypto::rsa_public_parts(&kp))
}

fn rsa_from_public(der: &[u8]) -> Components {
    let (n, e) = super::der::rsa_public_key(der)
        .map_err(|_| JwtErrorKind::InvalidRsaKey("malformed RSA public key".into()))?;
    Ok((n.to_vec(), e.to_vec()))
}

fn ec_from_private(
    der: &[u8],
    jalg: jsonwebtoken::Algorithm,
) -> jsonwebtoken::errors::Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let alg = alg_of(jalg)?;
    let Ok(Signer::Ecdsa(kp)) = crypto::signer_from_der(alg, der) else {
        return Err(JwtErrorKind::InvalidEcdsaKey.into());
    };
    let Some((x, y)) = super::ec_coordinates(kp.public_key().as_ref()) else {
        return Err(JwtErrorKind::InvalidEcdsaKey.into());
    };
    let curve = if x.len() == 32 {
        EllipticCurve::P256
    } else {
        EllipticCurve::P384
    };
    Ok((curve, x.to_vec(), y.to_vec()))
}

fn ed_from_private(der: &[u8], curve: &EllipticCurve) -> jsonwebtoken::errors::Result<Vec<u8>> {
    match (curve, crypto::signer_from_der(Algorithm::EdDSA, der)) {
        (EllipticCurve::Ed25519, Ok(Signer::Ed25519(kp))) => Ok(kp.public_key().as_ref().to_vec()),
        _ => Err(JwtErrorKind::InvalidEddsaKey.into()),
    }
}

fn digest(data: &[u8], hash: ThumbprintHash) -> jsonwebtoken::errors::Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &crate::backend::digest::SHA256,
        ThumbprintHash::SHA384 => &crate::backend::digest::SHA384,
        ThumbprintHash::SHA512 => &crate::backend::digest::SHA512,
        _ => return Err(JwtErrorKind::InvalidAlgorithm.into()),
    };
    Ok(crate::backend::digest::digest(alg, data).as_ref().to_vec())
}
