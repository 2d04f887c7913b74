//! The issuer's Token Status Lists (draft-ietf-oauth-status-list): one entry per session,
//! allocated from the store at login, set by the session's revocation, published as signed
//! Status List Tokens built from the revocation log.
//!
//! Why one entry per session, indices never reused, and the bits read from the log: see
//! [`StatusLists`].

use std::ops::Range;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::{DashMap, DashSet};

use crate::error::{Error, ErrorKind, Result};
use crate::revocation::status_list::{Bits, Status, StatusList, token};
use crate::revocation::{Changes, Target};
use crate::store::SessionStore;

/// Entries per list: list `k` holds the sessions with indices `k·2²⁰ ..< (k+1)·2²⁰`. A list
/// is 128 KiB uncompressed (what a verifier inflates), and a few hundred bytes on the wire
/// when little of it is revoked (`BENCHMARKS.md`).
pub const LIST_SIZE: u64 = 1 << 20;

/// The path, under the auth service's base URL, where its lists are served (`…/statuslists/k`)
/// and where the aggregation (§9.3) lists them.
pub const PATH: &str = "/statuslists";

/// What an issuer publishes as Token Status Lists, and how ([`crate::IssuerBuilder::status_lists`]).
///
/// **One entry per session.** Every access token of a session (login, each refresh, the early
/// overlap token, grace replays) carries `status.status_list {idx, uri}` pointing at the
/// session's entry, so a session's revocation — logout, revoke one / others / all, reuse
/// detection, elevation's old session, RFC 7009 revocation of its refresh token — is one bit,
/// and every token the session minted reads INVALID. One entry per token would make a
/// logout set the bit of every live token and still not hide anything: tidepass's access
/// tokens carry `sub` and `sid` already, which link them far more plainly than a shared
/// index (the draft's §13 linkability concern is about tokens that are otherwise unlinkable).
/// Revoking one access token by `jti` stays the native feed's job (as do subject
/// watermarks): the list says nothing about those.
///
/// **Indices are never reused.** The store hands them out from one counter
/// ([`SessionStore::reserve_status_indices`]), in blocks, to every instance, across restarts;
/// so no index can be shared by two sessions, and "reused only when no live token can
/// reference it" holds trivially. List `k` covers `k·2²⁰ ..< (k+1)·2²⁰`; a new list appears
/// every 2²⁰ logins. Only INVALID is used (one bit per entry): tidepass has no suspension.
///
/// **The bits come from the revocation log.** A session's revocation entry carries its index
/// ([`crate::revocation::Entry::before`]) in the same append that puts its tokens on the
/// native list, so the bit is never lost where the native revocation is not, and is retried
/// with it. The published list is rebuilt from the log at most every
/// [`StatusLists::rebuild_after`]; an entry leaves the log (and the bit clears) only once
/// every token that points at it has expired.
///
/// **Delay.** A verifier that honours the list's `ttl` (and `Cache-Control`, which says the
/// same) sees a revocation within `ttl` + `rebuild_after` (60 s + 2 s by default), plus the
/// time one build takes (requests that come while a list is being built get the last one).
///
/// **Sessions opened before.** Only a login allocates an entry: sessions opened before lists
/// were turned on carry no `status` for their whole life (up to the policy's absolute
/// timeout), and a verifier on lists alone cannot see them end. Keep the native feed on beside
/// the lists ([`FollowerBuilder::status_lists`](crate::verify::follow::FollowerBuilder::status_lists)
/// without `without_revocations`) until that long after turning lists on.
///
/// **What the lists reveal.** Indices are handed out in login order, and lists are public:
/// anyone can see how many sessions were opened and ended, and whoever holds a token can see
/// its session end — as with any status list (§13 of the draft). A list names sessions by
/// index only; tokens already carry `sub` and `sid`.
///
/// **Stores.** PostgreSQL needs migration 7 (the counter) before lists are turned on: without
/// it every login fails with a store error. A store that goes back (a promoted replica that
/// missed writes, a restored backup) can hand out an index again while an instance still uses
/// its block: two sessions may then share an entry until one ends — the other's tokens then
/// read INVALID too (never the reverse). After a restore, `tidepass log relist` puts the
/// lost revocations back in the lists as well.
#[derive(Debug, Clone)]
pub struct StatusLists {
    base: String,
    ttl: u64,
    validity: u64,
    rebuild: u64,
    block: u64,
}

