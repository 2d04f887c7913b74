//! Keys and tokens shared by the benches. Everything here runs once, outside the timed loops.

#![allow(dead_code)]

use jwt_simple::prelude::*;
use tidepass::keys::{Algorithm, SigningKey};

pub(crate) const ISS: &str = "https://auth.example";
pub(crate) const AUD: &str = "api";
pub(crate) const NOW: u64 = 1_800_000_000;

/// The algorithms the issue asks to measure.
pub(crate) const ALGS: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];

pub(crate) fn rsa_pem() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keys/rsa2048.pem"
    ))
    .expect("tests/data/keys/rsa2048.pem")
}

pub(crate) fn signing_key(alg: Algorithm) -> SigningKey {
    if alg.is_rsa() {
        SigningKey::from_pem(&rsa_pem(), Some(alg)).expect("rsa")
    } else {
        SigningKey::generate(alg).expect("generate")
    }
}

/// The claims jsonwebtoken encodes: the same registered claims tidepass's minter writes.
#[derive(serde::Serialize)]
pub(crate) struct JwtClaims {
    pub(crate) iss: &'static str,
    pub(crate) sub: &'static str,
    pub(crate) aud: &'static str,
    pub(crate) exp: u64,
    pub(crate) iat: u64,
    pub(crate) jti: &'static str,
    pub(crate) sid: &'static str,
    pub(crate) scope: &'static str,
}

/// The bench's claims as of `now`, for jsonwebtoken's `encode`.
pub(crate) fn jwt_claims(now: u64) -> JwtClaims {
    JwtClaims {
        iss: ISS,
        sub: "user-42",
        aud: AUD,
        exp: now + 300,
        iat: now,
        jti: "0190b6e0-c3a9-7000-8000-000000000000",
        sid: "0190b6e0c3a97000",
        scope: "read write",
    }
}

/// A minter with a one-hour lifetime, and a token it mints now (real time: jsonwebtoken and
/// jwt-simple read the system clock), with the time.
pub(crate) fn minted(key: SigningKey) -> (tidepass::Minter, String, u64) {
    let minter = tidepass::Minter::new(key, ISS, AUD)
        .expect("minter")
        .with_ttl(std::time::Duration::from_secs(3600));
    let now = jsonwebtoken::get_current_timestamp();
    let token = minter
        .token("user-42")
        .sid("0190b6e0c3a97000")
        .scope("read write")
        .mint_at(now)
        .expect("mint")
        .into_string();
    (minter, token, now)
}

/// jsonwebtoken's validation for the bench's tokens: the algorithm, issuer and audience.
pub(crate) fn jwt_validation(alg: Algorithm) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(jwt_alg(alg));
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation
}

/// jsonwebtoken's keys for the same key material.
pub(crate) fn jwt_keys(key: &SigningKey) -> (jsonwebtoken::EncodingKey, jsonwebtoken::DecodingKey) {
    use base64::Engine as _;
    let private = key.export_private().expect("export");
    let enc = match key.algorithm() {
        a if a.is_hmac() => jsonwebtoken::EncodingKey::from_secret(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(private.as_bytes())
                .expect("b64"),
        ),
        a if a.is_rsa() => {
            jsonwebtoken::EncodingKey::from_rsa_pem(private.as_bytes()).expect("rsa")
        }
        Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).expect("ed"),
        _ => jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).expect("ec"),
    };
    let dec = match key.public_jwk() {
        Some(jwk) => {
            jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk).expect("jwk"))
                .expect("dk")
        }
        None => jsonwebtoken::DecodingKey::from_secret(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(private.as_bytes())
                .expect("b64"),
        ),
    };
    (enc, dec)
}

pub(crate) fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    alg.as_str().parse().expect("alg")
}

/// Install the jsonwebtoken provider this process measures: ring (tidepass's), or
/// jsonwebtoken's own aws-lc-rs one when `TIDEPASS_BENCH_JWT_PROVIDER=aws_lc` is set.
pub(crate) fn jwt_provider() -> &'static str {
    if std::env::var_os(PROVIDER_VAR).is_some() {
        jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
            .install_default()
            .expect("no provider installed yet in the child");
        "aws_lc"
    } else {
        assert!(tidepass::keys::provider::install(), "ring provider");
        "ring"
    }
}

