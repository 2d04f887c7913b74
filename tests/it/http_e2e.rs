//! End to end over real HTTP on loopback: the auth_service and microservice examples, started
//! as processes on ephemeral ports, driven by an HTTP client.
//!
//! (Over 600 lines: a catalogue of end-to-end stories sharing the process helpers that start
//! the examples; each test reads alone.)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An example binary built by `cargo test` (examples are compiled with the tests).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --all-features`",
        path.display()
    );
    path
}

use crate::common::Proc;

mod status;

/// Start an example and wait for its "listening on URL" line.
fn start(name: &str, args: &[&str]) -> Proc {
    start_with(name, args, &[])
}

/// [`start`] with environment variables (a KEK).
fn start_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut example = Command::new(example(name));
    example.args(args).stderr(Stdio::null());
    for (k, v) in env {
        example.env(k, v);
    }
    Proc::listening(example)
}

/// The KEK the instances of one deployment share (base64url of 32 bytes), and another one.
const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const OTHER_KEK: &str = "HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4";
const NEW_KEK: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

/// Several instances of one auth service on a shared store, each with its own empty data
/// directory as containers have: what they must agree on (one JWKS), what a restart on an
/// empty disk keeps (keys, sessions), and the refusals without the right KEK.
async fn instances_share_one_key_ring(store: &str) -> (Proc, Proc) {
    let args = |data: &str| -> Vec<String> {
        [
            "--listen",
            "127.0.0.1:0",
            "--data",
            data,
            "--store",
            store,
            "--user",
            "alice:s3cret",
            "--issuer",
            "http://tidepass.local",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let instance = |kek: Option<&str>| {
        let data = data_dir();
        let a = args(data.to_str().expect("utf8"));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        match kek {
            Some(k) => Ok(start_with("auth_service", &a, &[("TIDEPASS_KEK", k)])),
            None => Err(Command::new(example("auth_service"))
                .args(&a)
                .env_remove("TIDEPASS_KEK")
                .output()
                .expect("run")),
        }
    };
    let Ok(a) = instance(Some(KEK)) else {
        unreachable!()
    };
    let Ok(b) = instance(Some(KEK)) else {
        unreachable!()
    };
    let http = reqwest::Client::new();
    let jwks = |url: String| {
        let http = http.clone();
        async move { jwks_of(&http, &url).await }
    };
    let published = jwks(a.url.clone()).await;
    assert_eq!(
        published,
        jwks(b.url.clone()).await,
        "one JWKS for every instance"
    );
    // A session from A refreshes on B, then on C: a third instance restarted on an empty disk.
    let pair: Value = login(&http, &a.url, "").await.json().await.expect("json");
    let next: Value = refresh(&http, &b.url, pair["refresh_token"].as_str().expect("rt"))
        .await
        .json()
        .await
        .expect("json");
    let Ok(c) = instance(Some(KEK)) else {
        unreachable!()
    };
    assert_eq!(
        jwks(c.url.clone()).await,
        published,
        "the JWKS unchanged after a restart"
    );
    let r = refresh(&http, &c.url, next["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(
        r.status(),
        200,
        "nobody logged out by a restart on an empty disk"
    );
    let next: Value = r.json().await.expect("json");
    // 24 concurrent refreshes of one token spread over the three instances: one child.
    let rt = next["refresh_token"].as_str().expect("rt").to_owned();
    let mut racing = Vec::new();
    for i in 0..24 {
        let url = [&a.url, &b.url, &c.url][i % 3].clone();
        let (http, rt) = (http.clone(), rt.clone());
        racing.push(tokio::spawn(async move {
            let r = refresh(&http, &url, &rt).await;
            (r.status(), r.json::<Value>().await.ok())
        }));
    }
    let mut children = Vec::new();
    for t in racing {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, 200, "{body:?}");
        children.push(body.expect("json")["refresh_token"].clone());
    }
    children.dedup();
    assert_eq!(children.len(), 1, "one child across every instance");
    drop(c);
    // A rolling kill -9 and restart of both, each on an empty disk: the session lives on.
    drop(a);
    let Ok(a) = instance(Some(KEK)) else {
        unreachable!()
    };
    drop(b);
    let Ok(b) = instance(Some(KEK)) else {
        unreachable!()
    };
    assert_eq!(jwks(a.url.clone()).await, published);
    assert_eq!(jwks(b.url.clone()).await, published);
    let child = children[0].as_str().expect("rt");
    let r = refresh(&http, &b.url, child).await;
    assert_eq!(r.status(), 200, "nobody logged out by a rolling restart");
    // A KEK rotation, no downtime: A on the old KEK that also opens the new one, the re-seal
    // (the operator's CLI), B on the new KEK that also opens the old one, then A on the new
    // one alone; the session refreshes at every step and the JWKS never changes.
    let mut rt = r.json::<Value>().await.expect("json")["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    let both = |primary: &str, also: &str| {
        let data = data_dir();
        let a = args(data.to_str().expect("utf8"));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        start_with(
            "auth_service",
            &a,
            &[("TIDEPASS_KEK", primary), ("TIDEPASS_KEK_ALSO", also)],
        )
    };
    let step = |url: String, token: String| {
        let http = http.clone();
        async move {
            let r = refresh(&http, &url, &token).await;
            assert_eq!(r.status(), 200, "a refresh during the KEK rotation");
            r.json::<Value>().await.expect("json")["refresh_token"]
                .as_str()
                .expect("rt")
                .to_owned()
        }
    };
    // Under load: a second session refreshed continuously through a round-robin proxy over
    // the instances, each taken out of the pool before it is stopped, its successor put in.
    let (lb, pool) = round_robin(vec![a.url.clone(), b.url.clone()]).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready, started) = tokio::sync::oneshot::channel();
    let load = {
        let (http, lb, stop) = (http.clone(), lb.clone(), stop.clone());
        tokio::spawn(async move {
            // The load's own session: logged in (argon2, slow in a debug build) before any
            // instance is stopped, so no request is cut off by a kill.
            let mut pair: Value = login(&http, &lb, "").await.json().await.expect("json");
            let _ = ready.send(());
            let (mut ok, mut bad) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = refresh(&http, &lb, pair["refresh_token"].as_str().expect("rt")).await;
                if r.status() == 200 {
                    pair = r.json().await.expect("json");
                    ok += 1;
                } else {
                    bad.push(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ));
                }
            }
            (ok, bad)
        })
    };
    started.await.expect("the load started");
    let swap = |old: &str, new: &str| {
        let mut p = pool.lock().expect("pool");
        p.retain(|u| u != old);
        p.push(new.to_owned());
    };
    let drain = |old: &str| {
        pool.lock().expect("pool").retain(|u| u != old);
    };
    drain(&a.url);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old_a = a.url.clone();
    drop(a);
    let a = both(KEK, NEW_KEK);
    swap(&old_a, &a.url);
    rt = step(a.url.clone(), rt).await;
    let resealed = Command::new(env!("CARGO_BIN_EXE_tidepass"))
        .args([
            "keyring",
            "reseal",
            "--store",
            store,
            "--issuer",
            "http://tidepass.local",
        ])
        .env("TIDEPASS_KEK", KEK)
        .env("TIDEPASS_NEW_KEK", NEW_KEK)
        .output()
        .expect("tidepass keyring reseal");
    assert!(
        resealed.status.success(),
        "{}",
        String::from_utf8_lossy(&resealed.stderr)
    );
    rt = step(b.url.clone(), rt).await;
    drain(&b.url);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old_b = b.url.clone();
    drop(b);
    let b = both(NEW_KEK, KEK);
    swap(&old_b, &b.url);
    rt = step(b.url.clone(), rt).await;
    drain(&a.url);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old_a = a.url.clone();
    drop(a);
    let Ok(a) = instance(Some(NEW_KEK)) else {
        unreachable!()
    };
    swap(&old_a, &a.url);
    rt = step(a.url.clone(), rt).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, bad) = load.await.expect("load");
    assert!(
        bad.is_empty(),
        "{} refreshes failed during the KEK rotation: {bad:?}",
        bad.len()
    );
    assert!(ok > 10, "the load ran: {ok} refreshes");
    eprintln!("KEK rotation under load: {ok} refreshes through the proxy, 0 failures");
    let _ = rt;
    assert_eq!(
        jwks(a.url.clone()).await,
        published,
        "the same keys under the new KEK"
    );
    assert_eq!(jwks(b.url.clone()).await, published);
    // Without the KEK, or with another one, an instance refuses to start (and makes nothing).
    for (kek, says) in [
        (None, "TIDEPASS_KEK"),
        (Some(OTHER_KEK), "KEK"),
        (Some(KEK), "KEK"),
    ] {
        let out = match kek {
            None => instance(None).err().expect("refused"),
            Some(k) => {
                let data = data_dir();
                let a = args(data.to_str().expect("utf8"));
                Command::new(example("auth_service"))
                    .args(&a)
                    .env("TIDEPASS_KEK", k)
                    .output()
                    .expect("run")
            }
        };
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(
        jwks(a.url.clone()).await,
        published,
        "no refusal changed the ring"
    );
    (a, b)
}

