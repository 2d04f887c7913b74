//! Regression tests for the review's defects (issue 10), one test per defect. Each failed on
//! the code before its fix.
//!
//! (Over 600 lines: one independent test per defect, each read by its name.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tidepass::clock::{Clock as _, ManualClock};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::{Changes, Entry, RevocationList, Target};
use tidepass::session::{RevokeReason, Rotation, RotationRules, Session};
use tidepass::store::SessionStore;
use tidepass::{ErrorKind, Issuer, Login, MemoryStore, Minter, Policy, SessionId, Verifier};

use crate::common::kind;

const NOW: u64 = 1_800_000_000;

fn hs256() -> SigningKey {
    SigningKey::from_hmac_secret(Algorithm::HS256, &[7u8; 32]).expect("key")
}

fn verifier_for(key: &SigningKey) -> Verifier {
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    Verifier::new("iss", "aud", keys).expect("verifier")
}

fn claims() -> Value {
    json!({"iss": "iss", "sub": "s", "aud": "aud", "exp": NOW + 60, "iat": NOW, "jti": "j"})
}

fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    key.sign_jws(header.to_string().as_bytes(), claims.to_string().as_bytes())
        .expect("sign")
}

// ----- 0. panics on unauthenticated input -----

#[test]
fn a_typ_with_a_multibyte_char_across_byte_12_is_refused_not_a_panic() {
    let key = hs256();
    let v = verifier_for(&key);
    // The reviewer's token: any payload, any signature; the header alone used to panic.
    let header = B64.encode(r#"{"alg":"HS256","typ":"aaaaaaaaaaaéx"}"#);
    let token = format!("{header}.{}.AAAA", B64.encode("{}"));
    assert_eq!(kind(v.verify_at(&token, NOW)), ErrorKind::InvalidType);
    // Signed, with the key's kid: still refused for its typ, still no panic.
    let signed = sign(
        &key,
        &json!({"alg": "HS256", "kid": key.kid().as_str(), "typ": "applicatio\u{e9}/at+jwt"}),
        &claims(),
    );
    assert_eq!(kind(v.verify_at(&signed, NOW)), ErrorKind::InvalidType);
}

#[test]
fn the_minter_refuses_what_its_default_verifier_would_refuse() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, "iss", "aud").expect("minter");
    let keys = minter.keys().verifying_keys();
    let v = Verifier::new("iss", "aud", keys).expect("verifier");
    // A long subject, and control characters that JSON escapes to six bytes each.
    for sub in ["x".repeat(7000), "\u{1}".repeat(1100)] {
        let e = minter.token(&sub).mint_at(NOW).expect_err("too large");
        assert_eq!(e.kind(), ErrorKind::MintTooLarge);
        assert!(e.is_misuse());
    }
    // Around the limit: whatever mints, verifies.
    let mut refused = 0;
    for len in (5900..6300).step_by(3) {
        match minter.token(&"y".repeat(len)).mint_at(NOW) {
            Ok(t) => {
                assert!(t.as_str().len() <= tidepass::verify::DEFAULT_MAX_TOKEN_LEN);
                v.verify_at(t.as_str(), NOW)
                    .expect("a minted token verifies");
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::MintTooLarge, "{len}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the loop crossed the limit");
}

#[cfg(feature = "client")]
#[tokio::test]
async fn a_token_endpoint_answering_a_huge_expires_in_cannot_panic_the_keeper() {
    use tidepass::client::{Keeper, Refresh, Refreshed, Tokens, Transport, TransportError};
    struct Hostile;
    impl Transport for Hostile {
        async fn refresh(&self, _: Refresh<'_>) -> Result<Refreshed, TransportError> {
            Ok(Refreshed {
                tokens: Tokens {
                    access_token: "a2".into(),
                    refresh_token: "r2".into(),
                    expires_in: u64::MAX,
                },
                // A hostile Date too: the offset saturates, nothing panics.
                server_date: Some(u64::MAX),
            })
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }
    let first = Tokens {
        access_token: "a1".into(),
        refresh_token: "r1".into(),
        expires_in: 0,
    };
    let keeper = Keeper::new(Hostile, first);
    assert_eq!(keeper.access_token().await.expect("refreshed"), "a2");
    // Clamped to a day, not forever: still held now.
    assert_eq!(keeper.access_token().await.expect("held"), "a2");
    let huge = Tokens {
        access_token: "a3".into(),
        refresh_token: "r3".into(),
        expires_in: u64::MAX,
    };
    let keeper = Keeper::new(Hostile, huge);
    assert_eq!(keeper.access_token().await.expect("held"), "a3");
}

// ----- 0b. an up-to-date poll -----

#[tokio::test]
async fn an_up_to_date_poll_is_a_success_that_changes_nothing() {
    use tidepass::revocation::{Applied, Log, Syncer};
    let mut log = Log::new();
    log.append(&[Entry {
        target: Target::Token,
        id: 1,
        before: 0,
        expires: NOW + 600,
    }]);
    let log = std::sync::Mutex::new(log);
    let syncer = Syncer::new(Arc::new(RevocationList::new()));
    let fetch = |since: Option<u64>| {
        let changes = log.lock().expect("log").changes_since(since, NOW);
        async move { changes.encode() }
    };
    assert_eq!(
        syncer.sync_once(NOW, &fetch).await.expect("first"),
        Applied::Advanced(1)
    );
    assert_eq!(
        syncer.sync_once(NOW + 5, &fetch).await.expect("up to date"),
        Applied::Unchanged
    );
    assert_eq!(syncer.last_sync(), NOW + 5, "an idle poll counts as a sync");
}

// ----- 1. concurrent refreshes -----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tabs_refreshing_at_once_all_get_the_same_child_by_default() {
    let minter = Minter::new(hs256(), "iss", "aud").expect("minter");
    let issuer = Arc::new(
        Issuer::builder(MemoryStore::new(), minter)
            .ephemeral_refresh_secrets()
            .build()
            .expect("issuer"),
    );
    assert_eq!(issuer.policy(), &Policy::default());
    let p = issuer.login(Login::new("alice")).await.expect("login");
    let token = p.refresh.expose().to_owned();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (issuer, token) = (issuer.clone(), token.clone());
            tokio::spawn(async move { issuer.refresh(&token).await })
        })
        .collect();
    let mut children = Vec::new();
    for t in tasks {
        let pair = t.await.expect("task").expect("an honest tab is served");
        children.push(pair.refresh.expose().to_owned());
    }
    children.dedup();
    assert_eq!(children.len(), 1);
    let s = issuer
        .store()
        .load(p.session_id)
        .await
        .expect("load")
        .expect("stored");
    assert!(s.revoked.is_none(), "nobody was logged out");
}

