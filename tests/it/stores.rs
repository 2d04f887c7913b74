//! The conformance suite against every store this build has.
//!
//! (Over 600 lines: one module per backend, each with its private-server helpers.)

use tidepass::conformance;
use tidepass::store::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
    conformance::key_ring::run_all(|| async { MemoryStore::new() }).await;
    // The run-time choice (AnyStore) passes the same suite; over Redis, Redis Cluster and
    // PostgreSQL it carries the example auth service in http_e2e.
    let any = || async {
        tidepass::store::AnyStore::connect("memory:", "t")
            .await
            .expect("memory")
    };
    conformance::run_all(any).await;
    conformance::key_ring::run_all(any).await;
}

#[cfg(feature = "redb")]
pub(crate) mod redb {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tidepass::conformance;
    use tidepass::store::RedbStore;

    pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidepass-redb-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("sessions.redb")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redb_store_conforms() {
        conformance::run_all(|| async { RedbStore::open(temp_path("conformance")).expect("open") })
            .await;
        conformance::key_ring::run_all(|| async {
            RedbStore::open(temp_path("key-ring")).expect("open")
        })
        .await;
    }

    #[tokio::test]
    async fn a_second_open_of_the_same_file_fails_cleanly() {
        let path = temp_path("locked");
        let _first = RedbStore::open(&path).expect("open");
        let second = RedbStore::open(&path).expect_err("the file is in use");
        assert!(second.is_store(), "{second}");
    }
}

/// A process killed with SIGKILL in the middle of a login/refresh/logout load loses nothing it
/// acknowledged. The test runs twice: as the parent (no env var), it starts itself as a child
/// with `TIDEPASS_CRASH_DB` set, reads the child's acknowledgements, kills it with SIGKILL, and
/// checks every acknowledged write in the reopened database.
#[cfg(all(feature = "redb", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_loses_no_acknowledged_write_on_sigkill() {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::session::refresh::RefreshSecrets;
    use tidepass::store::{RedbStore, SessionStore};
    use tidepass::{Issuer, Login, Minter, SessionId};

    if let Ok(path) = std::env::var("TIDEPASS_CRASH_DB") {
        // Child: acknowledge each durable write on stdout, forever, until killed.
        let store = RedbStore::open(&path).expect("child open");
        let minter =
            Minter::new(SigningKey::generate(Algorithm::EdDSA).expect("k"), "i", "a").expect("m");
        let issuer = Issuer::builder(store, minter)
            .refresh_secrets(RefreshSecrets::from_secret(1, &[1u8; 32]).expect("s"))
            .build()
            .expect("issuer");
        for i in 0u64.. {
            let mut pair = issuer
                .login(Login::new(format!("user{}", i % 7)))
                .await
                .expect("login");
            println!("ACK login {}", pair.session_id);
            for _ in 0..(i % 4) {
                pair = issuer
                    .refresh(pair.refresh.expose())
                    .await
                    .expect("refresh");
                let s = issuer
                    .store()
                    .load(pair.session_id)
                    .await
                    .expect("load")
                    .expect("s");
                println!("ACK rotate {} {}", pair.session_id, s.generation);
            }
            if i % 5 == 0 {
                assert!(issuer.logout(pair.session_id).await.expect("logout"));
                println!("ACK logout {}", pair.session_id);
            }
        }
        return;
    }

    let path = redb::temp_path("sigkill");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "stores::redb_loses_no_acknowledged_write_on_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TIDEPASS_CRASH_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut acked: HashMap<SessionId, (u64, bool)> = HashMap::new();
    let mut count = 0;
    while count < 400 {
        let Some(Ok(line)) = lines.next() else { break };
        // The harness may print on the same line: take what follows the marker.
        let Some((_, ack)) = line.split_once("ACK ") else {
            continue;
        };
        let parts: Vec<&str> = ack.split_whitespace().collect();
        match parts.as_slice() {
            ["login", sid] => {
                acked.insert(sid.parse().expect("sid"), (1, false));
            }
            ["rotate", sid, generation] => {
                acked.insert(
                    sid.parse().expect("sid"),
                    (generation.parse().expect("gen"), false),
                );
            }
            ["logout", sid] => {
                acked.get_mut(&sid.parse().expect("sid")).expect("known").1 = true;
            }
            _ => panic!("unexpected acknowledgement {ack:?}"),
        }
        count += 1;
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    child.wait().expect("reap");
    assert!(
        count >= 400,
        "the child acknowledged only {count} writes before stopping"
    );

    let store = RedbStore::open(&path).expect("reopen after SIGKILL");
    for (sid, (generation, logged_out)) in &acked {
        let loaded = store.load(*sid).await.expect("load");
        // The issuer's built-in cleanup deletes ended sessions: a logged-out one may be gone,
        // which still refuses its tokens (UnknownSession).
        let Some(s) = loaded else {
            assert!(logged_out, "acknowledged session {sid} lost");
            continue;
        };
        // The child may have committed one more rotation it had no time to acknowledge.
        assert!(
            s.generation == *generation || s.generation == generation + 1,
            "{sid}: {} vs acked {generation}",
            s.generation
        );
        if *logged_out {
            assert!(s.revoked.is_some(), "acknowledged logout of {sid} lost");
        }
    }
}

