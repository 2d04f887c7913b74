//! The compact revocation list every verifier holds, and its distribution.
//!
//! Access tokens are verified statelessly, so a logout reaches a microservice only through a
//! list it holds locally. Entries are keyed by 128-bit ids:
//!
//! - a token id (`jti`; UUIDs are read as their 128 bits, other strings hashed),
//! - a session id (`sid`: every access token of the session),
//! - a subject watermark (every token of `sub` issued at or before a moment).
//!
//! The three are separate id spaces: a `jti` equal to some session's id revokes one token,
//! never that session.
//!
//! Each entry expires when the last token it can match has expired, so the list's size depends
//! on the revocation rate within one access-token lifetime, not on history.
//!
//! The issuer side keeps a versioned log ([`crate::store::SessionStore`] holds it, so several
//! auth-service instances share it) and serves [`Snapshot`]s and [`Delta`]s in a compact
//! binary encoding ([`Changes::encode`]; JSON through serde for people). A verifier's
//! [`RevocationList`] applies them in any order of arrival, idempotently, and reports a gap
//! (then it needs a snapshot). A [`Syncer`] keeps a list in step by polling a fetch function
//! the application supplies.
//!
//! Lookups are lock-free: a blocked Bloom filter (one cache line per query) answers "not
//! revoked" for almost every token without touching the sorted id arrays behind it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// What an entry revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One token, by `jti`.
    Token,
    /// Every token of one session, by `sid`.
    Session,
    /// Every token of one subject issued at or before `before` (`iat <= before`).
    Subject,
}

impl Target {
    /// A stable small number for storage formats.
    pub fn code(self) -> u8 {
        match self {
            Self::Token => 0,
            Self::Session => 1,
            Self::Subject => 2,
        }
    }

    /// The inverse of [`Target::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Token),
            1 => Some(Self::Session),
            2 => Some(Self::Subject),
            _ => None,
        }
    }
}

/// One revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// What it revokes.
    pub target: Target,
    /// The 128-bit id: see [`token_id`], [`session_id`], [`subject_id`].
    #[serde(with = "hex128")]
    pub id: u128,
    /// For [`Target::Subject`]: tokens issued (`iat`) at or before this second are revoked
    /// (`iat` has one-second resolution, so the whole second counts). Zero for the other
    /// targets.
    pub before: u64,
    /// When the entry stops mattering: no token it matches is valid after this (Unix seconds).
    pub expires: u64,
}

mod hex128 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{v:032x}"))
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        if s.len() != 32 {
            return Err(serde::de::Error::custom("id must be 32 hex digits"));
        }
        u128::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
    }
}

fn hash128(domain: &[u8], value: &[u8]) -> u128 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(domain);
    ctx.update(value);
    let d = ctx.finish();
    // SHA-256 has 32 bytes: the first 16 are always there.
    u128::from_be_bytes(d.as_ref().first_chunk::<16>().copied().unwrap_or_default())
}

/// The id of a token: a UUID `jti` (any version, hyphenated or not) is its 128 bits; any other
/// string is hashed (SHA-256, domain-separated, truncated to 128 bits).
pub fn token_id(jti: &str) -> u128 {
    parse_uuid(jti).unwrap_or_else(|| hash128(b"tidepass jti\0", jti.as_bytes()))
}

/// The id of a session: a tidepass session id is its 128 bits; any other string is hashed.
pub fn session_id(sid: &str) -> u128 {
    match sid.parse::<crate::SessionId>() {
        Ok(s) => u128::from_be_bytes(*s.as_bytes()),
        Err(_) => hash128(b"tidepass sid\0", sid.as_bytes()),
    }
}

/// The id of a subject (always hashed: subjects are not random).
pub fn subject_id(sub: &str) -> u128 {
    hash128(b"tidepass sub\0", sub.as_bytes())
}

fn parse_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let mut v: u128 = 0;
    let mut digits = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'-' && b.len() == 36 && matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
        digits += 1;
    }
    (digits == 32 && (b.len() == 32 || b.len() == 36)).then_some(v)
}

/// A full copy of the live list at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The log's identity: a random number fixed when the log was created. A verifier that
    /// sees another epoch knows the log was reset (a store restarted without its data) and
    /// starts over from this snapshot, whatever its version. Zero means unknown.
    #[serde(default)]
    pub epoch: u64,
    /// The log version this snapshot is complete up to.
    pub version: u64,
    /// Every entry still live.
    pub entries: Vec<Entry>,
}

