//! The device-side token keeper against a real in-process issuer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tidepass::client::{
    ClientError, Keeper, Refresh, Refreshed, Tokens, Transport, TransportError,
};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::{Issuer, Login, MemoryStore, Minter, SessionStore};

struct Direct {
    issuer: Arc<Issuer<MemoryStore>>,
    /// Refresh on the server but report the first `lose` answers as lost.
    lose: AtomicUsize,
    calls: AtomicUsize,
    /// The backoff waits asked for (not slept: the tests never sleep).
    slept: std::sync::Mutex<Vec<std::time::Duration>>,
}

impl Transport for Direct {
    async fn refresh(&self, request: Refresh<'_>) -> Result<Refreshed, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let result = self.issuer.refresh(request.refresh_token).await;
        if self.lose.load(Ordering::SeqCst) > 0 {
            self.lose.fetch_sub(1, Ordering::SeqCst);
            return Err(TransportError::Unavailable("response lost".into()));
        }
        match result {
            Ok(p) => Ok(Tokens {
                access_token: p.access.into_string(),
                refresh_token: p.refresh.expose().to_owned(),
                expires_in: p.expires_in,
            }
            .into()),
            Err(e) if e.is_invalid_grant() => Err(TransportError::InvalidGrant),
            Err(e) => Err(TransportError::Unavailable(e.to_string().into())),
        }
    }

    async fn sleep(&self, d: std::time::Duration) {
        self.slept.lock().expect("lock").push(d);
    }
}