// ----- 2. the verified-token cache and time claims -----

#[test]
fn no_cache_hit_for_a_token_whose_key_was_removed_whatever_the_interleaving() {
    let key = hs256();
    let with = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let other = SigningKey::from_hmac_secret(Algorithm::HS256, &[9u8; 32]).expect("key");
    let without = VerifyingKeys::from_keys([other.verifying_key()]).expect("keys");
    let v = Arc::new(Verifier::new("iss", "aud", with.clone()).expect("verifier"));
    let token = sign(
        &key,
        &json!({"alg": "HS256", "kid": key.kid().as_str(), "typ": "at+jwt"}),
        &json!({"iss": "iss", "sub": "s", "aud": "aud", "exp": NOW + 3600, "iat": NOW, "jti": "j"}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (v, token, stop) = (v.clone(), token.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = v.verify_at(&token, NOW);
                }
            })
        })
        .collect();
    let mut stale = 0;
    for _ in 0..5000 {
        v.set_keys(without.clone());
        // The key is gone: whatever the racers inserted, this must not be a hit.
        if v.verify_at(&token, NOW).is_ok() {
            stale += 1;
        }
        v.set_keys(with.clone());
    }
    stop.store(true, Ordering::Relaxed);
    for r in racers {
        r.join().expect("racer");
    }
    assert_eq!(stale, 0, "tokens of a removed key answered from the cache");
}

