//! The `maxmemory-policy` check: a policy that can evict the store's keys loses sessions and
//! revocations silently, so the store refuses it and watches for evictions.

use redis::aio::ConnectionLike;

use super::{Eviction, RedisStore, options, store_err};
use crate::error::{Error, ErrorKind, Result};

impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisStore<C> {
    /// The server's `maxmemory-policy` (`CONFIG GET`, or `INFO memory` where managed servers
    /// disable `CONFIG`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the server cannot be asked or answers neither.
    pub async fn eviction_policy(&self) -> Result<String> {
        let mut con = self.con.clone();
        let config: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut con)
            .await;
        if let Ok(pair) = config
            && let [_, policy] = pair.as_slice()
        {
            return Ok(policy.clone());
        }
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        options::policy_from_info(&info)
            .map(str::to_owned)
            .ok_or_else(|| Error::with(ErrorKind::Store, "redis reports no maxmemory policy"))
    }

    /// Check that the server cannot evict the store's keys (its `maxmemory-policy` is
    /// `noeviction`); with [`Eviction::Allow`], warn instead and watch `evicted_keys` for as
    /// long as the store lives. The `connect` functions call this.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an evicting policy under [`Eviction::Refuse`];
    /// [`ErrorKind::Store`] when the policy cannot be read.
    pub async fn check_eviction(&self, eviction: Eviction) -> Result<()> {
        let policy = self.eviction_policy().await?;
        if policy == "noeviction" {
            return Ok(());
        }
        match eviction {
            Eviction::Refuse => Err(Error::with(
                ErrorKind::InvalidConfig,
                "redis maxmemory-policy can evict sessions or the revocation log: set \
                 noeviction, or allow eviction explicitly (Eviction::Allow)",
            )),
            Eviction::Allow => {
                tracing::warn!(
                    target: "tidepass::store::redis",
                    policy = %policy,
                    "redis may evict sessions (users logged out) or revocations (revoked \
                     tokens accepted again); watching evicted_keys"
                );
                self.watch_evictions().await
            }
        }
    }

    /// The server's `evicted_keys` counter (`INFO stats`): keys evicted since it started,
    /// tidepass's or not.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the server cannot be asked.
    pub async fn evicted_keys(&self) -> Result<u64> {
        let mut con = self.con.clone();
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        options::evicted_from_info(&info)
            .ok_or_else(|| Error::with(ErrorKind::Store, "redis reports no evicted_keys"))
    }

    /// Every ten seconds while a clone of the store lives: warn (and count) when
    /// `evicted_keys` has grown.
    async fn watch_evictions(&self) -> Result<()> {
        let mut last = self.evicted_keys().await?;
        let alive = std::sync::Arc::downgrade(&self.alive);
        let watcher = Self {
            alive: std::sync::Arc::new(()),
            ..self.clone()
        };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                if alive.strong_count() == 0 {
                    return;
                }
                let Ok(now) = watcher.evicted_keys().await else {
                    continue;
                };
                if now > last {
                    tracing::warn!(
                        target: "tidepass::store::redis",
                        evicted = now - last,
                        "redis evicted keys: sessions may have been logged out"
                    );
                    #[cfg(feature = "metrics")]
                    metrics::counter!("tidepass_redis_evicted_keys_total").increment(now - last);
                }
                last = now;
            }
        });
        Ok(())
    }
}
