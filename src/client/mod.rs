//! Silent refresh for devices (feature `client`): a token keeper that hands out a valid access
//! token, refreshes ahead of expiry, lets concurrent callers share one refresh, retries a
//! refresh whose response was lost, and says "log in again" as a typed outcome.
//!
//! The HTTP call is the application's ([`Transport`]), so the keeper runs on any executor (it
//! only uses tokio's runtime-independent `sync` primitives).
//!
//! ```no_run
//! # use tidepass::client::{Keeper, Tokens, Transport, TransportError};
//! struct Http;
//! impl Transport for Http {
//!     async fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
//!         // POST /token grant_type=refresh_token … with your HTTP client, then map
//!         // 200 → Ok(Tokens { … }), 400 invalid_grant → Err(InvalidGrant), else Unavailable.
//! #       let _ = refresh_token;
//!         Err(TransportError::Unavailable("not wired in this example".into()))
//!     }
//! }
//! # async fn demo(first: Tokens) -> Result<(), tidepass::client::ClientError> {
//! let keeper = Keeper::new(Http, first);
//! let access = keeper.access_token().await?; // refreshed first if about to expire
//! # Ok(()) }
//! ```

pub mod dpop;

pub use dpop::DpopKey;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest `expires_in` the keeper believes (a day); larger values are clamped to it.
pub const MAX_EXPIRES_IN: u64 = 86_400;

/// What a refresh (or login) returns.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires, as the server said.
    pub expires_in: u64,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a refresh call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The server answered `invalid_grant`: the session is over.
    InvalidGrant,
    /// No usable answer (network down, timeout, 5xx, 429): the refresh may or may not have
    /// happened on the server.
    Unavailable(String),
}

/// The application's refresh call.
pub trait Transport: Send + Sync {
    /// Trade `refresh_token` for new tokens (OAuth `grant_type=refresh_token`).
    fn refresh(
        &self,
        refresh_token: &str,
    ) -> impl std::future::Future<Output = Result<Tokens, TransportError>> + Send;
}

/// What the application must do when no access token can be had.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The session ended (logged out, revoked, expired, reuse detected): show the login
    /// screen.
    LoginRequired,
    /// The server could not be reached after retries; try again later. The tokens are kept.
    Unavailable(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoginRequired => f.write_str("log in again"),
            Self::Unavailable(e) => write!(f, "token service unavailable: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

struct Held {
    tokens: Option<Tokens>,
    /// Local instant from which to refresh (expiry minus the margin).
    refresh_at: Instant,
    /// Local instant at which the access token expires.
    expires_at: Instant,
}

/// Holds a device's tokens and refreshes them silently.
pub struct Keeper<T> {
    transport: T,
    held: Mutex<Held>,
    flight: tokio::sync::Mutex<()>,
    margin: Duration,
    retries: u32,
    refreshes: AtomicU64,
}

impl<T> fmt::Debug for Keeper<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keeper")
            .field("margin", &self.margin)
            .field("refreshes", &self.refreshes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Keeper<T> {
    /// A keeper starting from a login's tokens. Refreshes 30 s (or a fifth of the lifetime,
    /// whichever is less) before expiry, measured on the local monotonic clock from when the
    /// tokens arrived, so a device clock that is off does not matter.
    pub fn new(transport: T, tokens: Tokens) -> Self {
        let keeper = Self {
            transport,
            held: Mutex::new(Held {
                tokens: None,
                refresh_at: Instant::now(),
                expires_at: Instant::now(),
            }),
            flight: tokio::sync::Mutex::new(()),
            margin: Duration::from_secs(30),
            retries: 2,
            refreshes: AtomicU64::new(0),
        };
        keeper.store(tokens);
        keeper
    }

    /// Refresh this long before expiry (capped at a fifth of each token's lifetime).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        let tokens = self
            .held
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .tokens
            .take();
        if let Some(t) = tokens {
            self.store(t);
        }
        self
    }

    /// How many times to retry a refresh whose answer was lost (default 2). The server's
    /// grace window hands the identical new tokens to a retry with the same refresh token.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Refreshes done so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    fn store(&self, tokens: Tokens) {
        // `expires_in` comes from the network: clamp it before any `Instant` arithmetic (an
        // `Instant` plus `u64::MAX` seconds panics). No verifier accepts a longer-lived token
        // by default (`verify::DEFAULT_MAX_TOKEN_LIFETIME`).
        let life = Duration::from_secs(tokens.expires_in.min(MAX_EXPIRES_IN));
        let ahead = self.margin.min(life / 5);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        held.refresh_at = now.checked_add(life.saturating_sub(ahead)).unwrap_or(now);
        held.expires_at = now.checked_add(life).unwrap_or(now);
        held.tokens = Some(tokens);
    }

    fn fresh(&self) -> Result<Option<String>, ClientError> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match &held.tokens {
            None => Err(ClientError::LoginRequired),
            Some(t) if Instant::now() < held.refresh_at => Ok(Some(t.access_token.clone())),
            Some(_) => Ok(None),
        }
    }

    /// A valid access token: the held one, or a new one after a refresh that every concurrent
    /// caller shares.
    ///
    /// # Errors
    ///
    /// [`ClientError::LoginRequired`] once the server refuses the session;
    /// [`ClientError::Unavailable`] when the server cannot be reached after the retries.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        if let Some(t) = self.fresh()? {
            return Ok(t);
        }
        let _flight = self.flight.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(t) = self.fresh()? {
            return Ok(t);
        }
        let refresh = {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.tokens
                .as_ref()
                .map(|t| t.refresh_token.clone())
                .ok_or(ClientError::LoginRequired)?
        };
        let mut last = String::new();
        for _ in 0..=self.retries {
            match self.transport.refresh(&refresh).await {
                Ok(tokens) => {
                    let access = tokens.access_token.clone();
                    self.store(tokens);
                    self.refreshes.fetch_add(1, Ordering::Relaxed);
                    return Ok(access);
                }
                Err(TransportError::InvalidGrant) => {
                    self.held.lock().unwrap_or_else(|p| p.into_inner()).tokens = None;
                    return Err(ClientError::LoginRequired);
                }
                // The answer may have been lost after the server rotated: retrying with the
                // same token inside the grace window returns the identical new pair.
                Err(TransportError::Unavailable(e)) => last = e,
            }
        }
        // Refreshing ahead of time failed; the old token may still be good for a while.
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match &held.tokens {
            Some(t) if Instant::now() < held.expires_at => Ok(t.access_token.clone()),
            _ => Err(ClientError::Unavailable(last)),
        }
    }

    /// Forget the tokens (after a logout).
    pub fn clear(&self) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).tokens = None;
    }
}
