//! DPoP (RFC 9449): the RFC's examples as vectors, then the attack list against the proof
//! checker and the verifier.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tidepass::client::DpopKey;
use tidepass::keys::{Algorithm, SigningKey, Thumbprint};
use tidepass::verify::dpop::{Nonces, ProofChecker, access_token_hash};
use tidepass::{ErrorKind, Minter, Verifier};

/// RFC 9449 Figure 2: the token request proof (POST https://server.example.com/token).
const FIG2: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
/// RFC 9449 Figure 13: the resource request proof, with `ath` of Figure 12's access token.
const FIG13: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
/// RFC 9449 Figure 12's access token (opaque there).
const FIG12_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
/// RFC 9449 §6.1 (Figure 8): the thumbprint of the examples' key.
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

#[test]
fn rfc_9449_examples_check() {
    let c = ProofChecker::new();
    let jkt = c
        .check_at(
            FIG2,
            "POST",
            "https://server.example.com/token",
            None,
            1_562_262_620,
        )
        .expect("Figure 2");
    assert_eq!(jkt.to_string(), JKT);
    let jkt = c
        .check_at(
            FIG13,
            "GET",
            "https://resource.example.org/protectedresource",
            Some(FIG12_TOKEN),
            1_562_262_620,
        )
        .expect("Figure 13");
    assert_eq!(jkt.to_string(), JKT);
    assert_eq!(
        access_token_hash(FIG12_TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
    // Tampered per segment: none checks.
    for (i, _) in FIG2.split('.').enumerate() {
        let mut parts: Vec<String> = FIG2.split('.').map(String::from).collect();
        let p = &mut parts[i];
        let flip = if p.ends_with('A') { 'B' } else { 'A' };
        p.pop();
        p.push(flip);
        let tampered = parts.join(".");
        let fresh = ProofChecker::new();
        assert!(
            fresh
                .check_at(
                    &tampered,
                    "POST",
                    "https://server.example.com/token",
                    None,
                    1_562_262_620
                )
                .is_err(),
            "segment {i} tampered"
        );
    }
}

#[test]
fn rfc_7638_thumbprint_example() {
    // RFC 7638 §3.1's RSA key and its thumbprint.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let key = tidepass::keys::VerifyingKey::from_jwk(&jwk.to_string()).expect("RSA key");
    assert_eq!(
        key.thumbprint().expect("public").to_string(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    let t: Thumbprint = JKT.parse().expect("parses");
    assert_eq!(t.to_string(), JKT);
    assert!("short".parse::<Thumbprint>().is_err());
}

const NOW: u64 = 1_800_000_000;
const URL: &str = "https://api.example/orders";

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A proof with any header and claims, signed by `key`. A header whose `alg` is not the key's
/// gets a junk signature: those proofs must fail before the signature is looked at.
fn forge(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let (h, p) = (header.to_string(), claims.to_string());
    key.sign_jws(h.as_bytes(), p.as_bytes())
        .unwrap_or_else(|_| format!("{}.{}.AAAA", b64(header), b64(claims)))
}

fn public_jwk(key: &SigningKey) -> Value {
    let mut j = key.public_jwk().expect("public");
    let m = j.as_object_mut().expect("object");
    m.remove("kid");
    m.remove("use");
    j
}

fn claims(htm: &str, htu: &str, iat: u64) -> Value {
    json!({"jti": format!("jti-{}", rand_id()), "htm": htm, "htu": htu, "iat": iat})
}

fn rand_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn refused(p: &str, htm: &str, htu: &str, token: Option<&str>) -> ErrorKind {
    ProofChecker::new()
        .check_at(p, htm, htu, token, NOW)
        .expect_err("must be refused")
        .kind()
}

#[test]
fn the_attack_list_is_refused() {
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let hdr = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&key)});
    let good = forge(&key, &hdr, &claims("GET", URL, NOW));
    ProofChecker::new()
        .check_at(&good, "GET", URL, None, NOW)
        .expect("the honest proof checks");

    // Replayed proof.
    let c = ProofChecker::new();
    c.check_at(&good, "GET", URL, None, NOW).expect("first use");
    assert_eq!(
        c.check_at(&good, "GET", URL, None, NOW + 1)
            .expect_err("replay")
            .kind(),
        ErrorKind::InvalidDpopProof
    );
    let bad = ErrorKind::InvalidDpopProof;
    // Wrong htm / htu.
    assert_eq!(refused(&good, "POST", URL, None), bad);
    assert_eq!(refused(&good, "get", URL, None), bad);
    assert_eq!(
        refused(&good, "GET", "https://api.example/other", None),
        bad
    );
    assert_eq!(
        refused(&good, "GET", "https://evil.example/orders", None),
        bad
    );
    assert_eq!(
        refused(&good, "GET", "http://api.example/orders", None),
        bad
    );
    // Stale or future iat.
    for iat in [NOW - 61, NOW + 6] {
        let p = forge(&key, &hdr, &claims("GET", URL, iat));
        assert_eq!(refused(&p, "GET", URL, None), bad, "iat {iat}");
    }
    // Wrong ath, missing ath, proof for another access token.
    let mut c_ath = claims("GET", URL, NOW);
    c_ath["ath"] = access_token_hash("token-a").into();
    let p = forge(&key, &hdr, &c_ath);
    ProofChecker::new()
        .check_at(&p, "GET", URL, Some("token-a"), NOW)
        .expect("its own token");
    assert_eq!(refused(&p, "GET", URL, Some("token-b")), bad);
    assert_eq!(refused(&good, "GET", URL, Some("token-a")), bad, "no ath");
    // Another key: the jwk is not the signer's.
    let other = SigningKey::generate(Algorithm::ES256).expect("key");
    let lying = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&other)});
    assert_eq!(
        refused(
            &forge(&key, &lying, &claims("GET", URL, NOW)),
            "GET",
            URL,
            None
        ),
        bad
    );
    // alg none (no signature).
    let none = format!(
        "{}.{}.",
        b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk(&key)})),
        b64(&claims("GET", URL, NOW))
    );
    assert_eq!(refused(&none, "GET", URL, None), bad);
    // HMAC, with the secret as an `oct` jwk.
    let hs = SigningKey::from_hmac_secret(Algorithm::HS256, &[9; 32]).expect("hmac");
    let oct = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": URL_SAFE_NO_PAD.encode([9u8; 32])}});
    assert_eq!(
        refused(
            &forge(&hs, &oct, &claims("GET", URL, NOW)),
            "GET",
            URL,
            None
        ),
        bad
    );
    // A private jwk.
    let mut private = public_jwk(&key);
    private["d"] = "AAAA".into();
    let with_d = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private});
    assert_eq!(
        refused(
            &forge(&key, &with_d, &claims("GET", URL, NOW)),
            "GET",
            URL,
            None
        ),
        bad
    );
    // Missing or wrong typ.
    for h in [
        json!({"alg": "ES256", "jwk": public_jwk(&key)}),
        json!({"typ": "JWT", "alg": "ES256", "jwk": public_jwk(&key)}),
        json!({"typ": "at+jwt", "alg": "ES256", "jwk": public_jwk(&key)}),
    ] {
        assert_eq!(
            refused(&forge(&key, &h, &claims("GET", URL, NOW)), "GET", URL, None),
            bad
        );
    }
    // No jwk; a jwk that names another alg; the header alg is not the key's.
    let no_jwk = json!({"typ": "dpop+jwt", "alg": "ES256"});
    assert_eq!(
        refused(
            &forge(&key, &no_jwk, &claims("GET", URL, NOW)),
            "GET",
            URL,
            None
        ),
        bad
    );
    let mut es384 = public_jwk(&key);
    es384["alg"] = "ES384".into();
    let h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": es384});
    assert_eq!(
        refused(&forge(&key, &h, &claims("GET", URL, NOW)), "GET", URL, None),
        bad
    );
    let ed = SigningKey::generate(Algorithm::EdDSA).expect("ed");
    let h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&ed)});
    assert_eq!(
        refused(&forge(&ed, &h, &claims("GET", URL, NOW)), "GET", URL, None),
        bad
    );
    // Missing claims, repeated claims, a crit header, garbage.
    for c in [
        json!({"htm": "GET", "htu": URL, "iat": NOW}),
        json!({"jti": "x", "htu": URL, "iat": NOW}),
        json!({"jti": "x", "htm": "GET", "iat": NOW}),
        json!({"jti": "x", "htm": "GET", "htu": URL}),
        json!({"jti": "", "htm": "GET", "htu": URL, "iat": NOW}),
        json!({"jti": "x", "htm": "GET", "htu": URL, "iat": "now"}),
    ] {
        assert_eq!(
            refused(&forge(&key, &hdr, &c), "GET", URL, None),
            bad,
            "{c}"
        );
    }
    let crit = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&key), "crit": ["x"]});
    assert_eq!(
        refused(
            &forge(&key, &crit, &claims("GET", URL, NOW)),
            "GET",
            URL,
            None
        ),
        bad
    );
    for junk in ["", "a.b", "a.b.c", "...", &"x".repeat(5000)] {
        assert_eq!(refused(junk, "GET", URL, None), bad, "{junk:.20}");
    }
}

