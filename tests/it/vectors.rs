//! Known-answer vectors: RFC 7515 appendix A, RFC 8037 A.4, RFC 7520 section 4, RFC 7638 and
//! RFC 8037 thumbprints.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tidepass::ErrorKind;
use tidepass::keys::{SigningKey, VerifyingKey, VerifyingKeys};

use crate::common::{data, kind, tampered};

fn vector(name: &str) -> Value {
    data("rfc_vectors.json")[name].clone()
}

/// The JWK, with an `alg` (and a `kid` for `oct`, which tidepass requires) added if absent.
fn jwk_with(v: &Value, alg: &str) -> Value {
    let mut jwk = v["jwk"].clone();
    let m = jwk.as_object_mut().expect("object");
    m.entry("alg").or_insert(json!(alg));
    if m["kty"] == "oct" {
        m.entry("kid").or_insert(json!("rfc-key"));
    }
    jwk
}

fn public_set(jwk: &Value) -> VerifyingKeys {
    VerifyingKeys::from_keys([VerifyingKey::from_jwk(&jwk.to_string()).expect("import")])
        .expect("set")
}

/// Verify, check the payload, and check every tampered variant fails.
fn check(keys: &VerifyingKeys, jws: &str, payload: &[u8]) {
    assert_eq!(keys.verify_jws(jws).expect("valid vector"), payload);
    for t in tampered(jws) {
        assert!(keys.verify_jws(&t).is_err(), "tampered token accepted: {t}");
    }
}

fn payload_of(jws: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jws.split('.').nth(1).expect("payload"))
        .expect("b64")
}

fn header_of(jws: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jws.split('.').next().expect("header"))
        .expect("b64")
}

#[test]
fn rfc7515_a1_hs256_verifies_and_signs_byte_for_byte() {
    let v = vector("rfc7515_a1_hs256");
    let jwk = jwk_with(&v, "HS256");
    let jws = v["jws"].as_str().expect("jws");
    // The payload's exp (2011) lies in the past: the JWS-level check has no clock; the
    // verifier-level clock is pinned in the interop and rotation tests.
    check(
        &public_set(&jwk),
        jws,
        v["payload"].as_str().expect("p").as_bytes(),
    );
    let key = SigningKey::from_jwk(&jwk.to_string()).expect("key");
    let signed = key.sign_jws(
        v["header"].as_str().expect("h").as_bytes(),
        v["payload"].as_str().expect("p").as_bytes(),
    );
    assert_eq!(signed.expect("sign"), jws);
}

#[test]
fn rfc7515_a2_rs256_verifies_and_signs_byte_for_byte() {
    let v = vector("rfc7515_a2_rs256");
    let jwk = jwk_with(&v, "RS256");
    let jws = v["jws"].as_str().expect("jws");
    check(
        &public_set(&jwk),
        jws,
        v["payload"].as_str().expect("p").as_bytes(),
    );
    let key = SigningKey::from_jwk(&jwk.to_string()).expect("key");
    let signed = key.sign_jws(
        v["header"].as_str().expect("h").as_bytes(),
        v["payload"].as_str().expect("p").as_bytes(),
    );
    assert_eq!(signed.expect("sign"), jws);
}

#[test]
fn rfc7515_a3_es256_verifies_and_round_trips() {
    let v = vector("rfc7515_a3_es256");
    let jwk = jwk_with(&v, "ES256");
    let jws = v["jws"].as_str().expect("jws");
    let keys = public_set(&jwk);
    check(&keys, jws, &payload_of(jws));
    // ECDSA is randomized: a fresh signature differs from the RFC's but verifies.
    let key = SigningKey::from_jwk(&jwk.to_string()).expect("key");
    let fresh = key
        .sign_jws(&header_of(jws), &payload_of(jws))
        .expect("sign");
    assert_ne!(fresh, jws);
    check(&keys, &fresh, &payload_of(jws));
}

#[test]
fn rfc7515_a4_es512_is_refused_as_unsupported() {
    let v = vector("rfc7515_a4_es512");
    let e = VerifyingKey::from_jwk(&v["jwk"].to_string()).expect_err("P-521 key");
    assert_eq!(e.kind(), ErrorKind::InvalidKeySet);
    // Whatever key a verifier holds, an ES512 token is refused for its algorithm.
    let other = vector("rfc7515_a3_es256");
    let keys = public_set(&jwk_with(&other, "ES256"));
    assert_eq!(
        kind(keys.verify_jws(v["jws"].as_str().expect("jws"))),
        ErrorKind::UnsupportedAlgorithm
    );
}

