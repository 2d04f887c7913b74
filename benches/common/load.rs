//! Shared by the load benches: run workers for a fixed time and report throughput and
//! latency quantiles.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct Stats {
    pub(crate) ops: u64,
    pub(crate) secs: f64,
    pub(crate) lat: Vec<Duration>,
}

impl Stats {
    /// Operations per second.
    pub(crate) fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// The `p` quantile of the latencies (sorts them).
    pub(crate) fn quantile(&mut self, p: f64) -> Duration {
        self.lat.sort();
        self.lat
            .get(((self.lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn line(&mut self, name: &str, concurrency: usize) -> String {
        format!(
            "| {name} | {concurrency} | {:.0} | {:.0} µs | {:.0} µs |",
            self.rate(),
            self.quantile(0.50).as_secs_f64() * 1e6,
            self.quantile(0.99).as_secs_f64() * 1e6
        )
    }
}

/// Run `tasks` workers for `run`; each gets its index and repeats `op`.
pub(crate) async fn load<F, Fut>(tasks: usize, run: Duration, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while start.elapsed() < run {
                    let t = Instant::now();
                    op(i).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.expect("worker"));
    }
    Stats {
        ops: lat.len() as u64,
        secs: start.elapsed().as_secs_f64(),
        lat,
    }
}

/// `tasks` users logged in on one issuer over `store` (keys of `alg`, sessions under
/// `policy`), then each worker rotates its own user's refresh chain for `run`: the library's
/// refresh loop, with no HTTP in between.
pub(crate) async fn refresh_chains<S: tidepass::store::SessionStore>(
    store: S,
    alg: tidepass::keys::Algorithm,
    policy: tidepass::Policy,
    tasks: usize,
    run: Duration,
) -> Stats {
    let minter = tidepass::Minter::new(
        tidepass::keys::SigningKey::generate(alg).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    let issuer = Arc::new(
        tidepass::Issuer::builder(store, minter)
            .ephemeral_refresh_secrets()
            .policy(policy)
            .build()
            .expect("issuer"),
    );
    let mut chains = Vec::new();
    for i in 0..tasks {
        let pair = issuer
            .login(tidepass::Login::new(format!("user{i}")))
            .await
            .expect("login");
        chains.push(tokio::sync::Mutex::new(pair.refresh.expose().to_owned()));
    }
    let chains = Arc::new(chains);
    load(tasks, run, move |i| {
        let (issuer, chains) = (issuer.clone(), chains.clone());
        async move {
            let Some(chain) = chains.get(i) else { return };
            let mut token = chain.lock().await;
            let pair = issuer.refresh(&token).await.expect("refresh");
            *token = pair.refresh.expose().to_owned();
        }
    })
    .await
}
