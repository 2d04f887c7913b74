//! Silent refresh for devices (feature `client`): a token keeper that hands out a valid access
//! token, refreshes ahead of expiry (with jitter), lets concurrent callers share one refresh,
//! retries a refresh whose answer was lost (with exponential backoff and jitter), saves every
//! rotated refresh token before handing out the new access token ([`Storage`]), signs DPoP
//! proofs with a key that never leaves the device ([`DpopKey`]), and says "log in again" as a
//! typed outcome.
//!
//! The OAuth exchanges are the library's: [`TokenEndpoint`] builds the requests and reads the
//! answers (RFC 6749 §5.1/§5.2, RFC 9449's `DPoP-Nonce`, the `Date` header for clock skew)
//! over an [`HttpClient`] that only moves bytes on the `http` crate's types. Feature
//! `client-http` adds a ready one, [`HyperClient`] (hyper over rustls on ring); or implement
//! [`HttpClient`] over your own stack (any executor: the keeper only uses tokio's
//! runtime-independent `sync` primitives, and the client provides `sleep`). A client that
//! speaks something other than OAuth implements [`Transport`] directly.
//!
//! ```no_run
//! # #[cfg(feature = "client-http")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tidepass::client::{Credentials, DpopKey, FileStorage, HyperClient, Keeper, TokenEndpoint};
//! use tidepass::keys::Algorithm;
//!
//! let endpoint = TokenEndpoint::new(HyperClient::new()?, "https://auth.example.com/token");
//! let storage = FileStorage::new("/var/lib/app/session.json");
//! // On start: the saved session, if there is one…
//! let keeper = match Keeper::restore(endpoint.clone(), storage.clone(), endpoint.url()).await? {
//!     Some(keeper) => keeper,
//!     // …else log in (your login screen's credentials), bound to a new DPoP key, and save.
//!     None => {
//!         let body = serde_json::json!({ "username": "alice", "password": "s3cret" });
//!         let login = Credentials::Login { url: "https://auth.example.com/login", body: &body };
//!         let key = DpopKey::generate(Algorithm::ES256)?;
//!         Keeper::log_in(endpoint, storage, login, Some(key)).await?
//!     }
//! };
//! let access = keeper.access_token().await?; // refreshed (and saved) first if about to expire
//! let (authorization, dpop) = keeper.resource_headers("GET", "https://api.example.com/me", &access, None)?;
//! # let _ = (authorization, dpop);
//! # Ok(()) }
//! ```
//!
//! A device killed at any instant of a refresh keeps its session when it restarts: before
//! sending, it presents the same token again; after the server rotated but before the answer
//! was saved, it presents the parent, which the server answers with the identical child —
//! inside the grace window for a bearer session, and at any later time for a DPoP-bound one
//! (only the key's holder can present it, and the child was never used); after saving, it
//! presents the child.
//!
//! (One file of about 650 lines of code on purpose: the keeper's state, its one lock and
//! the order it saves, refreshes and hands out tokens in are one discipline, read together;
//! the OAuth exchanges, storage and DPoP keys live in their own files.)

pub mod dpop;
pub mod http;
#[cfg(feature = "client-http")]
mod hyper;
pub mod storage;

pub use dpop::DpopKey;
pub use http::{Credentials, HttpClient, TokenEndpoint};
#[cfg(feature = "client-http")]
pub use hyper::HyperClient;
pub use storage::{FileStorage, NoStorage, Saved, Storage, StorageError};

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

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

/// One refresh request for the transport to send.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Refresh<'a> {
    /// The refresh token (`refresh_token=`).
    pub refresh_token: &'a str,
    /// The `DPoP` header's value, for a DPoP-bound session.
    pub dpop_proof: Option<&'a str>,
}

impl fmt::Debug for Refresh<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresh")
            .field("refresh_token", &"[redacted]")
            .field("dpop_proof", &self.dpop_proof.map(|_| "[redacted]"))
            .finish()
    }
}

