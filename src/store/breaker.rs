//! A circuit breaker around any store: after repeated failures, calls fail fast for a
//! cool-down instead of piling up behind a store that is down, then one call probes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Rotation, RotationRules, SessionStore};
use crate::error::{Error, ErrorKind, Result};
use crate::issuer::events::{Event, EventSink, TracingSink};
use crate::revocation::{Changes, Entry};
use crate::session::{RevokeReason, Session, SessionId};

/// Where a [`CircuitBreaker`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls go to the store.
    Closed,
    /// Calls fail fast until the cool-down has passed.
    Open,
    /// The cool-down has passed: the next call probes the store (one at a time; the others
    /// keep failing fast until it answers).
    HalfOpen,
}

#[derive(Debug)]
struct State {
    /// Store failures in a row.
    failures: u32,
    /// Open until then; `None`: closed.
    open_until: Option<Instant>,
    /// A probe is out.
    probing: bool,
}

/// Wraps a store so that, after `threshold` store failures in a row (errors for which
/// [`Error::is_store`] is `true` and whose kind is [`ErrorKind::Store`]: the store is down or
/// slow, not a refusal), every call fails at once with [`ErrorKind::Store`] for `cool_down`.
/// Then one call probes the store: success closes the circuit, a failure opens it for another
/// cool-down. Opening and closing are events ([`Event::StoreCircuitOpened`],
/// [`Event::StoreCircuitClosed`]) and, with feature `metrics`, the gauge
/// `tidepass_store_circuit_open` and the counter `tidepass_store_fast_failures_total`.
///
/// A request therefore never waits on a store known to be down: during an outage the issuer
/// answers within microseconds, and the store sees one probe per cool-down instead of every
/// request's timeout.
///
/// ```
/// use std::time::Duration;
/// use tidepass::store::{CircuitBreaker, MemoryStore};
///
/// let store = CircuitBreaker::new(MemoryStore::new(), 5, Duration::from_secs(2));
/// // Issuer::builder(store, minter)…
/// # let _ = store;
/// ```
pub struct CircuitBreaker<S> {
    inner: S,
    threshold: u32,
    cool_down: Duration,
    state: Arc<Mutex<State>>,
    fast_failures: Arc<AtomicU64>,
    probes: Arc<AtomicU64>,
    events: Arc<dyn EventSink>,
}

impl<S> std::fmt::Debug for CircuitBreaker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("threshold", &self.threshold)
            .field("cool_down", &self.cool_down)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<S: Clone> Clone for CircuitBreaker<S> {
    /// A clone shares the circuit.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            threshold: self.threshold,
            cool_down: self.cool_down,
            state: self.state.clone(),
            fast_failures: self.fast_failures.clone(),
            probes: self.probes.clone(),
            events: self.events.clone(),
        }
    }
}

/// Clears the probe flag if the probing call is dropped before it finishes (the next call
/// then probes instead).
struct ProbeGuard<'a> {
    state: Option<&'a Mutex<State>>,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state {
            state.lock().unwrap_or_else(PoisonError::into_inner).probing = false;
        }
    }
}

impl<S> CircuitBreaker<S> {
    /// Open after `threshold` store failures in a row (at least 1), for `cool_down`.
    pub fn new(inner: S, threshold: u32, cool_down: Duration) -> Self {
        Self {
            inner,
            threshold: threshold.max(1),
            cool_down,
            state: Arc::new(Mutex::new(State {
                failures: 0,
                open_until: None,
                probing: false,
            })),
            fast_failures: Arc::default(),
            probes: Arc::default(),
            events: Arc::new(TracingSink),
        }
    }

