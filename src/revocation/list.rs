//! The verifier's list: lock-free lookups behind a blocked Bloom filter, copy-on-write updates.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::{Changes, Delta, Entry, Snapshot, Target};

/// A blocked Bloom filter: each id sets 3 bits inside one 512-bit block, so a query costs one
/// cache line. About 10 bits per entry: roughly 1 % false positives, which then pay for a
/// binary search.
#[derive(Clone, Default)]
struct Filter {
    blocks: Vec<[u64; 8]>,
}

impl Filter {
    fn new(n: usize) -> Self {
        let blocks = (n * 10).div_ceil(512).max(1).next_power_of_two();
        Self {
            blocks: vec![[0u64; 8]; blocks],
        }
    }

    fn probes(&self, id: u128) -> (usize, [u32; 3]) {
        // Ids are uniformly random (UUID v7's low 74 bits, random session ids, SHA-256): mix
        // anyway so that structured ids spread too.
        let h = (id as u64 ^ (id >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let block = (h >> 40) as usize & (self.blocks.len() - 1);
        (
            block,
            [
                (h & 511) as u32,
                ((h >> 9) & 511) as u32,
                ((h >> 18) & 511) as u32,
            ],
        )
    }

    fn insert(&mut self, id: u128) {
        let (b, bits) = self.probes(id);
        if let Some(block) = self.blocks.get_mut(b) {
            for bit in bits {
                if let Some(word) = block.get_mut((bit / 64) as usize) {
                    *word |= 1 << (bit % 64);
                }
            }
        }
    }

    fn may_contain(&self, id: u128) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        let (b, bits) = self.probes(id);
        // `probes` keeps `b` below the block count (a power of two) and every bit below 512.
        self.blocks.get(b).is_some_and(|block| {
            bits.iter().all(|&bit| {
                block
                    .get((bit / 64) as usize)
                    .is_some_and(|word| word & (1 << (bit % 64)) != 0)
            })
        })
    }
}

/// Sorted ids with their expiries (`expires[i]` belongs to `ids[i]`): one id space.
#[derive(Clone, Default)]
struct Ids {
    ids: Vec<u128>,
    expires: Vec<u64>,
}

impl Ids {
    /// From unsorted (id, expiry) pairs: sorted, one entry per id with the latest expiry.
    fn from_pairs(mut pairs: Vec<(u128, u64)>) -> Self {
        pairs.sort_unstable();
        let mut out = Self {
            ids: Vec::with_capacity(pairs.len()),
            expires: Vec::with_capacity(pairs.len()),
        };
        for (id, exp) in pairs {
            out.push_max(id, exp);
        }
        out
    }

    /// Append `id` (not below the last one), or raise the last expiry if it is the same id.
    fn push_max(&mut self, id: u128, exp: u64) {
        match (self.ids.last(), self.expires.last_mut()) {
            (Some(&last), Some(e)) if last == id => *e = (*e).max(exp),
            _ => {
                self.ids.push(id);
                self.expires.push(exp);
            }
        }
    }

    /// Both sets in one linear pass (no sort), entries expired at `now` dropped on the way.
    fn merge(&self, add: &Ids, now: u64) -> Ids {
        let n = self.ids.len() + add.ids.len();
        let mut out = Ids {
            ids: Vec::with_capacity(n),
            expires: Vec::with_capacity(n),
        };
        let mut old = self
            .ids
            .iter()
            .copied()
            .zip(self.expires.iter().copied())
            .peekable();
        let mut new = add
            .ids
            .iter()
            .copied()
            .zip(add.expires.iter().copied())
            .peekable();
        loop {
            let next = match (old.peek(), new.peek()) {
                (Some(a), Some(b)) if a.0 <= b.0 => old.next(),
                (Some(_), Some(_)) | (None, Some(_)) => new.next(),
                (Some(_), None) => old.next(),
                (None, None) => break,
            };
            if let Some((id, exp)) = next.filter(|(_, exp)| *exp > now) {
                out.push_max(id, exp);
            }
        }
        out
    }

