//! `Follower` against an issuer on a loopback port: discovery through RFC 8414 metadata (and
//! its refusal when the metadata speaks for another issuer), keys followed across a rotation
//! with one refresh on the new kid, and forged kids that cannot make it flood the issuer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::verify::follow::Follower;
use tidepass::{ErrorKind, Minter};

struct Issuer {
    minter: Minter,
    issuer_in_metadata: std::sync::Mutex<String>,
    /// The metadata's `jwks_uri`, when not the issuer's own `/jwks`.
    jwks_uri_in_metadata: std::sync::Mutex<Option<String>>,
    jwks_hits: AtomicUsize,
}

async fn metadata(State(s): State<Arc<Issuer>>) -> axum::Json<serde_json::Value> {
    let iss = s.issuer_in_metadata.lock().expect("lock").clone();
    let jwks_uri = s.jwks_uri_in_metadata.lock().expect("lock").clone();
    axum::Json(serde_json::json!({
        "issuer": iss,
        "jwks_uri": jwks_uri.unwrap_or_else(|| format!("{}/jwks", s.minter.issuer())),
    }))
}

async fn jwks(State(s): State<Arc<Issuer>>) -> axum::Json<serde_json::Value> {
    s.jwks_hits.fetch_add(1, Ordering::Relaxed);
    axum::Json(s.minter.keys().jwks())
}

/// An issuer at `http://127.0.0.1:PORT` serving its metadata and JWKS.
async fn issuer() -> Arc<Issuer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    issuer_on(listener)
}

