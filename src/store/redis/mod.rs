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

mod follow;
mod key_ring;
mod options;
#[cfg(feature = "redis-sentinel")]
mod sentinel;
pub use follow::follow_revocations;
pub use options::{Eviction, RedisOptions};
#[cfg(feature = "redis-sentinel")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-sentinel")))]
pub use sentinel::SentinelConnection;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{AsyncCommands, Script, Value};

use super::{Rotation, RotationRules, SessionStore};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{Changes, Entry, Target};
use crate::session::{Revocation, RevokeReason, Session, SessionId};

/// Writes waiting for replicas at once, at most (more wait their turn, for at most twice the
/// replica timeout).
const WAITED: usize = 32;

/// Ended sessions stay readable this long (so a late refresh learns "revoked"/"expired"
/// rather than "unknown"), then Redis drops them.
const RETENTION: u64 = 24 * 3600;

/// The session hash's fields as the scripts list them, in [`FIELDS`] order (one spelling for
/// both scripts; a test holds it to `FIELDS`).
macro_rules! session_fields {
    () => {
        "'body', 'gen', 'sec', 'rot', 'used', 'rep', 'idle', 'abs', 'rr', 'ra'"
    };
}

const ROTATE: &str = concat!(
    r#"
local k = KEYS[1]
local presented, now, idle, grace, maxrep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local secret, retention, recover, settle = ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1', ARGV[9] == '1'
local f = redis.call('HMGET', k, 'gen', 'rot', 'rep', 'idle', 'abs', 'rr', 'ra', 'jkt')
if not f[1] then return {0} end
local bound = f[8] and f[8] ~= ''
local gen, rot, rep, idle_exp, abs = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
local code
local function rotate_from(g)
  local ni = math.min(now + idle, abs)
  redis.call('HSET', k, 'gen', g + 1, 'sec', secret, 'rot', now, 'used', now, 'rep', 0, 'idle', ni)
  redis.call('EXPIRE', k, ni - now + retention)
end
local settling = settle and not bound and presented == gen and gen > 1 and now < rot + grace
if f[6] ~= '' or now >= math.min(idle_exp, abs) then
  code = 5
elseif bound and f[8] ~= ARGV[10] then
  code = 8
elseif presented == gen and not settling then
  rotate_from(gen)
  code = 1
elseif presented > gen and recover then
  rotate_from(presented)
  code = 7
elseif presented > gen then
  code = 4
elseif settling or (presented + 1 == gen and (bound or now < rot + grace)) then
  if rep >= maxrep and not bound then
    code = 6
  else
    redis.call('HSET', k, 'rep', rep + 1, 'used', now)
    code = 2
  end
else
  redis.call('HSET', k, 'rr', 'reuse_detected', 'ra', now)
  redis.call('EXPIRE', k, retention)
  code = 3
end
"#,
    "return {code, redis.call('HMGET', k, ",
    session_fields!(),
    "), gen}\n"
);

const REVOKE: &str = concat!(
    r#"
local k = KEYS[1]
local now, reason, retention = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local f = redis.call('HMGET', k, 'idle', 'abs', 'rr')
if not f[1] then return {0} end
if f[3] ~= '' or now >= math.min(tonumber(f[1]), tonumber(f[2])) then return {0} end
redis.call('HSET', k, 'rr', reason, 'ra', now)
redis.call('EXPIRE', k, retention)
"#,
    "return {1, redis.call('HMGET', k, ",
    session_fields!(),
    ")}\n"
);

/// Add a session to its subject's index and make the index live at least as long as this
/// session (never shorter: another login with a shorter policy must not cut the index below a
/// longer session still in it). `TTL` is -1 on a new key, so the first login sets it.
const INDEX: &str = r#"
redis.call('SADD', KEYS[1], ARGV[1])
local want = tonumber(ARGV[2])
if redis.call('TTL', KEYS[1]) < want then
  redis.call('EXPIRE', KEYS[1], want)
end
return 1
"#;

/// Append entries: each member is `version:entry:fingerprint`, the history fingerprint chained
/// with SHA-1 over the previous one and the member (16 hex digits), the newest in `meta.head`.
const APPEND: &str = r#"
local log, meta, channel = KEYS[1], KEYS[2], ARGV[1]
redis.call('HSETNX', meta, 'epoch', ARGV[2])
local v = 0
local head = redis.call('HGET', meta, 'head') or ''
for i = 3, #ARGV do
  v = redis.call('HINCRBY', meta, 'next', 1)
  local member = v .. ':' .. ARGV[i]
  head = string.sub(redis.sha1hex(head .. '|' .. member), 1, 16)
  redis.call('ZADD', log, v, member .. ':' .. head)