    fn contains(&self, id: u128, now: u64) -> bool {
        match self.ids.binary_search(&id) {
            Ok(i) => self.expires.get(i).is_some_and(|&exp| now < exp),
            Err(_) => false,
        }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn entries(&self, target: Target) -> impl Iterator<Item = Entry> + '_ {
        self.ids
            .iter()
            .zip(&self.expires)
            .map(move |(&id, &expires)| Entry {
                target,
                id,
                before: 0,
                expires,
            })
    }
}

/// Session ids enter the shared Bloom filter under this mask, so that a token id equal to a
/// session id does not even share its filter bits. (Correctness does not rest on it: each space
/// has its own sorted array.)
const SESSION_FILTER_MASK: u128 = 0x5e55_1011_5e55_1011_5e55_1011_5e55_1011;

/// One immutable state of the list; replaced whole on every change.
#[derive(Clone, Default)]
struct State {
    epoch: u64,
    version: u64,
    /// The log's history fingerprint at `version` (0: unknown).
    head: u64,
    /// Revoked token ids (`jti`). A separate space from `sessions`: revoking a `jti` that
    /// happens to equal some session's id revokes that one token, never the session.
    tokens: Ids,
    /// Revoked session ids (`sid`).
    sessions: Ids,
    /// Over both spaces (session ids masked).
    filter: Filter,
    /// Subject watermarks: id → (before, expires). Rare; a plain map.
    subjects: HashMap<u128, (u64, u64)>,
}

impl State {
    fn build(version: u64, entries: impl IntoIterator<Item = Entry>, now: u64) -> Self {
        let (mut tokens, mut sessions) = (Vec::new(), Vec::new());
        let mut subjects = HashMap::new();
        for e in entries {
            if e.expires <= now {
                continue;
            }
            match e.target {
                Target::Subject => {
                    let slot = subjects.entry(e.id).or_insert((0, 0));
                    slot.0 = slot.0.max(e.before);
                    slot.1 = slot.1.max(e.expires);
                }
                Target::Token => tokens.push((e.id, e.expires)),
                Target::Session => sessions.push((e.id, e.expires)),
            }
        }
        Self::assemble(
            0,
            version,
            Ids::from_pairs(tokens),
            Ids::from_pairs(sessions),
            subjects,
        )
    }

    fn assemble(
        epoch: u64,
        version: u64,
        tokens: Ids,
        sessions: Ids,
        subjects: HashMap<u128, (u64, u64)>,
    ) -> Self {
        let mut filter = Filter::new(tokens.len() + sessions.len());
        for &id in &tokens.ids {
            filter.insert(id);
        }
        for &id in &sessions.ids {
            filter.insert(id ^ SESSION_FILTER_MASK);
        }
        Self {
            epoch,
            version,
            head: 0,
            tokens,
            sessions,
            filter,
            subjects,
        }
    }

    fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.subjects.len()
    }

    fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.tokens
            .entries(Target::Token)
            .chain(self.sessions.entries(Target::Session))
            .chain(self.subjects.iter().map(|(&id, &(before, expires))| Entry {
                target: Target::Subject,
                id,
                before,
                expires,
            }))
    }

    fn has_token(&self, jti: u128, now: u64) -> bool {
        self.filter.may_contain(jti) && self.tokens.contains(jti, now)
    }

    fn has_session(&self, sid: u128, now: u64) -> bool {
        self.filter.may_contain(sid ^ SESSION_FILTER_MASK) && self.sessions.contains(sid, now)
    }
}

/// What [`RevocationList::apply_at`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The list moved to this version.
    Advanced(u64),
    /// A snapshot of another log (a new epoch), of a log that went back (a version below the
    /// list's), or of another history at the list's version was merged in: the list now
    /// follows the log from this version, and keeps every entry it held (an entry only ever
    /// ends by expiring, so a revocation the log lost stays in force here).
    Resynced(u64),
    /// The delta starts at the list's version but from another history (its
    /// [`Delta::base`] fingerprint differs): the log went back and was appended to again.
    /// Nothing was applied; fetch a snapshot.
    Diverged {
        /// The list's version.
        have: u64,
    },
    /// Nothing new (a duplicate or an older delta).
    Unchanged,
    /// The delta starts after the list's version: kept aside until the missing piece arrives;
    /// if it never does, fetch a snapshot.
    Gap {
        /// The list's version.
        have: u64,
        /// The delta's starting version.
        needs: u64,
    },
}

/// A verifier's revocation list: lock-free lookups, copy-on-write updates.
pub struct RevocationList {
    state: ArcSwap<State>,
    pending: Mutex<BTreeMap<(u64, u64), Delta>>,
    /// Unix time of the last snapshot or delta applied without a gap (an up-to-date delta
    /// counts); 0 before the first.
    synced_at: AtomicU64,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load();
        f.debug_struct("RevocationList")
            .field("version", &s.version)
            .field("entries", &s.len())
            .finish()
    }
}

