//! The keeper's OAuth handling (`client::TokenEndpoint`, `Keeper::log_in`) against scripted
//! HTTP answers: what each RFC 6749 §5.1/§5.2 and RFC 9449 answer becomes, what the requests
//! carry, and that no answer can panic it. The whole path over real HTTP is the mobile_client
//! example's in `http_e2e` (login, refresh, kill -9 at four instants, DPoP).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use http::{Request, Response};
use tidepass::client::{
    BoxError, ClientError, Credentials, DpopKey, HttpClient, Keeper, NoStorage, Refresh,
    TokenEndpoint, Transport, TransportError,
};
use tidepass::keys::Algorithm;

/// Answers from a script, and every request it was sent.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<Response<Vec<u8>>, BoxError>>>,
    sent: Mutex<Vec<Request<Vec<u8>>>>,
}

impl Scripted {
    fn new(answers: Vec<Result<Response<Vec<u8>>, BoxError>>) -> Self {
        Self {
            answers: Mutex::new(answers.into()),
            sent: Mutex::default(),
        }
    }
    fn sent(&self) -> Vec<(String, String, Option<String>)> {
        let sent = self.sent.lock().expect("lock");
        sent.iter()
            .map(|r| {
                let dpop = r
                    .headers()
                    .get("dpop")
                    .map(|v| v.to_str().expect("ascii").to_owned());
                (
                    r.uri().to_string(),
                    String::from_utf8(r.body().clone()).expect("utf8"),
                    dpop,
                )
            })
            .collect()
    }
}

impl HttpClient for &Scripted {
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, BoxError> {
        self.sent.lock().expect("lock").push(request);
        self.answers
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| Err("the script is over".into()))
    }
    async fn sleep(&self, _: Duration) {}
}

fn answer(
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Response<Vec<u8>>, BoxError> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    Ok(r.body(body.as_bytes().to_vec()).expect("response"))
}

const PAIR: &str =
    r#"{"access_token":"a1","token_type":"Bearer","expires_in":300,"refresh_token":"r1"}"#;

async fn refresh_with(
    answers: Vec<Result<Response<Vec<u8>>, BoxError>>,
) -> (
    Result<tidepass::client::Refreshed, TransportError>,
    Vec<(String, String, Option<String>)>,
) {
    let http = Scripted::new(answers);
    let endpoint = TokenEndpoint::new(&http, "https://auth.example/token").client_id("app");
    let out = endpoint.refresh(Refresh::new("r0", Some("proof"))).await;
    (out, http.sent())
}

