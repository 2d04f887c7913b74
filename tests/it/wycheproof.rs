//! Every case of Wycheproof's json_web_signature_test.json and json_web_key_test.json.
//!
//! Each test runs at the JWS level (most payloads are not JWT claims): the group's key (or key
//! set) is imported as a verifier would import a JWKS, then the token is verified. A refused
//! key set counts as a refused token. Where tidepass deliberately disagrees with the file, the
//! case is listed in `DISAGREEMENTS` with the reason, and the test checks that exactly those
//! cases differ.

use std::collections::BTreeMap;

use serde_json::Value;
use tidepass::keys::{VerifyingKey, VerifyingKeys};

use crate::common::data;

/// (file, tcId) → why tidepass's verdict differs from the file's.
const DISAGREEMENTS: &[(&str, u64, &str)] = &[
    (
        "sig",
        346,
        "label problem: key says PS256, token is PS384 (RFC 7520 4.2); the key decides, so AlgorithmMismatch",
    ),
    (
        "sig",
        347,
        "ES512 (P-521) is not implemented: the key set is refused",
    ),
    (
        "sig",
        350,
        "label problem: key says PS256, token is PS384, as 346",
    ),
    ("sig", 351, "ES512 (P-521) is not implemented, as 347"),
    (
        "sig",
        367,
        "label problem: marked invalid, yet byte-identical to a valid token (see the README)",
    ),
    (
        "sig",
        370,
        "label problem: marked invalid, yet byte-identical to a valid token (see the README)",
    ),
    (
        "sig",
        372,
        "label problem: marked valid with a character inserted in the header; strict base64url refuses it, as every implementation does",
    ),
    (
        "sig",
        373,
        "label problem: marked valid with a character inserted in the payload; the signature no longer matches",
    ),
];

fn import(group: &Value) -> Result<VerifyingKeys, tidepass::Error> {
    let key = group.get("public").unwrap_or(&group["private"]);
    if key.get("keys").is_some() {
        VerifyingKeys::from_jwks(&key.to_string())
    } else {
        VerifyingKeys::from_keys([VerifyingKey::from_jwk(&key.to_string())?])
    }
}

fn run(file: &str, tag: &'static str) -> BTreeMap<u64, String> {
    let w = data(file);
    let mut differ = BTreeMap::new();
    let mut count = 0;
    for g in w["testGroups"].as_array().expect("groups") {
        let keys = import(g);
        for t in g["tests"].as_array().expect("tests") {
            count += 1;
            let id = t["tcId"].as_u64().expect("id");
            let jws = t["jws"].as_str().expect("jws");
            let ours = match &keys {
                Ok(k) => k.verify_jws(jws).map(|_| ()).map_err(|e| e.kind()),
                Err(e) => Err(e.kind()),
            };
            let expected_valid = t["result"] == "valid";
            if ours.is_ok() != expected_valid {
                differ.insert(
                    id,
                    format!(
                        "{tag} {id} {} expected {} got {ours:?}",
                        t["comment"], t["result"]
                    ),
                );
            }
        }
    }
    assert_eq!(
        count,
        w["numberOfTests"].as_u64().expect("n") as usize,
        "every case ran"
    );
    differ
}

fn check(file: &str, tag: &'static str) {
    let differ = run(file, tag);
    let listed: Vec<u64> = DISAGREEMENTS
        .iter()
        .filter(|d| d.0 == tag)
        .map(|d| d.1)
        .collect();
    let unexplained: Vec<&String> = differ
        .iter()
        .filter(|(id, _)| !listed.contains(id))
        .map(|(_, v)| v)
        .collect();
    assert!(
        unexplained.is_empty(),
        "unexplained disagreements:\n{unexplained:#?}"
    );
    let stale: Vec<&u64> = listed
        .iter()
        .filter(|id| !differ.contains_key(id))
        .collect();
    assert!(
        stale.is_empty(),
        "listed disagreements that now agree: {stale:?}"
    );
}

#[test]
fn json_web_signature_test() {
    check("wycheproof/json_web_signature_test.json", "sig");
}

#[test]
fn json_web_key_test() {
    check("wycheproof/json_web_key_test.json", "key");
}
