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
    let input = serde_json::json!({"issuer": issuer, "access_token": access, "tamper": tamper});
    let (code, out) = crate::status_list::node_check(node, dir, "live", &input);
    (code, serde_json::from_str(&out).unwrap_or(Value::Null))
}

/// The example auth service on a fresh data directory, publishing lists with this `ttl`.
fn auth_service(ttl: u64) -> crate::common::Proc {
    let data = data_dir();
    start(
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
    )
}

/// Log alice in: her access token.
async fn access_token(http: &reqwest::Client, auth: &str) -> String {
    let pair: Value = login(http, auth, "").await.json().await.expect("json");
    pair["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
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
    let ttl = 2;
    let auth = auth_service(ttl);
    let http = reqwest::Client::new();
    let access = access_token(&http, &auth.url).await;
    let other = access_token(&http, &auth.url).await;

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
    let auth = auth_service(1);
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
    let access = access_token(&http, &auth.url).await;
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
