//! DPoP proofs as a server checks them (`verify::dpop::ProofChecker::check_at`), and the `htu`
//! normalizer. Structure-aware: most inputs are proofs assembled from fuzzed header and claim
//! choices and *signed* with a real key when the header's `alg` is the key's, so the checks
//! behind the signature (claims, `htm`/`htu`, `iat`, `ath`, the replay cache) are what gets
//! fuzzed; some are raw bytes. Whatever is accepted is by the key it names, for the request it
//! was checked against, and is refused the second time.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::verify::dpop::{ProofChecker, access_token_hash, normalize_htu};

const NOW: u64 = 1_800_000_000;

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Option<Vec<u8>>,
    typ: u8,
    alg: u8,
    jwk: u8,
    htm: u8,
    htu: String,
    request_url: String,
    use_request_url: bool,
    iat: i16,
    jti: String,
    ath: u8,
    extra: Vec<(String, String)>,
}

fn key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(Algorithm::ES256).expect("key"))
}

fn other() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(Algorithm::EdDSA).expect("key"))
}

fn jwk_of(k: &SigningKey) -> Value {
    let mut j = k.public_jwk().expect("public");
    if let Some(m) = j.as_object_mut() {
        m.remove("kid");
        m.remove("use");
    }
    j
}

fuzz_target!(|input: Input| {
    // The normalizer alone: never a panic, and idempotent.
    for u in [&input.htu, &input.request_url] {
        if let Some(n) = normalize_htu(u) {
            assert_eq!(normalize_htu(&n).as_deref(), Some(n.as_str()), "{u:?}");
        }
    }
    let checker = ProofChecker::new();
    let method = ["GET", "POST", "get", "DELETE"][usize::from(input.htm % 4)];
    let url = if input.use_request_url {
        input.request_url.clone()
    } else {
        input.htu.clone()
    };
    let token = "an-access-token";
    let proof = match &input.raw {
        Some(raw) => String::from_utf8_lossy(raw).into_owned(),
        None => {
            let typ = ["dpop+jwt", "application/dpop+jwt", "JWT", "DPOP+JWT", ""]
                [usize::from(input.typ % 5)];
            let alg =
                ["ES256", "EdDSA", "none", "HS256", "RS256", "ES384"][usize::from(input.alg % 6)];
            let jwk = match input.jwk % 5 {
                0 => jwk_of(key()),
                1 => jwk_of(other()),
                2 => {
                    let mut j = jwk_of(key());
                    j["d"] = "AAAA".into();
                    j
                }
                3 => json!({"kty": "oct", "k": "c2VjcmV0"}),
                _ => Value::String(input.jti.clone()),
            };
            let mut header = json!({"alg": alg, "jwk": jwk});
            if !typ.is_empty() {
                header["typ"] = typ.into();
            }
            let claimed_htm = ["GET", "POST", "get", "PUT"][usize::from(input.htm / 4 % 4)];
            let mut claims = json!({
                "jti": input.jti,
                "htm": claimed_htm,
                "htu": input.htu,
                "iat": NOW.saturating_add_signed(i64::from(input.iat)),
            });
            match input.ath % 3 {
                0 => claims["ath"] = access_token_hash(token).into(),
                1 => claims["ath"] = input.jti.clone().into(),
                _ => {}
            }
            for (k, v) in &input.extra {
                claims[k.as_str()] = v.clone().into();
            }
            let (h, p) = (header.to_string(), claims.to_string());
            let signer = if alg == "EdDSA" { other() } else { key() };
            signer
                .sign_jws(h.as_bytes(), p.as_bytes())
                .unwrap_or_else(|_| {
                    format!(
                        "{}.{}.AAAA",
                        URL_SAFE_NO_PAD.encode(&h),
                        URL_SAFE_NO_PAD.encode(&p)
                    )
                })
        }
    };
    let access = (input.ath % 2 == 0).then_some(token);
    if let Ok(jkt) = checker.check_at(&proof, method, &url, access, NOW) {
        assert!(
            Some(jkt) == key().thumbprint()
                || Some(jkt) == other().thumbprint()
                || input.raw.is_some(),
            "accepted a proof by a key it does not name"
        );
        let payload = proof
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok());
        let claims: Value = payload
            .and_then(|p| serde_json::from_slice(&p).ok())
            .expect("an accepted proof has JSON claims");
        assert_eq!(claims["htm"], method);
        let htu = claims["htu"].as_str().expect("htu");
        assert_eq!(normalize_htu(htu), normalize_htu(&url));
        assert!(normalize_htu(&url).is_some());
        assert!(
            checker.check_at(&proof, method, &url, access, NOW).is_err(),
            "a replay is refused"
        );
    }
});
