//! A duplicate-refresh storm: N clients present the same refresh token at once (a browser's
//! tabs, a retrying HTTP stack, background agents sharing one credential). Per store through
//! the library, and over HTTP through the release `auth_service` example (each HTTP client on
//! its own connection). For each round: a fresh login, N concurrent refreshes of its token,
//! every answer classified, then the child refreshed once more to prove the session lives.
//!
//! ```sh
//! cargo build --release --examples && cargo bench --bench storm
//! ```
//!
//! `STORM_ROUNDS` (default 100) rounds per line; `STORM_STORES=memory,redis` runs only those.
//! The policy is the example's (`Policy::web()`: 10 s grace, 64 replays per generation), so
//! past 65 duplicates the rest are refused with `Retry-After` (429) by design.

#![allow(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidepass::keys::{Algorithm, SigningKey};
use tidepass::store::{PgStore, RedbStore, RedisStore, SessionStore};
use tidepass::{ErrorKind, Issuer, Login, MemoryStore, Minter, Policy};

#[path = "common/service.rs"]
mod service;

#[path = "common/fleet.rs"]
mod fleet;
use fleet::{PgSchema, example, redis_server};

/// A refresh's answer: the child's refresh token, or a refusal (`true`: 429 with
/// `Retry-After`, the replay cap; `false`: anything else).
type Answer = Result<String, bool>;

/// What one storm's answers were.
#[derive(Default)]
struct Tally {
    lat: Vec<Duration>,
    /// 200 with the round's one child.
    identical: u64,
    /// 200 with some other refresh token (a second child: must never happen).
    other_child: u64,
    /// Refused with `Retry-After` (the replay cap), the session kept.
    retry_after: u64,
    /// Anything else (a revocation would show here).
    failed: u64,
    /// Rounds whose session did not survive the storm.
    revoked: u64,
    rounds: u64,
}

