//! The attack list, one test each: every refusal has its own error kind and nothing panics.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tidepass::http::Rejection;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{ErrorKind, Verifier};

use crate::common::kind;
use crate::interop::signing_key;

const NOW: u64 = 1_800_000_000;

struct Fixture {
    key: SigningKey,
    verifier: Verifier,
}

impl Fixture {
    fn new(alg: Algorithm) -> Self {
        let key = signing_key(alg);
        let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let verifier = Verifier::builder("iss", "aud", keys)
            .leeway(std::time::Duration::from_secs(30))
            .build()
            .expect("verifier");
        Self { key, verifier }
    }

    fn header(&self) -> Value {
        json!({"alg": self.key.algorithm().as_str(), "kid": self.key.kid().as_str(), "typ": "at+jwt"})
    }

    fn claims(&self) -> Value {
        json!({"iss": "iss", "sub": "s", "aud": "aud", "exp": NOW + 60, "iat": NOW, "jti": "j"})
    }

    /// Sign any header and claims with the fixture's key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.key
            .sign_jws(header.to_string().as_bytes(), claims.to_string().as_bytes())
            .expect("sign")
    }

    fn with_header(&self, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut h = self.header();
        f(h.as_object_mut().expect("object"));
        self.sign(&h, &self.claims())
    }

    fn with_claims(&self, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut c = self.claims();
        f(c.as_object_mut().expect("object"));
        self.sign(&self.header(), &c)
    }

    fn check(&self, token: &str) -> ErrorKind {
        kind(self.verifier.verify_at(token, NOW))
    }
}

fn b64(v: impl AsRef<[u8]>) -> String {
    B64.encode(v)
}

#[test]
fn a_well_formed_token_passes() {
    let f = Fixture::new(Algorithm::ES256);
    let c = f
        .verifier
        .verify_at(&f.sign(&f.header(), &f.claims()), NOW)
        .expect("valid");
    assert_eq!(c.sub, "s");
}

#[test]
fn alg_none_in_any_spelling() {
    let f = Fixture::new(Algorithm::HS256);
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = b64(json!({"alg": none, "kid": f.key.kid().as_str(), "typ": "at+jwt"}).to_string());
        let p = b64(f.claims().to_string());
        for sig in ["", "AAAA"] {
            assert_eq!(
                f.check(&format!("{h}.{p}.{sig}")),
                ErrorKind::AlgorithmNone,
                "{none}/{sig}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_algorithm_confusion() {
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let f = Fixture::new(alg);
        let public_pem = f.key.verifying_key().public_pem().expect("pem");
        let public_jwk = f.key.public_jwk().expect("jwk").to_string();
        for secret in [public_pem.as_bytes(), public_jwk.as_bytes()] {
            let h = b64(
                json!({"alg": "HS256", "kid": f.key.kid().as_str(), "typ": "at+jwt"}).to_string(),
            );
            let p = b64(f.claims().to_string());
            let input = format!("{h}.{p}");
            let mac = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
                input.as_bytes(),
            );
            let token = format!("{input}.{}", b64(mac.as_ref()));
            assert_eq!(f.check(&token), ErrorKind::AlgorithmMismatch, "{alg}");
        }
    }
}

#[test]
fn ecdsa_r_and_s_zero() {
    let f = Fixture::new(Algorithm::ES256);
    let good = f.sign(&f.header(), &f.claims());
    let (input, _) = good.rsplit_once('.').expect("parts");
    for sig in [vec![0u8; 64], vec![0u8; 0], vec![0u8; 32]] {
        assert_eq!(
            f.check(&format!("{input}.{}", b64(sig))),
            ErrorKind::InvalidSignature
        );
    }
    let f = Fixture::new(Algorithm::ES384);
    let good = f.sign(&f.header(), &f.claims());
    let (input, _) = good.rsplit_once('.').expect("parts");
    assert_eq!(
        f.check(&format!("{input}.{}", b64([0u8; 96]))),
        ErrorKind::InvalidSignature
    );
}

