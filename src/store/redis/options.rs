//! What a Redis store demands of its server: an eviction policy that cannot drop its keys,
//! and, if asked, replicas that hold a write before it is acknowledged.

use std::time::Duration;

/// What [`RedisStore`](super::RedisStore) does when the server's `maxmemory-policy` can evict
/// its keys.
///
/// Every policy but `noeviction` can: the `volatile-*` policies evict keys that have a TTL,
/// which are tidepass's sessions (users logged out at random under memory pressure), and the
/// `allkeys-*` policies evict anything, the revocation log included (revoked tokens accepted
/// again, silently). Under `noeviction` a full server refuses writes instead, and each refused
/// write is a store error the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Eviction {
    /// Refuse to connect ([`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig))
    /// unless the policy is `noeviction`. The default.
    #[default]
    Refuse,
    /// Connect anyway with a warning, and watch the server's `evicted_keys` every ten seconds:
    /// each rise is a warning and, with feature `metrics`, counted in
    /// `tidepass_redis_evicted_keys_total`. For a server shared with a cache, where the
    /// application accepts that sessions may vanish.
    Allow,
}

/// How a [`RedisStore`](super::RedisStore) connects.
///
/// ```
/// use std::time::Duration;
/// use tidepass::store::{Eviction, RedisOptions};
///
/// let options = RedisOptions::new(Duration::from_secs(2))
///     .acknowledge_after(1, Duration::from_millis(500)) // one replica has every write
///     .eviction(Eviction::Refuse);
/// assert_eq!(options.replicas, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Every connect and command fails after this instead of hanging.
    pub timeout: Duration,
    /// What to do about a `maxmemory-policy` that can evict keys.
    pub eviction: Eviction,
    /// Acknowledge a write (a login, a rotation, a revocation, a log append) only once this
    /// many replicas have it (Redis `WAIT`); 0, the default: once the primary has it.
    pub replicas: u32,
    /// How long a write waits for those replicas; then it fails with a store error (it may
    /// still have been applied on the primary: a retried refresh is answered from the grace
    /// window).
    pub replica_timeout: Duration,
}

impl RedisOptions {
    /// Commands time out after `timeout`; eviction refused; no replica acknowledgement.
    pub const fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            eviction: Eviction::Refuse,
            replicas: 0,
            replica_timeout: Duration::from_secs(1),
        }
    }

    /// What to do about a `maxmemory-policy` that can evict keys.
    #[must_use]
    pub const fn eviction(mut self, eviction: Eviction) -> Self {
        self.eviction = eviction;
        self
    }

    /// Acknowledge writes only once `replicas` replicas have them, waiting at most `timeout`.
    /// With `replicas` equal to the number of replicas that can be promoted, this is what
    /// kept every acknowledged rotation when the primary died in RELIABILITY.md's failover
    /// tests. Fewer is not enough: with `WAIT 1` and two replicas, Sentinel promoted the one
    /// without the write. The price is that writes fail while any of those replicas is down.
    #[must_use]
    pub const fn acknowledge_after(mut self, replicas: u32, timeout: Duration) -> Self {
        self.replicas = replicas;
        self.replica_timeout = timeout;
        self
    }
}

impl Default for RedisOptions {
    /// Two-second timeouts; eviction refused; no replica acknowledgement.
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
}

/// The value of `maxmemory_policy` in an `INFO memory` reply.
pub(super) fn policy_from_info(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|l| l.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

/// The value of `evicted_keys` in an `INFO stats` reply.
pub(super) fn evicted_from_info(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:volatile-lru\r\n";
        assert_eq!(policy_from_info(info), Some("volatile-lru"));
        assert_eq!(policy_from_info("# Memory\r\n"), None);
        assert_eq!(
            evicted_from_info("# Stats\r\nevicted_keys:42\r\n"),
            Some(42)
        );
        assert_eq!(evicted_from_info("evicted_keys:x\r\n"), None);
    }
}