/// Set in the child process that measures jsonwebtoken on its aws-lc-rs provider.
pub(crate) const PROVIDER_VAR: &str = "TIDEPASS_BENCH_JWT_PROVIDER";

/// `true` in that child: only the jsonwebtoken contender runs there.
pub(crate) fn only_jsonwebtoken() -> bool {
    std::env::var_os(PROVIDER_VAR).is_some()
}

/// jsonwebtoken's provider is a process-wide, set-once choice: measure the aws-lc-rs one in a
/// second run of this same bench binary, with the same arguments, as part of the same run.
pub(crate) fn run_aws_lc_child() {
    if only_jsonwebtoken() {
        return;
    }
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(std::env::args().skip(1))
        .env(PROVIDER_VAR, "aws_lc")
        .status()
        .expect("child bench");
    assert!(status.success(), "the aws-lc child run failed");
}

fn b64d(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("b64")
}

/// The floor for verification: ring checking the same signature over the same signing input,
/// with the key prepared outside the loop (as a ring user would).
pub(crate) type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;
pub(crate) type RawSign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

pub(crate) fn raw_verifier(key: &SigningKey) -> RawVerify {
    use ring::signature as sig;
    let alg = key.algorithm();
    match key.public_jwk() {
        None => {
            let secret = b64d(&key.export_private().expect("export"));
            let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
            Box::new(move |m, s| ring::hmac::verify(&k, m, s).is_ok())
        }
        Some(jwk) if alg.is_rsa() => {
            let c = ring::rsa::PublicKeyComponents {
                n: b64d(jwk["n"].as_str().expect("n")),
                e: b64d(jwk["e"].as_str().expect("e")),
            };
            let params: &'static sig::RsaParameters = if alg == Algorithm::RS256 {
                &sig::RSA_PKCS1_2048_8192_SHA256
            } else {
                &sig::RSA_PSS_2048_8192_SHA256
            };
            Box::new(move |m, s| c.verify(params, m, s).is_ok())
        }
        Some(jwk) => {
            let (va, bytes): (&'static dyn sig::VerificationAlgorithm, Vec<u8>) =
                if alg == Algorithm::EdDSA {
                    (&sig::ED25519, b64d(jwk["x"].as_str().expect("x")))
                } else {
                    let mut p = vec![4u8];
                    p.extend(b64d(jwk["x"].as_str().expect("x")));
                    p.extend(b64d(jwk["y"].as_str().expect("y")));
                    if alg == Algorithm::ES384 {
                        (&sig::ECDSA_P384_SHA384_FIXED, p)
                    } else {
                        (&sig::ECDSA_P256_SHA256_FIXED, p)
                    }
                };
            Box::new(move |m, s| sig::UnparsedPublicKey::new(va, &bytes).verify(m, s).is_ok())
        }
    }
}

/// The floor for minting: ring signing the same bytes with a prepared key.
pub(crate) fn raw_signer(key: &SigningKey) -> RawSign {
    use ring::signature as sig;
    let rng = ring::rand::SystemRandom::new();
    let private = key.export_private().expect("export");
    let alg = key.algorithm();
    if alg.is_hmac() {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &b64d(&private));
        return Box::new(move |m| ring::hmac::sign(&k, m).as_ref().to_vec());
    }
    let der = pem::parse(private.as_bytes()).expect("pem").into_contents();
    match alg {
        Algorithm::EdDSA => {
            let k = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).expect("ed");
            Box::new(move |m| k.sign(m).as_ref().to_vec())
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let a = if alg == Algorithm::ES384 {
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING
            } else {
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING
            };
            let k = sig::EcdsaKeyPair::from_pkcs8(a, &der, &rng).expect("ec");
            Box::new(move |m| k.sign(&rng, m).expect("sign").as_ref().to_vec())
        }
        _ => {
            let k = sig::RsaKeyPair::from_pkcs8(&der).expect("rsa");
            let enc: &'static dyn sig::RsaEncoding = if alg == Algorithm::RS256 {
                &sig::RSA_PKCS1_SHA256
            } else {
                &sig::RSA_PSS_SHA256
            };
            Box::new(move |m| {
                let mut out = vec![0u8; k.public().modulus_len()];
                k.sign(enc, &rng, m, &mut out).expect("sign");
                out
            })
        }
    }
}

