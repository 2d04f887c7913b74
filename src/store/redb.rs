//! The embedded, durable store (feature `redb`).

use std::path::Path;
use std::sync::Arc;

use ::redb::{
    Database, MultimapTableDefinition, ReadableMultimapTable, ReadableTable, TableDefinition,
    WriteTransaction,
};

use super::{Rotation, RotationRules, SessionStore, decide, reuse_entry, revoke_in_place};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{Changes, Entry, Target};
use crate::session::{RevokeReason, Session, SessionId};

/// sid → session (JSON).
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
/// subject → sid.
const SUBJECTS: MultimapTableDefinition<&str, &[u8]> = MultimapTableDefinition::new("subjects");
/// (ends_at, sid) → (): cleanup walks this in order and stops at `now`.
const ENDS: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("ends");
/// version → revocation entry (33 bytes: target, id, before, expires).
const REVLOG: TableDefinition<u64, &[u8]> = TableDefinition::new("revocations");
/// "floor": every version up to it was pruned.
const REVMETA: TableDefinition<&str, u64> = TableDefinition::new("revocation_meta");
/// The [`REVMETA`] key of the next status-list index to hand out.
const STATUS_NEXT: &str = "status_next";
/// The shared key ring: one row, `"ring"` → (version, document).
const KEYRING: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("key_ring");

/// A log entry and the history fingerprint at its version: 41 bytes (33 in files written
/// before fingerprints, read as fingerprint 0, unknown).
fn encode_entry(e: &Entry, head: u64) -> [u8; 41] {
    let mut b = [0u8; 41];
    b[0] = e.target.code();
    b[1..17].copy_from_slice(&e.id.to_be_bytes());
    b[17..25].copy_from_slice(&e.before.to_be_bytes());
    b[25..33].copy_from_slice(&e.expires.to_be_bytes());
    b[33..41].copy_from_slice(&head.to_be_bytes());
    b
}

fn decode_entry(b: &[u8]) -> Result<(Entry, u64)> {
    let corrupt = || Error::with(ErrorKind::StoreCorrupt, "revocation log entry");
    if b.len() != 33 && b.len() != 41 {
        return Err(corrupt());
    }
    let (&code, rest) = b.split_first().ok_or_else(corrupt)?;
    let target = Target::from_code(code).ok_or_else(corrupt)?;
    let (id, rest) = rest.split_first_chunk::<16>().ok_or_else(corrupt)?;
    let (before, rest) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let (expires, rest) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let head = rest
        .first_chunk::<8>()
        .map_or(0, |h| u64::from_be_bytes(*h));
    Ok((
        Entry {
            target,
            id: u128::from_be_bytes(*id),
            before: u64::from_be_bytes(*before),
            expires: u64::from_be_bytes(*expires),
        },
        head,
    ))
}

fn store_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::source_from(ErrorKind::Store, "redb", e)
}

fn decode(bytes: &[u8]) -> Result<Session> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::source_from(ErrorKind::StoreCorrupt, "session record", e))
}

fn encode(s: &Session) -> Result<Vec<u8>> {
    serde_json::to_vec(s).map_err(|e| Error::source_from(ErrorKind::Serialization, "session", e))
}

/// Sessions in a redb file: every acknowledged write is committed durably (fsync) before the
/// call returns, so a crash or SIGKILL loses no acknowledged login, rotation or revocation.
///
/// redb serializes write transactions, so each rotation is one atomic read-decide-write.
/// Calls run on tokio's blocking pool: use the store inside a tokio runtime.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Open (or create) the database file at `path`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the file cannot be opened or created (for example because
    /// another process holds it).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let db = Database::create(path).map_err(store_err)?;
        let txn = db.begin_write().map_err(store_err)?;
        txn.open_table(SESSIONS).map_err(store_err)?;
        txn.open_multimap_table(SUBJECTS).map_err(store_err)?;
        txn.open_table(ENDS).map_err(store_err)?;
        txn.open_table(REVLOG).map_err(store_err)?;
        {
            let mut meta = txn.open_table(REVMETA).map_err(store_err)?;
            if meta.get("epoch").map_err(store_err)?.is_none() {
                meta.insert("epoch", crate::revocation::new_epoch())
                    .map_err(store_err)?;
            }
        }
        txn.commit().map_err(store_err)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(store_err)?
    }

    /// A write transaction around `f`, committed only if `f` succeeds.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(store_err)?;
            let out = f(&txn)?;
            txn.commit().map_err(store_err)?;
            Ok(out)
        })
        .await
    }
}