impl StatusLists {
    /// Lists published at `base` + `/k` (for an [`AuthServer`](crate::http::server::AuthServer)
    /// at `https://auth.example`: `https://auth.example/statuslists`, its [`PATH`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] unless `base` is an `https://` URL (or `http://` on a
    /// loopback host, for tests) without a query, fragment or trailing slash.
    pub fn new(base: impl Into<String>) -> Result<Self> {
        let base = base.into();
        let rest = base
            .strip_prefix("https://")
            .or_else(|| {
                base.strip_prefix("http://").filter(|r| {
                    ["localhost", "127.0.0.1", "[::1]"].iter().any(|h| {
                        r.strip_prefix(h)
                            .is_some_and(|t| t.is_empty() || t.starts_with([':', '/']))
                    })
                })
            })
            .ok_or_else(|| bad("the status list base URL must be https (http only on loopback)"))?;
        if rest.is_empty()
            || base.ends_with('/')
            || base.contains(['?', '#', '@', '\\'])
            || base.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "the status list base URL needs a host, and no query, fragment or trailing slash",
            ));
        }
        Ok(Self {
            base,
            ttl: 60,
            validity: 3600,
            rebuild: 2,
            block: 64,
        })
    }

    /// The `ttl` the lists carry, and their `Cache-Control` lifetime (default 60 s): how long a
    /// verifier may use a list before fetching it again. A rebuild interval longer than it
    /// comes down to it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for less than a second or more than a day.
    pub fn ttl(mut self, ttl: Duration) -> Result<Self> {
        self.ttl = whole_secs(
            ttl,
            1,
            86_400,
            "the status list ttl is whole seconds, 1 s to 1 day",
        )?;
        // A shorter ttl brings the rebuild interval down with it (a longer one set later
        // is refused at build).
        self.rebuild = self.rebuild.min(self.ttl);
        Ok(self)
    }

    /// How long a list stays valid (`exp` − `iat`, default 1 hour): the longest a verifier
    /// that cannot reach the auth service keeps using its last list.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for less than a second or more than 30 days (and, at
    /// [`crate::IssuerBuilder::build`], for less than the `ttl`).
    pub fn validity(mut self, validity: Duration) -> Result<Self> {
        self.validity = whole_secs(
            validity,
            1,
            30 * 86_400,
            "the status list validity is whole seconds, 1 s to 30 days",
        )?;
        Ok(self)
    }

    /// How long a built list is served before it is built again from the log (default 2 s;
    /// 0 builds on every request).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a fraction of a second or more than a day (and, at
    /// [`crate::IssuerBuilder::build`], for more than the `ttl`).
    pub fn rebuild_after(mut self, every: Duration) -> Result<Self> {
        self.rebuild = whole_secs(
            every,
            0,
            86_400,
            "the status list rebuild interval is whole seconds, up to a day",
        )?;
        Ok(self)
    }

    /// Indices an instance reserves per store call (default 64): logins cost a store round
    /// trip for the index once per block; a restart leaves the rest of a block unused.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for 0 or more than 65,536.
    pub fn reserve(mut self, block: u64) -> Result<Self> {
        if !(1..=65_536).contains(&block) {
            return Err(bad("status index blocks are 1 to 65,536"));
        }
        self.block = block;
        Ok(self)
    }

    /// Check the settings together (the issuer's build does): the `ttl` no longer than the
    /// validity (else verifiers hold expired lists between fetches) and the rebuild interval
    /// no longer than the `ttl`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] naming the rule broken.
    pub fn validate(&self) -> Result<()> {
        if self.validity < self.ttl {
            return Err(bad("the status list validity is shorter than its ttl"));
        }
        if self.rebuild > self.ttl {
            return Err(bad(
                "the status list rebuild interval is longer than its ttl",
            ));
        }
        Ok(())
    }

    /// The base URL the lists are published under.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URI of list `k` (its Status List Token's `sub`).
    pub fn uri(&self, k: u64) -> String {
        format!("{}/{k}", self.base)
    }

    /// The lists' `ttl` in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl
    }
}