/// The auth service's arguments for a private instance on the memory store, with user
/// alice (password s3cret), keys in `data`.
fn memory_service(data: &std::path::Path) -> Vec<&str> {
    vec![
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().expect("utf8"),
        "--store",
        "memory:",
        "--user",
        "alice:s3cret",
    ]
}

fn data_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "tidepass-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

async fn login(http: &reqwest::Client, auth: &str, query: &str) -> reqwest::Response {
    http.post(format!("{auth}/login{query}"))
        .json(&serde_json::json!({"username": "alice", "password": "s3cret", "device": "e2e"}))
        .send()
        .await
        .expect("login")
}

/// A round-robin HTTP proxy on a loopback port in front of `backends`, as a load balancer
/// would stand in front of the auth service's instances: each request goes to the next one.
async fn round_robin(backends: Vec<String>) -> (String, Pool) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let pool: Pool = std::sync::Arc::new(std::sync::Mutex::new(backends));
    let backends = pool.clone();
    let forward = move |req: axum::extract::Request| {
        let (next, http, backends) = (next.clone(), http.clone(), backends.clone());
        async move {
            let backend = {
                let b = backends.lock().expect("pool");
                b[next.fetch_add(1, Ordering::Relaxed) % b.len()].clone()
            };
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut out = http.request(parts.method.clone(), format!("{backend}{path}"));
            for (k, v) in &parts.headers {
                if k != "host" {
                    out = out.header(k, v);
                }
            }
            let r = match out.body(body).send().await {
                Ok(r) => r,
                Err(e) => {
                    return axum::http::Response::builder()
                        .status(502)
                        .body(axum::body::Body::from(format!("{backend}: {e:?}")))
                        .expect("response");
                }
            };
            let mut answer = axum::http::Response::builder().status(r.status());
            for (k, v) in r.headers() {
                answer = answer.header(k, v);
            }
            answer
                .body(axum::body::Body::from(r.bytes().await.unwrap_or_default()))
                .expect("response")
        }
    };
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, pool)
}

