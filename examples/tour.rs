//! A walk through tidepass, in one process and without any server.
//!
//! `cargo run --example tour`

use tidepass::http::Rejection;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{Minter, Verifier};

fn main() -> Result<(), tidepass::Error> {
    // 1. The auth service generates an Ed25519 key and mints a token for a user.
    let key = SigningKey::generate(Algorithm::EdDSA)?;
    println!("auth service: signing key {key:?}");
    let minter = Minter::new(key, "https://auth.example", "orders-api")?.with_ttl(300);
    let token = minter
        .token("alice")
        .sid("session-1")
        .scope("orders:read")
        .mint()?;
    println!(
        "auth service: minted {token:?} ({} bytes)",
        token.as_str().len()
    );

    // 2. It publishes its JWKS: public halves only.
    let jwks = minter.keys().jwks().to_string();
    println!("auth service: GET /.well-known/jwks.json -> {jwks}");

    // 3. A microservice builds its verifier from that JWKS. Issuer and audience are required.
    let verifier = Verifier::new(
        "https://auth.example",
        "orders-api",
        VerifyingKeys::from_jwks(&jwks)?,
    )?;
    let header = format!("Bearer {}", token.as_str());
    let claims = verifier.verify_bearer(&header)?;
    println!(
        "microservice: verified sub={} sid={:?} scope={:?}",
        claims.sub, claims.sid, claims.scope
    );
    claims.require_scopes(&["orders:read"])?;
    println!("microservice: scope orders:read granted");

    // 4. A tampered token is refused, with a precise reason for the logs and a uniform answer.
    let mut tampered = token.as_str().to_owned();
    let flip = tampered.len() - 5;
    tampered.replace_range(
        flip..flip + 1,
        if &tampered[flip..flip + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let err = verifier
        .verify(&tampered)
        .expect_err("tampered token must fail");
    let answer = Rejection::from_error(&err, "orders-api", None);
    println!(
        "microservice: tampered token refused ({}) -> HTTP {} WWW-Authenticate: {}",
        err.kind(),
        answer.status,
        answer.www_authenticate.as_deref().unwrap_or("")
    );

    // 5. Missing scope: 403 insufficient_scope.
    let err = claims
        .require_scopes(&["orders:write"])
        .expect_err("scope not granted");
    let answer = Rejection::from_error(&err, "orders-api", Some("orders:write"));
    println!(
        "microservice: orders:write -> HTTP {} {}",
        answer.status, answer.body
    );

    // 6. Key rotation without a gap: the old token still verifies after the issuer rotates.
    let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
    minter.rotate_at(SigningKey::generate(Algorithm::EdDSA)?, now, 60);
    verifier.set_keys(VerifyingKeys::from_jwks(&minter.keys().jwks().to_string())?);
    verifier.verify(token.as_str())?;
    let fresh = minter.token("alice").mint()?;
    verifier.verify(fresh.as_str())?;
    println!(
        "rotation: old and new tokens both verify ({} keys published)",
        minter.keys().verifying_keys().len()
    );
    Ok(())
}