#[test]
fn time_claims_are_numeric_dates_and_lifetimes_are_bounded() {
    let key = hs256();
    let v = verifier_for(&key);
    let header = json!({"alg": "HS256", "kid": key.kid().as_str(), "typ": "at+jwt"});
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = claims();
        f(c.as_object_mut().expect("object"));
        sign(&key, &header, &c)
    };
    // A far-future exp, signed: refused with its own kind (the default maximum is a day).
    let t = with(&|c| {
        c.insert("exp".into(), json!(NOW + 10 * 365 * 86_400));
    });
    assert_eq!(kind(v.verify_at(&t, NOW)), ErrorKind::LifetimeTooLong);
    let t = with(&|c| {
        c.insert("exp".into(), json!(NOW + 86_400));
    });
    v.verify_at(&t, NOW).expect("exactly a day");
    let lenient = Verifier::builder(
        "iss",
        "aud",
        VerifyingKeys::from_keys([key.verifying_key()]).expect("keys"),
    )
    .max_token_lifetime(std::time::Duration::from_secs(20 * 365 * 86_400))
    .build()
    .expect("verifier");
    lenient
        .verify_at(
            &with(&|c| {
                c.insert("exp".into(), json!(NOW + 10 * 365 * 86_400));
            }),
            NOW,
        )
        .expect("configurable");
    // Outside what a NumericDate can mean.
    for (claim, bad) in [
        ("exp", json!(-1)),
        ("exp", json!(u64::MAX)),
        ("exp", json!(9_223_372_036_854_775_808u64)),
        ("exp", json!(1e300)),
        ("iat", json!(-5)),
        ("nbf", json!(-1.5)),
        ("exp", json!("1800000060")),
    ] {
        let t = with(&|c| {
            c.insert(claim.into(), bad.clone());
        });
        assert_eq!(
            kind(v.verify_at(&t, NOW)),
            ErrorKind::InvalidNumericDate,
            "{claim}: {bad}"
        );
    }
    // A fractional exp (RFC 7519 allows it) is accepted and compared correctly.
    let t = with(&|c| {
        c.insert("exp".into(), json!(NOW as f64 + 60.5));
        c.insert("iat".into(), json!(NOW as f64 - 0.25));
    });
    let c = v.verify_at(&t, NOW).expect("fractional times are valid");
    assert_eq!((c.exp, c.iat), (NOW + 60, NOW));
    // Expired once the fraction's whole second has passed (exp rounds down, leeway 30 s).
    assert_eq!(kind(v.verify_at(&t, NOW + 90)), ErrorKind::Expired);
    v.verify_at(&t, NOW + 89).expect("still inside the leeway");
    let t = with(&|c| {
        c.insert("nbf".into(), json!(NOW as f64 + 30.5));
    });
    assert_eq!(
        kind(v.verify_at(&t, NOW)),
        ErrorKind::NotYetValid,
        "nbf rounds up"
    );
}

// ----- 3. revocation reaches every token -----

pub(crate) struct Rig<S = MemoryStore> {
    pub(crate) issuer: Issuer<Flaky<S>>,
    pub(crate) clock: Arc<ManualClock>,
    verifier: Verifier,
    list: Arc<RevocationList>,
}

/// A store whose revocation-log appends can be made to fail, and which (like Redis) does not
/// list a reuse in the rotation's own step.
pub(crate) struct Flaky<S> {
    inner: S,
    fail_appends: AtomicBool,
}

impl<S: SessionStore> SessionStore for Flaky<S> {
    async fn create(&self, session: &Session) -> tidepass::Result<()> {
        self.inner.create(session).await
    }
    async fn load(&self, sid: SessionId) -> tidepass::Result<Option<Session>> {
        self.inner.load(sid).await
    }
    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> tidepass::Result<Option<Rotation>> {
        let mut rules = rules;
        rules.list_reuse_until = 0;
        self.inner.rotate(sid, presented, rules).await
    }
    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> tidepass::Result<Option<Session>> {
        self.inner.revoke(sid, reason, now).await
    }
    async fn list(&self, subject: &str, now: u64) -> tidepass::Result<Vec<Session>> {
        self.inner.list(subject, now).await
    }
    async fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> tidepass::Result<Vec<Session>> {
        self.inner.revoke_subject(subject, keep, reason, now).await
    }
    async fn cleanup(&self, now: u64, limit: usize) -> tidepass::Result<usize> {
        self.inner.cleanup(now, limit).await
    }
    async fn append_revocations(&self, entries: &[Entry]) -> tidepass::Result<u64> {
        if self.fail_appends.load(Ordering::SeqCst) {
            return Err(tidepass::Error::store(
                "log",
                std::io::Error::other("append failed"),
            ));
        }
        self.inner.append_revocations(entries).await
    }
    fn lists_reuse(&self) -> bool {
        false
    }
    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> tidepass::Result<Changes> {
        self.inner.revocation_changes(since, now).await
    }
}

