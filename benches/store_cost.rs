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

const CLIENTS: usize = 32;

fn run_secs() -> Duration {
    Duration::from_secs(
        std::env::var("STORE_COST_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8),
    )
}

/// CPU seconds the PostgreSQL server has used: every live `postgres` process's user and
/// system time, plus the postmaster's reaped children's (backends that have exited).
fn pg_cpu() -> f64 {
    let tick = 100.0; // CLK_TCK on Linux
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim() != "postgres" {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: state is field 3, utime 14.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let (ppid, utime, stime, cutime, cstime) = (f[0], f[10], f[11], f[12], f[13]);
        ticks += utime + stime;
        if ppid == 1
            || std::fs::read_to_string(format!("/proc/{ppid}/comm"))
                .is_ok_and(|c| c.trim() != "postgres")
        {
            // The postmaster: what its exited children used.
            ticks += cutime + cstime;
        }
    }
    ticks as f64 / tick
}

/// `CLIENTS` chains refreshing over HTTP for the run, request k of client i going to
/// instance (i + k) mod n. Returns the stats and the count of non-200 answers.
async fn refreshes(urls: &[String]) -> (Stats, u64) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .user_agent("bench-app/1.0 (load)")
        .build()
        .expect("client");
    let mut chains = Vec::new();
    for i in 0..CLIENTS {
        let url = &urls[i % urls.len()];
        let pair: serde_json::Value = http
            .post(format!("{url}/login"))
            .json(&serde_json::json!({"username": "alice", "password": "s3cret"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("pair");
        let token = pair["refresh_token"].as_str().expect("token").to_owned();
        chains.push(tokio::sync::Mutex::new((token, i)));
    }
    let (chains, urls) = (Arc::new(chains), Arc::new(urls.to_vec()));
    let bad = Arc::new(AtomicU64::new(0));
    let b = bad.clone();
    let stats = load(CLIENTS, run_secs(), move |i| {
        let (http, urls, chains, bad) = (http.clone(), urls.clone(), chains.clone(), b.clone());
        async move {
            let Some(chain) = chains.get(i) else { return };
            let mut chain = chain.lock().await;
            chain.1 += 1;
            let url = &urls[chain.1 % urls.len()];
            let r = http
                .post(format!("{url}/token"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &chain.0)])
                .send()
                .await;
            let token = match r {
                Ok(r) if r.status() == 200 => r.json::<serde_json::Value>().await.ok(),
                _ => None,
            };
            match token.as_ref().and_then(|v| v["refresh_token"].as_str()) {
                Some(t) => chain.0 = t.to_owned(),
                None => {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await;
    (stats, bad.load(Ordering::Relaxed))
}

fn start(bin: &std::path::Path, store: &str, data: &std::path::Path) -> Proc {
    std::fs::create_dir_all(data).expect("dir");
    service::start(
        bin,
        [
            "--listen",
            "127.0.0.1:0",
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
/// schema of its own; the pgbench script that updates one row by primary key, returning it.
async fn bare_table(pg: &tokio_postgres::Client, rows: u32) -> std::path::PathBuf {
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
         INSERT INTO tp_bare.s SELECT int8send(i), 'alice', 1, 1, 1, 1, 1, 0, 99, 99, NULL,
             NULL, 99, json_build_object('sid', encode(int8send(i), 'base64'),
                 'subject', 'alice', 'scope', 'read write', 'claims', json_build_object(),
                 'context', json_build_object('user_agent', 'bench-app/1.0 (load)',
                     'ip', '127.0.0.1'), 'assurance', 1, 'auth_time', 1), NULL, 1
             FROM generate_series(1, {rows}) i;
         VACUUM ANALYZE tp_bare.s;"
    ))
    .await
    .expect("bare table");
    let script = std::env::temp_dir().join(format!("tp-bare-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "\\set id random(1, {rows})\n\
             UPDATE tp_bare.s SET generation = generation + 1, secret_id = 1, \
             rotated_at = rotated_at + 1, last_used_at = last_used_at + 1, grace_replays = 0, \
             idle_expires_at = idle_expires_at + 1 WHERE sid = int8send(:id::bigint) RETURNING *;\n"
        ),
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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tidepass-store-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let redis_port = free_port();
    let redis = Proc {
        url: String::new(),
        child: std::process::Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server"),
    };
    std::thread::sleep(Duration::from_millis(300));
    let redis_url = format!("redis://127.0.0.1:{redis_port}/0");
    let pg_url = "postgres://postgres@127.0.0.1:5432/test".to_owned();
    let current = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/release/examples/auth_service");
    let mut builds = vec![("this build", current.clone())];
    if let Some(old) = std::env::var_os("STORE_COST_BASELINE") {
        builds.push(("baseline", old.into()));
    }

    println!(
        "| build | store | refreshes/s | p50 | p99 | non-200 | ÷ memory | PostgreSQL CPU per refresh |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, bin) in &builds {
        let mut memory = 0.0;
        for store in ["memory", "redis", "postgres"] {
            let url = match store {
                "memory" => "memory:",
                "redis" => &redis_url,
                _ => &pg_url,
            };
            let svc = start(bin, url, &dir.join(format!("{name}-{store}")));
            let cpu = pg_cpu();
            let (mut s, bad) = refreshes(std::slice::from_ref(&svc.url)).await;
            let cpu = pg_cpu() - cpu;
            drop(svc);
            if store == "memory" {
                memory = s.rate();
            }
            let pg = if store == "postgres" {
                format!("{:.0} µs", cpu * 1e6 / s.ops as f64)
            } else {
                String::new()
            };
            println!(
                "| {name} | {store} | {:.0} | {:.0} µs | {:.0} µs | {bad} | {:.0}% | {pg} |",
                s.rate(),
                s.quantile(0.5).as_secs_f64() * 1e6,
                s.quantile(0.99).as_secs_f64() * 1e6,
                100.0 * s.rate() / memory,
            );
        }
    }

    let (pg, conn) = tokio_postgres::connect(&pg_url, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(conn);
    let script = bare_table(&pg, 100_000).await;
    let (tps, us) = pgbench(&script);
    println!(
        "| bare UPDATE … RETURNING * (pgbench -M prepared -c 32) | postgres | {tps:.0} | | | | | {us:.0} µs |"
    );
    pg.batch_execute("DROP SCHEMA tp_bare CASCADE")
        .await
        .expect("drop");
    let _ = std::fs::remove_file(script);

    println!();
    println!("| store | instances | refreshes/s | p50 | p99 | non-200 | ÷ one instance |");
    println!("|---|---|---|---|---|---|---|");
    for (store, url) in [("redis", &redis_url), ("postgres", &pg_url)] {
        let mut one = 0.0;
        for n in [1, 3] {
            let services: Vec<Proc> = (0..n)
                .map(|i| start(&current, url, &dir.join(format!("{store}-{n}-{i}"))))
                .collect();
            let urls: Vec<String> = services.iter().map(|s| s.url.clone()).collect();
            let (mut s, bad) = refreshes(&urls).await;
            drop(services);
            if n == 1 {
                one = s.rate();
            }
            println!(
                "| {store} | {n} | {:.0} | {:.0} µs | {:.0} µs | {bad} | {:.0}% |",
                s.rate(),
                s.quantile(0.5).as_secs_f64() * 1e6,
                s.quantile(0.99).as_secs_f64() * 1e6,
                100.0 * s.rate() / one,
            );
        }
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
