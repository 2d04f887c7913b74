//! What one refresh costs the store, counted by the server itself: one Redis command, one
//! PostgreSQL statement on one index entry as a HOT update, with the risk policy on (its check
//! rides the rotation: `RiskPolicy::fingerprint`).

use tidepass::issuer::guard::DefaultRisk;
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::session::ClientContext;
use tidepass::store::SessionStore;
use tidepass::{Issuer, Login, Minter};

const REFRESHES: u64 = 50;

fn agent(ua: &str) -> ClientContext {
    ClientContext {
        user_agent: Some(ua.into()),
        ..Default::default()
    }
}

/// An issuer with the default risk policy over `store`, a login from "App/1.0", and one
/// refresh (which loads the Redis script and prepares the PostgreSQL statement).
async fn warmed<S: SessionStore>(store: S) -> (Issuer<S>, String) {
    let minter =
        Minter::new(SigningKey::generate(Algorithm::ES256).expect("k"), "i", "a").expect("m");
    let issuer = Issuer::builder(store, minter)
        .ephemeral_refresh_secrets()
        .risk(DefaultRisk)
        .build()
        .expect("issuer");
    let login = Login::new("alice").context(agent("App/1.0"));
    let pair = issuer.login(login).await.expect("login");
    let pair = issuer
        .refresh(pair.refresh.expose())
        .context(&agent("App/1.0"))
        .await
        .expect("warm up");
    (issuer, pair.refresh.expose().to_owned())
}

/// `REFRESHES` refreshes in turn, each from a new app version and address (what the default
/// policy lets through).
async fn refresh_many<S: SessionStore>(issuer: &Issuer<S>, mut token: String) {
    for n in 0..REFRESHES {
        let context = ClientContext {
            ip: Some(format!("198.51.100.{n}")),
            ..agent(&format!("App/1.{n}"))
        };
        let pair = issuer
            .refresh(&token)
            .context(&context)
            .await
            .expect("refresh");
        token = pair.refresh.expose().to_owned();
    }
}

/// Exactly one Redis command (one round trip) per refresh, the risk check included (before,
/// the policy's load was a second one): counted by the server's commandstats.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_redis_round_trip_per_refresh() {
    use std::time::Duration;

    use tidepass::store::RedisStore;

    let Some(server) = crate::stores::private_redis::Server::start(&[]) else {
        return;
    };
    let store = RedisStore::connect(&server.url(), "tp", Duration::from_secs(2))
        .await
        .expect("connect");
    let (issuer, token) = warmed(store).await;
    let client = redis::Client::open(server.url()).expect("client");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut con)
        .await
        .expect("reset");
    refresh_many(&issuer, token).await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut con)
        .await
        .expect("info");
    let calls = |name: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split("calls=").nth(1)?.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(calls("evalsha"), REFRESHES, "{info}");
    // commandstats also counts the commands the script runs inside Redis: two HMGETs per
    // rotation (the fields it decides on, the session it answers). A load outside the
    // script would be a third.
    assert_eq!(calls("hmget"), 2 * REFRESHES, "{info}");
    // The client sent only EVALSHA (plus the RESETSTAT above): no other command type.
    let script_inner = ["hmget", "hset", "expire", "evalsha", "config|resetstat"];
    for line in info.lines().filter(|l| l.starts_with("cmdstat_")) {
        let name = line
            .trim_start_matches("cmdstat_")
            .split(':')
            .next()
            .unwrap_or("");
        assert!(
            script_inner.contains(&name),
            "unexpected round trip {name}:\n{info}"
        );
    }
}

/// One PostgreSQL statement per refresh, the risk check included: one index lookup by primary
/// key and one HOT update (no index touched), read from the table's statistics in a schema of
/// its own. Before, the policy's load was a second index lookup per refresh.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_postgres_statement_per_refresh() {
    use std::time::{Duration, Instant};

    let Some((store, schema)) = crate::stores::postgres_store::store_in_schema().await else {
        return;
    };
    let client = crate::stores::postgres_store::admin().await;
    let stats = || async {
        let row = client
            .query_one(
                "SELECT idx_scan, n_tup_upd, n_tup_hot_upd, n_tup_ins FROM pg_stat_user_tables
                 WHERE schemaname = $1 AND relname = 'tidepass_sessions'",
                &[&schema],
            )
            .await
            .expect("stats");
        let n = |i: usize| u64::try_from(row.get::<_, Option<i64>>(i).unwrap_or(0)).unwrap_or(0);
        (n(0), n(1), n(2), n(3))
    };
    let (issuer, token) = warmed(store).await;
    refresh_many(&issuer, token).await;
    // Closing the pool ends its backends, which flushes their statistics; then wait until the
    // server shows them (the counters only grow).
    drop(issuer);
    let want_updates = REFRESHES + 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (scans, updates, hot, inserts) = loop {
        let s = stats().await;
        if s.1 >= want_updates || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(inserts, 1, "the login");
    assert_eq!(
        updates, want_updates,
        "one update per refresh (and the warm-up)"
    );
    assert_eq!(
        hot, updates,
        "every rotation a HOT update: no index entry written"
    );
    assert_eq!(
        scans, want_updates,
        "one index lookup per refresh: no load beside it"
    );
    // Leave the shared server as it was found.
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop schema");
}
