//! The PostgreSQL store (feature `postgres`).
//!
//! `ends_at` is a lower bound of a session's end: revocations write it exactly, rotations leave
//! it (so a refresh is a HOT update that touches no index), and cleanup moves stale bounds
//! forward before it deletes.
//!
//! Schema: created by [`PgStore::migrate`] from embedded, versioned migrations (run it at
//! start-up; it takes an advisory lock, so several instances may call it at once). A refresh
//! is one `UPDATE … WHERE sid = $1 AND generation = $2 … RETURNING` in the common case; the
//! rarer cases (grace replay, reuse, ended, future) lock the row and apply [`decide`].
//!
//! Rolling upgrades may deploy before they migrate: on a schema from before migration 4 (no
//! `dpop_jkt` column) every refresh takes the locked path, which reads the binding from the
//! body, and unbound logins work; a DPoP-bound login needs migration 4 (it fails with a store
//! error until then). The same holds for migration 6 (the risk fingerprint's `risk_print`
//! column): before it, every refresh takes the locked path, and a session created then keeps
//! its fingerprint in the body only, so its refreshes stay on the locked path after the
//! migration too (correct, one transaction slower). Run [`PgStore::migrate`] to get the
//! one-statement path back.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

mod connect;
mod key_ring;
mod migrations;

pub use migrations::MIGRATIONS;

use super::{Rotation, RotationRules, SessionStore, decide, reuse_entry};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{Changes, Entry, Target};
use crate::session::{Revocation, RevokeReason, Session, SessionId};

fn store_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::source_from(ErrorKind::Store, "postgres", e)
}

fn corrupt(what: &'static str) -> Error {
    Error::with(ErrorKind::StoreCorrupt, what)
}

/// A fingerprint as a `bigint` (its 64 bits, reinterpreted).
fn bits(h: u64) -> i64 {
    i64::from_ne_bytes(h.to_ne_bytes())
}

