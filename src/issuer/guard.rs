//! Guards on the refresh endpoint: failed attempts rate-limited per client key (governor,
//! feature `guard`), and a risk policy that compares the client context stored at login with the
//! one presented on refresh.

#[cfg(feature = "guard")]
use std::num::NonZeroU32;
#[cfg(feature = "guard")]
use std::time::{Duration, Instant};

#[cfg(feature = "guard")]
use dashmap::DashMap;
#[cfg(feature = "guard")]
use governor::clock::{Clock as _, DefaultClock};
#[cfg(feature = "guard")]
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::session::ClientContext;
pub use crate::session::RiskFingerprint;

#[cfg(feature = "guard")]
/// Failed attempts per client key (an IP address, a device id): after `burst` failures, one
/// more is allowed per `per` interval; a blocked key is refused (429 with `Retry-After`)
/// without any work until then. Successful attempts cost nothing.
///
/// Its memory is bounded: it tracks at most [`FailureLimiter::with_max_keys`] keys (65,536 by
/// default). When that many keys have failed recently, keys that have recovered are dropped
/// first; a new key that finds the table still full is blocked for one `per` interval on its
/// first failure (the limiter fails closed for failing clients, never for succeeding ones).
///
/// Key it by the client's address as [`client_address`] reads it: behind a proxy, the socket
/// peer is the proxy, and every user would share one budget.
#[derive(Debug)]
pub struct FailureLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    blocked: DashMap<String, Instant>,
    max_keys: usize,
    per: Duration,
    /// Failures seen on a full table since the last sweep: a sweep (O(keys)) runs once per
    /// quarter table of them, or once `per` has passed since the last one (so a table filled
    /// by one burst is cleaned when its keys recover, however few failures follow), so each
    /// failure costs O(1) amortized however full it stays.
    since_sweep: std::sync::atomic::AtomicUsize,
    last_sweep: std::sync::Mutex<Instant>,
    sweeps: std::sync::atomic::AtomicUsize,
}

