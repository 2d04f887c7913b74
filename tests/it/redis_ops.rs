//! Redis as it runs in production: under memory pressure, and behind Sentinel through a
//! failover. Every server here is private (its own port and directory) and stopped by pid.

use std::sync::Arc;
use std::time::Duration;

use tidepass::keys::{Algorithm, SigningKey};
use tidepass::revocation::RevocationList;
use tidepass::store::{Eviction, RedisOptions, RedisStore, SessionStore};
use tidepass::{ErrorKind, Issuer, Login, Minter, SessionId, Verifier};

use crate::stores::private_redis::Server;

fn issuer<S: SessionStore>(store: S) -> (Issuer<S>, Verifier, Arc<RevocationList>) {
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "iss",
        "aud",
    )
    .expect("minter");
    let keys = minter.keys().verifying_keys();
    let issuer = Issuer::builder(store, minter).build().expect("issuer");
    let list = Arc::new(RevocationList::new());
    let verifier = Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .revocations(list.clone())
        .build()
        .expect("verifier");
    (issuer, verifier, list)
}

fn now() -> u64 {
    tidepass::clock::Clock::now(&tidepass::clock::SystemClock)
}

/// A login with ~1 KiB of claims, so a small `maxmemory` fills after a few thousand.
fn fat_login(i: usize) -> Login {
    let mut claims = serde_json::Map::new();
    claims.insert("profile".into(), "x".repeat(1024).into());
    Login::new(format!("user{i}")).claims(claims)
}

/// Under `volatile-lru` Redis evicts sessions (they have a TTL): `connect` refuses such a
/// server, and only an explicit `Eviction::Allow` connects, and then the evictions show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refuses_an_evicting_policy_unless_told() {
    let Some(server) = Server::start(&["--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru"])
    else {
        return;
    };
    let t = Duration::from_secs(2);
    let refused = RedisStore::connect(&server.url(), "tp", t)
        .await
        .expect_err("volatile-lru evicts sessions");
    assert_eq!(refused.kind(), ErrorKind::InvalidConfig, "{refused}");
    assert!(refused.to_string().contains("noeviction"), "{refused}");

    let allowed = RedisOptions::new(t).eviction(Eviction::Allow);
    let store = RedisStore::connect_with(&server.url(), "tp", allowed)
        .await
        .expect("allowed explicitly");
    assert_eq!(
        store.eviction_policy().await.expect("policy"),
        "volatile-lru"
    );
    let before = store.evicted_keys().await.expect("evicted_keys");
    let (issuer, _, _) = issuer(store.clone());
    let mut first: Vec<SessionId> = Vec::new();
    for i in 0..6000 {
        match issuer.login(fat_login(i)).await {
            Ok(p) if i < 50 => first.push(p.session_id),
            Ok(_) => {}
            Err(e) => assert!(e.is_store(), "{e}"),
        }
    }
    let evicted = store.evicted_keys().await.expect("evicted_keys") - before;
    assert!(evicted > 0, "4 MiB cannot hold 6000 sessions of 1 KiB");
    // What the refusal protects against: early sessions are simply gone.
    let mut gone = 0;
    for sid in &first {
        if store.load(*sid).await.expect("load").is_none() {
            gone += 1;
        }
    }
    assert!(
        gone > 0,
        "{evicted} keys evicted, none of the first 50 sessions"
    );
}

/// Under `noeviction` a full Redis refuses writes: a logout either lands on the revocation
/// list (and its access token is refused by a verifier that follows the list) or fails with
/// a store error. No revocation is lost without an error saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_loses_no_revocation_without_an_error() {
    let Some(server) = Server::start(&["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"])
    else {
        return;
    };
    let store = RedisStore::connect(&server.url(), "tp", Duration::from_secs(2))
        .await
        .expect("noeviction is safe");
    let (issuer, verifier, list) = issuer(store);
    let mut pairs = Vec::new();
    let mut oom = 0;
    for i in 0..6000 {
        match issuer.login(fat_login(i)).await {
            Ok(p) => pairs.push(p),
            Err(e) => {
                assert!(e.is_store(), "{e}");
                let cause = std::error::Error::source(&e).map(ToString::to_string);
                assert!(
                    cause.as_deref().is_some_and(|c| c.contains("OOM")),
                    "the cause says why: {cause:?}"
                );
                oom += 1;
            }
        }
    }
    assert!(oom > 0, "the server never filled up");
    assert!(!pairs.is_empty());
    // A little room, so that the logouts fill it again part way through.
    let client = redis::Client::open(server.url()).expect("client");
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("admin");
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut admin)
        .await
        .expect("info");
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    let room = |bytes: u64| {
        let mut admin = admin.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(bytes)
                .query_async::<()>(&mut admin)
                .await
                .expect("config set");
        }
    };
    room(used + 256 * 1024).await;
    // Logouts on the full server: each is acknowledged or an error.
    let (mut acked, mut failed) = (Vec::new(), Vec::new());
    for p in &pairs {
        match issuer.logout(p.session_id).await {
            Ok(true) => acked.push(p),
            Ok(false) => panic!("an active session was not found"),
            Err(e) => {
                assert!(e.is_store(), "{e}");
                failed.push(p);
            }
        }
    }
    eprintln!(
        "full redis: {} sessions, {oom} logins refused, {} logouts acknowledged, {} refused",
        pairs.len(),
        acked.len(),
        failed.len()
    );
    assert!(
        !acked.is_empty() && !failed.is_empty(),
        "the server did not fill part way"
    );
    // With room again, a retry of each refused logout lists it (also where the session was
    // revoked but the list append failed).
    room(used + 16 * 1024 * 1024).await;
    for p in &failed {
        issuer.logout(p.session_id).await.expect("retry with room");
    }
    let changes = issuer.revocation_changes(None).await.expect("changes");
    list.apply_at(changes, now());
    for p in acked.iter().chain(&failed) {
        let e = verifier
            .verify(p.access.as_str())
            .expect_err("an acknowledged logout is on the list");
        assert_eq!(e.kind(), ErrorKind::Revoked, "{e}");
    }
}