#[test]
fn nonces_are_demanded_when_configured() {
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let nonces = Nonces::generate(std::time::Duration::from_secs(300)).expect("nonces");
    let c = ProofChecker::new().nonces(nonces);
    let p = key.proof_at("POST", URL, None, None, NOW).expect("proof");
    assert_eq!(
        c.check_at(&p, "POST", URL, None, NOW)
            .expect_err("no nonce")
            .kind(),
        ErrorKind::UseDpopNonce
    );
    let nonce = c.nonce_at(NOW).expect("a nonce");
    let p = key
        .proof_at("POST", URL, None, Some(&nonce), NOW)
        .expect("proof");
    c.check_at(&p, "POST", URL, None, NOW)
        .expect("with the nonce");
    let p = key
        .proof_at("POST", URL, None, Some("made-up"), NOW)
        .expect("proof");
    assert_eq!(
        c.check_at(&p, "POST", URL, None, NOW)
            .expect_err("bad nonce")
            .kind(),
        ErrorKind::UseDpopNonce
    );
}

fn verifier_and_minter() -> (Verifier, Minter) {
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("m");
    let verifier = Verifier::new(
        "https://auth.example",
        "api",
        minter.keys().verifying_keys(),
    )
    .expect("v");
    (verifier, minter)
}

