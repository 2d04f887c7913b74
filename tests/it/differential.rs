//! Differential property test: whatever tidepass accepts, jsonwebtoken's strict `decode`
//! (running on the ring provider) accepts too, with the same claims.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::DecodingKey;
use proptest::prelude::*;
use serde_json::{Value, json};
use tidepass::Verifier;
use tidepass::clock::{Clock, SystemClock};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};

use crate::interop::{decoding_key, signing_key, strict_validation};

const LEEWAY: u64 = 30;

struct Party {
    key: SigningKey,
    decoding: DecodingKey,
    verifier: Verifier<Value>,
}

static PARTIES: LazyLock<Vec<Party>> = LazyLock::new(|| {
    assert!(tidepass::keys::provider::install());
    [
        Algorithm::HS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::PS256,
    ]
    .into_iter()
    .map(|alg| {
        let key = signing_key(alg);
        let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
        let verifier = Verifier::builder("https://auth.example", "api", keys)
            .leeway(std::time::Duration::from_secs(LEEWAY))
            .cache_capacity(0)
            .claims::<Value>()
            .build()
            .expect("verifier");
        Party {
            decoding: decoding_key(&key),
            key,
            verifier,
        }
    })
    .collect()
});

#[derive(Debug, Clone)]
struct Case {
    party: usize,
    typ: Option<&'static str>,
    kid_ok: bool,
    alg: Option<&'static str>,
    extra_header: Option<(&'static str, Value)>,
    iss: Option<Value>,
    aud: Option<Value>,
    sub: Option<Value>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    mutation: Option<(usize, u8)>,
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![1 => Just(None), 6 => s.prop_map(Some)].boxed()
}

fn case() -> impl Strategy<Value = Case> {
    let header = (
        0..4usize,
        prop_oneof![4 => Just(Some("at+jwt")), 1 => Just(Some("JWT")), 1 => Just(None)],
        prop::bool::weighted(0.9),
        prop_oneof![8 => Just(None), 1 => Just(Some("none")), 1 => Just(Some("HS256")), 1 => Just(Some("RS256"))],
        prop_oneof![8 => Just(None), 1 => Just(Some(("crit", json!(["exp"])))), 1 => Just(Some(("jku", json!("https://x"))))],
    );
    let claims = (
        opt(
            prop_oneof![6 => Just(json!("https://auth.example")), 1 => Just(json!("https://evil.example")), 1 => Just(json!(["https://auth.example"]))],
        ),
        opt(
            prop_oneof![4 => Just(json!("api")), 2 => Just(json!(["x", "api"])), 1 => Just(json!("other")), 1 => Just(json!(["x"])), 1 => Just(json!([]))],
        ),
        opt(prop_oneof![6 => "[a-z]{1,8}".prop_map(Value::from), 1 => Just(json!(7))]),
        opt(-120i64..600),
        opt(-600i64..120),
        prop_oneof![3 => Just(None), 1 => (-120i64..120).prop_map(Some)],
    );
    let mutation = prop_oneof![4 => Just(None), 1 => (any::<usize>(), any::<u8>()).prop_map(Some)];
    (header, claims, mutation).prop_map(
        |((party, typ, kid_ok, alg, extra_header), (iss, aud, sub, exp, iat, nbf), mutation)| {
            Case {
                party,
                typ,
                kid_ok,
                alg,
                extra_header,
                iss,
                aud,
                sub,
                exp,
                iat,
                nbf,
                mutation,
            }
        },
    )
}

fn build(c: &Case, now: u64) -> String {
    let p = &PARTIES[c.party];
    let mut h = serde_json::Map::new();
    h.insert(
        "alg".into(),
        json!(c.alg.unwrap_or(p.key.algorithm().as_str())),
    );
    if c.kid_ok {
        h.insert("kid".into(), json!(p.key.kid().as_str()));
    }
    if let Some(t) = c.typ {
        h.insert("typ".into(), json!(t));
    }
    if let Some((k, v)) = &c.extra_header {
        h.insert((*k).into(), v.clone());
    }
    let mut m = serde_json::Map::new();
    let at = |off: i64| json!(now.saturating_add_signed(off));
    for (k, v) in [
        ("iss", c.iss.clone()),
        ("aud", c.aud.clone()),
        ("sub", c.sub.clone()),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    for (k, v) in [("exp", c.exp), ("iat", c.iat), ("nbf", c.nbf)] {
        if let Some(v) = v {
            m.insert(k.into(), at(v));
        }
    }
    m.insert("jti".into(), json!("j"));
    let header = Value::Object(h).to_string();
    let claims = Value::Object(m).to_string();
    // Sign with the real key even when the header lies about alg, so the verdict turns on the
    // header rules rather than on a missing signature.
    let token = if c.alg.is_none() {
        p.key
            .sign_jws(header.as_bytes(), claims.as_bytes())
            .expect("sign")
    } else {
        let honest = p.key.sign_jws(
            json!({"alg": p.key.algorithm().as_str()})
                .to_string()
                .as_bytes(),
            claims.as_bytes(),
        );
        let sig = honest
            .expect("sign")
            .rsplit('.')
            .next()
            .expect("sig")
            .to_owned();
        format!("{}.{}.{sig}", B64.encode(&header), B64.encode(&claims))
    };
    match c.mutation {
        None => token,
        Some((at, byte)) => {
            let mut b = token.into_bytes();
            let i = at % b.len();
            b[i] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
                [usize::from(byte) % 65];
            String::from_utf8(b).expect("ascii")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tidepass_accepts_only_what_jsonwebtoken_accepts(c in case()) {
        let now = SystemClock.now();
        let p = &PARTIES[c.party];
        let token = build(&c, now);
        if let Ok(ours) = p.verifier.verify_at(&token, now) {
            let theirs = jsonwebtoken::decode::<Value>(&token, &p.decoding, &strict_validation(p.key.algorithm(), LEEWAY));
            let theirs = theirs.map_err(|e| format!("{e}"));
            prop_assert!(theirs.is_ok(), "tidepass accepted, jsonwebtoken refused ({:?}): {c:?}", theirs.err());
            let theirs = theirs.expect("ok").claims;
            prop_assert_eq!(&theirs["sub"], &json!(ours.sub));
            prop_assert_eq!(&theirs["iss"], &json!(ours.iss));
            prop_assert_eq!(&theirs["exp"], &json!(ours.exp));
            prop_assert_eq!(&theirs["aud"], &serde_json::to_value(&ours.aud).expect("aud"));
        }
    }
}

#[test]
fn the_generator_produces_tokens_both_accept() {
    // Guard against a vacuous property: honest cases are accepted by both sides.
    let now = SystemClock.now();
    for party in 0..PARTIES.len() {
        let c = Case {
            party,
            typ: Some("at+jwt"),
            kid_ok: true,
            alg: None,
            extra_header: None,
            iss: Some(json!("https://auth.example")),
            aud: Some(json!(["x", "api"])),
            sub: Some(json!("u")),
            exp: Some(60),
            iat: Some(0),
            nbf: Some(0),
            mutation: None,
        };
        let token = build(&c, now);
        let p = &PARTIES[party];
        p.verifier
            .verify_at(&token, now)
            .expect("tidepass accepts an honest case");
        jsonwebtoken::decode::<Value>(
            &token,
            &p.decoding,
            &strict_validation(p.key.algorithm(), LEEWAY),
        )
        .expect("jsonwebtoken accepts an honest case");
    }
}