impl Rig {
    pub(crate) fn new(policy: Policy) -> Self {
        Rig::on(MemoryStore::new(), policy)
    }
}

impl<S: SessionStore> Rig<S> {
    /// A rig over `store` (wrapped so its appends can fail, and reuse is listed by a second
    /// call as on Redis).
    pub(crate) fn on(store: S, policy: Policy) -> Self {
        let clock = Arc::new(ManualClock::new(NOW));
        let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let minter = Minter::new(key, "iss", "aud")
            .expect("minter")
            .with_ttl(std::time::Duration::from_secs(600))
            .with_clock(clock.clone());
        let keys = minter.keys().verifying_keys();
        let store = Flaky {
            inner: store,
            fail_appends: AtomicBool::new(false),
        };
        let issuer = Issuer::builder(store, minter)
            .ephemeral_refresh_secrets()
            .policy(policy)
            .clock(clock.clone())
            .build()
            .expect("issuer");
        let list = Arc::new(RevocationList::new());
        let verifier = Verifier::builder("iss", "aud", keys)
            .revocations(list.clone())
            .cache_capacity(0)
            .build()
            .expect("verifier");
        Self {
            issuer,
            clock,
            verifier,
            list,
        }
    }

    /// Bring the verifier's list up to date with the issuer's log.
    pub(crate) async fn sync(&self) {
        let changes = self.issuer.revocation_changes(None).await.expect("changes");
        self.list.apply_at(changes, self.clock.now());
    }

    pub(crate) fn fail_appends(&self, fail: bool) {
        self.issuer
            .store()
            .fail_appends
            .store(fail, Ordering::SeqCst);
    }

    pub(crate) fn check(&self, token: &str) -> Result<(), ErrorKind> {
        self.verifier
            .verify_at(token, self.clock.now())
            .map(|_| ())
            .map_err(|e| e.kind())
    }
}

#[tokio::test]
async fn revoking_tokens_before_now_includes_the_same_second() {
    let r = Rig::new(Policy::web());
    let p = r.issuer.login(Login::new("alice")).await.expect("login");
    // The password changes a few milliseconds later, in the same second.
    r.issuer
        .revoke_subject_tokens_before("alice", r.clock.now())
        .await
        .expect("revoke");
    r.sync().await;
    assert_eq!(r.check(p.access.as_str()), Err(ErrorKind::Revoked));
    // A token of a later second is not touched.
    r.clock.advance(1);
    let later = r.issuer.login(Login::new("alice")).await.expect("login");
    assert_eq!(r.check(later.access.as_str()), Ok(()));
}

#[tokio::test]
async fn an_access_token_never_outlives_its_session_and_logout_after_the_end_still_lists() {
    // Idle 15 minutes; access tokens of 10 minutes.
    let r = Rig::new(Policy::banking());
    let p = r.issuer.login(Login::new("bob")).await.expect("login");
    r.clock.advance(14 * 60);
    let q = r.issuer.refresh(p.refresh.expose()).await.expect("rotate");
    // The session can be refreshed until 14 + 15 = 29 min, the token lives 10: not capped.
    assert_eq!(q.access.expires_at(), r.clock.now() + 600);
    // Near the absolute end (12 h), the token is capped at the session's end.
    let s = r
        .issuer
        .store()
        .load(p.session_id)
        .await
        .expect("load")
        .expect("stored");
    let mut refresh = q.refresh;
    let mut now = r.clock.now();
    let end = s.absolute_expires_at;
    let mut last = None;
    while now + 14 * 60 < end {
        r.clock.advance(14 * 60);
        now = r.clock.now();
        let pair = r.issuer.refresh(refresh.expose()).await.expect("rotate");
        assert!(
            pair.access.expires_at() <= end,
            "capped at the session's end"
        );
        refresh = pair.refresh;
        last = Some(pair.access);
    }
    let last = last.expect("rotated");
    assert_eq!(
        last.expires_at(),
        end,
        "the last token ends with the session"
    );
    // The session times out at its end; a token from just before it is dead with it.
    r.clock.set(end);
    r.sync().await;
    assert_eq!(
        r.check(last.as_str()),
        Ok(()),
        "inside the verifier's leeway"
    );
    // Logging out a session that has just ended still lists its tokens.
    assert!(!r.issuer.logout(p.session_id).await.expect("logout"));
    r.sync().await;
    assert_eq!(r.check(last.as_str()), Err(ErrorKind::Revoked));
}