fn unbits(h: i64) -> u64 {
    u64::from_ne_bytes(h.to_ne_bytes())
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The columns a session is read from, in the order [`from_row`] takes them (a macro, so the
/// statements that use it are string literals).
macro_rules! columns {
    () => {
        "sid, generation, secret_id, rotated_at, last_used_at, grace_replays, \
         idle_expires_at, absolute_expires_at, revoked_reason, revoked_at, body"
    };
}

/// The start of a session's `INSERT`: the columns every schema has, then `dpop_jkt` and
/// `risk_print` when the statement names them (a macro, so each form is a string literal).
macro_rules! insert_session {
    ($columns:literal, $values:literal) => {
        concat!(
            "INSERT INTO tidepass_sessions (sid, subject, created_at, generation, secret_id,
                 rotated_at, last_used_at, grace_replays, idle_expires_at, absolute_expires_at,
                 revoked_reason, revoked_at, ends_at, body",
            $columns,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, $12",
            $values,
            ")"
        )
    };
}

/// A row (in `columns!()` order) back into a session: the body as created, the mutable
/// columns over it.
fn from_row(row: &Row) -> Result<Session> {
    let Json(mut s) = row
        .try_get::<_, Json<Session>>(10)
        .map_err(|e| Error::source_from(ErrorKind::StoreCorrupt, "session body", e))?;
    let n = |k: usize| -> Result<u64> { row.try_get::<_, i64>(k).map(u).map_err(store_err) };
    s.generation = n(1)?;
    s.secret_id = u8::try_from(row.try_get::<_, i16>(2).map_err(store_err)?)
        .map_err(|_| corrupt("secret id"))?;
    s.rotated_at = n(3)?;
    s.last_used_at = n(4)?;
    s.grace_replays = u32::try_from(row.try_get::<_, i32>(5).map_err(store_err)?)
        .map_err(|_| corrupt("replays"))?;
    s.idle_expires_at = n(6)?;
    s.absolute_expires_at = n(7)?;
    let reason: Option<String> = row.try_get(8).map_err(store_err)?;
    let at: Option<i64> = row.try_get(9).map_err(store_err)?;
    s.revoked = match (reason, at) {
        (Some(r), Some(at)) => Some(Revocation {
            reason: r.parse()?,
            at: u(at),
        }),
        (None, _) => None,
        _ => return Err(corrupt("revocation without time")),
    };
    Ok(s)
}

/// Sessions and the revocation log in PostgreSQL, over a deadpool connection pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Until when refreshes skip the one-statement path, after it found a schema from before
    /// migration 4 or 6 (retried every minute, so a `migrate` by another instance is picked up).
    legacy_until: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Whether the one-statement rotation may be tried (not within a minute of finding the
    /// schema without its column).
    fn fast_path_ok(&self) -> bool {
        self.legacy_until.lock().map_or(true, |u| {
            u.is_none_or(|until| std::time::Instant::now() >= until)
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(store_err)
    }

    /// Bring the schema up to date with [`MIGRATIONS`]. Safe to call from several instances
    /// at once (an advisory lock serializes them) and on every start.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the server refuses a migration; nothing is half-applied (each
    /// migration runs in the same transaction as its version bump).
    pub async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(store_err)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7356148925631);
             CREATE TABLE IF NOT EXISTS tidepass_schema (version integer NOT NULL);",
        )
        .await
        .map_err(store_err)?;
        let current: Option<i32> = tx
            .query_opt("SELECT max(version) FROM tidepass_schema", &[])
            .await
            .map_err(store_err)?
            .and_then(|r| r.get(0));
        let current = usize::try_from(current.unwrap_or(0)).unwrap_or(0);
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.batch_execute(sql).await.map_err(store_err)?;
            let v = i32::try_from(n + 1).unwrap_or(i32::MAX);
            tx.execute("INSERT INTO tidepass_schema (version) VALUES ($1)", &[&v])
                .await
                .map_err(store_err)?;
        }
        tx.commit().await.map_err(store_err)?;
        // The one-statement rotation again at once, if it was set aside.
        if let Ok(mut until) = self.legacy_until.lock() {
            *until = None;
        }
        Ok(())
    }

    /// Write the decided state of a locked session.
    /// The one-statement rotation: the session moved on from `presented`, when that is its
    /// current generation and it is alive (`None` otherwise: the locked path decides).
    async fn rotate_current(
        &self,
        client: &deadpool_postgres::Client,
        sid: SessionId,
        presented: u64,
        rules: &RotationRules,
    ) -> Result<Option<Session>> {
        let fast = match client
            .prepare_cached(concat!(
                "UPDATE tidepass_sessions SET generation = generation + 1, secret_id = $3,
                         rotated_at = $4, last_used_at = $4, grace_replays = 0,
                         idle_expires_at = LEAST($4 + $5, absolute_expires_at)
                     WHERE sid = $1 AND generation = $2 AND revoked_reason IS NULL
                       AND $4 < LEAST(idle_expires_at, absolute_expires_at)
                       AND (dpop_jkt IS NULL OR dpop_jkt = $6)
                       AND ($7::bigint IS NULL OR $7 = 0 OR risk_print = 0 OR risk_print = $7)
                     RETURNING ",
                columns!()
            ))
            .await
        {
            Ok(statement) => statement,
            // A schema from before migration 4 or 6 (a rolling upgrade that deploys before it
            // migrates) has no `dpop_jkt` or `risk_print` column: the locked path, which
            // reads the binding and the fingerprint from the body, decides instead. Slower, never wrong; gone once `migrate` runs
            // (a statement that failed to prepare is not cached).
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_COLUMN) => {
                tracing::warn!(
                    target: "tidepass::store",
                    "postgres schema predates migration 4 or 6: refreshes take the locked path \
                     until PgStore::migrate runs (checked again in a minute)"
                );
                if let Ok(mut until) = self.legacy_until.lock() {
                    *until = Some(std::time::Instant::now() + Duration::from_secs(60));
                }
                return Ok(None);
            }
            Err(e) => return Err(store_err(e)),
        };
        let row = client
            .query_opt(
                &fast,
                &[
                    &&sid.as_bytes()[..],
                    &i(presented),
                    &i16::from(rules.secret_id),
                    &i(rules.now),
                    &i(rules.idle),
                    &rules.dpop.as_ref().map(|t| &t.as_bytes()[..]),
                    &rules.risk.map(|p| bits(p.to_u64())),
                ],
            )
            .await
            .map_err(store_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn write(tx: &tokio_postgres::Transaction<'_>, s: &Session) -> Result<()> {
        tx.execute(
            "UPDATE tidepass_sessions SET generation = $2, secret_id = $3, rotated_at = $4,
                 last_used_at = $5, grace_replays = $6, idle_expires_at = $7,
                 revoked_reason = $8, revoked_at = $9, ends_at = $10
             WHERE sid = $1",
            &[
                &&s.sid.as_bytes()[..],
                &i(s.generation),
                &i16::from(s.secret_id),
                &i(s.rotated_at),
                &i(s.last_used_at),
                &i32::try_from(s.grace_replays).unwrap_or(i32::MAX),
                &i(s.idle_expires_at),
                &s.revoked.map(|r| r.reason.as_str()),
                &s.revoked.map(|r| i(r.at)),
                &i(s.ends_at()),
            ],
        )
        .await
        .map_err(store_err)?;
        Ok(())
    }
}

/// Append to the revocation log inside `tx`; the log's new version. The row lock on the meta
/// row serializes appends, so versions commit in order and a reader never sees version n + 1
/// before n.
async fn append_in(tx: &tokio_postgres::Transaction<'_>, entries: &[Entry]) -> Result<u64> {
    let meta = tx
        .query_one(
            "SELECT next, head FROM tidepass_revocation_meta FOR UPDATE",
            &[],
        )
        .await
        .map_err(store_err)?;
    let (mut v, mut head): (i64, u64) = (meta.get(0), unbits(meta.get(1)));
    for e in entries {
        v = v.saturating_add(1);
        head = crate::revocation::chain(head, u(v), e);
        tx.execute(
            "INSERT INTO tidepass_revocations (version, target, id, before, expires, head)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &v,
                &i16::from(e.target.code()),
                &&e.id.to_be_bytes()[..],
                &i(e.before),
                &i(e.expires),
                &bits(head),
            ],
        )
        .await
        .map_err(store_err)?;
    }
    tx.execute(
        "UPDATE tidepass_revocation_meta SET next = $1, head = $2",
        &[&v, &bits(head)],
    )
    .await
    .map_err(store_err)?;
    Ok(u(v))
}

