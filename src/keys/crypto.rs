//! The one seam between tidepass and its cryptography backend: ring by default, aws-lc-rs
//! with the `aws-lc-rs` feature.
//!
//! Everything above this module sees [`Signer`] and [`Verifier`]: keys prepared once, with a
//! `sign` and a `verify`. The two backends share ring's API for digests, HMAC, randomness and
//! signing; where they differ (how a public key is kept, a few constructors' arguments) the
//! difference is here, under `cfg(feature = "aws-lc-rs")`, and nowhere else.
//!
//! (Over 600 lines only with its unit tests; the code is about 575.)

use crate::backend::rand::{SecureRandom, SystemRandom};
use crate::backend::signature::{self as sig, KeyPair as _};
use crate::backend::{hmac, rsa};
use zeroize::Zeroizing;

use super::Algorithm;
use crate::error::{Error, ErrorKind, Result};

/// The process's CSPRNG.
pub(crate) fn rng() -> &'static SystemRandom {
    static RNG: std::sync::OnceLock<SystemRandom> = std::sync::OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

/// Fill `buf` with random bytes.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    rng().fill(buf).map_err(|_| Error::new(ErrorKind::Random))
}

/// An HMAC key as the backend keeps it. aws-lc's holds a whole HMAC context (over a
/// kilobyte), so it is boxed there, keeping every other key's enum small.
#[cfg(not(feature = "aws-lc-rs"))]
pub(crate) type HmacKey = hmac::Key;
#[cfg(feature = "aws-lc-rs")]
pub(crate) type HmacKey = Box<hmac::Key>;

/// An HMAC key for `alg` over `secret` (no length rule: see [`hmac_signer`]).
pub(crate) fn hmac_key(alg: hmac::Algorithm, secret: &[u8]) -> HmacKey {
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        hmac::Key::new(alg, secret)
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        Box::new(hmac::Key::new(alg, secret))
    }
}

/// A private (or secret) key prepared for signing.
pub(crate) enum Signer {
    Hmac(HmacKey),
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
    Rsa(sig::RsaKeyPair, &'static dyn sig::RsaEncoding),
    /// A KMS or HSM signs; its public half is the verifier.
    External(Box<super::external::External>, Verifier),
}

/// A public (or secret) key prepared for verifying.
#[derive(Clone)]
pub(crate) enum Verifier {
    Hmac(HmacKey),
    /// ECDSA point or Ed25519 key bytes, checked by ring on each call (ring has no parsed
    /// public key type; point validation is part of every verification).
    #[cfg(not(feature = "aws-lc-rs"))]
    Public(&'static dyn sig::VerificationAlgorithm, Vec<u8>),
    #[cfg(not(feature = "aws-lc-rs"))]
    Rsa(
        &'static sig::RsaParameters,
        rsa::PublicKeyComponents<Vec<u8>>,
    ),
    /// Any public key, parsed (and its point or modulus validated) once, at import.
    #[cfg(feature = "aws-lc-rs")]
    Parsed(sig::ParsedPublicKey),
    /// Verifies nothing: the placeholder where a verifier cannot exist.
    Refuse,
}

impl Signer {
    /// Signature length in bytes.
    pub(crate) fn signature_len(&self) -> usize {
        match self {
            Self::Hmac(k) => k.algorithm().digest_algorithm().output_len(),
            Self::Ecdsa(k) => {
                if k.public_key().as_ref().len() == 65 {
                    64
                } else {
                    96
                }
            }
            Self::Ed25519(_) => 64,
            Self::Rsa(k, _) => k.public_key().modulus_len(),
            Self::External(x, _) => x.sig_len,
        }
    }

