//! The auth service's key set: one active signing key and retired verify-only keys.

use std::sync::Arc;

use serde_json::Value;

use super::{SigningKey, VerifyingKey, VerifyingKeys};

/// The auth service's keys: one active signing key, plus retired keys kept verify-only until
/// every token they signed has expired.
///
/// Cloning shares the signing key (it is never copied).
///
/// ```
/// use tidepass::keys::{Algorithm, KeySet, SigningKey};
/// let mut keys = KeySet::new(SigningKey::generate(Algorithm::EdDSA)?);
/// let old = keys.active().kid().clone();
/// // Tokens live 15 minutes: keep the old key 15 minutes (+ leeway) after rotating.
/// keys.rotate_at(SigningKey::generate(Algorithm::EdDSA)?, 1_700_000_000, std::time::Duration::from_secs(15 * 60 + 60));
/// assert!(keys.verifying_keys().get(old.as_str()).is_some());
/// keys.prune_at(1_700_000_000 + 15 * 60 + 60);
/// assert!(keys.verifying_keys().get(old.as_str()).is_none());
/// # Ok::<(), tidepass::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySet {
    active: Arc<SigningKey>,
    retired: Vec<(VerifyingKey, u64)>,
}

impl KeySet {
    /// A key set with one active key.
    pub fn new(active: SigningKey) -> Self {
        Self {
            active: Arc::new(active),
            retired: Vec::new(),
        }
    }

    /// A key set with `active` and verify-only keys kept until their times (a key ring's).
    pub(crate) fn with_retired(active: SigningKey, retired: Vec<(VerifyingKey, u64)>) -> Self {
        Self {
            active: Arc::new(active),
            retired,
        }
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    pub(crate) fn active_shared(&self) -> &Arc<SigningKey> {
        &self.active
    }

    /// Make `next` the active key at time `now`; the previous key stays verify-only until
    /// `now + keep_for` (set `keep_for` to the longest access-token lifetime plus leeway).
    /// There is no gap: tokens signed by either key verify throughout.
    pub fn rotate_at(&mut self, next: SigningKey, now: u64, keep_for: std::time::Duration) {
        let keep_for = keep_for.as_secs();
        let old = std::mem::replace(&mut self.active, Arc::new(next));
        self.retired
            .push((old.verifying_key(), now.saturating_add(keep_for)));
    }

    /// Drop retired keys whose tokens have all expired at `now`.
    pub fn prune_at(&mut self, now: u64) {
        self.retired.retain(|(_, until)| now < *until);
    }

    /// The active key and the retired keys still kept, for a verifier.
    pub fn verifying_keys(&self) -> VerifyingKeys {
        let keys: Vec<VerifyingKey> = std::iter::once(self.active.verifying_key())
            .chain(self.retired.iter().map(|(k, _)| k.clone()))
            .collect();
        VerifyingKeys { keys: keys.into() }
    }

    /// The JWKS to publish: public halves only, never private parts, never HMAC secrets.
    pub fn jwks(&self) -> Value {
        self.verifying_keys().to_jwks()
    }
}
