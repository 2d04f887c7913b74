//! The in-memory store.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use dashmap::DashMap;

use super::{Rotation, RotationRules, SessionStore, decide, reuse_entry, revoke_in_place};
use crate::error::Result;
use crate::revocation::{Changes, Entry, Log};
use crate::session::{RevokeReason, Session, SessionId};

/// Sessions in a concurrent hash map. Correct under any concurrency (a rotation holds its
/// shard's lock for the whole decision), gone when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: DashMap<SessionId, Session>,
    by_subject: DashMap<String, Vec<SessionId>>,
    /// Candidate end times, earliest first: pushed at login and at revocation (rotations only
    /// move ends later, and are re-checked lazily), so cleanup never scans live sessions.
    ends: Mutex<BinaryHeap<Reverse<(u64, SessionId)>>>,
    log: Mutex<Log>,
    /// The next status-list index to hand out.
    status_next: std::sync::atomic::AtomicU64,
    ring: Mutex<Option<super::key_ring::StoredRing>>,
}

/// Hand out `count` indices from `next` (never wrapping: past `u64::MAX` it fails).
fn reserve(next: &std::sync::atomic::AtomicU64, count: u64) -> Result<u64> {
    use std::sync::atomic::Ordering;
    next.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        n.checked_add(count)
    })
    .map_err(|_| crate::Error::with(crate::ErrorKind::Store, "status-list indices exhausted"))
}

impl super::key_ring::KeyStore for MemoryStore {
    async fn load_key_ring(&self) -> Result<Option<super::key_ring::StoredRing>> {
        Ok(self.ring.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn swap_key_ring(&self, expected: u64, doc: &[u8]) -> Result<bool> {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.as_ref().map_or(0, |r| r.version) != expected {
            return Ok(false);
        }
        *ring = Some(super::key_ring::StoredRing {
            version: expected.saturating_add(1),
            doc: doc.to_vec(),
        });
        Ok(true)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of sessions held (active and ended but not yet cleaned up).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// `true` when no session is held.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn expect_end(&self, at: u64, sid: SessionId) {
        self.ends
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Reverse((at, sid)));
    }

    fn ids_of(&self, subject: &str) -> Vec<SessionId> {
        self.by_subject
            .get(subject)
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}

impl SessionStore for MemoryStore {
    async fn create(&self, session: &Session) -> Result<()> {
        self.by_subject
            .entry(session.subject.clone())
            .or_default()
            .push(session.sid);
        self.sessions.insert(session.sid, session.clone());
        self.expect_end(session.ends_at(), session.sid);
        Ok(())
    }

    async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
        Ok(self.sessions.get(&sid).map(|s| s.clone()))
    }

    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> Result<Option<Rotation>> {
        // get_mut holds the shard's write lock: decide and write back as one step.
        let Some(mut stored) = self.sessions.get_mut(&sid) else {
            return Ok(None);
        };
        let outcome = decide(&stored, presented, &rules);
        match &outcome {
            Rotation::Reuse(s) => {
                *stored = s.clone();
                // Listed while the session is still locked: no reader sees one without the other.
                if let Some(entry) = reuse_entry(&outcome, &rules) {
                    self.log
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .append(&[entry]);
                }
                drop(stored);
                self.expect_end(s.ends_at(), sid);
            }
            other => {
                if let Some(s) = other.written() {
                    *stored = s.clone();
                }
            }
        }
        Ok(Some(outcome))
    }

    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Option<Session>> {
        let Some(mut s) = self.sessions.get_mut(&sid) else {
            return Ok(None);
        };
        if !revoke_in_place(&mut s, reason, now) {
            return Ok(None);
        }
        let out = s.clone();
        drop(s);
        self.expect_end(now, sid);
        Ok(Some(out))
    }

    async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
        let mut out: Vec<Session> = self
            .ids_of(subject)
            .into_iter()
            .filter_map(|id| self.sessions.get(&id).map(|s| s.clone()))
            .filter(|s| s.is_active_at(now))
            .collect();
        out.sort_by_key(|s| (s.created_at, s.sid));
        Ok(out)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Vec<Session>> {
        let mut out = Vec::new();
        for id in self.ids_of(subject) {
            if Some(id) == keep {
                continue;
            }
            if let Some(mut s) = self.sessions.get_mut(&id)
                && revoke_in_place(&mut s, reason, now)
            {
                out.push(s.clone());
            }
        }
        for s in &out {
            self.expect_end(now, s.sid);
        }
        Ok(out)
    }

    /// [`decide`] compares the risk fingerprint.
    fn compares_risk(&self) -> bool {
        true
    }

    fn lists_reuse(&self) -> bool {
        true
    }

    async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
        Ok(self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(entries))
    }

    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
        Ok(self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .changes_since(since, now))
    }

    async fn reserve_status_indices(&self, count: u64) -> Result<u64> {
        reserve(&self.status_next, count)
    }

    async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .prune(now);
        let mut removed = 0;
        let mut checked = 0;
        while removed < limit && checked < limit.saturating_mul(4) {
            let next = {
                let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
                match ends.peek() {
                    Some(Reverse((at, _))) if *at <= now => ends.pop().map(|Reverse(e)| e),
                    _ => None,
                }
            };
            let Some((_, sid)) = next else { break };
            checked += 1;
            match self.sessions.remove_if(&sid, |_, s| s.ends_at() <= now) {
                Some((_, s)) => {
                    removed += 1;
                    if let Some(mut ids) = self.by_subject.get_mut(&s.subject) {
                        ids.retain(|i| *i != sid);
                    }
                    self.by_subject
                        .remove_if(&s.subject, |_, ids| ids.is_empty());
                }
                None => {
                    // Still live (a rotation moved its end): expect it again at its new end.
                    if let Some(end) = self.sessions.get(&sid).map(|s| s.ends_at()) {
                        self.expect_end(end, sid);
                    }
                }
            }
        }
        Ok(removed)
    }
}