    /// Sign everything `out` holds (a JWS signing input), then append `.` and the base64url
    /// signature to it: no heap buffer besides `out`, which a caller sizes for the whole token.
    pub(crate) fn sign_append_b64(&self, out: &mut Vec<u8>) -> Result<()> {
        let append = |b: &[u8], out: &mut Vec<u8>| {
            out.push(b'.');
            crate::token::b64::encode_append(b, out);
        };
        match self {
            Self::Hmac(k) => {
                let tag = hmac::sign(k, out);
                append(tag.as_ref(), out);
            }
            Self::Ecdsa(k) => {
                let s = k
                    .sign(rng(), out)
                    .map_err(|_| Error::new(ErrorKind::Random))?;
                append(s.as_ref(), out);
            }
            Self::Ed25519(k) => {
                let s = k.sign(out);
                append(s.as_ref(), out);
            }
            Self::Rsa(k, e) => {
                let mut buf = [0u8; 1024];
                let sig = buf
                    .get_mut(..k.public_key().modulus_len())
                    .ok_or(Error::with(
                        ErrorKind::InvalidKey,
                        "RSA modulus over 8192 bits",
                    ))?;
                k.sign(*e, rng(), out, sig)
                    .map_err(|_| Error::with(ErrorKind::InvalidKey, "rsa signing failed"))?;
                append(sig, out);
            }
            Self::External(x, _) => {
                let sig = x.sign(out)?;
                append(&sig, out);
            }
        }
        Ok(())
    }

    /// Sign `msg`, writing the signature into `out` (cleared first).
    pub(crate) fn sign_into(&self, msg: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        match self {
            Self::Hmac(k) => out.extend_from_slice(hmac::sign(k, msg).as_ref()),
            Self::Ecdsa(k) => {
                let s = k
                    .sign(rng(), msg)
                    .map_err(|_| Error::new(ErrorKind::Random))?;
                out.extend_from_slice(s.as_ref());
            }
            Self::Ed25519(k) => out.extend_from_slice(k.sign(msg).as_ref()),
            Self::Rsa(k, enc) => {
                out.resize(k.public_key().modulus_len(), 0);
                k.sign(*enc, rng(), msg, out)
                    .map_err(|_| Error::with(ErrorKind::InvalidKey, "rsa signing failed"))?;
            }
            Self::External(x, _) => out.extend_from_slice(&x.sign(msg)?),
        }
        Ok(())
    }

    /// The matching verifier (public half, or the same secret for HMAC).
    pub(crate) fn verifier(&self, alg: Algorithm, secret: Option<&[u8]>) -> Result<Verifier> {
        Ok(match self {
            Self::Hmac(_) => {
                let secret = secret.ok_or(Error::new(ErrorKind::KeyCannotSign))?;
                Verifier::Hmac(hmac_key(hmac_alg(alg)?, secret))
            }
            Self::Ecdsa(k) => public_verifier(verify_alg(alg)?, k.public_key().as_ref())?,
            Self::Ed25519(k) => public_verifier(&sig::ED25519, k.public_key().as_ref())?,
            Self::Rsa(k, _) => {
                let (n, e) = rsa_public_parts(k);
                rsa_verifier_per_call(alg, &n, &e)?
            }
            Self::External(_, v) => v.clone(),
        })
    }
}

/// An RSA key pair's public modulus and exponent, big-endian without leading zeros.
pub(crate) fn rsa_public_parts(k: &sig::RsaKeyPair) -> (Vec<u8>, Vec<u8>) {
    let c = rsa::PublicKeyComponents::<Vec<u8>>::from(k.public_key());
    (c.n, c.e)
}

/// An ECDSA or Ed25519 public key for `alg`, as the backend keeps it: ring keeps the bytes
/// (and validates them inside each verification), aws-lc-rs parses and validates them here.
fn public_verifier(alg: &'static dyn sig::VerificationAlgorithm, key: &[u8]) -> Result<Verifier> {
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        Ok(Verifier::Public(alg, key.to_vec()))
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        sig::ParsedPublicKey::new(alg, key)
            .map(Verifier::Parsed)
            .map_err(|_| Error::with(ErrorKind::InvalidKey, "public key refused by aws-lc"))
    }
}

impl Verifier {
    /// Check `signature` over `msg`. Constant-time for HMAC.
    pub(crate) fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(k) => hmac::verify(k, msg, signature).is_ok(),
            #[cfg(not(feature = "aws-lc-rs"))]
            Self::Public(alg, key) => sig::UnparsedPublicKey::new(*alg, key)
                .verify(msg, signature)
                .is_ok(),
            #[cfg(not(feature = "aws-lc-rs"))]
            Self::Rsa(params, c) => c.verify(params, msg, signature).is_ok(),
            #[cfg(feature = "aws-lc-rs")]
            Self::Parsed(key) => key.verify_sig(msg, signature).is_ok(),
            Self::Refuse => false,
        }
    }
}