/// Insert a new session. An unbound session does not name the DPoP column (nor a session
/// without a fingerprint, or `with_print` false, the fingerprint's), so a schema from before
/// migration 4 (or 6) can take it: a rolling upgrade that migrates after deploying.
async fn insert(
    client: &deadpool_postgres::Client,
    s: &Session,
    with_print: bool,
) -> std::result::Result<u64, tokio_postgres::Error> {
    let (sid, jkt) = (
        &s.sid.as_bytes()[..],
        s.dpop_jkt.as_ref().map(|t| &t.as_bytes()[..]),
    );
    let (created, generation, rotated, used) = (
        i(s.created_at),
        i(s.generation),
        i(s.rotated_at),
        i(s.last_used_at),
    );
    let (secret, replays) = (
        i16::from(s.secret_id),
        i32::try_from(s.grace_replays).unwrap_or(i32::MAX),
    );
    let (idle, absolute, ends, body) = (
        i(s.idle_expires_at),
        i(s.absolute_expires_at),
        i(s.ends_at()),
        Json(s),
    );
    let print = s.risk_fingerprint.map(|p| bits(p.to_u64()));
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
        &sid,
        &s.subject,
        &created,
        &generation,
        &secret,
        &rotated,
        &used,
        &replays,
        &idle,
        &absolute,
        &ends,
        &body,
    ];
    let statement = match (jkt.is_some(), with_print && print.is_some()) {
        (false, false) => insert_session!("", ""),
        (true, false) => {
            params.push(&jkt);
            insert_session!(", dpop_jkt", ", $13")
        }
        (false, true) => {
            params.push(&print);
            insert_session!(", risk_print", ", $13")
        }
        (true, true) => {
            params.push(&jkt);
            params.push(&print);
            insert_session!(", dpop_jkt, risk_print", ", $13, $14")
        }
    };
    let statement = client.prepare_cached(statement).await?;
    client.execute(&statement, &params).await
}

