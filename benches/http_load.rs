//! End to end over HTTP (not criterion: throughput and tail latency under concurrency): the
//! example `auth_service` (release build) on memory, redb, Redis (a private server) and
//! PostgreSQL (the local server, database `test`), with every request a real rotation of the
//! client's own chain, beside the same refresh loop through the library in this process on
//! the same kind of store; `/login` (argon2); and the `microservice`'s verified `/me` with one
//! repeated token and with a fresh token per request. The load generator shares the machine's
//! cores with the servers. Any answer other than 200 is counted and printed.
//!
//! ```sh
//! cargo build --release --examples
//! LOAD_SECS=10 cargo bench --bench http_load
//! ```
//!
//! `LOAD_STORES=memory,redis` runs only those stores; `LOAD_REFRESH_ONLY=1` skips `/login` and
//! `/me`; `LOAD_PERF=DIR` records the auth service (and `redis-server` on Redis) with `perf
//! record -g` during each 32-client HTTP run, into `DIR/<store>.perf.data` (and
//! `DIR/<store>-redis.perf.data`), and the microservice during the `/me` runs
//! (`DIR/me-repeated.perf.data`, `DIR/me-fresh.perf.data`): `benches/perf_categories.py` sorts the samples into the HTTP
//! stack, JSON, signature, store client, tidepass, allocator and kernel.

#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tidepass::keys::Algorithm;
use tidepass::store::{PgStore, RedbStore, RedisStore, SessionStore};
use tidepass::{MemoryStore, Policy};

#[path = "common/load.rs"]
mod common;
use common::{Stats, load, refresh_chains};

#[path = "common/service.rs"]
mod service;
use service::Proc;

#[path = "common/fleet.rs"]
mod fleet;
use fleet::{PgSchema, example, redis_server};

fn start(name: &str, args: &[&str]) -> Proc {
    service::start(&example(name), args)
}

