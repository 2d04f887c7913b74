//! jsonwebtoken's `CryptoProvider` is process-global, so these checks need a process of their
//! own (this test binary), apart from `tests/it`, where other tests install ring's provider.
//!
//! Regressions (issue 11): tidepass installed its provider as a side effect of building a key,
//! so an application installing another provider afterwards failed; and `install()` answered
//! `true` even when another provider was in place.

use jsonwebtoken::crypto::CryptoProvider;
use tidepass::keys::provider::{RING_PROVIDER, install};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{Minter, Verifier};

#[test]
fn the_application_chooses_the_provider_and_install_tells_the_truth() {
    // Touch tidepass first: keys, a JWKS, a token minted and verified.
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let jwks = VerifyingKeys::from_keys([key.verifying_key()])
        .expect("keys")
        .to_jwks()
        .to_string();
    let minter = Minter::new(key, "iss", "aud").expect("minter");
    let token = minter.token("u").mint().expect("mint");
    let keys = VerifyingKeys::from_jwks(&jwks).expect("jwks");
    let verifier = Verifier::new("iss", "aud", keys).expect("verifier");
    verifier.verify(token.as_str()).expect("verify");

    // Nothing was installed behind the application's back: its own provider goes in now.
    let other: &'static CryptoProvider = Box::leak(Box::new(RING_PROVIDER.clone()));
    other
        .install_default()
        .expect("tidepass installed no provider as a side effect");
    // And install() does not pretend ring's provider is the default.
    assert!(!install(), "another provider is in place");
    // tidepass keeps working whatever the process default is.
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let v = Verifier::new(
        "iss",
        "aud",
        VerifyingKeys::from_keys([key.verifying_key()]).expect("keys"),
    )
    .expect("verifier");
    let t = Minter::new(key, "iss", "aud")
        .expect("minter")
        .token("u")
        .mint()
        .expect("mint");
    v.verify(t.as_str()).expect("verify");
}