#[test]
fn the_verifier_enforces_the_binding() {
    let (verifier, minter) = verifier_and_minter();
    let device = DpopKey::generate(Algorithm::ES256).expect("key");
    let now = verifier_now();
    let bound = minter
        .token("alice")
        .dpop_jkt(device.thumbprint())
        .mint_at(now)
        .expect("mint");
    let token = bound.as_str();
    // A bound token as a bearer token: refused (also after a DPoP use put it in the cache).
    assert_eq!(
        verifier.verify_at(token, now).expect_err("bearer").kind(),
        ErrorKind::DpopBoundToken
    );
    let proof = device
        .proof_at("GET", URL, Some(token), None, now)
        .expect("proof");
    let v = verifier
        .verify_dpop_at(token, &proof, "GET", URL, now)
        .expect("DPoP with its key");
    assert_eq!(
        v.cnf.as_ref().and_then(|c| c.jkt),
        Some(device.thumbprint())
    );
    assert_eq!(
        verifier
            .verify_at(token, now)
            .expect_err("bearer, cached")
            .kind(),
        ErrorKind::DpopBoundToken
    );
    // Through the request form, both schemes.
    let proof = device
        .proof_at("GET", URL, Some(token), None, now)
        .expect("proof");
    verifier
        .verify_request(&format!("DPoP {token}"), Some(&proof), "GET", URL)
        .expect("DPoP scheme");
    assert_eq!(
        verifier
            .verify_request(&format!("Bearer {token}"), Some(&proof), "GET", URL)
            .expect_err("bearer scheme")
            .kind(),
        ErrorKind::DpopBoundToken
    );
    assert_eq!(
        verifier
            .verify_request(&format!("DPoP {token}"), None, "GET", URL)
            .expect_err("no proof")
            .kind(),
        ErrorKind::InvalidDpopProof
    );
    // A proof by another key, and a proof made for another access token.
    let thief = DpopKey::generate(Algorithm::ES256).expect("key");
    let p = thief
        .proof_at("GET", URL, Some(token), None, now)
        .expect("proof");
    assert_eq!(
        verifier
            .verify_dpop_at(token, &p, "GET", URL, now)
            .expect_err("thief")
            .kind(),
        ErrorKind::InvalidDpopProof
    );
    let p = device
        .proof_at("GET", URL, Some("another"), None, now)
        .expect("proof");
    assert_eq!(
        verifier
            .verify_dpop_at(token, &p, "GET", URL, now)
            .expect_err("ath")
            .kind(),
        ErrorKind::InvalidDpopProof
    );
    // An unbound token under the DPoP scheme.
    let plain = minter.token("bob").mint_at(now).expect("mint");
    let p = device
        .proof_at("GET", URL, Some(plain.as_str()), None, now)
        .expect("proof");
    assert_eq!(
        verifier
            .verify_dpop_at(plain.as_str(), &p, "GET", URL, now)
            .expect_err("unbound")
            .kind(),
        ErrorKind::InvalidDpopProof
    );
    verifier
        .verify_at(plain.as_str(), now)
        .expect("still a bearer token");
}