async fn setup(
    lose: usize,
) -> (
    Arc<Issuer<MemoryStore>>,
    Keeper<Direct>,
    tidepass::SessionId,
) {
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("k"),
        "iss",
        "aud",
    )
    .expect("m");
    let issuer = Arc::new(
        Issuer::builder(MemoryStore::new(), minter)
            .ephemeral_refresh_secrets()
            .build()
            .expect("issuer"),
    );
    let pair = issuer.login(Login::new("alice")).await.expect("login");
    // expires_in 0: the first use must refresh.
    let first = Tokens {
        access_token: pair.access.into_string(),
        refresh_token: pair.refresh.expose().to_owned(),
        expires_in: 0,
    };
    let transport = Direct {
        issuer: issuer.clone(),
        lose: AtomicUsize::new(lose),
        calls: AtomicUsize::new(0),
        slept: std::sync::Mutex::new(Vec::new()),
    };
    (issuer, Keeper::new(transport, first), pair.session_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_one_refresh() {
    let (_issuer, keeper, _) = setup(0).await;
    let keeper = Arc::new(keeper);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let k = keeper.clone();
            tokio::spawn(async move { k.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("task").expect("token"));
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every caller got the same new token");
    assert_eq!(
        keeper.refreshes(),
        1,
        "one refresh for 100 concurrent callers"
    );
    keeper
        .access_token()
        .await
        .expect("fresh now, no further refresh");
    assert_eq!(keeper.refreshes(), 1);
}

#[tokio::test]
async fn a_lost_refresh_answer_is_retried_inside_the_grace_window() {
    let (issuer, keeper, sid) = setup(1).await;
    keeper
        .access_token()
        .await
        .expect("the retry gets the identical new pair");
    assert_eq!(keeper.refreshes(), 1);
    let s = issuer
        .store()
        .load(sid)
        .await
        .expect("load")
        .expect("session");
    assert_eq!(
        (s.generation, s.revoked),
        (2, None),
        "one rotation, no reuse alarm"
    );
}

#[tokio::test]
async fn a_dead_session_means_log_in_again() {
    let (issuer, keeper, sid) = setup(0).await;
    issuer.logout(sid).await.expect("logout");
    assert!(matches!(
        keeper.access_token().await,
        Err(ClientError::LoginRequired)
    ));
    assert!(
        matches!(keeper.access_token().await, Err(ClientError::LoginRequired)),
        "and stays so"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_not_logout() {
    let (_issuer, keeper, _) = setup(10).await;
    match keeper.access_token().await {
        Err(ClientError::Unavailable(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn retries_back_off_exponentially_with_jitter() {
    let (_issuer, keeper, _) = setup(100).await;
    let keeper = keeper
        .with_retries(5)
        .with_backoff(Duration::from_millis(100), Duration::from_secs(1));
    assert!(matches!(
        keeper.access_token().await,
        Err(ClientError::Unavailable(_))
    ));
    let slept = keeper_transport_slept(&keeper);
    assert_eq!(slept.len(), 5, "one wait between each of the 6 attempts");
    let mut jittered = false;
    for (k, d) in slept.iter().enumerate() {
        let step = (Duration::from_millis(100) * (1 << k)).min(Duration::from_secs(1));
        assert!(
            *d >= step / 2 && *d <= step,
            "wait {k}: {d:?} for step {step:?}"
        );
        jittered |= *d < step;
    }
    assert!(jittered, "the waits are randomized");
}

use std::time::Duration;

fn keeper_transport_slept<S: tidepass::client::Storage>(
    keeper: &Keeper<Direct, S>,
) -> Vec<Duration> {
    keeper.transport().slept.lock().expect("lock").clone()
}

const TOKEN_URL: &str = "https://auth.example/token";

/// A token endpoint in-process, with DPoP: the proof is checked by tidepass's checker on the
/// server's clock (which may be off from the device's), the refresh goes through
/// `refresh(..).context(..).dpop(..)`, and answers can be lost after the server rotated.
struct Bound {
    issuer: Arc<Issuer<MemoryStore>>,
    clock: Arc<tidepass::clock::ManualClock>,
    checker: tidepass::verify::dpop::ProofChecker,
    lose: AtomicUsize,
}

impl Transport for Bound {
    async fn refresh(&self, r: Refresh<'_>) -> Result<Refreshed, TransportError> {
        use tidepass::clock::Clock as _;
        let now = self.clock.now();
        let jkt = match r.dpop_proof {
            None => None,
            Some(p) => match self.checker.check_at(p, "POST", TOKEN_URL, None, now) {
                Ok(j) => Some(j),
                Err(e) if e.kind() == tidepass::ErrorKind::UseDpopNonce => {
                    return Err(TransportError::UseDpopNonce(
                        self.checker.nonce_at(now).expect("nonces"),
                    ));
                }
                Err(_) => return Err(TransportError::InvalidDpopProof(Some(now))),
            },
        };
        let result = self
            .issuer
            .refresh(r.refresh_token)
            .context(&Default::default())
            .dpop(jkt)
            .await;
        if self.lose.load(Ordering::SeqCst) > 0 {
            self.lose.fetch_sub(1, Ordering::SeqCst);
            return Err(TransportError::Unavailable("answer lost".into()));
        }
        match result {
            Ok(p) => Ok(Refreshed {
                tokens: Tokens {
                    access_token: p.access.into_string(),
                    refresh_token: p.refresh.expose().to_owned(),
                    expires_in: p.expires_in,
                },
                server_date: Some(now),
            }),
            Err(e) if e.is_invalid_grant() => Err(TransportError::InvalidGrant),
            Err(e) => Err(TransportError::Unavailable(e.kind().code().into())),
        }
    }

    async fn sleep(&self, _: Duration) {}
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The server's clock runs 400 s ahead of the device's.
const SKEW: u64 = 400;

async fn bound_setup(
    dpop: bool,
    nonces: bool,
    state: &std::path::Path,
) -> (
    Arc<Issuer<MemoryStore>>,
    Arc<tidepass::clock::ManualClock>,
    Keeper<Bound, tidepass::client::FileStorage>,
    tidepass::SessionId,
) {
    use tidepass::client::{DpopKey, FileStorage};
    let clock = Arc::new(tidepass::clock::ManualClock::new(unix_now() + SKEW));
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("k"),
        "iss",
        "aud",
    )
    .expect("m")
    .with_clock(clock.clone());
    let issuer = Arc::new(
        Issuer::builder(MemoryStore::new(), minter)
            .ephemeral_refresh_secrets()
            .policy(tidepass::Policy::mobile())
            .clock(clock.clone())
            .build()
            .expect("issuer"),
    );
    let key = DpopKey::generate(Algorithm::ES256).expect("key");
    let mut login = Login::new("dana");
    if dpop {
        login = login.dpop(key.thumbprint());
    }
    let pair = issuer.login(login).await.expect("login");
    let first = Tokens {
        access_token: pair.access.into_string(),
        refresh_token: pair.refresh.expose().to_owned(),
        expires_in: 0,
    };
    let mut checker = tidepass::verify::dpop::ProofChecker::new();
    if nonces {
        checker = checker.nonces(
            tidepass::verify::dpop::Nonces::generate(Duration::from_secs(300)).expect("nonces"),
        );
    }
    let transport = Bound {
        issuer: issuer.clone(),
        clock: clock.clone(),
        checker,
        lose: AtomicUsize::new(0),
    };
    let mut keeper = Keeper::new(transport, first).with_retries(0);
    if dpop {
        keeper = keeper.with_dpop(key, TOKEN_URL);
    }
    let keeper = keeper
        .with_storage(FileStorage::new(state))
        .saved()
        .await
        .expect("saved");
    (issuer, clock, keeper, pair.session_id)
}

fn temp_state(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tidepass-keeper-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join("session.json")
}

async fn restore(
    issuer: &Arc<Issuer<MemoryStore>>,
    clock: &Arc<tidepass::clock::ManualClock>,
    state: &std::path::Path,
) -> Keeper<Bound, tidepass::client::FileStorage> {
    let transport = Bound {
        issuer: issuer.clone(),
        clock: clock.clone(),
        checker: tidepass::verify::dpop::ProofChecker::new(),
        lose: AtomicUsize::new(0),
    };
    Keeper::restore(
        transport,
        tidepass::client::FileStorage::new(state),
        TOKEN_URL,
    )
    .await
    .expect("readable")
    .expect("a saved session")
}

/// A DPoP-bound device whose refresh answer is lost after the server rotated, and which is
/// then killed before it could retry (dropped with its parent token on disk), keeps its
/// session when it restarts well past the grace window: the restored keeper presents the
/// parent with a proof by the restored key and gets the identical, never-used child. The
/// server's clock runs 400 s ahead of the device's: the first proof is refused for its `iat`,
/// the keeper takes the server's `Date` and retries. A bearer device in the same spot is
/// logged out (reuse), which is why the rule needs the binding.
#[tokio::test]
async fn a_bound_device_killed_mid_refresh_keeps_its_session_days_later() {
    let state = temp_state("bound");
    let (issuer, clock, keeper, sid) = bound_setup(true, false, &state).await;
    keeper.transport().lose.store(1, Ordering::SeqCst);
    assert!(matches!(
        keeper.access_token().await,
        Err(ClientError::Unavailable(_))
    ));
    let s = issuer.store().load(sid).await.expect("load").expect("s");
    assert_eq!(
        s.generation, 2,
        "the server rotated; the device never saw it"
    );
    drop(keeper); // killed
    clock.advance(2 * 86_400); // two days (mobile preset: 30 days idle)
    let keeper = restore(&issuer, &clock, &state).await;
    assert!(
        keeper.dpop_thumbprint().is_some(),
        "the key came back from storage"
    );
    keeper
        .access_token()
        .await
        .expect("the parent gets its child");
    let s = issuer.store().load(sid).await.expect("load").expect("s");
    assert_eq!(
        (s.generation, s.revoked),
        (2, None),
        "handed out again, not rotated"
    );
    keeper.refresh_now().await.expect("and the chain goes on");
    let s = issuer.store().load(sid).await.expect("load").expect("s");
    assert_eq!((s.generation, s.revoked), (3, None));
    drop(keeper);
    // The file holds the newest token: a second restart rotates on from it.
    let keeper = restore(&issuer, &clock, &state).await;
    keeper.refresh_now().await.expect("from the saved child");
    assert_eq!(
        issuer
            .store()
            .load(sid)
            .await
            .expect("l")
            .expect("s")
            .generation,
        4
    );
    let mode = std::fs::metadata(&state).expect("state").permissions();
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
        0,
        "owner only"
    );
    let _ = mode;

    // Bearer: the same crash outside the grace window is reuse.
    let state = temp_state("bearer");
    let (issuer, clock, keeper, sid) = bound_setup(false, false, &state).await;
    keeper.transport().lose.store(1, Ordering::SeqCst);
    let _ = keeper.access_token().await;
    drop(keeper);
    clock.advance(3600);
    let keeper = restore(&issuer, &clock, &state).await;
    assert!(matches!(
        keeper.access_token().await,
        Err(ClientError::LoginRequired)
    ));
    let s = issuer.store().load(sid).await.expect("load").expect("s");
    assert!(s.revoked.is_some(), "reuse revoked the bearer session");
    assert!(
        !state.exists(),
        "the ended session is forgotten on disk too"
    );
}

#[tokio::test]
async fn the_keeper_retries_once_with_the_servers_dpop_nonce() {
    let state = temp_state("nonce");
    let (issuer, _clock, keeper, sid) = bound_setup(true, true, &state).await;
    keeper
        .access_token()
        .await
        .expect("refreshed after the nonce");
    assert_eq!(keeper.refreshes(), 1);
    let s = issuer.store().load(sid).await.expect("load").expect("s");
    assert_eq!(s.generation, 2);
    // The resource headers of a bound session: the DPoP scheme and a proof with `ath`.
    let access = keeper.access_token().await.expect("held");
    let (auth, proof) = keeper
        .resource_headers("GET", "https://api.example/me", &access, None)
        .expect("headers");
    assert!(auth.starts_with("DPoP "));
    tidepass::verify::dpop::ProofChecker::new()
        .check_at(
            &proof.expect("a proof"),
            "GET",
            "https://api.example/me",
            Some(&access),
            keeper.server_now(),
        )
        .expect("the proof checks on the server's clock");
}
