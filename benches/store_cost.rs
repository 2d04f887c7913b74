//! What a refresh costs its store, over HTTP, with the risk policy on (the example's
//! `DefaultRisk`; every client sends a `User-Agent`, so the policy has something to compare):
//!
//! - refreshes per second of the release `auth_service` example on memory, Redis (a private
//!   server) and PostgreSQL (the local server), 32 clients each rotating its own chain, and
//!   Redis and PostgreSQL as a share of memory; with `STORE_COST_BASELINE=PATH` the same rows
//!   for an older build of the example in the same run (before and after);
//! - PostgreSQL's own CPU per refresh: the server's processes' CPU time over the run (every
//!   `postgres` process's, plus what the postmaster collected from backends that exited),
//!   divided by the refreshes; beside it, the same for a bare `UPDATE … RETURNING *` by primary
//!   key on a table of the sessions table's shape and indexes, by `pgbench -M prepared -c 32`;
//! - with `STORE_COST_SIMPLEJWT=PATH/bin/gunicorn` (a virtualenv with
//!   `benches/simplejwt/requirements.txt`), djangorestframework-simplejwt with rotation and
//!   its blacklist on the same PostgreSQL, in five gunicorn setups;
//! - 1 and 3 instances of the service on one store (Redis, PostgreSQL), the clients' requests
//!   spread over the instances in turn as a load balancer does.
//!
//! ```sh
//! cargo build --release --examples && STORE_COST_SECS=8 cargo bench --bench store_cost
//! ```
//!
//! Everything shares the machine's cores: the services, the stores and the load generator.

#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// Shared with the other load benches; this one uses the load loop only.
#[allow(dead_code)]
#[path = "common/load.rs"]
mod common;
use common::{Stats, load};

#[path = "common/service.rs"]
mod service;
use service::{Proc, free_port};

#[path = "common/fleet.rs"]
mod fleet;
use fleet::{PgSchema, example, redis_server};

const CLIENTS: usize = 32;

fn run_secs() -> Duration {
    Duration::from_secs(
        std::env::var("STORE_COST_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8),
    )
}

/// From `/proc/PID/stat` (the fields after the command's closing parenthesis): the parent's
/// pid, the process's own user + system ticks, and those of its reaped children.
fn stat(proc_dir: &std::path::Path) -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let f: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(1) // the state, a letter
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    Some((
        *f.first()?,
        f.get(10)? + f.get(11)?,
        f.get(12)? + f.get(13)?,
    ))
}

/// Ticks to seconds (CLK_TCK is 100 on Linux).
const TICK: f64 = 100.0;

/// CPU seconds process `pid` has used (user and system).
fn cpu_of(pid: u32) -> f64 {
    stat(std::path::Path::new(&format!("/proc/{pid}"))).map_or(0.0, |(_, own, _)| own as f64 / TICK)
}

/// CPU seconds the PostgreSQL server has used: every live `postgres` process's user and
/// system time, plus the postmaster's reaped children's (backends that have exited).
fn pg_cpu() -> f64 {
    let comm =
        |dir: &std::path::Path| std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let dir = entry.path();
        if comm(&dir).trim() != "postgres" {
            continue;
        }
        let Some((ppid, own, children)) = stat(&dir) else {
            continue;
        };
        ticks += own;
        let parent = std::path::Path::new("/proc").join(ppid.to_string());
        if comm(&parent).trim() != "postgres" {
            // The postmaster: what its exited backends used.
            ticks += children;
        }
    }
    ticks as f64 / TICK
}

/// Which service answers: tidepass's example, or the simplejwt peer (its own paths and fields).
#[derive(Clone, Copy, PartialEq)]
enum Peer {
    Tidepass,
    SimpleJwt,
}

/// `CLIENTS` chains refreshing over HTTP for the run, request k of client i going to
/// instance (i + k) mod n. Returns the stats and the count of non-200 answers.
async fn refreshes(urls: &[String]) -> (Stats, u64) {
    let (stats, bad, ()) = refreshes_counting(urls, || async {}).await;
    (stats, bad)
}

async fn refreshes_of(peer: Peer, urls: &[String]) -> (Stats, u64) {
    let (stats, bad, ()) = run_chains(peer, urls, || async {}).await;
    (stats, bad)
}

/// [`refreshes`], and what `mark` returns between the logins and the measured run.
async fn refreshes_counting<T, F: std::future::Future<Output = T>>(
    urls: &[String],
    mark: impl FnOnce() -> F,
) -> (Stats, u64, T) {
    run_chains(Peer::Tidepass, urls, mark).await
}