pub(crate) fn hmac_alg(alg: Algorithm) -> Result<hmac::Algorithm> {
    Ok(match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => return Err(Error::with(ErrorKind::InvalidKey, "not an HMAC algorithm")),
    })
}

fn verify_alg(alg: Algorithm) -> Result<&'static dyn sig::VerificationAlgorithm> {
    Ok(match alg {
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        _ => {
            return Err(Error::with(
                ErrorKind::InvalidKey,
                "not an EC or OKP algorithm",
            ));
        }
    })
}

pub(crate) fn rsa_params(alg: Algorithm) -> Result<&'static sig::RsaParameters> {
    // The 2048_8192 parameter sets refuse moduli under 2048 bits at verification time too.
    Ok(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return Err(Error::with(ErrorKind::InvalidKey, "not an RSA algorithm")),
    })
}

fn rsa_encoding(alg: Algorithm) -> Result<&'static dyn sig::RsaEncoding> {
    Ok(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => return Err(Error::with(ErrorKind::InvalidKey, "not an RSA algorithm")),
    })
}

fn ecdsa_signing(alg: Algorithm) -> Result<&'static sig::EcdsaSigningAlgorithm> {
    Ok(match alg {
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => return Err(Error::with(ErrorKind::InvalidKey, "not an ECDSA algorithm")),
    })
}

/// Prepare an HMAC key; refuses secrets shorter than the hash output (RFC 7518 §3.2).
pub(crate) fn hmac_signer(alg: Algorithm, secret: &[u8]) -> Result<Signer> {
    let a = hmac_alg(alg)?;
    if secret.len() < a.digest_algorithm().output_len() {
        return Err(Error::with(
            ErrorKind::WeakKey,
            "HMAC secret shorter than the hash output (RFC 7518 section 3.2)",
        ));
    }
    Ok(Signer::Hmac(hmac_key(a, secret)))
}

/// Prepare a signer from PKCS#8 DER (or PKCS#1 DER for RSA).
pub(crate) fn signer_from_der(alg: Algorithm, der: &[u8]) -> Result<Signer> {
    let bad =
        |what: &'static str| move |e: crate::backend::error::KeyRejected| key_rejected(what, e);
    Ok(match alg {
        Algorithm::ES256 | Algorithm::ES384 => Signer::Ecdsa(
            ecdsa_from_pkcs8(ecdsa_signing(alg)?, der)
                .map_err(bad("not a PKCS#8 EC key for this curve"))?,
        ),
        Algorithm::EdDSA => Signer::Ed25519(
            sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(bad("not a PKCS#8 Ed25519 key"))?,
        ),
        a if a.is_rsa() => {
            let kp = match sig::RsaKeyPair::from_pkcs8(der) {
                Err(e) if e.to_string() != "TooSmall" => sig::RsaKeyPair::from_der(der),
                other => other,
            }
            .map_err(bad("not a PKCS#8 or PKCS#1 RSA key"))?;
            let (n, e) = rsa_public_parts(&kp);
            check_rsa_public(&rsa::PublicKeyComponents { n, e })?;
            Signer::Rsa(kp, rsa_encoding(alg)?)
        }
        _ => return Err(Error::with(ErrorKind::InvalidKey, "HMAC keys are not DER")),
    })
}

