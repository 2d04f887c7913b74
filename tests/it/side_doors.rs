//! The side doors of a review (issue 29): a DPoP-bound session answers only its key's holder
//! at every endpoint, a theft response takes effect at once, and the guards count what they
//! claim to. Each test but the last guard failed on the code before its fix.
//!
//! (Over 600 lines: one independent test per finding, each read by its name.)

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use http::{Request, StatusCode};
use serde_json::Value;
use tidepass::client::DpopKey;
use tidepass::http::server::{AuthServer, AuthServerBuilder, Delivery, Peer, Reply};
use tidepass::issuer::guard::{FailureLimiter, RiskDecision, RiskPolicy};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::session::ClientContext;
use tidepass::store::SessionStore;
use tidepass::verify::dpop::{Nonces, ProofChecker};
use tidepass::{ErrorKind, Issuer, Login, MemoryStore, Minter, SessionId};

const ISS: &str = "https://auth.example";

fn issuer() -> Issuer<MemoryStore> {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, ISS, "api").expect("minter");
    Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .build()
        .expect("issuer")
}

fn server(
    f: impl FnOnce(AuthServerBuilder<MemoryStore>) -> AuthServerBuilder<MemoryStore>,
) -> AuthServer<MemoryStore> {
    f(AuthServer::builder(issuer()).introspection_client("rs", "rs secret"))
        .build()
        .expect("server")
}

fn json(r: &Reply) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn post(path: &str, body: &str, proof: Option<String>) -> Request<String> {
    let mut b = Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(p) = proof {
        b = b.header("dpop", p);
    }
    b.body(body.to_owned()).expect("request")
}

/// A login through the server, with a DPoP proof by `key` when given.
async fn login(
    server: &AuthServer<MemoryStore>,
    key: Option<&DpopKey>,
    delivery: Delivery,
) -> Reply {
    let mut b = Request::post("/login").extension(Peer(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    if let Some(k) = key {
        let proof = k
            .proof_at(
                "POST",
                &format!("{ISS}/login"),
                None,
                None,
                server.issuer().now(),
            )
            .expect("proof");
        b = b.header("dpop", proof);
    }
    let (parts, ()) = b.body(()).expect("request").into_parts();
    server
        .login(&parts, delivery, async { Some(Login::new("alice")) })
        .await
}

fn proof(
    key: &DpopKey,
    server: &AuthServer<MemoryStore>,
    htm: &str,
    path: &str,
    at: Option<&str>,
) -> String {
    key.proof_at(
        htm,
        &format!("{ISS}{path}"),
        at,
        None,
        server.issuer().now(),
    )
    .expect("proof")
}

async fn refresh(server: &AuthServer<MemoryStore>, rt: &str, proof: Option<String>) -> Reply {
    server
        .handle(post(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={rt}"),
            proof,
        ))
        .await
}

async fn introspect(server: &AuthServer<MemoryStore>, token: &str) -> Value {
    let r = server
        .handle(post(
            "/introspect",
            &format!("client_id=rs&client_secret=rs%20secret&token={token}"),
            None,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    json(&r)
}

/// `/revoke` with a bound session's refresh token: without a proof, or with another key's,
/// it is refused (400 `invalid_dpop_proof`) and changes nothing (before: one request by a
/// thief logged the owner out); with the owner's proof it ends the session.
#[tokio::test]
async fn revoking_a_bound_session_by_refresh_token_needs_its_key() {
    let server = server(|b| b);
    server.sync_revocations().await.expect("sync");
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let pair = json(&login(&server, Some(&key), Delivery::Body).await);
    let rt = pair["refresh_token"].as_str().expect("rt").to_owned();
    let thief = DpopKey::generate(Algorithm::ES256).expect("thief");
    for p in [None, Some(proof(&thief, &server, "POST", "/revoke", None))] {
        let r = server
            .handle(post("/revoke", &format!("token={rt}"), p))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json(&r)["error"], "invalid_dpop_proof");
        assert_eq!(
            introspect(&server, &rt).await["active"],
            true,
            "the session lives on"
        );
    }
    let r = server
        .handle(post(
            "/revoke",
            &format!("token={rt}"),
            Some(proof(&key, &server, "POST", "/revoke", None)),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&server, &rt).await["active"], false);
}

/// RFC 7009 §2.2: a refresh token that is neither its session's current generation nor the
/// one before it is an invalid token, and revoking it changes nothing (before: any authentic
/// generation, however old, ended the session).
#[tokio::test]
async fn revoking_an_old_generation_changes_nothing() {
    let server = server(|b| b);
    server.sync_revocations().await.expect("sync");
    let pair = json(&login(&server, None, Delivery::Body).await);
    let rt0 = pair["refresh_token"].as_str().expect("rt").to_owned();
    let rt1 = json(&refresh(&server, &rt0, None).await)["refresh_token"]
        .as_str()
        .expect("rt1")
        .to_owned();
    let rt2 = json(&refresh(&server, &rt1, None).await)["refresh_token"]
        .as_str()
        .expect("rt2")
        .to_owned();
    let r = server
        .handle(post("/revoke", &format!("token={rt0}"), None))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&server, &rt2).await["active"], true);
    // The parent of the current one still revokes (a client that never saw its refresh's
    // answer revokes what it holds).
    let r = server
        .handle(post("/revoke", &format!("token={rt1}"), None))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&server, &rt2).await["active"], false);
}

