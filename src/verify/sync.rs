//! A verifier's key set following the issuer's JWKS.
//!
//! Periodic refresh honouring `Cache-Control: max-age`, an immediate refresh when a token
//! names an unknown kid (single-flight and rate-limited, so forged kids cannot make a verifier
//! flood the issuer), and the old set kept whenever a fetch fails or brings a bad document. The
//! fetch is the application's (any HTTP client, any runtime).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::keys::VerifyingKeys;
use crate::verify::Verifier;

/// What the application's fetch brings back.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The JWKS document.
    pub body: String,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
}

/// Keeps one verifier's keys in step with a JWKS URL.
#[derive(Debug)]
pub struct KeySync<C = crate::NoExtra> {
    verifier: Arc<Verifier<C>>,
    /// Unix time of the last fetch attempt triggered by an unknown kid.
    last_forced: AtomicU64,
    in_flight: AtomicBool,
    min_gap: u64,
    default_every: u64,
}

/// The `max-age` of a `Cache-Control` value.
pub fn max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().trim_matches('"').parse().ok())?
    })
}

/// The shortest JWKS refresh period, seconds, whatever `max-age` the issuer announces.
pub const MIN_EVERY: u64 = 5;

impl<C: DeserializeOwned + Send + Sync + 'static> KeySync<C> {
    /// Follow the JWKS for `verifier`: periodic refresh every `default_every` seconds unless
    /// the issuer's `max-age` says otherwise (clamped to [`MIN_EVERY`] .. 1 day), and at most one
    /// unknown-kid refresh per `min_gap` seconds.
    pub fn new(
        verifier: Arc<Verifier<C>>,
        default_every: std::time::Duration,
        min_gap: std::time::Duration,
    ) -> Self {
        Self {
            verifier,
            last_forced: AtomicU64::new(0),
            in_flight: AtomicBool::new(false),
            min_gap: min_gap.as_secs(),
            default_every: default_every.as_secs(),
        }
    }

    /// Fetch and install the key set; returns the seconds to wait before the next periodic
    /// refresh.
    ///
    /// # Errors
    ///
    /// Whatever `fetch` returns, or the JWKS refusal; the verifier keeps its current keys.
    pub async fn sync<F, Fut>(&self, fetch: F) -> Result<u64>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched>>,
    {
        let fetched = fetch().await?;
        let keys = VerifyingKeys::from_jwks(&fetched.body)?;
        self.verifier.set_keys(keys);
        let every = fetched
            .cache_control
            .as_deref()
            .and_then(max_age)
            .unwrap_or(self.default_every);
        // The issuer's own `max-age` is honoured down to 5 s: an issuer pre-publishes its next
        // key by the lifetime it announces, so a verifier that cached longer than that (the
        // earlier floor was 60 s) would miss the key's publication.
        Ok(every.clamp(MIN_EVERY, 86_400))
    }

    /// A token named a kid the verifier does not know: refresh now, unless another refresh is
    /// in flight or the last forced one was under `min_gap` seconds ago. Returns whether this
    /// call fetched.
    ///
    /// Cancellation-safe: dropping the future mid-fetch leaves no refresh marked in flight
    /// (the next unknown kid after `min_gap` fetches again).
    ///
    /// # Errors
    ///
    /// As [`KeySync::sync`].
    pub async fn on_unknown_kid<F, Fut>(&self, now: u64, fetch: F) -> Result<bool>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched>>,
    {
        let last = self.last_forced.load(Ordering::Acquire);
        if now < last.saturating_add(self.min_gap) && last != 0 {
            return Ok(false);
        }
        if self.in_flight.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        // Cleared on drop: a caller that drops this future mid-fetch (a client disconnected)
        // must not leave the flag set, or unknown kids would never trigger a refresh again.
        let _flight = InFlight(&self.in_flight);
        self.last_forced.store(now, Ordering::Release);
        self.sync(fetch).await.map(|_| true)
    }
}

/// Holds [`KeySync`]'s in-flight flag; clears it when dropped, completed or cancelled.
struct InFlight<'a>(&'a AtomicBool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("Max-Age = 60 ,no-transform"), Some(60));
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=x"), None);
    }

    #[tokio::test]
    async fn unknown_kids_are_rate_limited_and_failures_keep_the_old_keys() {
        let a = SigningKey::generate(Algorithm::EdDSA).expect("a");
        let b = SigningKey::generate(Algorithm::EdDSA).expect("b");
        let set = |k: &SigningKey| VerifyingKeys::from_keys([k.verifying_key()]).expect("set");
        let verifier = Arc::new(Verifier::new("i", "a", set(&a)).expect("v"));
        let sync = KeySync::new(
            verifier.clone(),
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(10),
        );
        let jwks_b = set(&b).to_jwks().to_string();
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        let fetch = || {
            fetches.fetch_add(1, Ordering::SeqCst);
            let body = jwks_b.clone();
            async move {
                Ok(Fetched {
                    body,
                    cache_control: Some("max-age=120".into()),
                })
            }
        };
        assert!(sync.on_unknown_kid(1000, fetch).await.expect("fetch"));
        assert!(
            verifier.keys().get(b.kid().as_str()).is_some(),
            "new key installed"
        );
        assert!(
            !sync.on_unknown_kid(1005, fetch).await.expect("limited"),
            "inside the gap: no fetch"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(sync.on_unknown_kid(1010, fetch).await.expect("fetch"));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A failing fetch or a bad document keeps the current set.
        let bad = || async {
            Ok(Fetched {
                body: "{".into(),
                cache_control: None,
            })
        };
        assert!(sync.sync(bad).await.is_err());
        assert!(verifier.keys().get(b.kid().as_str()).is_some());
        let down = || async { Err(crate::Error::fetch("jwks", std::io::Error::other("down"))) };
        assert!(sync.sync(down).await.is_err());
        assert_eq!(verifier.keys().len(), 1);
        assert_eq!(sync.sync(fetch).await.expect("ok"), 120, "max-age honoured");
    }

    /// Regression: a future dropped mid-fetch left the in-flight flag set for good.
    #[tokio::test]
    async fn a_dropped_unknown_kid_refresh_does_not_block_later_ones() {
        let a = SigningKey::generate(Algorithm::EdDSA).expect("a");
        let set = VerifyingKeys::from_keys([a.verifying_key()]).expect("set");
        let verifier = Arc::new(Verifier::new("i", "a", set.clone()).expect("v"));
        let sync = KeySync::new(
            verifier,
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(10),
        );
        let body = set.to_jwks().to_string();
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        {
            // A fetch that never answers, dropped after it started (a client went away).
            let stuck = sync.on_unknown_kid(1000, || {
                fetches.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<Fetched>>()
            });
            let mut stuck = std::pin::pin!(stuck);
            let polled = futures_poll_once(stuck.as_mut()).await;
            assert!(polled.is_pending(), "the fetch is in flight");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let fetched = sync
            .on_unknown_kid(1010, || {
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move {
                    Ok(Fetched {
                        body,
                        cache_control: None,
                    })
                }
            })
            .await
            .expect("fetch");
        assert!(fetched, "after the gap, an unknown kid fetches again");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> std::task::Poll<F::Output> {
        std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut f).poll(cx))).await
    }
}