fn ecdsa_from_pkcs8(
    alg: &'static sig::EcdsaSigningAlgorithm,
    der: &[u8],
) -> std::result::Result<sig::EcdsaKeyPair, crate::backend::error::KeyRejected> {
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        sig::EcdsaKeyPair::from_pkcs8(alg, der, rng())
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        sig::EcdsaKeyPair::from_pkcs8(alg, der)
    }
}

fn key_rejected(what: &'static str, e: crate::backend::error::KeyRejected) -> Error {
    match e.to_string().as_str() {
        "TooSmall" => Error::with(ErrorKind::WeakKey, "RSA modulus under 2048 bits"),
        _ => Error::with(ErrorKind::InvalidKey, what),
    }
}

/// Generate a new key: Ed25519, ECDSA P-256/P-384, or an HMAC secret of the hash's length.
/// Returns the signer and its PKCS#8 document (or the raw HMAC secret).
pub(crate) fn generate(alg: Algorithm) -> Result<(Signer, Zeroizing<Vec<u8>>)> {
    let fail = |_| Error::new(ErrorKind::Random);
    let der = match alg {
        Algorithm::EdDSA => sig::Ed25519KeyPair::generate_pkcs8(rng()).map_err(fail)?,
        Algorithm::ES256 | Algorithm::ES384 => {
            sig::EcdsaKeyPair::generate_pkcs8(ecdsa_signing(alg)?, rng()).map_err(fail)?
        }
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let len = hmac_alg(alg)?.digest_algorithm().output_len();
            let mut secret = Zeroizing::new(vec![0u8; len]);
            fill_random(&mut secret)?;
            return Ok((hmac_signer(alg, &secret)?, secret));
        }
        _ => {
            return Err(Error::with(
                ErrorKind::InvalidKey,
                "tidepass does not generate RSA keys; create one with openssl and import its PEM",
            ));
        }
    };
    let der = Zeroizing::new(der.as_ref().to_vec());
    Ok((signer_from_der(alg, &der)?, der))
}

/// Prepare a signer from JWK private parameters (already base64url-decoded).
pub(crate) fn ec_signer_from_parts(alg: Algorithm, d: &[u8], point: &[u8]) -> Result<Signer> {
    #[cfg(not(feature = "aws-lc-rs"))]
    let kp =
        sig::EcdsaKeyPair::from_private_key_and_public_key(ecdsa_signing(alg)?, d, point, rng());
    #[cfg(feature = "aws-lc-rs")]
    let kp = sig::EcdsaKeyPair::from_private_key_and_public_key(ecdsa_signing(alg)?, d, point);
    kp.map(Signer::Ecdsa).map_err(|_| {
        Error::with(
            ErrorKind::InvalidKeySet,
            "EC private key does not match x/y",
        )
    })
}

pub(crate) fn ed_signer_from_parts(d: &[u8], x: &[u8]) -> Result<Signer> {
    sig::Ed25519KeyPair::from_seed_and_public_key(d, x)
        .map(Signer::Ed25519)
        .map_err(|_| {
            Error::with(
                ErrorKind::InvalidKeySet,
                "Ed25519 private key does not match x",
            )
        })
}

/// The JWK private RSA parameters, decoded.
pub(crate) struct RsaPrivateParts<'a> {
    pub(crate) n: &'a [u8],
    pub(crate) e: &'a [u8],
    pub(crate) d: &'a [u8],
    pub(crate) p: &'a [u8],
    pub(crate) q: &'a [u8],
    pub(crate) dp: &'a [u8],
    pub(crate) dq: &'a [u8],
    pub(crate) qi: &'a [u8],
}

