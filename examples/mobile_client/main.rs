//! A device. Load mode (the default) logs in, then calls the API from many concurrent tasks
//! across several access-token lifetimes and prints how many refreshes happened (one per
//! lifetime) and how many calls failed (none). `--refresh-once` restores the session saved in
//! `--state FILE` (or logs in, with `--dpop` bound to a new ES256 key), refreshes once, calls
//! `/me` and exits; `--crash-at before-send|after-send|after-answer|after-save` stops there
//! and waits for the kill -9 of `tests/it/http_e2e.rs`.
//!
//! ```sh
//! cargo run --example auth_service -- --user alice:s3cret --access-ttl 5
//! cargo run --example microservice -- --auth http://127.0.0.1:8080
//! cargo run --example mobile_client --features client-http -- --auth http://127.0.0.1:8080 \
//!     --api http://127.0.0.1:8081 --user alice:s3cret --seconds 20
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use http::Request;
use tidepass::client::{
    BoxError, ClientError, Credentials, DpopKey, FileStorage, HttpClient, HyperClient, Keeper,
    TokenEndpoint,
};

mod hooks;
use hooks::{Crash, Hooked};

/// `GET {api}/me` with the keeper's headers: the status.
async fn me(keeper: &Keeper<TokenEndpoint<Hooked>, Hooked>, api: &str) -> Result<u16, BoxError> {
    let url = format!("{api}/me");
    let access = keeper.access_token().await?;
    let (authorization, proof) = keeper.resource_headers("GET", &url, &access, None)?;
    let mut get = Request::get(&url).header("authorization", authorization);
    if let Some(p) = proof {
        get = get.header("dpop", p);
    }
    let http = keeper.transport().http();
    Ok(http.0.send(get.body(Vec::new())?).await?.status().as_u16())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Flags: --auth URL --api URL --user NAME:PASSWORD --seconds N --tasks N --state FILE
    // --crash-at POINT, and --refresh-once and --dpop without a value.
    let (mut flags, mut args) = (std::collections::HashMap::new(), std::env::args().skip(1));
    while let Some(flag) = args.next() {
        let switch = flag == "--refresh-once" || flag == "--dpop";
        let value = if switch {
            Some(String::new())
        } else {
            args.next()
        };
        flags.insert(flag.clone(), value.ok_or(format!("{flag} needs a value"))?);
    }
    let flag = |name: &str, default: &str| flags.get(name).cloned().unwrap_or(default.into());
    let (auth, api, once) = (
        flag("--auth", ""),
        flag("--api", ""),
        flags.contains_key("--refresh-once"),
    );
    let crash = Crash(flags.get("--crash-at").cloned(), Arc::default());
    let own = std::env::temp_dir().join(format!("tidepass-mobile-{}.json", std::process::id()));
    let storage = FileStorage::new(flag("--state", &own.display().to_string()));
    let hooked = Hooked(
        HyperClient::new()?.timeout(Duration::from_secs(5)),
        storage,
        crash.clone(),
    );
    let endpoint = TokenEndpoint::new(hooked.clone(), format!("{auth}/token"));
    let restored = match once {
        true => Keeper::restore(endpoint.clone(), hooked.clone(), endpoint.url()).await?,
        false => None,
    };
    let keeper = Arc::new(match restored {
        Some(keeper) => {
            println!("RESTORED");
            keeper
        }
        None => {
            let user = flag("--user", "alice:s3cret");
            let (name, password) = user.split_once(':').ok_or("--user NAME:PASSWORD")?;
            let body = serde_json::json!({ "username": name, "password": password, "device": "mobile_client" });
            let url = format!("{auth}/login");
            let login = Credentials::Login {
                url: &url,
                body: &body,
            };
            let key = match flags.contains_key("--dpop") {
                true => Some(DpopKey::generate(tidepass::keys::Algorithm::ES256)?),
                false => None,
            };
            let keeper = Keeper::log_in(endpoint, hooked.clone(), login, key).await?;
            println!("LOGGED-IN");
            keeper
        }
    });
    if once {
        crash.1.store(true, Relaxed);
        if let Err(ClientError::LoginRequired) = keeper.refresh_now().await {
            println!("LOGIN-REQUIRED");
            std::process::exit(3);
        }
        println!("REFRESHED");
        if !api.is_empty() {
            println!("ME {}", me(&keeper, &api).await?);
        }
        return Ok(());
    }
    let (seconds, tasks): (u64, usize) = (
        flag("--seconds", "15").parse()?,
        flag("--tasks", "32").parse()?,
    );
    let (until, counts) = (
        Instant::now() + Duration::from_secs(seconds),
        Arc::new([0, 0].map(AtomicU64::new)),
    );
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (keeper, api, counts) = (keeper.clone(), api.clone(), counts.clone());
        workers.spawn(async move {
            while Instant::now() < until {
                let failed = !me(&keeper, &api).await.is_ok_and(|s| s == 200);
                counts[0].fetch_add(1, Relaxed);
                counts[1].fetch_add(u64::from(failed), Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    workers.join_all().await;
    keeper.clear().await?;
    let [calls, failures] = [0, 1].map(|i| counts[i].load(Relaxed));
    let refreshes = keeper.refreshes();
    println!(
        "calls: {calls} failures: {failures} refreshes: {refreshes} ({tasks} tasks, {seconds} s)"
    );
    Ok(())
}