#[cfg(feature = "guard")]
impl FailureLimiter {
    /// At most `burst` failures at once, then one per `per`.
    pub fn new(burst: u32, per: Duration) -> Self {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(per.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            blocked: DashMap::new(),
            max_keys: 65_536,
            per: per.max(Duration::from_millis(1)),
            since_sweep: std::sync::atomic::AtomicUsize::new(0),
            last_sweep: std::sync::Mutex::new(Instant::now()),
            sweeps: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Track at most `max_keys` keys (at least 1).
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// How many keys it holds state for now.
    pub fn keys(&self) -> usize {
        self.limiter.len().max(self.blocked.len())
    }

    /// `Err(retry_after)` while `key` is blocked.
    ///
    /// # Errors
    ///
    /// The time until the key may try again.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        match self.blocked.get(key).map(|e| *e) {
            Some(until) if now < until => Err(until - now),
            Some(_) => {
                self.blocked.remove_if(key, |_, until| *until <= now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Count a failed attempt for `key`; returns the block, if the key has now used its quota.
    pub fn failed(&self, key: &str) -> Option<Duration> {
        use std::sync::atomic::Ordering::Relaxed;
        let key = key.to_owned();
        if self.keys() >= self.max_keys {
            // Sweep once per quarter table of failures on a full table, not on each: a
            // table full of recent failures would otherwise be rescanned by every attempt.
            let many = self.since_sweep.fetch_add(1, Relaxed) >= (self.max_keys / 4).max(1);
            let stale = self
                .last_sweep
                .lock()
                .map_or(true, |at| at.elapsed() >= self.per);
            if many || stale {
                self.since_sweep.store(0, Relaxed);
                self.shrink();
            }
            if self.keys() >= self.max_keys && !self.blocked.contains_key(&key) {
                // Still full of recent failures: fail closed for this failing client.
                // Room for its block, made by dropping some other block if need be.
                if self.blocked.len() >= self.max_keys {
                    let victim = self.blocked.iter().next().map(|e| e.key().clone());
                    if let Some(v) = victim {
                        self.blocked.remove(&v);
                    }
                }
                self.blocked.insert(key, Instant::now() + self.per);
                return Some(self.per);
            }
        }
        match self.limiter.check_key(&key) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.blocked.insert(key, Instant::now() + wait);
                Some(wait)
            }
        }
    }

    /// How many full sweeps ([`FailureLimiter::shrink`]) it has made, for tests and metrics.
    pub fn sweeps(&self) -> usize {
        self.sweeps.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drop state for keys that have fully recovered (call now and then).
    pub fn shrink(&self) {
        self.sweeps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut at) = self.last_sweep.lock() {
            *at = Instant::now();
        }
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked.retain(|_, until| *until > now);
    }
}

/// The client's address for rate limiting: the socket `peer`, unless the peer is one of the
/// `trusted_proxies`; then the nearest address in `X-Forwarded-For` (`forwarded_for`, read
/// from the right) that is not a trusted proxy. A forwarded address from anyone else is
/// ignored, since a client can write any `X-Forwarded-For` it likes.
///
/// ```
/// use std::net::IpAddr;
/// use tidepass::issuer::guard::client_address;
///
/// let proxy: IpAddr = "10.0.0.1".parse().unwrap();
/// let peer: IpAddr = "203.0.113.9".parse().unwrap();
/// // Straight from the client: its own claim is ignored.
/// assert_eq!(client_address(peer, Some("1.2.3.4"), &[proxy]), peer);
/// // Through our proxy: the address it saw.
/// assert_eq!(client_address(proxy, Some("1.2.3.4, 203.0.113.9"), &[proxy]), peer);
/// ```
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: Option<&str>,
    trusted_proxies: &[std::net::IpAddr],
) -> std::net::IpAddr {
    // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 (`::ffff:10.0.0.1`): one
    // address, one spelling, on both sides of every comparison.
    let trusted = |ip: std::net::IpAddr| trusted_proxies.iter().any(|t| canonical(*t) == ip);
    let peer = canonical(peer);
    if !trusted(peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else {
        return peer;
    };
    let mut nearest = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<std::net::IpAddr>().map(canonical) {
            Ok(ip) if trusted(ip) => nearest = ip,
            Ok(ip) => return ip,
            // Garbage in the chain: stop at the last hop we could trust.
            Err(_) => return nearest,
        }
    }
    nearest
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps; any other address as it is.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        std::net::IpAddr::V4(_) => ip,
    }
}

/// What the risk policy says about a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskDecision {
    /// Go ahead.
    Allow,
    /// Refuse this refresh and ask the user to authenticate again (the session stays; an
    /// [`crate::Issuer::elevate`] after re-authentication continues it).
    StepUp,
    /// Refuse and revoke the session.
    Deny,
}

/// Decides on a refresh from the context stored at login and the one presented now.
///
/// # The one-round-trip refresh
///
/// With only [`RiskPolicy::assess`], a refresh costs two store round trips: the issuer loads
/// the session to show the policy its stored context, then rotates. A policy that also gives
/// [`RiskPolicy::fingerprint`] lets the risk check ride the rotation: the session keeps the
/// fingerprint of its login context, each refresh sends the presented context's, and the store
/// rotates in the same atomic step only when the two [match](RiskFingerprint::admits). When
/// they do not, the store changes nothing and answers the stored session; the issuer asks
/// [`RiskPolicy::assess`] and, if it allows, rotates on a second round trip. The decision is
/// the same either way; only the common case is cheaper.
pub trait RiskPolicy: Send + Sync + 'static {
    /// The decision.
    fn assess(&self, stored: &ClientContext, presented: &ClientContext) -> RiskDecision;

    /// A digest of what [`RiskPolicy::assess`] compares, for the one-round-trip refresh;
    /// `None` (the default) opts out, and every refresh with a context loads first.
    ///
    /// The contract: whenever `fingerprint(stored)` and `fingerprint(presented)` are both
    /// `Some` and [admit](RiskFingerprint::admits) each other, `assess(stored, presented)` is
    /// [`RiskDecision::Allow`]. Return [`RiskFingerprint::ANY`] for a context the policy
    /// allows against anything (for [`DefaultRisk`], one without a `User-Agent`): a refresh
    /// presenting it is never checked, so `assess(stored, presented)` must then be `Allow`
    /// for every stored context, also one whose fingerprint is `None`. Derive it
    /// with [`RiskFingerprint::of`] from the compared parts and a version of your rules: the
    /// fingerprint is stored with each session at login, so rules that change must change it
    /// (an old session's fingerprint then no longer matches, and the full policy decides).
    fn fingerprint(&self, context: &ClientContext) -> Option<RiskFingerprint> {
        let _ = context;
        None
    }
}