pub(crate) fn rsa_signer_from_parts(alg: Algorithm, k: &RsaPrivateParts<'_>) -> Result<Signer> {
    check_rsa_public(&rsa::PublicKeyComponents { n: k.n, e: k.e })?;
    let parts = rsa::KeyPairComponents {
        public_key: rsa::PublicKeyComponents { n: k.n, e: k.e },
        d: k.d,
        p: k.p,
        q: k.q,
        dP: k.dp,
        dQ: k.dq,
        qInv: k.qi,
    };
    let kp = sig::RsaKeyPair::from_components(&parts)
        .map_err(|e| key_rejected("inconsistent RSA private key", e))?;
    Ok(Signer::Rsa(kp, rsa_encoding(alg)?))
}

/// Prepare an RSA public key, refusing weak ones.
pub(crate) fn rsa_verifier(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<Verifier> {
    if roca_fingerprint(strip_zeros(n)) {
        return Err(Error::with(
            ErrorKind::WeakKey,
            "RSA key has the ROCA fingerprint",
        ));
    }
    rsa_verifier_per_call(alg, n, e)
}

/// An RSA public key for a verifier built per token: the size and exponent rules hold, the
/// ROCA fingerprint (a key-import check, tens of microseconds) is left to key import.
pub(crate) fn rsa_verifier_per_call(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<Verifier> {
    let c = rsa::PublicKeyComponents {
        n: strip_zeros(n).to_vec(),
        e: strip_zeros(e).to_vec(),
    };
    check_rsa_size(&c)?;
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        Ok(Verifier::Rsa(rsa_params(alg)?, c))
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        c.to_parsed_public_key(rsa_params(alg)?)
            .map(Verifier::Parsed)
            .map_err(|_| Error::with(ErrorKind::InvalidKey, "RSA public key refused by aws-lc"))
    }
}

/// Prepare an ECDSA public key from its uncompressed point, checking the point is on the curve.
pub(crate) fn ec_verifier(alg: Algorithm, point: &[u8]) -> Result<Verifier> {
    let (ecdh, len) = match alg {
        Algorithm::ES256 => (&crate::backend::agreement::ECDH_P256, 65),
        Algorithm::ES384 => (&crate::backend::agreement::ECDH_P384, 97),
        _ => return Err(Error::with(ErrorKind::InvalidKey, "not an ECDSA algorithm")),
    };
    if point.len() != len || point.first() != Some(&4) {
        return Err(Error::with(
            ErrorKind::InvalidKey,
            "EC point has the wrong size for the curve",
        ));
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        // ring validates a peer's public point fully before any key agreement; it has no other
        // public "validate this point" call. This runs once per key import, never per token.
        let eph = crate::backend::agreement::EphemeralPrivateKey::generate(ecdh, rng())
            .map_err(|_| Error::new(ErrorKind::Random))?;
        crate::backend::agreement::agree_ephemeral(
            eph,
            &crate::backend::agreement::UnparsedPublicKey::new(ecdh, point),
            |_| (),
        )
        .map_err(|_| Error::with(ErrorKind::InvalidKey, "EC point is not on the curve"))?;
    }
    // On aws-lc-rs this parses the point once and refuses one that is not on the curve.
    #[cfg(feature = "aws-lc-rs")]
    let _ = ecdh;
    public_verifier(verify_alg(alg)?, point)
        .map_err(|_| Error::with(ErrorKind::InvalidKey, "EC point is not on the curve"))
}

/// An ECDSA public key without the import-time curve check, for callers that build a verifier
/// per token (jsonwebtoken's provider interface): ring still validates the point inside every
/// verification, so nothing is accepted that the checked form would refuse.
pub(crate) fn ec_verifier_per_call(alg: Algorithm, point: &[u8]) -> Result<Verifier> {
    public_verifier(verify_alg(alg)?, point)
}

pub(crate) fn ed_verifier(x: &[u8]) -> Result<Verifier> {
    if x.len() != 32 {
        return Err(Error::with(
            ErrorKind::InvalidKey,
            "Ed25519 public key must be 32 bytes",
        ));
    }
    public_verifier(&sig::ED25519, x)
}

pub(crate) fn hmac_verifier(alg: Algorithm, secret: &[u8]) -> Result<Verifier> {
    match hmac_signer(alg, secret)? {
        Signer::Hmac(k) => Ok(Verifier::Hmac(k)),
        _ => Err(Error::new(ErrorKind::InvalidKey)),
    }
}

pub(crate) fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(i..).unwrap_or_default()
}