    /// Send the opening and closing events to `sink` (by default: `tracing`).
    #[must_use]
    pub fn events(mut self, sink: impl EventSink) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// The store inside.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Where the circuit stands now.
    pub fn state(&self) -> CircuitState {
        let s = self.lock();
        match s.open_until {
            None => CircuitState::Closed,
            Some(t) if Instant::now() < t => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Calls refused without reaching the store, so far.
    pub fn fast_failures(&self) -> u64 {
        self.fast_failures.load(Ordering::Relaxed)
    }

    /// Probes sent to the store after a cool-down, so far.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// May a call go to the store? `Ok(true)`: yes, as the probe.
    fn admit(&self) -> Result<bool> {
        let mut s = self.lock();
        let Some(until) = s.open_until else {
            return Ok(false);
        };
        if Instant::now() < until || s.probing {
            drop(s);
            self.fast_failures.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            metrics::counter!("tidepass_store_fast_failures_total").increment(1);
            return Err(Error::with(
                ErrorKind::Store,
                "circuit open: the store failed repeatedly; failing fast for a cool-down",
            ));
        }
        s.probing = true;
        self.probes.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Record how a call that reached the store went.
    fn record<T>(&self, probe: bool, out: &Result<T>) {
        let failed = matches!(out, Err(e) if e.kind() == ErrorKind::Store);
        let mut s = self.lock();
        if probe {
            s.probing = false;
        }
        let event = if failed {
            s.failures = s.failures.saturating_add(1);
            let reopen = probe || (s.open_until.is_none() && s.failures >= self.threshold);
            if reopen {
                let first = s.open_until.is_none();
                s.open_until = Some(Instant::now() + self.cool_down);
                first.then_some(Event::StoreCircuitOpened {
                    failures: s.failures,
                })
            } else {
                None
            }
        } else {
            s.failures = 0;
            // Only the probe closes: a slow call admitted before the circuit opened may
            // succeed without telling anything about the store now.
            if probe && s.open_until.take().is_some() {
                Some(Event::StoreCircuitClosed)
            } else {
                None
            }
        };
        drop(s);
        if let Some(e) = event {
            #[cfg(feature = "metrics")]
            metrics::gauge!("tidepass_store_circuit_open").set(
                if matches!(e, Event::StoreCircuitOpened { .. }) {
                    1.0
                } else {
                    0.0
                },
            );
            self.events.emit(&e);
        }
    }

    async fn call<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        let probe = self.admit()?;
        let mut guard = ProbeGuard {
            state: probe.then_some(&*self.state),
        };
        let out = f.await;
        guard.state = None;
        self.record(probe, &out);
        out
    }
}

use std::future::Future;

impl<S: SessionStore> SessionStore for CircuitBreaker<S> {
    async fn create(&self, session: &Session) -> Result<()> {
        self.call(self.inner.create(session)).await
    }

    async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
        self.call(self.inner.load(sid)).await
    }

    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> Result<Option<Rotation>> {
        self.call(self.inner.rotate(sid, presented, rules)).await
    }

    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Option<Session>> {
        self.call(self.inner.revoke(sid, reason, now)).await
    }

    async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
        self.call(self.inner.list(subject, now)).await
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Vec<Session>> {
        self.call(self.inner.revoke_subject(subject, keep, reason, now))
            .await
    }

    async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
        self.call(self.inner.cleanup(now, limit)).await
    }