/// The default policy: a different `User-Agent` *product* (the part before the first `/`,
/// so browser and app updates pass) asks for step-up; IP changes are allowed, since mobile
/// devices roam between networks all day and IP checks mostly punish honest users. Missing
/// values on either side never count as a change.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRisk;

/// The `User-Agent`'s product, as [`DefaultRisk`] compares it.
fn product(ua: &str) -> String {
    ua.split('/')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl RiskPolicy for DefaultRisk {
    fn assess(&self, stored: &ClientContext, presented: &ClientContext) -> RiskDecision {
        match (&stored.user_agent, &presented.user_agent) {
            (Some(a), Some(b)) if product(a) != product(b) => RiskDecision::StepUp,
            _ => RiskDecision::Allow,
        }
    }

    /// The product, versioned; [`RiskFingerprint::ANY`] without a `User-Agent` (a missing
    /// value never counts as a change).
    fn fingerprint(&self, context: &ClientContext) -> Option<RiskFingerprint> {
        Some(match &context.user_agent {
            None => RiskFingerprint::ANY,
            Some(ua) => RiskFingerprint::of(&[b"tidepass DefaultRisk 1", product(ua).as_bytes()]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "guard")]
    #[test]
    fn failures_block_after_the_burst_and_successes_are_free() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(l.check("ip1"), Ok(()));
            assert_eq!(l.failed("ip1"), None);
        }
        let wait = l.failed("ip1").expect("fourth failure blocks");
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(l.check("ip1").is_err());
        assert_eq!(l.check("ip2"), Ok(()), "other keys are untouched");
        l.shrink();
        assert!(l.check("ip1").is_err(), "still blocked");
    }

    #[cfg(feature = "guard")]
    #[test]
    fn the_limiter_holds_at_most_max_keys() {
        let l = FailureLimiter::new(2, Duration::from_secs(60)).with_max_keys(100);
        for i in 0..10_000 {
            let _ = l.failed(&format!("10.0.{}.{}", i / 256, i % 256));
            assert!(l.keys() <= 100, "{} keys after {i}", l.keys());
        }
        // A new failing key on a full table is blocked at once; a key never seen that only
        // checks (it has not failed) is never refused.
        assert!(l.failed("192.0.2.1").is_some());
        assert!(l.check("192.0.2.1").is_err());
        assert_eq!(l.check("192.0.2.2"), Ok(()));
    }

    /// Once the table is full of recent failures, a failure costs O(1) amortized: the sweep
    /// over every key runs once per quarter table of failures, not on each (before, each
    /// failure swept all 100 keys: 1000 sweeps here).
    #[cfg(feature = "guard")]
    #[test]
    fn a_full_limiter_does_not_rescan_on_every_failure() {
        let l = FailureLimiter::new(5, Duration::from_secs(600)).with_max_keys(100);
        for i in 0..100 {
            let _ = l.failed(&format!("10.0.0.{i}"));
        }
        let before = l.sweeps();
        for i in 0..1000 {
            assert!(l.failed(&format!("10.1.{}.{}", i / 256, i % 256)).is_some());
            assert!(l.keys() <= 100);
        }
        let sweeps = l.sweeps() - before;
        assert!(sweeps <= 1000 / 25 + 1, "{sweeps} sweeps for 1000 failures");
        // Still fail-closed for new failing keys (the last one: earlier blocks may have made
        // room for later ones) and free for others.
        assert!(l.check("10.1.3.231").is_err());
        assert_eq!(l.check("192.0.2.7"), Ok(()));
    }

    /// A table filled by one burst is swept once its keys have recovered (one `per`), even
    /// if few failures follow: an honest client's first failure is then not blocked.
    #[cfg(feature = "guard")]
    #[test]
    fn a_burst_filled_table_is_swept_once_its_keys_recover() {
        let l = FailureLimiter::new(5, Duration::from_millis(20)).with_max_keys(100);
        for i in 0..100 {
            let _ = l.failed(&format!("10.0.0.{i}"));
        }
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            l.failed("192.0.2.1"),
            None,
            "a first failure after recovery is free"
        );
    }

    #[test]
    fn client_address_reads_mapped_ipv4_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        // The proxy is configured as IPv4; a dual-stack listener sees it IPv4-mapped.
        let proxies = [ip("10.0.0.1")];
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), Some("198.51.100.7"), &proxies),
            ip("198.51.100.7")
        );
        // A client reached over IPv4-mapped IPv6 counts as its IPv4 address.
        assert_eq!(
            client_address(ip("::ffff:203.0.113.9"), None, &proxies),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn client_address_trusts_only_configured_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            client_address(ip("1.1.1.1"), Some("9.9.9.9"), &proxies),
            ip("1.1.1.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), None, &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("6.6.6.6, 2.2.2.2, 10.0.0.2"), &proxies),
            ip("2.2.2.2"),
            "the nearest untrusted hop, not the client's own claim on the left"
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("junk, 10.0.0.2"), &proxies),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("::1"), &proxies),
            ip("::1")
        );
    }

    /// The fingerprint contract, over every pair of a set of contexts: admitted means allowed.
    /// (The converse need not hold; here it does, since the default policy compares nothing
    /// else.)
    #[test]
    fn default_risk_fingerprints_keep_the_contract() {
        let agents = [
            None,
            Some("App/1.0"),
            Some("app/2.0 (iPhone)"),
            Some(" App /9"),
            Some("curl/8.1"),
            Some(""),
            Some("Mozilla/5.0 (X11)"),
        ];
        let p = DefaultRisk;
        for a in agents {
            for b in agents {
                let ctx = |ua: Option<&str>| ClientContext {
                    user_agent: ua.map(str::to_owned),
                    ..Default::default()
                };
                let (sa, sb) = (ctx(a), ctx(b));
                let (fa, fb) = (
                    p.fingerprint(&sa).expect("some"),
                    p.fingerprint(&sb).expect("some"),
                );
                assert_eq!(
                    fa.admits(fb),
                    p.assess(&sa, &sb) == RiskDecision::Allow,
                    "{a:?} / {b:?}"
                );
            }
        }
        assert_eq!(
            RiskFingerprint::of(&[b"ab", b"c"]),
            RiskFingerprint::of(&[b"ab", b"c"])
        );
        assert_ne!(
            RiskFingerprint::of(&[b"ab", b"c"]),
            RiskFingerprint::of(&[b"a", b"bc"])
        );
        assert_ne!(RiskFingerprint::of(&[]), RiskFingerprint::ANY);
    }

    #[test]
    fn default_risk() {
        let ctx = |ua: Option<&str>, ip: &str| ClientContext {
            device: None,
            user_agent: ua.map(str::to_owned),
            ip: Some(ip.into()),
        };
        let p = DefaultRisk;
        assert_eq!(
            p.assess(
                &ctx(Some("App/1.0"), "1.1.1.1"),
                &ctx(Some("App/1.1"), "2.2.2.2")
            ),
            RiskDecision::Allow
        );
        assert_eq!(
            p.assess(
                &ctx(Some("App/1.0"), "1.1.1.1"),
                &ctx(Some("curl/8"), "1.1.1.1")
            ),
            RiskDecision::StepUp
        );
        assert_eq!(
            p.assess(&ctx(None, "1.1.1.1"), &ctx(Some("curl/8"), "1.1.1.1")),
            RiskDecision::Allow
        );
    }
}