/// The proxy's backends, to take an instance out before it is stopped and put its successor
/// in, as a load balancer's health checks would.
type Pool = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// An auth service's JWKS document.
async fn jwks_of(http: &reqwest::Client, url: &str) -> Value {
    http.get(format!("{url}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json")
}

async fn refresh(http: &reqwest::Client, auth: &str, token: &str) -> reqwest::Response {
    http.post(format!("{auth}/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .expect("token")
}

async fn me(http: &reqwest::Client, api: &str, access: &str) -> reqwest::Response {
    http.get(format!("{api}/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("me")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_logout_over_http() {
    // A data directory that does not exist yet, as on a fresh clone (the README's first run):
    // the service makes it.
    let data = data_dir().join("not-yet");
    let data_s = data.to_str().expect("utf8");
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data_s,
            "--user",
            "alice:s3cret",
            "--grace",
            "5",
            "--allowed-origin",
            "https://app.example",
        ],
    );
    let api = start(
        "microservice",
        &[
            "--auth",
            &auth.url,
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "100",
        ],
    );
    let http = reqwest::Client::new();

    // Bad credentials.
    let r = http
        .post(format!("{}/login", auth.url))
        .json(&serde_json::json!({"username": "alice", "password": "nope"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_credentials"
    );

    // login -> /me -> refresh -> /me
    let pair: Value = login(&http, &auth.url, "")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(pair["token_type"], "Bearer");
    let access = pair["access_token"].as_str().expect("access");
    let r = me(&http, &api.url, access).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["sub"], "alice");
    let r = refresh(
        &http,
        &auth.url,
        pair["refresh_token"].as_str().expect("rt"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let pair2: Value = r.json().await.expect("json");
    assert_eq!(
        me(&http, &api.url, pair2["access_token"].as_str().expect("a"))
            .await
            .status(),
        200
    );
    // Scope: the demo users have "read" only.
    let r = http
        .get(format!("{}/admin", api.url))
        .bearer_auth(pair2["access_token"].as_str().expect("a"))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
    // No token, a forged token.
    let r = http
        .get(format!("{}/me", api.url))
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = me(&http, &api.url, &format!("{access}x")).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("a")
            .contains("invalid_token")
    );

    // Two concurrent refreshes of the same token: one chain.
    let rt2 = pair2["refresh_token"].as_str().expect("rt").to_owned();
    let (a, b) = tokio::join!(
        refresh(&http, &auth.url, &rt2),
        refresh(&http, &auth.url, &rt2)
    );
    let (a, b): (Value, Value) = (a.json().await.expect("a"), b.json().await.expect("b"));
    assert_eq!(a["refresh_token"], b["refresh_token"], "identical child");

    // The first refresh token, replayed now, is reuse: the session dies.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = refresh(
        &http,
        &auth.url,
        pair["refresh_token"].as_str().expect("rt"),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    let r = refresh(&http, &auth.url, a["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(r.status(), 400, "the newest token died with its session");

    // A new login; logout -> refused by the microservice within one sync interval.
    let p: Value = login(&http, &auth.url, "")
        .await
        .json()
        .await
        .expect("json");
    let access = p["access_token"].as_str().expect("a").to_owned();
    let sessions: Value = http
        .get(format!("{}/sessions", auth.url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("s")
        .json()
        .await
        .expect("json");
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(sessions["sessions"][0]["current"], true);
    assert_eq!(me(&http, &api.url, &access).await.status(), 200);
    let r = http
        .post(format!("{}/logout", auth.url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let t = Instant::now();
    loop {
        if me(&http, &api.url, &access).await.status() == 401 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_millis(100 * 5),
            "still accepted after {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Cookie mode.
    let r = login(&http, &auth.url, "?cookie=1").await;
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/token",
        "__Secure-",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    let body: Value = r.json().await.expect("json");
    assert!(
        body.get("refresh_token").is_none(),
        "the token is only in the cookie"
    );
    let pair_cookie = set.split(';').next().expect("pair").to_owned();
    let cookie_refresh = |cookie: String, origin: Option<&'static str>| {
        let mut req = http
            .post(format!("{}/token", auth.url))
            .header("cookie", cookie)
            .form(&[("grant_type", "refresh_token")]);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // CSRF: a cookie-carrying request from another site, or from no page at all, is refused
    // before the token is looked at; so is a request with a second (planted) refresh cookie.
    let r = cookie_refresh(pair_cookie.clone(), Some("https://evil.example"))
        .await
        .expect("token");
    assert_eq!(r.status(), 403, "cross-site");
    let r = cookie_refresh(pair_cookie.clone(), None)
        .await
        .expect("token");
    assert_eq!(r.status(), 403, "no Origin, no Sec-Fetch-Site");
    let planted = format!("{pair_cookie}; __Secure-tidepass-refresh=tprt_planted");
    let r = cookie_refresh(planted, Some("https://app.example"))
        .await
        .expect("token");
    assert_eq!(r.status(), 400, "two refresh cookies");
    let r = cookie_refresh(pair_cookie, Some("https://app.example"))
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().contains_key("set-cookie"),
        "the rotated token comes back as a cookie"
    );

    // Hostile inputs get 4xx JSON, never 500.
    let cases: Vec<reqwest::RequestBuilder> = vec![
        http.post(format!("{}/login", auth.url))
            .header("content-type", "application/json")
            .body("{not json"),
        http.post(format!("{}/login", auth.url))
            .header("content-type", "text/plain")
            .body("x"),
        http.post(format!("{}/login", auth.url))
            .json(&serde_json::json!({"username": "alice", "password": "x".repeat(20_000)})),
        http.post(format!("{}/token", auth.url))
            .form(&[("grant_type", "password")]),
        http.post(format!("{}/token", auth.url)).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "garbage"),
        ]),
        http.post(format!("{}/token", auth.url)).body("%%%"),
        http.get(format!("{}/sessions", auth.url))
            .header("authorization", "Bearer"),
        http.delete(format!("{}/sessions/nope", auth.url))
            .bearer_auth("x.y.z"),
    ];
    for req in cases {
        let r = req.send().await.expect("send");
        assert!(
            r.status().is_client_error(),
            "{} for a hostile request",
            r.status()
        );
    }
    let r = http
        .get(format!("{}/me", api.url))
        .header("authorization", format!("Bearer {}", "a".repeat(10_000)))
        .send()
        .await
        .expect("me");
    assert!(r.status().is_client_error());

    // JWKS and revocations endpoints.
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", auth.url))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert!(jwks["keys"][0].get("d").is_none());
    let rev = revocations_json(&http, &auth.url).await;
    assert_eq!(rev["type"], "snapshot");
    assert!(!rev["entries"].as_array().expect("entries").is_empty());
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_auth_service_keeps_keys_and_sessions() {
    let data = data_dir();
    let data_s = data.to_str().expect("utf8").to_owned();
    let http = reqwest::Client::new();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data_s,
        "--user",
        "alice:s3cret",
    ];
    let (pair, jwks1): (Value, Value) = {
        let auth = start("auth_service", &args);
        let pair = login(&http, &auth.url, "")
            .await
            .json()
            .await
            .expect("json");
        let jwks = http
            .get(format!("{}/.well-known/jwks.json", auth.url))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("json");
        (pair, jwks)
    }; // stopped (SIGKILL) here
    let auth = start("auth_service", &args);
    let jwks2: Value = http
        .get(format!("{}/.well-known/jwks.json", auth.url))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(jwks1, jwks2, "the signing key survived the restart");
    let r = refresh(
        &http,
        &auth.url,
        pair["refresh_token"].as_str().expect("rt"),
    )
    .await;
    assert_eq!(r.status(), 200, "the session survived the restart");
    let _ = std::fs::remove_dir_all(&data);
}

/// The mobile client, many concurrent tasks across several access-token lifetimes: one refresh
/// per lifetime, no failed call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_client_refreshes_once_per_lifetime_without_failures() {
    let data = data_dir();
    let data_s = data.to_str().expect("utf8").to_owned();
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            &data_s,
            "--user",
            "alice:s3cret",
            "--access-ttl",
            "2",
        ],
    );
    let api = start(
        "microservice",
        &[
            "--auth",
            &auth.url,
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "200",
        ],
    );
    let out = Command::new(example("mobile_client"))
        .args([
            "--auth",
            &auth.url,
            "--api",
            &api.url,
            "--seconds",
            "7",
            "--tasks",
            "16",
        ])
        .output()
        .expect("run mobile_client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let num = |name: &str| -> u64 {
        text.split(&format!("{name}: "))
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(num("failures"), 0, "{text}");
    assert!(num("calls") > 100, "{text}");
    // 7 s of 2 s tokens refreshed at 80 % of their life: 4 refreshes, give or take one.
    assert!((3..=5).contains(&num("refreshes")), "{text}");
    let _ = std::fs::remove_dir_all(&data);
}

/// Failed refreshes are rate-limited per client (429 with Retry-After), a refresh from a
/// different client product needs step-up, and /metrics counts what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_and_metrics_over_http() {
    let data = data_dir();
    let data_s = data.to_str().expect("utf8").to_owned();
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            &data_s,
            "--user",
            "alice:s3cret",
        ],
    );
    let http = reqwest::Client::new();

    // Risk: the login came from "TideApp/1.0"; a refresh from curl must step up.
    let pair: Value = http
        .post(format!("{}/login", auth.url))
        .header("user-agent", "TideApp/1.0")
        .json(&serde_json::json!({"username": "alice", "password": "s3cret"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let rt = pair["refresh_token"].as_str().expect("rt");
    let send = |ua: &'static str, token: String| {
        http.post(format!("{}/token", auth.url))
            .header("user-agent", ua)
            .form(&[
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", token),
            ])
            .send()
    };
    let r = send("curl/8.5", rt.to_owned()).await.expect("token");
    assert_eq!(r.status(), 400, "another client product: step-up");
    let r = send("TideApp/1.1", rt.to_owned()).await.expect("token");
    assert_eq!(
        r.status(),
        200,
        "the same app, updated: allowed, and the session was kept"
    );

    // Guard: ten failures pass through (400), then 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = send("TideApp/1.1", "tprt_garbage".into())
            .await
            .expect("token");
        statuses.push((
            r.status().as_u16(),
            r.headers().get("retry-after").is_some(),
        ));
    }
    assert!(statuses[..9].iter().all(|s| s.0 == 400), "{statuses:?}");
    assert_eq!(statuses.last().copied(), Some((429, true)), "{statuses:?}");

    let text = http
        .get(format!("{}/metrics", auth.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "tidepass_logins_total",
        "tidepass_refreshes_total",
        "tidepass_refresh_rejected_total",
        "tidepass_step_up_total",
        "tidepass_tokens_minted_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// Two auth-service processes on one Redis, each on its own empty data directory and sharing
/// only the store and the KEK, behave as one service: one JWKS (also after a restart on an
/// empty disk), a session from one refreshes on the others, 24 concurrent refreshes of one
/// token spread over three instances get one child, a rolling kill -9 and restart of both on
/// empty disks logs nobody out, a KEK rotation (old KEK also opening the new, the CLI's
/// re-seal, new KEK also opening the old, new alone) refreshes at every step, an instance
/// without the KEK or with another (the old one, after the rotation) refuses to start, a refresh race across them leaves one chain, a logout on one
/// is seen by the other, and a microservice following the Redis log refuses the token.
/// (Before, each instance made its own key and secret unless they shared a disk.)
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_auth_services_on_one_redis_behave_as_one() {
    let Some(redis) = crate::stores::private_redis::Server::start(&[]) else {
        return;
    };
    let store = redis.url();
    // One service behind two processes (one public issuer URL), each on its own empty disk.
    let (a, b) = instances_share_one_key_ring(&store).await;
    let api = start(
        "microservice",
        &[
            "--auth",
            &a.url,
            "--issuer",
            "http://tidepass.local",
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "5000",
            "--revocations",
            &store,
        ],
    );
    let http = reqwest::Client::new();

    // The microservice accepts this service's tokens...
    let fresh: Value = login(&http, &b.url, "").await.json().await.expect("json");
    assert_eq!(
        me(&http, &api.url, fresh["access_token"].as_str().expect("a"))
            .await
            .status(),
        200
    );
    // ...and refuses the one logged out below.
    let access = two_instances_share_sessions(&http, &a.url, &b.url).await;
    // Polling is every 5 s here: a quick refusal can only come from the Redis push.
    let t = Instant::now();
    while me(&http, &api.url, &access).await.status() != 401 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the push did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The same on PostgreSQL (a private cluster): two auth-service processes on their own disks,
/// one key ring, one chain, a logout on one seen by the other.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_auth_services_on_one_postgres_behave_as_one() {
    let Some(pg) = crate::stores::private_pg::Cluster::start() else {
        return;
    };
    let store = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let (a, b) = instances_share_one_key_ring(&store).await;
    let http = reqwest::Client::new();
    two_instances_share_sessions(&http, &a.url, &b.url).await;
    let rev = revocations_json(&http, &a.url).await;
    assert_eq!(
        rev["entries"].as_array().map(Vec::len),
        Some(1),
        "B's logout is in the shared log A serves"
    );
}

/// Log in on `a`, race one refresh token on `a` and `b` (one chain must come out), then log out
/// on `b` and check `a` refuses the session. Returns the access token that was logged out.
async fn two_instances_share_sessions(http: &reqwest::Client, a: &str, b: &str) -> String {
    let pair: Value = login(http, a, "").await.json().await.expect("json");
    let rt = pair["refresh_token"].as_str().expect("rt").to_owned();
    let (ra, rb) = tokio::join!(refresh(http, a, &rt), refresh(http, b, &rt));
    assert_eq!(
        (ra.status(), rb.status()),
        (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
    );
    let (ra, rb): (Value, Value) = (ra.json().await.expect("a"), rb.json().await.expect("b"));
    assert_eq!(
        ra["refresh_token"], rb["refresh_token"],
        "one chain across the two processes"
    );
    let access = ra["access_token"].as_str().expect("access").to_owned();
    let r = http
        .post(format!("{b}/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout on B");
    assert_eq!(r.status(), 204);
    let r = refresh(http, a, ra["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(r.status(), 400, "A sees B's logout");
    access
}

/// The auth service's revocation list in its JSON form.
async fn revocations_json(http: &reqwest::Client, base: &str) -> Value {
    let r = http
        .get(format!("{base}/revocations"))
        .header("accept", "application/json")
        .send();
    r.await.expect("revocations").json().await.expect("json")
}

/// The auth service refuses what it revoked, at once: a logged-out session's access token on
/// its account endpoints and in `/introspect`, and an access token revoked by RFC 7009.
/// `/introspect` takes the client secret by HTTP Basic (`client_secret_basic`, which RFC 6749
/// §2.3.1 makes mandatory) as well as in the form. Each of these failed before: the service's
/// own verifier had no revocation list, revoking an access token changed nothing, and Basic
/// got 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_service_refuses_what_it_revoked() {
    let data = data_dir();
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().expect("utf8"),
            "--store",
            "memory:",
            "--user",
            "alice:s3cret",
            "--client-id",
            "rs",
            "--client-secret",
            "rs secret",
        ],
    );
    let http = reqwest::Client::new();
    let pair: Value = login(&http, &auth.url, "")
        .await
        .json()
        .await
        .expect("pair");
    let access = pair["access_token"].as_str().expect("access").to_owned();
    let introspect = |token: String, basic: Option<(&'static str, &'static str)>| {
        let http = http.clone();
        let url = format!("{}/introspect", auth.url);
        async move {
            let req = http.post(url);
            let req = match basic {
                Some((id, secret)) => req.basic_auth(id, Some(secret)).form(&[("token", token)]),
                None => req.form(&[
                    ("token", token.as_str()),
                    ("client_id", "rs"),
                    ("client_secret", "rs secret"),
                ]),
            };
            req.send().await.expect("introspect")
        }
    };
    let sessions = |token: String| {
        let http = http.clone();
        let url = format!("{}/sessions", auth.url);
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sessions")
                .status()
        }
    };
    assert_eq!(sessions(access.clone()).await, 200);
    // client_secret_basic (reqwest encodes it as RFC 7617 says; the space stays a space) and
    // client_secret_post.
    let basic = introspect(access.clone(), Some(("rs", "rs secret"))).await;
    assert_eq!(basic.status(), 200);
    let basic: Value = basic.json().await.expect("json");
    assert_eq!(basic["active"], true);
    // RFC 9068 §2.2: client_id is always there (the service's default client).
    assert_eq!(basic["client_id"], "tidepass-example");
    let post = introspect(access.clone(), None).await;
    assert_eq!(post.json::<Value>().await.expect("json")["active"], true);
    assert_eq!(
        introspect(access.clone(), Some(("rs", "wrong")))
            .await
            .status(),
        401
    );

    // RFC 7009 on the access token: its jti is listed.
    let r = http
        .post(format!("{}/revoke", auth.url))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    let after: Value = introspect(access.clone(), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["active"], false, "a revoked access token");
    assert_eq!(sessions(access.clone()).await, 401);
    // Refresh tokens introspect too: active while current, not once rotated.
    let rt = pair["refresh_token"].as_str().expect("rt").to_owned();
    let r: Value = introspect(rt.clone(), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    // The session itself lives on.
    let next: Value = refresh(&http, &auth.url, &rt)
        .await
        .json()
        .await
        .expect("pair");
    let r: Value = introspect(rt, None).await.json().await.expect("json");
    assert_eq!(r["active"], false, "a rotated-away refresh token");
    let rt = next["refresh_token"].as_str().expect("rt").to_owned();
    // RFC 8414 metadata names the endpoints.
    let meta: Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            auth.url
        ))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    // RFC 8414 §3.3: the issuer is the URL the metadata was fetched from.
    assert_eq!(meta["issuer"], auth.url);
    assert_eq!(meta["token_endpoint"], format!("{}/token", auth.url));
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", auth.url)
    );
    assert!(
        meta["introspection_endpoint_auth_methods_supported"]
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v == "client_secret_basic"))
    );
    let access = next["access_token"].as_str().expect("access").to_owned();
    assert_eq!(sessions(access.clone()).await, 200);

    // Logout: the same access token is refused by the account endpoints and introspection.
    let r = http
        .post(format!("{}/logout", auth.url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    assert_eq!(
        sessions(access.clone()).await,
        401,
        "a logged-out session's token"
    );
    let after: Value = introspect(access, None).await.json().await.expect("json");
    assert_eq!(after["active"], false);
    let after: Value = introspect(rt, None).await.json().await.expect("json");
    assert_eq!(
        after["active"], false,
        "a logged-out session's refresh token"
    );
}

/// Failed logins are rate-limited like failed refreshes, keyed by the client's address: a
/// forged `X-Forwarded-For` from an untrusted peer changes nothing, and behind a trusted proxy
/// each forwarded client has its own budget. (Before, logins were not limited at all, and the
/// refresh limit was keyed by the socket peer only: behind one proxy, every user shared it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_per_client_address() {
    let bad = |http: reqwest::Client, url: String, forwarded: &'static str| async move {
        http.post(format!("{url}/login"))
            .header("x-forwarded-for", forwarded)
            .json(&serde_json::json!({"username": "alice", "password": "wrong"}))
            .send()
            .await
            .expect("login")
            .status()
            .as_u16()
    };
    let http = reqwest::Client::new();
    for trusted in [false, true] {
        let data = data_dir();
        let mut args = memory_service(&data);
        if trusted {
            args.extend(["--trusted-proxy", "127.0.0.1"]);
        }
        let auth = start("auth_service", &args);
        // Ten failures at once, then one per 6 s: a 429 comes within a few more (how many
        // depends on how long each password check takes on a busy machine).
        let mut statuses = Vec::new();
        for i in 0..40 {
            // A different forged address each time.
            let forwarded = ["198.51.100.1", "198.51.100.2", "198.51.100.3"][i % 3];
            let forwarded = if trusted { "198.51.100.7" } else { forwarded };
            let status = bad(http.clone(), auth.url.clone(), forwarded).await;
            statuses.push(status);
            if status == 429 {
                break;
            }
        }
        assert!(statuses[..10].iter().all(|&s| s == 401), "{statuses:?}");
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        // Another client behind the trusted proxy has its own budget; without trust, the
        // same socket peer is the same client whatever the header says.
        let other = bad(http.clone(), auth.url.clone(), "198.51.100.8").await;
        if trusted {
            assert_eq!(
                other, 401,
                "trusted proxy: a fresh budget for another client"
            );
        } else {
            // The shared budget refills one failure per 6 s, so the refill can land between
            // the 429 and this request (a flake CI hit): then that one token is spent, and
            // the next request at once is refused. A forged header that bought a fresh budget
            // of ten would answer 401 twice.
            let again = if other == 401 {
                bad(http.clone(), auth.url.clone(), "198.51.100.9").await
            } else {
                other
            };
            assert_eq!(
                again, 429,
                "untrusted: the same client ({other} then {again})"
            );
        }
        let _ = std::fs::remove_dir_all(&data);
    }
}

/// Interop with OAuth libraries nobody here wrote: Authlib's OAuth 2.0 client refreshes (by
/// hand and automatically), revokes (RFC 7009) and introspects (RFC 7662, client_secret_basic
/// and client_secret_post) against the example auth service, and PyJWT verifies a live access
/// token from the service's remote JWKS with RFC 9068's `typ` and required claims
/// (`tests/data/oauth/authlib_client.py`; .ci/run installs both from PyPI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_and_pyjwt_against_the_auth_service() {
    let Some(python) = crate::common::tool("python3") else {
        return;
    };
    let has = std::process::Command::new(&python)
        .args(["-c", "import authlib, jwt, requests"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        crate::common::skipped(
            "python3 lacks authlib, pyjwt or requests",
            "python3 -m pip install authlib pyjwt requests",
        );
        return;
    }
    let data = data_dir();
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().expect("utf8"),
            "--store",
            "memory:",
            "--user",
            "alice:s3cret",
            "--client-secret",
            "rs secret",
        ],
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/oauth/authlib_client.py"
    );
    let mut authlib = Command::new(&python);
    authlib.args([script, &auth.url, "alice", "s3cret", "rs secret"]);
    script_ok(authlib, "authlib").await;
    let _ = std::fs::remove_dir_all(&data);
}

/// A real browser: Debian's chromium, driven by playwright-core (npm), against the example
/// auth service in cookie mode, with the default `__Secure-` cookie and with `--host-cookie`:
/// cookie login (the refresh cookie invisible to scripts), silent refresh, five concurrent
/// refreshes from one page (all 200, the session alive: before `settle_within_grace`, two or
/// three of them came back `invalid_grant` in 3 of 17 runs, the session revoked as
/// reuse), a cross-site form post that must not refresh (the cookie unchanged), and logout
/// (the cookie cleared, the access token refused). `tests/data/js/cookie_flow.mjs`;
/// .ci/run installs chromium and runs `npm ci` there. Then panva/jose (npm), as a resource
/// server, verifies a live access token through the JWKS named by the service's RFC 8414
/// metadata, with RFC 9068's `typ` and required claims (`tests/data/js/jose_verify.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_by_cookie_and_jose_by_jwks_against_the_auth_service() {
    let (Some(node), Some(chromium)) =
        (crate::common::tool("node"), crate::common::tool("chromium"))
    else {
        return;
    };
    let Some(dir) = crate::common::js_dir("playwright-core") else {
        return;
    };
    for form in ["secure", "host"] {
        let data = data_dir();
        let mut args = memory_service(&data);
        if form == "host" {
            args.push("--host-cookie");
        }
        let auth = start("auth_service", &args);
        let url = auth.url.clone();
        let mut flow = Command::new(&node);
        flow.current_dir(dir).env("CHROMIUM", &chromium).args([
            "cookie_flow.mjs",
            &url,
            "alice",
            "s3cret",
            form,
        ]);
        script_ok(flow, form).await;
        if form == "secure" {
            jose_verifies_a_live_token(&node, dir, &auth.url).await;
        }
        drop(auth);
        let _ = std::fs::remove_dir_all(&data);
    }
}