/// The issuer on `listener`.
fn issuer_on(listener: tokio::net::TcpListener) -> Arc<Issuer> {
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Arc::new(Issuer {
        minter: Minter::new(
            SigningKey::generate(Algorithm::EdDSA).expect("key"),
            &url,
            "api",
        )
        .expect("minter"),
        issuer_in_metadata: std::sync::Mutex::new(url),
        jwks_uri_in_metadata: std::sync::Mutex::new(None),
        jwks_hits: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/jwks", get(jwks))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    state
}

/// Issue 30: services start together, so a follower may wait for its issuer
/// (`wait_for_issuer`) instead of every application writing its own retry loop; without it,
/// an unreachable issuer fails `start` at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_waits_for_an_issuer_that_starts_later() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let e = Follower::builder(&url, "api")
        .without_revocations()
        .start()
        .await
        .expect_err("nobody there");
    assert_eq!(e.kind(), ErrorKind::Fetch);
    let waiting = tokio::spawn({
        let url = url.clone();
        async move {
            Follower::builder(&url, "api")
                .without_revocations()
                .wait_for_issuer(Duration::from_secs(20))
                .start()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!waiting.is_finished(), "still waiting");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port again");
    let s = issuer_on(listener);
    let follower = waiting
        .await
        .expect("task")
        .expect("started once the issuer was up");
    let token = s.minter.token("ada").mint().expect("mint");
    assert_eq!(
        follower.verify(token.as_str()).await.expect("verify").sub,
        "ada"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_keys_found_through_metadata() {
    let s = issuer().await;
    let url = s.minter.issuer().to_owned();
    let follower = Follower::builder(&url, "api")
        .without_revocations()
        .min_unknown_kid_gap(Duration::from_secs(3600))
        .start()
        .await
        .expect("start");
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 1);
    let token = s.minter.token("ada").mint().expect("mint");
    assert_eq!(
        follower.verify(token.as_str()).await.expect("verify").sub,
        "ada"
    );

    // The issuer rotates: a token with the new kid costs one JWKS fetch, then verifies.
    s.minter.rotate_at(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        0,
        Duration::from_secs(60),
    );
    let rotated = s.minter.token("bob").mint().expect("mint");
    assert_eq!(
        follower.verify(rotated.as_str()).await.expect("verify").sub,
        "bob"
    );
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 2);

    // Forged kids: refused, and inside the gap none of them reaches the issuer.
    let other = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        &url,
        "api",
    )
    .expect("minter");
    for _ in 0..20 {
        let forged = other.token("mallory").mint().expect("mint");
        let err = follower.verify(forged.as_str()).await.expect_err("forged");
        assert_eq!(err.kind(), ErrorKind::UnknownKey);
    }
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 2, "no flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_for_another_issuer_is_refused() {
    let s = issuer().await;
    let url = s.minter.issuer().to_owned();
    *s.issuer_in_metadata.lock().expect("lock") = "https://evil.example".into();
    let err = Follower::builder(&url, "api")
        .without_revocations()
        .start()
        .await
        .expect_err("another issuer's metadata");
    assert_eq!(err.kind(), ErrorKind::InvalidMetadata);
    assert_eq!(
        s.jwks_hits.load(Ordering::Relaxed),
        0,
        "its keys were never fetched"
    );
    // Asked for a feed the metadata does not name: a clear configuration error.
    *s.issuer_in_metadata.lock().expect("lock") = url.clone();
    let err = Follower::builder(&url, "api")
        .start()
        .await
        .expect_err("no feed");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    // A jwks_uri the HTTP client cannot parse (a non-ASCII host) is the metadata's fault, not
    // the caller's configuration.
    *s.jwks_uri_in_metadata.lock().expect("lock") = Some("http://b\u{fc}cher.example/jwks".into());
    let err = Follower::builder(&url, "api")
        .without_revocations()
        .start()
        .await
        .expect_err("an unfetchable jwks_uri");
    assert_eq!(err.kind(), ErrorKind::InvalidMetadata);
    assert_eq!(s.jwks_hits.load(Ordering::Relaxed), 0);
    // Nobody listening: a fetch error, not a hang.
    let err = Follower::builder("http://127.0.0.1:9", "api")
        .without_revocations()
        .start()
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind(), ErrorKind::Fetch);
}

/// panva/jose (npm) as a Node.js process (`tests/data/js/jose_issuer.mjs`).
struct JoseIssuer {
    proc: crate::common::Proc,
    http: reqwest::Client,
}

impl JoseIssuer {
    fn start(node: std::path::PathBuf, dir: &'static str) -> Self {
        let mut node = std::process::Command::new(node);
        // Its stdin stays open as long as the test holds it: if the test dies, so does node.
        node.current_dir(dir)
            .arg("jose_issuer.mjs")
            .stdin(std::process::Stdio::piped());
        Self {
            proc: crate::common::Proc::listening(node),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> &str {
        &self.proc.url
    }

    async fn get(&self, path: &str) -> String {
        let res = self
            .http
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .expect("jose issuer");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.text().await.expect("body")
    }

    async fn jwks_hits(&self) -> usize {
        self.get("/hits").await.parse().expect("a count")
    }
}

/// The follower against an issuer nobody here wrote: panva/jose (npm) makes the keys, the
/// JWKS (RFC 7638 thumbprints as kids), the RFC 8414 metadata and the RFC 9068 tokens
/// (`tests/data/js/jose_issuer.mjs`). Discovery, then a token per algorithm as the issuer
/// rotates through ES256, RS256, PS256, EdDSA and ES384 (one JWKS fetch per new kid, and an
/// old key's token still good; a token by a key the JWKS does not hold, refused without a
/// fetch inside the unknown-kid gap), and jose's tokens that must be refused: tampered, for
/// another audience, expired, of another `typ`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_jose_issuer() {
    let Some(node) = crate::common::tool("node") else {
        return;
    };
    let Some(dir) = crate::common::js_dir("jose") else {
        return;
    };
    const GAP: Duration = Duration::from_secs(2);
    let jose = JoseIssuer::start(node, dir);
    let follower = Follower::builder(jose.url(), "api")
        .without_revocations()
        .min_unknown_kid_gap(GAP)
        .start()
        .await
        .expect("start on jose's metadata");
    assert_eq!(jose.jwks_hits().await, 1);

    let first = jose.get("/token?sub=ada").await;
    let v = follower.verify(&first).await.expect("jose's ES256 token");
    assert_eq!((v.sub.as_str(), v.iss.as_str()), ("ada", jose.url()));
    assert_eq!(v.client_id.as_deref(), Some("jose-client"));

    for (i, alg) in ["RS256", "PS256", "EdDSA", "ES384"].into_iter().enumerate() {
        // Both tokens first, so the rogue one is checked right after the new kid's fetch,
        // well inside the gap, however slow the machine.
        let rogue = jose.get("/rogue?sub=mallory").await;
        jose.get(&format!("/rotate?alg={alg}")).await;
        let token = jose.get(&format!("/token?sub=u-{alg}")).await;
        let v = follower.verify(&token).await;
        // A kid the JWKS does not hold: refused, and nothing fetched for it.
        let err = follower.verify(&rogue).await.expect_err("rogue kid");
        let v = v.unwrap_or_else(|e| panic!("jose's {alg} token: {e}"));
        assert_eq!(v.sub, format!("u-{alg}"));
        assert_eq!(err.kind(), ErrorKind::UnknownKey);
        assert_eq!(
            jose.jwks_hits().await,
            2 + i,
            "one fetch for {alg}'s new kid, none for the rogue one"
        );
        tokio::time::sleep(GAP + Duration::from_millis(100)).await;
    }
    // The first key is still in jose's JWKS: its token is still good.
    assert_eq!(follower.verify(&first).await.expect("first").sub, "ada");

    let fresh = jose.get("/token?sub=ada").await;
    let (h, rest) = fresh.split_once('.').expect("a JWS");
    let (p, s) = rest.split_once('.').expect("a JWS");
    let mut claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p)
            .expect("base64url"),
    )
    .expect("claims");
    claims["sub"] = "mallory".into();
    let forged_p = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&claims).expect("json"),
    );
    let refusals = [
        (format!("{h}.{forged_p}.{s}"), ErrorKind::InvalidSignature),
        (
            jose.get("/token?aud=other").await,
            ErrorKind::InvalidAudience,
        ),
        (jose.get("/token?exp_in=-120").await, ErrorKind::Expired),
        (jose.get("/token?typ=JWT").await, ErrorKind::InvalidType),
    ];
    for (token, kind) in refusals {
        let err = follower.verify(&token).await.expect_err("refused");
        assert_eq!(err.kind(), kind, "{err}");
    }
}