impl Default for RevocationList {
    fn default() -> Self {
        Self::new()
    }
}

/// At most this many out-of-order deltas wait for the piece before them.
const MAX_PENDING: usize = 64;

impl RevocationList {
    /// An empty list at version 0.
    pub fn new() -> Self {
        Self {
            state: ArcSwap::from_pointee(State::default()),
            pending: Mutex::new(BTreeMap::new()),
            synced_at: AtomicU64::new(0),
        }
    }

    /// Unix time the list was last brought up to date with its feed (0: never). A verifier
    /// with a `max_staleness` fails closed once this is too old.
    pub fn synced_at(&self) -> u64 {
        self.synced_at.load(Ordering::Relaxed)
    }

    /// Seconds since the last sync at `now` (`None` before the first).
    pub fn age_at(&self, now: u64) -> Option<u64> {
        match self.synced_at() {
            0 => None,
            at => Some(now.saturating_sub(at)),
        }
    }

    /// Apply `changes` at `now`, counting `synced` as the sync time (the feed's signature time
    /// for signed feeds).
    pub(super) fn apply_marked(&self, changes: Changes, now: u64, synced: u64) -> Applied {
        let applied = match changes {
            Changes::Snapshot(s) => self.snapshot_inner(s, now),
            Changes::Delta(d) => self.delta_inner(d, now),
        };
        self.mark(applied, synced)
    }

    fn mark(&self, applied: Applied, now: u64) -> Applied {
        if !matches!(applied, Applied::Gap { .. } | Applied::Diverged { .. }) {
            self.synced_at.fetch_max(now, Ordering::Relaxed);
        }
        applied
    }

    /// The version the list is complete up to.
    pub fn version(&self) -> u64 {
        self.state.load().version
    }

    /// Number of live entries held.
    pub fn len(&self) -> usize {
        self.state.load().len()
    }

    /// `true` when nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Is a token with these claims revoked at `now`? Ids come from [`token_id`](super::token_id),
    /// [`session_id`](super::session_id) and [`subject_id`](super::subject_id); `iat` is the
    /// token's issue time.
    pub fn is_revoked(&self, jti: u128, sid: Option<u128>, sub: u128, iat: u64, now: u64) -> bool {
        let s = self.state.load();
        if s.has_token(jti, now) || sid.is_some_and(|sid| s.has_session(sid, now)) {
            return true;
        }
        // "Issued at or before T": `iat` has one-second resolution, so a token minted in the
        // same second as T (a few milliseconds before the password change) is included.
        !s.subjects.is_empty()
            && s.subjects
                .get(&sub)
                .is_some_and(|&(before, exp)| now < exp && iat <= before)
    }

    /// `true` when a subject watermark exists (so callers can skip hashing `sub` otherwise).
    pub fn has_subjects(&self) -> bool {
        !self.state.load().subjects.is_empty()
    }

    /// Replace everything with a snapshot (unless it is older than what the list has).
    pub fn apply_snapshot_at(&self, snapshot: Snapshot, now: u64) -> Applied {
        let applied = self.snapshot_inner(snapshot, now);
        self.mark(applied, now)
    }

    fn snapshot_inner(&self, snapshot: Snapshot, now: u64) -> Applied {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.state.load_full();
        let known = |a: u64, b: u64| a != 0 && b != 0;
        let other_log = known(cur.epoch, snapshot.epoch) && snapshot.epoch != cur.epoch;
        // A log never goes back on its own: a lower version, or another history at the same
        // version, means it lost its newest entries (a promoted replica, a restored backup).
        let went_back = snapshot.version < cur.version
            || (snapshot.version == cur.version
                && known(cur.head, snapshot.head)
                && snapshot.head != cur.head);
        if other_log || went_back {
            pending.clear();
        }
        let version = snapshot.version;
        // Union with what the list holds: for the same history the snapshot already has every
        // live entry; for another, the entries it lacks are revocations the log lost.
        let add = State::build(version, snapshot.entries, now);
        let mut subjects = cur.subjects.clone();
        merge_subjects(&mut subjects, add.subjects, now);
        let mut state = State::assemble(
            if snapshot.epoch != 0 {
                snapshot.epoch
            } else {
                cur.epoch
            },
            version,
            cur.tokens.merge(&add.tokens, now),
            cur.sessions.merge(&add.sessions, now),
            subjects,
        );
        state.head = snapshot.head;
        self.state.store(Arc::new(state));
        pending.retain(|_, d| d.to > version);
        drop(pending);
        self.drain_pending(now);
        if other_log || went_back {
            Applied::Resynced(self.version())
        } else {
            Applied::Advanced(self.version())
        }
    }

