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

#[cfg(feature = "guard")]
/// Failed attempts per client key (an IP address, a device id): after `burst` failures, one
/// more is allowed per `per` interval; a blocked key is refused (429 with `Retry-After`)
/// without any work until then. Successful attempts cost nothing.
#[derive(Debug)]
pub struct FailureLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    blocked: DashMap<String, Instant>,
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
        }
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
        match self.limiter.check_key(&key.to_owned()) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.blocked.insert(key.to_owned(), Instant::now() + wait);
                Some(wait)
            }
        }
    }

    /// Drop state for keys that have fully recovered (call now and then).
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked.retain(|_, until| *until > now);
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
pub trait RiskPolicy: Send + Sync + 'static {
    /// The decision.
    fn assess(&self, stored: &ClientContext, presented: &ClientContext) -> RiskDecision;
}

/// The default policy: a different `User-Agent` *product* (the part before the first `/`,
/// so browser and app updates pass) asks for step-up; IP changes are allowed, since mobile
/// devices roam between networks all day and IP checks mostly punish honest users. Missing
/// values on either side never count as a change.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRisk;

impl RiskPolicy for DefaultRisk {
    fn assess(&self, stored: &ClientContext, presented: &ClientContext) -> RiskDecision {
        let product = |ua: &str| {
            ua.split('/')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        match (&stored.user_agent, &presented.user_agent) {
            (Some(a), Some(b)) if product(a) != product(b) => RiskDecision::StepUp,
            _ => RiskDecision::Allow,
        }
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