impl<'a> Refresh<'a> {
    /// A refresh of `refresh_token`, with a DPoP proof when the session is bound (for testing
    /// a [`Transport`]; the keeper makes its own).
    pub fn new(refresh_token: &'a str, dpop_proof: Option<&'a str>) -> Self {
        Self {
            refresh_token,
            dpop_proof,
        }
    }
}

/// A successful refresh's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The new tokens.
    pub tokens: Tokens,
    /// The answer's `Date` header as Unix seconds, if it had one: the keeper measures the
    /// device clock's offset from it, for DPoP proofs' `iat` and the saved expiry.
    pub server_date: Option<u64>,
}

impl From<Tokens> for Refreshed {
    fn from(tokens: Tokens) -> Self {
        Self {
            tokens,
            server_date: None,
        }
    }
}

/// A boxed error: the cause a client error carries as its [`source`](std::error::Error::source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a refresh call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server answered `invalid_grant`: the session is over.
    #[error("the token endpoint answered invalid_grant")]
    InvalidGrant,
    /// The server answered `use_dpop_nonce` with this `DPoP-Nonce`: the keeper retries at once
    /// with it (RFC 9449 §8).
    #[error("the token endpoint demands a DPoP nonce")]
    UseDpopNonce(String),
    /// The server answered `invalid_dpop_proof`, with its `Date` (Unix seconds) if it sent one:
    /// the device's clock may be off, so the keeper corrects its offset from that `Date` and
    /// retries once at once.
    #[error("the token endpoint refused the DPoP proof")]
    InvalidDpopProof(Option<u64>),
    /// No usable answer (network down, timeout, 5xx, 429, a body that is not a token
    /// response): the refresh may or may not have happened on the server. Holds the cause.
    #[error("no usable answer from the token endpoint")]
    Unavailable(#[source] BoxError),
}

/// The application's refresh call, and how to wait between retries.
pub trait Transport: Send + Sync {
    /// Trade the refresh token for new tokens (OAuth `grant_type=refresh_token`), with the
    /// request's `DPoP` header when it has a proof.
    fn refresh(
        &self,
        request: Refresh<'_>,
    ) -> impl Future<Output = Result<Refreshed, TransportError>> + Send;

    /// Wait `duration` (`tokio::time::sleep`, or your executor's timer) between retries.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// What the application must do when no access token can be had. Each variant but
/// [`ClientError::LoginRequired`] carries its cause as its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The session ended (logged out, revoked, expired, reuse detected): show the login
    /// screen.
    #[error("log in again")]
    LoginRequired,
    /// A login was refused: wrong credentials (`401`, `invalid_credentials` or
    /// `invalid_grant`), too many tries (`429`, `slow_down`), or another OAuth error.
    #[error("the login was refused with HTTP {status} ({})", error.as_deref().unwrap_or("no error code"))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, when the answer had one.
        error: Option<String>,
    },
    /// The server could not be reached after retries; try again later. The tokens are kept.
    #[error("the token service is unavailable")]
    Unavailable(#[source] BoxError),
    /// The new tokens could not be saved. They are held in memory and the save is tried again
    /// before any access token is handed out; if the process dies first, the saved parent
    /// still recovers them (see the [module docs](self)).
    #[error("the session could not be saved")]
    Storage(#[source] StorageError),
    /// A DPoP proof could not be made (the RNG failed, no key), or the saved key could not be
    /// read.
    #[error("DPoP")]
    Dpop(#[source] crate::Error),
}

struct Held {
    tokens: Option<Tokens>,
    /// Local instant from which to refresh (expiry minus the margin and a jitter).
    refresh_at: Instant,
    /// Local instant at which the access token expires.
    expires_at: Instant,
    /// The same expiry in Unix seconds on the server's clock, for saving.
    expires_at_server: u64,
    /// Tokens held that are not saved yet: save before handing any out.
    unsaved: bool,
}

fn unix_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A uniformly random fraction in [0, 1) from the crypto backend's RNG (0 if it fails: no jitter).
fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    match crate::keys::crypto::fill_random(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / 4_294_967_296.0,
        Err(_) => 0.0,
    }
}

fn scaled(d: Duration, by: f64) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() * by)
}

