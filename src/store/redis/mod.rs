//! The Redis store (feature `redis`).
//!
//! Layout, designed for Redis Cluster (every multi-key script touches one hash slot):
//!
//! - `{p}:s:{<sid>}`: a hash per session. `body` holds the session as created (JSON); the
//!   fields that change (`gen`, `sec`, `rot`, `used`, `rep`, `idle`, `rr`, `ra`) sit beside it,
//!   so the rotation script updates numbers and never re-encodes JSON. The key expires (a TTL
//!   computed from the caller's `now`) shortly after the session ends.
//! - `{p}:u:{<subject>}`: the set of a subject's session ids (its own slot; listing reads
//!   each session key separately). Its TTL only ever grows: it covers the longest absolute
//!   end of the sessions in it, whatever policy each login had.
//! - `{p}:{e}:ends`: a sorted set of candidate end times for bounded cleanup.
//! - `{p}:{r}:log` and `{p}:{r}:meta`: the revocation log (sorted by version) and its counters,
//!   in one slot.
//!
//! Rotation is one `EVALSHA` of a script loaded once: one round trip per refresh. A detected
//! reuse revokes the session inside that script; listing it on the revocation log is a second
//! call by the issuer (`lists_reuse` is `false`): the log lives in its own slot, and one
//! script cannot touch two slots in a cluster.

mod codec;
mod connect;
mod eviction;
mod follow;
mod key_ring;
mod options;
mod scripts;
#[cfg(feature = "redis-sentinel")]
mod sentinel;
pub use follow::follow_revocations;
pub use options::{Eviction, RedisOptions};
#[cfg(feature = "redis-sentinel")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-sentinel")))]
pub use sentinel::SentinelConnection;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{AsyncCommands, Script, Value};

use codec::{FIELDS, decode_entry, encode_entry, fields, from_values, script_reply};
use scripts::{APPEND, FLOOR, INDEX, REVOKE, ROTATE};

use super::{Rotation, RotationRules, SessionStore};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{Changes, Entry};
use crate::session::{RevokeReason, Session, SessionId};

/// Writes waiting for replicas at once, at most (more wait their turn, for at most twice the
/// replica timeout).
const WAITED: usize = 32;

/// Ended sessions stay readable this long (so a late refresh learns "revoked"/"expired"
/// rather than "unknown"), then Redis drops them.
const RETENTION: u64 = 24 * 3600;

/// A fingerprint as the scripts write it (16 hex digits; absent: 0, unknown).
fn fingerprint(hex: Option<&str>) -> Result<u64> {
    match hex {
        None | Some("") => Ok(0),
        Some(h) => u64::from_str_radix(h, 16)
            .map(|f| f.max(1))
            .map_err(|_| corrupt("revocation log fingerprint")),
    }
}

fn store_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::source_from(ErrorKind::Store, "redis", e)
}

fn corrupt(what: &'static str) -> Error {
    Error::with(ErrorKind::StoreCorrupt, what)
}

