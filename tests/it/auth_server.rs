//! The auth service's endpoints on the `http` crate's types, with no framework and no network:
//! requests built by hand into `AuthServer::handle`, answers checked against the RFCs.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use base64::Engine as _;
use http::{Method, Request, StatusCode};
use serde_json::Value;
use tidepass::http::cookie::RefreshCookie;
use tidepass::http::server::{AuthServer, Delivery, Peer, Reply};
use tidepass::issuer::guard::FailureLimiter;
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::{Issuer, Login, MemoryStore, Minter};

fn server_at(
    issuer_url: &str,
    f: impl FnOnce(
        tidepass::http::server::AuthServerBuilder<MemoryStore>,
    ) -> tidepass::http::server::AuthServerBuilder<MemoryStore>,
) -> AuthServer<MemoryStore> {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, issuer_url, "api").expect("minter");
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .client_id("web")
        .build()
        .expect("issuer");
    f(AuthServer::builder(issuer).introspection_client("rs", "rs secret"))
        .build()
        .expect("server")
}

fn json(r: &Reply) -> Value {
    serde_json::from_slice(r.body()).expect("a JSON body")
}

fn form(uri: &str, body: &str) -> Request<String> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .expect("request")
}

async fn login(server: &AuthServer<MemoryStore>, delivery: Delivery) -> Reply {
    let (parts, ()) = Request::post("/login")
        .extension(Peer(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        .body(())
        .expect("request")
        .into_parts();
    server
        .login(&parts, delivery, async {
            Some(Login::new("alice").scope("read"))
        })
        .await
}

#[tokio::test]
async fn token_endpoint_follows_rfc6749() {
    let server = server_at("https://auth.example", |b| b);
    server.sync_revocations().await.expect("sync");
    let pair = json(&login(&server, Delivery::Body).await);
    let rt = pair["refresh_token"].as_str().expect("rt");

    let r = server
        .handle(form(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={rt}"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // §5.1: never cached.
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let next = json(&r);
    assert_eq!(next["token_type"], "Bearer");
    assert_ne!(next["refresh_token"], pair["refresh_token"]);

    // §5.2 errors, with no-store as well.
    let r = server
        .handle(form("/token", "grant_type=password&username=a"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&r)["error"], "unsupported_grant_type");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = server
        .handle(form(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={rt}x"),
        ))
        .await;
    assert_eq!(json(&r)["error"], "invalid_grant");
    // §3.1: a parameter sent twice is refused (which one would count is ambiguous).
    let next_rt = next["refresh_token"].as_str().expect("rt");
    let r = server
        .handle(form(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={next_rt}&refresh_token=tprt_x"),
        ))
        .await;
    assert_eq!(
        (r.status(), json(&r)["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // Not a form at all.
    let r = server
        .handle(
            Request::post("/token")
                .header("content-type", "application/json")
                .body(r#"{"grant_type":"refresh_token"}"#.to_owned())
                .expect("request"),
        )
        .await;
    assert_eq!(json(&r)["error"], "invalid_request");
    // Routing: unknown path, wrong method, too large a body.
    let r = server.handle(form("/nope", "")).await;
    assert_eq!(
        (r.status(), json(&r)["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let r = server
        .handle(Request::get("/token").body(Vec::new()).expect("request"))
        .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = server.handle(form("/token", &"a".repeat(17 * 1024))).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn cookie_mode_with_the_host_cookie_and_csrf_defence() {
    let server = server_at("https://auth.example", |b| {
        b.cookie(RefreshCookie::host())
            .allowed_origin("https://app.example")
    });
    let r = login(&server, Delivery::Cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(json(&r).get("refresh_token").is_none(), "not in the body");
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(set.starts_with("__Host-tidepass-refresh=tprt_"), "{set}");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let pair = set.split(';').next().expect("pair").to_owned();
    let refresh = |origin: &'static str, cookie: String| {
        Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", origin)
            .header("cookie", cookie)
            .body("grant_type=refresh_token".to_owned())
            .expect("request")
    };
    // Another origin: refused, and the token is not spent (the right page still refreshes).
    let r = server
        .handle(refresh("https://evil.example", pair.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Two refresh cookies: refused.
    let r = server
        .handle(refresh(
            "https://app.example",
            format!("{pair}; __Host-tidepass-refresh=tprt_planted"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The default cookie's name is not read by a server configured for the __Host- one.
    let r = server
        .handle(refresh(
            "https://app.example",
            pair.replace("__Host-", "__Secure-"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = server
        .handle(refresh("https://app.example", pair.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let next = r.headers()["set-cookie"].to_str().expect("ascii");
    assert!(next.starts_with("__Host-tidepass-refresh=tprt_") && !next.starts_with(&pair));
    // A page of the issuer's own origin may always refresh by cookie.
    let next_pair = next.split(';').next().expect("pair").to_owned();
    let r = server
        .handle(refresh("https://auth.example", next_pair))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn introspection_authenticates_clients_and_sees_revocations() {
    let server = server_at("https://auth.example", |b| b);
    server.sync_revocations().await.expect("sync");
    let pair = json(&login(&server, Delivery::Body).await);
    let access = pair["access_token"].as_str().expect("access").to_owned();
    let basic = |id: &str, secret: &str| {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let cred = format!("{}:{}", enc(id), enc(secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(cred)
        )
    };
    let introspect = |auth: Option<String>, body: String| {
        let mut b = Request::post("/introspect")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(body).expect("request")
    };
    // client_secret_basic: the secret form-urlencoded inside (RFC 6749 §2.3.1), here with a
    // space that arrives as `+`.
    let r = server
        .handle(introspect(
            Some(basic("rs", "rs secret")),
            format!("token={access}"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(&r);
    assert_eq!(body["active"], true);
    assert_eq!(
        body["client_id"], "web",
        "RFC 9068: the issuer's default client id"
    );
    assert_eq!(body["aud"], "api");
    assert_eq!(body["iss"], "https://auth.example");
    assert_eq!(
        body["token_type"], "Bearer",
        "RFC 7662 §2.2: the RFC 6749 §7.1 type"
    );
    // client_secret_post.
    let r = server
        .handle(introspect(
            None,
            format!("token={access}&client_id=rs&client_secret=rs+secret"),
        ))
        .await;
    assert_eq!(json(&r)["active"], true);
    // A wrong secret, a wrong id, none at all: 401 invalid_client.
    for auth in [
        Some(basic("rs", "nope")),
        Some(basic("other", "rs secret")),
        None,
    ] {
        let r = server
            .handle(introspect(auth, format!("token={access}")))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json(&r)["error"], "invalid_client");
    }
    // RFC 7009 on the access token lists its jti: inactive at once, and the account
    // endpoints refuse it.
    let r = server
        .handle(form("/revoke", &format!("token={access}")))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = server
        .handle(introspect(
            Some(basic("rs", "rs secret")),
            format!("token={access}"),
        ))
        .await;
    assert_eq!(json(&r), serde_json::json!({ "active": false }));
    let r = server
        .handle(
            Request::get("/sessions")
                .header("authorization", format!("Bearer {access}"))
                .body(Vec::new())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("invalid_token")
    );
    // The refresh token introspects as active until the session ends.
    let rt = pair["refresh_token"].as_str().expect("rt");
    let r = server
        .handle(introspect(
            Some(basic("rs", "rs secret")),
            format!("token={rt}"),
        ))
        .await;
    assert_eq!(json(&r)["token_type"], "refresh_token");
}

#[tokio::test]
async fn metadata_of_an_issuer_with_a_path() {
    let server = server_at("https://auth.example/tenant-a", |b| b);
    assert_eq!(
        server.metadata_path(),
        "/.well-known/oauth-authorization-server/tenant-a"
    );
    let r = server
        .handle(
            Request::get("/.well-known/oauth-authorization-server/tenant-a")
                .body(Vec::new())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let m = json(&r);
    assert_eq!(m["issuer"], "https://auth.example/tenant-a");
    assert_eq!(m["token_endpoint"], "https://auth.example/tenant-a/token");
    assert_eq!(
        m["jwks_uri"],
        "https://auth.example/tenant-a/.well-known/jwks.json"
    );
    // The endpoints answer below the issuer's path, not at the root.
    let r = server
        .handle(
            Request::get("/tenant-a/.well-known/jwks.json")
                .body(Vec::new())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("a")
            .contains("max-age")
    );
    let r = server
        .handle(
            Request::get("/.well-known/jwks.json")
                .body(Vec::new())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // An issuer that is no URL is refused when the server is built.
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let issuer = Issuer::builder(
        MemoryStore::new(),
        Minter::new(key, "auth.example?x=1", "api").expect("minter"),
    )
    .ephemeral_refresh_secrets()
    .build()
    .expect("issuer");
    let err = AuthServer::builder(issuer).build().expect_err("not a URL");
    assert_eq!(err.kind(), tidepass::ErrorKind::InvalidConfig);
}

#[tokio::test]
async fn failed_refreshes_and_logins_are_rate_limited_per_peer() {
    let server = server_at("https://auth.example", |b| {
        b.failure_limiter(FailureLimiter::new(3, Duration::from_secs(600)))
    });
    let from = |ip: [u8; 4], body: &str| {
        let mut r = form("/token", body);
        r.extensions_mut().insert(Peer(IpAddr::from(ip)));
        r
    };
    let forged = format!(
        "grant_type=refresh_token&refresh_token=tprt_{}",
        "A".repeat(78)
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(server.handle(from([192, 0, 2, 1], &forged)).await.status());
    }
    assert_eq!(statuses[0], StatusCode::BAD_REQUEST);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let r = server.handle(from([192, 0, 2, 1], &forged)).await;
    assert!(r.headers().contains_key("retry-after"));
    // Another address has its own budget.
    let r = server.handle(from([192, 0, 2, 2], &forged)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A login from the throttled address never reaches the password check.
    let (parts, ()) = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .extension(Peer(IpAddr::from([192, 0, 2, 1])))
        .body(())
        .expect("request")
        .into_parts();
    let checked = std::sync::atomic::AtomicBool::new(false);
    let r = server
        .login(&parts, Delivery::Body, async {
            checked.store(true, std::sync::atomic::Ordering::Relaxed);
            Some(Login::new("alice"))
        })
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!checked.load(std::sync::atomic::Ordering::Relaxed));
}

/// DPoP on the auth service's own endpoints, with server nonces (RFC 9449 §5, §8): a login
/// proof without the nonce is answered 400 `use_dpop_nonce` with a `DPoP-Nonce`; with it, the
/// session is bound (`token_type` DPoP, `cnf.jkt`); a refresh without a proof, or with
/// another key's, is 400 `invalid_dpop_proof` and changes nothing; the metadata lists the
/// proof algorithms; the account endpoints take the DPoP scheme, and refuse the bound token
/// as a bearer token with a `DPoP` challenge.
#[tokio::test]
async fn dpop_binds_sessions_at_the_token_endpoint() {
    use tidepass::client::DpopKey;
    use tidepass::verify::dpop::{Nonces, ProofChecker};
    let nonces = Nonces::generate(Duration::from_secs(300)).expect("nonces");
    let server = server_at("https://auth.example", |b| {
        b.dpop(ProofChecker::new().nonces(nonces))
    });
    server.sync_revocations().await.expect("sync");
    let now = server.issuer().now();
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let login_with = |proof: String| {
        let (parts, ()) = Request::post("/login")
            .header("dpop", proof)
            .extension(Peer(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .body(())
            .expect("request")
            .into_parts();
        parts
    };
    let url = "https://auth.example/login";
    let parts = login_with(key.proof_at("POST", url, None, None, now).expect("proof"));
    let r = server
        .login(&parts, Delivery::Body, async { Some(Login::new("alice")) })
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&r)["error"], "use_dpop_nonce");
    let nonce = r.headers()["dpop-nonce"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let parts = login_with(
        key.proof_at("POST", url, None, Some(&nonce), now)
            .expect("proof"),
    );
    let r = server
        .login(&parts, Delivery::Body, async { Some(Login::new("alice")) })
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", json(&r));
    let pair = json(&r);
    assert_eq!(pair["token_type"], "DPoP");
    let access = pair["access_token"].as_str().expect("at").to_owned();
    let rt = pair["refresh_token"].as_str().expect("rt").to_owned();
    let refresh = |proof: Option<String>| {
        let mut b =
            Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
        if let Some(p) = proof {
            b = b.header("dpop", p);
        }
        b.body(format!("grant_type=refresh_token&refresh_token={rt}"))
            .expect("request")
    };
    let token_url = "https://auth.example/token";
    for proof in [
        None,
        Some(
            DpopKey::generate(Algorithm::ES256)
                .expect("thief")
                .proof_at("POST", token_url, None, Some(&nonce), now)
                .expect("proof"),
        ),
        // A proof for another endpoint.
        Some(
            key.proof_at("POST", url, None, Some(&nonce), now)
                .expect("proof"),
        ),
    ] {
        let r = server.handle(refresh(proof)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json(&r)["error"], "invalid_dpop_proof");
    }
    let r = server
        .handle(refresh(Some(
            key.proof_at("POST", token_url, None, Some(&nonce), now)
                .expect("proof"),
        )))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the session lived on: {:?}",
        json(&r)
    );
    assert_eq!(json(&r)["token_type"], "DPoP");
    assert!(
        r.headers().contains_key("dpop-nonce"),
        "a fresh nonce with every answer"
    );

    let meta = json(&server.metadata());
    assert!(
        meta["dpop_signing_alg_values_supported"]
            .as_array()
            .expect("listed")
            .iter()
            .any(|a| a == "ES256")
    );

    // The account endpoints: the bound token under DPoP, never as a bearer token.
    let sessions = |auth: String, proof: Option<String>| {
        let mut b = Request::get("/sessions").header("authorization", auth);
        if let Some(p) = proof {
            b = b.header("dpop", p);
        }
        b.body(String::new()).expect("request")
    };
    let r = server
        .handle(sessions(format!("Bearer {access}"), None))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("DPoP ")
    );
    // The configured checker demands nonces here too.
    let proof = key
        .proof_at(
            "GET",
            "https://auth.example/sessions",
            Some(&access),
            Some(&nonce),
            now,
        )
        .expect("proof");
    let r = server
        .handle(sessions(format!("DPoP {access}"), Some(proof)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Issue 30: the server keeps its revocation view current by itself. Before, a server nobody
/// ran `follow_revocations` beside answered 503 at its account endpoints forever, and never
/// saw a revocation another instance made.
#[tokio::test]
async fn the_server_keeps_its_revocation_view_current_without_a_task() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let issuer_of = |store| {
        let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
        Issuer::builder(store, minter)
            .ephemeral_refresh_secrets()
            .client_id("web")
            .build()
            .expect("issuer")
    };
    let server = AuthServer::builder(issuer_of(store.clone()))
        .revocation_sync(Duration::from_millis(100))
        .build()
        .expect("server");
    let (parts, ()) = Request::post("/login")
        .body(())
        .expect("request")
        .into_parts();
    let reply = server
        .login(&parts, Delivery::Body, async { Some(Login::new("alice")) })
        .await;
    let access = json(&reply)["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    let sessions = || {
        Request::get("/sessions")
            .header("authorization", format!("Bearer {access}"))
            .body(Vec::<u8>::new())
            .expect("request")
    };
    // No sync was ever called: the first request brings the view up.
    let listed = server.handle(sessions()).await;
    assert_eq!(listed.status(), StatusCode::OK);
    // Times people read are RFC 3339 (UTC), not Unix seconds.
    let first = &json(&listed)["sessions"][0];
    for field in ["created_at", "last_used_at", "expires_at"] {
        let text = first[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {first}"));
        assert!(
            text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
            "{field}: {text}"
        );
    }
    assert!(first["created_at"].as_str() <= first["expires_at"].as_str());

    // Another instance on the same store ends alice's sessions; within the sync interval
    // this server refuses her token, with no task running.
    let other = issuer_of(store);
    assert_eq!(other.revoke_all("alice").await.expect("revoked"), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        server.handle(sessions()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A memory store whose revocation reads can be held at a gate (to cut a request off in the
/// middle of the server's sync).
struct Gated {
    inner: MemoryStore,
    hold: std::sync::atomic::AtomicBool,
    held: tokio::sync::Notify,
}

impl tidepass::store::SessionStore for Gated {
    async fn create(&self, s: &tidepass::session::Session) -> tidepass::Result<()> {
        self.inner.create(s).await
    }
    async fn load(
        &self,
        sid: tidepass::SessionId,
    ) -> tidepass::Result<Option<tidepass::session::Session>> {
        self.inner.load(sid).await
    }
    async fn rotate(
        &self,
        sid: tidepass::SessionId,
        presented: u64,
        rules: tidepass::store::RotationRules,
    ) -> tidepass::Result<Option<tidepass::store::Rotation>> {
        self.inner.rotate(sid, presented, rules).await
    }
    async fn revoke(
        &self,
        sid: tidepass::SessionId,
        reason: tidepass::session::RevokeReason,
        now: u64,
    ) -> tidepass::Result<Option<tidepass::session::Session>> {
        self.inner.revoke(sid, reason, now).await
    }
    async fn list(&self, s: &str, now: u64) -> tidepass::Result<Vec<tidepass::session::Session>> {
        self.inner.list(s, now).await
    }
    async fn revoke_subject(
        &self,
        s: &str,
        keep: Option<tidepass::SessionId>,
        reason: tidepass::session::RevokeReason,
        now: u64,
    ) -> tidepass::Result<Vec<tidepass::session::Session>> {
        self.inner.revoke_subject(s, keep, reason, now).await
    }
    async fn cleanup(&self, now: u64, limit: usize) -> tidepass::Result<usize> {
        self.inner.cleanup(now, limit).await
    }
    async fn append_revocations(
        &self,
        entries: &[tidepass::revocation::Entry],
    ) -> tidepass::Result<u64> {
        self.inner.append_revocations(entries).await
    }
    async fn revocation_changes(
        &self,
        since: Option<u64>,
        now: u64,
    ) -> tidepass::Result<tidepass::revocation::Changes> {
        if self.hold.load(std::sync::atomic::Ordering::SeqCst) {
            self.held.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.revocation_changes(since, now).await
    }
}

/// A request cut off in the middle of the server's revocation sync (a client resetting its
/// connection) does not count as a try: the next request syncs at once. Before the fix, the
/// cut-off try was stamped as done, so a client resetting its requests could keep the view
/// from ever syncing (the review's finding).
#[tokio::test]
async fn a_sync_cut_off_by_a_dropped_request_is_tried_again_at_once() {
    let store = std::sync::Arc::new(Gated {
        inner: MemoryStore::new(),
        hold: std::sync::atomic::AtomicBool::new(true),
        held: tokio::sync::Notify::new(),
    });
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
    let issuer = Issuer::builder(store.clone(), minter)
        .ephemeral_refresh_secrets()
        .build()
        .expect("issuer");
    let server = AuthServer::builder(issuer)
        .revocation_sync(Duration::from_secs(3600))
        .build()
        .expect("server");
    let pair = server
        .issuer()
        .login(Login::new("alice"))
        .await
        .expect("login");
    let sessions = || {
        Request::get("/sessions")
            .header("authorization", format!("Bearer {}", pair.access.as_str()))
            .body(Vec::<u8>::new())
            .expect("request")
    };
    // The first request reaches the store, is held there, and is dropped (the client left).
    {
        let first = server.handle(sessions());
        tokio::select! {
            _ = first => panic!("the gate holds it"),
            () = store.held.notified() => {}
        }
    }
    store.hold.store(false, std::sync::atomic::Ordering::SeqCst);
    // The next request syncs (not an hour later): the view is current, the answer 200.
    assert_eq!(server.handle(sessions()).await.status(), StatusCode::OK);
}