#[tokio::test]
async fn every_token_endpoint_answer_becomes_its_outcome() {
    // §5.1: the tokens, the Date as the server's clock; the request is the refresh grant.
    let (out, sent) = refresh_with(vec![answer(
        200,
        &[
            ("date", "Sun, 06 Dec 2026 12:00:00 GMT"),
            ("content-type", "application/json"),
        ],
        PAIR,
    )])
    .await;
    let refreshed = out.expect("tokens");
    assert_eq!(refreshed.tokens.access_token, "a1");
    assert_eq!(refreshed.tokens.refresh_token, "r1");
    assert_eq!(refreshed.tokens.expires_in, 300);
    assert_eq!(refreshed.server_date, Some(1_796_558_400));
    assert_eq!(
        sent,
        vec![(
            "https://auth.example/token".to_owned(),
            "grant_type=refresh_token&refresh_token=r0&client_id=app".to_owned(),
            Some("proof".to_owned())
        )]
    );

    // §5.2 and RFC 9449.
    let (out, _) = refresh_with(vec![answer(400, &[], r#"{"error":"invalid_grant"}"#)]).await;
    assert!(matches!(out, Err(TransportError::InvalidGrant)), "{out:?}");
    let (out, _) = refresh_with(vec![answer(
        400,
        &[("dpop-nonce", "n-1")],
        r#"{"error":"use_dpop_nonce"}"#,
    )])
    .await;
    assert!(
        matches!(&out, Err(TransportError::UseDpopNonce(n)) if n == "n-1"),
        "{out:?}"
    );
    let (out, _) = refresh_with(vec![answer(
        400,
        &[("date", "Sun, 06 Dec 2026 12:00:00 GMT")],
        r#"{"error":"invalid_dpop_proof"}"#,
    )])
    .await;
    assert!(
        matches!(
            out,
            Err(TransportError::InvalidDpopProof(Some(1_796_558_400)))
        ),
        "{out:?}"
    );

    // Anything else is "no usable answer", with its cause: the keeper retries and keeps the
    // session (never logs out on a 5xx, a proxy's HTML page or a truncated body).
    for (status, headers, body) in [
        (400, vec![], r#"{"error":"use_dpop_nonce"}"#), // without the nonce header
        (400, vec![], r#"{"error":"invalid_request"}"#),
        (429, vec![("retry-after", "3")], r#"{"error":"slow_down"}"#),
        (500, vec![], "<html>bad gateway</html>"),
        (200, vec![], r#"{"access_token":"a1","expires_in":300}"#), // no refresh_token
        (
            200,
            vec![],
            r#"{"access_token":"a1","refresh_token":"r1","expires_in":-5}"#,
        ),
        (200, vec![], "{\"access_token\":\"a1\",\"refresh_token\""),
        (200, vec![], ""),
    ] {
        let (out, _) = refresh_with(vec![answer(status, &headers, body)]).await;
        let Err(TransportError::Unavailable(cause)) = &out else {
            panic!("{status} {body}: {out:?}");
        };
        assert!(!cause.to_string().is_empty());
    }
    let (out, _) = refresh_with(vec![Err("connection reset".into())]).await;
    let Err(e @ TransportError::Unavailable(_)) = &out else {
        panic!("{out:?}");
    };
    let cause = std::error::Error::source(e).expect("the cause is kept");
    assert_eq!(cause.to_string(), "connection reset");

    // A huge expires_in is clamped to a day; a missing one is taken as a minute.
    let (out, _) = refresh_with(vec![answer(
        200,
        &[],
        r#"{"access_token":"a","refresh_token":"r","expires_in":99999999999}"#,
    )])
    .await;
    assert_eq!(out.expect("tokens").tokens.expires_in, 86_400);
    let (out, _) = refresh_with(vec![answer(
        200,
        &[],
        r#"{"access_token":"a","refresh_token":"r"}"#,
    )])
    .await;
    assert_eq!(out.expect("tokens").tokens.expires_in, 60);
    // An answer over 64 KiB is not parsed.
    let big = format!(
        r#"{{"access_token":"{}","refresh_token":"r"}}"#,
        "a".repeat(70_000)
    );
    let (out, _) = refresh_with(vec![answer(200, &[], &big)]).await;
    assert!(
        matches!(out, Err(TransportError::Unavailable(_))),
        "{out:?}"
    );
}

#[tokio::test]
async fn log_in_at_the_login_endpoint_with_a_bound_key_retries_once_with_the_nonce() {
    let http = Scripted::new(vec![
        answer(
            400,
            &[("dpop-nonce", "n-1")],
            r#"{"error":"use_dpop_nonce"}"#,
        ),
        answer(200, &[], PAIR),
    ]);
    let endpoint = TokenEndpoint::new(&http, "https://auth.example/token");
    let body = serde_json::json!({ "username": "alice", "password": "s3cret" });
    let login = Credentials::Login {
        url: "https://auth.example/login",
        body: &body,
    };
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let jkt = key.thumbprint();
    let keeper = Keeper::log_in(endpoint, NoStorage, login, Some(key))
        .await
        .expect("logged in");
    assert_eq!(keeper.access_token().await.expect("held"), "a1");
    assert_eq!(keeper.dpop_thumbprint(), Some(jkt));
    let sent = http.sent();
    assert_eq!(sent.len(), 2);
    for (uri, body, proof) in &sent {
        assert_eq!(uri, "https://auth.example/login");
        assert_eq!(body, r#"{"password":"s3cret","username":"alice"}"#);
        let proof = proof.as_deref().expect("a proof on every try");
        let claims = tidepass::dangerous::decode_unverified(proof)
            .expect("claims")
            .claims;
        assert_eq!(claims["htu"], "https://auth.example/login");
        assert_eq!(claims["htm"], "POST");
    }
    let second = tidepass::dangerous::decode_unverified(sent[1].2.as_deref().expect("proof"))
        .expect("claims")
        .claims;
    assert_eq!(
        second["nonce"], "n-1",
        "the retry carries the server's nonce"
    );
}

#[tokio::test]
async fn log_in_by_a_token_endpoint_grant_and_refused_logins() {
    let http = Scripted::new(vec![answer(200, &[], PAIR)]);
    let endpoint = TokenEndpoint::new(&http, "https://auth.example/token").client_id("app");
    let grant = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "p w"),
    ];
    let keeper = Keeper::log_in(endpoint, NoStorage, Credentials::Grant(&grant), None)
        .await
        .expect("logged in");
    assert_eq!(keeper.access_token().await.expect("held"), "a1");
    assert_eq!(
        http.sent()[0].1,
        "grant_type=password&username=alice&password=p+w&client_id=app"
    );

    for (status, body, error) in [
        (
            401,
            r#"{"error":"invalid_credentials"}"#,
            Some("invalid_credentials"),
        ),
        (400, r#"{"error":"invalid_grant"}"#, Some("invalid_grant")),
        (429, r#"{"error":"slow_down"}"#, Some("slow_down")),
        (503, "down", None),
    ] {
        let http = Scripted::new(vec![answer(status, &[], body)]);
        let endpoint = TokenEndpoint::new(&http, "https://auth.example/token");
        let out = Keeper::log_in(endpoint, NoStorage, Credentials::Grant(&grant), None).await;
        match out {
            Err(ClientError::Refused {
                status: s,
                error: e,
            }) => {
                assert_eq!((s, e.as_deref()), (status, error));
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    let http = Scripted::new(vec![Err("no route".into())]);
    let endpoint = TokenEndpoint::new(&http, "https://auth.example/token");
    let out = Keeper::log_in(endpoint, NoStorage, Credentials::Grant(&grant), None).await;
    assert!(matches!(out, Err(ClientError::Unavailable(_))), "{out:?}");
}

/// The ready client refuses to send credentials in clear to anything but loopback, unless
/// told to.
#[cfg(feature = "client-http")]
#[tokio::test]
async fn the_ready_client_sends_plain_http_only_to_loopback() {
    use tidepass::client::HyperClient;
    let http = HyperClient::new().expect("client");
    let post = |url: &str| {
        Request::post(url)
            .body(b"password=x".to_vec())
            .expect("request")
    };
    let e = http
        .send(post("http://auth.example/login"))
        .await
        .expect_err("clear text");
    assert!(e.to_string().contains("plain http"), "{e}");
    // Loopback is allowed (nothing listens on port 9 here: a connection error, not a refusal).
    for url in [
        "http://127.0.0.1:9/login",
        "http://[::1]:9/login",
        "http://localhost:9/login",
    ] {
        let e = http.send(post(url)).await.expect_err("nothing listens");
        assert!(!e.to_string().contains("plain http"), "{url}: {e}");
    }
    let opened = HyperClient::new().expect("client").allow_plain_http();
    let e = opened
        .send(post("http://auth.invalid/login"))
        .await
        .expect_err("no such host");
    assert!(!e.to_string().contains("plain http"), "{e}");
}

/// The device client against an OAuth server nobody here wrote: the npm `oauth2-mock-server`
/// (`tests/data/js/oauth2_server.mjs`). The keeper logs in by the password grant, refreshes
/// with the refresh_token grant and saves each pair; when the server answers `invalid_grant`
/// (RFC 6749 §5.2) it says "log in again" and forgets the saved session.
#[cfg(feature = "client-http")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_against_an_independent_oauth_server() {
    use tidepass::client::{FileStorage, HyperClient, Storage as _};
    let (Some(node), Some(dir)) = (
        crate::common::tool("node"),
        crate::common::js_dir("oauth2-mock-server"),
    ) else {
        return;
    };
    let mut command = std::process::Command::new(node);
    command
        .current_dir(dir)
        .arg("oauth2_server.mjs")
        .env("REFUSE_FROM", "3")
        .stdin(std::process::Stdio::piped());
    let server = crate::common::Proc::listening(command);
    let endpoint = TokenEndpoint::new(
        HyperClient::new().expect("client"),
        format!("{}/token", server.url),
    )
    .client_id("device-app");
    let state =
        std::env::temp_dir().join(format!("tidepass-oauth-mock-{}.json", std::process::id()));
    let storage = FileStorage::new(&state);
    let grant = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "s3cret"),
    ];
    let keeper = Keeper::log_in(endpoint, storage.clone(), Credentials::Grant(&grant), None)
        .await
        .expect("logged in by the password grant");
    let first = keeper.access_token().await.expect("held");
    let saved = storage
        .load()
        .await
        .expect("load")
        .expect("the login was saved");
    // The mock's tokens are its own: a JWT access token and a UUID refresh token.
    assert_eq!(first.split('.').count(), 3, "{first}");
    assert_eq!(saved.tokens.refresh_token.len(), 36);
    // Each refresh trades the saved refresh token for a new one, saved before the access
    // token is handed out (the mock's JWTs are deterministic within a second, its refresh
    // tokens random).
    let mut seen = vec![saved.tokens.refresh_token.clone()];
    for n in 1..=2 {
        let access = keeper
            .refresh_now()
            .await
            .unwrap_or_else(|e| panic!("refresh {n}: {e}"));
        assert_eq!(access.split('.').count(), 3);
        let now = storage.load().await.expect("load").expect("saved");
        assert!(
            !seen.contains(&now.tokens.refresh_token),
            "refresh {n} rotated"
        );
        seen.push(now.tokens.refresh_token);
    }
    // The third refresh is refused as a revoked session's would be.
    let e = keeper.refresh_now().await.expect_err("invalid_grant");
    assert!(matches!(e, ClientError::LoginRequired), "{e:?}");
    assert!(
        storage.load().await.expect("load").is_none(),
        "the session is forgotten"
    );
    let _ = std::fs::remove_file(&state);
}
