//! The shared key ring in the store: every instance of an auth service reads the same signing
//! key and refresh-token secrets, sealed under the operator's KEK ([`crate::keys::sealed`]),
//! so a second instance, or one restarted on an empty disk, signs and refreshes exactly as
//! the first. The store keeps one document and its version; every change is a
//! compare-and-set on that version (a Lua script, a row version, a redb transaction), so
//! instances racing to create the ring make one.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> tidepass::Result<()> {
//! use tidepass::keys::{Algorithm, Kek};
//! use tidepass::store::key_ring::load_key_ring;
//! use tidepass::{Audience, Issuer, MemoryStore, Minter};
//!
//! let store = std::sync::Arc::new(MemoryStore::new());
//! // The operator's KEK, the same on every instance (here from bytes; `Kek::from_env` reads
//! // TIDEPASS_KEK).
//! let kek = Kek::from_secret(&[42u8; 32])?;
//! let ring = load_key_ring(&*store, &kek, "https://auth.example", Algorithm::EdDSA).await?;
//! let minter = Minter::with_keys(ring.keys, "https://auth.example", Audience::from("api"))?;
//! let issuer = Issuer::builder(store, minter).refresh_secrets(ring.secrets).build()?;
//! # let _ = issuer; Ok(()) }
//! ```

use std::future::Future;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::ring::{RingDoc, RingPolicy};
use crate::keys::{Algorithm, Kek, RingKeys};

/// A stored key-ring document and its version (1 for the first one written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRing {
    /// Bumped by every write.
    pub version: u64,
    /// The document (its private parts sealed).
    pub doc: Vec<u8>,
}

/// Where the key ring lives: the same store as the sessions, on every backend.
///
/// # Errors
///
/// Every method fails with an error for which [`crate::Error::is_store`] is `true` when the
/// backend fails; nothing is half-written.
pub trait KeyStore: Send + Sync + 'static {
    /// The key ring, if one was written.
    fn load_key_ring(&self) -> impl Future<Output = Result<Option<StoredRing>>> + Send;

    /// Write `doc` as version `expected + 1` if the stored version is still `expected` (0:
    /// nothing stored yet); `false`, and nothing written, otherwise.
    fn swap_key_ring(&self, expected: u64, doc: &[u8])
    -> impl Future<Output = Result<bool>> + Send;
}

impl<S: KeyStore> KeyStore for std::sync::Arc<S> {
    fn load_key_ring(&self) -> impl Future<Output = Result<Option<StoredRing>>> + Send {
        (**self).load_key_ring()
    }