#[test]
fn unknown_crit() {
    let f = Fixture::new(Algorithm::EdDSA);
    let t = f.with_header(|h| {
        h.insert("crit".into(), json!(["exp"]));
    });
    assert_eq!(f.check(&t), ErrorKind::UnknownCritical);
    let t = f.with_header(|h| {
        h.insert("crit".into(), Value::Null);
    });
    assert_eq!(
        f.check(&t),
        ErrorKind::UnknownCritical,
        "present but null is still present"
    );
}

#[test]
fn embedded_keys_and_key_urls() {
    let f = Fixture::new(Algorithm::EdDSA);
    let jwk = f.key.public_jwk().expect("jwk");
    for (name, value) in [
        ("jwk", jwk),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
    ] {
        let t = f.with_header(|h| {
            h.insert(name.into(), value);
        });
        assert_eq!(f.check(&t), ErrorKind::EmbeddedKey, "{name}");
    }
}

#[test]
fn jwe_is_refused() {
    let f = Fixture::new(Algorithm::HS256);
    let h = b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
    assert_eq!(
        f.check(&format!("{h}.AAAA.BBBB.CCCC.DDDD")),
        ErrorKind::Encrypted
    );
}

#[test]
fn typ_wrong_or_missing() {
    let f = Fixture::new(Algorithm::HS256);
    let t = f.with_header(|h| {
        h.insert("typ".into(), json!("JWT"));
    });
    assert_eq!(f.check(&t), ErrorKind::InvalidType);
    let t = f.with_header(|h| {
        h.remove("typ");
    });
    assert_eq!(f.check(&t), ErrorKind::InvalidType);
    let t = f.with_header(|h| {
        h.insert("typ".into(), json!("application/AT+JWT"));
    });
    f.verifier
        .verify_at(&t, NOW)
        .expect("RFC 7515: typ compares case-insensitively, prefix optional");
    // A verifier that does not require typ accepts both.
    let keys = VerifyingKeys::from_keys([f.key.verifying_key()]).expect("keys");
    let lax = Verifier::builder("iss", "aud", keys)
        .typ(None)
        .build()
        .expect("v");
    lax.verify_at(
        &f.with_header(|h| {
            h.remove("typ");
        }),
        NOW,
    )
    .expect("typ not required");
}

#[test]
fn audience_mismatch_in_string_and_array_form() {
    let f = Fixture::new(Algorithm::HS256);
    for (aud, ok) in [
        (json!("other"), false),
        (json!(["other", "more"]), false),
        (json!([]), false),
        (json!(null), false),
        (json!(42), false),
        (json!(["other", "aud"]), true),
        (json!("aud"), true),
    ] {
        let t = f.with_claims(|c| {
            c.insert("aud".into(), aud.clone());
        });
        match ok {
            true => assert!(f.verifier.verify_at(&t, NOW).is_ok(), "{aud}"),
            false => assert_eq!(f.check(&t), ErrorKind::InvalidAudience, "{aud}"),
        }
    }
    let t = f.with_claims(|c| {
        c.remove("aud");
    });
    assert_eq!(f.check(&t), ErrorKind::InvalidAudience, "missing aud");
}

#[test]
fn issuer_mismatch_and_missing() {
    let f = Fixture::new(Algorithm::HS256);
    for iss in [json!("other"), json!("ISS"), json!(["iss"]), json!(null)] {
        let t = f.with_claims(|c| {
            c.insert("iss".into(), iss.clone());
        });
        assert_eq!(f.check(&t), ErrorKind::InvalidIssuer, "{iss}");
    }
    let t = f.with_claims(|c| {
        c.remove("iss");
    });
    assert_eq!(f.check(&t), ErrorKind::InvalidIssuer);
}

