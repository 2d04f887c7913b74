//! The issuer's side: an append-only, versioned log with expiry.

use super::{Changes, Entry};

/// An append-only, versioned log of revocations with expiry; the store-side half. Stores embed
/// one (memory) or persist the same structure (redb).
#[derive(Debug, Clone)]
pub struct Log {
    /// The log's identity (see [`Snapshot::epoch`](super::Snapshot::epoch)), random at
    /// creation.
    epoch: u64,
    /// (version, entry, history fingerprint at that version), versions strictly increasing.
    entries: Vec<(u64, Entry, u64)>,
    /// Every version up to this was pruned (its entries had expired).
    floor: u64,
    /// The history fingerprint at `floor`.
    floor_head: u64,
    /// The history fingerprint at the newest version.
    head: u64,
    next: u64,
}

/// A random non-zero epoch for a new log.
pub fn new_epoch() -> u64 {
    let mut b = [0u8; 8];
    // A failed RNG leaves a fixed epoch: resets then go unnoticed, nothing worse.
    let _ = crate::keys::crypto::fill_random(&mut b);
    u64::from_be_bytes(b).max(1) >> 1 | 1
}

/// The history fingerprint after appending `entry` as `version` to a log whose fingerprint was
/// `prev` (0 for an empty log): the first 8 bytes of a domain-separated SHA-256 over both, so
/// it depends on every entry ever appended and on its position. Never 0 (0 means unknown).
///
/// Stores that keep their log elsewhere may chain with another hash (the Redis store chains
/// SHA-1 inside its script): a fingerprint is only ever compared with one the same log made.
pub fn chain(prev: u64, version: u64, entry: &Entry) -> u64 {
    let mut ctx = crate::backend::digest::Context::new(&crate::backend::digest::SHA256);
    ctx.update(b"tidepass log chain\0");
    ctx.update(&prev.to_be_bytes());
    ctx.update(&version.to_be_bytes());
    ctx.update(&[entry.target.code()]);
    ctx.update(&entry.id.to_be_bytes());
    ctx.update(&entry.before.to_be_bytes());
    ctx.update(&entry.expires.to_be_bytes());
    let d = ctx.finish();
    u64::from_be_bytes(d.as_ref().first_chunk::<8>().copied().unwrap_or_default()).max(1)
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
            floor_head: 0,
            head: 0,
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
            self.head = chain(self.head, v, e);
            self.entries.push((v, *e, self.head));
            self.next = v + 1;
        }
        self.version()
    }

    /// The newest version.
    pub fn version(&self) -> u64 {
        self.next.max(1) - 1
    }

    /// The history fingerprint at the newest version (0 for an empty log).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Drop expired entries (advancing the floor past them).
    pub fn prune(&mut self, now: u64) {
        let (floor, floor_head) = (&mut self.floor, &mut self.floor_head);
        self.entries.retain(|(v, e, h)| {
            let keep = e.expires > now;
            if !keep && *v > *floor {
                *floor = *v;
                *floor_head = *h;
            }
            keep
        });
    }

    /// The history fingerprint at `version`, if the log still knows it.
    fn head_at(&self, version: u64) -> u64 {
        if version == self.floor {
            return self.floor_head;
        }
        self.entries
            .binary_search_by_key(&version, |(v, _, _)| *v)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map_or(0, |(_, _, h)| *h)
    }

    /// A delta from `since` when the log still covers it, otherwise a snapshot.
    pub fn changes_since(&self, since: Option<u64>, now: u64) -> Changes {
        let version = self.version();
        let from = Changes::delta_base(since, self.floor, version);
        let entries = self
            .entries
            .iter()
            .filter(|(ev, e, _)| *ev > from.unwrap_or(0) && e.expires > now)
            .map(|(_, e, _)| *e)
            .collect();
        Changes::from_log(
            self.epoch,
            from.map(|f| (f, self.head_at(f))),
            version,
            self.head,
            entries,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::Target;

    fn entry(id: u128) -> Entry {
        Entry {
            target: Target::Token,
            id,
            before: 0,
            expires: 100,
        }
    }

    #[test]
    fn fingerprints_follow_the_history() {
        let mut a = Log::new();
        a.append(&[entry(1), entry(2)]);
        let mut b = a.clone();
        a.append(&[entry(3)]);
        b.append(&[entry(4)]);
        assert_eq!(a.version(), b.version());
        assert_ne!(a.head(), b.head(), "same version, another history");
        let Changes::Delta(d) = a.changes_since(Some(2), 0) else {
            panic!("a delta")
        };
        let Changes::Delta(e) = b.changes_since(Some(2), 0) else {
            panic!("a delta")
        };
        assert_eq!(d.base, e.base, "the shared prefix has one fingerprint");
        assert_ne!(d.base, 0);
        // Pruning keeps the fingerprint of the floor.
        a.prune(100);
        let Changes::Delta(d) = a.changes_since(Some(3), 100) else {
            panic!("a delta")
        };
        assert_eq!(d.base, a.head());
    }
}
