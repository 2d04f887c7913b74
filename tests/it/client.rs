//! The device-side token keeper against a real in-process issuer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tidepass::client::{ClientError, Keeper, Tokens, Transport, TransportError};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::{Issuer, Login, MemoryStore, Minter, SessionStore};

struct Direct {
    issuer: Arc<Issuer<MemoryStore>>,
    /// Refresh on the server but report the first `lose` answers as lost.
    lose: AtomicUsize,
    calls: AtomicUsize,
}

impl Transport for Direct {
    async fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let result = self.issuer.refresh(refresh_token).await;
        if self.lose.load(Ordering::SeqCst) > 0 {
            self.lose.fetch_sub(1, Ordering::SeqCst);
            return Err(TransportError::Unavailable("response lost".into()));
        }
        match result {
            Ok(p) => Ok(Tokens {
                access_token: p.access.into_string(),
                refresh_token: p.refresh.expose().to_owned(),
                expires_in: p.expires_in,
            }),
            Err(e) if e.is_invalid_grant() => Err(TransportError::InvalidGrant),
            Err(e) => Err(TransportError::Unavailable(e.to_string())),
        }
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
    assert_eq!(keeper.access_token().await, Err(ClientError::LoginRequired));
    assert_eq!(
        keeper.access_token().await,
        Err(ClientError::LoginRequired),
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