#[test]
fn expired_not_yet_valid_and_issued_in_the_future_with_leeway() {
    let f = Fixture::new(Algorithm::HS256);
    let at = |c: &str, v: u64| {
        f.with_claims(|m| {
            m.insert(c.into(), json!(v));
        })
    };
    // exp: valid while now < exp + leeway.
    assert!(f.verifier.verify_at(&at("exp", NOW - 29), NOW).is_ok());
    assert_eq!(f.check(&at("exp", NOW - 30)), ErrorKind::Expired);
    // nbf: valid once now + leeway >= nbf.
    assert!(f.verifier.verify_at(&at("nbf", NOW + 30), NOW).is_ok());
    assert_eq!(f.check(&at("nbf", NOW + 31)), ErrorKind::NotYetValid);
    // iat: refused beyond the leeway into the future.
    assert!(f.verifier.verify_at(&at("iat", NOW + 30), NOW).is_ok());
    assert_eq!(f.check(&at("iat", NOW + 31)), ErrorKind::IssuedInFuture);
    for claim in ["exp", "iat", "sub", "jti"] {
        let t = f.with_claims(|c| {
            c.remove(claim);
        });
        assert_eq!(f.check(&t), ErrorKind::MissingClaim, "{claim}");
    }
    let t = f.with_claims(|c| {
        c.insert("exp".into(), json!("tomorrow"));
    });
    assert_eq!(f.check(&t), ErrorKind::InvalidNumericDate);
}

#[test]
fn malformed_base64_and_json() {
    let f = Fixture::new(Algorithm::HS256);
    let good = f.sign(&f.header(), &f.claims());
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        format!("{}!.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64("not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64("[1,2]"), parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","alg":"HS256"}"#),
            parts[1],
            parts[2]
        ),
        String::new(),
        ".".into(),
        "..".into(),
        format!("{}.{}", parts[0], parts[1]),
    ];
    for t in &cases {
        assert_eq!(f.check(t), ErrorKind::Malformed, "{t}");
    }
    // A payload segment that is not base64url, under a valid HMAC over its exact text.
    let secret = f.key.export_private().expect("secret");
    let secret = B64.decode(secret.as_bytes()).expect("b64");
    for payload in [
        format!("{}=", parts[1]),
        "!!!!".to_owned(),
        format!("{}A", parts[1]),
    ] {
        let input = format!("{}.{payload}", parts[0]);
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        assert_eq!(
            f.check(&format!("{input}.{}", b64(mac.as_ref()))),
            ErrorKind::Malformed,
            "{payload}"
        );
    }
    // Claims that are not a JSON object (signed, so only the JSON rule can refuse them).
    for payload in ["[1]", "\"s\"", "{", "nul"] {
        let t = f
            .key
            .sign_jws(f.header().to_string().as_bytes(), payload.as_bytes())
            .expect("s");
        assert_eq!(f.check(&t), ErrorKind::Malformed, "{payload}");
    }
}

#[test]
fn oversized_tokens_are_refused_before_decoding() {
    let f = Fixture::new(Algorithm::HS256);
    let t = f.with_claims(|c| {
        c.insert("pad".into(), json!("x".repeat(9000)));
    });
    assert_eq!(f.check(&t), ErrorKind::TooLarge);
    assert_eq!(f.check(&"A".repeat(1 << 20)), ErrorKind::TooLarge);
}

