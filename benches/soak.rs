//! Long runs against the example auth service over HTTP (not criterion, and not in
//! `cargo test`): their results go into RELIABILITY.md.
//!
//! - `soak`: mixed load (login, verified calls, refresh, logout) on a private Redis for
//!   `SOAK_SECS` (1800 by default); every 30 s it prints the auth service's resident memory and
//!   Redis's `used_memory` and key count, and at the end every request that did not answer as
//!   it should.
//! - `crash`: the service on redb under refresh load, killed with -9 mid-load; the redb file is
//!   then opened directly and every acknowledged rotation must be in it, and after a restart
//!   every client's last token must refresh.
//!
//! ```sh
//! cargo build --release --example auth_service
//! SOAK_SECS=1800 cargo bench --bench soak            # both; `-- crash` or `-- soak` for one
//! ```

#![allow(missing_docs)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidepass::SessionId;
use tidepass::store::{RedbStore, SessionStore};

const USERS: usize = 20;
const CLIENTS: usize = 16;

#[path = "common/service.rs"]
mod service;
use service::{Proc, free_port};

fn auth_service() -> std::path::PathBuf {
    std::env::var_os("AUTH_SERVICE").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/release/examples/auth_service")
        },
        Into::into,
    )
}

fn user_args() -> Vec<String> {
    (0..USERS)
        .flat_map(|i| ["--user".to_owned(), format!("u{i}:pw{i}")])
        .collect()
}