fn get(txn: &WriteTransaction, sid: &SessionId) -> Result<Option<Session>> {
    let t = txn.open_table(SESSIONS).map_err(store_err)?;
    let v = t.get(&sid.as_bytes()[..]).map_err(store_err)?;
    v.map(|g| decode(g.value())).transpose()
}

/// Write `new` over `old` (or insert it), keeping the end index in step.
fn put(txn: &WriteTransaction, old: Option<&Session>, new: &Session) -> Result<()> {
    let bytes = encode(new)?;
    let key = &new.sid.as_bytes()[..];
    txn.open_table(SESSIONS)
        .map_err(store_err)?
        .insert(key, &bytes[..])
        .map_err(store_err)?;
    let mut ends = txn.open_table(ENDS).map_err(store_err)?;
    if let Some(old) = old {
        ends.remove((old.ends_at(), key)).map_err(store_err)?;
    }
    ends.insert((new.ends_at(), key), ()).map_err(store_err)?;
    Ok(())
}

/// Append to the revocation log inside `txn`; the log's new version.
fn append_in(txn: &WriteTransaction, entries: &[Entry]) -> Result<u64> {
    let mut log = txn.open_table(REVLOG).map_err(store_err)?;
    let mut meta = txn.open_table(REVMETA).map_err(store_err)?;
    let last = log.last().map_err(store_err)?.map(|(k, _)| k.value());
    let get =
        |k: &str| -> Result<u64> { Ok(meta.get(k).map_err(store_err)?.map_or(0, |v| v.value())) };
    let (floor, mut head) = (get("floor")?, get("head")?);
    let mut v = last.unwrap_or(0).max(floor);
    for e in entries {
        v = v.saturating_add(1);
        head = crate::revocation::chain(head, v, e);
        log.insert(v, &encode_entry(e, head)[..])
            .map_err(store_err)?;
    }
    meta.insert("head", head).map_err(store_err)?;
    Ok(v)
}

impl super::key_ring::KeyStore for RedbStore {
    async fn load_key_ring(&self) -> Result<Option<super::key_ring::StoredRing>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(store_err)?;
            let t = match txn.open_table(KEYRING) {
                Ok(t) => t,
                // A file from before the key ring: nothing stored yet.
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(store_err(e)),
            };
            let row = t.get("ring").map_err(store_err)?;
            Ok(row.map(|g| {
                let (version, doc) = g.value();
                super::key_ring::StoredRing {
                    version,
                    doc: doc.to_vec(),
                }
            }))
        })
        .await
    }

    async fn swap_key_ring(&self, expected: u64, doc: &[u8]) -> Result<bool> {
        let doc = doc.to_vec();
        self.write(move |txn| {
            let mut t = txn.open_table(KEYRING).map_err(store_err)?;
            let stored = t.get("ring").map_err(store_err)?.map_or(0, |g| g.value().0);
            if stored != expected {
                return Ok(false);
            }
            t.insert("ring", (expected.saturating_add(1), &doc[..]))
                .map_err(store_err)?;
            Ok(true)
        })
        .await
    }
}

impl SessionStore for RedbStore {
    async fn create(&self, session: &Session) -> Result<()> {
        let s = session.clone();
        self.write(move |txn| {
            put(txn, None, &s)?;
            txn.open_multimap_table(SUBJECTS)
                .map_err(store_err)?
                .insert(s.subject.as_str(), &s.sid.as_bytes()[..])
                .map_err(store_err)?;
            Ok(())
        })
        .await
    }