/// The entries added after `from`, up to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The log's identity (see [`Snapshot::epoch`]); a delta of another epoch is a gap.
    #[serde(default)]
    pub epoch: u64,
    /// The version the receiver must already have.
    pub from: u64,
    /// The version the receiver has after applying.
    pub to: u64,
    /// The entries with versions in `(from, to]`.
    pub entries: Vec<Entry>,
}

/// What an issuer serves: a delta when it can, a snapshot when the receiver is too far behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Changes {
    /// A full list.
    Snapshot(Snapshot),
    /// What changed since a version.
    Delta(Delta),
}

// ----- the binary encoding -----

const MAGIC: &[u8; 4] = b"TPRL";
const FORMAT: u8 = 2;
const HEADER: usize = 4 + 1 + 1 + 8 + 8 + 8 + 8 + 4 * 3;
const TRAILER: usize = 8;
/// Refuse encodings larger than this (64 M entries' worth would be far beyond any real list).
pub const MAX_ENCODED: usize = 256 << 20;

impl Changes {
    /// The version a receiver at `since` can be brought up from with a delta, for a log that
    /// still covers every version after `floor` and is at `version`; `None`: it needs a
    /// snapshot. The rule every store applies.
    pub fn delta_base(since: Option<u64>, floor: u64, version: u64) -> Option<u64> {
        since.filter(|v| *v >= floor && *v <= version)
    }

    /// A delta from `from`, or a snapshot when `from` is `None`, of log `epoch` at `version`.
    pub fn from_log(epoch: u64, from: Option<u64>, version: u64, entries: Vec<Entry>) -> Self {
        match from {
            Some(from) => Changes::Delta(Delta {
                epoch,
                from,
                to: version,
                entries,
            }),
            None => Changes::Snapshot(Snapshot {
                epoch,
                version,
                entries,
            }),
        }
    }

