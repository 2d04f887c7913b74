//! The crypto backend: the build uses the one its features chose, and what it signs is what an
//! independent implementation (ring, used directly) signs and accepts. On the aws-lc-rs build
//! this is a check across two libraries.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, KeyPair as _};
use tidepass::Minter;
use tidepass::keys::{Algorithm, SigningKey};

#[test]
fn the_build_uses_the_backend_its_features_chose() {
    let expected = if cfg!(feature = "aws-lc-rs") {
        "aws-lc-rs"
    } else {
        "ring"
    };
    assert_eq!(tidepass::keys::BACKEND, expected);
}

fn split(token: &str) -> (String, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("three segments");
    (
        input.to_owned(),
        URL_SAFE_NO_PAD.decode(sig).expect("base64url signature"),
    )
}

#[test]
fn backend_signatures_match_ring_used_directly() {
    let rng = ring::rand::SystemRandom::new();

    // Ed25519 is deterministic: the same key signs the same bytes identically everywhere.
    let der = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("pkcs8");
    let ring_key = signature::Ed25519KeyPair::from_pkcs8(der.as_ref()).expect("ring key");
    let key = SigningKey::from_pkcs8_der(der.as_ref(), Some(Algorithm::EdDSA)).expect("import");
    let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
    let token = minter.token("user-1").mint().expect("mint");
    let (input, sig) = split(token.as_str());
    assert_eq!(ring_key.sign(input.as_bytes()).as_ref(), &sig[..]);

    // ECDSA is randomized: ring must accept the backend's signature, and the backend ring's.
    for (alg, signing, verifying) in [
        (
            Algorithm::ES256,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
        (
            Algorithm::ES384,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED,
        ),
    ] {
        let der = signature::EcdsaKeyPair::generate_pkcs8(signing, &rng).expect("pkcs8");
        let ring_key =
            signature::EcdsaKeyPair::from_pkcs8(signing, der.as_ref(), &rng).expect("ring key");
        let key = SigningKey::from_pkcs8_der(der.as_ref(), Some(alg)).expect("import");
        let verifying_keys =
            tidepass::keys::VerifyingKeys::from_keys([key.verifying_key()]).expect("key set");
        let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
        let token = minter.token("user-1").mint().expect("mint");
        let (input, sig) = split(token.as_str());
        signature::UnparsedPublicKey::new(verifying, ring_key.public_key().as_ref())
            .verify(input.as_bytes(), &sig)
            .unwrap_or_else(|_| panic!("ring refused the backend's {alg:?} signature"));

        // ring signs the same input; the backend verifies it, and refuses it changed.
        let ring_sig = ring_key.sign(&rng, input.as_bytes()).expect("ring sign");
        let by_ring = format!("{input}.{}", URL_SAFE_NO_PAD.encode(ring_sig.as_ref()));
        assert!(verifying_keys.verify_jws(&by_ring).is_ok(), "{alg:?}");
        let mut bad = ring_sig.as_ref().to_vec();
        bad[5] ^= 1;
        let bad = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bad));
        assert!(verifying_keys.verify_jws(&bad).is_err(), "{alg:?}");
    }
}