/// The issuer rotates and signs with the new key at once (the worst case: nothing
/// pre-published): the axum extractor, `require_auth` and the tower layer, verifying through
/// the follower's verifier, fetch the new JWKS and answer 200 to the first request with the
/// new `kid`, with no application code (before: 401 until the cached JWKS expired; the example
/// microservice carried its own middleware for this). A forged kid still costs one fetch per
/// gap at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_integrations_follow_a_rotation_themselves() {
    use axum::extract::FromRef;
    use tidepass::Verifier;
    use tidepass::http::axum::{Auth, require_auth};
    use tidepass::http::layer::AuthLayer;
    use tower::{Service, ServiceExt};

    #[derive(Clone)]
    struct App {
        verifier: Arc<Verifier>,
    }
    impl FromRef<App> for Arc<Verifier> {
        fn from_ref(app: &App) -> Self {
            app.verifier.clone()
        }
    }
    async fn me(Auth(claims): Auth) -> String {
        claims.sub.to_string()
    }

    let s = issuer().await;
    let url = s.minter.issuer().to_owned();
    let follower = Follower::builder(&url, "api")
        .without_revocations()
        .min_unknown_kid_gap(Duration::from_millis(1))
        .start()
        .await
        .expect("start");
    let verifier = follower.verifier().clone();
    let extractor = Router::new().route("/me", get(me)).with_state(App {
        verifier: verifier.clone(),
    });
    let middleware = Router::new().route("/me", get(|| async { "ok" })).layer(
        axum::middleware::from_fn_with_state(
            verifier.clone(),
            require_auth::<tidepass::token::claims::NoExtra>,
        ),
    );
    let mut layered = tower::ServiceBuilder::new()
        .layer(AuthLayer::new(verifier.clone()))
        .service(tower::service_fn(|_req: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        }));
    let request = |token: &str| {
        http::Request::get("/me")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    for round in 0..3 {
        s.minter.rotate_at(
            SigningKey::generate(Algorithm::EdDSA).expect("key"),
            0,
            Duration::from_secs(60),
        );
        let before = s.jwks_hits.load(Ordering::Relaxed);
        let token = s.minter.token("ada").mint().expect("mint");
        let r = match round {
            0 => extractor.clone().oneshot(request(token.as_str())).await,
            1 => middleware.clone().oneshot(request(token.as_str())).await,
            _ => {
                let req = http::Request::get("/me")
                    .header("authorization", format!("Bearer {}", token.as_str()))
                    .body(String::new())
                    .expect("request");
                let r = layered
                    .ready()
                    .await
                    .expect("ready")
                    .call(req)
                    .await
                    .expect("answer");
                assert_eq!(r.status(), 200, "tower layer, round {round}");
                assert_eq!(s.jwks_hits.load(Ordering::Relaxed), before + 1);
                continue;
            }
        }
        .expect("answer");
        assert_eq!(r.status(), 200, "round {round}");
        assert_eq!(s.jwks_hits.load(Ordering::Relaxed), before + 1, "one fetch");
    }
}