    /// The compact binary form: a 50-byte header, then the entries grouped by target — 20 bytes
    /// per token or session entry (16-byte id, 4-byte expiry offset), 24 per subject entry —
    /// then an 8-byte SHA-256 prefix over everything before it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when an expiry lies more than 2³² seconds after the
    /// earliest one (not a real list).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let (kind, epoch, from, to, entries) = match self {
            Changes::Snapshot(s) => (0u8, s.epoch, 0, s.version, &s.entries),
            Changes::Delta(d) => (1u8, d.epoch, d.from, d.to, &d.entries),
        };
        let base = entries
            .iter()
            .map(|e| {
                if e.target == Target::Subject {
                    e.expires.min(e.before)
                } else {
                    e.expires
                }
            })
            .min()
            .unwrap_or(0);
        let groups = [Target::Token, Target::Session, Target::Subject]
            .map(|t| entries.iter().filter(move |e| e.target == t));
        let counts = [Target::Token, Target::Session, Target::Subject]
            .map(|t| entries.iter().filter(|e| e.target == t).count());
        let mut out = Vec::with_capacity(HEADER + entries.len() * 24 + TRAILER);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.push(kind);
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&from.to_be_bytes());
        out.extend_from_slice(&to.to_be_bytes());
        out.extend_from_slice(&base.to_be_bytes());
        for c in counts {
            let c = u32::try_from(c)
                .map_err(|_| Error::with(ErrorKind::InvalidConfig, "too many entries"))?;
            out.extend_from_slice(&c.to_be_bytes());
        }
        let offset = |t: u64| {
            u32::try_from(t.saturating_sub(base))
                .map_err(|_| Error::with(ErrorKind::InvalidConfig, "entry times span over 2^32 s"))
        };
        for (i, group) in groups.into_iter().enumerate() {
            for e in group {
                out.extend_from_slice(&e.id.to_be_bytes());
                out.extend_from_slice(&offset(e.expires)?.to_be_bytes());
                if i == 2 {
                    out.extend_from_slice(&offset(e.before)?.to_be_bytes());
                }
            }
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &out);
        out.extend_from_slice(
            digest
                .as_ref()
                .first_chunk::<TRAILER>()
                .unwrap_or(&[0; TRAILER]),
        );
        Ok(out)
    }

    /// Decode the binary form. Every length is checked before use, the checksum before
    /// anything is returned; nothing is applied anywhere by decoding.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Malformed`] for a truncated, corrupt or hostile encoding;
    /// [`ErrorKind::TooLarge`] over [`MAX_ENCODED`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |d: &'static str| Error::with(ErrorKind::Malformed, d);
        if bytes.len() > MAX_ENCODED {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let (body, sum) = bytes
            .split_last_chunk::<TRAILER>()
            .filter(|(body, _)| body.len() >= HEADER)
            .ok_or_else(|| bad("revocation data truncated"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, body);
        if !digest.as_ref().starts_with(sum) {
            return Err(bad("revocation data checksum mismatch"));
        }
        let mut r = Reader(body);
        let truncated = || bad("revocation data truncated");
        if r.take::<4>().ok_or_else(truncated)? != *MAGIC || r.byte() != Some(FORMAT) {
            return Err(bad("not tidepass revocation data (or a newer format)"));
        }
        let kind = r.byte().ok_or_else(truncated)?;
        let [epoch, from, to, base] = [(); 4].map(|_| r.u64());
        let (epoch, from, to, base) = (
            epoch.ok_or_else(truncated)?,
            from.ok_or_else(truncated)?,
            to.ok_or_else(truncated)?,
            base.ok_or_else(truncated)?,
        );
        let mut counts = [0usize; 3];
        for c in &mut counts {
            *c = r.u32().ok_or_else(truncated)? as usize;
        }
        let [tokens, sessions, subjects] = counts;
        let need = tokens
            .checked_add(sessions)
            .and_then(|n| n.checked_mul(20))
            .and_then(|n| n.checked_add(subjects.checked_mul(24)?))
            .and_then(|n| n.checked_add(HEADER))
            .ok_or_else(|| bad("revocation counts overflow"))?;
        if need != body.len() {
            return Err(bad("revocation data length does not match its counts"));
        }
        let mut entries = Vec::with_capacity(tokens + sessions + subjects);
        for (count, target) in
            counts
                .into_iter()
                .zip([Target::Token, Target::Session, Target::Subject])
        {
            for _ in 0..count {
                let id = r
                    .take::<16>()
                    .map(u128::from_be_bytes)
                    .ok_or_else(truncated)?;
                let offset = |v: Option<u32>| v.map(|o| base.saturating_add(u64::from(o)));
                let expires = offset(r.u32()).ok_or_else(truncated)?;
                let before = if target == Target::Subject {
                    offset(r.u32()).ok_or_else(truncated)?
                } else {
                    0
                };
                entries.push(Entry {
                    target,
                    id,
                    before,
                    expires,
                });
            }
        }
        match kind {
            0 if from == 0 => Ok(Changes::Snapshot(Snapshot {
                epoch,
                version: to,
                entries,
            })),
            // from == to: an up-to-date receiver asked, and nothing happened since.
            1 if from <= to => Ok(Changes::Delta(Delta {
                epoch,
                from,
                to,
                entries,
            })),
            _ => Err(bad(
                "revocation data has an impossible kind or version range",
            )),
        }
    }
}

/// Reads fixed-size fields off the front of a byte string, checked: `None` past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
}

