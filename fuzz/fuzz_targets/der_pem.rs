//! The DER/PEM key parsers, reached: the harness wraps the input bytes as PEM under each label
//! tidepass reads (PKCS#8, SEC1, PKCS#1, SPKI), so the fuzzer mutates DER rather than base64.
//! Never a panic; an accepted private key exports and re-imports to the same public key.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKey};

const LABELS: [&str; 5] = [
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
];
const ALGS: [Option<Algorithm>; 4] = [
    None,
    Some(Algorithm::ES256),
    Some(Algorithm::RS256),
    Some(Algorithm::EdDSA),
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, der)) = data.split_first() else {
        return;
    };
    let label = LABELS[usize::from(choice) % LABELS.len()];
    let alg = ALGS[usize::from(choice >> 4) % ALGS.len()];
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("ascii"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    if let Ok(key) = SigningKey::from_pem(pem.as_bytes(), alg) {
        // A PKCS#1 (RSA) import has no PKCS#8 form to export (documented): nothing to
        // round-trip then.
        let Ok(exported) = key.export_private() else {
            return;
        };
        let back =
            SigningKey::from_pem(exported.as_bytes(), Some(key.algorithm())).expect("re-import");
        assert_eq!(back.public_jwk(), key.public_jwk());
    }
    let _ = SigningKey::from_pkcs8_der(der, alg);
    let _ = VerifyingKey::from_pem(pem.as_bytes(), alg);
});