end
if v == 0 then
  v = tonumber(redis.call('HGET', meta, 'next') or '0')
else
  redis.call('HSET', meta, 'head', head)
end
redis.call('PUBLISH', channel, v)
return v
"#;

/// Raise the log's floor (and the fingerprint at it) to ARGV[1], never lower it.
const FLOOR: &str = r#"
local cur = tonumber(redis.call('HGET', KEYS[1], 'floor') or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'floor', ARGV[1], 'floor_head', ARGV[2])
end
return 1
"#;

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

impl RedisStore<ConnectionManager> {
    /// Connect to one Redis server (`redis://127.0.0.1:6379/0`). The connection reconnects on
    /// its own; each command fails after `timeout` instead of hanging.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str, prefix: &str, timeout: std::time::Duration) -> Result<Self> {
        Self::connect_with(url, prefix, RedisOptions::new(timeout)).await
    }

    /// [`RedisStore::connect`] with [`RedisOptions`]: replica acknowledgement, and what to do
    /// about a `maxmemory-policy` that can evict keys.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the URL is invalid or the server cannot be reached;
    /// [`ErrorKind::InvalidConfig`] when its eviction policy can drop the store's keys and
    /// `options.eviction` is [`Eviction::Refuse`].
    pub async fn connect_with(url: &str, prefix: &str, options: RedisOptions) -> Result<Self> {
        let client = redis::Client::open(url).map_err(store_err)?;
        Self::managed(client, prefix, options).await
    }

    /// [`RedisStore::connect`] over TLS to a server whose certificate is signed by the CA in
    /// `root_ca_pem` (PEM), as private and managed Redis deployments use: `url` is
    /// `rediss://host:port/db`. The certificate is always verified, host name (or IP)
    /// included; there is no switch to turn that off. With a publicly trusted certificate,
    /// `connect` with a `rediss://` URL is enough (the system's roots are used). Feature
    /// `redis-tls`: rustls on ring.
    ///
    /// Redis Cluster over TLS: build redis-rs's cluster client with the CA and hand its
    /// connection to [`RedisStore::with_connection`] (tested against a TLS-only cluster in
    /// `tests/it/tls.rs`). Give it a response timeout longer than its retry cycle
    /// (RELIABILITY.md says why):
    ///
    /// ```no_run
    /// # async fn f(ca_pem: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepass::store::{Eviction, RedisStore};
    ///
    /// let client = redis::cluster::ClusterClientBuilder::new(vec!["rediss://10.0.0.1:6380"])
    ///     .certs(redis::TlsCertificates { client_tls: None, root_cert: Some(ca_pem) })
    ///     .connection_timeout(std::time::Duration::from_millis(250))
    ///     .response_timeout(std::time::Duration::from_secs(3))
    ///     .build()?;
    /// let store = RedisStore::with_connection(client.get_async_connection().await?, "tp");
    /// store.check_eviction(Eviction::Refuse).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the URL or the CA is invalid, the server cannot be reached,
    /// or its certificate does not verify.
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub async fn connect_tls(
        url: &str,
        prefix: &str,
        options: RedisOptions,
        root_ca_pem: &[u8],
    ) -> Result<Self> {
        if !url.starts_with("rediss://") {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "connect_tls needs a rediss:// URL",
            ));
        }
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_ca_pem.to_vec()),
        };
        let client = redis::Client::build_with_tls(url, certs).map_err(store_err)?;
        Self::managed(client, prefix, options).await
    }

    async fn managed(client: redis::Client, prefix: &str, options: RedisOptions) -> Result<Self> {
        let timeout = options.timeout;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(timeout);
        let con = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(store_err)?;
        let mut store = Self::with_connection(con, prefix);
        if options.replicas > 0 {
            let writes = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(store_err)?;
            store = store.with_write_connection(writes);
        }
        store.checked(options).await
    }
}