// ----- the verifier's list -----

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
pub enum Applied {
    /// The list moved to this version.
    Advanced(u64),
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
        }
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

    /// Is a token with these claims revoked at `now`? Ids come from [`token_id`],
    /// [`session_id`] and [`subject_id`]; `iat` is the token's issue time.
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
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.state.load().epoch;
        let reset = current != 0 && snapshot.epoch != 0 && snapshot.epoch != current;
        if reset {
            // The log was recreated: its versions started over. Start over with it.
            pending.clear();
        } else if snapshot.version < self.version() {
            return Applied::Unchanged;
        }
        let version = snapshot.version;
        let mut state = State::build(version, snapshot.entries, now);
        state.epoch = if snapshot.epoch != 0 {
            snapshot.epoch
        } else {
            current
        };
        self.state.store(Arc::new(state));
        pending.retain(|_, d| d.to > version);
        drop(pending);
        self.drain_pending(now);
        Applied::Advanced(self.version())
    }

    /// Apply a delta: idempotent (an old or repeated delta changes nothing), and tolerant of
    /// order (a delta that starts after the list's version waits, up to 64 of them, for the
    /// piece before it).
    pub fn apply_delta_at(&self, delta: Delta, now: u64) -> Applied {
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

    /// Merge a delta into the current state: one linear pass over each sorted id space (no
    /// sort of the whole list), expired entries dropped on the way.
    fn merge(&self, delta: Delta, now: u64) {
        let s = self.state.load();
        let add = State::build(delta.to, delta.entries, now);
        let mut subjects = s.subjects.clone();
        subjects.retain(|_, (_, exp)| *exp > now);
        for (id, (before, exp)) in add.subjects {
            let slot = subjects.entry(id).or_insert((0, 0));
            slot.0 = slot.0.max(before);
            slot.1 = slot.1.max(exp);
        }
        let epoch = if delta.epoch != 0 {
            delta.epoch
        } else {
            s.epoch
        };
        self.state.store(Arc::new(State::assemble(
            epoch,
            delta.to,
            s.tokens.merge(&add.tokens, now),
            s.sessions.merge(&add.sessions, now),
            subjects,
        )));
    }

    fn drain_pending(&self, now: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let have = self.version();
            pending.retain(|_, d| d.to > have);
            let Some((&key, _)) = pending.iter().find(|((from, _), _)| *from <= have) else {
                break;
            };
            if let Some(d) = pending.remove(&key) {
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
        self.state.store(Arc::new(next));
    }

    /// The list's live entries as a snapshot (for debugging and the JSON form).
    pub fn snapshot(&self) -> Snapshot {
        let s = self.state.load();
        Snapshot {
            epoch: s.epoch,
            version: s.version,
            entries: s.entries().collect(),
        }
    }
}

// ----- the issuer's log -----

/// An append-only, versioned log of revocations with expiry; the store-side half. Stores embed
/// one (memory) or persist the same structure (redb).
#[derive(Debug, Clone)]
pub struct Log {
    /// The log's identity (see [`Snapshot::epoch`]), random at creation.
    epoch: u64,
    /// (version, entry), versions strictly increasing.
    entries: Vec<(u64, Entry)>,
    /// Every version up to this was pruned (its entries had expired).
    floor: u64,
    next: u64,
}

/// A random non-zero epoch for a new log.
pub fn new_epoch() -> u64 {
    let mut b = [0u8; 8];
    // A failed RNG leaves a fixed epoch: resets then go unnoticed, nothing worse.
    let _ = crate::keys::crypto::fill_random(&mut b);
    u64::from_be_bytes(b).max(1) >> 1 | 1
}

impl Default for Log {
    fn default() -> Self {
        Self::new()
    }
}

impl Log {
    /// An empty log with a fresh random epoch.
    pub fn new() -> Self {
        Self {
            epoch: new_epoch(),
            entries: Vec::new(),
            floor: 0,
            next: 1,
        }
    }

    /// The log's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Append entries; returns the new version.
    pub fn append(&mut self, entries: &[Entry]) -> u64 {
        for e in entries {
            let v = self.next.max(1);
            self.entries.push((v, *e));
            self.next = v + 1;
        }
        self.version()
    }

    /// The newest version.
    pub fn version(&self) -> u64 {
        self.next.max(1) - 1
    }

    /// Drop expired entries (advancing the floor past them).
    pub fn prune(&mut self, now: u64) {
        let floor = &mut self.floor;
        self.entries.retain(|(v, e)| {
            let keep = e.expires > now;
            if !keep {
                *floor = (*floor).max(*v);
            }
            keep
        });
    }

    /// A delta from `since` when the log still covers it, otherwise a snapshot.
    pub fn changes_since(&self, since: Option<u64>, now: u64) -> Changes {
        let version = self.version();
        let from = Changes::delta_base(since, self.floor, version);
        let entries = self
            .entries
            .iter()
            .filter(|(ev, e)| *ev > from.unwrap_or(0) && e.expires > now)
            .map(|(_, e)| *e)
            .collect();
        Changes::from_log(self.epoch, from, version, entries)
    }
}

// ----- pull sync -----

/// Keeps a [`RevocationList`] in step with an issuer by polling.
///
/// The application supplies `fetch(since)`: bring the issuer's [`Changes`] since that version
/// (or a snapshot for `None`), over HTTP or anything else. No runtime is assumed: call
/// [`Syncer::sync_once`] from your own timer, or [`Syncer::run`] with a sleep function.
#[derive(Debug)]
pub struct Syncer {
    list: Arc<RevocationList>,
    last_sync: std::sync::atomic::AtomicU64,
}

impl Syncer {
    /// A syncer for `list`.
    pub fn new(list: Arc<RevocationList>) -> Self {
        Self {
            list,
            last_sync: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The list.
    pub fn list(&self) -> &Arc<RevocationList> {
        &self.list
    }

    /// Unix time of the last successful sync (0 before the first).
    pub fn last_sync(&self) -> u64 {
        self.last_sync.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One round: fetch changes since the list's version, apply them, and fetch a snapshot if
    /// a gap remains.
    ///
    /// # Errors
    ///
    /// Whatever `fetch` returns; [`ErrorKind::Malformed`] for undecodable data (the list is
    /// left as it was).
    pub async fn sync_once<F, Fut>(&self, now: u64, fetch: F) -> Result<Applied>
    where
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        let since = match self.list.version() {
            0 => None,
            v => Some(v),
        };
        let changes = Changes::decode(&fetch(since).await?)?;
        let mut applied = self.list.apply_at(changes, now);
        if let Applied::Gap { .. } = applied {
            let snapshot = Changes::decode(&fetch(None).await?)?;
            applied = self.list.apply_at(snapshot, now);
        }
        self.last_sync
            .store(now, std::sync::atomic::Ordering::Relaxed);
        Ok(applied)
    }

    /// Sync forever every `interval`, reading `now` from `clock` and waiting with `sleep`. A
    /// failed round keeps the current list (verification keeps working from it) and retries at
    /// the next tick; `on_error` hears about it.
    pub async fn run<F, Fut, S, SFut>(
        &self,
        interval: Duration,
        clock: &dyn crate::clock::Clock,
        fetch: F,
        sleep: S,
        on_error: impl Fn(&Error),
    ) where
        F: Fn(Option<u64>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
        S: Fn(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        loop {
            if let Err(e) = self.sync_once(clock.now(), &fetch).await {
                on_error(&e);
            }
            sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(target: Target, id: u128, expires: u64) -> Entry {
        Entry {
            target,
            id,
            before: 0,
            expires,
        }
    }

    #[test]
    fn uuid_ids_are_their_bits() {
        let id = token_id("01a3185c-5000-7462-8c63-e6a54a2e40a8");
        assert_eq!(id, 0x01a3185c_5000_7462_8c63_e6a54a2e40a8);
        assert_eq!(
            token_id(
                "01a3185c50007462 8c63e6a54a2e40a8"
                    .replace(' ', "")
                    .as_str()
            ),
            id
        );
        assert_ne!(token_id("not-a-uuid"), token_id("not-a-uuid2"));
        assert_ne!(subject_id("alice"), token_id("alice"));
    }

    #[test]
    fn entries_expire_at_their_exact_second() {
        let list = RevocationList::new();
        list.apply_snapshot_at(
            Snapshot {
                epoch: 0,
                version: 1,
                entries: vec![e(Target::Token, 7, 100)],
            },
            50,
        );
        assert!(list.is_revoked(7, None, 0, 0, 99));
        assert!(!list.is_revoked(7, None, 0, 0, 100));
        list.prune_at(100);
        assert!(list.is_empty(), "pruned at its expiry");
    }

    #[test]
    fn encoding_round_trips_and_refuses_corruption() {
        let c = Changes::Delta(Delta {
            epoch: 0,
            from: 3,
            to: 9,
            entries: vec![
                e(Target::Token, 1, 1000),
                e(Target::Session, u128::MAX, 1300),
                Entry {
                    target: Target::Subject,
                    id: 5,
                    before: 900,
                    expires: 1200,
                },
            ],
        });
        let bytes = c.encode().expect("encode");
        assert_eq!(bytes.len(), HEADER + 20 + 20 + 24 + TRAILER);
        assert_eq!(Changes::decode(&bytes).expect("decode"), c);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Changes::decode(&b).is_err(), "byte {i}");
            assert!(Changes::decode(&bytes[..i]).is_err(), "truncated at {i}");
        }
    }
}