async fn run_chains<T, F: std::future::Future<Output = T>>(
    peer: Peer,
    urls: &[String],
    mark: impl FnOnce() -> F,
) -> (Stats, u64, T) {
    let field = match peer {
        Peer::Tidepass => "refresh_token",
        Peer::SimpleJwt => "refresh",
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .user_agent("bench-app/1.0 (load)")
        .build()
        .expect("client");
    let mut chains = Vec::new();
    for i in 0..CLIENTS {
        let url = &urls[i % urls.len()];
        let pair = match peer {
            Peer::Tidepass => fleet::login(&http, url).await,
            Peer::SimpleJwt => http
                .post(format!("{url}/token"))
                .json(&serde_json::json!({"username": "alice", "password": "s3cret"}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("pair"),
        };
        let token = pair[field].as_str().expect("token").to_owned();
        chains.push(tokio::sync::Mutex::new((token, i)));
    }
    let (chains, urls) = (Arc::new(chains), Arc::new(urls.to_vec()));
    let marked = mark().await;
    let bad = Arc::new(AtomicU64::new(0));
    let b = bad.clone();
    let stats = load(CLIENTS, run_secs(), move |i| {
        let (http, urls, chains, bad) = (http.clone(), urls.clone(), chains.clone(), b.clone());
        async move {
            let Some(chain) = chains.get(i) else { return };
            let mut chain = chain.lock().await;
            chain.1 += 1;
            let url = &urls[chain.1 % urls.len()];
            let r = match peer {
                Peer::Tidepass => http
                    .post(format!("{url}/token"))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", &chain.0)]),
                Peer::SimpleJwt => http
                    .post(format!("{url}/refresh"))
                    .json(&serde_json::json!({ "refresh": chain.0 })),
            }
            .send()
            .await;
            let token = match r {
                Ok(r) if r.status() == 200 => r.json::<serde_json::Value>().await.ok(),
                _ => None,
            };
            match token.as_ref().and_then(|v| v[field].as_str()) {
                Some(t) => chain.0 = t.to_owned(),
                None => {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await;
    (stats, bad.load(Ordering::Relaxed), marked)
}

fn start(bin: &std::path::Path, store: &str, data: &std::path::Path) -> Proc {
    std::fs::create_dir_all(data).expect("dir");
    service::start(
        bin,
        [
            "--listen",
            "127.0.0.1:0",
            // One issuer whatever the port: instances (and builds) share the store's key ring.
            "--issuer",
            "https://auth.bench.example",
            "--data",
            data.to_str().expect("utf8"),
            "--store",
            store,
            "--user",
            "alice:s3cret",
            "--access-ttl",
            "300",
        ],
    )
}

/// A table of the sessions table's shape, indexes and fill factor, with `rows` rows, in a
/// schema of its own; the pgbench script in which each client updates its own row by primary
/// key, returning it (as each HTTP client rotates its own session).
async fn bare_table(pg: &tokio_postgres::Client, rows: usize) -> std::path::PathBuf {
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS tp_bare CASCADE; CREATE SCHEMA tp_bare;
         CREATE TABLE tp_bare.s (
             sid bytea PRIMARY KEY, subject text NOT NULL, created_at bigint NOT NULL,
             generation bigint NOT NULL, secret_id smallint NOT NULL,
             rotated_at bigint NOT NULL, last_used_at bigint NOT NULL,
             grace_replays integer NOT NULL, idle_expires_at bigint NOT NULL,
             absolute_expires_at bigint NOT NULL, revoked_reason text, revoked_at bigint,
             ends_at bigint NOT NULL, body json NOT NULL, dpop_jkt bytea, risk_print bigint
         ) WITH (fillfactor = 80);
         CREATE INDEX ON tp_bare.s (subject, created_at);
         CREATE INDEX ON tp_bare.s (ends_at);
         INSERT INTO tp_bare.s SELECT int8send(i::bigint), 'alice', 1, 1, 1, 1, 1, 0, 99, 99, NULL,
             NULL, 99, json_build_object('sid', encode(int8send(i::bigint), 'base64'),
                 'subject', 'alice', 'scope', 'read write', 'claims', json_build_object(),
                 'context', json_build_object('user_agent', 'bench-app/1.0 (load)',
                     'ip', '127.0.0.1'), 'assurance', 1, 'auth_time', 1), NULL, 1
             FROM generate_series(1, {rows}) i;"
    ))
    .await
    .expect("bare table");
    pg.batch_execute("VACUUM ANALYZE tp_bare.s")
        .await
        .expect("vacuum");
    let script = std::env::temp_dir().join(format!("tp-bare-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "UPDATE tp_bare.s SET generation = generation + 1, secret_id = 1, \
         rotated_at = rotated_at + 1, last_used_at = last_used_at + 1, grace_replays = 0, \
         idle_expires_at = idle_expires_at + 1 \
         WHERE sid = int8send(:client_id + 1) RETURNING *;\n",
    )
    .expect("script");
    script
}

/// pgbench on the bare table: (transactions per second, PostgreSQL CPU µs per transaction).
fn pgbench(script: &std::path::Path) -> (f64, f64) {
    let cpu = pg_cpu();
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", "32", "-j", "2", "-T"])
        .arg(run_secs().as_secs().to_string())
        .args(["-h", "127.0.0.1", "-U", "postgres", "-f"])
        .arg(script)
        .arg("test")
        .output()
        .expect("pgbench");
    let cpu = pg_cpu() - cpu;
    let text = String::from_utf8_lossy(&out.stdout);
    let done: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|v| v.split('/').next()?.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "pgbench said:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (done / run_secs().as_secs_f64(), cpu * 1e6 / done)
}

/// djangorestframework-simplejwt (rotation and blacklist) on the same PostgreSQL, under
/// gunicorn from `gunicorn`'s virtualenv (`pip install -r benches/simplejwt/requirements.txt`),
/// in several worker setups; one row each.
async fn simplejwt(gunicorn: &std::path::Path, pg: &tokio_postgres::Client) {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/simplejwt");
    let schema = format!("tp_simplejwt_{}", std::process::id());
    let python = gunicorn.with_file_name("python");
    let setup = std::process::Command::new(&python)
        .arg("peer.py")
        .arg("setup")
        .current_dir(&here)
        .env("SJ_SCHEMA", &schema)
        .status()
        .expect("python");
    assert!(setup.success(), "simplejwt setup");
    for (name, args) in [
        ("2 sync workers", &["-w", "2"][..]),
        ("3 sync workers", &["-w", "3"][..]),
        ("5 sync workers", &["-w", "5"][..]),
        ("9 sync workers", &["-w", "9"][..]),
        ("3 workers x 8 threads", &["-w", "3", "--threads", "8"][..]),
    ] {
        let port = free_port();
        let mut server = std::process::Command::new(gunicorn)
            .args(["-b", &format!("127.0.0.1:{port}"), "-k"])
            .arg(if args.len() > 2 { "gthread" } else { "sync" })
            .args(args)
            .arg("peer:application")
            .current_dir(&here)
            .env("SJ_SCHEMA", &schema)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("gunicorn");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "gunicorn did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(1)); // its workers booting
        let cpu = pg_cpu();
        let (mut s, bad) =
            refreshes_of(Peer::SimpleJwt, &[format!("http://127.0.0.1:{port}")]).await;
        let cpu = pg_cpu() - cpu;
        // SIGTERM: the master stops its workers (SIGKILL would orphan them).
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status();
        let _ = server.wait();
        println!(
            "| simplejwt, {name} | postgres | {:.0} | {:.0} µs | {:.0} µs | {bad} | | | {:.0} µs |",
            s.rate(),
            s.quantile(0.5).as_secs_f64() * 1e6,
            s.quantile(0.99).as_secs_f64() * 1e6,
            cpu * 1e6 / s.ops.max(1) as f64,
        );
    }
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tidepass-store-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (redis, redis_url) = redis_server();
    let schema = PgSchema::create("tp_cost").await;
    let (pg, pg_url) = (&schema.client, schema.url.clone());
    let current = example("auth_service");
    let mut builds = vec![("this build", current.clone())];
    if let Some(old) = std::env::var_os("STORE_COST_BASELINE") {
        builds.push(("baseline", old.into()));
    }

    println!(
        "| build | store | refreshes/s | p50 | p99 | non-200 | ÷ memory | service CPU per refresh | store server CPU per refresh |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let only_instances = std::env::var("STORE_COST_ONLY").is_ok_and(|v| v == "instances");
    for (name, bin) in builds.iter().filter(|_| !only_instances) {
        let mut memory = 0.0;
        for store in ["memory", "redis", "postgres"] {
            let url = match store {
                "memory" => "memory:",
                "redis" => &redis_url,
                _ => &pg_url,
            };
            let svc = start(bin, url, &dir.join(format!("{name}-{store}")));
            let server = || match store {
                "redis" => cpu_of(redis.child.id()),
                "postgres" => pg_cpu(),
                _ => 0.0,
            };
            let (cpu, svc_cpu) = (server(), cpu_of(svc.child.id()));
            let (mut s, bad) = refreshes(std::slice::from_ref(&svc.url)).await;
            let (cpu, svc_cpu) = (server() - cpu, cpu_of(svc.child.id()) - svc_cpu);
            drop(svc);
            if store == "memory" {
                memory = s.rate();
            }
            let ops = s.ops as f64;
            let per = |cpu: f64| format!("{:.0} µs", cpu * 1e6 / ops);
            let store_cpu = if store == "memory" {
                String::new()
            } else {
                per(cpu)
            };
            println!(
                "| {name} | {store} | {:.0} | {:.0} µs | {:.0} µs | {bad} | {:.0}% | {} | {store_cpu} |",
                s.rate(),
                s.quantile(0.5).as_secs_f64() * 1e6,
                s.quantile(0.99).as_secs_f64() * 1e6,
                100.0 * s.rate() / memory,
                per(svc_cpu),
            );
        }
    }

    if !only_instances {
        bare_and_peer(pg).await;
    }
    instances(pg, &current, &redis, &redis_url, &pg_url, &dir).await;
    drop(redis);
    schema.drop_schema().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bare `UPDATE`'s row, and simplejwt's when asked for.
async fn bare_and_peer(pg: &tokio_postgres::Client) {
    let script = bare_table(pg, CLIENTS).await;
    let (tps, us) = pgbench(&script);
    println!(
        "| bare UPDATE … RETURNING * (pgbench -M prepared -c 32) | postgres | {tps:.0} | | | | | | {us:.0} µs |"
    );
    pg.batch_execute("DROP SCHEMA tp_bare CASCADE")
        .await
        .expect("drop");
    let _ = std::fs::remove_file(script);

    if let Some(gunicorn) = std::env::var_os("STORE_COST_SIMPLEJWT") {
        simplejwt(std::path::Path::new(&gunicorn), pg).await;
    }
}

/// 1 and 3 instances of the example on one store (Redis, PostgreSQL).
async fn instances(
    pg: &tokio_postgres::Client,
    current: &std::path::Path,
    redis: &Proc,
    redis_url: &str,
    pg_url: &str,
    dir: &std::path::Path,
) {
    println!();
    println!(
        "| store | instances | refreshes/s | p50 | p99 | non-200 | ÷ one instance | services' CPU per refresh | store server CPU per refresh | PostgreSQL transactions per refresh |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    // Committed transactions in the database, as the server counts them (a backend reports
    // its counts when it exits, at the latest).
    let commits = || async {
        pg.query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .expect("pg_stat_database")
        .get::<_, i64>(0) as f64
    };
    for (store, url) in [("redis", redis_url), ("postgres", pg_url)] {
        let mut one = 0.0;
        for n in [1, 3] {
            let services: Vec<Proc> = (0..n)
                .map(|i| start(current, url, &dir.join(format!("{store}-{n}-{i}"))))
                .collect();
            let urls: Vec<String> = services.iter().map(|s| s.url.clone()).collect();
            let server = || match store {
                "redis" => cpu_of(redis.child.id()),
                _ => pg_cpu(),
            };
            let services_cpu = || services.iter().map(|p| cpu_of(p.child.id())).sum::<f64>();
            let (cpu, svc_cpu) = (server(), services_cpu());
            // The logins commit too: counted from after them.
            let (mut s, bad, before) = refreshes_counting(&urls, commits).await;
            let (cpu, svc_cpu) = (server() - cpu, services_cpu() - svc_cpu);
            drop(services);
            let ops = s.ops as f64;
            let xacts = if store == "postgres" {
                tokio::time::sleep(Duration::from_secs(2)).await;
                // Less one: the statistics query's own transaction.
                format!("{:.2}", (commits().await - before - 1.0) / ops)
            } else {
                String::new()
            };
            if n == 1 {
                one = s.rate();
            }
            println!(
                "| {store} | {n} | {:.0} | {:.0} µs | {:.0} µs | {bad} | {:.0}% | {:.0} µs | {:.0} µs | {xacts} |",
                s.rate(),
                s.quantile(0.5).as_secs_f64() * 1e6,
                s.quantile(0.99).as_secs_f64() * 1e6,
                100.0 * s.rate() / one,
                svc_cpu * 1e6 / ops,
                cpu * 1e6 / ops,
            );
        }
    }
}
