//! A device: logs in, then calls the API from many concurrent tasks across several
//! access-token lifetimes, refreshing silently. Prints how many refreshes happened (one per
//! lifetime, however many calls hit the expiry) and how many calls failed (none).
//!
//! ```sh
//! cargo run --example auth_service -- --user alice:s3cret --access-ttl 5
//! cargo run --example microservice -- --auth http://127.0.0.1:8080
//! cargo run --example mobile_client -- --auth http://127.0.0.1:8080 \
//!     --api http://127.0.0.1:8081 --user alice:s3cret --seconds 20
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidepass::client::{Keeper, Tokens, Transport, TransportError};

struct Http {
    client: reqwest::Client,
    token_url: String,
}

fn tokens(v: &Value) -> Option<Tokens> {
    Some(Tokens {
        access_token: v["access_token"].as_str()?.to_owned(),
        refresh_token: v["refresh_token"].as_str()?.to_owned(),
        expires_in: v["expires_in"].as_u64()?,
    })
}

impl Transport for Http {
    async fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        let lost = |e: reqwest::Error| TransportError::Unavailable(e.to_string());
        let r = self
            .client
            .post(&self.token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .map_err(lost)?;
        let status = r.status();
        let body: Value = r.json().await.map_err(lost)?;
        match status.as_u16() {
            200 => tokens(&body)
                .ok_or_else(|| TransportError::Unavailable("bad token response".into())),
            400 if body["error"] == "invalid_grant" => Err(TransportError::InvalidGrant),
            s => Err(TransportError::Unavailable(format!("HTTP {s}"))),
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: mobile_client --auth URL --api URL [--user NAME:PASSWORD] [--seconds N] [--tasks N]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut auth, mut api, mut user, mut seconds, mut tasks) =
        (None, None, "alice:s3cret".to_owned(), 15u64, 32usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--auth" => auth = Some(value()),
            "--api" => api = Some(value()),
            "--user" => user = value(),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            "--tasks" => tasks = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (auth, api) = (
        auth.unwrap_or_else(|| usage()),
        api.unwrap_or_else(|| usage()),
    );
    let (name, password) = user.split_once(':').unwrap_or_else(|| usage());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let login: Value = client
        .post(format!("{auth}/login"))
        .json(&serde_json::json!({ "username": name, "password": password, "device": "mobile_client" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let first = tokens(&login).ok_or("login answer without tokens")?;
    let lifetime = first.expires_in;
    let keeper = Arc::new(Keeper::new(
        Http {
            client: client.clone(),
            token_url: format!("{auth}/token"),
        },
        first,
    ));
    let (calls, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..tasks)
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
        "calls: {} failures: {} refreshes: {} (access-token lifetime {lifetime} s over {seconds} s, {tasks} concurrent tasks)",
        calls.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        keeper.refreshes()
    );
    Ok(())
}