/// Refuse RSA keys a careful verifier must not trust: modulus under 2048 bits, even or tiny
/// exponent, or the ROCA fingerprint (CVE-2017-15361).
pub(crate) fn check_rsa_public<B: AsRef<[u8]>>(c: &rsa::PublicKeyComponents<B>) -> Result<()> {
    check_rsa_size(c)?;
    if roca_fingerprint(strip_zeros(c.n.as_ref())) {
        return Err(Error::with(
            ErrorKind::WeakKey,
            "RSA key has the ROCA fingerprint",
        ));
    }
    Ok(())
}

fn check_rsa_size<B: AsRef<[u8]>>(c: &rsa::PublicKeyComponents<B>) -> Result<()> {
    let n = strip_zeros(c.n.as_ref());
    let e = strip_zeros(c.e.as_ref());
    if n.len() < 256 {
        return Err(Error::with(
            ErrorKind::WeakKey,
            "RSA modulus under 2048 bits",
        ));
    }
    if n.len() > 1024 {
        return Err(Error::with(
            ErrorKind::InvalidKey,
            "RSA modulus over 8192 bits",
        ));
    }
    let odd = e.last().is_some_and(|last| last & 1 == 1);
    if e.len() > 4 || !odd || (e.len() == 1 && e.first().is_some_and(|&x| x < 3)) {
        return Err(Error::with(
            ErrorKind::WeakKey,
            "RSA public exponent must be odd, 3 or more",
        ));
    }
    if roca_fingerprint(n) {
        return Err(Error::with(
            ErrorKind::WeakKey,
            "RSA key has the ROCA fingerprint",
        ));
    }
    Ok(())
}

/// The ROCA test (Nemec et al., CCS 2017): keys from the vulnerable Infineon library have a
/// modulus whose residue modulo each small prime lies in the subgroup generated by 65537.
/// A random modulus passes this for all 38 primes with negligible probability.
fn roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        // Walk the subgroup generated by 65537 mod p.
        let g = 65537 % p;
        let mut x = 1u32;
        loop {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_secret_shorter_than_hash_is_refused() {
        for (alg, len) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let e = hmac_signer(alg, &vec![7u8; len - 1])
                .err()
                .map(|e| e.kind());
            assert_eq!(e, Some(ErrorKind::WeakKey));
            assert!(hmac_signer(alg, &vec![7u8; len]).is_ok());
        }
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::HS256,
            Algorithm::HS384,
            Algorithm::HS512,
        ] {
            let (s, secret) = generate(alg).expect("generate");
            let v = s
                .verifier(alg, alg.is_hmac().then_some(&secret[..]))
                .expect("verifier");
            let mut sig = Vec::new();
            s.sign_into(b"msg", &mut sig).expect("sign");
            assert_eq!(sig.len(), s.signature_len());
            assert!(v.verify(b"msg", &sig), "{alg:?}");
            assert!(!v.verify(b"msh", &sig), "{alg:?}");
        }
    }

    #[test]
    fn point_off_curve_is_refused() {
        let (s, _) = generate(Algorithm::ES256).expect("generate");
        let Signer::Ecdsa(k) = s else {
            panic!("not ecdsa")
        };
        let mut p = k.public_key().as_ref().to_vec();
        assert!(ec_verifier(Algorithm::ES256, &p).is_ok());
        p[64] ^= 1;
        assert_eq!(
            ec_verifier(Algorithm::ES256, &p).err().map(|e| e.kind()),
            Some(ErrorKind::InvalidKey)
        );
    }
}