/// Tests that need a shared server: under CI a missing server fails the test with a clear
/// message; locally the test says loudly that it was skipped.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn require_server(what: &str, err: &dyn std::fmt::Display) -> bool {
    crate::common::skipped(
        &format!("{what} is not reachable ({err})"),
        "bash .ci/run (it installs and starts Redis and PostgreSQL on 127.0.0.1)",
    );
    false
}

#[cfg(feature = "redis")]
pub(crate) mod redis_store {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tidepass::conformance;
    use tidepass::store::RedisStore;

    pub(crate) fn url() -> String {
        std::env::var("TIDEPASS_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
    }

    /// A store with a prefix of its own, so runs and checks never see each other's keys.
    pub(crate) async fn store() -> Option<RedisStore> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "tptest:{}:{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        match RedisStore::connect(&url(), &prefix, Duration::from_secs(2)).await {
            Ok(s) => Some(s),
            Err(e) => {
                super::require_server("Redis", &e);
                None
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_store_conforms() {
        if store().await.is_none() {
            return;
        }
        conformance::run_all(|| async { store().await.expect("redis came and went") }).await;
        conformance::key_ring::run_all(|| async { store().await.expect("redis came and went") })
            .await;
        // Leave the shared server as we found it (the keys would expire anyway).
        let client = redis::Client::open(url()).expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        super::redis_index::outlives_every_session(
            con.clone(),
            &format!("tptest:{}:index", std::process::id()),
        )
        .await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("tptest:{}:*", std::process::id()))
            .query_async(&mut con)
            .await
            .expect("keys");
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut con)
                .await
                .expect("del");
        }
    }
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres_store {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tidepass::conformance;
    use tidepass::store::PgStore;

    pub(crate) fn url() -> String {
        std::env::var("TIDEPASS_PG_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
    }

    /// A plain client on the shared server, for a test's own statements.
    pub(crate) async fn admin() -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    /// A store in a fresh schema of its own, migrated.
    pub(crate) async fn store() -> Option<PgStore> {
        store_in_schema().await.map(|(s, _)| s)
    }

    /// [`store`], and the name of its schema.
    pub(crate) async fn store_in_schema() -> Option<(PgStore, String)> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let schema = format!(
            "tptest_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let (client, conn) = match tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
            Ok(c) => c,
            Err(e) => {
                super::require_server("PostgreSQL", &e);
                return None;
            }
        };
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .expect("create schema");
        let store = PgStore::connect(
            &format!("{} options='-c search_path={schema}'", url()),
            8,
            Duration::from_secs(2),
        )
        .expect("pool");
        store.migrate().await.expect("migrate");
        store.migrate().await.expect("migrating twice is a no-op");
        Some((store, schema))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_store_conforms() {
        if store().await.is_none() {
            return;
        }
        conformance::run_all(|| async { store().await.expect("postgres came and went") }).await;
        conformance::key_ring::run_all(|| async { store().await.expect("postgres came and went") })
            .await;
        // Leave the shared server as we found it.
        let client = admin().await;
        let rows = client
            .query(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE $1",
                &[&format!("tptest\\_{}\\_%", std::process::id())],
            )
            .await
            .expect("schemas");
        for r in rows {
            let name: String = r.get(0);
            client
                .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                .await
                .expect("drop");
        }
    }
}

/// A schema at migration 1 (the body as `jsonb`) holding a live session is upgraded by
/// `migrate` and the session reads back the same and still rotates.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_upgrades_a_schema_with_sessions_in_it() {
    use std::time::Duration;

    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::store::{MIGRATIONS, PgStore, SessionStore};
    use tidepass::{Issuer, Login, Minter};

    let url = postgres_store::url();
    let (client, conn) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => {
            require_server("PostgreSQL", &e);
            return;
        }
    };
    tokio::spawn(conn);
    let schema = format!("tpmig_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             SET search_path = {schema};
             CREATE TABLE tidepass_schema (version integer NOT NULL);
             INSERT INTO tidepass_schema VALUES (1);
             {}",
            MIGRATIONS[0]
        ))
        .await
        .expect("schema at version 1");
    let store = PgStore::connect(
        &format!("{url} options='-c search_path={schema}'"),
        4,
        Duration::from_secs(2),
    )
    .expect("pool");
    let minter = Minter::new(
        SigningKey::generate(Algorithm::ES256).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    // With the risk policy on, as the example runs: a login on the old schema stores its
    // fingerprint in the body only (no column yet), and its refreshes take the locked path.
    let issuer = Issuer::builder(store.clone(), minter)
        .ephemeral_refresh_secrets()
        .risk(tidepass::issuer::guard::DefaultRisk)
        .build()
        .expect("issuer");
    let app = tidepass::session::ClientContext {
        user_agent: Some("App/1.0".into()),
        ..Default::default()
    };
    let pair = issuer
        .login(
            Login::new("mallory")
                .scope("read write")
                .context(app.clone()),
        )
        .await
        .expect("login on version 1");
    let pair = issuer
        .refresh(pair.refresh.expose())
        .context(&app)
        .await
        .expect("refresh on version 1");
    let before = store
        .load(pair.session_id)
        .await
        .expect("load")
        .expect("session");
    async fn body_type(client: &tokio_postgres::Client, schema: &str) -> String {
        client
            .query_one(
                "SELECT data_type FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = 'tidepass_sessions'
                   AND column_name = 'body'",
                &[&schema],
            )
            .await
            .expect("column type")
            .get(0)
    }
    assert_eq!(body_type(&client, &schema).await, "jsonb");

    store.migrate().await.expect("upgrade");
    assert_eq!(body_type(&client, &schema).await, "json");
    let version: i32 = client
        .query_one(
            &format!("SELECT max(version) FROM {schema}.tidepass_schema"),
            &[],
        )
        .await
        .expect("version")
        .get(0);
    assert_eq!(usize::try_from(version).expect("version"), MIGRATIONS.len());
    let after = store
        .load(pair.session_id)
        .await
        .expect("load after")
        .expect("session after");
    assert_eq!(after, before, "the upgrade kept the session as it was");
    let next = issuer
        .refresh(pair.refresh.expose())
        .context(&app)
        .await
        .expect("refresh after the upgrade");
    assert_eq!(next.session_id, pair.session_id);
    let curl = tidepass::session::ClientContext {
        user_agent: Some("curl/8".into()),
        ..Default::default()
    };
    assert_eq!(
        issuer
            .refresh(next.refresh.expose())
            .context(&curl)
            .await
            .expect_err("another product")
            .kind(),
        tidepass::ErrorKind::StepUpRequired,
        "the old session's fingerprint still counts"
    );
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop");
}

