//! Pull sync: a verifier's list kept in step by polling.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Applied, Changes, RevocationList};
use crate::error::{Error, Result};

/// Keeps a [`RevocationList`] in step with an issuer by polling.
///
/// The application supplies `fetch(since)`: bring the issuer's [`Changes`] since that version
/// (or a snapshot for `None`), over HTTP or anything else. No runtime is assumed: call
/// [`Syncer::sync_once`] from your own timer, or [`Syncer::run`] with a sleep function.
#[derive(Debug)]
pub struct Syncer {
    list: Arc<RevocationList>,
    last_sync: std::sync::atomic::AtomicU64,
}

impl Syncer {
    /// A syncer for `list`.
    pub fn new(list: Arc<RevocationList>) -> Self {
        Self {
            list,
            last_sync: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The list.
    pub fn list(&self) -> &Arc<RevocationList> {
        &self.list
    }

    /// Unix time of the last successful sync (0 before the first).
    pub fn last_sync(&self) -> u64 {
        self.last_sync.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One round on an **unsigned** feed — only for a channel the verifier already trusts (the
    /// Redis store itself, a sidecar on the same host): anyone who can answer `fetch` can put
    /// entries on the list. Over a network, serve [`Changes::sign`]ed feeds and use
    /// [`Syncer::sync_signed_once`].
    ///
    /// Fetch changes since the list's version, apply them, and fetch a snapshot if
    /// a gap remains or the log's history diverged from the list's ([`Applied::Diverged`]: the
    /// log went back).
    ///
    /// # Errors
    ///
    /// Whatever `fetch` returns; [`ErrorKind::Malformed`](crate::ErrorKind::Malformed) for undecodable data (the list is
    /// left as it was).
    pub async fn sync_once<F, Fut>(&self, now: u64, fetch: F) -> Result<Applied>
    where
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        self.sync_changes_once(now, |since| {
            let fetched = fetch(since);
            async move { Changes::decode(&fetched.await?) }
        })
        .await
    }

    /// [`Syncer::sync_once`] on changes that arrive already decoded: read from the store
    /// itself (what the Redis push follower does), or from any other trusted source.
    ///
    /// # Errors
    ///
    /// Whatever `fetch` returns (the list is left as it was).
    pub async fn sync_changes_once<F, Fut>(&self, now: u64, fetch: F) -> Result<Applied>
    where
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<Changes>>,
    {
        self.round(now, |since| {
            let fetched = fetch(since);
            async move {
                let changes = fetched.await?;
                let version = changes.version();
                Ok((self.list.apply_at(changes, now), version))
            }
        })
        .await
    }

    /// One round, both kinds of feed: changes since the list's version, a snapshot if a gap
    /// remains; `apply` answers what it applied and the feed's version.
    async fn round<A, AFut>(&self, now: u64, apply: A) -> Result<Applied>
    where
        A: Fn(Option<u64>) -> AFut,
        AFut: Future<Output = Result<(Applied, u64)>>,
    {
        let since = match self.list.version() {
            0 => None,
            v => Some(v),
        };
        let (mut applied, mut feed_version) = apply(since).await?;
        if let Applied::Diverged { have } = applied {
            tracing::warn!(
                have,
                "revocation log went back and diverged from this list; resyncing from a snapshot"
            );
        }
        match applied {
            Applied::Gap { .. } => (applied, feed_version) = apply(None).await?,
            Applied::Diverged { .. } => {
                (applied, feed_version) = apply(None).await?;
                // The snapshot may well be ahead of the list; the round still resynced.
                if let Applied::Advanced(v) = applied {
                    applied = Applied::Resynced(v);
                }
            }
            _ => {}
        }
        self.record_lag(feed_version);
        self.last_sync
            .store(now, std::sync::atomic::Ordering::Relaxed);
        Ok(applied)
    }

    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn record_lag(&self, feed_version: u64) {
        #[cfg(feature = "metrics")]
        metrics::gauge!("tidepass_revocations_version_lag")
            .set(feed_version.saturating_sub(self.list.version()) as f64);
    }

    /// One round on a signed feed ([`Changes::sign`]): as [`Syncer::sync_once`], with every
    /// feed checked against `keys` (the verifier's key set) and `issuer` (whose log it must
    /// be) before anything is applied, and a replayed older feed refused.
    ///
    /// # Errors
    ///
    /// Whatever `fetch` returns; as [`RevocationList::apply_signed_at`] (the list is left as it
    /// was).
    pub async fn sync_signed_once<F, Fut>(
        &self,
        now: u64,
        keys: &crate::keys::VerifyingKeys,
        issuer: &str,
        fetch: F,
    ) -> Result<Applied>
    where
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        self.round(now, |since| {
            let fetched = fetch(since);
            async move {
                self.list
                    .apply_signed_versioned(&fetched.await?, keys, issuer, now)
            }
        })
        .await
    }

    /// [`Syncer::run`] on a signed feed: every round checks the feed against `keys()` (the
    /// verifier's current key set, so a JWKS refresh is picked up) and `issuer` before
    /// applying it.
    #[allow(clippy::too_many_arguments)] // each one a separate concern the caller supplies
    pub async fn run_signed<K, F, Fut, S, SFut>(
        &self,
        interval: Duration,
        clock: &dyn crate::clock::Clock,
        keys: K,
        issuer: &str,
        fetch: F,
        sleep: S,
        on_error: impl Fn(&Error),
    ) where
        K: Fn() -> Arc<crate::keys::VerifyingKeys>,
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<String>>,
        S: Fn(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        let round = |now| {
            let keys = keys();
            let fetch = &fetch;
            async move { self.sync_signed_once(now, &keys, issuer, fetch).await }
        };
        self.rounds(interval, clock, round, sleep, on_error).await;
    }

    /// Sync forever every `interval`, reading `now` from `clock` and waiting with `sleep`. A
    /// failed round keeps the current list (verification keeps working from it) and retries at
    /// the next tick; `on_error` hears about it. An unsigned feed, as [`Syncer::sync_once`]:
    /// over a network, use [`Syncer::run_signed`].
    pub async fn run<F, Fut, S, SFut>(
        &self,
        interval: Duration,
        clock: &dyn crate::clock::Clock,
        fetch: F,
        sleep: S,
        on_error: impl Fn(&Error),
    ) where
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
        S: Fn(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        let round = |now| self.sync_once(now, &fetch);
        self.rounds(interval, clock, round, sleep, on_error).await;
    }

    /// The loop both `run`s share: a round, its error reported, the list's age recorded.
    async fn rounds<R, RFut, S, SFut>(
        &self,
        interval: Duration,
        clock: &dyn crate::clock::Clock,
        round: R,
        sleep: S,
        on_error: impl Fn(&Error),
    ) where
        R: Fn(u64) -> RFut,
        RFut: Future<Output = Result<Applied>>,
        S: Fn(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        loop {
            if let Err(e) = round(clock.now()).await {
                on_error(&e);
            }
            #[cfg(feature = "metrics")]
            if let Some(age) = self.list.age_at(clock.now()) {
                metrics::gauge!("tidepass_revocations_age_seconds").set(age as f64);
            }
            sleep(interval).await;
        }
    }
}