/// Elevation keeps the DPoP binding (before: the new session was a bearer session, its
/// refresh token rotated without a proof and its access token worked as a bearer token).
#[tokio::test]
async fn elevation_keeps_the_binding() {
    let issuer = issuer();
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let pair = issuer
        .login(Login::new("alice").dpop(key.thumbprint()))
        .await
        .expect("login");
    // Without the key (or with another), a bound session does not move.
    let e = issuer
        .elevate(pair.session_id, 2, None)
        .await
        .expect_err("no proof");
    assert_eq!(e.kind(), ErrorKind::InvalidDpopProof);
    let thief = DpopKey::generate(Algorithm::ES256)
        .expect("thief")
        .thumbprint();
    let e = issuer
        .elevate_with(pair.session_id, 2, None, Some(thief))
        .await
        .expect_err("another key");
    assert_eq!(e.kind(), ErrorKind::InvalidDpopProof);
    let up = issuer
        .elevate_with(pair.session_id, 2, None, Some(key.thumbprint()))
        .await
        .expect("elevate");
    assert!(up.dpop_bound, "the elevated session is bound");
    let e = issuer
        .refresh(up.refresh.expose())
        .context(&ClientContext::default())
        .dpop(None)
        .await
        .expect_err("no proof");
    assert_eq!(e.kind(), ErrorKind::InvalidDpopProof);
    issuer
        .refresh(up.refresh.expose())
        .context(&ClientContext::default())
        .dpop(Some(key.thumbprint()))
        .await
        .expect("the key's holder refreshes");
}

struct Deny;
impl RiskPolicy for Deny {
    fn assess(&self, _: &ClientContext, _: &ClientContext) -> RiskDecision {
        RiskDecision::Deny
    }
}

/// The binding is checked before the risk policy: a proofless refresh of a bound session is
/// `invalid_dpop_proof` and the session lives on (before: a denying policy revoked it, so a
/// thief's copy logged the owner out).
#[tokio::test]
async fn a_denying_risk_policy_never_sees_a_proofless_refresh_of_a_bound_session() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, ISS, "api").expect("minter");
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .risk(Deny)
        .build()
        .expect("issuer");
    let dpop = DpopKey::generate(Algorithm::ES256).expect("key");
    let pair = issuer
        .login(Login::new("alice").dpop(dpop.thumbprint()))
        .await
        .expect("login");
    for presented in [
        None,
        Some(DpopKey::generate(Algorithm::ES256).expect("k").thumbprint()),
    ] {
        let e = issuer
            .refresh(pair.refresh.expose())
            .context(&ClientContext::default())
            .dpop(presented)
            .await
            .expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidDpopProof);
    }
    let s = issuer
        .store()
        .load(pair.session_id)
        .await
        .expect("load")
        .expect("held");
    assert!(s.revoked.is_none(), "the owner's session lives on");
    // The owner's own refresh still meets the policy.
    let e = issuer
        .refresh(pair.refresh.expose())
        .context(&ClientContext::default())
        .dpop(Some(dpop.thumbprint()))
        .await
        .expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::RiskDenied);
}