    async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(store_err)?;
            let t = txn.open_table(SESSIONS).map_err(store_err)?;
            let v = t.get(&sid.as_bytes()[..]).map_err(store_err)?;
            v.map(|g| decode(g.value())).transpose()
        })
        .await
    }

    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> Result<Option<Rotation>> {
        self.write(move |txn| {
            let Some(stored) = get(txn, &sid)? else {
                return Ok(None);
            };
            let outcome = decide(&stored, presented, &rules);
            if let Some(s) = outcome.written() {
                put(txn, Some(&stored), s)?;
            }
            if let Some(entry) = reuse_entry(&outcome, &rules) {
                append_in(txn, &[entry])?;
            }
            Ok(Some(outcome))
        })
        .await
    }

    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Option<Session>> {
        self.write(move |txn| {
            let Some(stored) = get(txn, &sid)? else {
                return Ok(None);
            };
            let mut s = stored.clone();
            if !revoke_in_place(&mut s, reason, now) {
                return Ok(None);
            }
            put(txn, Some(&stored), &s)?;
            Ok(Some(s))
        })
        .await
    }

    async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
        let subject = subject.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(store_err)?;
            let subjects = txn.open_multimap_table(SUBJECTS).map_err(store_err)?;
            let sessions = txn.open_table(SESSIONS).map_err(store_err)?;
            let mut out = Vec::new();
            for sid in subjects.get(subject.as_str()).map_err(store_err)? {
                let sid = sid.map_err(store_err)?;
                if let Some(v) = sessions.get(sid.value()).map_err(store_err)? {
                    let s = decode(v.value())?;
                    if s.is_active_at(now) {
                        out.push(s);
                    }
                }
            }
            out.sort_by_key(|s| (s.created_at, s.sid));
            Ok(out)
        })
        .await
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Vec<Session>> {
        let subject = subject.to_owned();
        self.write(move |txn| {
            let ids: Vec<Vec<u8>> = {
                let subjects = txn.open_multimap_table(SUBJECTS).map_err(store_err)?;
                let mut ids = Vec::new();
                for sid in subjects.get(subject.as_str()).map_err(store_err)? {
                    ids.push(sid.map_err(store_err)?.value().to_vec());
                }
                ids
            };
            let mut out = Vec::new();
            for id in ids {
                let Ok(bytes) = <[u8; 16]>::try_from(&id[..]) else {
                    continue;
                };
                let sid = SessionId::from_bytes(bytes);
                if Some(sid) == keep {
                    continue;
                }
                let Some(stored) = get(txn, &sid)? else {
                    continue;
                };
                let mut s = stored.clone();
                if revoke_in_place(&mut s, reason, now) {
                    put(txn, Some(&stored), &s)?;
                    out.push(s);
                }
            }
            Ok(out)
        })
        .await
    }

    /// [`decide`] compares the risk fingerprint.
    fn compares_risk(&self) -> bool {
        true
    }

    fn lists_reuse(&self) -> bool {
        true
    }

    async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
        let entries = entries.to_vec();
        self.write(move |txn| append_in(txn, &entries)).await
    }

    async fn reserve_status_indices(&self, count: u64) -> Result<u64> {
        if count == 0 {
            // A read: no write transaction (and no fsync) for a question.
            return self
                .blocking(|db| {
                    let txn = db.begin_read().map_err(store_err)?;
                    let meta = match txn.open_table(REVMETA) {
                        Ok(t) => t,
                        Err(::redb::TableError::TableDoesNotExist(_)) => return Ok(0),
                        Err(e) => return Err(store_err(e)),
                    };
                    Ok(meta
                        .get(STATUS_NEXT)
                        .map_err(store_err)?
                        .map_or(0, |v| v.value()))
                })
                .await;
        }
        self.write(move |txn| {
            let mut meta = txn.open_table(REVMETA).map_err(store_err)?;
            let first = meta
                .get(STATUS_NEXT)
                .map_err(store_err)?
                .map_or(0, |v| v.value());
            if count > 0 {
                let next = first.checked_add(count).ok_or_else(|| {
                    Error::with(ErrorKind::Store, "status-list indices exhausted")
                })?;
                meta.insert(STATUS_NEXT, next).map_err(store_err)?;
            }
            Ok(first)
        })
        .await
    }

    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(store_err)?;
            let log = txn.open_table(REVLOG).map_err(store_err)?;
            let meta = txn.open_table(REVMETA).map_err(store_err)?;
            let floor = meta
                .get("floor")
                .map_err(store_err)?
                .map_or(0, |v| v.value());
            let epoch = meta
                .get("epoch")
                .map_err(store_err)?
                .map_or(0, |v| v.value());
            let fingerprint = |k: &str| -> Result<u64> {
                Ok(meta.get(k).map_err(store_err)?.map_or(0, |v| v.value()))
            };
            let version = log
                .last()
                .map_err(store_err)?
                .map_or(floor, |(k, _)| k.value())
                .max(floor);
            let live = |from: u64| -> Result<Vec<Entry>> {
                let mut out = Vec::new();
                for item in log.range(from.saturating_add(1)..).map_err(store_err)? {
                    let (_, v) = item.map_err(store_err)?;
                    let (e, _) = decode_entry(v.value())?;
                    if e.expires > now {
                        out.push(e);
                    }
                }
                Ok(out)
            };
            let head_at = |v: u64| -> Result<u64> {
                if v == floor {
                    return fingerprint("floor_head");
                }
                match log.get(v).map_err(store_err)? {
                    Some(g) => Ok(decode_entry(g.value())?.1),
                    None => Ok(0),
                }
            };
            let from = match Changes::delta_base(since, floor, version) {
                Some(f) => Some((f, head_at(f)?)),
                None => None,
            };
            Ok(Changes::from_log(
                epoch,
                from,
                version,
                fingerprint("head")?,
                live(from.map_or(0, |(f, _)| f))?,
            ))
        })
        .await
    }

    async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
        // Revocation-log entries that expired go first, in one bounded batch.
        self.write(move |txn| {
            let mut log = txn.open_table(REVLOG).map_err(store_err)?;
            let mut dead = Vec::new();
            for item in log.iter().map_err(store_err)?.take(limit) {
                let (k, v) = item.map_err(store_err)?;
                let (e, head) = decode_entry(v.value())?;
                if e.expires <= now {
                    dead.push((k.value(), head));
                }
            }
            if let Some(&(max, max_head)) = dead.iter().max_by_key(|(v, _)| *v) {
                for (k, _) in &dead {
                    log.remove(*k).map_err(store_err)?;
                }
                let mut meta = txn.open_table(REVMETA).map_err(store_err)?;
                let floor = meta
                    .get("floor")
                    .map_err(store_err)?
                    .map_or(0, |v| v.value());
                if max > floor {
                    meta.insert("floor", max).map_err(store_err)?;
                    meta.insert("floor_head", max_head).map_err(store_err)?;
                }
            }
            Ok(())
        })
        .await?;
        self.write(move |txn| {
            let ended: Vec<(u64, Vec<u8>)> = {
                let ends = txn.open_table(ENDS).map_err(store_err)?;
                let mut v = Vec::new();
                for entry in ends
                    .range::<(u64, &[u8])>(..)
                    .map_err(store_err)?
                    .take(limit)
                {
                    let (k, _) = entry.map_err(store_err)?;
                    let (at, sid) = k.value();
                    if at > now {
                        break;
                    }
                    v.push((at, sid.to_vec()));
                }
                v
            };
            let mut sessions = txn.open_table(SESSIONS).map_err(store_err)?;
            let mut subjects = txn.open_multimap_table(SUBJECTS).map_err(store_err)?;
            let mut ends = txn.open_table(ENDS).map_err(store_err)?;
            for (at, sid) in &ended {
                ends.remove((*at, &sid[..])).map_err(store_err)?;
                let removed = sessions.remove(&sid[..]).map_err(store_err)?;
                if let Some(old) = removed {
                    let s = decode(old.value())?;
                    subjects
                        .remove(s.subject.as_str(), &sid[..])
                        .map_err(store_err)?;
                }
            }
            Ok(ended.len())
        })
        .await
    }
}
