//! The JWS header rules, reached: the fuzzer builds the header *JSON* (alg, kid, typ, crit,
//! embedded keys, odd members, any Unicode), tidepass's harness encodes it and signs it with the
//! fuzz key whenever the header allows, so every input gets past base64url and, most of the
//! time, past the signature too. The whole-token `jws` target mutates bytes and almost never
//! gets this far (it ran 7.9 M executions without reaching the multi-byte `typ` panic that
//! this one finds in seconds).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tidepass::Verifier;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};

static KEY: LazyLock<(SigningKey, Verifier)> = LazyLock::new(|| {
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &[7u8; 32]).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let verifier = Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .build()
        .expect("verifier");
    (key, verifier)
});

#[derive(Arbitrary, Debug)]
enum Text {
    /// One of the values that matter.
    Known(u8),
    /// Anything.
    Any(String),
    /// A known value, or ASCII padding, then any character, then anything: multi-byte
    /// characters land at every byte offset (where a byte-indexed slice would split one).
    Padded(u8, u8, char, String),
}

#[derive(Arbitrary, Debug)]
struct Header {
    alg: Option<Text>,
    kid: Option<Text>,
    typ: Option<Text>,
    crit: bool,
    jwk: bool,
    extra: Vec<(String, String)>,
    exp_delta: i64,
    fractional: bool,
    sub: String,
}

const ALGS: [&str; 6] = ["HS256", "none", "RS256", "ES256", "HS384", "EdDSA"];
const TYPS: [&str; 5] = [
    "at+jwt",
    "application/at+jwt",
    "AT+JWT",
    "JWT",
    "application/",
];

fn text(t: &Option<Text>, known: &[&str]) -> Option<Value> {
    t.as_ref().map(|t| match t {
        Text::Known(i) => json!(known[*i as usize % known.len()]),
        Text::Any(s) => json!(s),
        Text::Padded(i, pad, c, s) => {
            let head = match pad % 2 {
                0 => known[*i as usize % known.len()].to_owned(),
                _ => "a".repeat(usize::from(*pad % 24)),
            };
            json!(format!("{head}{c}{s}"))
        }
    })
}

fuzz_target!(|h: Header| {
    let (key, verifier) = &*KEY;
    let mut header = Map::new();
    if let Some(alg) = text(&h.alg, &ALGS) {
        header.insert("alg".into(), alg);
    }
    if let Some(kid) = text(&h.kid, &[key.kid().as_str()]) {
        header.insert("kid".into(), kid);
    }
    if let Some(typ) = text(&h.typ, &TYPS) {
        header.insert("typ".into(), typ);
    }
    if h.crit {
        header.insert("crit".into(), json!(["exp"]));
    }
    if h.jwk {
        header.insert("jwk".into(), json!({"kty": "oct", "k": "AAAA"}));
    }
    for (k, v) in h.extra.iter().take(4) {
        header.entry(k.clone()).or_insert_with(|| json!(v));
    }
    let now = 1_800_000_000u64;
    let exp = now.saturating_add_signed(h.exp_delta % 100_000);
    let exp = if h.fractional {
        json!(exp as f64 + 0.5)
    } else {
        json!(exp)
    };
    let claims =
        json!({"iss": "iss", "sub": h.sub, "aud": "aud", "exp": exp, "iat": now, "jti": "j"});
    let header = Value::Object(header).to_string();
    let payload = claims.to_string();
    // Signed by the fuzz key whenever the header names its algorithm; a dummy signature
    // otherwise (those must be refused before or at the signature).
    let token = key
        .sign_jws(header.as_bytes(), payload.as_bytes())
        .unwrap_or_else(|_| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!("{}.{}.AAAA", b64.encode(&header), b64.encode(&payload))
        });
    if let Ok(c) = verifier.verify_at(&token, now) {
        // Whatever passes carries the key's algorithm and the required typ.
        let parsed: Value = serde_json::from_str(&header).expect("header is JSON");
        assert_eq!(parsed["alg"], "HS256");
        let typ = parsed["typ"]
            .as_str()
            .expect("typ is required")
            .to_ascii_lowercase();
        assert!(typ == "at+jwt" || typ == "application/at+jwt", "{typ}");
        assert!(parsed.get("crit").is_none() && parsed.get("jwk").is_none());
        assert_eq!(c.sub, h.sub);
    }
});
