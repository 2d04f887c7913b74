//! A device. Two modes:
//!
//! - load (the default): logs in, then calls the API from many concurrent tasks across several
//!   access-token lifetimes, refreshing silently. Prints how many refreshes happened (one per
//!   lifetime, however many calls hit the expiry) and how many calls failed (none).
//! - `--refresh-once`: restores the session saved in `--state FILE` (or logs in and saves
//!   it), refreshes once, calls the API's `/me`, and exits. With `--dpop` the login binds the
//!   session to a new ES256 key (RFC 9449), saved with the tokens. `--crash-at POINT` stops
//!   the refresh at `before-send`, `after-send` (the server has answered, so it rotated, but
//!   the answer is not read), `after-answer` (read, not saved) or `after-save`, prints
//!   `CRASH-POINT POINT` and waits to be killed: the kill -9 tests of `tests/it/http_e2e.rs`
//!   restart it there.
//!
//! ```sh
//! cargo run --example auth_service -- --user alice:s3cret --access-ttl 5
//! cargo run --example microservice -- --auth http://127.0.0.1:8080
//! cargo run --example mobile_client -- --auth http://127.0.0.1:8080 \
//!     --api http://127.0.0.1:8081 --user alice:s3cret --seconds 20
//! cargo run --example mobile_client -- --auth http://127.0.0.1:8080 \
//!     --api http://127.0.0.1:8081 --refresh-once --dpop --state /tmp/session.json
//! ```

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidepass::client::{
    ClientError, DpopKey, FileStorage, Keeper, Refresh, Refreshed, Saved, Storage, StorageError,
    Tokens, Transport, TransportError,
};
use tidepass::keys::Algorithm;

/// Where to stop and wait for the kill (armed once the session is set up).
#[derive(Clone)]
struct Crash {
    at: Option<String>,
    armed: Arc<AtomicBool>,
}

impl Crash {
    async fn point(&self, name: &str) {
        if self.armed.load(Ordering::SeqCst) && self.at.as_deref() == Some(name) {
            println!("CRASH-POINT {name}");
            let _ = std::io::stdout().flush();
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
    }
}

struct Http {
    client: reqwest::Client,
    token_url: String,
    crash: Crash,
}

fn tokens(v: &Value) -> Option<Tokens> {
    Some(Tokens {
        access_token: v["access_token"].as_str()?.to_owned(),
        refresh_token: v["refresh_token"].as_str()?.to_owned(),
        expires_in: v["expires_in"].as_u64()?,
    })
}

fn date(r: &reqwest::Response) -> Option<u64> {
    let d = r.headers().get("date")?.to_str().ok()?;
    let t = httpdate::parse_http_date(d).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

impl Transport for Http {
    async fn refresh(&self, request: Refresh<'_>) -> Result<Refreshed, TransportError> {
        let lost = |e: reqwest::Error| TransportError::Unavailable(e.to_string());
        self.crash.point("before-send").await;
        let mut post = self.client.post(&self.token_url).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", request.refresh_token),
        ]);
        if let Some(proof) = request.dpop_proof {
            post = post.header("DPoP", proof);
        }
        let r = post.send().await.map_err(lost)?;
        // The server has answered: it rotated. The answer is not read yet.
        self.crash.point("after-send").await;
        let (status, server_date) = (r.status(), date(&r));
        let nonce = r
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = r.json().await.map_err(lost)?;
        match (status.as_u16(), body["error"].as_str()) {
            (200, _) => tokens(&body)
                .map(|tokens| Refreshed {
                    tokens,
                    server_date,
                })
                .ok_or_else(|| TransportError::Unavailable("bad token response".into())),
            (400, Some("invalid_grant")) => Err(TransportError::InvalidGrant),
            (400, Some("use_dpop_nonce")) => {
                Err(TransportError::UseDpopNonce(nonce.unwrap_or_default()))
            }
            (400, Some("invalid_dpop_proof")) => Err(TransportError::InvalidDpopProof(server_date)),
            (s, _) => Err(TransportError::Unavailable(format!("HTTP {s}"))),
        }
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// The file storage, with the crash points around a save.
struct Hooked {
    file: FileStorage,
    crash: Crash,
}

impl Storage for Hooked {
    async fn load(&self) -> Result<Option<Saved>, StorageError> {
        self.file.load().await
    }
    async fn save(&self, saved: &Saved) -> Result<(), StorageError> {
        self.crash.point("after-answer").await;
        self.file.save(saved).await?;
        self.crash.point("after-save").await;
        Ok(())
    }
    async fn clear(&self) -> Result<(), StorageError> {
        self.file.clear().await
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: mobile_client --auth URL --api URL [--user NAME:PASSWORD] [--seconds N] [--tasks N]\n\
         \x20      mobile_client --auth URL [--api URL] --refresh-once --state FILE [--dpop] \
         [--crash-at before-send|after-send|after-answer|after-save]"
    );
    std::process::exit(2)
}

struct Options {
    auth: String,
    api: Option<String>,
    user: String,
    seconds: u64,
    tasks: usize,
    once: bool,
    state: Option<String>,
    dpop: bool,
    crash_at: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        auth: String::new(),
        api: None,
        user: "alice:s3cret".into(),
        seconds: 15,
        tasks: 32,
        once: false,
        state: None,
        dpop: false,
        crash_at: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--auth" => o.auth = value(),
            "--api" => o.api = Some(value()),
            "--user" => o.user = value(),
            "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| usage()),
            "--tasks" => o.tasks = value().parse().unwrap_or_else(|_| usage()),
            "--refresh-once" => o.once = true,
            "--state" => o.state = Some(value()),
            "--dpop" => o.dpop = true,
            "--crash-at" => o.crash_at = Some(value()),
            _ => usage(),
        }
    }
    if o.auth.is_empty() || (!o.once && o.api.is_none()) || (o.once && o.state.is_none()) {
        usage();
    }
    o
}