fn bad(msg: &'static str) -> Error {
    Error::with(ErrorKind::InvalidConfig, msg)
}

fn whole_secs(d: Duration, min: u64, max: u64, what: &'static str) -> Result<u64> {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || s < min || s > max {
        return Err(Error::with(ErrorKind::InvalidConfig, what));
    }
    Ok(s)
}

/// A signed Status List Token as served.
#[derive(Clone)]
pub struct StatusListJwt {
    /// The compact JWS (`application/statuslist+jwt`).
    pub jwt: String,
    /// Its `iat`.
    pub issued_at: u64,
    /// Its `exp`.
    pub expires_at: u64,
    /// Its `ttl`.
    pub ttl: u64,
}

impl std::fmt::Debug for StatusListJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusListJwt")
            .field("issued_at", &self.issued_at)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl StatusListJwt {
    /// Seconds a cache may keep it at `now`: what is left of its `ttl`.
    pub fn max_age(&self, now: u64) -> u64 {
        self.issued_at.saturating_add(self.ttl).saturating_sub(now)
    }
}

/// An issuer's live status-list state: the config, this instance's block of indices, and the
/// lists it built last.
#[derive(Debug)]
pub(crate) struct Publisher {
    pub(crate) config: StatusLists,
    /// Indices reserved and not yet handed out.
    pool: Mutex<Range<u64>>,
    built: DashMap<u64, Arc<StatusListJwt>>,
    /// Lists being built: one build per list at a time; others serve its last one meanwhile.
    building: DashSet<u64>,
    /// How many lists hold a handed-out index, as last read from the store (it only grows),
    /// and when that was read: a request for a list beyond it reads the store at most once a
    /// second, so requests for lists that do not exist cannot load the store.
    lists: AtomicU64,
    counted_at: AtomicU64,
}

/// Ends a list's build when dropped, however the build ends (a cancelled request included).
struct Building<'a>(&'a DashSet<u64>, u64);

impl Drop for Building<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

impl Publisher {
    pub(crate) fn new(config: StatusLists) -> Self {
        Self {
            config,
            pool: Mutex::new(0..0),
            built: DashMap::new(),
            building: DashSet::new(),
            lists: AtomicU64::new(0),
            counted_at: AtomicU64::new(0),
        }
    }