/// Holds a device's tokens and refreshes them silently.
pub struct Keeper<T, S = NoStorage> {
    transport: T,
    storage: S,
    held: Mutex<Held>,
    flight: tokio::sync::Mutex<()>,
    margin: Duration,
    retries: u32,
    backoff: (Duration, Duration),
    refreshes: AtomicU64,
    dpop: Option<(DpopKey, String)>,
    nonce: Mutex<Option<String>>,
    /// Server clock minus device clock, seconds.
    offset: AtomicI64,
}

impl<T, S> fmt::Debug for Keeper<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keeper")
            .field("margin", &self.margin)
            .field("refreshes", &self.refreshes.load(Ordering::Relaxed))
            .field("dpop", &self.dpop.as_ref().map(|(k, _)| k.thumbprint()))
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Keeper<T, NoStorage> {
    /// A keeper starting from a login's tokens. Refreshes 30 s (or a fifth of the lifetime,
    /// whichever is less, minus a random part of up to half of that) before expiry, measured
    /// on the local monotonic clock from when the tokens arrived, so a device clock that is off
    /// does not matter.
    pub fn new(transport: T, tokens: Tokens) -> Self {
        let keeper = Self {
            transport,
            storage: NoStorage,
            held: Mutex::new(Held {
                tokens: None,
                refresh_at: Instant::now(),
                expires_at: Instant::now(),
                expires_at_server: 0,
                unsaved: false,
            }),
            flight: tokio::sync::Mutex::new(()),
            margin: Duration::from_secs(30),
            retries: 2,
            backoff: (Duration::from_millis(200), Duration::from_secs(5)),
            refreshes: AtomicU64::new(0),
            dpop: None,
            nonce: Mutex::new(None),
            offset: AtomicI64::new(0),
        };
        keeper.hold(tokens, false);
        keeper
    }
}

impl<T: Transport, S: Storage> Keeper<T, S> {
    /// Save through `storage` from now on: every rotated refresh token, and the DPoP key, are
    /// saved before the new access token is handed out. Call [`Keeper::saved`] next to save the
    /// login's tokens.
    pub fn with_storage<S2: Storage>(self, storage: S2) -> Keeper<T, S2> {
        let held = self.held.into_inner().unwrap_or_else(|p| p.into_inner());
        Keeper {
            transport: self.transport,
            storage,
            held: Mutex::new(Held {
                unsaved: held.tokens.is_some(),
                ..held
            }),
            flight: self.flight,
            margin: self.margin,
            retries: self.retries,
            backoff: self.backoff,
            refreshes: self.refreshes,
            dpop: self.dpop,
            nonce: self.nonce,
            offset: self.offset,
        }
    }

    /// Save the tokens held now (the login's), and return the keeper.
    ///
    /// # Errors
    ///
    /// [`ClientError::Storage`] when the storage refuses.
    pub async fn saved(self) -> Result<Self, ClientError> {
        self.save_if_needed().await?;
        Ok(self)
    }