async fn jose_verifies_a_live_token(node: &std::path::Path, dir: &'static str, url: &str) {
    let http = reqwest::Client::new();
    let pair: Value = login(&http, url, "").await.json().await.expect("pair");
    let access = pair["access_token"].as_str().expect("access").to_owned();
    let mut jose = Command::new(node);
    jose.current_dir(dir)
        .args(["jose_verify.mjs", url, &access]);
    script_ok(jose, "jose").await;
}

/// DPoP (RFC 9449) with a client nobody here wrote: panva's `dpop` package (npm) makes the
/// proofs (ES256, RS256, PS256) against the example auth service and microservice over HTTP.
/// A login with a proof gets `token_type` DPoP and `cnf.jkt` equal to jose's thumbprint of
/// the key; the microservice accepts the token only under the DPoP scheme with a fresh proof
/// by that key (a replayed proof, the bearer scheme and another key's proof are refused);
/// the token endpoint rotates the session only with its key's proof, and a refusal leaves it
/// alive; then again against an auth service that demands server nonces.
/// `tests/data/js/dpop_flow.mjs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_dpop_client_against_the_services() {
    let Some(node) = crate::common::tool("node") else {
        return;
    };
    let Some(dir) = crate::common::js_dir("dpop") else {
        return;
    };
    // Then with server nonces on the auth service: the client retries once per request
    // with the DPoP-Nonce it was given.
    for nonces in [false, true] {
        let data = data_dir();
        let mut args = memory_service(&data);
        if nonces {
            args.push("--dpop-nonces");
        }
        let auth = start("auth_service", &args);
        let api = start(
            "microservice",
            &["--auth", &auth.url, "--listen", "127.0.0.1:0"],
        );
        let mut flow = Command::new(&node);
        flow.current_dir(dir)
            .args(["dpop_flow.mjs", &auth.url, &api.url, "alice", "s3cret"]);
        let stdout = script_ok(flow, &format!("dpop (nonces {nonces})")).await;
        // Without nonces no retry; with them, the first login had to retry.
        assert_eq!(
            stdout.contains("nonce retries: 0"),
            !nonces,
            "nonces {nonces}: {stdout}"
        );
        drop((api, auth));
        let _ = std::fs::remove_dir_all(&data);
    }
}

