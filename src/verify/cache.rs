//! The verified-token cache: repeat verifications of one token answered without a signature
//! check, never for a key set that has since been replaced.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use crate::revocation;
use crate::token::claims::AccessClaims;

const SHARDS: usize = 16;

/// Hashes are computed by [`cache_hash`]; the map only needs the u64 as is.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A token's revocation-list ids, computed once per verified token.
#[derive(Clone, Copy)]
pub(super) struct RevIds {
    pub(super) jti: u128,
    pub(super) sid: Option<u128>,
}

impl RevIds {
    pub(super) fn of<C>(c: &AccessClaims<C>) -> Self {
        Self {
            jti: revocation::token_id(&c.jti),
            sid: c.sid.as_deref().map(revocation::session_id),
        }
    }
}

struct Entry<C> {
    token: Box<str>,
    claims: Arc<AccessClaims<C>>,
    ids: Option<RevIds>,
    /// The verifier's key generation the token was verified under.
    generation: u64,
}

type Shard<C> = RwLock<HashMap<u64, Entry<C>, BuildHasherDefault<Identity>>>;

pub(super) struct Cache<C> {
    shards: Box<[Shard<C>]>,
    per_shard: usize,
    seed: u64,
}

impl<C> Cache<C> {
    pub(super) fn new(capacity: usize) -> Self {
        let mut seed = [0u8; 8];
        // A failed RNG only weakens the spread of keys; entries are still compared in full.
        let _ = crate::keys::crypto::fill_random(&mut seed);
        Self {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            per_shard: capacity.div_ceil(SHARDS),
            seed: u64::from_le_bytes(seed),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Only verified tokens are inserted, and their signatures are not chosen by an attacker
    /// who lacks the key, so the last bytes (signature) spread entries well; a random seed
    /// keeps the spread unpredictable. Full tokens are compared on lookup.
    #[inline]
    fn hash(&self, token: &str) -> u64 {
        let b = token.as_bytes();
        let tail = b.get(b.len().saturating_sub(16)..).unwrap_or_default();
        let mut x = [0u8; 16];
        if let Some(front) = x.get_mut(..tail.len()) {
            front.copy_from_slice(tail);
        }
        let lo = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let hi = u64::from_le_bytes([x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15]]);
        let h = (lo ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (hi ^ b.len() as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        h ^ (h >> 31)
    }

    // The index is reduced modulo SHARDS, the slice's length: always in bounds.
    #[allow(clippy::indexing_slicing)]
    #[inline]
    fn shard(&self, h: u64) -> &Shard<C> {
        &self.shards[(h as usize) % SHARDS]
    }

    /// The entry for `token`, if it was verified under key generation `generation`.
    #[inline]
    pub(super) fn get(
        &self,
        token: &str,
        generation: u64,
    ) -> Option<(Arc<AccessClaims<C>>, Option<RevIds>)> {
        let h = self.hash(token);
        let shard = self.shard(h).read().unwrap_or_else(|p| p.into_inner());
        shard
            .get(&h)
            .filter(|e| e.generation == generation && &*e.token == token)
            .map(|e| (e.claims.clone(), e.ids))
    }

    pub(super) fn insert(
        &self,
        token: &str,
        claims: Arc<AccessClaims<C>>,
        ids: Option<RevIds>,
        generation: u64,
        now: u64,
    ) {
        let h = self.hash(token);
        let mut shard = self.shard(h).write().unwrap_or_else(|p| p.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&h) {
            shard.retain(|_, e| e.claims.exp > now);
            if shard.len() >= self.per_shard {
                // Still full of live tokens: drop the one closest to expiry.
                if let Some(k) = shard
                    .iter()
                    .min_by_key(|(_, e)| e.claims.exp)
                    .map(|(k, _)| *k)
                {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            h,
            Entry {
                token: token.into(),
                claims,
                ids,
                generation,
            },
        );
    }

    pub(super) fn clear(&self) {
        for s in self.shards.iter() {
            s.write().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map(|s| s.len()).unwrap_or(0))
            .sum()
    }
}
