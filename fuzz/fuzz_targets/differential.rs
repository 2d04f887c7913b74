//! Differential: the same token to tidepass's verifier and to jsonwebtoken's strict decode
//! (signature, `exp` with the same leeway, `iss`, `aud`, required `exp`/`iss`/`aud`/`sub`).
//! The harness writes the header and claims JSON (alg, typ, kid, crit; registered claims with
//! odd types and values) and signs it with the shared HS256 key, so tokens reach the claim
//! rules. It fails when tidepass accepts a token jsonwebtoken refuses.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tidepass::Verifier;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};

const SECRET: [u8; 32] = [7u8; 32];

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &SECRET).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .build()
        .expect("verifier")
});

static JWT: LazyLock<(jsonwebtoken::DecodingKey, jsonwebtoken::Validation)> = LazyLock::new(|| {
    tidepass::keys::provider::install();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.leeway = 30;
    v.set_issuer(&["iss"]);
    v.set_audience(&["aud"]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    (jsonwebtoken::DecodingKey::from_secret(&SECRET), v)
});

#[derive(Arbitrary, Debug)]
enum V {
    Keep,
    Drop,
    Str(String),
    Int(i64),
    Offset(i32),
    Float(f64),
    Null,
    List(Vec<String>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    alg: V,
    typ: V,
    kid: V,
    iss: V,
    sub: V,
    aud: V,
    exp: V,
    nbf: V,
    iat: V,
    jti: V,
    extra: Option<(String, String)>,
}

fn put(obj: &mut Map<String, Value>, name: &str, v: &V, default: Value, time: Option<u64>) {
    let value = match v {
        V::Keep => default,
        V::Drop => {
            obj.remove(name);
            return;
        }
        V::Str(s) => json!(s),
        V::Int(n) => json!(n),
        V::Offset(o) if time.is_some() => {
            json!(time.unwrap_or(0) as i64 + i64::from(*o))
        }
        V::Offset(o) => json!(o),
        V::Float(f) => json!(f),
        V::Null => Value::Null,
        V::List(l) => json!(l),
    };
    obj.insert(name.into(), value);
}

fuzz_target!(|input: Input| {
    // jsonwebtoken reads the system clock itself: both sides judge at the same second.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut header = Map::new();
    put(&mut header, "alg", &input.alg, json!("HS256"), None);
    put(&mut header, "typ", &input.typ, json!("at+jwt"), None);
    put(&mut header, "kid", &input.kid, Value::Null, None);
    if header.get("kid") == Some(&Value::Null) {
        header.remove("kid");
    }
    let mut claims = Map::new();
    put(&mut claims, "iss", &input.iss, json!("iss"), None);
    put(&mut claims, "sub", &input.sub, json!("alice"), None);
    put(&mut claims, "aud", &input.aud, json!("aud"), None);
    put(&mut claims, "exp", &input.exp, json!(now + 300), Some(now));
    put(&mut claims, "iat", &input.iat, json!(now), Some(now));
    put(&mut claims, "nbf", &input.nbf, json!(now), Some(now));
    put(
        &mut claims,
        "jti",
        &input.jti,
        json!("01a3185c-5000-7462-8c63-e6a54a2e40a8"),
        None,
    );
    if let Some((k, v)) = &input.extra {
        claims.insert(k.clone(), json!(v));
    }
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let signing_input = format!(
        "{}.{}",
        b64(Value::Object(header).to_string().as_bytes()),
        b64(Value::Object(claims).to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &SECRET);
    let sig = ring::hmac::sign(&key, signing_input.as_bytes());
    let token = format!("{signing_input}.{}", b64(sig.as_ref()));

    let ours = VERIFIER.verify_at(&token, now);
    let (dk, validation) = &*JWT;
    let theirs = jsonwebtoken::decode::<Value>(&token, dk, validation);
    if let (Ok(c), Err(e)) = (&ours, &theirs) {
        use jsonwebtoken::errors::ErrorKind as K;
        // The second may have turned between the two calls: an `exp` right at the edge.
        let at_the_edge =
            matches!(e.kind(), K::ExpiredSignature) && c.exp.saturating_add(30).abs_diff(now) <= 1;
        assert!(
            at_the_edge,
            "tidepass accepted what jsonwebtoken refuses ({e:?}): {token}"
        );
    }
});