/// Private `redis-server` processes on free loopback ports, stopped by pid when dropped.
#[cfg(all(feature = "redis", unix))]
pub(crate) mod private_redis {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// Wait until writes succeed on every node: `cluster_state:ok` on the node one `CLUSTER
    /// INFO` reaches is that node's view only, and a login routed to a node that has not yet
    /// seen the cluster come up fails with `ClusterDown` (CI saw it under load). 32 hash tags
    /// land on each of three primaries but with a chance of about 10⁻⁵.
    pub(crate) async fn until_every_node_serves(
        con: &mut redis::cluster_async::ClusterConnection,
        deadline: Instant,
    ) {
        loop {
            let mut ok = true;
            for i in 0..32 {
                let set: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(format!("probe{{{i}}}"))
                    .arg(1)
                    .query_async(con)
                    .await;
                ok &= set.is_ok();
            }
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "a cluster node never served writes"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A 3-master cluster of private servers, up and serving writes on every node: the
    /// servers (stopped when dropped), their addresses and a connection. `None` when
    /// `redis-server` cannot be started (skipped visibly, or failed under CI). Hold
    /// [`CLUSTERS`] while it runs.
    pub(crate) async fn cluster() -> Option<(
        Vec<Server>,
        Vec<String>,
        redis::cluster_async::ClusterConnection,
    )> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(Server::start(&[
                "--cluster-enabled",
                "yes",
                "--appendonly",
                "no",
            ])?);
        }
        let addrs = Server::create_cluster(&nodes, 0, &[]);
        let urls: Vec<String> = addrs.iter().map(|a| format!("redis://{a}")).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut con = loop {
            let client = redis::cluster::ClusterClient::new(urls.clone()).expect("cluster client");
            match client.get_async_connection().await {
                Ok(mut c) => {
                    let info: redis::RedisResult<String> =
                        redis::cmd("CLUSTER").arg("INFO").query_async(&mut c).await;
                    if info
                        .as_deref()
                        .is_ok_and(|i| i.contains("cluster_state:ok"))
                    {
                        break c;
                    }
                }
                Err(e) => assert!(Instant::now() < deadline, "cluster never came up: {e}"),
            }
            assert!(Instant::now() < deadline, "cluster never reached state ok");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        until_every_node_serves(&mut con, deadline).await;
        Some((nodes, addrs, con))
    }

    pub(crate) struct Server {
        pub(crate) port: u16,
        pub(crate) dir: std::path::PathBuf,
        child: Option<Child>,
        extra: Vec<String>,
    }

    /// One Redis Cluster at a time across the test binary. A killed node's port can be reused
    /// by another test's cluster node, and the dead node's old peers then gossip with it over
    /// the bus: a cluster from one test can take the other's down ("ClusterDown", seen under CI
    /// load). Every test that makes a cluster holds this while it runs.
    pub(crate) static CLUSTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    pub(crate) use crate::proc::free_port;

    impl Server {
        /// Start a server; `None` (with the skip/CI rule) when redis-server is not installed.
        pub(crate) fn start(extra: &[&str]) -> Option<Self> {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("tidepass-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let mut s = Self {
                port,
                dir,
                child: None,
                extra: extra.iter().map(|s| s.to_string()).collect(),
            };
            if let Err(e) = s.spawn() {
                super::require_server("redis-server (binary)", &e);
                return None;
            }
            Some(s)
        }

        pub(crate) fn spawn(&mut self) -> std::io::Result<()> {
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--dir",
                ])
                .arg(&self.dir)
                .args(&self.extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            self.child = Some(child);
            // A TLS-only server (`--port 0 --tls-port P`) listens on its TLS port.
            let listening = self.listening();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", listening)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not come up on {}",
                    self.port
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }

        /// SIGKILL the server and wait for it.
        pub(crate) fn kill(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }

        pub(crate) fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/0", self.port)
        }

