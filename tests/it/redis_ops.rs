//! Redis as it runs in production: under memory pressure, and behind Sentinel through a
//! failover. Every server here is private (its own port and directory) and stopped by pid.
//!
//! (Over 600 lines: the private servers it starts (Redis, Sentinels) are shared by every test
//! here, so they stay in one file with them.)

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
    let issuer = Issuer::builder(store, minter)
        .ephemeral_refresh_secrets()
        .build()
        .expect("issuer");
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
    let (issuer, verifier, list) = issuer(store.clone());
    let mut first: Vec<SessionId> = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..6000 {
        match issuer.login(fat_login(i)).await {
            Ok(p) if i < 50 => first.push(p.session_id),
            Ok(p) => pairs.push(p),
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
    // Under volatile-lru the revocation log (no TTL) is never evicted: every logout of a
    // session still there is listed or fails with an error, while eviction goes on.
    let (mut listed, mut refused, mut evicted_sessions) = (Vec::new(), 0, 0);
    for p in pairs.iter().rev().take(500) {
        match issuer.logout(p.session_id).await {
            Ok(true) => listed.push(p),
            Ok(false) => evicted_sessions += 1,
            Err(e) => {
                assert!(e.is_store(), "{e}");
                refused += 1;
            }
        }
    }
    eprintln!(
        "volatile-lru: {evicted} evicted, {gone} of the first 50 gone; 500 logouts: {} listed, \
         {refused} refused, {evicted_sessions} of sessions already evicted",
        listed.len()
    );
    assert!(!listed.is_empty());
    list.apply_at(
        issuer.revocation_changes(None).await.expect("changes"),
        now(),
    );
    for p in listed {
        let e = verifier
            .verify(p.access.as_str())
            .expect_err("an acknowledged logout is on the list");
        assert_eq!(e.kind(), ErrorKind::Revoked, "{e}");
    }
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

/// Failovers on loopback: Redis Sentinel (a primary, two replicas, three sentinels) and Redis
/// Cluster (three primaries with a replica each), all private. (The cluster case needs no
/// Sentinel; it shares the load and the counting, so it lives here.)
#[cfg(feature = "redis-sentinel")]
mod failover {
    use std::collections::HashMap;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tidepass::issuer::events::{Event, MemorySink};
    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::revocation::RevocationList;
    use tidepass::store::{RedisOptions, RedisStore, SentinelConnection, SessionStore};
    use tidepass::{ErrorKind, Issuer, Login, Minter, Policy, Verifier};

    use crate::stores::private_redis::{Server, free_port};

    const SERVICE: &str = "tp";

    /// One failover at a time: each runs six to seven servers and 24 clients, and on two
    /// shared cores several at once make the sentinels miss their deadlines.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    struct Sentinel {
        port: u16,
        dir: std::path::PathBuf,
        child: Child,
    }

    impl Sentinel {
        fn start(primary: u16) -> Self {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("tidepass-sentinel-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let conf = dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}/sentinel.log\n\
                     sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {SERVICE} 1000\n\
                     sentinel failover-timeout {SERVICE} 4000\n\
                     sentinel parallel-syncs {SERVICE} 2\n",
                    dir.display(),
                    dir.display()
                ),
            )
            .expect("conf");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server --sentinel");
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "sentinel did not come up");
                std::thread::sleep(Duration::from_millis(20));
            }
            Self { port, dir, child }
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    impl Drop for Sentinel {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let log =
                    std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default();
                eprintln!("--- sentinel {} log ---\n{log}", self.port);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn ask<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let mut con = client.get_multiplexed_async_connection().await?;
        cmd.query_async(&mut con).await
    }

    /// [`ask`] with 30 s to answer instead of redis-rs's default 500 ms: for the 32 MiB
    /// filler, which a loaded machine (CI runs every test at once) can take longer to write.
    async fn ask_patiently<T: redis::FromRedisValue>(
        port: u16,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let config =
            redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        cmd.query_async(&mut con).await
    }

    async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
        eventually_for(what, 30, check).await;
    }

    async fn eventually_for(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `n` replicas of the server on `port` are online and have everything it has.
    async fn caught_up(port: u16, n: usize) -> bool {
        let Ok(info) = ask::<String>(port, redis::cmd("INFO").arg("replication")).await else {
            return false;
        };
        let Some(offset) = info
            .lines()
            .find_map(|l| l.strip_prefix("master_repl_offset:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return false;
        };
        let replicas: Vec<u64> = info
            .lines()
            .filter(|l| l.starts_with("slave") && l.contains("state=online"))
            .filter_map(|l| {
                l.split(',')
                    .find_map(|kv| kv.strip_prefix("offset="))
                    .and_then(|v| v.parse().ok())
            })
            .collect();
        replicas.len() == n && replicas.iter().all(|&o| o >= offset)
    }

    /// What one failover did to the clients.
    #[derive(Debug, Default)]
    struct Count {
        /// Rotations acknowledged to a client and then missing from the store (the
        /// generations the `LostRotations` events report as skipped).
        lost_rotations: u64,
        /// Sessions whose store was behind their client after the failover.
        sessions_behind: usize,
        /// Honest clients refused (`invalid_grant`) at any point.
        logged_out: usize,
        /// Acknowledged logouts the store forgot (the session refreshes again) or that a
        /// verifier following the log does not see.
        revocations_lost: usize,
        /// Refreshes acknowledged in all.
        refreshes: u64,
        /// Refreshes acknowledged after the failover.
        refreshes_after: u64,
    }

    /// A client's refreshes, the refusal that ended it (if any), whether its logout was
    /// acknowledged.
    type Outcome = (u64, Option<ErrorKind>, bool);

    const CLIENTS: usize = 24;
    /// Every fourth client logs out while the replicas are stopped.
    fn logs_out(i: usize) -> bool {
        i.is_multiple_of(4)
    }

    /// Primary + 2 replicas + 3 sentinels; clients refresh their own chains; both replicas
    /// are stopped (SIGSTOP: replication lag), the primary is killed with -9 while they are,
    /// the replicas resume and the sentinels promote one. Then every client goes on.
    async fn failover(options: RedisOptions, recover: bool) -> Count {
        let _turn = ONE_AT_A_TIME.lock().await;
        let Some(primary) = Server::start(&["--appendonly", "no"]) else {
            return Count::default();
        };
        let replicaof = ["--replicaof", "127.0.0.1", &primary.port.to_string()].map(String::from);
        let r: Vec<&str> = replicaof.iter().map(String::as_str).collect();
        let replicas = [
            Server::start(&r).expect("replica"),
            Server::start(&r).expect("replica"),
        ];
        let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(primary.port)).collect();
        eventually("replicas online", async || {
            ask::<String>(primary.port, redis::cmd("INFO").arg("replication"))
                .await
                .is_ok_and(|i| i.matches("state=online").count() == 2)
        })
        .await;
        for s in &sentinels {
            eventually("sentinels see each other and the replicas", async || {
                let seen = ask::<Vec<redis::Value>>(
                    s.port,
                    redis::cmd("SENTINEL").arg("replicas").arg(SERVICE),
                )
                .await
                .is_ok_and(|v| v.len() == 2);
                let peers = ask::<Vec<redis::Value>>(
                    s.port,
                    redis::cmd("SENTINEL").arg("sentinels").arg(SERVICE),
                )
                .await
                .is_ok_and(|v| v.len() == 2);
                seen && peers
            })
            .await;
        }

        let urls: Vec<String> = sentinels.iter().map(Sentinel::url).collect();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        let store: RedisStore<SentinelConnection> =
            RedisStore::connect_sentinel(&urls, SERVICE, "tp", options)
                .await
                .expect("connect through the sentinels");
        let port = primary.port;
        let settle =
            async || eventually("logins on both replicas", async || caught_up(port, 2).await).await;
        let mut primary = primary;
        let mut fresh = None;
        let fresh = &mut fresh;
        let trouble = async |phase: &AtomicU8| {
            for r in &replicas {
                r.signal("STOP");
            }
            // Lag that a kill loses: the kernel delivers what the primary has written to a
            // replica's socket even after the primary dies, so first fill those buffers (32 MiB
            // of other data, more than loopback buffers hold); what follows waits in the
            // primary's own memory, and dies with it.
            let filler = vec![b'f'; 32 << 20];
            let _: () = ask_patiently(port, redis::cmd("SET").arg("filler").arg(filler))
                .await
                .expect("filler");
            phase.store(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(600)).await;
            primary.kill();
            for r in &replicas {
                r.signal("CONT");
            }
            phase.store(2, Ordering::Relaxed);
            // A new primary, and clients that work against it for a while.
            let promoted = async || {
                for r in &replicas {
                    if ask::<String>(r.port, redis::cmd("INFO").arg("replication"))
                        .await
                        .is_ok_and(|i| i.contains("role:master"))
                    {
                        return true;
                    }
                }
                false
            };
            eventually_for("a replica promoted", 60, promoted).await;
            // The operator replaces the dead server with a fresh replica of the new primary,
            // so `WAIT 2` can be met again. (Restarting the dead one empty instead lets
            // clients reach an empty primary for a moment: see RELIABILITY.md.)
            let mut new_primary = 0;
            for r in &replicas {
                if ask::<String>(r.port, redis::cmd("INFO").arg("replication"))
                    .await
                    .is_ok_and(|i| i.contains("role:master"))
                {
                    new_primary = r.port;
                }
            }
            let port = new_primary.to_string();
            *fresh = Server::start(&["--replicaof", "127.0.0.1", &port]);
        };
        let count = measure(store, recover, settle, trouble).await;
        drop(sentinels);
        count
    }

    /// Three primaries with a replica each (`cluster-node-timeout` 1 s). The primary that
    /// holds the revocation log (and the sessions in its slots) loses its replica to SIGSTOP,
    /// is killed with -9 behind the same 32 MiB of filler as in [`failover`], and the cluster
    /// promotes the replica.
    async fn cluster_failover(replicas: u32, recover: bool) -> Count {
        let _turn = ONE_AT_A_TIME.lock().await;
        let _one = crate::stores::private_redis::CLUSTERS.lock().await;
        use std::process::Command;
        let mut nodes = Vec::new();
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "1000",
            "--appendonly",
            "no",
        ];
        for _ in 0..6 {
            let Some(s) = Server::start(&args) else {
                return Count::default();
            };
            nodes.push(s);
        }
        let addrs = Server::create_cluster(&nodes, 1, &[]);
        let first = nodes[0].port;
        eventually("cluster ok", async || {
            ask::<String>(first, redis::cmd("CLUSTER").arg("INFO"))
                .await
                .is_ok_and(|i| i.contains("cluster_state:ok"))
        })
        .await;
        // The primary of the revocation log's slot, and its replica.
        let slot: u64 = ask(
            first,
            redis::cmd("CLUSTER").arg("KEYSLOT").arg("tp:{r}:log"),
        )
        .await
        .expect("keyslot");
        let mut target = None;
        for (i, n) in nodes.iter().enumerate() {
            let role = ask::<String>(n.port, redis::cmd("INFO").arg("replication"))
                .await
                .expect("info");
            if !role.contains("role:master") {
                continue;
            }
            let shards: String = ask(n.port, redis::cmd("CLUSTER").arg("NODES"))
                .await
                .expect("nodes");
            let me = shards
                .lines()
                .find(|l| l.contains("myself"))
                .expect("myself")
                .to_owned();
            let serves = me.split(' ').skip(8).any(|range| {
                let mut it = range.split('-').map(|x| x.parse::<u64>().ok());
                match (it.next().flatten(), it.next().flatten()) {
                    (Some(a), Some(b)) => (a..=b).contains(&slot),
                    (Some(a), None) => a == slot,
                    _ => false,
                }
            });
            if serves {
                target = Some(i);
            }
        }
        let target = target.expect("a primary serves the log's slot");
        let target_port = nodes[target].port;
        let replica_port: u16 = {
            let info = ask::<String>(target_port, redis::cmd("INFO").arg("replication"))
                .await
                .expect("info");
            info.lines()
                .find(|l| l.starts_with("slave0:"))
                .and_then(|l| l.split(',').find_map(|kv| kv.strip_prefix("port=")))
                .and_then(|p| p.parse().ok())
                .expect("the primary has a replica")
        };
        let replica = nodes
            .iter()
            .position(|n| n.port == replica_port)
            .expect("replica is ours");
        for n in &nodes {
            eventually("replicas caught up", async || {
                let info = ask::<String>(n.port, redis::cmd("INFO").arg("replication")).await;
                !info.is_ok_and(|i| i.contains("role:master")) || caught_up(n.port, 1).await
            })
            .await;
        }

        let urls: Vec<String> = addrs.iter().map(|a| format!("redis://{a}")).collect();
        // A response timeout longer than the client's own reconnect-and-retry cycle: a request
        // cut off by the timeout before that cycle ends never makes redis-rs look the slots
        // up again, and an idle connection then keeps asking the dead node.
        let client = redis::cluster::ClusterClientBuilder::new(urls)
            .connection_timeout(Duration::from_millis(250))
            .response_timeout(Duration::from_secs(3))
            .retries(2)
            .build()
            .expect("cluster client");
        let con = client
            .get_async_connection()
            .await
            .expect("cluster connection");
        let store = RedisStore::with_connection(con, "tp")
            .acknowledge_after(replicas, Duration::from_millis(500));
        let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
        let settle = async || {
            for &port in &ports {
                eventually("logins replicated", async || {
                    let info = ask::<String>(port, redis::cmd("INFO").arg("replication")).await;
                    !info.is_ok_and(|i| i.contains("role:master")) || caught_up(port, 1).await
                })
                .await;
            }
        };
        let trouble = async |phase: &AtomicU8| {
            nodes[replica].signal("STOP");
            let filler = vec![b'f'; 32 << 20];
            let _: () = ask_patiently(target_port, redis::cmd("SET").arg("filler{r}").arg(filler))
                .await
                .expect("filler");
            phase.store(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(600)).await;
            nodes[target].kill();
            nodes[replica].signal("CONT");
            phase.store(2, Ordering::Relaxed);
            eventually("the replica promoted", async || {
                ask::<String>(replica_port, redis::cmd("INFO").arg("replication"))
                    .await
                    .is_ok_and(|i| i.contains("role:master"))
            })
            .await;
            // The operator replaces the dead node with a fresh one, as the new primary's
            // replica, so `WAIT 1` can be met again. (Restarting the dead node empty instead
            // lets it answer for its old slots for a moment: see RELIABILITY.md.)
            let fresh = Server::start(&args).expect("a fresh node");
            let id: String = ask(replica_port, redis::cmd("CLUSTER").arg("MYID"))
                .await
                .expect("myid");
            // Right after a promotion the nodes may not agree on the configuration yet, and
            // redis-cli then refuses before adding anything: try again until they do.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let out = Command::new("redis-cli")
                    .args(["--cluster", "add-node"])
                    .arg(format!("127.0.0.1:{}", fresh.port))
                    .arg(format!("127.0.0.1:{replica_port}"))
                    .args(["--cluster-slave", "--cluster-master-id", &id])
                    .output()
                    .expect("redis-cli");
                if out.status.success() {
                    break;
                }
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    text.contains("don't agree") && Instant::now() < deadline,
                    "{text}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            nodes.push(fresh);
        };
        measure(store, recover, settle, trouble).await
    }

    /// Log in [`CLIENTS`] clients, `settle`, start them refreshing (each its own chain,
    /// retrying the same token after a store error), let `trouble` break the store (it sets
    /// the phase to 1 when logouts should go, 2 when the store is back), go on for 3 s, and
    /// count what was lost.
    async fn measure<S: SessionStore>(
        store: S,
        recover: bool,
        settle: impl AsyncFnOnce(),
        trouble: impl AsyncFnOnce(&AtomicU8),
    ) -> Count {
        let minter = Minter::new(
            SigningKey::generate(Algorithm::EdDSA).expect("key"),
            "iss",
            "aud",
        )
        .expect("minter");
        let keys = minter.keys().verifying_keys();
        let events = Arc::new(MemorySink::default());
        let mut policy = Policy::web();
        policy.recover_lost_rotations = recover;
        let issuer = Arc::new(
            Issuer::builder(store, minter)
                .ephemeral_refresh_secrets()
                .policy(policy)
                .events(events.clone())
                .build()
                .expect("issuer"),
        );
        let mut pairs = Vec::new();
        for i in 0..CLIENTS {
            // A busy machine may miss a replica deadline: retry as a client would.
            let mut tries = 0;
            let pair = loop {
                match issuer.login(Login::new(format!("u{i}"))).await {
                    Ok(p) => break p,
                    Err(e) if e.is_store() && tries < 20 => tries += 1,
                    Err(e) => panic!("login: {e}"),
                }
            };
            pairs.push(pair);
        }
        settle().await;

        // 0: before, 1: replicas stopped (logouts go now), 2: after.
        let phase = Arc::new(AtomicU8::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let outcome: Arc<Mutex<HashMap<usize, Outcome>>> = Arc::default();
        let after = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for (i, mut pair) in pairs.into_iter().enumerate() {
            let (issuer, phase, stop, outcome, after) = (
                issuer.clone(),
                phase.clone(),
                stop.clone(),
                outcome.clone(),
                after.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let (mut refreshes, mut refused, mut logged_out) = (0u64, None, false);
                while !stop.load(Ordering::Relaxed) {
                    if logs_out(i) && phase.load(Ordering::Relaxed) >= 1 {
                        match issuer.logout(pair.session_id).await {
                            Ok(_) => {
                                logged_out = true;
                                break;
                            }
                            Err(e) if e.is_store() => {}
                            Err(e) => panic!("logout: {e}"),
                        }
                    } else {
                        match issuer.refresh(pair.refresh.expose()).await {
                            Ok(next) => {
                                pair = next;
                                refreshes += 1;
                                if phase.load(Ordering::Relaxed) == 2 {
                                    after.fetch_add(1, Ordering::Relaxed);
                                }
                                continue;
                            }
                            // The honest client retries the same token.
                            Err(e) if e.is_store() || e.kind() == ErrorKind::GraceReplayLimit => {}
                            Err(e) => {
                                refused = Some(e.kind());
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                outcome
                    .lock()
                    .expect("lock")
                    .insert(i, (refreshes, refused, logged_out));
                pair
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        trouble(&phase).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let mut last = Vec::new();
        for t in tasks {
            last.push(t.await.expect("client"));
        }

        let outcome = outcome.lock().expect("lock").clone();
        let mut count = Count::default();
        for e in events.take() {
            if let Event::LostRotations {
                presented, stored, ..
            } = e
            {
                count.sessions_behind += 1;
                count.lost_rotations += presented - stored;
            }
        }
        let list = Arc::new(RevocationList::new());
        let verifier = Verifier::builder("iss", "aud", keys)
            .cache_capacity(0)
            .revocations(list.clone())
            .build()
            .expect("verifier");
        count.refreshes_after = after.load(Ordering::Relaxed);
        let mut tries = 0;
        let changes = loop {
            match issuer.revocation_changes(None).await {
                Ok(c) => break c,
                Err(e) if tries < 20 => {
                    eprintln!(
                        "revocation changes: {e} ({:?})",
                        std::error::Error::source(&e)
                    );
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("changes: {e}"),
            }
        };
        list.apply_at(changes, super::now());
        for (i, pair) in last.iter().enumerate() {
            let (refreshes, refused, logged_out) = outcome[&i];
            count.refreshes += refreshes;
            if refused.is_some() {
                eprintln!("client {i} refused: {refused:?}");
                count.logged_out += 1;
            }
            if logged_out {
                // A store error proves nothing: ask until the store answers.
                let mut tries = 0;
                let forgot = loop {
                    match issuer.refresh(pair.refresh.expose()).await {
                        Ok(_) => break true,
                        Err(e) if e.is_store() && tries < 50 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) if e.is_store() => panic!("the store never answered: {e}"),
                        Err(_) => break false,
                    }
                };
                let accepted = verifier.verify(pair.access.as_str()).is_ok();
                if forgot || accepted {
                    count.revocations_lost += 1;
                }
            }
        }
        count
    }

    /// Without replica acknowledgement the failover loses the rotations the primary
    /// acknowledged while its replicas lagged, and no honest client is logged out for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sentinel_failover_logs_nobody_out() {
        let count = failover(RedisOptions::new(Duration::from_millis(500)), true).await;
        eprintln!("sentinel failover, no WAIT: {count:?}");
        if count.refreshes == 0 {
            return; // no redis-server here (skipped loudly above)
        }
        assert_eq!(count.logged_out, 0, "{count:?}");
        assert!(
            count.lost_rotations > 0,
            "the primary acknowledged rotations its replicas never had: {count:?}"
        );
    }

    /// The same failover with `Policy::recover_lost_rotations` off (the behaviour before it
    /// existed): every client whose rotations were lost is logged out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_recovery_a_sentinel_failover_logs_clients_out() {
        let count = failover(RedisOptions::new(Duration::from_millis(500)), false).await;
        eprintln!("sentinel failover, no WAIT, no recovery: {count:?}");
        if count.refreshes == 0 {
            return;
        }
        assert!(count.logged_out > 0, "{count:?}");
        assert_eq!(count.sessions_behind, 0, "recovery is off: {count:?}");
    }

    /// Redis Cluster promotes the replica of a primary killed with -9: lost rotations, no
    /// client logged out. With `WAIT 1` (its one replica) nobody is logged out and no logout
    /// is lost either; acknowledged rotations are *usually* all kept, but CI runs on
    /// 2026-12-02 lost 2 of about 4,000 in two runs of about seven (RELIABILITY.md), so the count
    /// is reported, not asserted to be zero: recovery is what keeps those clients logged in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_failover_logs_nobody_out() {
        let count = cluster_failover(0, true).await;
        eprintln!("cluster failover, no WAIT: {count:?}");
        if count.refreshes == 0 {
            return;
        }
        assert_eq!(count.logged_out, 0, "{count:?}");
        assert!(count.lost_rotations > 0, "{count:?}");
        let count = cluster_failover(1, true).await;
        eprintln!("cluster failover, WAIT 1: {count:?}");
        assert_eq!(count.logged_out, 0, "{count:?}");
        assert_eq!(count.revocations_lost, 0, "{count:?}");
        // Far fewer than without WAIT, but not always none (see the doc comment).
        assert!(count.lost_rotations <= 10, "{count:?}");
    }

    /// With `acknowledge_after(2, …)`, every replica, nothing acknowledged is lost: no
    /// rotation, no logout. (`WAIT 1` is not enough with two replicas: Sentinel may promote
    /// the one that did not have the write; RELIABILITY.md has the counts.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sentinel_failover_with_wait_loses_nothing_acknowledged() {
        let options = RedisOptions::new(Duration::from_millis(500))
            .acknowledge_after(2, Duration::from_millis(500));
        let count = failover(options, true).await;
        eprintln!("sentinel failover, WAIT 2: {count:?}");
        if count.refreshes == 0 {
            return;
        }
        assert_eq!(count.logged_out, 0, "{count:?}");
        assert_eq!(count.lost_rotations, 0, "{count:?}");
        assert_eq!(count.sessions_behind, 0, "{count:?}");
        assert_eq!(count.revocations_lost, 0, "{count:?}");
    }
}

/// A circuit breaker around Redis under load: while the server is down, calls fail fast
/// without reaching it (no pile-up behind its timeouts), one probe per cool-down goes out,
/// and after the restart the first probe or the next closes the circuit. No client is logged
/// out (AOF with fsync on every write keeps the sessions across the kill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_breaker_fails_fast_while_redis_is_down() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use tidepass::issuer::events::{Event, MemorySink};
    use tidepass::store::{CircuitBreaker, CircuitState};

    let Some(mut server) = Server::start(&["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    const THRESHOLD: u32 = 5;
    const CLIENTS: usize = 16;
    let redis = RedisStore::connect(&server.url(), "tp", Duration::from_millis(300))
        .await
        .expect("connect");
    let sink = Arc::new(MemorySink::default());
    let breaker =
        CircuitBreaker::new(redis, THRESHOLD, Duration::from_millis(300)).events(sink.clone());
    let (issuer, _, _) = issuer(breaker);
    let issuer = Arc::new(issuer);
    let calls = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let mut pair = issuer
            .login(Login::new(format!("u{i}")))
            .await
            .expect("login");
        let (issuer, calls, stop) = (issuer.clone(), calls.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut refused = None;
            while !stop.load(Ordering::Relaxed) {
                calls.fetch_add(1, Ordering::Relaxed);
                match issuer.refresh(pair.refresh.expose()).await {
                    Ok(next) => pair = next,
                    Err(e) if e.is_store() => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) => {
                        refused = Some(e.kind());
                        break;
                    }
                }
            }
            refused
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = issuer.store();
    assert_eq!(b.state(), CircuitState::Closed);

    server.kill();
    let (calls_at_kill, fast_at_kill, probes_at_kill) =
        (calls.load(Ordering::Relaxed), b.fast_failures(), b.probes());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (calls_down, fast_down, probes_down) = (
        calls.load(Ordering::Relaxed) - calls_at_kill,
        b.fast_failures() - fast_at_kill,
        b.probes() - probes_at_kill,
    );
    let reached = calls_down - fast_down;
    eprintln!(
        "redis down 2 s: {calls_down} calls, {fast_down} failed fast, {reached} reached the \
         store, {probes_down} probes"
    );
    assert!(
        sink.take()
            .iter()
            .any(|e| matches!(e, Event::StoreCircuitOpened { .. }))
    );
    // What reached the dead store: the calls in flight when it died, the ones that tripped
    // the breaker, and one probe per cool-down.
    assert!(
        reached <= u64::from(THRESHOLD) + CLIENTS as u64 + probes_down,
        "{reached} calls reached a store known to be down"
    );
    assert!(
        fast_down > 10 * reached,
        "{fast_down} fast failures, {reached} reached"
    );

    let probes_at_restart = b.probes();
    server.spawn().expect("restart on the same port");
    while b.state() != CircuitState::Closed {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let probes_to_recover = b.probes() - probes_at_restart;
    // 0: the probe already out when the server came back succeeded.
    eprintln!("recovered after {probes_to_recover} new probes");
    assert!(
        probes_to_recover <= 2,
        "{probes_to_recover} probes after the restart"
    );
    assert!(
        sink.take()
            .iter()
            .any(|e| matches!(e, Event::StoreCircuitClosed))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        assert_eq!(
            t.await.expect("client"),
            None,
            "an honest client was refused"
        );
    }
}