    /// The session saved by an earlier run, or `None` when there is none (show the login
    /// screen). `token_url` is the token endpoint, for the proofs of a DPoP-bound session.
    ///
    /// # Errors
    ///
    /// [`ClientError::Storage`] when the storage cannot be read; [`ClientError::Dpop`] when its
    /// DPoP key cannot.
    pub async fn restore(
        transport: T,
        storage: S,
        token_url: &str,
    ) -> Result<Option<Self>, ClientError> {
        let Some(saved) = storage.load().await.map_err(ClientError::Storage)? else {
            return Ok(None);
        };
        let dpop = match &saved.dpop_key {
            Some(pem) => Some((
                DpopKey::from_pem(pem).map_err(ClientError::Dpop)?,
                token_url.to_owned(),
            )),
            None => None,
        };
        let now_server = unix_now().saturating_add(saved.clock_offset);
        let left = i64::try_from(saved.expires_at)
            .unwrap_or(i64::MAX)
            .saturating_sub(now_server);
        let tokens = Tokens {
            expires_in: u64::try_from(left).unwrap_or(0),
            ..saved.tokens
        };
        let keeper = Keeper::new(transport, tokens).with_storage(storage);
        keeper.offset.store(saved.clock_offset, Ordering::Relaxed);
        keeper.lock().unsaved = false;
        Ok(Some(Keeper { dpop, ..keeper }))
    }

    /// Bind to a DPoP key (RFC 9449): refreshes carry a proof by it for `token_url`, and
    /// [`Keeper::resource_headers`] make the `DPoP` scheme's headers. Use the same key's proof
    /// on the login request, so the server binds the session to it.
    pub fn with_dpop(mut self, key: DpopKey, token_url: impl Into<String>) -> Self {
        self.dpop = Some((key, token_url.into()));
        self.lock().unsaved = true;
        self
    }