        /// Make a cluster of `nodes` with `replicas` replicas per primary (`redis-cli --cluster
        /// create`; `extra`: its TLS flags, say).
        pub(crate) fn create_cluster(
            nodes: &[Server],
            replicas: u8,
            extra: &[&str],
        ) -> Vec<String> {
            let addrs: Vec<String> = nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.listening()))
                .collect();
            let out = Command::new("redis-cli")
                .args(extra)
                .args(["--cluster", "create"])
                .args(&addrs)
                .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli");
            assert!(
                out.status.success(),
                "cluster create: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            addrs
        }

        /// The port it serves clients on: its TLS port for a TLS-only server.
        pub(crate) fn listening(&self) -> u16 {
            self.extra
                .iter()
                .position(|a| a == "--tls-port")
                .and_then(|i| self.extra.get(i + 1))
                .and_then(|p| p.parse().ok())
                .unwrap_or(self.port)
        }

        /// Send `signal` (`STOP`, `CONT`) to the running server.
        pub(crate) fn signal(&self, signal: &str) {
            let pid = self.child.as_ref().expect("running").id();
            let ok = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .expect("kill(1)")
                .success();
            assert!(ok, "kill -{signal} {pid}");
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.kill();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Store down: issuer calls fail fast with a store error, verification keeps working from the
/// revocation list it holds, and everything works again once Redis is back.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_fast_and_recovers() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::revocation::RevocationList;
    use tidepass::store::RedisStore;
    use tidepass::{Issuer, Login, Minter, Verifier};

    let Some(mut server) = private_redis::Server::start(&[]) else {
        return;
    };
    let timeout = Duration::from_millis(500);
    let store = RedisStore::connect(&server.url(), "tp", timeout)
        .await
        .expect("connect");
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("k"),
        "iss",
        "aud",
    )
    .expect("m");
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
        .expect("v");
    let pair = issuer
        .login(Login::new("alice"))
        .await
        .expect("login while up");
    let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
    list.apply_at(issuer.revocation_changes(None).await.expect("changes"), now);

    server.kill();
    let started = Instant::now();
    let e = issuer
        .login(Login::new("bob"))
        .await
        .expect_err("store down");
    assert!(e.is_store(), "{e}");
    let e = issuer
        .refresh(pair.refresh.expose())
        .await
        .expect_err("store down");
    assert!(e.is_store(), "{e}");
    assert!(
        started.elapsed() < timeout * 8,
        "failed slowly: {:?}",
        started.elapsed()
    );
    verifier
        .verify(pair.access.as_str())
        .expect("verification needs no store");

    server.spawn().expect("restart on the same port");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match issuer.login(Login::new("carol")).await {
            Ok(_) => break,
            Err(e) if e.is_store() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("did not recover: {e}"),
        }
    }
    // The old server kept nothing on disk: alice's session is gone, and says so.
    let e = issuer
        .refresh(pair.refresh.expose())
        .await
        .expect_err("session lost with the data");
    assert_eq!(e.kind(), tidepass::ErrorKind::UnknownSession);
}

