//! A connection to whichever server Redis Sentinel says is the primary (feature
//! `redis-sentinel`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, Value};

/// A multiplexed connection to the primary that the sentinels name, found again after a
/// failover.
///
/// The first command after the connection breaks, times out, or reaches a server that is no
/// longer the primary (`READONLY`, `LOADING`, `MASTERDOWN`) fails with that error, as a store
/// error, and the next command asks the sentinels for the primary again (one lookup at a time;
/// concurrent callers wait for it). Commands are never retried here: the issuer's callers
/// retry, and a retried refresh is answered from the grace window.
#[derive(Clone)]
pub struct SentinelConnection {
    inner: Arc<Inner>,
}

struct Inner {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    /// The current connection and its number; `None` until connected or after a failure.
    current: Mutex<(u64, Option<MultiplexedConnection>)>,
}

impl std::fmt::Debug for SentinelConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelConnection").finish_non_exhaustive()
    }
}

/// Errors after which the next command looks up the primary again.
fn lost_primary(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("READONLY" | "LOADING" | "MASTERDOWN"))
}

impl SentinelConnection {
    /// Ask `sentinels` (`redis://host:port` URLs of the sentinels, not of the servers) for the
    /// primary of `service` and connect to it; every connect and command times out after
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// The Redis error when no URL parses, no sentinel answers, or the primary they name
    /// cannot be reached or does not say it is a primary.
    pub async fn connect(
        sentinels: &[&str],
        service: &str,
        timeout: Duration,
    ) -> redis::RedisResult<Self> {
        let urls: Vec<String> = sentinels.iter().map(|s| (*s).to_owned()).collect();
        // A `String`: redis takes one without its TLS feature and any `AsRef<str>` with it.
        #[allow(clippy::unnecessary_to_owned)]
        let client =
            SentinelClient::build(urls, service.to_owned(), None, SentinelServerType::Master)?;
        let con = Self {
            inner: Arc::new(Inner {
                sentinel: tokio::sync::Mutex::new(client),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout)),
                current: Mutex::new((0, None)),
            }),
        };
        con.connection().await?;
        Ok(con)
    }

    /// The current connection, or a new one to the primary the sentinels name now.
    async fn connection(&self) -> redis::RedisResult<(u64, MultiplexedConnection)> {
        if let (n, Some(c)) = &*self.lock() {
            return Ok((*n, c.clone()));
        }
        // One lookup at a time; whoever waited here finds the connection made.
        let mut sentinel = self.inner.sentinel.lock().await;
        if let (n, Some(c)) = &*self.lock() {
            return Ok((*n, c.clone()));
        }
        let con = sentinel
            .async_get_client()
            .await?
            .get_multiplexed_async_connection_with_config(&self.inner.config)
            .await?;
        drop(sentinel);
        let mut current = self.lock();
        current.0 = current.0.wrapping_add(1);
        current.1 = Some(con.clone());
        Ok((current.0, con))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<MultiplexedConnection>)> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// After `e` on connection `n`: forget it, unless another caller already replaced it.
    fn failed(&self, n: u64, e: &RedisError) {
        if lost_primary(e) {
            let mut current = self.lock();
            if current.0 == n {
                current.1 = None;
            }
        }
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (n, mut con) = self.connection().await?;
            let out = con.req_packed_command(cmd).await;
            if let Err(e) = &out {
                self.failed(n, e);
            }
            out
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (n, mut con) = self.connection().await?;
            let out = con.req_packed_commands(pipeline, offset, count).await;
            if let Err(e) = &out {
                self.failed(n, e);
            }
            out
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
