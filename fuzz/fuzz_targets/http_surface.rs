//! The auth service's whole HTTP surface, driven by sequences of requests against one
//! `AuthServer` (memory store, manual clock): logins (bearer and DPoP-bound, body and cookie
//! delivery), refreshes of any generation with or without a proof (the owner's, a thief's, one
//! for another endpoint), revocations and introspections of refresh and access tokens, the
//! account endpoints under both schemes, raw requests with fuzzed methods, paths, headers and
//! bodies, and clock advances. Tokens may be mutated before they are sent.
//!
//! After every step the harness checks what must hold whatever the sequence:
//!
//! - no panic, no 5xx, only the statuses the endpoints document;
//! - no secret in any answer (the introspection client's secret, the signing key's private
//!   part, the refresh-token secret);
//! - a failed request changes no session, except a refresh with an authentic token that the
//!   rotation rule treats as reuse (an unbound session, or a bound one with its key's proof);
//! - a successful refresh moves only the presented session;
//! - a DPoP-bound session moves (rotates or ends) only through a request carrying its key's
//!   proof, or through an account endpoint authenticated by a token of the same user.
#![no_main]

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use http::{Method, Request, StatusCode};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tidepass::client::DpopKey;
use tidepass::clock::ManualClock;
use tidepass::http::server::{AuthServer, Delivery, Peer, Reply};
use tidepass::issuer::guard::FailureLimiter;
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::session::refresh::RefreshSecrets;
use tidepass::store::SessionStore;
use tidepass::{Issuer, Login, MemoryStore, Minter, SessionId};