/// A follower for tokens with typed custom claims (what `Login::claims` mints): its verifier
/// is a `Verifier<C>`, and a claim the type requires but a token lacks is refused (before:
/// `Follower` was for `Verifier<NoExtra>` only, so typed claims could not reach a service
/// that follows its issuer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_verifies_typed_custom_claims() {
    #[derive(serde::Deserialize, serde::Serialize, Clone, Debug)]
    struct Tenant {
        tenant: String,
    }
    let s = issuer().await;
    let url = s.minter.issuer().to_owned();
    let follower = Follower::builder(&url, "api")
        .without_revocations()
        .start_with_claims::<Tenant>()
        .await
        .expect("start");
    let token = s
        .minter
        .token("ada")
        .claims(Tenant {
            tenant: "acme".into(),
        })
        .mint()
        .expect("mint");
    let claims = follower.verify(token.as_str()).await.expect("verify");
    assert_eq!(claims.extra.tenant, "acme");
    let plain = s.minter.token("bob").mint().expect("mint");
    assert!(follower.verify(plain.as_str()).await.is_err(), "no tenant");
}

/// A follower on Token Status Lists alone (no native feed), against the auth server's own
/// endpoints on a loopback port: a token whose list it does not hold yet is stale (fail
/// closed) until its next round fetches the list the aggregation names; then VALID; after a
/// logout, refused as revoked within the list's `ttl` plus a poll.
#[cfg(feature = "status-list")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_on_status_lists_alone_sees_a_logout() {
    use tidepass::http::server::{AuthServer, Delivery};
    use tidepass::issuer::StatusLists;
    use tidepass::{Login, MemoryStore};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let lists = StatusLists::new(format!("{url}/statuslists"))
        .and_then(|l| l.ttl(Duration::from_secs(1)))
        .and_then(|l| l.rebuild_after(Duration::ZERO))
        .expect("lists");
    let issuer = tidepass::Issuer::builder(
        MemoryStore::new(),
        Minter::new(key, &url, "api").expect("minter"),
    )
    .ephemeral_refresh_secrets()
    .status_lists(lists)
    .build()
    .expect("issuer");
    let server = Arc::new(AuthServer::builder(issuer).build().expect("server"));
    let app = tidepass::http::axum::router(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let follower = Follower::builder(&url, "api")
        .without_revocations()
        .status_lists()
        .poll_interval(Duration::from_millis(100))
        .start()
        .await
        .expect("follower");
    assert!(follower.revocation_list().is_none(), "no native feed");
    let login = |who: &'static str| {
        let server = server.clone();
        async move {
            let (parts, ()) = http::Request::post("/login")
                .body(())
                .expect("request")
                .into_parts();
            let r = server
                .login(&parts, Delivery::Body, async { Some(Login::new(who)) })
                .await;
            let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
            v["access_token"].as_str().expect("access").to_owned()
        }
    };
    // Logged in after the follower started: list 0 did not exist at its first round.
    let access = login("alice").await;
    let kept = login("bob").await;
    assert_eq!(
        follower
            .verify(&access)
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
        Err(ErrorKind::RevocationsStale),
        "a list not held yet fails closed"
    );
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while follower.verify(&access).await.is_err() {
        assert!(
            std::time::Instant::now() < until,
            "the list was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sid = follower.verify(&access).await.expect("valid").sid.clone();
    let sid = sid.expect("sid").parse().expect("a session id");
    let logged_out = std::time::Instant::now();
    assert!(server.issuer().logout(sid).await.expect("logout"));
    loop {
        match follower.verify(&access).await {
            Err(e) if e.kind() == ErrorKind::Revoked => break,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
        // The bound is the list's ttl (1 s) plus a poll; 5 s leaves room for a busy machine.
        assert!(
            logged_out.elapsed() < Duration::from_secs(5),
            "the logout never reached the follower"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    follower
        .verify(&kept)
        .await
        .expect("the other session is VALID");
}
