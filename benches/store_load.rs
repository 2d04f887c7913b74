//! Load run (not criterion: throughput and tail latency under concurrency): refreshes per
//! second and p50/p99 latency at concurrency 1 and 64, through the library with ES256 access
//! tokens, on Redis (a private server with `appendfsync everysec`) and PostgreSQL (the local
//! server, a fresh schema), beside floors measured in the same run: the store alone (the same
//! rotation called bare, no crypto; for PostgreSQL also a bare single-row UPDATE) and the crypto
//! alone (one ES256 signature + two HMAC-SHA256).
//!
//! `cargo bench --bench store_load` (needs redis-server and PostgreSQL on 127.0.0.1:5432)

#![allow(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tidepass::keys::{Algorithm, SigningKey};
use tidepass::store::{PgStore, RedisStore, SessionStore};
use tidepass::{Issuer, Login, Minter, Policy};

const RUN: Duration = Duration::from_secs(4);

#[path = "common/load.rs"]
mod common;
use common::{Stats, load as load_for, refresh_chains};

/// Run `tasks` workers; each gets its index and repeats `op` for RUN.
async fn load<F, Fut>(tasks: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    load_for(tasks, RUN, op).await
}

async fn through_library<S: SessionStore>(store: S, tasks: usize, name: &str) -> String {
    refresh_chains(store, Algorithm::ES256, Policy::mobile(), tasks, RUN)
        .await
        .line(name, tasks)
}

async fn store_alone<S: SessionStore + Clone>(store: S, tasks: usize, name: &str) -> String {
    // Sessions created through an issuer, then rotated bare: the store's work only.
    let minter = Minter::new(
        SigningKey::generate(Algorithm::ES256).expect("key"),
        "i",
        "a",
    )
    .expect("m");
    let issuer = Issuer::builder(store.clone(), minter)
        .ephemeral_refresh_secrets()
        .policy(Policy::mobile())
        .build()
        .expect("issuer");
    let mut sids = Vec::new();
    for i in 0..tasks {
        sids.push(
            issuer
                .login(Login::new(format!("bare{i}")))
                .await
                .expect("login")
                .session_id,
        );
    }
    let generations: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..tasks)
            .map(|_| std::sync::atomic::AtomicU64::new(1))
            .collect(),
    );
    let sids = Arc::new(sids);
    let p = Policy::mobile();
    let mut s = load(tasks, move |i| {
        let (store, sids, generations) = (store.clone(), sids.clone(), generations.clone());
        async move {
            let g = generations[i].load(std::sync::atomic::Ordering::Relaxed);
            let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
            let rules = p.rules(now, 1, 0);
            store.rotate(sids[i], g, rules).await.expect("rotate");
            generations[i].store(g + 1, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .await;
    s.line(name, tasks)
}

async fn crypto_alone(tasks: usize) -> String {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("gen");
    let pair = Arc::new(
        ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .expect("key"),
    );
    let hmac = Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7u8; 32]));
    let mut s = load(tasks, move |_| {
        let (pair, hmac) = (pair.clone(), hmac.clone());
        async move {
            let rng = ring::rand::SystemRandom::new();
            std::hint::black_box(pair.sign(&rng, &[b'x'; 330]).expect("sign"));
            std::hint::black_box(ring::hmac::sign(&hmac, &[1u8; 49]));
            std::hint::black_box(ring::hmac::sign(&hmac, &[2u8; 49]));
            tokio::task::yield_now().await;
        }
    })
    .await;
    s.line("floor: crypto alone (ES256 + 2 HMAC)", tasks)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        // A private Redis with appendfsync everysec.
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tidepass-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut redis = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
            ])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let url = format!("redis://127.0.0.1:{port}/0");
        let pg_url = "host=127.0.0.1 port=5432 user=postgres dbname=test";
        let (client, conn) = tokio_postgres::connect(pg_url, tokio_postgres::NoTls)
            .await
            .expect("postgres");
        tokio::spawn(conn);
        let schema = format!("tpload_{}", std::process::id());
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.bare (id int PRIMARY KEY, n bigint NOT NULL);
                 INSERT INTO {schema}.bare SELECT g, 0 FROM generate_series(0, 63) g;"
            ))
            .await
            .expect("schema");
        let pg = || {
            PgStore::connect(
                &format!("{pg_url} options='-c search_path={schema}'"),
                64,
                Duration::from_secs(5),
            )
            .expect("pool")
        };
        pg().migrate().await.expect("migrate");

        println!("| what | concurrency | ops/s | p50 | p99 |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        // STORE_LOAD=redis|postgres runs one backend's lines; STORE_LOAD_TASKS=64 one
        // concurrency (for profiling one case).
        let only = std::env::var("STORE_LOAD").unwrap_or_default();
        let want = |backend: &str| only.is_empty() || only == backend;
        let concurrencies: Vec<usize> = match std::env::var("STORE_LOAD_TASKS") {
            Ok(n) => vec![n.parse().expect("STORE_LOAD_TASKS")],
            Err(_) => vec![1, 64],
        };
        for tasks in concurrencies {
            if only.is_empty() {
                println!("{}", crypto_alone(tasks).await);
            }
            if want("redis") {
                let r = RedisStore::connect(&url, &format!("a{tasks}"), Duration::from_secs(5))
                    .await
                    .expect("redis");
                println!(
                    "{}",
                    store_alone(r, tasks, "floor: Redis rotation script alone (EVALSHA)").await
                );
                let r = RedisStore::connect(&url, &format!("b{tasks}"), Duration::from_secs(5))
                    .await
                    .expect("redis");
                println!(
                    "{}",
                    through_library(r, tasks, "tidepass refresh on Redis (everysec)").await
                );
            }
            if !want("postgres") {
                continue;
            }
            // A bare single-row UPDATE, the PostgreSQL floor: one connection per task, as the
            // store's pool gives each concurrent refresh its own.
            let upd = {
                let mut clients = Vec::new();
                let sql = format!("UPDATE {schema}.bare SET n = n + 1 WHERE id = $1");
                for _ in 0..tasks {
                    let (c, conn) = tokio_postgres::connect(pg_url, tokio_postgres::NoTls)
                        .await
                        .expect("pg");
                    tokio::spawn(conn);
                    let stmt = c.prepare(&sql).await.expect("prepare");
                    clients.push((c, stmt));
                }
                let clients = Arc::new(clients);
                let mut s = load(tasks, move |i| {
                    let c = clients.clone();
                    async move {
                        let id = i as i32;
                        c[i].0.execute(&c[i].1, &[&id]).await.expect("update");
                    }
                })
                .await;
                s.line("floor: bare single-row UPDATE (PostgreSQL)", tasks)
            };
            println!("{upd}");
            println!(
                "{}",
                store_alone(pg(), tasks, "floor: PostgreSQL rotation alone").await
            );
            println!(
                "{}",
                through_library(pg(), tasks, "tidepass refresh on PostgreSQL").await
            );
        }
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop");
        let _ = redis.kill();
        let _ = redis.wait();
        let _ = std::fs::remove_dir_all(&dir);
    });
}
