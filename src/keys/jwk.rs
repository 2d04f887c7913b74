//! JWK (RFC 7517/7518/8037) import, strict about what a signature key may be.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use zeroize::Zeroizing;

use super::crypto::{self, Signer};
use super::{Algorithm, KeyId, PublicParts, VerifyingInner, VerifyingKey};
use crate::error::{Error, ErrorKind, Result};

fn refuse(detail: &'static str) -> Error {
    Error::with(ErrorKind::InvalidKeySet, detail)
}

pub(super) fn decode_b64(s: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| refuse("JWK member is not base64url"))
}

fn member<'a>(jwk: &'a Value, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn bytes(jwk: &Value, name: &'static str) -> Result<Vec<u8>> {
    match jwk.get(name) {
        Some(Value::String(s)) => decode_b64(s),
        _ => Err(refuse("JWK lacks a required member")),
    }
}

/// The common checks: object, `use`, `key_ops`, `kid`; returns (kty, alg, kid).
fn common(jwk: &Value, op: &str) -> Result<(String, Option<Algorithm>, Option<KeyId>)> {
    if !jwk.is_object() {
        return Err(refuse("JWK is not an object"));
    }
    let kty = member(jwk, "kty")
        .ok_or(refuse("JWK has no kty"))?
        .to_owned();
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(refuse("JWK use is not \"sig\"")),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops
            .as_array()
            .ok_or(refuse("JWK key_ops is not an array"))?;
        if !ops.iter().any(|o| o.as_str() == Some(op)) {
            return Err(refuse("JWK key_ops does not allow this operation"));
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(
            Algorithm::from_name(a).ok_or(refuse("JWK alg is not a supported JWS algorithm"))?,
        ),
        Some(_) => return Err(refuse("JWK alg is not a string")),
    };
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(k)) => {
            Some(KeyId::new(k.clone()).map_err(|_| refuse("JWK kid is empty or too long"))?)
        }
        Some(_) => return Err(refuse("JWK kid is not a string")),
    };
    Ok((kty, alg, kid))
}

/// The algorithm for a key: the JWK's own `alg` when it fits the key type, else a default.
fn pick(kty: &str, crv: Option<&str>, alg: Option<Algorithm>) -> Result<Algorithm> {
    let fits = |a: Algorithm| match (kty, crv) {
        ("RSA", _) => a.is_rsa(),
        ("EC", Some("P-256")) => a == Algorithm::ES256,
        ("EC", Some("P-384")) => a == Algorithm::ES384,
        ("OKP", Some("Ed25519")) => a == Algorithm::EdDSA,
        ("oct", _) => a.is_hmac(),
        _ => false,
    };
    let default = match (kty, crv) {
        ("RSA", _) => Some(Algorithm::RS256),
        ("EC", Some("P-256")) => Some(Algorithm::ES256),
        ("EC", Some("P-384")) => Some(Algorithm::ES384),
        ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
        ("EC" | "OKP", _) => return Err(refuse("JWK curve is not supported")),
        ("oct", _) => None,
        _ => return Err(refuse("JWK kty is not supported")),
    };
    match alg {
        Some(a) if fits(a) => Ok(a),
        Some(_) => Err(refuse("JWK alg does not fit its key type or curve")),
        None => default.ok_or(refuse("an oct JWK must name its alg")),
    }
}

fn weak_as_refused(e: Error) -> Error {
    match e.kind() {
        ErrorKind::WeakKey => e,
        _ => Error::with(ErrorKind::InvalidKeySet, "JWK key material refused"),
    }
}

/// The uncompressed point 04 ‖ x ‖ y, with coordinate sizes checked.
fn ec_point(jwk: &Value, alg: Algorithm) -> Result<Vec<u8>> {
    let size = if alg == Algorithm::ES256 { 32 } else { 48 };
    let (x, y) = (bytes(jwk, "x")?, bytes(jwk, "y")?);
    if x.len() != size || y.len() != size {
        return Err(refuse("EC coordinates have the wrong size for the curve"));
    }
    let mut p = Vec::with_capacity(1 + 2 * size);
    p.push(4);
    p.extend_from_slice(&x);
    p.extend_from_slice(&y);
    Ok(p)
}

/// `true` when an asymmetric JWK carries members of its private key (RFC 7518 §6.2.2, §6.3.2,
/// RFC 8037 §2). An `oct` key is a shared secret by nature and is not judged here.
pub(super) fn has_private_parts(jwk: &Value) -> bool {
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];
    member(jwk, "kty") != Some("oct") && PRIVATE.iter().any(|m| jwk.get(*m).is_some())
}

