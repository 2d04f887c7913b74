//! The example auth service's Token Status Lists, read by a verifier nobody here wrote.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{data_dir, login, me, start};

/// Run `status_list_check.mjs live` against the service: (exit code, its JSON answer).
fn node_live(
    node: &std::path::Path,
    dir: &str,
    issuer: &str,
    access: &str,
    tamper: bool,
) -> (i32, Value) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(node)
        .current_dir(dir)
        .args(["status_list_check.mjs", "live"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("node");
    let input = serde_json::json!({"issuer": issuer, "access_token": access, "tamper": tamper});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("node");
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), answer)
}

/// A Node verifier on panva/jose and `@sd-jwt/jwt-status-list` (pinned in tests/data/js)
/// follows a live access token's `status` to the example service's list, found through its
/// RFC 8414 metadata and verified against its JWKS: VALID; after a logout, INVALID at its
/// next fetch once the list's `Cache-Control` lifetime (what is left of its `ttl`) has run
/// out; a tampered list is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_verifier_sees_a_logout_within_the_lists_ttl() {
    let Some(node) = crate::common::tool("node") else {
        return;
    };
    let Some(dir) = crate::common::js_dir("@sd-jwt/jwt-status-list") else {
        return;
    };
    let data = data_dir();
    let ttl = 2;
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().expect("utf8"),
            "--user",
            "alice:s3cret",
            "--status-list-ttl",
            &ttl.to_string(),
        ],
    );
    let http = reqwest::Client::new();
    let pair: Value = login(&http, &auth.url, "")
        .await
        .json()
        .await
        .expect("json");
    let access = pair["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let other: Value = login(&http, &auth.url, "")
        .await
        .json()
        .await
        .expect("json");
    let other = other["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();

    let (code, seen) = node_live(&node, dir, &auth.url, &access, false);
    assert_eq!(code, 0, "{seen}");
    assert_eq!(seen["status"], 0, "VALID: {seen}");
    assert_eq!(seen["ttl"], ttl, "{seen}");
    assert_eq!(seen["content_type"], "application/statuslist+jwt");
    assert_eq!(
        seen["listed"], true,
        "the aggregation names the list: {seen}"
    );
    let max_age = seen["max_age"].as_u64().expect("Cache-Control max-age");
    assert!(max_age <= ttl, "cached no longer than its ttl: {seen}");
    let fetched = Instant::now();

    let r = http
        .post(format!("{}/logout", auth.url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    // A verifier that caches as told fetches again when max-age runs out.
    let due = fetched + Duration::from_secs(max_age);
    tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
    let (code, seen) = node_live(&node, dir, &auth.url, &access, false);
    assert_eq!(code, 0, "{seen}");
    assert_eq!(
        seen["status"], 1,
        "INVALID at the first fetch after max-age: {seen}"
    );
    let (_, seen) = node_live(&node, dir, &auth.url, &other, false);
    assert_eq!(
        seen["status"], 0,
        "the other session is still VALID: {seen}"
    );

    let (code, seen) = node_live(&node, dir, &auth.url, &access, true);
    assert_eq!(code, 2, "a tampered list is refused: {seen}");
}

/// The microservice example on Token Status Lists alone (`--revocation-source
/// status-lists`, no native feed): a live token is served, and refused (401) once its session
/// logged out, within the list's `ttl` and a poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_microservice_on_status_lists_alone_refuses_a_logout() {
    let data = data_dir();
    let auth = start(
        "auth_service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().expect("utf8"),
            "--user",
            "alice:s3cret",
            "--status-list-ttl",
            "1",
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
            "--revocation-source",
            "status-lists",
        ],
    );
    let http = reqwest::Client::new();
    let pair: Value = login(&http, &auth.url, "")
        .await
        .json()
        .await
        .expect("json");
    let access = pair["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    // Its list is new to the microservice: fetched at the next poll, refused (503) until then.
    let until = Instant::now() + Duration::from_secs(10);
    while me(&http, &api.url, &access).await.status() != 200 {
        assert!(Instant::now() < until, "the token's list was never fetched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http
        .post(format!("{}/logout", auth.url))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match me(&http, &api.url, &access).await.status().as_u16() {
            401 => break,
            200 => {}
            other => panic!("unexpected {other}"),
        }
        assert!(
            Instant::now() < until,
            "the logout never reached the microservice"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