/// A bound session delivered by cookie refreshes with its key's proof (before: the cookie
/// path dropped the proof, so such a session could never be refreshed), and never without.
#[tokio::test]
async fn a_bound_cookie_session_refreshes_with_its_proof() {
    let server = server(|b| b);
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let r = login(&server, Some(&key), Delivery::Cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let by_cookie = |proof: Option<String>| {
        let mut b = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", ISS)
            .header("cookie", cookie.clone());
        if let Some(p) = proof {
            b = b.header("dpop", p);
        }
        b.body("grant_type=refresh_token".to_owned())
            .expect("request")
    };
    let r = server.handle(by_cookie(None)).await;
    assert_eq!(json(&r)["error"], "invalid_dpop_proof");
    let r = server
        .handle(by_cookie(Some(proof(
            &key, &server, "POST", "/token", None,
        ))))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", json(&r));
    assert_eq!(json(&r)["token_type"], "DPoP");
}

/// `/introspect` reports a bound access token active with its `cnf.jkt` (RFC 9449 §6.2), and
/// `/revoke` lists it (before: both went through the bearer-only verifier: inactive, and a
/// revocation that listed nothing while the token kept working with a proof).
#[tokio::test]
async fn revoke_and_introspect_understand_bound_access_tokens() {
    let server = server(|b| b);
    server.sync_revocations().await.expect("sync");
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let pair = json(&login(&server, Some(&key), Delivery::Body).await);
    let at = pair["access_token"].as_str().expect("at").to_owned();
    let rt = pair["refresh_token"].as_str().expect("rt").to_owned();
    let seen = introspect(&server, &at).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["cnf"]["jkt"], key.thumbprint().to_string());
    assert_eq!(
        seen["token_type"], "DPoP",
        "RFC 7662 §2.2: the RFC 6749 §7.1 type"
    );
    assert_eq!(
        introspect(&server, &rt).await["cnf"]["jkt"],
        key.thumbprint().to_string()
    );
    let r = server
        .handle(post("/revoke", &format!("token={at}"), None))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&server, &at).await["active"], false);
    let r = server
        .handle(
            Request::get("/sessions")
                .header("authorization", format!("DPoP {at}"))
                .header("dpop", proof(&key, &server, "GET", "/sessions", Some(&at)))
                .body(String::new())
                .expect("request"),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the revoked token is dead"
    );
}