/// The conformance suite against a real 3-master Redis Cluster on loopback ports.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_conforms() {
    let _one = private_redis::CLUSTERS.lock().await;
    use tidepass::conformance;
    use tidepass::store::RedisStore;

    let Some((nodes, _, con)) = private_redis::cluster().await else {
        return;
    };
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(|| {
        let prefix = format!("c{}", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let con = con.clone();
        async move { RedisStore::with_connection(con, &prefix) }
    })
    .await;
    conformance::key_ring::run_all(|| {
        let prefix = format!("k{}", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let con = con.clone();
        async move { RedisStore::with_connection(con, &prefix) }
    })
    .await;
    redis_index::outlives_every_session(con, "cidx").await;
    drop(nodes);
}

/// Issue 10 §4: "log out everywhere" must find every session, whatever policy each login had.
#[cfg(feature = "redis")]
pub(crate) mod redis_index {
    use redis::aio::ConnectionLike;
    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::store::RedisStore;
    use tidepass::{Issuer, Login, Minter, Policy};

    /// A mobile login (a year), then a web login (two weeks) of the same user on one store:
    /// the subject's index must still live a year, and revoke-all must find both. (Before the
    /// fix, the second login cut the index's TTL to its own two weeks.)
    pub(crate) async fn outlives_every_session<C>(con: C, prefix: &str)
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
    {
        let store = RedisStore::with_connection(con.clone(), prefix);
        let issuer = |policy: Policy| {
            let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
            let minter = Minter::new(key, "iss", "aud").expect("minter");
            Issuer::builder(store.clone(), minter)
                .ephemeral_refresh_secrets()
                .policy(policy)
                .build()
                .expect("issuer")
        };
        let (mobile, web) = (issuer(Policy::mobile()), issuer(Policy::web()));
        mobile.login(Login::new("zoe")).await.expect("phone");
        web.login(Login::new("zoe")).await.expect("browser");
        let hex: String = "zoe".bytes().map(|b| format!("{b:02x}")).collect();
        let mut con = con;
        let ttl: i64 = redis::cmd("TTL")
            .arg(format!("{prefix}:u:{{{hex}}}"))
            .query_async(&mut con)
            .await
            .expect("ttl");
        assert!(
            ttl >= i64::try_from(Policy::mobile().absolute.as_secs()).expect("fits"),
            "the index lives {ttl} s, shorter than the phone's session"
        );
        assert_eq!(web.sessions("zoe", None).await.expect("list").len(), 2);
        assert_eq!(web.revoke_all("zoe").await.expect("revoke all"), 2);
    }
}

/// Redis with `appendfsync always`, killed with SIGKILL in the middle of a login / refresh /
/// logout load and restarted from its AOF: no acknowledged write is lost (the test counts).
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_aof_always_loses_no_acknowledged_write_on_kill_9() {
    use std::sync::Arc;
    use std::time::Duration;

    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::session::refresh::RefreshSecrets;
    use tidepass::store::RedisStore;
    use tidepass::{Issuer, Minter};

    let Some(mut server) =
        private_redis::Server::start(&["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    let store = RedisStore::connect(&server.url(), "tp", Duration::from_millis(500))
        .await
        .expect("connect");
    let minter =
        Minter::new(SigningKey::generate(Algorithm::EdDSA).expect("k"), "i", "a").expect("m");
    let issuer = Arc::new(
        Issuer::builder(store.clone(), minter)
            .refresh_secrets(RefreshSecrets::from_secret(1, &[5u8; 32]).expect("s"))
            .build()
            .expect("issuer"),
    );
    let (acked, load) = durability::spawn_load(issuer);
    durability::wait_for(&acked, 150).await;
    server.kill(); // SIGKILL, mid-load
    load.await.expect("load task ends on the first store error");
    server.spawn().expect("restart from the AOF");
    durability::check(&store, &acked).await;
}

/// Push: a verifier following the Redis revocation log refuses a logged-out session's token
/// within milliseconds, and keeps following after Redis restarts.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_pushes_revocations_to_verifiers_and_survives_a_restart() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tidepass::clock::SystemClock;
    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::revocation::RevocationList;
    use tidepass::store::{RedisStore, follow_revocations};
    use tidepass::{ErrorKind, Issuer, Login, Minter, Verifier};

    let Some(mut server) =
        private_redis::Server::start(&["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    let store = RedisStore::connect(&server.url(), "tp", Duration::from_millis(500))
        .await
        .expect("connect");
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("k"),
        "iss",
        "aud",
    )
    .expect("m");
    let keys = minter.keys().verifying_keys();
    let issuer = Issuer::builder(store.clone(), minter)
        .ephemeral_refresh_secrets()
        .build()
        .expect("issuer");
    let list = Arc::new(RevocationList::new());
    let verifier = Verifier::builder("iss", "aud", keys)
        .cache_capacity(0)
        .revocations(list.clone())
        .build()
        .expect("v");
    let follower = tokio::spawn(follow_revocations(
        redis::Client::open(server.url()).expect("client"),
        store.clone(),
        list.clone(),
        Arc::new(SystemClock),
        |_| {},
    ));
    let refused_within = |token: String| {
        let verifier = &verifier;
        async move {
            let t = Instant::now();
            loop {
                match verifier.verify(&token) {
                    Err(e) if e.kind() == ErrorKind::Revoked => return t.elapsed(),
                    _ if t.elapsed() > Duration::from_secs(5) => panic!("never refused"),
                    _ => tokio::time::sleep(Duration::from_millis(2)).await,
                }
            }
        }
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // subscribed
    let a = issuer.login(Login::new("alice")).await.expect("login");
    verifier.verify(a.access.as_str()).expect("valid");
    issuer.logout(a.session_id).await.expect("logout");
    let took = refused_within(a.access.as_str().to_owned()).await;
    assert!(took < Duration::from_millis(500), "push took {took:?}");

    // Restart Redis (from its AOF); the follower reconnects and catches up.
    server.kill();
    server.spawn().expect("restart");
    let deadline = Instant::now() + Duration::from_secs(10);
    let b = loop {
        match issuer.login(Login::new("bob")).await {
            Ok(p) => break p,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("no recovery: {e}"),
        }
    };
    verifier.verify(b.access.as_str()).expect("valid");
    issuer.logout(b.session_id).await.expect("logout");
    refused_within(b.access.as_str().to_owned()).await;
    follower.abort();
}

/// A private PostgreSQL cluster (initdb + postgres on a free loopback port), run as the
/// `postgres` user when the tests run as root, stopped by pid when dropped.
#[cfg(all(feature = "postgres", unix))]
pub(crate) mod private_pg {
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub(crate) struct Cluster {
        pub(crate) port: u16,
        dir: PathBuf,
        bin: PathBuf,
        child: Option<Child>,
        extra: Vec<String>,
    }

    fn bin_dir() -> Option<PathBuf> {
        let root = std::fs::read_dir("/usr/lib/postgresql").ok()?;
        let mut versions: Vec<PathBuf> = root
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        versions.pop().filter(|b| b.join("initdb").exists())
    }

    fn as_postgres(cmd: &str) -> Command {
        // Root may not run PostgreSQL: drop to the postgres user with setpriv, which execs (the
        // pid we kill is the server's own).
        if running_as_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(cmd);
            c
        } else {
            Command::new(cmd)
        }
    }

    pub(crate) fn running_as_root() -> bool {
        std::env::var("USER").is_ok_and(|u| u == "root")
            || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
    }

    impl Cluster {
        pub(crate) fn start() -> Option<Self> {
            Self::start_with(&[], None)
        }

        /// A cluster with extra server settings (`-c name=value` arguments) and, when given,
        /// this `pg_hba.conf`.
        pub(crate) fn start_with(extra: &[&str], hba: Option<&str>) -> Option<Self> {
            let Some(bin) = bin_dir() else {
                super::require_server(
                    "PostgreSQL binaries (initdb)",
                    &"not found under /usr/lib/postgresql",
                );
                return None;
            };
            let port = super::private_redis::free_port();
            let dir =
                std::env::temp_dir().join(format!("tidepass-pg-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            if running_as_root() {
                let ok = Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "chown the cluster dir to postgres");
            }
            let out = as_postgres(bin.join("initdb").to_str().expect("utf8"))
                .args(["-D"])
                .arg(dir.join("data"))
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
                .output()
                .expect("initdb");
            assert!(
                out.status.success(),
                "initdb: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if let Some(hba) = hba {
                std::fs::write(dir.join("data").join("pg_hba.conf"), hba).expect("pg_hba.conf");
            }
            let mut c = Self {
                port,
                dir,
                bin,
                child: None,
                extra: extra.iter().map(|a| a.to_string()).collect(),
            };
            c.spawn();
            Some(c)
        }

        pub(crate) fn spawn(&mut self) {
            let child = as_postgres(self.bin.join("postgres").to_str().expect("utf8"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-k",
                ])
                .arg(&self.dir)
                .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
                .args(&self.extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("postgres");
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let ok = Command::new(self.bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "postgres did not come up");
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        /// SIGKILL the postmaster (its children exit when it dies) and wait.
        pub(crate) fn kill(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
                // Let the orphaned backends notice the postmaster is gone.
                std::thread::sleep(Duration::from_millis(500));
            }
        }

        pub(crate) fn url(&self) -> String {
            format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            )
        }

        /// Over its Unix socket (no TCP, no TLS).
        pub(crate) fn socket_url(&self) -> String {
            format!(
                "host={} port={} user=postgres dbname=postgres",
                self.dir.display(),
                self.port
            )
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            self.kill();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// PostgreSQL killed with SIGKILL mid-load, restarted: no acknowledged rotation or logout is
/// lost; while it is down, calls fail fast with a store error.
#[cfg(all(feature = "postgres", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_9_loses_no_acknowledged_write_and_down_fails_fast() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::store::PgStore;
    use tidepass::{Issuer, Login, Minter};

    let Some(mut pg) = private_pg::Cluster::start() else {
        return;
    };
    let store = PgStore::connect(&pg.url(), 4, Duration::from_millis(800)).expect("pool");
    store.migrate().await.expect("migrate");
    let minter =
        Minter::new(SigningKey::generate(Algorithm::EdDSA).expect("k"), "i", "a").expect("m");
    let issuer = Arc::new(
        Issuer::builder(store.clone(), minter)
            .ephemeral_refresh_secrets()
            .build()
            .expect("issuer"),
    );
    let (acked, load) = durability::spawn_load(issuer.clone());
    durability::wait_for(&acked, 100).await;
    pg.kill();
    load.await.expect("the load stops at the first store error");

    // Down: fail fast with a store error.
    let t = Instant::now();
    let e = issuer.login(Login::new("x")).await.expect_err("down");
    assert!(e.is_store(), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );

    pg.spawn();
    durability::check(&store, &acked).await;
    issuer
        .login(Login::new("again"))
        .await
        .expect("works again once PostgreSQL is back");
}

/// Redis without persistence restarts empty: its revocation log starts over under a new epoch,
/// and a verifier following it resets instead of ignoring the "older" versions.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_follows_a_redis_log_that_lost_its_history() {
    use std::sync::Arc;
    use std::time::Duration;

    use tidepass::revocation::{Entry, RevocationList, Syncer, Target};
    use tidepass::store::{RedisStore, SessionStore};

    let Some(mut server) = private_redis::Server::start(&[]) else {
        return;
    };
    let store = RedisStore::connect(&server.url(), "tp", Duration::from_millis(500))
        .await
        .expect("connect");
    let e = |id| Entry {
        target: Target::Token,
        id,
        before: 0,
        expires: 4_000_000_000,
    };
    for id in 1..=5 {
        store.append_revocations(&[e(id)]).await.expect("append");
    }
    let list = Arc::new(RevocationList::new());
    let syncer = Syncer::new(list.clone());
    let fetch = |since| {
        let store = store.clone();
        async move { store.revocation_changes(since, 1_000).await?.encode() }
    };
    syncer.sync_once(1_000, fetch).await.expect("sync");
    assert_eq!(list.version(), 5);

    server.kill();
    server.spawn().expect("restart, empty");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.append_revocations(&[e(42)]).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "no reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    syncer.sync_once(1_000, fetch).await.expect("sync");
    assert_eq!(list.version(), 1, "started over with the new log");
    assert!(
        list.is_revoked(42, None, 0, 0, 1_000),
        "the new log's entry is on the list"
    );
}

/// The load both kill -9 tests run, and the check they make after the restart.
#[cfg(any(feature = "redis", feature = "postgres"))]
mod durability {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tidepass::store::SessionStore;
    use tidepass::{Issuer, Login, SessionId};

    /// sid -> (acknowledged generation, acknowledged logout)
    pub(crate) type Acked = Arc<Mutex<HashMap<SessionId, (u64, bool)>>>;

    /// Logins, refreshes and logouts until the first store error; each acknowledged write is
    /// recorded only after the issuer returned.
    pub(crate) fn spawn_load<S: SessionStore>(
        issuer: Arc<Issuer<S>>,
    ) -> (Acked, tokio::task::JoinHandle<()>) {
        let acked: Acked = Arc::default();
        let record = acked.clone();
        let task = tokio::spawn(async move {
            for i in 0u64.. {
                let Ok(mut pair) = issuer.login(Login::new(format!("u{}", i % 5))).await else {
                    return;
                };
                record
                    .lock()
                    .expect("lock")
                    .insert(pair.session_id, (1, false));
                for _ in 0..(i % 3) {
                    let Ok(next) = issuer.refresh(pair.refresh.expose()).await else {
                        return;
                    };
                    pair = next;
                    record
                        .lock()
                        .expect("lock")
                        .entry(pair.session_id)
                        .and_modify(|a| a.0 += 1);
                }
                if i % 4 == 0 {
                    if issuer.logout(pair.session_id).await.is_err() {
                        return;
                    }
                    record
                        .lock()
                        .expect("lock")
                        .entry(pair.session_id)
                        .and_modify(|a| a.1 = true);
                }
            }
        });
        (acked, task)
    }

    pub(crate) async fn wait_for(acked: &Acked, n: usize) {
        while acked.lock().expect("lock").len() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every acknowledged write is in the restarted store.
    pub(crate) async fn check<S: SessionStore>(store: &S, acked: &Acked) {
        let acked = acked.lock().expect("lock").clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        for (sid, (generation, logged_out)) in &acked {
            let s = loop {
                match store.load(*sid).await {
                    Ok(s) => break s,
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => panic!("no reconnect: {e}"),
                }
            };
            // The issuer's built-in cleanup deletes ended sessions: a logged-out one may be gone.
            let Some(s) = s else {
                assert!(logged_out, "acknowledged session {sid} lost");
                continue;
            };
            // One more rotation may have been committed without being acknowledged.
            assert!(
                s.generation == *generation || s.generation == generation + 1,
                "{sid}: {} vs {generation}",
                s.generation
            );
            if *logged_out {
                assert!(s.revoked.is_some(), "acknowledged logout of {sid} lost");
            }
        }
    }
}