#[test]
fn unknown_and_missing_kid_and_unsupported_alg() {
    let f = Fixture::new(Algorithm::ES256);
    let t = f.with_header(|h| {
        h.insert("kid".into(), json!("someone-else"));
    });
    assert_eq!(f.check(&t), ErrorKind::UnknownKey);
    let t = f.with_header(|h| {
        h.remove("kid");
    });
    // One key: a kid-less token is verified with it (the PyJWT/jose default)...
    assert_eq!(
        f.verifier.verify_at(&t, NOW).expect("one key, no kid").sub,
        "s"
    );
    // ...but only when its alg is that key's...
    let other = b64(json!({"alg": "ES384", "typ": "at+jwt"}).to_string());
    assert_eq!(
        f.check(&format!("{other}.{}.AAAA", b64(f.claims().to_string()))),
        ErrorKind::AlgorithmMismatch
    );
    // ...and with several keys the verifier cannot choose: refused.
    let second = signing_key(Algorithm::ES384);
    let two =
        VerifyingKeys::from_keys([f.key.verifying_key(), second.verifying_key()]).expect("keys");
    let v2 = Verifier::builder("iss", "aud", two)
        .build()
        .expect("verifier");
    assert_eq!(kind(v2.verify_at(&t, NOW)), ErrorKind::MissingKeyId);
    let h = b64(json!({"alg": "ES512", "kid": f.key.kid().as_str(), "typ": "at+jwt"}).to_string());
    assert_eq!(
        f.check(&format!("{h}.{}.AAAA", b64("{}"))),
        ErrorKind::UnsupportedAlgorithm
    );
    // Algorithm names are case-sensitive: "es256" is not ES256.
    let h = b64(json!({"alg": "es256", "kid": f.key.kid().as_str(), "typ": "at+jwt"}).to_string());
    assert_eq!(
        f.check(&format!("{h}.{}.AAAA", b64("{}"))),
        ErrorKind::UnsupportedAlgorithm
    );
}

#[test]
fn bearer_headers() {
    let f = Fixture::new(Algorithm::HS256);
    let good = f.sign(&f.header(), &f.claims());
    let v = &f.verifier;
    // verify_bearer reads the system clock: these checks fail before any time rule.
    assert_eq!(kind(v.verify_bearer("")), ErrorKind::MissingToken);
    assert_eq!(
        kind(v.verify_bearer(&format!("Basic {good}"))),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        kind(v.verify_bearer(&format!("Bearer\t{good}"))),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        kind(v.verify_bearer(&format!("Bearer {good}\"x"))),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        kind(v.verify_bearer(&format!("Bearer {}", "a".repeat(9000)))),
        ErrorKind::TooLarge
    );
    let e = v
        .verify_bearer(&format!("BEARER {good}x"))
        .expect_err("bad sig");
    assert_eq!(e.kind(), ErrorKind::InvalidSignature);
    let r = Rejection::from_error(&e, "api", None);
    assert_eq!((r.status, r.body), (401, r#"{"error":"invalid_token"}"#));
}

#[test]
fn required_scopes() {
    let f = Fixture::new(Algorithm::HS256);
    let t = f.with_claims(|c| {
        c.insert("scope".into(), json!("read write:all"));
    });
    let claims = f.verifier.verify_at(&t, NOW).expect("valid");
    claims
        .require_scopes(&["read", "write:all"])
        .expect("granted");
    assert_eq!(
        kind(claims.require_scopes(&["write"])),
        ErrorKind::InsufficientScope
    );
    assert_eq!(
        kind(claims.require_scopes(&["admin"])),
        ErrorKind::InsufficientScope
    );
}

#[test]
fn secrets_never_print() {
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")
        .expect("k");
    let dbg = format!("{key:?} {:?}", key.verifying_key());
    assert!(
        !dbg.contains("0123456789") && dbg.contains("[redacted]"),
        "{dbg}"
    );
    let f = Fixture::new(Algorithm::HS256);
    let token = tidepass::Minter::new(f.key, "iss", "aud")
        .expect("m")
        .token("u")
        .mint()
        .expect("t");
    let dbg = format!("{token:?}");
    assert!(!dbg.contains(token.as_str()) && dbg.contains("[redacted]"));
    let e = f
        .verifier
        .verify_at(&format!("{}x", token.as_str()), NOW)
        .expect_err("bad");
    assert!(
        !e.to_string().contains(&token.as_str()[..20])
            && !format!("{e:?}").contains(&token.as_str()[..20])
    );
}