/// Split a compact token into (signing input, decoded signature).
pub(crate) fn signing_input(token: &str) -> (Vec<u8>, Vec<u8>) {
    let (input, s) = token.rsplit_once('.').expect("token");
    (input.as_bytes().to_vec(), b64d(s))
}

/// jwt-simple verifying with the same key, issuer and audience.
pub(crate) fn jwt_simple_verify(
    alg: Algorithm,
    key: &tidepass::keys::SigningKey,
) -> Box<dyn Fn(&str) -> bool> {
    let opts = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[ISS])),
        allowed_audiences: Some(HashSet::from_strings(&[AUD])),
        ..VerificationOptions::default()
    };
    let pem = key.verifying_key().public_pem();
    match alg {
        Algorithm::HS256 => {
            use base64::Engine as _;
            let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(key.export_private().expect("export").as_bytes())
                .expect("b64");
            let k = HS256Key::from_bytes(&secret);
            Box::new(move |t| {
                k.verify_token::<NoCustomClaims>(t, Some(opts.clone()))
                    .is_ok()
            })
        }
        Algorithm::ES256 => {
            let k = ES256PublicKey::from_pem(&pem.expect("pem")).expect("es256");
            Box::new(move |t| {
                k.verify_token::<NoCustomClaims>(t, Some(opts.clone()))
                    .is_ok()
            })
        }
        Algorithm::ES384 => {
            let k = ES384PublicKey::from_pem(&pem.expect("pem")).expect("es384");
            Box::new(move |t| {
                k.verify_token::<NoCustomClaims>(t, Some(opts.clone()))
                    .is_ok()
            })
        }
        Algorithm::EdDSA => {
            let k = Ed25519PublicKey::from_pem(&pem.expect("pem")).expect("ed25519");
            Box::new(move |t| {
                k.verify_token::<NoCustomClaims>(t, Some(opts.clone()))
                    .is_ok()
            })
        }
        Algorithm::RS256 => {
            let k = RS256PublicKey::from_pem(&pem.expect("pem")).expect("rs256");
            Box::new(move |t| {
                k.verify_token::<NoCustomClaims>(t, Some(opts.clone()))
                    .is_ok()
            })
        }
        _ => {
            let k = PS256PublicKey::from_pem(&pem.expect("pem")).expect("ps256");
            Box::new(move |t| {
                k.verify_token::<NoCustomClaims>(t, Some(opts.clone()))
                    .is_ok()
            })
        }
    }
}

/// jwt-simple signing claims like the other contenders' (its own fresh key).
pub(crate) fn jwt_simple_sign(alg: Algorithm) -> Box<dyn Fn() -> String> {
    let claims = || {
        Claims::create(Duration::from_secs(300))
            .with_issuer(ISS)
            .with_audience(AUD)
            .with_subject("user-42")
            .with_jwt_id("0190b6e0-c3a9-7000-8000-000000000000")
    };
    match alg {
        Algorithm::HS256 => {
            let k = HS256Key::generate();
            Box::new(move || k.authenticate(claims()).expect("sign"))
        }
        Algorithm::ES256 => {
            let k = ES256KeyPair::generate();
            Box::new(move || k.sign(claims()).expect("sign"))
        }
        Algorithm::ES384 => {
            let k = ES384KeyPair::generate();
            Box::new(move || k.sign(claims()).expect("sign"))
        }
        Algorithm::EdDSA => {
            let k = Ed25519KeyPair::generate();
            Box::new(move || k.sign(claims()).expect("sign"))
        }
        Algorithm::RS256 => {
            let pem = String::from_utf8(rsa_pem()).expect("utf8");
            let k = RS256KeyPair::from_pem(&pem).expect("rsa");
            Box::new(move || k.sign(claims()).expect("sign"))
        }
        _ => {
            let pem = String::from_utf8(rsa_pem()).expect("utf8");
            let k = PS256KeyPair::from_pem(&pem).expect("rsa");
            Box::new(move || k.sign(claims()).expect("sign"))
        }
    }
}