#[cfg(feature = "redis-sentinel")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-sentinel")))]
impl RedisStore<crate::store::SentinelConnection> {
    /// Connect to the primary that the Redis Sentinels at `sentinels` (`redis://host:port`,
    /// the sentinels' own addresses) name for `service`, and follow it through failovers
    /// ([`SentinelConnection`](crate::store::SentinelConnection)). Database 0. With
    /// [`RedisOptions::acknowledge_after`], an acknowledged write survives the primary's death.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when no sentinel answers or the primary cannot be reached;
    /// [`ErrorKind::InvalidConfig`] as for [`RedisStore::connect_with`].
    pub async fn connect_sentinel(
        sentinels: &[&str],
        service: &str,
        prefix: &str,
        options: RedisOptions,
    ) -> Result<Self> {
        let connect =
            || crate::store::SentinelConnection::connect(sentinels, service, options.timeout);
        let mut store = Self::with_connection(connect().await.map_err(store_err)?, prefix);
        if options.replicas > 0 {
            store = store.with_write_connection(connect().await.map_err(store_err)?);
        }
        store.checked(options).await
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

    /// The server's `maxmemory-policy` (`CONFIG GET`, or `INFO memory` where managed servers
    /// disable `CONFIG`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the server cannot be asked or answers neither.
    pub async fn eviction_policy(&self) -> Result<String> {
        let mut con = self.con.clone();
        let config: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut con)
            .await;
        if let Ok(pair) = config
            && let [_, policy] = pair.as_slice()
        {
            return Ok(policy.clone());
        }
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        options::policy_from_info(&info)
            .map(str::to_owned)
            .ok_or_else(|| Error::with(ErrorKind::Store, "redis reports no maxmemory policy"))
    }

    /// Check that the server cannot evict the store's keys (its `maxmemory-policy` is
    /// `noeviction`); with [`Eviction::Allow`], warn instead and watch `evicted_keys` for as
    /// long as the store lives. The `connect` functions call this.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an evicting policy under [`Eviction::Refuse`];
    /// [`ErrorKind::Store`] when the policy cannot be read.
    pub async fn check_eviction(&self, eviction: Eviction) -> Result<()> {
        let policy = self.eviction_policy().await?;
        if policy == "noeviction" {
            return Ok(());
        }
        match eviction {
            Eviction::Refuse => Err(Error::with(
                ErrorKind::InvalidConfig,
                "redis maxmemory-policy can evict sessions or the revocation log: set \
                 noeviction, or allow eviction explicitly (Eviction::Allow)",
            )),
            Eviction::Allow => {
                tracing::warn!(
                    target: "tidepass::store::redis",
                    policy = %policy,
                    "redis may evict sessions (users logged out) or revocations (revoked \
                     tokens accepted again); watching evicted_keys"
                );
                self.watch_evictions().await
            }
        }
    }

    /// The server's `evicted_keys` counter (`INFO stats`): keys evicted since it started,
    /// tidepass's or not.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the server cannot be asked.
    pub async fn evicted_keys(&self) -> Result<u64> {
        let mut con = self.con.clone();
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        options::evicted_from_info(&info)
            .ok_or_else(|| Error::with(ErrorKind::Store, "redis reports no evicted_keys"))
    }

    /// Every ten seconds while a clone of the store lives: warn (and count) when
    /// `evicted_keys` has grown.
    async fn watch_evictions(&self) -> Result<()> {
        let mut last = self.evicted_keys().await?;
        let alive = std::sync::Arc::downgrade(&self.alive);
        let watcher = Self {
            alive: std::sync::Arc::new(()),
            ..self.clone()
        };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                if alive.strong_count() == 0 {
                    return;
                }
                let Ok(now) = watcher.evicted_keys().await else {
                    continue;
                };
                if now > last {
                    tracing::warn!(
                        target: "tidepass::store::redis",
                        evicted = now - last,
                        "redis evicted keys: sessions may have been logged out"
                    );
                    #[cfg(feature = "metrics")]
                    metrics::counter!("tidepass_redis_evicted_keys_total").increment(now - last);
                }
                last = now;
            }
        });
        Ok(())
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

fn fields(s: &Session) -> Result<Vec<(&'static str, String)>> {
    let body = serde_json::to_string(s)
        .map_err(|e| Error::source_from(ErrorKind::Serialization, "session", e))?;
    Ok(vec![
        ("body", body),
        ("gen", s.generation.to_string()),
        ("sec", s.secret_id.to_string()),
        ("rot", s.rotated_at.to_string()),
        ("used", s.last_used_at.to_string()),
        ("rep", s.grace_replays.to_string()),
        ("idle", s.idle_expires_at.to_string()),
        ("abs", s.absolute_expires_at.to_string()),
        ("rr", s.revoked.map_or("", |r| r.reason.as_str()).to_owned()),
        ("ra", s.revoked.map_or(0, |r| r.at).to_string()),
        // For the rotation script's binding check (the body holds it too).
        ("jkt", s.dpop_jkt.map(|t| t.to_string()).unwrap_or_default()),
    ])
}