/// POST /login, with a DPoP proof by `key` when there is one.
async fn login(
    client: &reqwest::Client,
    o: &Options,
    key: Option<&DpopKey>,
) -> Result<Tokens, Box<dyn std::error::Error>> {
    let (name, password) = o.user.split_once(':').unwrap_or_else(|| usage());
    let url = format!("{}/login", o.auth);
    let mut post = client.post(&url).json(
        &serde_json::json!({ "username": name, "password": password, "device": "mobile_client" }),
    );
    if let Some(key) = key {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        post = post.header("DPoP", key.proof_at("POST", &url, None, None, now)?);
    }
    let login: Value = post.send().await?.error_for_status()?.json().await?;
    Ok(tokens(&login).ok_or("login answer without tokens")?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let crash = Crash {
        at: o.crash_at.clone(),
        armed: Arc::new(AtomicBool::new(false)),
    };
    let http = Http {
        client: client.clone(),
        token_url: format!("{}/token", o.auth),
        crash: crash.clone(),
    };
    if o.once {
        return refresh_once(o, client, http, crash).await;
    }
    let first = login(&client, &o, None).await?;
    let lifetime = first.expires_in;
    let keeper = Arc::new(Keeper::new(http, first));
    let (calls, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let until = Instant::now() + Duration::from_secs(o.seconds);
    let api = o.api.clone().unwrap_or_default();
    let workers: Vec<_> = (0..o.tasks)
        .map(|_| {
            let (keeper, client, api, calls, failures) = (
                keeper.clone(),
                client.clone(),
                api.clone(),
                calls.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < until {
                    let ok = match keeper.access_token().await {
                        Ok(token) => client
                            .get(format!("{api}/me"))
                            .bearer_auth(token)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success()),
                        Err(_) => false,
                    };
                    calls.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    println!(
        "calls: {} failures: {} refreshes: {} (access-token lifetime {lifetime} s over {} s, {} concurrent tasks)",
        calls.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        keeper.refreshes(),
        o.seconds,
        o.tasks,
    );
    Ok(())
}

/// Restore or log in, refresh once, call `/me`. Exit code 3: log in again.
async fn refresh_once(
    o: Options,
    client: reqwest::Client,
    http: Http,
    crash: Crash,
) -> Result<(), Box<dyn std::error::Error>> {
    let storage = Hooked {
        file: FileStorage::new(o.state.as_deref().unwrap_or_default()),
        crash: crash.clone(),
    };
    let token_url = http.token_url.clone();
    let keeper = match Keeper::restore(http, storage, &token_url).await? {
        Some(k) => {
            println!("RESTORED");
            k
        }
        None => {
            let key = if o.dpop {
                Some(DpopKey::generate(Algorithm::ES256)?)
            } else {
                None
            };
            let first = login(&client, &o, key.as_ref()).await?;
            let http = Http {
                client: client.clone(),
                token_url: token_url.clone(),
                crash: crash.clone(),
            };
            let mut keeper = Keeper::new(http, first);
            if let Some(key) = key {
                keeper = keeper.with_dpop(key, token_url.clone());
            }
            let storage = Hooked {
                file: FileStorage::new(o.state.as_deref().unwrap_or_default()),
                crash: crash.clone(),
            };
            println!("LOGGED-IN");
            keeper.with_storage(storage).saved().await?
        }
    };
    crash.armed.store(true, Ordering::SeqCst);
    let access = match keeper.refresh_now().await {
        Ok(a) => a,
        Err(ClientError::LoginRequired) => {
            println!("LOGIN-REQUIRED");
            std::process::exit(3);
        }
        Err(e) => return Err(e.into()),
    };
    println!("REFRESHED");
    if let Some(api) = &o.api {
        let url = format!("{api}/me");
        let (authorization, proof) = keeper.resource_headers("GET", &url, &access, None)?;
        let mut get = client.get(&url).header("authorization", authorization);
        if let Some(p) = proof {
            get = get.header("DPoP", p);
        }
        println!("ME {}", get.send().await?.status().as_u16());
    }
    Ok(())
}
