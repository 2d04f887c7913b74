//! The issuer's side: an append-only, versioned log with expiry.

use super::{Changes, Entry};

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