const ISS: &str = "https://auth.example";
const CLIENT_SECRET: &str = "introspection-client-secret-4f1c";
const REFRESH_SECRET: [u8; 32] = [0x5a; 32];
const START: u64 = 1_800_000_000;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Proof {
    None,
    Owner,
    Thief,
    OtherEndpoint,
    Garbage,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Login { user: bool, bound: bool, cookie: bool },
    Refresh { session: u8, back: u8, proof: Proof, cookie: bool, origin_ok: bool, mutate: Option<(u16, u8)> },
    RevokeRefresh { session: u8, back: u8, proof: Proof, mutate: Option<(u16, u8)> },
    RevokeAccess { session: u8, mutate: Option<(u16, u8)> },
    Introspect { session: u8, refresh: bool, authenticated: bool },
    Account { session: u8, endpoint: u8, dpop_scheme: bool, proof: Proof, target: u8 },
    Raw { method: u8, path: u8, headers: Vec<(u8, String)>, body: Vec<u8> },
    Advance { secs: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    steps: Vec<Step>,
}

struct Known {
    sid: SessionId,
    user: &'static str,
    bound: bool,
    /// Refresh tokens by generation as the server handed them out (index 0 = generation 1).
    refresh: Vec<String>,
    access: Vec<String>,
}

fn keys() -> &'static (DpopKey, DpopKey, String) {
    static K: OnceLock<(DpopKey, DpopKey, String)> = OnceLock::new();
    K.get_or_init(|| {
        let signing = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let pem = signing.export_private().expect("pem").to_string();
        (
            DpopKey::generate(Algorithm::ES256).expect("owner"),
            DpopKey::generate(Algorithm::ES256).expect("thief"),
            pem,
        )
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static R: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    R.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn mutate(token: &str, m: Option<(u16, u8)>) -> (String, bool) {
    let Some((at, byte)) = m else {
        return (token.to_owned(), false);
    };
    let mut b = token.as_bytes().to_vec();
    if b.is_empty() {
        return (token.to_owned(), false);
    }
    let at = usize::from(at) % b.len();
    b[at] = byte;
    let s = String::from_utf8_lossy(&b).into_owned();
    let changed = s != token;
    (s, changed)
}

fn form_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Harness {
    server: AuthServer<MemoryStore>,
    clock: Arc<ManualClock>,
    sessions: Vec<Known>,
    secrets: Vec<String>,
}

impl Harness {
    fn new() -> Self {
        let (_, _, pem) = keys();
        let clock = Arc::new(ManualClock::new(START));
        let key = SigningKey::from_pem(pem.as_bytes(), None).expect("key");
        // The private key's PKCS#8 body as PEM carries it (base64 lines).
        let private: Vec<String> = pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_owned)
            .collect();
        let minter = Minter::new(key, ISS, "api").expect("minter").with_clock(clock.clone());
        let issuer = Issuer::builder(MemoryStore::new(), minter)
            .refresh_secrets(RefreshSecrets::from_secret(1, &REFRESH_SECRET).expect("secret"))
            .clock(clock.clone())
            .status_lists(
                tidepass::issuer::StatusLists::new(format!("{ISS}/statuslists"))
                    .and_then(|l| l.rebuild_after(std::time::Duration::ZERO))
                    .expect("status lists"),
            )
            .build()
            .expect("issuer");
        let server = AuthServer::builder(issuer)
            .introspection_client("rs", CLIENT_SECRET)
            .failure_limiter(FailureLimiter::new(50, std::time::Duration::from_secs(1)))
            .build()
            .expect("server");
        let mut secrets = vec![CLIENT_SECRET.to_owned()];
        secrets.extend(private);
        secrets.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(REFRESH_SECRET));
        Self { server, clock, sessions: Vec::new(), secrets }
    }

    fn now(&self) -> u64 {
        self.server.issuer().now()
    }

    fn proof(&self, p: Proof, htm: &str, path: &str, access: Option<&str>) -> Option<String> {
        let (owner, thief, _) = keys();
        let url = format!("{ISS}{path}");
        match p {
            Proof::None => None,
            Proof::Owner => owner.proof_at(htm, &url, access, None, self.now()).ok(),
            Proof::Thief => thief.proof_at(htm, &url, access, None, self.now()).ok(),
            Proof::OtherEndpoint => owner
                .proof_at(htm, &format!("{ISS}/elsewhere"), access, None, self.now())
                .ok(),
            Proof::Garbage => Some("e30.e30.AAAA".to_owned()),
        }
    }

    /// Every known session as the store holds it: (generation, revoked).
    async fn state(&self) -> Vec<Option<(u64, bool)>> {
        let mut out = Vec::with_capacity(self.sessions.len());
        for k in &self.sessions {
            let s = self.server.issuer().store().load(k.sid).await.expect("memory store");
            out.push(s.map(|s| (s.generation, s.revoked.is_some())));
        }
        out
    }

    fn check_reply(&self, r: &Reply) {
        // 406: a status list asked for in a form other than the JWT (`Accept`).
        let allowed = [200, 204, 400, 401, 403, 404, 405, 406, 413, 429];
        assert!(allowed.contains(&r.status().as_u16()), "status {}", r.status());
        let body = String::from_utf8_lossy(r.body());
        let headers = format!("{:?}", r.headers());
        for s in &self.secrets {
            assert!(!body.contains(s.as_str()) && !headers.contains(s.as_str()), "a secret in an answer");
        }
    }

    fn learn(&mut self, r: &Reply, index: Option<usize>) {
        if r.status() != StatusCode::OK {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(r.body()) else { return };
        let refresh = v["refresh_token"].as_str().map(str::to_owned).or_else(|| {
            let c = r.headers().get("set-cookie")?.to_str().ok()?;
            let (_, rest) = c.split_once('=')?;
            Some(rest.split(';').next()?.to_owned())
        });
        let (Some(access), Some(refresh)) = (v["access_token"].as_str(), refresh) else { return };
        match index {
            Some(i) => {
                if let Some(k) = self.sessions.get_mut(i) {
                    if !k.refresh.contains(&refresh) {
                        k.refresh.push(refresh);
                    }
                    k.access.push(access.to_owned());
                }
            }
            None => {
                let Some(sid) = v["session_id"].as_str().and_then(|s| s.parse().ok()) else { return };
                self.sessions.push(Known {
                    sid,
                    user: "",
                    bound: v["token_type"] == "DPoP",
                    refresh: vec![refresh],
                    access: vec![access.to_owned()],
                });
            }
        }
    }

    fn pick(&self, n: u8) -> Option<usize> {
        (!self.sessions.is_empty()).then(|| usize::from(n) % self.sessions.len())
    }

    async fn step(&mut self, step: Step) {
        let before = self.state().await;
        // (the request's session, whether it may move a bound session, whether a failure may
        // still change it: an authentic refresh the rule may treat as reuse)
        let mut presented: Option<usize> = None;
        let mut owner_proof = false;
        let mut user_authority: Option<&'static str> = None;
        let mut may_fail_with_change = false;
        let mut is_refresh = false;
        let reply = match step {
            Step::Login { user, bound, cookie } => {
                let user = if user { "alice" } else { "bob" };
                let mut b = Request::post("/login").extension(Peer([127, 0, 0, 1].into()));
                if bound && let Some(p) = self.proof(Proof::Owner, "POST", "/login", None) {
                    b = b.header("dpop", p);
                }
                let (parts, ()) = b.body(()).expect("request").into_parts();
                let delivery = if cookie { Delivery::Cookie } else { Delivery::Body };
                let r = self.server.login(&parts, delivery, async { Some(Login::new(user)) }).await;
                self.check_reply(&r);
                let n = self.sessions.len();
                self.learn(&r, None);
                if let Some(k) = self.sessions.get_mut(n) {
                    k.user = user;
                }
                return;
            }
            Step::Refresh { session, back, proof, cookie, origin_ok, mutate: m } => {
                let Some(i) = self.pick(session) else { return };
                let k = &self.sessions[i];
                let g = k.refresh.len().saturating_sub(1 + usize::from(back % 4));
                let (token, changed) = mutate(&k.refresh[g], m);
                let p = self.proof(proof, "POST", "/token", None);
                let mut b = Request::post("/token")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .extension(Peer([127, 0, 0, 1].into()));
                if let Some(p) = p {
                    b = b.header("dpop", p);
                }
                let body = if cookie {
                    b = b
                        .header("cookie", format!("{}={token}", self.server.cookie().name()))
                        .header("origin", if origin_ok { ISS } else { "https://evil.example" });
                    "grant_type=refresh_token".to_owned()
                } else {
                    format!("grant_type=refresh_token&refresh_token={}", form_value(&token))
                };
                presented = Some(i);
                owner_proof = matches!(proof, Proof::Owner);
                may_fail_with_change = !changed && (!k.bound || owner_proof);
                is_refresh = true;
                // A mutated token that is no header value is no request a client can send.
                let Ok(req) = b.body(body) else { return };
                let r = self.server.handle(req).await;
                self.learn(&r, Some(i));
                r
            }
            Step::RevokeRefresh { session, back, proof, mutate: m } => {
                let Some(i) = self.pick(session) else { return };
                let k = &self.sessions[i];
                let g = k.refresh.len().saturating_sub(1 + usize::from(back % 4));
                let (token, _) = mutate(&k.refresh[g], m);
                presented = Some(i);
                owner_proof = matches!(proof, Proof::Owner);
                let mut b = Request::post("/revoke").header("content-type", "application/x-www-form-urlencoded");
                if let Some(p) = self.proof(proof, "POST", "/revoke", None) {
                    b = b.header("dpop", p);
                }
                self.server
                    .handle(b.body(format!("token={}", form_value(&token))).expect("request"))
                    .await
            }
            Step::RevokeAccess { session, mutate: m } => {
                let Some(i) = self.pick(session) else { return };
                let k = &self.sessions[i];
                let (token, _) = mutate(k.access.last().map_or("", String::as_str), m);
                let b = Request::post("/revoke").header("content-type", "application/x-www-form-urlencoded");
                self.server
                    .handle(b.body(format!("token={}", form_value(&token))).expect("request"))
                    .await
            }
            Step::Introspect { session, refresh, authenticated } => {
                let Some(i) = self.pick(session) else { return };
                let k = &self.sessions[i];
                let token = if refresh { k.refresh.last() } else { k.access.last() };
                let secret = if authenticated { CLIENT_SECRET } else { "nope" };
                let body = format!(
                    "client_id=rs&client_secret={}&token={}",
                    form_value(secret),
                    form_value(token.map_or("", String::as_str))
                );
                let b = Request::post("/introspect").header("content-type", "application/x-www-form-urlencoded");
                self.server.handle(b.body(body).expect("request")).await
            }
            Step::Account { session, endpoint, dpop_scheme, proof, target } => {
                let Some(i) = self.pick(session) else { return };
                let access = self.sessions[i].access.last().cloned().unwrap_or_default();
                let other = self.pick(target).map(|t| self.sessions[t].sid.to_string()).unwrap_or_default();
                let (method, path) = match endpoint % 4 {
                    0 => (Method::POST, "/logout".to_owned()),
                    1 => (Method::GET, "/sessions".to_owned()),
                    2 => (Method::POST, "/sessions/revoke-others".to_owned()),
                    _ => (Method::DELETE, format!("/sessions/{other}")),
                };
                let scheme = if dpop_scheme { "DPoP" } else { "Bearer" };
                let mut b = Request::builder()
                    .method(method.clone())
                    .uri(path.as_str())
                    .header("authorization", format!("{scheme} {access}"));
                if let Some(p) = self.proof(proof, method.as_str(), &path, Some(&access)) {
                    b = b.header("dpop", p);
                }
                user_authority = Some(self.sessions[i].user);
                self.server.handle(b.body(Vec::new()).expect("request")).await
            }
            Step::Raw { method, path, headers, body } => {
                let methods = [Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::OPTIONS];
                let paths = [
                    "/token", "/revoke", "/introspect", "/logout", "/sessions", "/sessions/revoke-others",
                    "/sessions/x", "/.well-known/jwks.json", "/revocations", "/revocations?since=1",
                    "/.well-known/oauth-authorization-server", "/nope", "/statuslists",
                    "/statuslists/0", "/statuslists/1", "/statuslists/00", "/statuslists/0/",
                ];
                let names = [
                    "content-type", "authorization", "dpop", "cookie", "origin", "x-forwarded-for",
                    "accept", "sec-fetch-site",
                ];
                let mut b = Request::builder()
                    .method(methods[usize::from(method) % methods.len()].clone())
                    .uri(paths[usize::from(path) % paths.len()])
                    .extension(Peer([10, 0, 0, 9].into()));
                for (n, v) in headers.iter().take(8) {
                    if let Ok(v) = http::HeaderValue::from_str(v) {
                        b = b.header(names[usize::from(*n) % names.len()], v);
                    }
                }
                let Ok(req) = b.body(body) else { return };
                self.server.handle(req).await
            }
            Step::Advance { secs } => {
                self.clock.advance(u64::from(secs));
                // What a periodic follower does; the server's own revocations never wait for it.
                let _ = self.server.sync_revocations().await;
                return;
            }
        };
        self.check_reply(&reply);
        let after = self.state().await;
        let ok = reply.status().is_success();
        for (j, (b, a)) in before.iter().zip(after.iter()).enumerate() {
            if b == a {
                continue;
            }
            let k = &self.sessions[j];
            let same_user = user_authority.is_some_and(|u| u == k.user);
            let this = presented == Some(j);
            if !ok {
                assert!(
                    this && may_fail_with_change,
                    "a failed request ({}) changed session {j}: {b:?} -> {a:?}",
                    reply.status()
                );
            }
            if is_refresh && ok {
                assert!(this, "a refresh moved another session {j}");
            }
            if k.bound {
                assert!(
                    (this && owner_proof) || same_user,
                    "a bound session moved without its key: {b:?} -> {a:?}"
                );
            }
        }
    }
}

fuzz_target!(|input: Input| {
    runtime().block_on(async {
        let mut h = Harness::new();
        let _ = h.server.sync_revocations().await;
        for step in input.steps.into_iter().take(32) {
            h.step(step).await;
        }
    });
});