    async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
        self.call(self.inner.append_revocations(entries)).await
    }

    fn lists_reuse(&self) -> bool {
        self.inner.lists_reuse()
    }

    fn compares_risk(&self) -> bool {
        self.inner.compares_risk()
    }

    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
        self.call(self.inner.revocation_changes(since, now)).await
    }

    async fn reserve_status_indices(&self, count: u64) -> Result<u64> {
        self.call(self.inner.reserve_status_indices(count)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// A store that fails while `down` is set, and never answers while `hang` is.
    #[derive(Default)]
    struct Flaky {
        inner: MemoryStore,
        down: std::sync::atomic::AtomicBool,
        hang: std::sync::atomic::AtomicBool,
        calls: AtomicU64,
    }

    impl Flaky {
        async fn check(&self) -> Result<()> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.hang.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            if self.down.load(Ordering::Relaxed) {
                Err(Error::with(ErrorKind::Store, "down"))
            } else {
                Ok(())
            }
        }
    }

    impl SessionStore for Flaky {
        async fn create(&self, s: &Session) -> Result<()> {
            self.check().await?;
            self.inner.create(s).await
        }
        async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
            self.check().await?;
            self.inner.load(sid).await
        }
        async fn rotate(
            &self,
            sid: SessionId,
            presented: u64,
            rules: RotationRules,
        ) -> Result<Option<Rotation>> {
            self.check().await?;
            self.inner.rotate(sid, presented, rules).await
        }
        async fn revoke(
            &self,
            sid: SessionId,
            r: RevokeReason,
            now: u64,
        ) -> Result<Option<Session>> {
            self.check().await?;
            self.inner.revoke(sid, r, now).await
        }
        async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
            self.check().await?;
            self.inner.list(subject, now).await
        }
        async fn revoke_subject(
            &self,
            subject: &str,
            keep: Option<SessionId>,
            r: RevokeReason,
            now: u64,
        ) -> Result<Vec<Session>> {
            self.check().await?;
            self.inner.revoke_subject(subject, keep, r, now).await
        }
        async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
            self.check().await?;
            self.inner.cleanup(now, limit).await
        }
        async fn append_revocations(&self, e: &[Entry]) -> Result<u64> {
            self.check().await?;
            self.inner.append_revocations(e).await
        }
        async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
            self.check().await?;
            self.inner.revocation_changes(since, now).await
        }
    }

    fn sid() -> SessionId {
        SessionId::from_bytes([7; 16])
    }

    #[tokio::test]
    async fn opens_fails_fast_probes_and_closes() {
        let flaky = Flaky {
            down: true.into(),
            ..Flaky::default()
        };
        let sink = Arc::new(crate::issuer::events::MemorySink::default());
        let b = CircuitBreaker::new(flaky, 3, Duration::from_millis(50)).events(sink.clone());
        for _ in 0..3 {
            assert!(b.load(sid()).await.is_err());
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(sink.take(), vec![Event::StoreCircuitOpened { failures: 3 }]);
        for _ in 0..100 {
            let e = b.load(sid()).await.expect_err("fast");
            assert!(e.is_store());
        }
        assert_eq!(
            b.inner().calls.load(Ordering::Relaxed),
            3,
            "none reached the store"
        );
        assert_eq!(b.fast_failures(), 100);
        // After the cool-down, one probe; it fails: open again, no second event.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(b.load(sid()).await.is_err());
        assert_eq!((b.probes(), b.state()), (1, CircuitState::Open));
        assert!(sink.take().is_empty());
        // The store comes back: the next probe closes the circuit.
        b.inner().down.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(b.load(sid()).await.expect("probe"), None);
        assert_eq!((b.probes(), b.state()), (2, CircuitState::Closed));
        assert_eq!(sink.take(), vec![Event::StoreCircuitClosed]);
        assert_eq!(b.load(sid()).await.expect("closed: calls go through"), None);
    }

    #[tokio::test]
    async fn a_dropped_probe_does_not_jam_the_circuit() {
        let flaky = Flaky {
            down: true.into(),
            ..Flaky::default()
        };
        let b = CircuitBreaker::new(flaky, 1, Duration::from_millis(10));
        assert!(b.load(sid()).await.is_err());
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Admit the probe, let it hang in the store, then drop it (a cancelled request).
        b.inner().hang.store(true, Ordering::Relaxed);
        poll_once_and_drop(b.load(sid())).await;
        assert_eq!(b.probes(), 1);
        b.inner().hang.store(false, Ordering::Relaxed);
        b.inner().down.store(false, Ordering::Relaxed);
        assert_eq!(b.load(sid()).await.expect("the next call probes"), None);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    /// Poll a future once and drop it.
    async fn poll_once_and_drop<F: Future>(f: F) {
        let mut f = std::pin::pin!(f);
        std::future::poll_fn(|cx| {
            let _ = f.as_mut().poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
    }
}
