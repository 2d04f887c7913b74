//! Interoperability with jsonwebtoken 11 in both directions, for every algorithm, with
//! jsonwebtoken running on tidepass's ring provider.

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{Minter, Verifier};

const ISS: &str = "https://auth.example";
const AUD: &str = "api";

pub(crate) fn key_path(name: &str) -> String {
    format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A signing key for `alg`: generated, or the committed RSA test key.
pub(crate) fn signing_key(alg: Algorithm) -> SigningKey {
    // jsonwebtoken (the oracle in these tests) on ring: the tests' choice, not a side effect.
    tidepass::keys::provider::install();
    if alg.is_rsa() {
        let pem = std::fs::read(key_path("rsa2048.pem")).expect("rsa key");
        SigningKey::from_pem(&pem, Some(alg)).expect("rsa import")
    } else {
        SigningKey::generate(alg).expect("generate")
    }
}

pub(crate) fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    alg.as_str()
        .parse()
        .expect("jsonwebtoken knows every tidepass algorithm")
}

fn encoding_key(key: &SigningKey) -> EncodingKey {
    let private = key.export_private().expect("export");
    match key.algorithm() {
        a if a.is_hmac() => EncodingKey::from_secret(&raw_secret(key)),
        a if a.is_rsa() => EncodingKey::from_rsa_pem(private.as_bytes()).expect("rsa pem"),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()).expect("ed pem"),
        _ => EncodingKey::from_ec_pem(private.as_bytes()).expect("ec pem"),
    }
}

pub(crate) fn decoding_key(key: &SigningKey) -> DecodingKey {
    match key.public_jwk() {
        Some(jwk) => {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).expect("jwk");
            DecodingKey::from_jwk(&jwk).expect("decoding key")
        }
        None => DecodingKey::from_secret(&raw_secret(key)),
    }
}

fn raw_secret(key: &SigningKey) -> Vec<u8> {
    use base64::Engine as _;
    let secret = key.export_private().expect("export");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret.as_bytes())
        .expect("b64")
}

pub(crate) fn strict_validation(alg: Algorithm, leeway: u64) -> Validation {
    let mut v = Validation::new(jwt_alg(alg));
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = leeway;
    v
}

#[test]
fn ring_provider_is_installed_without_panicking() {
    assert!(tidepass::keys::provider::install());
    assert!(
        tidepass::keys::provider::install(),
        "a second install is a no-op"
    );
}

#[test]
fn tidepass_tokens_verify_with_jsonwebtoken_decode() {
    assert!(tidepass::keys::provider::install());
    for alg in Algorithm::ALL {
        let key = signing_key(alg);
        let decoding = decoding_key(&key);
        let minter = Minter::new(key, ISS, AUD).expect("minter");
        let token = minter
            .token("alice")
            .sid("s-1")
            .scope("read write")
            .claims(json!({"tenant": "acme", "roles": ["a", "b"]}))
            .mint()
            .expect("mint");
        let data =
            jsonwebtoken::decode::<Value>(token.as_str(), &decoding, &strict_validation(alg, 0))
                .unwrap_or_else(|e| panic!("{alg}: jsonwebtoken refused a tidepass token: {e}"));
        assert_eq!(data.header.alg, jwt_alg(alg));
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(data.claims["sub"], "alice", "{alg}");
        assert_eq!(data.claims["tenant"], "acme", "{alg}");
        assert_eq!(data.claims["jti"], token.jti(), "{alg}");
        // The jti is a UUID v7.
        assert_eq!(&token.jti()[14..15], "7", "{alg}: {}", token.jti());
    }
}

#[test]
fn jsonwebtoken_tokens_verify_with_tidepass() {
    assert!(tidepass::keys::provider::install());
    let now = jsonwebtoken::get_current_timestamp();
    for alg in Algorithm::ALL {
        let key = signing_key(alg);
        let encoding = encoding_key(&key);
        let mut header = Header::new(jwt_alg(alg));
        header.kid = Some(key.kid().to_string());
        header.typ = Some("at+jwt".into());
        let claims = json!({
            "iss": ISS, "sub": "bob", "aud": [AUD, "other"], "exp": now + 60, "iat": now,
            "jti": "j-1", "scope": "read", "tenant": "acme"
        });
        let token = jsonwebtoken::encode(&header, &claims, &encoding)
            .unwrap_or_else(|e| panic!("{alg}: jsonwebtoken encode: {e}"));
        let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let verifier = Verifier::builder(ISS, AUD, keys)
            .claims::<Value>()
            .build()
            .expect("v");
        let verified = verifier
            .verify_at(&token, now)
            .unwrap_or_else(|e| panic!("{alg}: tidepass refused a jsonwebtoken token: {e}"));
        assert_eq!(verified.sub, "bob");
        assert_eq!(verified.extra["tenant"], "acme");
        assert!(verified.has_scope("read"));
    }
}