    /// Apply a delta: idempotent (an old or repeated delta changes nothing), and tolerant of
    /// order (a delta that starts after the list's version waits, up to 64 of them, for the
    /// piece before it).
    pub fn apply_delta_at(&self, delta: Delta, now: u64) -> Applied {
        let applied = self.delta_inner(delta, now);
        self.mark(applied, now)
    }

    fn delta_inner(&self, delta: Delta, now: u64) -> Applied {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let have = self.version();
        let current = self.state.load().epoch;
        if current != 0 && delta.epoch != 0 && delta.epoch != current {
            // Another log: only a snapshot can bring this list over.
            return Applied::Gap {
                have,
                needs: delta.from,
            };
        }
        if delta.from == have && !self.same_history(delta.base) {
            return Applied::Diverged { have };
        }
        if delta.to <= have {
            return Applied::Unchanged;
        }
        if delta.from > have {
            let needs = delta.from;
            if pending.len() < MAX_PENDING {
                pending.insert((delta.from, delta.to), delta);
            }
            return Applied::Gap { have, needs };
        }
        // from <= have < to here: the delta brings something new.
        self.merge(delta, now);
        drop(pending);
        self.drain_pending(now);
        Applied::Advanced(self.version())
    }

    /// Apply whatever [`Changes`] arrived.
    pub fn apply_at(&self, changes: Changes, now: u64) -> Applied {
        match changes {
            Changes::Snapshot(s) => self.apply_snapshot_at(s, now),
            Changes::Delta(d) => self.apply_delta_at(d, now),
        }
    }

    /// `true` unless both the list's history fingerprint and `base` are known and differ.
    fn same_history(&self, base: u64) -> bool {
        let head = self.state.load().head;
        head == 0 || base == 0 || head == base
    }

    /// Merge a delta into the current state: one linear pass over each sorted id space (no
    /// sort of the whole list), expired entries dropped on the way.
    fn merge(&self, delta: Delta, now: u64) {
        let s = self.state.load();
        let add = State::build(delta.to, delta.entries, now);
        let mut subjects = s.subjects.clone();
        merge_subjects(&mut subjects, add.subjects, now);
        let epoch = if delta.epoch != 0 {
            delta.epoch
        } else {
            s.epoch
        };
        let mut next = State::assemble(
            epoch,
            delta.to,
            s.tokens.merge(&add.tokens, now),
            s.sessions.merge(&add.sessions, now),
            subjects,
        );
        next.head = delta.head;
        self.state.store(Arc::new(next));
    }

    fn drain_pending(&self, now: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let have = self.version();
            pending.retain(|_, d| d.to > have);
            let Some((&key, _)) = pending.iter().find(|((from, _), _)| *from <= have) else {
                break;
            };
            // One that starts here from another history is dropped: the next fetch finds out.
            if let Some(d) = pending.remove(&key)
                && (d.from < have || self.same_history(d.base))
            {
                self.merge(d, now);
            }
        }
    }

    /// Drop expired entries (updates do this too).
    pub fn prune_at(&self, now: u64) {
        let _pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let s = self.state.load();
        let mut next = State::build(s.version, s.entries().collect::<Vec<_>>(), now);
        next.epoch = s.epoch;
        next.head = s.head;
        self.state.store(Arc::new(next));
    }

    /// The list's live entries as a snapshot (for debugging and the JSON form).
    pub fn snapshot(&self) -> Snapshot {
        let s = self.state.load();
        Snapshot {
            epoch: s.epoch,
            version: s.version,
            head: s.head,
            entries: s.entries().collect(),
        }
    }
}

/// Subject watermarks of `add` into `into`, the later `before` and expiry winning; expired ones
/// dropped.
fn merge_subjects(into: &mut HashMap<u128, (u64, u64)>, add: HashMap<u128, (u64, u64)>, now: u64) {
    into.retain(|_, (_, exp)| *exp > now);
    for (id, (before, exp)) in add {
        let slot = into.entry(id).or_insert((0, 0));
        slot.0 = slot.0.max(before);
        slot.1 = slot.1.max(exp);
    }
}
