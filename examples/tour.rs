//! A walk through tidepass, in one process and without any server.
//!
//! `cargo run --example tour`

use tidepass::http::Rejection;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::{ClientContext, Issuer, Login, MemoryStore, Minter, Policy, Verifier};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), tidepass::Error> {
    part_one()?;
    part_two().await
}

/// Access tokens: mint, publish keys, verify in a microservice, refuse a forgery, rotate keys.
fn part_one() -> Result<(), tidepass::Error> {
    println!("== access tokens ==");
    // 1. The auth service generates an Ed25519 key and mints a token for a user.
    let key = SigningKey::generate(Algorithm::EdDSA)?;
    println!("auth service: signing key {key:?}");
    let minter = Minter::new(key, "https://auth.example", "orders-api")?
        .with_ttl(std::time::Duration::from_secs(300));
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
    minter.rotate_at(
        SigningKey::generate(Algorithm::EdDSA)?,
        now,
        std::time::Duration::from_secs(60),
    );
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

/// Sessions: two devices, silent refresh, concurrent refreshes, a stolen token, elevation,
/// log out everywhere.
async fn part_two() -> Result<(), tidepass::Error> {
    println!("\n== sessions and refresh tokens ==");
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA)?,
        "https://auth.example",
        "api",
    )?;
    let issuer = std::sync::Arc::new(
        Issuer::builder(MemoryStore::new(), minter)
            .ephemeral_refresh_secrets()
            .policy(Policy::mobile())
            .build()?,
    );
    let device = |name: &str| ClientContext {
        device: Some(name.into()),
        user_agent: Some("tour/1.0".into()),
        ip: Some("127.0.0.1".into()),
    };

    // Two devices log in.
    let phone = issuer
        .login(Login::new("alice").context(device("phone")).scope("read"))
        .await?;
    let laptop = issuer
        .login(Login::new("alice").context(device("laptop")).scope("read"))
        .await?;
    println!(
        "login: phone session {}, laptop session {}",
        phone.session_id, laptop.session_id
    );
    println!("       refresh tokens print as {:?}", phone.refresh);

    // The phone refreshes silently: new access token, new refresh token, same session.
    let phone2 = issuer.refresh(phone.refresh.expose()).await?;
    println!(
        "phone refreshed: same session {}, refresh token rotated: {}",
        phone2.session_id == phone.session_id,
        phone2.refresh != phone.refresh
    );

    // Two requests hit the expiry at once and both refresh with the same token: both get the
    // identical child, and the chain goes on from it.
    let (a, b) = tokio::join!(
        issuer.refresh(phone2.refresh.expose()),
        issuer.refresh(phone2.refresh.expose())
    );
    let (a, b) = (a?, b?);
    println!(
        "two concurrent refreshes converge on one child: {}",
        a.refresh == b.refresh
    );
    let phone3 = issuer.refresh(a.refresh.expose()).await?;

    // A thief who copied the laptop's first refresh token replays it after the laptop has
    // moved on (and after the grace window): the whole session dies.
    let laptop2 = issuer.refresh(laptop.refresh.expose()).await?;
    let grace = issuer.policy().grace.as_secs();
    let later = tidepass::clock::Clock::now(&tidepass::clock::SystemClock) + grace;
    let stolen = issuer
        .refresh(laptop.refresh.expose())
        .at(later)
        .await
        .expect_err("reuse");
    println!(
        "stolen laptop token replayed: {} (client sees invalid_grant: {})",
        stolen.kind(),
        stolen.is_invalid_grant()
    );
    let owner = issuer
        .refresh(laptop2.refresh.expose())
        .at(later)
        .await
        .expect_err("session dead");
    println!(
        "the laptop's own newer token now fails too: {}",
        owner.kind()
    );

    // Privilege change on the phone: a new session id, the old one revoked.
    let elevated = issuer
        .elevate(phone3.session_id, 2, Some("read admin".into()))
        .await?;
    println!(
        "elevated: new session {} (old one refused: {})",
        elevated.session_id,
        issuer
            .refresh(phone3.refresh.expose())
            .await
            .expect_err("old session")
            .kind()
    );

    // "Your devices", then log out everywhere.
    for view in issuer.sessions("alice", Some(elevated.session_id)).await? {
        println!(
            "active: {} {:?} current={}",
            view.session.sid, view.session.context.device, view.current
        );
    }
    // A microservice holds a revocation list, kept in step with the issuer by polling.
    let list = std::sync::Arc::new(tidepass::revocation::RevocationList::new());
    let keys = issuer.minter().keys().verifying_keys();
    let verifier = Verifier::builder("https://auth.example", "api", keys)
        .revocations(list.clone())
        .build()?;
    let syncer = tidepass::revocation::Syncer::new(list.clone());
    let fetch = |since: Option<u64>| {
        let issuer = issuer.clone();
        async move { issuer.revocation_changes(since).await?.encode() }
    };
    let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
    syncer.sync_once(now, &fetch).await?;
    verifier.verify(elevated.access.as_str())?;
    println!("microservice: the elevated session's access token verifies");

    let n = issuer.revoke_all("alice").await?;
    syncer.sync_once(now, &fetch).await?;
    let refused = verifier
        .verify(elevated.access.as_str())
        .expect_err("revoked");
    println!(
        "microservice: after one sync ({} entries, version {}), the same access token is refused: {}",
        list.len(),
        list.version(),
        refused.kind()
    );
    println!(
        "log out everywhere: {n} session(s) revoked; refresh now fails: {}",
        issuer
            .refresh(elevated.refresh.expose())
            .await
            .expect_err("revoked")
            .kind()
    );
    Ok(())
}