#[test]
fn rfc8037_a4_eddsa_verifies_signs_and_has_the_rfc_thumbprint() {
    let v = vector("rfc8037_a4_eddsa");
    let jwk = jwk_with(&v, "EdDSA");
    let jws = v["jws"].as_str().expect("jws");
    check(
        &public_set(&jwk),
        jws,
        v["payload"].as_str().expect("p").as_bytes(),
    );
    let key = SigningKey::from_jwk(&jwk.to_string()).expect("key");
    let signed = key.sign_jws(
        v["header"].as_str().expect("h").as_bytes(),
        v["payload"].as_str().expect("p").as_bytes(),
    );
    assert_eq!(signed.expect("sign"), jws);
    // RFC 8037 A.3: the default kid is the RFC 7638 thumbprint.
    assert_eq!(key.kid().as_str(), v["thumbprint"]);
    assert_eq!(
        VerifyingKey::from_jwk(&jwk.to_string())
            .expect("pub")
            .kid()
            .as_str(),
        v["thumbprint"]
    );
}

#[test]
fn rfc7638_thumbprint_is_the_default_kid() {
    let v = vector("rfc7638_thumbprint");
    let key = VerifyingKey::from_jwk(&v["jwk"].to_string()).expect("import");
    assert_eq!(key.kid().as_str(), v["thumbprint"]);
    // Export and re-import keeps the kid; the JWK carries no private member.
    let exported = key.public_jwk().expect("public");
    assert!(exported.get("d").is_none());
    assert_eq!(
        VerifyingKey::from_jwk(&exported.to_string())
            .expect("again")
            .kid()
            .as_str(),
        v["thumbprint"]
    );
}

/// RFC 7520 section 4: the figures as carried by Wycheproof (test ids 345, 346, 348; 347 is
/// ES512). The keys carry `kid` "bilbo.baggins@hobbiton.example" and so do the tokens.
fn rfc7520(tc: u64) -> (String, Value) {
    let w = data("wycheproof/json_web_signature_test.json");
    for g in w["testGroups"].as_array().expect("groups") {
        for t in g["tests"].as_array().expect("tests") {
            if t["tcId"] == tc {
                let key = g.get("public").unwrap_or(&g["private"]).clone();
                return (t["jws"].as_str().expect("jws").to_owned(), key);
            }
        }
    }
    panic!("no test {tc}")
}

#[test]
fn rfc7520_4_1_rs256_with_kid() {
    let (jws, jwk) = rfc7520(345);
    let keys = public_set(&jwk);
    check(&keys, &jws, &payload_of(&jws));
    let (_, private) = {
        let w = data("wycheproof/json_web_signature_test.json");
        let g = w["testGroups"]
            .as_array()
            .expect("g")
            .iter()
            .find(|g| g["tests"][0]["tcId"] == 345)
            .expect("g")
            .clone();
        (0, g["private"].clone())
    };
    let key = SigningKey::from_jwk(&private.to_string()).expect("key");
    assert_eq!(
        key.sign_jws(&header_of(&jws), &payload_of(&jws))
            .expect("sign"),
        jws,
        "RS256 is deterministic"
    );
}

#[test]
fn rfc7520_4_2_ps384_with_kid() {
    let (jws, mut jwk) = rfc7520(346);
    // Wycheproof labels this key PS256 while RFC 7520 section 4.2 signs with PS384 (a known
    // label problem of the file); the RFC is the authority here.
    assert_eq!(
        kind(
            VerifyingKeys::from_keys([VerifyingKey::from_jwk(&jwk.to_string()).expect("k")])
                .expect("s")
                .verify_jws(&jws)
        ),
        ErrorKind::AlgorithmMismatch
    );
    jwk["alg"] = json!("PS384");
    check(&public_set(&jwk), &jws, &payload_of(&jws));
}

#[test]
fn rfc7520_4_3_es512_is_unsupported_and_4_4_hs256_verifies() {
    let (jws, jwk) = rfc7520(347);
    assert_eq!(
        VerifyingKey::from_jwk(&jwk.to_string())
            .expect_err("P-521")
            .kind(),
        ErrorKind::InvalidKeySet
    );
    let (jws44, jwk44) = rfc7520(348);
    let keys = public_set(&jwk44);
    check(&keys, &jws44, &payload_of(&jws44));
    assert_eq!(kind(keys.verify_jws(&jws)), ErrorKind::UnsupportedAlgorithm);
}
