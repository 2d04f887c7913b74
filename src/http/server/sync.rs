//! How the server keeps current with no task of the application's: its revocation view and
//! verifier keys, synced from the store when a request finds them older than their interval,
//! and the shared key ring's rules applied the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::AuthServer;
use crate::error::Result;
use crate::keys::RingKeys;
use crate::store::SessionStore;
use crate::store::key_ring::{KeyRing, KeyStore};

/// A look at the ring: its new fingerprint and keys when it changed.
type Changed<'a> = Pin<Box<dyn Future<Output = Result<Option<(u64, RingKeys)>>> + Send + 'a>>;

/// A key ring as the server holds it: any store's, behind one object-safe face.
pub(super) trait RingSource: Send + Sync {
    fn changed_at(&self, known: u64, now: u64) -> Changed<'_>;
    fn poll(&self) -> Duration;
}

impl<K: KeyStore> RingSource for KeyRing<K> {
    fn changed_at(&self, known: u64, now: u64) -> Changed<'_> {
        Box::pin(KeyRing::changed_at(self, known, now))
    }
    fn poll(&self) -> Duration {
        self.poll_interval()
    }
}

/// The server's key ring: its source, the fingerprint in use, when it was last looked at, and
/// whether a request is looking now.
pub(super) struct RingSlot {
    source: Box<dyn RingSource>,
    /// The fingerprint of the ring in use (0: none yet), set with the keys, under this lock.
    applied: Mutex<u64>,
    tried_at: Mutex<Option<Instant>>,
    busy: AtomicBool,
}

impl RingSlot {
    pub(super) fn new(source: Box<dyn RingSource>) -> Self {
        Self {
            source,
            applied: Mutex::new(0),
            tried_at: Mutex::new(None),
            busy: AtomicBool::new(false),
        }
    }
}

/// Releases a one-at-a-time turn, also when the request holding it is dropped.
struct Turn<'a>(&'a AtomicBool);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Whether work last tried at `last` is due again after `every` (always before the first
/// try): `None` when not, or when another request holds the turn; else the turn. One request
/// at a time, before the first success too, so a burst at start-up or during an outage costs
/// the store one call per interval, not one per request.
fn due(last: Option<Instant>, every: Duration, busy: &AtomicBool) -> Option<Turn<'_>> {
    if last.is_some_and(|at| at.elapsed() < every) || busy.swap(true, Ordering::AcqRel) {
        return None;
    }
    Some(Turn(busy))
}

impl<S: SessionStore> AuthServer<S> {
    /// Bring the server's revocation list up to the store's log, and its verifier's keys up
    /// to the minter's (after a key rotation). After each revocation made through the server
    /// this runs at once; for those made elsewhere (other instances, the CLI) the requests
    /// that check tokens run it when the view is older than
    /// [`AuthServerBuilder::revocation_sync`](super::AuthServerBuilder::revocation_sync), and
    /// [`AuthServer::follow_revocations`] can run
    /// it periodically besides.
    ///
    /// # Errors
    ///
    /// A store error (the list is left as it was).
    pub async fn sync_revocations(&self) -> Result<()> {
        self.adopt_keys();
        self.syncer
            .sync_changes_once(self.issuer.now(), |since| {
                self.issuer.revocation_changes(since)
            })
            .await?;
        *self.tried_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// Before a request checks an access token: sync first when the view is older than
    /// [`AuthServerBuilder::revocation_sync`](super::AuthServerBuilder::revocation_sync).
    /// One request at a time does it, the others answer from the view they have (the verifier
    /// fails closed until a first sync succeeds). A finished try, success or failure, counts:
    /// a failing store is asked once per interval. Cancellation-safe: a dropped request
    /// releases its turn without counting as a try, so the next request tries again (a client
    /// resetting its requests cannot keep the view from syncing).
    pub(super) async fn current(&self) {
        let last = *self.tried_at.lock().unwrap_or_else(|p| p.into_inner());
        let Some(_turn) = due(last, self.sync_every, &self.syncing) else {
            return;
        };
        if let Err(e) = self.sync_revocations().await {
            *self.tried_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            tracing::warn!(error = %e, "revocation sync failed; retried after the interval");
        }
    }

    /// [`AuthServer::sync_revocations`] every `interval`, forever, waiting with `sleep` (for
    /// example `tokio::time::sleep`). Optional: the server syncs on its own when a request
    /// needs it ([`AuthServerBuilder::revocation_sync`](super::AuthServerBuilder::revocation_sync));
    /// this keeps the view warm between requests, so none of them waits for a sync. Failed
    /// rounds are logged and retried next time; the verifier fails closed once its list is
    /// older than its `max_staleness`. Cancel it by dropping the future: it holds nothing
    /// across its awaits that a drop could leave half done.
    pub async fn follow_revocations<F, Fut>(&self, interval: Duration, sleep: F)
    where
        F: Fn(Duration) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if let Err(e) = self.sync_revocations().await {
                tracing::warn!(error = %e, "revocation sync failed; retrying");
            }
            sleep(interval).await;
        }
    }

    /// The verifier's keys up to the minter's (after a key rotation).
    fn adopt_keys(&self) {
        let jwks = self.issuer.minter().keys().jwks();
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        if *published != jwks {
            self.verifier
                .set_keys(self.issuer.minter().keys().verifying_keys());
            *published = jwks;
        }
    }

    /// Before a request is answered: the key ring's rules, when the server has a ring and
    /// last looked longer ago than its poll interval (one request at a time). A failure keeps
    /// the keys in use and is retried after the interval; a look cut off by a dropped request
    /// does not count, so the next request looks again.
    pub(super) async fn keys_current(&self) {
        let Some(ring) = &self.ring else {
            return;
        };
        let last = *ring.tried_at.lock().unwrap_or_else(|p| p.into_inner());
        let Some(_turn) = due(last, ring.source.poll(), &ring.busy) else {
            return;
        };
        let known = *ring.applied.lock().unwrap_or_else(|p| p.into_inner());
        let looked = ring.source.changed_at(known, self.issuer.now()).await;
        *ring.tried_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        match looked {
            Ok(Some((seen, keys))) => {
                let mut applied = ring.applied.lock().unwrap_or_else(|p| p.into_inner());
                self.issuer.use_ring_keys(keys);
                *applied = seen;
                drop(applied);
                self.adopt_keys();
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "key ring: keeping the keys in use"),
        }
    }
}