/// The session hash's fields in the order every read returns them (`HMGET`, here and in the
/// scripts).
const FIELDS: [&str; 10] = [
    "body", "gen", "sec", "rot", "used", "rep", "idle", "abs", "rr", "ra",
];

/// A session from its fields in [`FIELDS`] order, read in place (no copies of the reply);
/// `None` when the key does not exist.
fn from_values(v: &[Value]) -> Result<Option<Session>> {
    let [body, rest @ ..] = v else {
        return Err(corrupt("session fields"));
    };
    if matches!(body, Value::Nil) {
        return Ok(None);
    }
    let [
        generation,
        secret,
        rotated,
        used,
        replays,
        idle,
        abs,
        reason,
        at,
    ] = rest
    else {
        return Err(corrupt("session fields"));
    };
    let num = |v: &Value| -> Result<u64> {
        std::str::from_utf8(bytes(v)?)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(corrupt("session number"))
    };
    let mut s: Session = serde_json::from_slice(bytes(body)?)
        .map_err(|e| Error::source_from(ErrorKind::StoreCorrupt, "session body", e))?;
    s.generation = num(generation)?;
    s.secret_id = u8::try_from(num(secret)?).map_err(|_| corrupt("secret id"))?;
    s.rotated_at = num(rotated)?;
    s.last_used_at = num(used)?;
    s.grace_replays = u32::try_from(num(replays)?).map_err(|_| corrupt("replays"))?;
    s.idle_expires_at = num(idle)?;
    s.absolute_expires_at = num(abs)?;
    let reason = std::str::from_utf8(bytes(reason)?).map_err(|_| corrupt("revoke reason"))?;
    s.revoked = if reason.is_empty() {
        None
    } else {
        Some(Revocation {
            reason: reason.parse()?,
            at: num(at)?,
        })
    };
    Ok(Some(s))
}

fn bytes(v: &Value) -> Result<&[u8]> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.as_bytes()),
        _ => Err(corrupt("session field missing")),
    }
}

/// A script's `{code, HMGET FIELDS…[, generation before]}` reply.
fn script_reply(v: &Value) -> Result<(i64, Option<Session>, Option<u64>)> {
    let Value::Array(items) = v else {
        return Err(corrupt("script reply"));
    };
    let code = match items.first() {
        Some(Value::Int(c)) => *c,
        _ => return Err(corrupt("script code")),
    };
    let session = match items.get(1) {
        Some(Value::Array(fields)) => from_values(fields)?,
        _ => None,
    };
    let before = match items.get(2) {
        Some(Value::Int(g)) => u64::try_from(*g).ok(),
        _ => None,
    };
    Ok((code, session, before))
}

fn encode_entry(e: &Entry) -> String {
    let t = e.target.code();
    format!("{t}:{:032x}:{}:{}", e.id, e.before, e.expires)
}

/// A log member: its version, entry and history fingerprint (members written before
/// fingerprints have none: 0).
fn decode_entry(member: &str) -> Result<(u64, Entry, u64)> {
    let bad = || corrupt("revocation log member");
    let mut it = member.split(':');
    let mut next = || it.next().ok_or_else(bad);
    let version: u64 = next()?.parse().map_err(|_| bad())?;
    let target = next()?
        .parse()
        .ok()
        .and_then(Target::from_code)
        .ok_or_else(bad)?;
    let id = u128::from_str_radix(next()?, 16).map_err(|_| bad())?;
    let before = next()?.parse().map_err(|_| bad())?;
    let expires = next()?.parse().map_err(|_| bad())?;
    let head = fingerprint(it.next())?;
    if it.next().is_some() {
        return Err(bad());
    }
    Ok((
        version,
        Entry {
            target,
            id,
            before,
            expires,
        },
        head,
    ))
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
    use super::FIELDS;

    #[test]
    fn the_scripts_read_the_fields_in_fields_order() {
        let listed = FIELDS.map(|f| format!("'{f}'")).join(", ");
        assert_eq!(session_fields!(), listed);
        assert!(super::ROTATE.contains(&listed) && super::REVOKE.contains(&listed));
    }
}