impl SessionStore for PgStore {
    async fn create(&self, s: &Session) -> Result<()> {
        let client = self.client().await?;
        // The risk fingerprint's column, if the schema has it yet: a rolling upgrade that
        // deploys before it migrates writes the session without it (the body holds it, and
        // its refreshes take the locked path, which reads the body).
        if s.risk_fingerprint.is_some() && self.fast_path_ok() {
            match insert(&client, s, true).await {
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_COLUMN) => {}
                done => return done.map(|_| ()).map_err(store_err),
            }
        }
        insert(&client, s, false).await.map_err(store_err)?;
        Ok(())
    }

    async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
        let row = self
            .client()
            .await?
            .query_opt(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM tidepass_sessions WHERE sid = $1"
                ),
                &[&&sid.as_bytes()[..]],
            )
            .await
            .map_err(store_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> Result<Option<Rotation>> {
        let mut client = self.client().await?;
        // The common case, one statement: the presented generation is current and the session
        // alive. (Not for a shared jar's refresh, which may settle instead of rotating: the
        // locked path below applies the whole rule.)
        if !rules.settle
            && self.fast_path_ok()
            && let Some(rotated) = self.rotate_current(&client, sid, presented, &rules).await?
        {
            return Ok(Some(Rotation::Rotated(rotated)));
        }
        // Everything else: lock the row and apply the one rule.
        let tx = client.transaction().await.map_err(store_err)?;
        let Some(row) = tx
            .query_opt(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM tidepass_sessions WHERE sid = $1 FOR UPDATE"
                ),
                &[&&sid.as_bytes()[..]],
            )
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let stored = from_row(&row)?;
        let outcome = decide(&stored, presented, &rules);
        if let Some(s) = outcome.written() {
            Self::write(&tx, s).await?;
        }
        if let Some(entry) = reuse_entry(&outcome, &rules) {
            append_in(&tx, &[entry]).await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(Some(outcome))
    }

    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Option<Session>> {
        let row = self
            .client()
            .await?
            .query_opt(
                concat!("UPDATE tidepass_sessions SET revoked_reason = $2, revoked_at = $3, ends_at = $3
                     WHERE sid = $1 AND revoked_reason IS NULL
                       AND $3 < LEAST(idle_expires_at, absolute_expires_at)
                     RETURNING ", columns!()),
                &[&&sid.as_bytes()[..], &reason.as_str(), &i(now)],
            )
            .await
            .map_err(store_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
        let rows = self
            .client()
            .await?
            .query(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM tidepass_sessions
                     WHERE subject = $1 AND revoked_reason IS NULL
                       AND LEAST(idle_expires_at, absolute_expires_at) > $2
                     ORDER BY created_at, sid"
                ),
                &[&subject, &i(now)],
            )
            .await
            .map_err(store_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Vec<Session>> {
        let keep: Vec<u8> = keep.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
        let rows = self
            .client()
            .await?
            .query(
                concat!("UPDATE tidepass_sessions SET revoked_reason = $3, revoked_at = $4, ends_at = $4
                     WHERE subject = $1 AND sid <> $2 AND revoked_reason IS NULL
                       AND $4 < LEAST(idle_expires_at, absolute_expires_at)
                     RETURNING ", columns!()),
                &[&subject, &keep, &reason.as_str(), &i(now)],
            )
            .await
            .map_err(store_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
        let mut client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let tx = client.transaction().await.map_err(store_err)?;
        let n = tx
            .execute(
                "DELETE FROM tidepass_sessions WHERE sid IN (
                     SELECT sid FROM tidepass_sessions
                     WHERE ends_at <= $1 AND (revoked_at IS NOT NULL
                       OR LEAST(idle_expires_at, absolute_expires_at) <= $1)
                     ORDER BY ends_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&i(now), &limit],
            )
            .await
            .map_err(store_err)?;
        // Rotations leave `ends_at` as a lower bound (so they stay HOT updates that touch no
        // index); move the bounds of sessions still alive to their real end.
        tx.execute(
            "UPDATE tidepass_sessions SET ends_at = LEAST(idle_expires_at, absolute_expires_at)
             WHERE sid IN (
                 SELECT sid FROM tidepass_sessions
                 WHERE ends_at <= $1 AND revoked_at IS NULL
                   AND LEAST(idle_expires_at, absolute_expires_at) > $1
                 ORDER BY ends_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&i(now), &limit],
        )
        .await
        .map_err(store_err)?;
        tx.execute(
            "WITH gone AS (
                 DELETE FROM tidepass_revocations WHERE version IN (
                     SELECT version FROM tidepass_revocations WHERE expires <= $1
                     ORDER BY expires LIMIT $2)
                 RETURNING version, head)
             UPDATE tidepass_revocation_meta SET (floor, floor_head) = (
                 SELECT version, head FROM gone ORDER BY version DESC LIMIT 1)
             WHERE EXISTS (SELECT 1 FROM gone g WHERE g.version > floor)",
            &[&i(now), &limit],
        )
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// [`decide`] compares the risk fingerprint, and the one-statement rotation does (the
    /// `risk_print` column).
    fn compares_risk(&self) -> bool {
        true
    }

    fn lists_reuse(&self) -> bool {
        true
    }

    async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(store_err)?;
        let v = append_in(&tx, entries).await?;
        tx.commit().await.map_err(store_err)?;
        Ok(v)
    }

    async fn reserve_status_indices(&self, count: u64) -> Result<u64> {
        let client = self.client().await?;
        let row = if count == 0 {
            // A read: no row lock and no dead tuple for a question.
            client
                .query_one("SELECT status_next FROM tidepass_revocation_meta", &[])
                .await
        } else {
            client
                .query_one(
                    "UPDATE tidepass_revocation_meta SET status_next = status_next + $1
                     RETURNING status_next - $1",
                    &[&i(count)],
                )
                .await
        }
        .map_err(store_err)?;
        let first: i64 = row.get(0);
        u64::try_from(first).map_err(|_| Error::with(ErrorKind::StoreCorrupt, "status_next"))
    }

    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(store_err)?;
        let meta = tx
            .query_one(
                "SELECT next, floor, epoch, head, floor_head FROM tidepass_revocation_meta",
                &[],
            )
            .await
            .map_err(store_err)?;
        let (version, floor, epoch) = (u(meta.get(0)), u(meta.get(1)), u(meta.get(2)));
        let (head, floor_head) = (unbits(meta.get(3)), unbits(meta.get(4)));
        let from = Changes::delta_base(since, floor, version);
        let base = match from {
            None => None,
            Some(f) if f == floor => Some((f, floor_head)),
            Some(f) => {
                let row = tx
                    .query_opt(
                        "SELECT head FROM tidepass_revocations WHERE version = $1",
                        &[&i(f)],
                    )
                    .await
                    .map_err(store_err)?;
                Some((f, row.map_or(0, |r| unbits(r.get(0)))))
            }
        };
        let rows = tx
            .query(
                "SELECT target, id, before, expires FROM tidepass_revocations
                 WHERE version > $1 AND version <= $2 AND expires > $3 ORDER BY version",
                &[&i(from.unwrap_or(0)), &i(version), &i(now)],
            )
            .await
            .map_err(store_err)?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in &rows {
            let target = u8::try_from(r.get::<_, i16>(0))
                .ok()
                .and_then(Target::from_code)
                .ok_or_else(|| corrupt("revocation target"))?;
            let id: Vec<u8> = r.get(1);
            let id = <[u8; 16]>::try_from(&id[..]).map_err(|_| corrupt("revocation id"))?;
            entries.push(Entry {
                target,
                id: u128::from_be_bytes(id),
                before: u(r.get(2)),
                expires: u(r.get(3)),
            });
        }
        tx.commit().await.map_err(store_err)?;
        Ok(Changes::from_log(epoch, base, version, head, entries))
    }
}