/// The account endpoints check DPoP proofs with the checker the builder was given (here: it
/// demands nonces): a proof without a nonce is 401 `use_dpop_nonce` with a fresh
/// `DPoP-Nonce` (before: a default checker without nonces let it in).
#[tokio::test]
async fn account_endpoints_use_the_configured_proof_checker() {
    let nonces = Nonces::generate(Duration::from_secs(300)).expect("nonces");
    let server = server(|b| b.dpop(ProofChecker::new().nonces(nonces)));
    server.sync_revocations().await.expect("sync");
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let nonce = login(&server, Some(&key), Delivery::Body).await.headers()["dpop-nonce"]
        .to_str()
        .expect("nonce")
        .to_owned();
    let now = server.issuer().now();
    let (parts, ()) = Request::post("/login")
        .extension(Peer(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        .header(
            "dpop",
            key.proof_at("POST", &format!("{ISS}/login"), None, Some(&nonce), now)
                .expect("proof"),
        )
        .body(())
        .expect("request")
        .into_parts();
    let pair = json(
        &server
            .login(&parts, Delivery::Body, async { Some(Login::new("alice")) })
            .await,
    );
    let at = pair["access_token"]
        .as_str()
        .expect("bound login")
        .to_owned();
    let sessions = |proof: String| {
        Request::get("/sessions")
            .header("authorization", format!("DPoP {at}"))
            .header("dpop", proof)
            .body(String::new())
            .expect("request")
    };
    let url = format!("{ISS}/sessions");
    let r = server
        .handle(sessions(
            key.proof_at("GET", &url, Some(&at), None, now)
                .expect("proof"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("use_dpop_nonce")
    );
    let fresh = r.headers()["dpop-nonce"]
        .to_str()
        .expect("a nonce")
        .to_owned();
    let r = server
        .handle(sessions(
            key.proof_at("GET", &url, Some(&at), Some(&fresh), now)
                .expect("proof"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Reuse detected at the token endpoint takes effect at this server at once: the revoked
/// session's access token stops working at the account endpoints and introspection without
/// waiting for a sync (before: it kept working until the next periodic round).
#[tokio::test]
async fn reuse_detected_here_applies_here_at_once() {
    let server = server(|b| b);
    server.sync_revocations().await.expect("sync");
    let pair = json(&login(&server, None, Delivery::Body).await);
    let rt0 = pair["refresh_token"].as_str().expect("rt").to_owned();
    let next = json(&refresh(&server, &rt0, None).await);
    let rt1 = next["refresh_token"].as_str().expect("rt1").to_owned();
    let at = json(&refresh(&server, &rt1, None).await)["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    // The thief presents the grandparent: reuse.
    let r = refresh(&server, &rt0, None).await;
    assert_eq!(json(&r)["error"], "invalid_grant");
    assert_eq!(introspect(&server, &at).await["active"], false);
    let r = server
        .handle(
            Request::get("/sessions")
                .header("authorization", format!("Bearer {at}"))
                .body(String::new())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Behind a trusted proxy that appends its own `X-Forwarded-For` line, every line counts, in
/// order: a client's forged first line does not pick its rate-limit key (before: only the
/// first line was read, so 20 failures under 20 forged addresses were never throttled). And
/// a proxy configured as IPv4 is recognised IPv4-mapped, as a dual-stack listener sees it
/// (before: not trusted, so every client behind it shared the proxy's budget).
#[tokio::test]
async fn every_forwarded_for_line_counts() {
    let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let server = server(|b| {
        b.trusted_proxy(proxy)
            .failure_limiter(FailureLimiter::new(3, Duration::from_secs(60)))
    });
    let attempt = |peer: IpAddr, lines: &[String]| {
        let mut b = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .extension(Peer(peer));
        for l in lines {
            b = b.header("x-forwarded-for", l.as_str());
        }
        b.body("grant_type=refresh_token&refresh_token=tprt_nope".to_owned())
            .expect("request")
    };
    let mut limited = false;
    for i in 0..20 {
        let lines = [format!("198.51.100.{i}"), "203.0.113.5".to_owned()];
        let r = server.handle(attempt(proxy, &lines)).await;
        limited |= r.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the client behind the proxy was throttled");
    // The same client through the proxy's IPv4-mapped address: the same (blocked) key.
    let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
    let r = server
        .handle(attempt(mapped, &["203.0.113.5".to_owned()]))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // An innocent address behind the same proxy is not limited.
    let r = server
        .handle(attempt(mapped, &["203.0.113.77".to_owned()]))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// RFC 9110 §15.5.6: a 405 names the allowed method in `Allow`.
#[tokio::test]
async fn method_not_allowed_says_what_is() {
    let server = server(|b| b);
    for (path, allow) in [
        ("/token", "POST"),
        ("/sessions", "GET"),
        ("/sessions/x", "DELETE"),
    ] {
        let r = server
            .handle(Request::put(path).body(String::new()).expect("request"))
            .await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()["allow"], allow, "{path}");
    }
}

/// A bound session's theft alarm stays with its key: an old generation presented without
/// the proof is `invalid_dpop_proof`, not reuse. (This one held before too: a guard beside the
/// regression tests, for the promise the crate docs make.)
#[tokio::test]
async fn a_thiefs_old_bound_token_raises_no_alarm() {
    let issuer = issuer();
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let pair = issuer
        .login(Login::new("alice").dpop(key.thumbprint()))
        .await
        .expect("login");
    let ctx = ClientContext::default();
    let jkt = Some(key.thumbprint());
    let p1 = issuer
        .refresh(pair.refresh.expose())
        .context(&ctx)
        .dpop(jkt)
        .await
        .expect("rotate");
    let p2 = issuer
        .refresh(p1.refresh.expose())
        .context(&ctx)
        .dpop(jkt)
        .await
        .expect("rotate");
    let e = issuer
        .refresh(pair.refresh.expose())
        .context(&ctx)
        .dpop(None)
        .await
        .expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::InvalidDpopProof);
    issuer
        .refresh(p2.refresh.expose())
        .context(&ctx)
        .dpop(jkt)
        .await
        .expect("the owner goes on");
}

/// Logout lists before it revokes: should the append fail, the retry still lists the
/// session's tokens, even after the issuer's own cleanup ran in between (before: the store
/// revoked first, the cleanup every 64 logins dropped the ended session, and the retry found
/// nothing and listed nothing, so the logged-out session's access token stayed valid).
async fn a_logout_whose_append_failed_is_listed_by_its_retry<S: SessionStore>(store: S) {
    let r = crate::defects::Rig::on(store, tidepass::Policy::web());
    let p = r.issuer.login(Login::new("dan")).await.expect("login");
    r.fail_appends(true);
    assert!(
        r.issuer
            .logout(p.session_id)
            .await
            .expect_err("append")
            .is_store()
    );
    r.fail_appends(false);
    // The issuer's cleanup (every 64 logins), a second later.
    r.clock.advance(1);
    for _ in 0..64 {
        r.issuer.login(Login::new("someone")).await.expect("login");
    }
    let _ = r.issuer.logout(p.session_id).await.expect("retry");
    r.sync().await;
    assert_eq!(r.check(p.access.as_str()), Err(ErrorKind::Revoked));
}

/// A reuse whose append failed (a store that lists in a second call, as Redis does) is
/// listed by a retry even after the issuer's cleanup ran: ended sessions stay in the store
/// until every token they minted is dead (before: the cleanup dropped the revoked session,
/// and the retry answered "unknown session" and listed nothing).
async fn a_reuse_whose_append_failed_survives_cleanup<S: SessionStore>(store: S) {
    let r = crate::defects::Rig::on(store, tidepass::Policy::web());
    let p1 = r.issuer.login(Login::new("dan")).await.expect("login");
    let p2 = r.issuer.refresh(p1.refresh.expose()).await.expect("rotate");
    r.clock.advance(tidepass::Policy::web().grace.as_secs() + 1);
    r.fail_appends(true);
    assert!(
        r.issuer
            .refresh(p1.refresh.expose())
            .await
            .expect_err("append")
            .is_store()
    );
    r.fail_appends(false);
    r.clock.advance(1);
    for _ in 0..64 {
        r.issuer.login(Login::new("someone")).await.expect("login");
    }
    let e = r
        .issuer
        .refresh(p1.refresh.expose())
        .await
        .expect_err("retry");
    assert_eq!(e.kind(), ErrorKind::SessionRevoked);
    r.sync().await;
    assert_eq!(r.check(p2.access.as_str()), Err(ErrorKind::Revoked));
}

/// Both on every store (the rules live in the issuer; each store's cleanup and revoke play
/// their part).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_append_is_listed_by_its_retry_on_every_store() {
    a_logout_whose_append_failed_is_listed_by_its_retry(MemoryStore::new()).await;
    a_reuse_whose_append_failed_survives_cleanup(MemoryStore::new()).await;
    #[cfg(feature = "redb")]
    {
        let open = || {
            tidepass::store::RedbStore::open(crate::stores::redb::temp_path("side-doors"))
                .expect("open")
        };
        a_logout_whose_append_failed_is_listed_by_its_retry(open()).await;
        a_reuse_whose_append_failed_survives_cleanup(open()).await;
    }
    #[cfg(feature = "redis")]
    if let Some(s) = crate::stores::redis_store::store().await {
        a_logout_whose_append_failed_is_listed_by_its_retry(s).await;
        let s = crate::stores::redis_store::store().await.expect("redis");
        a_reuse_whose_append_failed_survives_cleanup(s).await;
    }
    #[cfg(feature = "postgres")]
    if let Some(s) = crate::stores::postgres_store::store().await {
        a_logout_whose_append_failed_is_listed_by_its_retry(s).await;
        let s = crate::stores::postgres_store::store()
            .await
            .expect("postgres");
        a_reuse_whose_append_failed_survives_cleanup(s).await;
    }
}

/// Revoking an unknown session, or one that ended long ago, appends nothing to the log (the
/// review of the list-first change: listing before revoking must not let any request grow
/// the log with entries for nothing).
#[tokio::test]
async fn nothing_is_listed_for_unknown_or_long_dead_sessions() {
    let r = crate::defects::Rig::new(tidepass::Policy::web());
    let version = |c: &tidepass::revocation::Changes| c.version();
    let before = version(&r.issuer.revocation_changes(None).await.expect("log"));
    let unknown = SessionId::random().expect("sid");
    assert!(!r.issuer.logout(unknown).await.expect("logout"));
    let p = r.issuer.login(Login::new("dan")).await.expect("login");
    assert!(r.issuer.logout(p.session_id).await.expect("logout"));
    let listed = version(&r.issuer.revocation_changes(None).await.expect("log"));
    assert_eq!(listed, before + 1, "one entry: the real logout");
    // A day later, none of its tokens can be alive: ending it again lists nothing.
    r.clock.advance(86_400);
    assert!(!r.issuer.logout(p.session_id).await.expect("again"));
    assert!(!r.issuer.revoke("dan", p.session_id).await.expect("again"));
    let after = version(&r.issuer.revocation_changes(None).await.expect("log"));
    assert_eq!(after, listed);
}

/// A denying risk policy meets only live sessions: an ended session's token is answered by
/// the rotation rule and appends nothing (before the review: denied, revoked again, listed).
#[tokio::test]
async fn a_denying_risk_policy_never_meets_an_ended_session() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, ISS, "api").expect("minter");
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .risk(Deny)
        .build()
        .expect("issuer");
    let pair = issuer.login(Login::new("alice")).await.expect("login");
    assert!(issuer.logout(pair.session_id).await.expect("logout"));
    let v = issuer
        .revocation_changes(None)
        .await
        .expect("log")
        .version();
    let e = issuer
        .refresh(pair.refresh.expose())
        .context(&ClientContext::default())
        .await
        .expect_err("ended");
    assert_eq!(e.kind(), ErrorKind::SessionRevoked);
    assert_eq!(
        issuer
            .revocation_changes(None)
            .await
            .expect("log")
            .version(),
        v
    );
}

/// `/revoke` checks a DPoP proof only where one is needed (a bound session's recent refresh
/// token): an unbound session's token with a junk proof still revokes, so no token of an
/// unbound or dead session makes the server check, and record, a proof.
#[tokio::test]
async fn revoke_checks_a_proof_only_where_one_is_needed() {
    let server = server(|b| b);
    server.sync_revocations().await.expect("sync");
    let pair = json(&login(&server, None, Delivery::Body).await);
    let rt = pair["refresh_token"].as_str().expect("rt").to_owned();
    let junk = Some("e30.e30.AAAA".to_owned());
    let r = server
        .handle(post("/revoke", &format!("token={rt}"), junk))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&server, &rt).await["active"], false);
}

/// A server whose revocation list is stale (here: synced once, then not for longer than its
/// `max_staleness`) answers `/revoke` for an access token 503, not a 200 that revoked nothing.
#[tokio::test]
async fn revoke_on_a_stale_list_is_503() {
    let server = server(|b| {
        b.max_staleness(Duration::from_secs(1))
            .revocation_sync(Duration::from_secs(3600))
    });
    server.sync_revocations().await.expect("sync");
    // Staleness counts whole seconds.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pair = server
        .issuer()
        .login(Login::new("alice"))
        .await
        .expect("login");
    let body = format!("token={}", pair.access.as_str());
    let r = server.handle(post("/revoke", &body, None)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// After a reuse was detected and listed (on a store that lists it in a second call, as
/// Redis does), the thief's further replays of the old token list nothing more (before: each
/// replay appended the session to the log again, for as long as its tokens could live).
#[tokio::test]
async fn replays_after_a_listed_reuse_append_nothing() {
    let r = crate::defects::Rig::new(tidepass::Policy::web());
    let p1 = r.issuer.login(Login::new("dan")).await.expect("login");
    r.issuer.refresh(p1.refresh.expose()).await.expect("rotate");
    r.clock.advance(tidepass::Policy::web().grace.as_secs() + 1);
    let e = r
        .issuer
        .refresh(p1.refresh.expose())
        .await
        .expect_err("reuse");
    assert_eq!(e.kind(), ErrorKind::RefreshReuse);
    let v = r
        .issuer
        .revocation_changes(None)
        .await
        .expect("log")
        .version();
    for _ in 0..5 {
        let e = r
            .issuer
            .refresh(p1.refresh.expose())
            .await
            .expect_err("replay");
        assert_eq!(e.kind(), ErrorKind::SessionRevoked);
    }
    assert_eq!(
        r.issuer
            .revocation_changes(None)
            .await
            .expect("log")
            .version(),
        v
    );
}