/// Start the service and wait for its "listening on URL" line.
fn start(data: &std::path::Path, store: &str) -> Proc {
    let mut args: Vec<std::ffi::OsString> = ["--listen", "127.0.0.1:0", "--data"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(data.into());
    for a in ["--store", store, "--access-ttl", "60"] {
        args.push(a.into());
    }
    args.extend(user_args().into_iter().map(Into::into));
    service::start(&auth_service(), args)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(serde::Deserialize)]
struct Pair {
    access_token: String,
    refresh_token: String,
    session_id: String,
}

async fn login(http: &reqwest::Client, url: &str, i: usize) -> reqwest::Result<reqwest::Response> {
    let u = i % USERS;
    http.post(format!("{url}/login"))
        .json(&serde_json::json!({"username": format!("u{u}"), "password": format!("pw{u}"), "device": "soak"}))
        .send()
        .await
}

async fn refresh(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{url}/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    bad: Mutex<HashMap<String, u64>>,
}

impl Tally {
    fn bad(&self, what: String) {
        *self.bad.lock().expect("lock").entry(what).or_default() += 1;
    }
}

async fn soak(secs: u64) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("tidepass-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    std::thread::sleep(Duration::from_millis(300));
    let service = start(&dir, &format!("redis://127.0.0.1:{port}/0"));
    let url = service.url.clone();
    let http = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, tally, stop) = (http.clone(), url.clone(), tally.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                i += CLIENTS;
                let r = match login(&http, &url, i).await {
                    Ok(r) if r.status() == 200 => r,
                    Ok(r) => {
                        tally.bad(format!("login {}", r.status()));
                        continue;
                    }
                    Err(e) => {
                        tally.bad(format!("login {e}"));
                        continue;
                    }
                };
                let mut pair: Pair = r.json().await.expect("pair");
                tally.ok.fetch_add(1, Ordering::Relaxed);
                for _ in 0..5 {
                    for _ in 0..2 {
                        match http
                            .get(format!("{url}/sessions"))
                            .bearer_auth(&pair.access_token)
                            .send()
                            .await
                        {
                            Ok(r) if r.status() == 200 => {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(r) => tally.bad(format!("sessions {}", r.status())),
                            Err(e) => tally.bad(format!("sessions {e}")),
                        }
                    }
                    match refresh(&http, &url, &pair.refresh_token).await {
                        Ok(r) if r.status() == 200 => {
                            pair = r.json().await.expect("pair");
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => tally.bad(format!("refresh {}", r.status())),
                        Err(e) => tally.bad(format!("refresh {e}")),
                    }
                }
                match http
                    .post(format!("{url}/logout"))
                    .bearer_auth(&pair.access_token)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 204 => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => tally.bad(format!("logout {}", r.status())),
                    Err(e) => tally.bad(format!("logout {e}")),
                }
                // A logged-out session's access token is refused at once.
                match http
                    .get(format!("{url}/sessions"))
                    .bearer_auth(&pair.access_token)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 401 => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => tally.bad(format!("after logout {}", r.status())),
                    Err(e) => tally.bad(format!("after logout {e}")),
                }
            }
        }));
    }
    let redis_client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).expect("client");
    let mut admin = redis_client
        .get_multiplexed_async_connection()
        .await
        .expect("admin");
    let started = Instant::now();
    println!("soak: {CLIENTS} clients for {secs} s against {url} (redis on {port})");
    println!(
        "{:>6} {:>12} {:>12} {:>14} {:>10}",
        "t (s)", "requests", "service RSS", "redis memory", "redis keys"
    );
    loop {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut admin)
            .await
            .expect("info");
        let used: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let keys: u64 = redis::cmd("DBSIZE")
            .query_async(&mut admin)
            .await
            .expect("dbsize");
        println!(
            "{:>6} {:>12} {:>9} KiB {:>10} KiB {:>10}",
            started.elapsed().as_secs(),
            tally.ok.load(Ordering::Relaxed),
            rss_kib(service.child.id()),
            used / 1024,
            keys
        );
        if started.elapsed() >= Duration::from_secs(secs) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(30).min(Duration::from_secs(secs))).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("client");
    }
    let bad = tally.bad.lock().expect("lock");
    println!(
        "soak: {} requests as expected; unexpected answers: {:?}",
        tally.ok.load(Ordering::Relaxed),
        *bad
    );
    drop(service);
    let _ = redis.kill();
    let _ = redis.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn crash() {
    let dir = std::env::temp_dir().join(format!("tidepass-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("sessions.redb");
    let store = format!("redb:{}", db.display());
    let mut service = start(&dir, &store);
    let url = service.url.clone();
    let http = reqwest::Client::new();
    // sid -> (last acknowledged refresh token, generations acknowledged after the login's)
    let acked: Arc<Mutex<HashMap<String, (String, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, acked, stop) = (http.clone(), url.clone(), acked.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(r) = login(&http, &url, c).await else {
                return;
            };
            let pair: Pair = r.json().await.expect("pair");
            let sid = pair.session_id.clone();
            let mut token = pair.refresh_token;
            acked
                .lock()
                .expect("lock")
                .insert(sid.clone(), (token.clone(), 0));
            while !stop.load(Ordering::Relaxed) {
                let Ok(r) = refresh(&http, &url, &token).await else {
                    return;
                };
                if r.status() != 200 {
                    return;
                }
                let Ok(next) = r.json::<Pair>().await else {
                    return;
                };
                if next.refresh_token != token {
                    token = next.refresh_token;
                    let mut a = acked.lock().expect("lock");
                    let e = a.get_mut(&sid).expect("logged in");
                    *e = (token.clone(), e.1 + 1);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // kill -9 mid-load; the clients' requests in flight fail.
    let _ = service.child.kill();
    let _ = service.child.wait();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    let total: u64 = acked.values().map(|a| a.1).sum();
    let opened = RedbStore::open(&db).expect("open the redb file after the kill");
    let mut lost = 0;
    let mut first_gen = HashMap::new();
    for (sid, (_, n)) in &acked {
        let id: SessionId = sid.parse().expect("sid");
        let s = opened
            .load(id)
            .await
            .expect("load")
            .expect("the session is there");
        // A login is generation 1; n acknowledged rotations later it is 1 + n (or one more:
        // a rotation committed whose answer the kill cut off).
        if s.generation < 1 + n {
            lost += 1 + n - s.generation;
        }
        first_gen.insert(sid.clone(), s.generation);
    }
    drop(opened);
    println!(
        "crash: {} sessions, {total} acknowledged rotations before kill -9, {lost} missing from the redb file",
        acked.len()
    );
    service = start(&dir, &store);
    let mut refused = 0;
    for (token, _) in acked.values() {
        match refresh(&http, &service.url, token).await {
            Ok(r) if r.status() == 200 => {}
            _ => refused += 1,
        }
    }
    println!(
        "crash: after the restart, {refused} of {} clients refused",
        acked.len()
    );
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    if run("crash") {
        crash().await;
    }
    if run("soak") {
        let secs = std::env::var("SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1800);
        soak(secs).await;
    }
}