    fn swap_key_ring(
        &self,
        expected: u64,
        doc: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send {
        (**self).swap_key_ring(expected, doc)
    }
}

/// Compare-and-set rounds before giving up (each lost round means another instance wrote).
const ROUNDS: usize = 8;

fn contended() -> Error {
    Error::with(
        ErrorKind::Store,
        "the key ring kept changing under this instance",
    )
}

/// The issuer's keys from the store's key ring, opened with `kek`; on a store without one, a
/// new ring (a fresh signing key of `alg` and a fresh refresh secret) is created and written
/// with a compare-and-set, so instances starting at once agree on one ring.
///
/// An instance with the wrong KEK, or a KEK of another id, never makes keys of its own: it
/// gets an error that says so.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when the ring is sealed under another KEK id (both ids are
/// named), when `kek` is the wrong key for its id, when the ring belongs to another issuer, or
/// for a symmetric `alg`; [`ErrorKind::StoreCorrupt`] for a document that is not a ring; a
/// store error.
pub async fn load_key_ring<S: KeyStore>(
    store: &S,
    kek: &Kek,
    issuer: &str,
    alg: Algorithm,
) -> Result<RingKeys> {
    load_key_ring_at(store, kek, issuer, alg, SystemClock.now()).await
}

/// [`load_key_ring`] as of `now` (a ring it creates starts its first period then).
///
/// # Errors
///
/// As [`load_key_ring`].
pub async fn load_key_ring_at<S: KeyStore>(
    store: &S,
    kek: &Kek,
    issuer: &str,
    alg: Algorithm,
    now: u64,
) -> Result<RingKeys> {
    for _ in 0..ROUNDS {
        if let Some(stored) = store.load_key_ring().await? {
            return RingDoc::from_bytes(&stored.doc, issuer)?.open(kek);
        }
        let doc = RingDoc::create(kek, issuer, alg, now)?;
        if store.swap_key_ring(0, &doc.to_bytes()?).await? {
            tracing::info!(target: "tidepass::keys", issuer, "created the shared key ring");
            return doc.open(kek);
        }
        // Another instance created it first: take theirs.
    }
    Err(contended())
}

/// Re-seal the ring under `new` (KEK rotation, no downtime): instances with `old` keep
/// working until they restart with `new`; run it once, from any instance or a tool. Done
/// again, it changes nothing.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when there is no ring, or `old` does not open it (as
/// [`load_key_ring`]); a store error.
pub async fn reseal_key_ring<S: KeyStore>(
    store: &S,
    issuer: &str,
    old: &Kek,
    new: &Kek,
) -> Result<()> {
    for _ in 0..ROUNDS {
        let Some(stored) = store.load_key_ring().await? else {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "no key ring in the store to re-seal",
            ));
        };
        let doc = RingDoc::from_bytes(&stored.doc, issuer)?;
        if doc.kek_ids() == [new.id()] {
            // Already sealed under `new`: check that it opens, and stop.
            return doc.open(new).map(|_| ());
        }
        let next = doc.reseal(old, new)?;
        if store
            .swap_key_ring(stored.version, &next.to_bytes()?)
            .await?
        {
            return Ok(());
        }
    }
    Err(contended())
}

/// Apply the ring's rules as of `now` ([`RingPolicy`]: the next key published ahead, then
/// made active, the old one retired and later dropped; refresh secrets rotated) and answer
/// the keys to use. Every instance calls it periodically (every `poll`, well under
/// `publish_ahead`); a change is one compare-and-set, so instances racing a rotation make one
/// key and all adopt it. A ring that does not exist yet is created as [`load_key_ring`] does.
///
/// What holds, with `poll` the longest time between two calls of an instance: a key is in
/// every instance's JWKS from at most `poll` after it was published, and signs from
/// `publish_ahead` after that at the earliest, so give `publish_ahead` at least the JWKS
/// `max-age` plus `poll` plus a leeway; an instance may sign with a key for up to `poll`
/// after it retired, so give `keep_retired` at least the longest token lifetime plus `poll`
/// plus a leeway.
///
/// # Errors
///
/// As [`load_key_ring`]; [`ErrorKind::InvalidConfig`] for a policy whose period is not
/// longer than its pre-publication lead.
pub async fn maintain_key_ring_at<S: KeyStore>(
    store: &S,
    kek: &Kek,
    issuer: &str,
    alg: Algorithm,
    policy: &RingPolicy,
    now: u64,
) -> Result<RingKeys> {
    let opened = maintain(store, kek, issuer, alg, policy, now, 0).await?;
    // Known version 0: whatever is stored is a change, so it is opened.
    opened.map(|(_, keys)| keys).ok_or_else(contended)
}

/// A ring document's fingerprint: the first 8 bytes of its SHA-256 (never 0). Compared
/// rather than the store's version: a store that went back (a failover, a restore) can
/// write a different document under a version an instance has already seen.
fn fingerprint(doc: &[u8]) -> u64 {
    let d = crate::backend::digest::digest(&crate::backend::digest::SHA256, doc);
    let mut b = [0u8; 8];
    b.copy_from_slice(d.as_ref().get(..8).unwrap_or(&[1; 8]));
    u64::from_be_bytes(b).max(1)
}