fn run_secs() -> Duration {
    Duration::from_secs(
        std::env::var("LOAD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    )
}

#[derive(serde::Deserialize)]
struct Pair {
    access_token: String,
    refresh_token: String,
}

/// `perf record -g` of process `pid` into `dir/<name>.perf.data`, until [`perf_stop`].
fn perf_record(dir: &std::path::Path, name: &str, pid: u32) -> std::process::Child {
    std::fs::create_dir_all(dir).expect("perf dir");
    std::process::Command::new("perf")
        .args([
            "record",
            "-F",
            "999",
            "-g",
            "-q",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(dir.join(format!("{name}.perf.data")))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("perf (Debian: linux-perf)")
}

/// Stop a recording as Ctrl-C does, so perf writes its file out.
fn perf_stop(mut p: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &p.id().to_string()])
        .status();
    let _ = p.wait();
}

async fn login(http: &reqwest::Client, url: &str) -> Pair {
    serde_json::from_value(fleet::login(http, url).await).expect("pair")
}

/// `clients` chains refreshing over HTTP for the run; every refresh a rotation of its own
/// chain. Returns the stats and the count of non-200 answers.
async fn http_refreshes(url: &str, clients: usize) -> (Stats, u64) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let mut chains = Vec::new();
    for _ in 0..clients {
        chains.push(tokio::sync::Mutex::new(
            login(&http, url).await.refresh_token,
        ));
    }
    let chains = Arc::new(chains);
    let bad = Arc::new(AtomicU64::new(0));
    let (url, b) = (url.to_owned(), bad.clone());
    let stats = load(clients, run_secs(), move |i| {
        let (http, url, chains, bad) = (http.clone(), url.clone(), chains.clone(), b.clone());
        async move {
            let Some(chain) = chains.get(i) else { return };
            let mut token = chain.lock().await;
            let r = http
                .post(format!("{url}/token"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => match r.json::<Pair>().await {
                    Ok(p) => *token = p.refresh_token,
                    Err(_) => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                },
                _ => {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await;
    (stats, bad.load(Ordering::Relaxed))
}

/// The same loop through the library in this process (Ed25519 tokens, the example's policy).
async fn library_refreshes<S: SessionStore>(store: S, clients: usize) -> Stats {
    refresh_chains(store, Algorithm::EdDSA, Policy::web(), clients, run_secs()).await
}

fn row(store: &str, clients: usize, http: &mut Stats, bad: u64, library: &Stats) -> String {
    format!(
        "| {store} | {clients} | {:.0} | {:.0} µs | {:.0} µs | {bad} | {:.0} | {:.0}% |",
        http.rate(),
        http.quantile(0.50).as_secs_f64() * 1e6,
        http.quantile(0.99).as_secs_f64() * 1e6,
        library.rate(),
        100.0 * http.rate() / library.rate()
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tidepass-http-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // Stopped when dropped, also when the bench panics.
    let (redis, redis_url) = redis_server();
    let pg = PgSchema::create("tp_http_load").await;
    let pg_url = pg.url.clone();

    println!(
        "| store | clients | HTTP refreshes/s | p50 | p99 | non-200 | library refreshes/s | HTTP / library |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let stores =
        std::env::var("LOAD_STORES").unwrap_or_else(|_| "memory,redb,redis,postgres".into());
    let perf_dir = std::env::var_os("LOAD_PERF").map(std::path::PathBuf::from);
    for store in ["memory", "redb", "redis", "postgres"] {
        if !stores.split(',').any(|s| s == store) {
            continue;
        }
        for clients in [1, 32] {
            let data = dir.join(format!("{store}-{clients}"));
            std::fs::create_dir_all(&data).expect("dir");
            let data_s = data.to_str().expect("utf8").to_owned();
            let redb_path = format!("redb:{}", data.join("http.redb").display());
            let store_url = match store {
                "memory" => "memory:".to_owned(),
                "redb" => redb_path,
                "redis" => redis_url.clone(),
                _ => pg_url.clone(),
            };
            let (mut http, bad) = {
                let svc = start(
                    "auth_service",
                    &[
                        "--listen",
                        "127.0.0.1:0",
                        // One issuer whatever the port: each run's services share the store's
                        // key ring (a ring belongs to one issuer).
                        "--issuer",
                        "https://auth.bench.example",
                        "--data",
                        &data_s,
                        "--store",
                        &store_url,
                        "--user",
                        "alice:s3cret",
                        "--access-ttl",
                        "300",
                    ],
                );
                let mut perf = Vec::new();
                if let Some(dir) = perf_dir.as_ref().filter(|_| clients == 32) {
                    perf.push(perf_record(dir, store, svc.child.id()));
                    if store == "redis" {
                        perf.push(perf_record(dir, "redis-server", redis.child.id()));
                    }
                }
                let result = http_refreshes(&svc.url, clients).await;
                for p in perf {
                    perf_stop(p);
                }
                result
            };
            let library = match store {
                "memory" => library_refreshes(MemoryStore::new(), clients).await,
                "redb" => {
                    let s = RedbStore::open(data.join("library.redb")).expect("redb");
                    library_refreshes(s, clients).await
                }
                "redis" => {
                    let s = RedisStore::connect(&redis_url, "lib", Duration::from_secs(2))
                        .await
                        .expect("redis");
                    library_refreshes(s, clients).await
                }
                _ => {
                    let s = PgStore::connect(&pg_url, 16, Duration::from_secs(2)).expect("pg");
                    s.migrate().await.expect("migrate");
                    library_refreshes(s, clients).await
                }
            };
            println!("{}", row(store, clients, &mut http, bad, &library));
        }
    }

    pg.drop_schema().await;
    if std::env::var_os("LOAD_REFRESH_ONLY").is_some() {
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    // Logins (argon2 per request) and the microservice's verified requests.
    let data = dir.join("verify");
    std::fs::create_dir_all(&data).expect("dir");
    let data_s = data.to_str().expect("utf8").to_owned();
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            &data_s,
            "--store",
            "memory:",
            "--user",
            "alice:s3cret",
            "--access-ttl",
            "3600",
        ],
    );
    let api = start(
        "microservice",
        &["--auth", &auth.url, "--listen", "127.0.0.1:0"],
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .expect("client");
    println!();
    println!("| request | clients | per second | p50 | p99 | non-200 |");
    println!("|---|---|---|---|---|---|");
    let bad = Arc::new(AtomicU64::new(0));
    let count = |bad: &Arc<AtomicU64>, ok: bool| {
        if !ok {
            bad.fetch_add(1, Ordering::Relaxed);
        }
    };
    {
        let (h, u, b) = (http.clone(), auth.url.clone(), bad.clone());
        let mut s = load(32, run_secs(), move |_| {
            let (h, u, b) = (h.clone(), u.clone(), b.clone());
            async move {
                let r = h
                    .post(format!("{u}/login"))
                    .json(&serde_json::json!({"username": "alice", "password": "s3cret"}))
                    .send()
                    .await;
                count(&b, r.is_ok_and(|r| r.status() == 200));
            }
        })
        .await;
        println!(
            "{} {} |",
            s.line("/login (argon2)", 32),
            bad.swap(0, Ordering::Relaxed)
        );
    }
    let repeated = login(&http, &auth.url).await.access_token;
    let me_perf = |name: &str| {
        perf_dir
            .as_ref()
            .map(|dir| perf_record(dir, name, api.child.id()))
    };
    {
        let perf = me_perf("me-repeated");
        let (h, u, b) = (http.clone(), api.url.clone(), bad.clone());
        let mut s = load(32, run_secs(), move |_| {
            let (h, u, b, t) = (h.clone(), u.clone(), b.clone(), repeated.clone());
            async move {
                let r = h.get(format!("{u}/me")).bearer_auth(t).send().await;
                count(&b, r.is_ok_and(|r| r.status() == 200));
            }
        })
        .await;
        if let Some(p) = perf {
            perf_stop(p);
        }
        println!(
            "{} {} |",
            s.line("/me, one repeated token", 32),
            bad.swap(0, Ordering::Relaxed)
        );
    }
    // Fresh tokens, one per request: minted beforehand by 32 chains refreshing for a few
    // seconds, then spent until none is left (every /me a cache miss and a signature check).
    let minted = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let mut chains = Vec::new();
        for _ in 0..32 {
            chains.push(tokio::sync::Mutex::new(
                login(&http, &auth.url).await.refresh_token,
            ));
        }
        let (chains, h, u, m) = (
            Arc::new(chains),
            http.clone(),
            auth.url.clone(),
            minted.clone(),
        );
        load(32, Duration::from_secs(4), move |i| {
            let (chains, h, u, m) = (chains.clone(), h.clone(), u.clone(), m.clone());
            async move {
                let Some(chain) = chains.get(i) else { return };
                let mut rt = chain.lock().await;
                let r = h
                    .post(format!("{u}/token"))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
                    .send()
                    .await;
                if let Ok(p) = match r {
                    Ok(r) => r.json::<Pair>().await,
                    Err(e) => Err(e),
                } {
                    *rt = p.refresh_token;
                    m.lock().expect("lock").push(p.access_token);
                }
            }
        })
        .await;
    }
    let fresh: Arc<Vec<String>> = Arc::new(std::mem::take(&mut *minted.lock().expect("lock")));
    let next = Arc::new(AtomicUsize::new(0));
    let perf = me_perf("me-fresh");
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (h, u, b, fresh, next) = (
                http.clone(),
                api.url.clone(),
                bad.clone(),
                fresh.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while let Some(t) = fresh.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let at = std::time::Instant::now();
                    let r = h.get(format!("{u}/me")).bearer_auth(t).send().await;
                    count(&b, r.is_ok_and(|r| r.status() == 200));
                    lat.push(at.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.expect("worker"));
    }
    let mut s = Stats {
        ops: lat.len() as u64,
        secs: started.elapsed().as_secs_f64(),
        lat,
    };
    if let Some(p) = perf {
        perf_stop(p);
    }
    println!(
        "{} {} |",
        s.line(
            &format!("/me, a fresh token each ({} tokens)", fresh.len()),
            32
        ),
        bad.swap(0, Ordering::Relaxed)
    );
    drop(api);
    drop(auth);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