/// Sessions and the revocation log in Redis (single server, Sentinel or Cluster).
///
/// Generic over the connection: [`RedisStore::connect`] gives a reconnecting
/// [`ConnectionManager`] for one server, [`RedisStore::connect_sentinel`] a
/// [`SentinelConnection`](crate::store::SentinelConnection) that follows failovers (feature
/// `redis-sentinel`); any `redis::aio::ConnectionLike` that is `Clone` (a cluster connection,
/// say) works through [`RedisStore::with_connection`].
///
/// The `connect` functions refuse a server whose `maxmemory-policy` can evict the store's
/// keys ([`Eviction`]); with a connection of your own, call [`RedisStore::check_eviction`].
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    con: C,
    /// Where writes go: `con` itself, or with [`RedisStore::acknowledge_after`] a second
    /// connection, so that reads never wait behind a `WAIT`.
    writes: C,
    prefix: String,
    /// Replicas every write waits for (`WAIT`), and for how long (ms); 0: none.
    replicas: (u32, u64),
    /// Waited writes in flight, at most [`WAITED`]: `WAIT` blocks the connection it runs on,
    /// so without a bound a replica outage would queue every caller's retries on the server.
    waited: std::sync::Arc<tokio::sync::Semaphore>,
    /// Dropped with the last clone of the store: the eviction watcher then stops.
    alive: std::sync::Arc<()>,
    rotate: Script,
    revoke: Script,
    index: Script,
    append: Script,
    floor: Script,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisStore<C> {
    /// A store over an existing connection; every key starts with `prefix`.
    pub fn with_connection(con: C, prefix: &str) -> Self {
        Self {
            writes: con.clone(),
            con,
            prefix: prefix.to_owned(),
            replicas: (0, 0),
            waited: std::sync::Arc::new(tokio::sync::Semaphore::new(WAITED)),
            alive: std::sync::Arc::new(()),
            rotate: Script::new(ROTATE),
            revoke: Script::new(REVOKE),
            index: Script::new(INDEX),
            append: Script::new(APPEND),
            floor: Script::new(FLOOR),
        }
    }

    /// Acknowledge every write only once `replicas` replicas have it (Redis `WAIT`), waiting
    /// at most `timeout` ([`RedisOptions::acknowledge_after`]). On a cluster connection
    /// `WAIT` goes to every primary and the least answer counts; there, measured failovers
    /// still lost a few acknowledged rotations in some runs (RELIABILITY.md): it narrows the
    /// loss rather than closing it. Give writes a connection of their own with
    /// [`RedisStore::with_write_connection`] (the `connect` functions do).
    #[must_use]
    pub fn acknowledge_after(mut self, replicas: u32, timeout: std::time::Duration) -> Self {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.replicas = (replicas, if replicas == 0 { 0 } else { ms });
        self
    }

    /// Send writes over `writes` instead (a second connection to the same server or
    /// cluster). With [`RedisStore::acknowledge_after`], `WAIT` blocks the connection it runs
    /// on; on a connection of their own, reads never wait behind it. The `connect` functions
    /// make one when replicas are asked for.
    #[must_use]
    pub fn with_write_connection(mut self, writes: C) -> Self {
        self.writes = writes;
        self
    }

    /// Apply `options` (replicas, eviction check) to a store over a connection of its own.
    async fn checked(self, options: RedisOptions) -> Result<Self> {
        let store = self.acknowledge_after(options.replicas, options.replica_timeout);
        store.check_eviction(options.eviction).await?;
        Ok(store)
    }

    /// Before a write that will `WAIT`: the turn to write (none is needed without replicas).
    /// A caller that does not get it within twice the replica timeout fails with a store
    /// error instead of queueing without end.
    async fn turn(&self) -> Result<Option<tokio::sync::SemaphorePermit<'_>>> {
        let (want, ms) = self.replicas;
        if want == 0 {
            return Ok(None);
        }
        let wait = std::time::Duration::from_millis(ms.saturating_mul(2));
        match tokio::time::timeout(wait, self.waited.acquire()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) | Err(_) => Err(Error::with(
                ErrorKind::Store,
                "redis: writes are waiting for replicas; try again",
            )),
        }
    }

    /// After a write: wait until the configured number of replicas have it.
    async fn replicated(&self, con: &mut C) -> Result<()> {
        let (want, ms) = self.replicas;
        if want == 0 {
            return Ok(());
        }
        let got: u64 = redis::cmd("WAIT")
            .arg(want)
            .arg(ms)
            .query_async(con)
            .await
            .map_err(store_err)?;
        if got < u64::from(want) {
            return Err(Error::with(
                ErrorKind::Store,
                "redis: the write did not reach enough replicas in time (it may still be on \
                 the primary)",
            ));
        }
        Ok(())
    }

    fn session_key(&self, sid: &SessionId) -> String {
        format!("{}:s:{{{sid}}}", self.prefix)
    }

    fn subject_key(&self, subject: &str) -> String {
        // Subjects may contain braces; hex keeps the hash tag intact.
        let hex: String = subject.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{}:u:{{{hex}}}", self.prefix)
    }

    fn ends_key(&self) -> String {
        format!("{}:{{e}}:ends", self.prefix)
    }

    /// The pub/sub channel on which every append announces the log's new version.
    pub fn channel(&self) -> String {
        format!("{}:revocations", self.prefix)
    }

    fn log_keys(&self) -> (String, String) {
        (
            format!("{}:{{r}}:log", self.prefix),
            format!("{}:{{r}}:meta", self.prefix),
        )
    }

    async fn fetch(&self, sid: &SessionId) -> Result<Option<Session>> {
        let mut con = self.con.clone();
        let values: Vec<Value> = redis::cmd("HMGET")
            .arg(self.session_key(sid))
            .arg(&FIELDS)
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        from_values(&values)
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> SessionStore for RedisStore<C> {
    async fn create(&self, session: &Session) -> Result<()> {
        let _turn = self.turn().await?;
        let mut con = self.writes.clone();
        let key = self.session_key(&session.sid);
        let ttl = session.ends_at().saturating_sub(session.created_at) + RETENTION;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(&key, &fields(session)?)
            .ignore()
            .expire(&key, ttl as i64)
            .ignore();
        pipe.query_async::<()>(&mut con).await.map_err(store_err)?;
        // The subject index and the end index live in other slots: separate commands. A
        // crash between them leaves a session that cleanup or the TTL removes later.
        // The session cannot outlive its absolute end, so an index that lives past the longest
        // absolute end of its sessions finds every one of them (rotations need not touch it).
        let index_ttl = session
            .absolute_expires_at
            .saturating_sub(session.created_at)
            .saturating_add(RETENTION);
        self.index
            .key(self.subject_key(&session.subject))
            .arg(session.sid.to_string())
            .arg(index_ttl)
            .invoke_async::<()>(&mut con)
            .await
            .map_err(store_err)?;
        con.zadd::<_, _, _, ()>(self.ends_key(), session.sid.to_string(), session.ends_at())
            .await
            .map_err(store_err)?;
        self.replicated(&mut con).await
    }

    async fn load(&self, sid: SessionId) -> Result<Option<Session>> {
        self.fetch(&sid).await
    }

    /// The rotation script compares the risk fingerprint (its code 9).
    fn compares_risk(&self) -> bool {
        true
    }

    async fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> Result<Option<Rotation>> {
        let _turn = self.turn().await?;
        let mut con = self.writes.clone();
        let reply: Value = self
            .rotate
            .key(self.session_key(&sid))
            .arg(presented)
            .arg(rules.now)
            .arg(rules.idle)
            .arg(rules.grace)
            .arg(rules.max_grace_replays)
            .arg(rules.secret_id)
            .arg(RETENTION)
            .arg(if rules.recover_lost { "1" } else { "0" })
            .arg(if rules.settle { "1" } else { "0" })
            .arg(rules.dpop.map(|t| t.to_string()).unwrap_or_default())
            // Compared as text: 64 bits do not fit Lua's numbers.
            .arg(
                rules
                    .risk
                    .map(|p| p.to_u64().to_string())
                    .unwrap_or_default(),
            )
            .invoke_async(&mut con)
            .await
            .map_err(store_err)?;
        let (code, session, before) = script_reply(&reply)?;
        let s = match (code, session) {
            (0, _) => return Ok(None),
            (_, Some(s)) => s,
            _ => return Err(corrupt("script reply without session")),
        };
        if matches!(code, 1 | 3 | 7) {
            self.replicated(&mut con).await?;
        }
        Ok(Some(match code {
            1 => Rotation::Rotated(s),
            2 => Rotation::GraceReplay(s),
            3 => {
                let _: std::result::Result<(), _> =
                    con.zadd(self.ends_key(), sid.to_string(), rules.now).await;
                Rotation::Reuse(s)
            }
            4 => Rotation::Future(s),
            5 => Rotation::Ended(s),
            6 => Rotation::GraceExhausted(s),
            8 => Rotation::KeyMismatch(s),
            9 => Rotation::ContextChanged(s),
            7 => Rotation::Recovered {
                session: s,
                stored: before.ok_or(corrupt("script reply without generation"))?,
            },
            _ => return Err(corrupt("script code")),
        }))
    }

    async fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> Result<Option<Session>> {
        let _turn = self.turn().await?;
        let mut con = self.writes.clone();
        let reply: Value = self
            .revoke
            .key(self.session_key(&sid))
            .arg(now)
            .arg(reason.as_str())
            .arg(RETENTION)
            .invoke_async(&mut con)
            .await
            .map_err(store_err)?;
        let (code, session, _) = script_reply(&reply)?;
        if code == 1 {
            con.zadd::<_, _, _, ()>(self.ends_key(), sid.to_string(), now)
                .await
                .map_err(store_err)?;
            self.replicated(&mut con).await?;
        }
        Ok(session)
    }

    async fn list(&self, subject: &str, now: u64) -> Result<Vec<Session>> {
        let mut con = self.con.clone();
        let ids: Vec<String> = con
            .smembers(self.subject_key(subject))
            .await
            .map_err(store_err)?;
        let mut out = Vec::new();
        for id in ids {
            let Ok(sid) = id.parse::<SessionId>() else {
                continue;
            };
            if let Some(s) = self.fetch(&sid).await?
                && s.is_active_at(now)
            {
                out.push(s);
            }
        }
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
        let mut con = self.con.clone();
        let ids: Vec<String> = con
            .smembers(self.subject_key(subject))
            .await
            .map_err(store_err)?;
        let mut out = Vec::new();
        for id in ids {
            let Ok(sid) = id.parse::<SessionId>() else {
                continue;
            };
            if Some(sid) == keep {
                continue;
            }
            if let Some(s) = self.revoke(sid, reason, now).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn cleanup(&self, now: u64, limit: usize) -> Result<usize> {
        let mut con = self.con.clone();
        // Revocation log: drop expired entries from the front, advance the floor past them.
        let (log, meta) = self.log_keys();
        let front: Vec<String> = con
            .zrange(&log, 0, limit.saturating_sub(1) as isize)
            .await
            .map_err(store_err)?;
        let (mut floor, mut floor_head) = (0, 0);
        for member in &front {
            let (v, e, head) = decode_entry(member)?;
            if e.expires <= now {
                con.zrem::<_, _, ()>(&log, member)
                    .await
                    .map_err(store_err)?;
                if v > floor {
                    (floor, floor_head) = (v, head);
                }
            }
        }
        if floor > 0 {
            self.floor
                .key(&meta)
                .arg(floor)
                .arg(format!("{floor_head:016x}"))
                .invoke_async::<()>(&mut con)
                .await
                .map_err(store_err)?;
        }
        // Sessions: pop candidates whose end has come; re-queue those a rotation kept alive.
        let due: Vec<(String, f64)> = con
            .zrangebyscore_limit_withscores(self.ends_key(), 0, now, 0, limit as isize)
            .await
            .map_err(store_err)?;
        let mut removed = 0;
        for (id, _) in due {
            con.zrem::<_, _, ()>(self.ends_key(), &id)
                .await
                .map_err(store_err)?;
            let Ok(sid) = id.parse::<SessionId>() else {
                continue;
            };
            match self.fetch(&sid).await? {
                Some(s) if s.ends_at() <= now => {
                    con.del::<_, ()>(self.session_key(&sid))
                        .await
                        .map_err(store_err)?;
                    con.srem::<_, _, ()>(self.subject_key(&s.subject), &id)
                        .await
                        .map_err(store_err)?;
                    removed += 1;
                }
                Some(s) => {
                    con.zadd::<_, _, _, ()>(self.ends_key(), &id, s.ends_at())
                        .await
                        .map_err(store_err)?;
                }
                None => {}
            }
        }
        Ok(removed)
    }

    async fn append_revocations(&self, entries: &[Entry]) -> Result<u64> {
        let _turn = self.turn().await?;
        let mut con = self.writes.clone();
        let (log, meta) = self.log_keys();
        let mut call = self.append.key(&log);
        call.key(&meta)
            .arg(self.channel())
            .arg(crate::revocation::new_epoch());
        for e in entries {
            call.arg(encode_entry(e));
        }
        let version = call.invoke_async(&mut con).await.map_err(store_err)?;
        self.replicated(&mut con).await?;
        Ok(version)
    }

    async fn reserve_status_indices(&self, count: u64) -> Result<u64> {
        // In the log's meta hash (the log's slot), so it lives and goes with the log.
        let (_, meta) = self.log_keys();
        if count == 0 {
            // A read, on the read connection: it takes no write turn.
            let mut con = self.con.clone();
            let next: Option<u64> = con.hget(&meta, "status_next").await.map_err(store_err)?;
            return Ok(next.unwrap_or(0));
        }
        let _turn = self.turn().await?;
        let mut con = self.writes.clone();
        let count = i64::try_from(count)
            .map_err(|_| Error::with(ErrorKind::InvalidConfig, "too many status indices"))?;
        let next: i64 = redis::cmd("HINCRBY")
            .arg(&meta)
            .arg("status_next")
            .arg(count)
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        if count > 0 {
            self.replicated(&mut con).await?;
        }
        u64::try_from(next - count).map_err(|_| corrupt("status_next"))
    }

    async fn revocation_changes(&self, since: Option<u64>, now: u64) -> Result<Changes> {
        let mut con = self.con.clone();
        let (log, meta) = self.log_keys();
        type Meta = (
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<String>,
            Option<String>,
        );
        let (next, floor, epoch, head, floor_head): Meta = redis::pipe()
            .hget(&meta, "next")
            .hget(&meta, "floor")
            .hget(&meta, "epoch")
            .hget(&meta, "head")
            .hget(&meta, "floor_head")
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        let (version, floor, epoch) = (next.unwrap_or(0), floor.unwrap_or(0), epoch.unwrap_or(0));
        let head = fingerprint(head.as_deref())?;
        let from = Changes::delta_base(since, floor, version);
        // From `from` itself: its member carries the fingerprint the delta starts from.
        let members: Vec<String> = con
            .zrangebyscore(&log, from.unwrap_or(0), "+inf")
            .await
            .map_err(store_err)?;
        let mut base = match from {
            Some(f) if f == floor => fingerprint(floor_head.as_deref())?,
            _ => 0,
        };
        let mut entries = Vec::with_capacity(members.len());
        for m in &members {
            let (v, e, h) = decode_entry(m)?;
            if Some(v) == from {
                base = h;
            } else if v <= version && e.expires > now {
                entries.push(e);
            }
        }
        Ok(Changes::from_log(
            epoch,
            from.map(|f| (f, base)),
            version,
            head,
            entries,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::codec::FIELDS;
    use super::scripts::{REVOKE, ROTATE, SCRIPT_FIELDS};

    #[test]
    fn the_scripts_read_the_fields_in_fields_order() {
        let listed = FIELDS.map(|f| format!("'{f}'")).join(", ");
        assert_eq!(SCRIPT_FIELDS, listed);
        assert!(ROTATE.contains(&listed) && REVOKE.contains(&listed));
    }
}