#[tokio::test]
async fn a_per_token_ttl_longer_than_the_default_is_covered_by_session_revocations() {
    let r = Rig::new(Policy::web());
    let p = r.issuer.login(Login::new("carol")).await.expect("login");
    // The application mints a longer-lived token for the same session by hand.
    let sid = p.session_id.to_string();
    let long = r
        .issuer
        .minter()
        .token("carol")
        .sid(&sid)
        .ttl(std::time::Duration::from_secs(3600))
        .mint_at(r.clock.now())
        .expect("mint");
    assert!(r.issuer.logout(p.session_id).await.expect("logout"));
    // Past the default lifetime (600 s) plus the largest leeway: the entry must still be there.
    r.clock.advance(600 + 300 + 60);
    r.sync().await;
    assert_eq!(r.check(long.as_str()), Err(ErrorKind::Revoked));
}

#[tokio::test]
async fn a_failed_append_after_a_reuse_or_a_revoke_all_is_listed_on_retry() {
    let r = Rig::new(Policy::web());
    // Reuse: the store revokes, the append fails, the caller sees a store error.
    let p1 = r.issuer.login(Login::new("dan")).await.expect("login");
    let p2 = r.issuer.refresh(p1.refresh.expose()).await.expect("rotate");
    r.clock.advance(Policy::web().grace.as_secs());
    r.fail_appends(true);
    assert!(
        r.issuer
            .refresh(p1.refresh.expose())
            .await
            .expect_err("append")
            .is_store()
    );
    r.fail_appends(false);
    // The retry (the thief again, or the owner) finds the session revoked — and lists it.
    assert_eq!(
        kind(r.issuer.refresh(p1.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
    r.sync().await;
    assert_eq!(r.check(p2.access.as_str()), Err(ErrorKind::Revoked));

    // Revoke all: the append fails; the retry must still list every session.
    let a = r.issuer.login(Login::new("erin")).await.expect("login");
    let b = r.issuer.login(Login::new("erin")).await.expect("login");
    r.fail_appends(true);
    assert!(
        r.issuer
            .revoke_all("erin")
            .await
            .expect_err("append")
            .is_store()
    );
    r.fail_appends(false);
    r.issuer.revoke_all("erin").await.expect("retry");
    r.sync().await;
    assert_eq!(r.check(a.access.as_str()), Err(ErrorKind::Revoked));
    assert_eq!(r.check(b.access.as_str()), Err(ErrorKind::Revoked));
    assert_eq!(
        kind(r.issuer.refresh(a.refresh.expose()).await),
        ErrorKind::SessionRevoked
    );
}

#[tokio::test]
async fn a_jti_equal_to_a_session_id_revokes_one_token_not_the_session() {
    let r = Rig::new(Policy::web());
    let p = r.issuer.login(Login::new("fay")).await.expect("login");
    // The session id's 128 bits, written as a UUID: the same number in the jti space.
    let uuid = uuid_of(p.session_id);
    assert_eq!(
        tidepass::revocation::token_id(&uuid),
        tidepass::revocation::session_id(&p.session_id.to_string())
    );
    r.issuer
        .revoke_access_token(&uuid, r.clock.now() + 600)
        .await
        .expect("revoke");
    r.sync().await;
    assert_eq!(
        r.check(p.access.as_str()),
        Ok(()),
        "the session's tokens are not revoked"
    );
    assert!(r.list.is_revoked(
        tidepass::revocation::token_id(&uuid),
        None,
        0,
        0,
        r.clock.now()
    ));
}

fn uuid_of(sid: SessionId) -> String {
    let h: String = sid.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

// ----- 6. strict and interoperable token handling -----

#[test]
fn a_token_with_surrounding_whitespace_is_refused() {
    let key = hs256();
    let v = verifier_for(&key);
    let good = sign(
        &key,
        &json!({"alg": "HS256", "kid": key.kid().as_str(), "typ": "at+jwt"}),
        &claims(),
    );
    v.verify_at(&good, NOW).expect("valid");
    for bad in [
        format!(" {good}"),
        format!("{good} "),
        format!("{good}\n"),
        format!("\t{good}"),
        format!("{good}\r\n"),
    ] {
        assert_eq!(
            kind(v.verify_at(&bad, NOW)),
            ErrorKind::Malformed,
            "{bad:?}"
        );
    }
}

#[test]
fn a_jwks_with_private_key_material_is_refused() {
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let mut jwk = key.public_jwk().expect("public");
    let public = json!({ "keys": [jwk.clone()] }).to_string();
    VerifyingKeys::from_jwks(&public).expect("a public JWKS is fine");
    jwk["d"] = json!(B64.encode([1u8; 32]));
    let leaked = json!({ "keys": [jwk] }).to_string();
    let e = VerifyingKeys::from_jwks(&leaked).expect_err("a published private key");
    assert_eq!(e.kind(), ErrorKind::InvalidKeySet);
    assert!(e.to_string().contains("private key material"), "{e}");
    // A kid that happens to be "d" is not private material.
    let mut named = key.public_jwk().expect("public");
    named["kid"] = json!("d");
    VerifyingKeys::from_jwks(&json!({ "keys": [named] }).to_string()).expect("kid d");
}

#[test]
fn tidepass_ed25519_private_keys_are_rfc8410_pkcs8_v1() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let pem = key.export_private().expect("export");
    let doc = pem::parse(pem.as_bytes()).expect("pem");
    let der = doc.contents();
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
    assert_eq!(der.len(), 48, "v1 carries the seed alone");
    assert_eq!(
        &der[..16],
        &[
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20
        ]
    );
    // Both forms are still read, and the key round-trips.
    let back = SigningKey::from_pem(pem.as_bytes(), None).expect("read v1");
    assert_eq!(back.kid(), key.kid());
    let rng = ring::rand::SystemRandom::new();
    let v2 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("v2");
    assert_eq!(
        v2.as_ref().len(),
        83,
        "ring writes v2 (seed and public key)"
    );
    let v2_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", v2.as_ref().to_vec()));
    let from_v2 = SigningKey::from_pem(v2_pem.as_bytes(), None).expect("read v2");
    let again = from_v2.export_private().expect("export");
    assert_eq!(
        pem::parse(again.as_bytes()).expect("pem").contents().len(),
        48,
        "written as v1"
    );
}

/// OpenSSL and pyca/cryptography (independent implementations) read what tidepass writes:
/// `keygen --alg EdDSA` output and `export_private`.
#[test]
fn openssl_and_pyca_cryptography_read_tidepass_ed25519_keys() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let dir = std::env::temp_dir().join(format!("tidepass-ed25519-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("ed25519.pem");
    std::fs::write(&path, key.export_private().expect("export").as_bytes()).expect("write");
    let public = key.public_jwk().expect("jwk")["x"]
        .as_str()
        .expect("x")
        .to_owned();
    let Some(openssl) = crate::common::tool("openssl") else {
        return;
    };
    let out = std::process::Command::new(openssl)
        .args(["pkey", "-in"])
        .arg(&path)
        .args(["-pubout", "-outform", "DER"])
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl refused tidepass's key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The SubjectPublicKeyInfo ends with the 32-byte public key.
    let spki = out.stdout;
    assert_eq!(
        B64.encode(&spki[spki.len() - 32..]),
        public,
        "openssl derives the same key"
    );
    let Some(python) = crate::common::tool("python3") else {
        return;
    };
    let script = r#"
import sys, base64
from cryptography.hazmat.primitives.serialization import load_pem_private_key, Encoding, PublicFormat
k = load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)
raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
print(base64.urlsafe_b64encode(raw).decode().rstrip('='))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pyca/cryptography refused tidepass's key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public);
    // WebCrypto (node's crypto.subtle) imports the PKCS#8 document as Ed25519.
    let Some(node) = crate::common::tool("node") else {
        return;
    };
    let script = r#"
const fs = require('fs');
const { subtle } = require('crypto').webcrypto;
const pem = fs.readFileSync(process.argv[1], 'utf8');
const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign'])
  .then(k => subtle.exportKey('jwk', k))
  .then(j => console.log(j.x))
  .catch(e => { console.error(String(e)); process.exit(1); });
"#;
    let out = std::process::Command::new(node)
        .args(["-e", script])
        .arg(&path)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "WebCrypto refused tidepass's key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public);
    let _ = std::fs::remove_dir_all(&dir);
}