/// [`maintain_key_ring_at`], opening the ring (its AES-GCM seals and key parsing) only when its
/// document's fingerprint is not `known`: the fingerprint and keys then, `None` when nothing
/// changed.
async fn maintain<S: KeyStore>(
    store: &S,
    kek: &Kek,
    issuer: &str,
    alg: Algorithm,
    policy: &RingPolicy,
    now: u64,
    known: u64,
) -> Result<Option<(u64, RingKeys)>> {
    for _ in 0..ROUNDS {
        let Some(stored) = store.load_key_ring().await? else {
            load_key_ring_at(store, kek, issuer, alg, now).await?;
            continue;
        };
        let doc = RingDoc::from_bytes(&stored.doc, issuer)?;
        let Some(next) = doc.advance(kek, policy, now)? else {
            let seen = fingerprint(&stored.doc);
            if seen == known {
                return Ok(None);
            }
            return Ok(Some((seen, doc.open(kek)?)));
        };
        let bytes = next.to_bytes()?;
        if store.swap_key_ring(stored.version, &bytes).await? {
            tracing::info!(target: "tidepass::keys", issuer, "key ring advanced");
            return Ok(Some((fingerprint(&bytes), next.open(kek)?)));
        }
        // Another instance advanced it first: start over from theirs.
    }
    Err(contended())
}

/// An issuer's shared key ring, as a source its server keeps current: the store it lives in,
/// the KEK that opens it, and its rules. Give it to
/// [`AuthServerBuilder::key_ring`](crate::http::server::AuthServerBuilder::key_ring) and the
/// server applies the rules itself, with no task to spawn; or call [`KeyRing::changed_at`]
/// on your own schedule.
///
/// ```no_run
/// # async fn demo(store: tidepass::MemoryStore) -> tidepass::Result<()> {
/// use std::time::Duration;
/// use tidepass::keys::{Algorithm, Kek, RingPolicy};
/// use tidepass::store::key_ring::KeyRing;
///
/// let policy = RingPolicy::signing(
///     Duration::from_secs(86_400),      // a new signing key every day
///     Duration::from_secs(300 + 5 + 10), // published the JWKS max-age + poll + leeway ahead
///     Duration::from_secs(300 + 5 + 60), // kept the token lifetime + poll + leeway after
/// );
/// let ring = KeyRing::new(store, Kek::from_env("TIDEPASS_KEK")?, "https://auth.example", Algorithm::EdDSA, policy);
/// let keys = ring.keys().await?; // for the Minter and the Issuer's refresh secrets
/// # let _ = keys; Ok(()) }
/// ```
pub struct KeyRing<S> {
    store: S,
    kek: Kek,
    issuer: String,
    alg: Algorithm,
    policy: RingPolicy,
    poll: std::time::Duration,
}

impl<S> std::fmt::Debug for KeyRing<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kek", &self.kek)
            .field("issuer", &self.issuer)
            .field("alg", &self.alg)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl<S: KeyStore> KeyRing<S> {
    /// The ring of `issuer` in `store`, opened with `kek`, new signing keys of `alg`, rotated
    /// by `policy`; looked at every 5 seconds ([`KeyRing::poll`]).
    pub fn new(
        store: S,
        kek: Kek,
        issuer: impl Into<String>,
        alg: Algorithm,
        policy: RingPolicy,
    ) -> Self {
        Self {
            store,
            kek,
            issuer: issuer.into(),
            alg,
            policy,
            poll: std::time::Duration::from_secs(5),
        }
    }

    /// How often the ring's rules are applied (default 5 s). It bounds how late an instance
    /// publishes a new key or stops signing with a retired one: keep the policy's
    /// `publish_ahead` and `keep_retired` longer by at least this.
    #[must_use]
    pub fn poll(mut self, every: std::time::Duration) -> Self {
        self.poll = every;
        self
    }

    /// How often the ring's rules are applied.
    pub fn poll_interval(&self) -> std::time::Duration {
        self.poll
    }

    /// The keys now (the ring created if the store has none, advanced if a rotation is due).
    ///
    /// # Errors
    ///
    /// As [`maintain_key_ring_at`].
    pub async fn keys(&self) -> Result<RingKeys> {
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        maintain_key_ring_at(
            &self.store,
            &self.kek,
            &self.issuer,
            self.alg,
            &self.policy,
            now,
        )
        .await
    }

    /// Apply the rules as of `now`; the ring's fingerprint and keys when its fingerprint is
    /// not `known` any more (a rotation here or by another instance, or a store that went
    /// back), `None` when it is (nothing is opened then: one store read). The fingerprint is
    /// opaque (a digest of the stored document, never 0): pass 0 for "none seen yet".
    ///
    /// # Errors
    ///
    /// As [`maintain_key_ring_at`].
    pub async fn changed_at(&self, known: u64, now: u64) -> Result<Option<(u64, RingKeys)>> {
        maintain(
            &self.store,
            &self.kek,
            &self.issuer,
            self.alg,
            &self.policy,
            now,
            known,
        )
        .await
    }
}