    /// Refresh this long before expiry (capped at a fifth of each token's lifetime).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        let tokens = self.lock().tokens.take();
        if let Some(t) = tokens {
            let unsaved = self.lock().unsaved;
            self.hold(t, unsaved);
        }
        self
    }

    /// How many times to retry a refresh whose answer was lost (default 2). The server's
    /// grace window hands the identical new tokens to a retry with the same refresh token.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The exponential backoff between retries: `base` doubled per attempt, at most `cap`,
    /// each wait a random time between half of that and all of it (defaults 200 ms, 5 s).
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = (base, cap.max(base));
        self
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Refreshes done so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// The DPoP key's thumbprint, when bound to one.
    pub fn dpop_thumbprint(&self) -> Option<crate::keys::Thumbprint> {
        self.dpop.as_ref().map(|(k, _)| k.thumbprint())
    }

    /// The server's clock as the keeper knows it (the device's, corrected by the last `Date`).
    pub fn server_now(&self) -> u64 {
        u64::try_from(unix_now().saturating_add(self.offset.load(Ordering::Relaxed))).unwrap_or(0)
    }

    fn set_offset(&self, server_date: u64) {
        let offset = i64::try_from(server_date)
            .unwrap_or(i64::MAX)
            .saturating_sub(unix_now());
        self.offset.store(offset, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hold(&self, tokens: Tokens, unsaved: bool) {
        // `expires_in` comes from the network: clamp it before any `Instant` arithmetic (an
        // `Instant` plus `u64::MAX` seconds panics). No verifier accepts a longer-lived token
        // by default (`verify::DEFAULT_MAX_TOKEN_LIFETIME`).
        let life = Duration::from_secs(tokens.expires_in.min(MAX_EXPIRES_IN));
        let ahead = self.margin.min(life / 5);
        // Devices that logged in together should not all refresh in the same second.
        let ahead = ahead + scaled(ahead / 2, random_fraction());
        let server_now = self.server_now();
        let mut held = self.lock();
        let now = Instant::now();
        held.refresh_at = now.checked_add(life.saturating_sub(ahead)).unwrap_or(now);
        held.expires_at = now.checked_add(life).unwrap_or(now);
        held.expires_at_server = server_now.saturating_add(life.as_secs());
        held.tokens = Some(tokens);
        held.unsaved = unsaved;
    }

    fn fresh(&self) -> Result<Option<String>, ClientError> {
        let held = self.lock();
        match &held.tokens {
            None => Err(ClientError::LoginRequired),
            Some(_) if held.unsaved => Ok(None),
            Some(t) if Instant::now() < held.refresh_at => Ok(Some(t.access_token.clone())),
            Some(_) => Ok(None),
        }
    }

    /// Save the held tokens if they are not saved yet.
    async fn save_if_needed(&self) -> Result<(), ClientError> {
        let saved = {
            let held = self.lock();
            let Some(tokens) = held.tokens.clone().filter(|_| held.unsaved) else {
                return Ok(());
            };
            Saved {
                tokens,
                expires_at: held.expires_at_server,
                clock_offset: self.offset.load(Ordering::Relaxed),
                dpop_key: None,
            }
        };
        let dpop_key = match &self.dpop {
            Some((k, _)) => Some(k.export().map_err(ClientError::Dpop)?),
            None => None,
        };
        let saved = Saved { dpop_key, ..saved };
        self.storage
            .save(&saved)
            .await
            .map_err(ClientError::Storage)?;
        let mut held = self.lock();
        // Unless a newer pair arrived meanwhile.
        if held.tokens.as_ref() == Some(&saved.tokens) {
            held.unsaved = false;
        }
        Ok(())
    }

    /// A valid access token: the held one, or a new one after a refresh that every concurrent
    /// caller shares. New tokens are saved before they are handed out.
    ///
    /// # Errors
    ///
    /// [`ClientError::LoginRequired`] once the server refuses the session;
    /// [`ClientError::Unavailable`] when the server cannot be reached after the retries;
    /// [`ClientError::Storage`] when new tokens could not be saved (retried on the next call).
    pub async fn access_token(&self) -> Result<String, ClientError> {
        if let Some(t) = self.fresh()? {
            return Ok(t);
        }
        let _flight = self.flight.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(t) = self.fresh()? {
            return Ok(t);
        }
        if self.lock().unsaved {
            self.save_if_needed().await?;
            if let Some(t) = self.fresh()? {
                return Ok(t);
            }
        }
        self.refresh_locked().await
    }

    /// Refresh now, whatever the held access token's expiry (after a resource server refused
    /// it, say), and save the result.
    ///
    /// # Errors
    ///
    /// As [`Keeper::access_token`].
    pub async fn refresh_now(&self) -> Result<String, ClientError> {
        let _flight = self.flight.lock().await;
        self.save_if_needed().await?;
        self.refresh_locked().await
    }

    fn proof(
        &self,
        htm: &str,
        htu: &str,
        access: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, ClientError> {
        let Some((key, _)) = &self.dpop else {
            return Err(ClientError::Dpop(crate::Error::with(
                crate::ErrorKind::InvalidConfig,
                "the keeper has no DPoP key",
            )));
        };
        key.proof_at(htm, htu, access, nonce, self.server_now())
            .map_err(ClientError::Dpop)
    }

    /// The refresh, its retries and the save, under the flight lock.
    async fn refresh_locked(&self) -> Result<String, ClientError> {
        let refresh = self
            .lock()
            .tokens
            .as_ref()
            .map(|t| Zeroizing::new(t.refresh_token.clone()))
            .ok_or(ClientError::LoginRequired)?;
        let mut last: BoxError = "no attempt".into();
        let mut nonce_retry = true;
        let mut clock_retry = true;
        let mut attempt = 0u32;
        while attempt <= self.retries {
            let nonce = self.nonce.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let proof = match &self.dpop {
                Some((_, url)) => Some(self.proof("POST", url, None, nonce.as_deref())?),
                None => None,
            };
            let request = Refresh {
                refresh_token: &refresh,
                dpop_proof: proof.as_deref(),
            };
            match self.transport.refresh(request).await {
                Ok(answer) => {
                    if let Some(date) = answer.server_date {
                        self.set_offset(date);
                    }
                    let access = answer.tokens.access_token.clone();
                    self.hold(answer.tokens, true);
                    self.refreshes.fetch_add(1, Ordering::Relaxed);
                    // Saved before it is handed out; on failure the next call saves first.
                    self.save_if_needed().await?;
                    return Ok(access);
                }
                Err(TransportError::InvalidGrant) => {
                    self.lock().tokens = None;
                    let _ = self.storage.clear().await;
                    return Err(ClientError::LoginRequired);
                }
                // RFC 9449 §8: retry once with the server's nonce, at once.
                Err(TransportError::UseDpopNonce(n)) if nonce_retry => {
                    nonce_retry = false;
                    *self.nonce.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
                    continue;
                }
                Err(e @ TransportError::UseDpopNonce(_)) => last = e.into(),
                // A proof refused for its `iat`: take the server's time and retry once.
                Err(TransportError::InvalidDpopProof(Some(date))) if clock_retry => {
                    clock_retry = false;
                    self.set_offset(date);
                    continue;
                }
                Err(e @ TransportError::InvalidDpopProof(_)) => last = e.into(),
                // The answer may have been lost after the server rotated: retrying with the
                // same token returns the identical new pair (inside the grace window, or at
                // any time for a DPoP-bound session).
                Err(TransportError::Unavailable(e)) => last = e,
            }
            if attempt < self.retries {
                let (base, cap) = self.backoff;
                let step = base
                    .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
                    .unwrap_or(cap)
                    .min(cap);
                self.transport
                    .sleep(step / 2 + scaled(step / 2, random_fraction()))
                    .await;
            }
            attempt += 1;
        }
        // Refreshing ahead of time failed; the old token may still be good for a while.
        let held = self.lock();
        match &held.tokens {
            Some(t) if Instant::now() < held.expires_at => Ok(t.access_token.clone()),
            _ => Err(ClientError::Unavailable(last)),
        }
    }

    /// The headers of a resource request with `access` (from [`Keeper::access_token`]):
    /// `Authorization: Bearer …` for a bearer session; for a DPoP-bound one `Authorization:
    /// DPoP …` and the `DPoP` proof for `method` and `url`, with the resource server's
    /// `nonce` if it asked for one (retry once with its `DPoP-Nonce` after `use_dpop_nonce`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Dpop`] when the proof cannot be made.
    pub fn resource_headers(
        &self,
        method: &str,
        url: &str,
        access: &str,
        nonce: Option<&str>,
    ) -> Result<(String, Option<String>), ClientError> {
        match &self.dpop {
            None => Ok((format!("Bearer {access}"), None)),
            Some(_) => Ok((
                format!("DPoP {access}"),
                Some(self.proof(method, url, Some(access), nonce)?),
            )),
        }
    }

    /// Forget the tokens (after a logout), here and in the storage.
    ///
    /// # Errors
    ///
    /// [`ClientError::Storage`] when the storage cannot forget them.
    pub async fn clear(&self) -> Result<(), ClientError> {
        self.lock().tokens = None;
        self.storage.clear().await.map_err(ClientError::Storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;
    impl Transport for Never {
        async fn refresh(&self, _: Refresh<'_>) -> Result<Refreshed, TransportError> {
            Err(TransportError::Unavailable("never".into()))
        }
        async fn sleep(&self, _: Duration) {}
    }

    #[test]
    fn refresh_ahead_is_jittered_within_its_bounds() {
        let tokens = |n: u64| Tokens {
            access_token: format!("a{n}"),
            refresh_token: "r".into(),
            expires_in: 100,
        };
        let mut leads = std::collections::BTreeSet::new();
        for n in 0..64 {
            let k = Keeper::new(Never, tokens(n));
            let held = k.lock();
            // A fifth of the 100 s lifetime (20 s, under the 30 s margin), plus up to half.
            let lead = held.expires_at.duration_since(held.refresh_at);
            assert!(
                lead >= Duration::from_secs(20) && lead <= Duration::from_secs(30),
                "{lead:?}"
            );
            leads.insert(lead.as_millis());
        }
        assert!(
            leads.len() > 32,
            "devices do not all refresh at the same instant"
        );
    }
}
