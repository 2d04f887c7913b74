//! A store chosen at run time: [`AnyStore`], one type for every backend this build has, so an
//! issuer, a server and the key ring take the store a URL names without a match over four
//! monomorphised programs.
//!
//! Why an enum and not `dyn SessionStore`: the trait's methods return `impl Future` (no box
//! per call on the hot path), which makes it not object-safe; an enum keeps that and costs one
//! branch per call. Measured with `cargo bench --bench refresh -- any` (callgrind, the
//! memory store directly and inside `AnyStore`): see BENCHMARKS.md.

use std::sync::Arc;

use super::key_ring::{KeyStore, StoredRing};
use super::{MemoryStore, Rotation, RotationRules, SessionStore};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{Changes, Entry};
use crate::session::{RevokeReason, Session, SessionId};

/// Any of the stores this build has, chosen at run time ([`AnyStore::connect`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// [`MemoryStore`]: one process, nothing kept.
    Memory(Arc<MemoryStore>),
    /// [`RedbStore`](super::RedbStore): one process, durable.
    #[cfg(feature = "redb")]
    Redb(super::RedbStore),
    /// [`RedisStore`](super::RedisStore) on one server.
    #[cfg(feature = "redis")]
    Redis(super::RedisStore),
    /// [`RedisStore`](super::RedisStore) on a Redis Cluster.
    #[cfg(feature = "redis")]
    RedisCluster(super::RedisStore<redis::cluster_async::ClusterConnection>),
    /// [`PgStore`](super::PgStore).
    #[cfg(feature = "postgres")]
    Postgres(super::PgStore),
}

/// How long a connection attempt or a call may take before it fails.
#[cfg(any(feature = "redis", feature = "postgres"))]
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl AnyStore {
    /// The store `url` names, its keys under `prefix` where the backend has a key space:
    /// `memory:`, `redb:PATH`, `redis://…` or `rediss://…`, `redis+cluster://host:port,…`
    /// (the nodes to start from), `postgres://…` (a pool of 16, migrated to the current
    /// schema). Each needs its feature; calls fail after 5 seconds rather than hang. Redis
    /// (`rediss://` for TLS) and the cluster refuse an evicting `maxmemory-policy`. PostgreSQL
    /// by URL is plain TCP: over TLS, build the store with
    /// [`PgStore::connect_tls`](super::PgStore::connect_tls) (your CA) and wrap it,
    /// `AnyStore::Postgres(store)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> tidepass::Result<()> {
    /// let store = tidepass::store::AnyStore::connect("memory:", "tidepass").await?;
    /// # let _ = store; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a scheme this build has no store for (logged by its
    /// scheme only: a URL may hold a password); the backend's connection errors
    /// ([`Error::is_store`]).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let _ = prefix;
        match url.split_once(':') {
            Some(("memory", _)) => Ok(Self::Memory(Arc::new(MemoryStore::new()))),
            #[cfg(feature = "redb")]
            Some(("redb", path)) => Ok(Self::Redb(super::RedbStore::open(path)?)),
            #[cfg(feature = "redis")]
            Some(("redis" | "rediss", _)) => Ok(Self::Redis(
                super::RedisStore::connect(url, prefix, TIMEOUT).await?,
            )),
            #[cfg(feature = "redis")]
            Some(("redis+cluster", _)) => Ok(Self::RedisCluster(
                super::RedisStore::connect_cluster(url, prefix).await?,
            )),
            #[cfg(feature = "postgres")]
            Some(("postgres" | "postgresql", _)) => {
                let store = super::PgStore::connect(url, 16, TIMEOUT)?;
                store.migrate().await?;
                Ok(Self::Postgres(store))
            }
            other => {
                // Only the scheme: a URL may carry a password.
                let scheme = other.map_or("no scheme", |(scheme, _)| scheme);
                tracing::warn!(scheme, "not a store this build has");
                Err(Error::with(
                    ErrorKind::InvalidConfig,
                    "not a store this build has (memory:, redb:PATH, redis://…, \
                     redis+cluster://…, postgres://…, each with its feature)",
                ))
            }
        }
    }

    /// Whether the store is shared between processes (Redis, PostgreSQL): several instances
    /// may run on it, and keys must come from its key ring, never from one process.
    pub fn is_shared(&self) -> bool {
        match self {
            Self::Memory(_) => false,
            #[cfg(feature = "redb")]
            Self::Redb(_) => false,
            #[allow(unreachable_patterns)]
            _ => true,
        }
    }
}

/// One call, on whichever store it is.
macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($s) => $call,
            #[cfg(feature = "redb")]
            AnyStore::Redb($s) => $call,
            #[cfg(feature = "redis")]
            AnyStore::Redis($s) => $call,
            #[cfg(feature = "redis")]
            AnyStore::RedisCluster($s) => $call,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $call,
        }
    };
}

impl SessionStore for AnyStore {
    async fn create(&self, session: &Session) -> Result<()> {
        each!(self, s => s.create(session).await)
    }
    async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
        each!(self, s => s.load(sid).await)
    }
    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> Result<Option<Rotation>> {
        each!(self, s => s.rotate(sid, presented, rules).await)
    }
    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Option<Session>> {
        each!(self, s => s.revoke(sid, reason, now).await)
    }
    async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
        each!(self, s => s.list(subject, now).await)
    }
    async fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Vec<Session>> {
        each!(self, s => s.revoke_subject(subject, keep, reason, now).await)
    }
    async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
        each!(self, s => s.cleanup(now, limit).await)
    }
    async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
        each!(self, s => s.append_revocations(entries).await)
    }
    fn lists_reuse(&self) -> bool {
        each!(self, s => s.lists_reuse())
    }
    fn compares_risk(&self) -> bool {
        each!(self, s => s.compares_risk())
    }
    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
        each!(self, s => s.revocation_changes(since, now).await)
    }
    async fn reserve_status_indices(&self, count: u64) -> Result<u64> {
        each!(self, s => s.reserve_status_indices(count).await)
    }
}

impl KeyStore for AnyStore {
    async fn load_key_ring(&self) -> Result<Option<StoredRing>> {
        each!(self, s => s.load_key_ring().await)
    }
    async fn swap_key_ring(&self, expected: u64, doc: &[u8]) -> Result<bool> {
        each!(self, s => s.swap_key_ring(expected, doc).await)
    }
}
