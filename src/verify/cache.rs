//! The verified-token cache: repeat verifications of one token answered without a signature
//! check, never for a key set that has since been replaced.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Its cache hash (the index's key).
    hash: u64,
    /// Set by a hit, cleared by the eviction hand passing by (second chance).
    used: AtomicBool,
}

/// One shard: entries in a slab, an index from hash to slot, and a CLOCK hand. A full shard
/// evicts the first entry the hand finds expired or unused since its last pass, clearing the
/// used bits it passes: O(1) amortized per insert (each bit a hit set is cleared once), where a
/// scan of the whole shard per insert made a stream of distinct tokens pay for all of it.
struct Slots<C> {
    index: HashMap<u64, usize, BuildHasherDefault<Identity>>,
    entries: Vec<Entry<C>>,
    hand: usize,
    /// Entries the hand has looked at, for the amortized-cost test.
    #[cfg(test)]
    steps: usize,
}

impl<C> Default for Slots<C> {
    fn default() -> Self {
        Self {
            index: HashMap::default(),
            entries: Vec::new(),
            hand: 0,
            #[cfg(test)]
            steps: 0,
        }
    }
}

impl<C> Slots<C> {
    /// The slot to reuse in a full shard: the first one from the hand that is expired at `now`
    /// or was not used since the hand last passed. Two passes at most.
    fn victim(&mut self, now: u64) -> usize {
        let n = self.entries.len();
        for _ in 0..2 * n {
            let i = self.hand % n.max(1);
            self.hand = i + 1;
            #[cfg(test)]
            {
                self.steps += 1;
            }
            if let Some(e) = self.entries.get(i)
                && (e.claims.exp <= now || !e.used.swap(false, Ordering::Relaxed))
            {
                return i;
            }
        }
        // Unreachable: the first pass cleared every bit, so the second finds one.
        self.hand % n.max(1)
    }
}

type Shard<C> = RwLock<Slots<C>>;

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
            shards: (0..SHARDS).map(|_| RwLock::new(Slots::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
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
        // murmur3's finalizer: every input bit reaches the low bits (the shard, the map's
        // buckets) even for structured tails.
        let h = (h ^ (h >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^ (h >> 33)
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
        let e = shard
            .index
            .get(&h)
            .and_then(|&i| shard.entries.get(i))
            .filter(|e| e.generation == generation && &*e.token == token)?;
        // Only write when it changes: hits on a hot token then share the cache line.
        if !e.used.load(Ordering::Relaxed) {
            e.used.store(true, Ordering::Relaxed);
        }
        Some((e.claims.clone(), e.ids))
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
        let entry = Entry {
            token: token.into(),
            claims,
            ids,
            generation,
            hash: h,
            used: AtomicBool::new(false),
        };
        let mut shard = self.shard(h).write().unwrap_or_else(|p| p.into_inner());
        let slot = match shard.index.get(&h).copied() {
            // The same hash again (this token re-verified, or another one): take its place.
            Some(i) => i,
            None if shard.entries.len() < self.per_shard => {
                let i = shard.entries.len();
                shard.entries.push(entry);
                shard.index.insert(h, i);
                return;
            }
            None => {
                let i = shard.victim(now);
                if let Some(old) = shard.entries.get(i).map(|e| e.hash) {
                    shard.index.remove(&old);
                }
                shard.index.insert(h, i);
                i
            }
        };
        if let Some(e) = shard.entries.get_mut(slot) {
            *e = entry;
        }
    }

    pub(super) fn clear(&self) {
        for s in self.shards.iter() {
            let mut s = s.write().unwrap_or_else(|p| p.into_inner());
            s.index.clear();
            s.entries.clear();
            s.hand = 0;
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map(|s| s.entries.len()).unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::claims::NoExtra;

    fn claims(exp: u64) -> Arc<AccessClaims<NoExtra>> {
        let text = format!(
            r#"{{"iss":"i","sub":"s","aud":"a","exp":{exp},"iat":1,"jti":"01a3185c-5000-7462-8c63-e6a54a2e40a8"}}"#
        );
        Arc::new(serde_json::from_str(&text).expect("claims"))
    }

    /// A stream of distinct tokens into a full cache: the eviction hand looks at a bounded
    /// number of entries per insert however large the shards are (the old code scanned the
    /// whole shard twice per insert).
    #[test]
    fn a_full_cache_inserts_in_amortized_constant_time() {
        for capacity in [256, 16_384] {
            let cache = Cache::<NoExtra>::new(capacity);
            let c = claims(2_000);
            let n = 4 * capacity + 1_000;
            for i in 0..n {
                // Tokens differ in their tail, as signatures do (the hash reads the tail).
                let token = format!("header.claims.signature-{capacity}-{i:012}");
                cache.insert(&token, c.clone(), None, 0, 1_000);
                // Every third token is hit again: some used bits to clear.
                if i % 3 == 0 {
                    assert!(cache.get(&token, 0).is_some());
                }
            }
            assert_eq!(cache.len(), cache.capacity(), "full, one entry per slot");
            let steps: usize = cache
                .shards
                .iter()
                .map(|s| s.read().map(|s| s.steps).unwrap_or(0))
                .sum();
            assert!(
                steps <= 3 * n,
                "{steps} entries looked at for {n} inserts at capacity {capacity}"
            );
        }
    }

    #[test]
    fn a_hit_gives_a_second_chance_but_not_to_an_expired_token() {
        let cache = Cache::<NoExtra>::new(4 * SHARDS);
        let other = |i: usize| format!("header.claims.other-{i:016}");
        let (hot, stale) = (
            "header.claims.hot-0123456789abcdef",
            "header.claims.stale-0123456789ab",
        );
        cache.insert(hot, claims(9_000), None, 0, 2_000);
        cache.insert(stale, claims(1_500), None, 0, 1_000);
        for i in 0..100 * cache.capacity() {
            cache.insert(&other(i), claims(9_000), None, 0, 2_000);
            assert!(
                cache.get(hot, 0).is_some(),
                "a token hit between passes stays"
            );
            cache.get(stale, 0); // hits, but it expired at 1,500
        }
        assert!(
            cache.get(stale, 0).is_none(),
            "an expired token gets no second chance"
        );
        for i in 0..100 * cache.capacity() {
            cache.insert(&other(i + 1_000_000), claims(9_000), None, 0, 2_000);
        }
        assert!(cache.get(hot, 0).is_none(), "unused, it goes in time");
    }
}