fn verifier_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The replay cache's id of a proof as the code before the fix computed it, from public
/// values only: SHA-256(jkt ‖ jti), its first 16 bytes little-endian; shard = id mod 8.
fn public_shard(jkt: &Thumbprint, jti: &str) -> u128 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(jkt.as_bytes());
    ctx.update(jti.as_bytes());
    let d = ctx.finish();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d.as_ref()[..16]);
    u128::from_le_bytes(id) % 8
}

/// One holder of a DPoP key cannot aim its proofs at one shard of the replay cache and fill
/// it, making the proofs of everyone else that land there fail closed: shards are chosen by
/// a keyed hash (before: from SHA-256 of the client's own key and `jti`, which it controls;
/// eight aimed proofs here filled shard 0 and refused the honest proof below).
#[test]
fn a_client_cannot_aim_its_proofs_at_one_replay_shard() {
    let checker = ProofChecker::new().replay_capacity(64); // 8 per shard
    let attacker = SigningKey::generate(Algorithm::ES256).expect("key");
    let a_jkt = attacker.verifying_key().thumbprint().expect("jkt");
    let a_hdr = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&attacker)});
    let mut aimed = 0;
    for i in 0.. {
        let jti = format!("aim-{i}");
        if public_shard(&a_jkt, &jti) != 0 {
            continue;
        }
        let c = json!({"jti": jti, "htm": "GET", "htu": URL, "iat": NOW});
        checker
            .check_at(&forge(&attacker, &a_hdr, &c), "GET", URL, None, NOW)
            .expect("the attacker's proof is valid");
        aimed += 1;
        if aimed == 8 {
            break;
        }
    }
    let honest = SigningKey::generate(Algorithm::ES256).expect("key");
    let h_jkt = honest.verifying_key().thumbprint().expect("jkt");
    let h_hdr = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&honest)});
    let jti = (0..)
        .map(|i| format!("honest-{i}"))
        .find(|j| public_shard(&h_jkt, j) == 0)
        .expect("a jti in shard 0");
    let c = json!({"jti": jti, "htm": "GET", "htu": URL, "iat": NOW});
    checker
        .check_at(&forge(&honest, &h_hdr, &c), "GET", URL, None, NOW)
        .expect("an honest proof is not refused for someone else's proofs");
}

/// RSA proof keys are capped at 4096 bits: anyone may send a proof before authenticating,
/// so an 8192-bit key (a real one, signed by pyca/cryptography; the proof is dated
/// 2027-01-15) is refused before it is imported (before: imported and verified).
#[test]
fn rsa_proof_keys_over_4096_bits_are_refused() {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("test data")
            .trim()
            .to_owned()
    };
    let url = "https://auth.example/token";
    let e = ProofChecker::new()
        .check_at(&read("dpop_rsa8192.jwt"), "POST", url, None, NOW)
        .expect_err("8192 bits");
    assert_eq!(e.kind(), ErrorKind::InvalidDpopProof);
    ProofChecker::new()
        .check_at(&read("dpop_rsa4096.jwt"), "POST", url, None, NOW)
        .expect("4096 bits is accepted");
}
