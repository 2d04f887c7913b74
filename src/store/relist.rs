//! After a restore: put back what a store lost, from a copy of the revocation feed.

use std::collections::HashMap;

use super::SessionStore;
use crate::error::Result;
use crate::revocation::{Changes, Entry, Target};
use crate::session::{RevokeReason, SessionId};

/// What [`relist`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Relisted {
    /// Live entries of the copy that the store's log lacked, appended again.
    pub appended: usize,
    /// Sessions the store held as active although the copy lists them, revoked again.
    pub sessions_revoked: usize,
    /// Subject watermarks ("every token of this subject issued before T") among the appended
    /// entries. The log holds them again, so verifiers refuse those access tokens; the
    /// subjects' sessions are known to the store only by name, so also run
    /// `Issuer::revoke_all` for each subject revoked since the backup.
    pub subjects: usize,
    /// Session entries appended without their Token Status List index: the copy was binary
    /// or signed (which leave it out) and the store no longer holds the session. The native
    /// feed refuses their tokens again; the published lists do not show them. Relist from a
    /// JSON copy (`Accept: application/json`), which keeps the index, to restore those too.
    pub unindexed: usize,
}

/// Put back into `store` what a copy of its revocation feed (`saved`: a snapshot or delta
/// captured before the store went back — a restored backup, a promoted replica that missed
/// writes) knows and the store no longer does:
///
/// - every entry still live at `now` that the store's log lacks is appended again, so
///   verifiers (which resync on their own) and new verifiers refuse those tokens;
/// - every session the copy lists (a logout, a "log out everywhere", a reuse detection) that
///   the store holds as active is revoked again ([`RevokeReason::Revoked`]), so its refresh
///   token stops working once more.
///
/// Idempotent: running it again, or with several copies, appends and revokes nothing twice.
/// Cancelling it part way leaves what was done done; run it again to finish.
///
/// # Errors
///
/// The store's errors ([`crate::Error::is_store`]); what was appended or revoked before the
/// failure stays.
pub async fn relist<S: SessionStore>(store: &S, saved: &Changes, now: u64) -> Result<Relisted> {
    let held = match store.revocation_changes(None, now).await? {
        Changes::Snapshot(s) => s.entries,
        Changes::Delta(d) => d.entries,
    };
    // What the log holds, per (target, id): the latest `before` and expiry.
    let mut have: HashMap<(Target, u128), (u64, u64)> = HashMap::with_capacity(held.len());
    for e in held {
        let slot = have.entry((e.target, e.id)).or_insert((0, 0));
        *slot = (slot.0.max(e.before), slot.1.max(e.expires));
    }
    let entries = match saved {
        Changes::Snapshot(s) => &s.entries,
        Changes::Delta(d) => &d.entries,
    };
    let live = || entries.iter().filter(|e| e.expires > now);
    let mut missing: Vec<Entry> = live()
        .filter(|e| {
            !have
                .get(&(e.target, e.id))
                .is_some_and(|&(before, expires)| before >= e.before && expires >= e.expires)
        })
        .copied()
        .collect();
    let mut unindexed = 0;
    // A session entry from a binary or signed copy has lost its Token Status List index (the
    // compact encoding leaves it out): take it from the session, so the published lists show
    // the revocation again too.
    for e in missing
        .iter_mut()
        .filter(|e| e.target == Target::Session && e.before == 0)
    {
        let sid = SessionId::from_bytes(e.id.to_be_bytes());
        match store.load(sid).await? {
            Some(s) => {
                if let Some(index) = s.status_index {
                    e.before = index.saturating_add(1);
                }
            }
            None => unindexed += 1,
        }
    }
    let mut done = Relisted {
        unindexed,
        ..Relisted::default()
    };
    for chunk in missing.chunks(512) {
        store.append_revocations(chunk).await?;
        done.appended += chunk.len();
        done.subjects += chunk.iter().filter(|e| e.target == Target::Subject).count();
    }
    for e in live().filter(|e| e.target == Target::Session) {
        let sid = SessionId::from_bytes(e.id.to_be_bytes());
        if store
            .revoke(sid, RevokeReason::Revoked, now)
            .await?
            .is_some()
        {
            done.sessions_revoked += 1;
        }
    }
    Ok(done)
}