impl Tally {
    fn row(mut self, store: &str, how: &str, n: usize) -> String {
        self.lat.sort();
        let q = |p: f64| {
            self.lat
                .get(((self.lat.len() as f64 - 1.0) * p) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        let answers = self.lat.len().max(1) as f64;
        format!(
            "| {store} | {how} | {n} | {} | {:.0} µs | {:.0} µs | {:.1}% | {:.1}% | {} | {} | {} |",
            self.rounds,
            q(0.5),
            q(0.99),
            100.0 * self.identical as f64 / answers,
            100.0 * self.retry_after as f64 / answers,
            self.other_child,
            self.failed,
            self.revoked,
        )
    }

    /// Count the round's answers: `Some(child)` for a pair, `Err(true)` for a retry-after.
    fn count(&mut self, answers: Vec<(Duration, Answer)>) -> Option<String> {
        self.rounds += 1;
        let mut child: Option<String> = None;
        for (lat, answer) in answers {
            self.lat.push(lat);
            match answer {
                Ok(token) => match &child {
                    None => {
                        child = Some(token);
                        self.identical += 1;
                    }
                    Some(c) if *c == token => self.identical += 1,
                    Some(_) => self.other_child += 1,
                },
                Err(true) => self.retry_after += 1,
                Err(false) => self.failed += 1,
            }
        }
        child
    }
}

/// `rounds` storms: a fresh login (`login`), `n` tasks presenting its refresh token at once
/// (`refresh`, behind a barrier, each timed), the answers counted, then one refresh of the
/// child to see the session alive.
async fn storm<L, LF, R, RF>(n: usize, rounds: usize, login: L, refresh: R) -> Tally
where
    L: Fn() -> LF,
    LF: Future<Output = String>,
    R: Fn(usize, Arc<String>) -> RF + Send + Sync + 'static,
    RF: Future<Output = Answer> + Send + 'static,
{
    let refresh = Arc::new(refresh);
    let mut tally = Tally::default();
    for _ in 0..rounds {
        let token = Arc::new(login().await);
        let gate = Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (refresh, token, gate) = (refresh.clone(), token.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    let at = Instant::now();
                    let answer = refresh(i, token).await;
                    (at.elapsed(), answer)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("task"));
        }
        let alive = match tally.count(answers) {
            Some(child) => refresh(0, Arc::new(child)).await.is_ok(),
            None => false,
        };
        tally.revoked += u64::from(!alive);
    }
    tally
}

async fn library_storm<S: SessionStore>(store: S, n: usize, rounds: usize) -> Tally {
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    let issuer = Arc::new(
        Issuer::builder(store, minter)
            .ephemeral_refresh_secrets()
            .policy(Policy::web())
            .build()
            .expect("issuer"),
    );
    let login = || {
        let issuer = issuer.clone();
        async move {
            let pair = issuer.login(Login::new("storm")).await.expect("login");
            pair.refresh.expose().to_owned()
        }
    };
    let refresh = {
        let issuer = issuer.clone();
        move |_: usize, token: Arc<String>| {
            let issuer = issuer.clone();
            async move {
                match issuer.refresh(&token).await {
                    Ok(p) => Ok(p.refresh.expose().to_owned()),
                    Err(e) => Err(e.kind() == ErrorKind::GraceReplayLimit),
                }
            }
        }
    };
    storm(n, rounds, login, refresh).await
}

async fn http_storm(url: &str, n: usize, rounds: usize) -> Tally {
    // One client (one connection pool) per storming client, so the requests arrive together
    // on separate connections, as from separate tabs or devices.
    let clients: Arc<Vec<reqwest::Client>> = Arc::new(
        (0..n)
            .map(|_| {
                reqwest::Client::builder()
                    .user_agent("storm/1.0")
                    .build()
                    .expect("client")
            })
            .collect(),
    );
    let login = || {
        let (http, url) = (clients[0].clone(), url.to_owned());
        async move {
            let pair = fleet::login(&http, &url).await;
            pair["refresh_token"].as_str().expect("token").to_owned()
        }
    };
    let refresh = {
        let (clients, url) = (clients.clone(), url.to_owned());
        move |i: usize, token: Arc<String>| {
            let (http, url) = (clients[i].clone(), url.clone());
            async move {
                let r = http
                    .post(format!("{url}/token"))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                        Ok(v) => v["refresh_token"].as_str().map(str::to_owned).ok_or(false),
                        Err(_) => Err(false),
                    },
                    Ok(r) => Err(r.status() == 429 && r.headers().contains_key("retry-after")),
                    Err(_) => Err(false),
                }
            }
        }
    };
    storm(n, rounds, login, refresh).await
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rounds: usize = std::env::var("STORM_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let stores =
        std::env::var("STORM_STORES").unwrap_or_else(|_| "memory,redb,redis,postgres".into());
    let dir = std::env::temp_dir().join(format!("tidepass-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (redis, redis_url) = redis_server();
    let pg = PgSchema::create("tp_storm").await;
    let pg_url = pg.url.clone();
    let example = example("auth_service");

    println!(
        "| store | through | clients | rounds | p50 | p99 | identical child | 429 + Retry-After | other child | other refusal | sessions revoked |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for store in ["memory", "redb", "redis", "postgres"] {
        if !stores.split(',').any(|s| s == store) {
            continue;
        }
        for n in [8, 32, 128] {
            let data = dir.join(format!("{store}-{n}"));
            std::fs::create_dir_all(&data).expect("dir");
            let library = match store {
                "memory" => library_storm(MemoryStore::new(), n, rounds).await,
                "redb" => {
                    let s = RedbStore::open(data.join("lib.redb")).expect("redb");
                    library_storm(s, n, rounds).await
                }
                "redis" => {
                    let s = RedisStore::connect(&redis_url, "storm", Duration::from_secs(2))
                        .await
                        .expect("redis");
                    library_storm(s, n, rounds).await
                }
                _ => {
                    let s = PgStore::connect(&pg_url, 16, Duration::from_secs(2)).expect("pg");
                    s.migrate().await.expect("migrate");
                    library_storm(s, n, rounds).await
                }
            };
            println!("{}", library.row(store, "library", n));
            let store_url = match store {
                "memory" => "memory:".to_owned(),
                "redb" => format!("redb:{}", data.join("http.redb").display()),
                "redis" => redis_url.clone(),
                _ => pg_url.clone(),
            };
            let svc = service::start(
                &example,
                [
                    "--listen",
                    "127.0.0.1:0",
                    // One issuer whatever the port: the services share the store's key ring.
                    "--issuer",
                    "https://auth.bench.example",
                    "--data",
                    data.to_str().expect("utf8"),
                    "--store",
                    &store_url,
                    "--user",
                    "alice:s3cret",
                ],
            );
            let http = http_storm(&svc.url, n, rounds).await;
            println!("{}", http.row(store, "HTTP", n));
        }
    }
    drop(redis);
    pg.drop_schema().await;
    let _ = std::fs::remove_dir_all(&dir);
}