pub(super) fn verifying_from_jwk(jwk: &Value) -> Result<VerifyingKey> {
    verifying_from_jwk_as(jwk, None, false)
}

/// A public key embedded in a JWS header (a DPoP proof's `jwk`) for the header's `alg`: no
/// private members, no `oct` secret, and a JWK `alg`, if any, equal to `want`.
///
/// Built for one verification: without the import-time ECDH test of an EC point (a scalar
/// multiplication), which ring's verification repeats anyway by validating the point. RSA keys
/// keep every import check, the ROCA test included: a proof key that can be factored is a
/// proof anyone can forge. (Measured: with the EC test, checking an ES256 proof cost about
/// twice a raw ring ES256 verification; BENCHMARKS.md.)
pub(super) fn embedded_public(jwk: &Value, want: Algorithm) -> Result<VerifyingKey> {
    if has_private_parts(jwk) {
        return Err(refuse("embedded JWK has private key members"));
    }
    if member(jwk, "kty") == Some("oct") {
        return Err(refuse("embedded JWK is a shared secret"));
    }
    verifying_from_jwk_as(jwk, Some(want), true)
}

fn verifying_from_jwk_as(
    jwk: &Value,
    want: Option<Algorithm>,
    per_call: bool,
) -> Result<VerifyingKey> {
    let (kty, alg, kid) = common(jwk, "verify")?;
    let alg = match (alg, want) {
        (Some(a), Some(w)) if a != w => return Err(refuse("JWK alg differs from the header's")),
        (a, w) => w.or(a),
    };
    let alg = pick(&kty, member(jwk, "crv"), alg)?;
    let (verifier, public) = match kty.as_str() {
        "RSA" => {
            let (n, e) = (bytes(jwk, "n")?, bytes(jwk, "e")?);
            let v = crypto::rsa_verifier(alg, &n, &e).map_err(weak_as_refused)?;
            (v, Some(PublicParts::Rsa { n, e }))
        }
        "EC" => {
            let p = ec_point(jwk, alg)?;
            let v = if per_call {
                crypto::ec_verifier_per_call(alg, &p)
            } else {
                crypto::ec_verifier(alg, &p)
            }
            .map_err(weak_as_refused)?;
            (v, Some(PublicParts::from_point(&p)))
        }
        "OKP" => {
            let x = bytes(jwk, "x")?;
            (
                crypto::ed_verifier(&x).map_err(weak_as_refused)?,
                Some(PublicParts::Okp { x }),
            )
        }
        _ => {
            let k = Zeroizing::new(bytes(jwk, "k")?);
            (
                crypto::hmac_verifier(alg, &k).map_err(weak_as_refused)?,
                None,
            )
        }
    };
    let kid = match (kid, &public) {
        (Some(k), _) => k,
        (None, Some(p)) => KeyId(p.thumbprint().into()),
        (None, None) => return Err(refuse("an oct JWK must have a kid")),
    };
    Ok(VerifyingKey(Arc::new(VerifyingInner::new(
        alg, kid, verifier, public,
    ))))
}

pub(super) fn signing_from_jwk(
    jwk: &Value,
    alg: Option<Algorithm>,
) -> Result<(Algorithm, Option<KeyId>, Signer)> {
    let (kty, jwk_alg, kid) = common(jwk, "sign")?;
    let alg = pick(&kty, member(jwk, "crv"), alg.or(jwk_alg))?;
    if jwk.get("d").is_none() && kty != "oct" {
        return Err(Error::with(
            ErrorKind::KeyCannotSign,
            "JWK has no private part (d)",
        ));
    }
    let signer = match kty.as_str() {
        "RSA" => {
            let [n, e, d, p, q, dp, dq, qi] = ["n", "e", "d", "p", "q", "dp", "dq", "qi"]
                .map(|m| bytes(jwk, m).map(Zeroizing::new));
            let parts = crypto::RsaPrivateParts {
                n: &n?,
                e: &e?,
                d: &d?,
                p: &p?,
                q: &q?,
                dp: &dp?,
                dq: &dq?,
                qi: &qi?,
            };
            crypto::rsa_signer_from_parts(alg, &parts)?
        }
        "EC" => {
            let point = ec_point(jwk, alg)?;
            let d = Zeroizing::new(bytes(jwk, "d")?);
            crypto::ec_signer_from_parts(alg, &d, &point)?
        }
        "OKP" => {
            let (x, d) = (bytes(jwk, "x")?, Zeroizing::new(bytes(jwk, "d")?));
            crypto::ed_signer_from_parts(&d, &x)?
        }
        _ => crypto::hmac_signer(alg, &Zeroizing::new(bytes(jwk, "k")?))?,
    };
    Ok((alg, kid, signer))
}