/// Run a script by an independent implementation (off the async workers) and require its
/// success and its `all ok` line; its stdout.
async fn script_ok(mut command: Command, what: &str) -> String {
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run the script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("all ok"),
        "{what}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Run `mobile_client --refresh-once` to its end; its stdout and exit code.
fn client_run(args: &[&str]) -> (String, Option<i32>) {
    let out = Command::new(example("mobile_client"))
        .args(["--refresh-once"])
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run mobile_client");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

/// Run `mobile_client --refresh-once --crash-at POINT` until it reaches the point, then kill
/// it with SIGKILL (`Child::kill`).
fn client_killed_at(args: &[&str], point: &str) {
    let mut child = Command::new(example("mobile_client"))
        .args(["--refresh-once", "--crash-at", point])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mobile_client");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.expect("read");
        if line == format!("CRASH-POINT {point}") {
            child.kill().expect("kill -9");
            let status = child.wait().expect("wait");
            assert!(!status.success(), "killed, not exited");
            return;
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("mobile_client never reached {point}: {seen:?}");
}

/// A device killed with SIGKILL at each instant of a refresh — before sending, after the
/// server rotated but before the answer was read, after reading it but before saving it,
/// after saving — and restarted later, past the grace window, keeps its session: the example
/// `mobile_client` with DPoP and a file store against the example auth service and
/// microservice. The restart restores the saved session (it does not log in again), refreshes,
/// and its `/me` under the DPoP scheme answers 200; a second restart refreshes on from the
/// saved child. A bearer device killed after the server rotated and restarted past the grace
/// window is logged out (reuse): what the DPoP-bound rule exists for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_killed_at_any_instant_of_a_refresh_keeps_its_session() {
    let data = data_dir();
    let mut args = memory_service(&data);
    args.extend(["--grace", "1"]);
    let auth = start("auth_service", &args);
    let api = start(
        "microservice",
        &["--auth", &auth.url, "--listen", "127.0.0.1:0"],
    );
    for point in ["before-send", "after-send", "after-answer", "after-save"] {
        let state = data.join(format!("device-{point}.json"));
        let state = state.to_str().expect("utf8");
        let base = [
            "--auth", &auth.url, "--api", &api.url, "--state", state, "--dpop",
        ];
        // Log in and save (the first run), then crash mid-refresh.
        let (out, code) = client_run(&base);
        assert!(
            code == Some(0) && out.contains("LOGGED-IN") && out.contains("ME 200"),
            "{point}: first run {code:?}\n{out}"
        );
        client_killed_at(&base, point);
        // Past the grace window (1 s).
        std::thread::sleep(Duration::from_millis(2_100));
        for run in ["restart", "second restart"] {
            let (out, code) = client_run(&base);
            assert!(
                code == Some(0)
                    && out.contains("RESTORED")
                    && out.contains("REFRESHED")
                    && out.contains("ME 200"),
                "{point}: {run} {code:?}\n{out}"
            );
        }
    }
    // The bearer contrast.
    let state = data.join("device-bearer.json");
    let state = state.to_str().expect("utf8");
    let base = ["--auth", &auth.url, "--api", &api.url, "--state", state];
    let (out, code) = client_run(&base);
    assert!(
        code == Some(0) && out.contains("ME 200"),
        "bearer first run\n{out}"
    );
    client_killed_at(&base, "after-send");
    std::thread::sleep(Duration::from_millis(2_100));
    let (out, code) = client_run(&base);
    assert!(
        code == Some(3) && out.contains("LOGIN-REQUIRED"),
        "bearer restart past the window: {code:?}\n{out}"
    );
    drop((api, auth));
    let _ = std::fs::remove_dir_all(&data);
}

/// Rotations under load, as deployed: two instances on one Redis (their own empty disks, one
/// KEK) behind a round-robin proxy rotate their shared signing key every 30 s with a JWKS
/// `max-age` of 2 s, while a client refreshes one session through the proxy (so alternately
/// on both) and a microservice that follows the issuer through the proxy verifies every new
/// token. Zero non-200 answers; at least one rotation; and every key
/// that signed a token was in both instances' JWKS at least `max-age` before its first token.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_under_load_answer_every_request() {
    use base64::Engine as _;
    use std::collections::HashMap;
    let Some(redis) = crate::stores::private_redis::Server::start(&[]) else {
        return;
    };
    let store = redis.url();
    let instance = || {
        let data = data_dir();
        let d = data.to_str().expect("utf8").to_owned();
        start_with(
            "auth_service",
            &[
                "--listen",
                "127.0.0.1:0",
                "--data",
                &d,
                "--store",
                &store,
                "--user",
                "alice:s3cret",
                "--issuer",
                "http://tidepass.local",
                "--rotate-every",
                "30",
                "--jwks-max-age",
                "2",
                "--access-ttl",
                "60",
            ],
            &[("TIDEPASS_KEK", KEK)],
        )
    };
    let (a, b) = (instance(), instance());
    // Clients and the microservice see one service, through a round-robin proxy.
    let (lb, _) = round_robin(vec![a.url.clone(), b.url.clone()]).await;
    let api = start(
        "microservice",
        &[
            "--auth",
            &lb,
            "--issuer",
            "http://tidepass.local",
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "500",
        ],
    );
    let http = reqwest::Client::new();
    let kids_in = |url: String| {
        let http = http.clone();
        async move {
            jwks_of(&http, &url).await["keys"]
                .as_array()
                .map(|ks| {
                    ks.iter()
                        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                        .collect::<Vec<String>>()
                })
                .unwrap_or_default()
        }
    };
    let kid_of = |token: &str| -> String {
        let header = token.split('.').next().expect("header");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("b64");
        let v: Value = serde_json::from_slice(&raw).expect("json");
        v["kid"].as_str().expect("kid").to_owned()
    };
    let start_at = Instant::now();
    // First seen in *both* JWKS documents, and first used to sign.
    let mut seen: HashMap<String, (Option<f64>, Option<f64>)> = HashMap::new();
    let mut used: HashMap<String, f64> = HashMap::new();
    let mut pair: Value = login(&http, &lb, "").await.json().await.expect("json");
    let (mut refreshes, mut verified, mut bad) = (0, 0, Vec::new());
    while start_at.elapsed() < Duration::from_secs(45) {
        let t = start_at.elapsed().as_secs_f64();
        for (i, url) in [a.url.clone(), b.url.clone()].into_iter().enumerate() {
            for kid in kids_in(url).await {
                let e = seen.entry(kid).or_default();
                let slot = if i == 0 { &mut e.0 } else { &mut e.1 };
                slot.get_or_insert(t);
            }
        }
        let r = refresh(&http, &lb, pair["refresh_token"].as_str().expect("rt")).await;
        refreshes += 1;
        if r.status() != 200 {
            bad.push(format!("refresh {}", r.status()));
            continue;
        }
        pair = r.json().await.expect("json");
        let access = pair["access_token"].as_str().expect("at").to_owned();
        used.entry(kid_of(&access))
            .or_insert(start_at.elapsed().as_secs_f64());
        let r = me(&http, &api.url, &access).await;
        verified += 1;
        if r.status() != 200 {
            bad.push(format!("verify {}", r.status()));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        bad.is_empty(),
        "{} of {refreshes} refreshes and {verified} verifications failed: {bad:?}",
        bad.len()
    );
    assert!(used.len() >= 2, "at least one rotation in 45 s: {used:?}");
    for (kid, at) in &used {
        let (in_a, in_b) = seen.get(kid).copied().unwrap_or_default();
        let published = in_a.zip(in_b).map(|(x, y)| x.max(y));
        if *at < 1.0 {
            continue; // the key of the first login: published before the test looked
        }
        let published = published.unwrap_or_else(|| panic!("{kid} signed but never published"));
        assert!(
            at - published >= 2.0,
            "{kid} signed {:.1} s after both JWKS had it (max-age 2 s)",
            at - published
        );
    }
    eprintln!(
        "rotations under load: {refreshes} refreshes, {verified} verifications, {} signing keys, 0 failures",
        used.len()
    );
}

/// The same on a real 3-master Redis Cluster (`--store redis+cluster://…`): the key ring is
/// one key, so one slot; two instances on their own empty disks share it, and everything the
/// single-server test checks holds (one JWKS, sessions across instances and restarts, one
/// child for 24 racing refreshes, a KEK rotation, refusals without the KEK).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_auth_services_on_one_redis_cluster_behave_as_one() {
    use crate::stores::private_redis;
    let _one = private_redis::CLUSTERS.lock().await;
    let Some((nodes, addrs, _)) = private_redis::cluster().await else {
        return;
    };
    let store = format!("redis+cluster://{}", addrs.join(","));
    let (a, b) = instances_share_one_key_ring(&store).await;
    let http = reqwest::Client::new();
    two_instances_share_sessions(&http, &a.url, &b.url).await;
    drop(nodes);
}