    /// The next index for a new session: from this instance's block, or a new block from the
    /// store. Cancelled after the store reserved, the block is lost (never reused: harmless).
    pub(crate) async fn allocate<S: SessionStore>(&self, store: &S) -> Result<u64> {
        if let Some(i) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).next() {
            return Ok(i);
        }
        let first = store.reserve_status_indices(self.config.block).await?;
        let end = first.saturating_add(self.config.block);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.is_empty() {
            *pool = first.saturating_add(1)..end;
        }
        // Every list the block reaches (its later indices may fall in the next list).
        self.lists
            .fetch_max(end.div_ceil(LIST_SIZE), Ordering::Relaxed);
        Ok(first)
    }

    /// How many lists hold a handed-out index, reading the store only when `want` is beyond
    /// what is known and the last read is at least a second old.
    async fn count<S: SessionStore>(&self, store: &S, want: u64, now: u64) -> Result<u64> {
        let known = self.lists.load(Ordering::Relaxed);
        if want < known || now < self.counted_at.load(Ordering::Relaxed).saturating_add(1) {
            return Ok(known);
        }
        self.counted_at.store(now, Ordering::Relaxed);
        let next = store.reserve_status_indices(0).await?;
        let n = next.div_ceil(LIST_SIZE);
        Ok(self.lists.fetch_max(n, Ordering::Relaxed).max(n))
    }

    /// The URIs of every list that holds a handed-out index.
    pub(crate) async fn uris<S: SessionStore>(&self, store: &S, now: u64) -> Result<Vec<String>> {
        let n = self.count(store, u64::MAX, now).await?;
        Ok((0..n).map(|k| self.config.uri(k)).collect())
    }

    /// List `k` as of `now`, signed with `key`; `None` when no index of it was handed out yet.
    pub(crate) async fn list<S: SessionStore>(
        &self,
        store: &S,
        key: &crate::keys::SigningKey,
        k: u64,
        now: u64,
    ) -> Result<Option<Arc<StatusListJwt>>> {
        let last = self.built.get(&k).map(|b| b.clone());
        // A list dated ahead of the clock (the clock stepped back) is rebuilt, never kept.
        let fresh =
            |b: &StatusListJwt| b.issued_at <= now && now - b.issued_at < self.config.rebuild;
        if let Some(b) = &last
            && fresh(b)
        {
            return Ok(last);
        }
        if last.is_none() && k >= self.count(store, k, now).await? {
            return Ok(None);
        }
        // One build per list: while it runs, the others serve the last list (still within its
        // `exp`); only a list never built here is built by several requests at once.
        let owner = self.building.insert(k);
        if !owner && let Some(b) = last.filter(|b| b.issued_at <= now && now < b.expires_at) {
            return Ok(Some(b));
        }
        let _building = owner.then(|| Building(&self.building, k));
        let entries = match store.revocation_changes(None, now).await? {
            Changes::Snapshot(s) => s.entries,
            Changes::Delta(d) => d.entries,
        };
        let range = k.saturating_mul(LIST_SIZE)..k.saturating_add(1).saturating_mul(LIST_SIZE);
        let mut list = StatusList::new(Bits::One, LIST_SIZE as usize)?;
        for e in entries
            .iter()
            .filter(|e| e.target == Target::Session && e.before > 0)
        {
            let idx = e.before - 1;
            if range.contains(&idx) {
                // In range, so below 2²⁰: the cast and the set cannot fail.
                list.set((idx - range.start) as usize, Status::INVALID)?;
            }
        }
        let c = &self.config;
        let jwt = token::sign(
            key,
            &c.uri(k),
            &list,
            now,
            now.saturating_add(c.validity),
            c.ttl,
        )?;
        let built = Arc::new(StatusListJwt {
            jwt,
            issued_at: now,
            expires_at: now.saturating_add(c.validity),
            ttl: c.ttl,
        });
        // A slower build that started earlier never replaces a newer list (but one dated
        // ahead of the clock goes).
        let mut slot = self.built.entry(k).or_insert_with(|| built.clone());
        if slot.issued_at <= built.issued_at || slot.issued_at > now {
            *slot = built.clone();
        }
        Ok(Some(built))
    }
}

impl<S: SessionStore> crate::Issuer<S> {
    /// The Token Status Lists this issuer publishes, if it does
    /// ([`crate::IssuerBuilder::status_lists`]).
    pub fn status_lists(&self) -> Option<&StatusLists> {
        self.status.as_ref().map(|p| &p.config)
    }

    /// Status list `k` as a signed Status List Token (`typ` `statuslist+jwt`, `sub` its URI,
    /// `iat`, `exp`, `ttl`, one bit per session: INVALID once it was revoked), signed with the
    /// minter's active key, so it verifies against the JWKS. What `GET /statuslists/k` serves.
    /// Built from the revocation log at most every [`StatusLists::rebuild_after`]. `None` when
    /// status lists are off or list `k` holds no index handed out yet.
    ///
    /// # Errors
    ///
    /// A store error; a signing failure.
    pub async fn status_list(&self, k: u64) -> Result<Option<Arc<StatusListJwt>>> {
        let Some(p) = &self.status else {
            return Ok(None);
        };
        let keys = self.minter.keys();
        p.list(&self.store, keys.active(), k, self.clock.now())
            .await
    }

    /// The URIs of every status list that holds a handed-out index (for the draft's §9.3
    /// aggregation, `GET /statuslists`); empty when status lists are off.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn status_list_uris(&self) -> Result<Vec<String>> {
        match &self.status {
            Some(p) => p.uris(&self.store, self.clock.now()).await,
            None => Ok(Vec::new()),
        }
    }
}
