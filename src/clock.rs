//! Time, injected.
//!
//! Every time rule in tidepass has an explicit `_at(now)` form that takes the current time as
//! Unix seconds; the convenience forms read a [`Clock`]. Tests use `ManualClock` (feature
//! `test-util`) and never sleep.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time in seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock set before 1970 reads as the epoch: tokens then look "issued in the future"
        // and are rejected, which is the safe direction.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The operating system's wall clock read coarsely: the kernel's `CLOCK_REALTIME_COARSE` on
/// Linux (the time of the last timer tick, a few milliseconds behind at most, read through the
/// vDSO in a few nanoseconds), [`SystemClock`] elsewhere. Verification needs seconds, not
/// nanoseconds: this is the [`Verifier`](crate::Verifier)'s default clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoarseClock;

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
            // Before 1970 reads as the epoch, as for SystemClock.
            u64::try_from(t.tv_sec).unwrap_or(0)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            SystemClock.now()
        }
    }
}

/// A clock that only moves when told to; for tests.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// A clock reading `now`.
    pub fn new(now: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(now))
    }

    /// Set the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, std::sync::atomic::Ordering::SeqCst);
    }

    /// Move the time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

#[cfg(test)]
mod coarse_tests {
    use super::*;

    #[test]
    fn the_coarse_clock_tells_the_same_second() {
        // Within one timer tick of the precise clock: the same second, or the one before it
        // right at a boundary.
        for _ in 0..1000 {
            let coarse = CoarseClock.now();
            let precise = SystemClock.now();
            assert!(
                coarse == precise || coarse + 1 == precise,
                "{coarse} vs {precise}"
            );
        }
    }
}