/// Stop trusting signing key `kid` at once (it leaked): the active key is replaced at once
/// (by the published next key, or a new one) and dropped, not retired; a retired or next key
/// is dropped. Tokens it signed stop verifying wherever the JWKS is fetched again; instances
/// pick the change up at their next [`maintain_key_ring_at`].
///
/// # Errors
///
/// As [`reseal_key_ring`].
pub async fn retire_signing_key_at<S: KeyStore>(
    store: &S,
    kek: &Kek,
    issuer: &str,
    kid: &str,
    now: u64,
) -> Result<RingKeys> {
    for _ in 0..ROUNDS {
        let Some(stored) = store.load_key_ring().await? else {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "no key ring in the store",
            ));
        };
        let next = RingDoc::from_bytes(&stored.doc, issuer)?.retire_now(kek, kid, now)?;
        if store
            .swap_key_ring(stored.version, &next.to_bytes()?)
            .await?
        {
            return next.open(kek);
        }
    }
    Err(contended())
}

/// A rotation by hand (the operator's `tidepass keyring rotate`), in two safe steps: with no
/// next key, one is published now; once it has been published for the policy's
/// `publish_ahead` (every cached JWKS has it), the next call makes it sign. Answers the keys
/// and whether anything changed.
///
/// # Errors
///
/// As [`maintain_key_ring_at`].
pub async fn rotate_key_ring_at<S: KeyStore>(
    store: &S,
    kek: &Kek,
    issuer: &str,
    policy: &RingPolicy,
    now: u64,
) -> Result<(RingKeys, bool)> {
    for _ in 0..ROUNDS {
        let Some(stored) = store.load_key_ring().await? else {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "no key ring in the store",
            ));
        };
        let doc = RingDoc::from_bytes(&stored.doc, issuer)?;
        let Some(next) = doc.rotate_now(kek, policy, now)? else {
            return Ok((doc.open(kek)?, false));
        };
        if store
            .swap_key_ring(stored.version, &next.to_bytes()?)
            .await?
        {
            return Ok((next.open(kek)?, true));
        }
    }
    Err(contended())
}

/// What the ring holds, without opening it: the active kid, the next one (published, not
/// yet signing), the retired ones, the KEK ids its blobs are sealed under, and its version.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when there is no ring or it is another issuer's; a store
/// error.
pub async fn key_ring_status<S: KeyStore>(store: &S, issuer: &str) -> Result<RingStatus> {
    let Some(stored) = store.load_key_ring().await? else {
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            "no key ring in the store",
        ));
    };
    let doc = RingDoc::from_bytes(&stored.doc, issuer)?;
    let (active, next, retired) = doc.kids();
    Ok(RingStatus {
        version: stored.version,
        active,
        next,
        retired,
        sealed_under: doc.kek_ids().into_iter().map(str::to_owned).collect(),
    })
}

/// [`key_ring_status`]'s answer (nothing in it is secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RingStatus {
    /// The stored version.
    pub version: u64,
    /// The kid that signs.
    pub active: String,
    /// The kid published ahead, not signing yet.
    pub next: Option<String>,
    /// Kids kept verify-only.
    pub retired: Vec<String>,
    /// The ids of the KEKs its blobs are sealed under.
    pub sealed_under: Vec<String>,
}
