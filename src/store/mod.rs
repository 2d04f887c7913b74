//! Session stores: one trait, several backends, one conformance suite.
//!
//! A store keeps [`Session`] records and applies the rotation rule ([`decide`]) atomically,
//! one compare-and-set per refresh. Stores never read a clock: every call that depends on time
//! receives `now`. Everything is async at the boundary only.
//!
//! - [`MemoryStore`]: in-process (DashMap), for tests and single-process services.
//! - `RedbStore` (feature `redb`): embedded and durable.
//!
//! Third-party stores implement [`SessionStore`] and run `conformance::run_all` (feature
//! `test-util`) to prove they behave like the others.

use std::future::Future;

use crate::error::Result;
use crate::revocation::{Changes, Entry};
use crate::session::{RevokeReason, Session, SessionId};
pub use crate::session::{Rotation, RotationRules, decide};

mod any;
pub use any::AnyStore;
mod breaker;
pub use breaker::{CircuitBreaker, CircuitState};

mod memory;
pub use memory::MemoryStore;

mod relist;
pub use relist::{Relisted, relist};

#[cfg(feature = "redb")]
mod redb;
#[cfg(feature = "redb")]
pub use self::redb::RedbStore;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis-sentinel")]
pub use self::redis::SentinelConnection;
#[cfg(feature = "redis")]
pub use self::redis::{Eviction, RedisOptions, RedisStore, follow_revocations};

pub mod key_ring;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use self::postgres::{MIGRATIONS, PgStore};

/// Where sessions live. Every method is one atomic step.
///
/// # Errors
///
/// Every method fails with an error for which [`crate::Error::is_store`] is `true` when the
/// backend fails; nothing is half-written.
pub trait SessionStore: Send + Sync + 'static {
    /// Insert a new session.
    fn create(&self, session: &Session) -> impl Future<Output = Result<()>> + Send;

    /// The session, active or ended, if the store still holds it.
    fn load(&self, sid: SessionId) -> impl Future<Output = Result<Option<Session>>> + Send;

    /// Apply [`decide`] to the stored session and write the result, atomically (every rule,
    /// the risk check of [`RotationRules::risk`] included, when the store
    /// [`compares_risk`](SessionStore::compares_risk)). `None` when
    /// the store holds no such session. On [`Rotation::Reuse`], a store whose
    /// [`SessionStore::lists_reuse`] is `true` also appends the session to the revocation log
    /// (until [`RotationRules::list_reuse_until`], when not 0) in the same atomic step: an
    /// [`Entry`] with [`Target::Session`](crate::revocation::Target::Session), the session id's
    /// 128 bits, `before` = its [`Session::status_index`] + 1 (0 without one: the Token Status
    /// Lists are built from this) and `expires` = `list_reuse_until`.
    fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> impl Future<Output = Result<Option<Rotation>>> + Send;

    /// Revoke one session. Returns the session as revoked when it was active, `None` when it
    /// is unknown or had already ended (nothing changes then).
    fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> impl Future<Output = Result<Option<Session>>> + Send;

    /// The subject's active sessions at `now`, oldest first.
    fn list(&self, subject: &str, now: u64) -> impl Future<Output = Result<Vec<Session>>> + Send;

    /// Revoke every active session of `subject` except `keep`; returns those revoked.
    fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> impl Future<Output = Result<Vec<Session>>> + Send;

    /// Delete up to `limit` sessions that ended before `now`, and revocation-log entries that
    /// expired; returns how many sessions went.
    fn cleanup(&self, now: u64, limit: usize) -> impl Future<Output = Result<usize>> + Send;

    /// Append entries to the shared revocation log; returns the log's new version. Versions
    /// are assigned by the store and strictly increase, across every process sharing it.
    fn append_revocations(&self, entries: &[Entry]) -> impl Future<Output = Result<u64>> + Send;

    /// `true` when [`SessionStore::rotate`] puts a reused session on the revocation list in
    /// the same atomic step as its revocation; otherwise (the default) the issuer appends it
    /// with a second call, which can fail on its own.
    fn lists_reuse(&self) -> bool {
        false
    }

    /// `true` when [`SessionStore::rotate`] applies the risk check of
    /// [`RotationRules::risk`] (answering [`Rotation::ContextChanged`] and changing nothing
    /// when the session's fingerprint does not admit the presented one), as [`decide`] does:
    /// then a refresh with the risk policy on is one call. Otherwise (the default, and the
    /// safe answer for a store written before the rule existed) the issuer never sets
    /// `risk`: it loads the session and asks its policy first, then rotates.
    fn compares_risk(&self) -> bool {
        false
    }

    /// The log's changes after `since` (a delta), or a snapshot when `since` is `None` or older
    /// than what the log still covers. Expired entries are left out.
    fn revocation_changes(
        &self,
        since: Option<u64>,
        now: u64,
    ) -> impl Future<Output = Result<Changes>> + Send;

    /// Reserve `count` consecutive Token Status List indices and return the first; with
    /// `count` 0, reserve nothing and return the next index a reservation would hand out (so
    /// every index below it has been handed out). One counter per store, starting at 0: an
    /// index is never handed out twice, whichever process asks, across restarts (as durable as
    /// the store's sessions). The issuer gives each session one (see
    /// [`crate::issuer::StatusLists`]).
    ///
    /// The default, for a store written before status lists, fails: such a store cannot back
    /// an issuer with status lists on (its login fails with this error, nothing half-written).
    ///
    /// # Errors
    ///
    /// A store error; for the default, [`crate::ErrorKind::InvalidConfig`].
    fn reserve_status_indices(&self, count: u64) -> impl Future<Output = Result<u64>> + Send {
        let _ = count;
        std::future::ready(Err(crate::Error::with(
            crate::ErrorKind::InvalidConfig,
            "this session store cannot allocate status-list indices",
        )))
    }
}

/// Revoke `s` in place if it is active at `now`.
pub(crate) fn revoke_in_place(s: &mut Session, reason: RevokeReason, now: u64) -> bool {
    if s.is_active_at(now) {
        s.revoked = Some(crate::session::Revocation { reason, at: now });
        true
    } else {
        false
    }
}

/// The revocation-log entry that refuses a session's access tokens until `expires`; it carries
/// the session's status-list index, if any, so the published lists are built from the log
/// (see [`Entry::before`]).
pub(crate) fn session_entry(s: &Session, expires: u64) -> Entry {
    Entry {
        target: crate::revocation::Target::Session,
        id: u128::from_be_bytes(*s.sid.as_bytes()),
        before: s.status_index.map_or(0, |i| i.saturating_add(1)),
        expires,
    }
}

/// The entry a store that [`SessionStore::lists_reuse`] appends with a reuse, if any.
pub(crate) fn reuse_entry(outcome: &Rotation, rules: &RotationRules) -> Option<Entry> {
    match outcome {
        Rotation::Reuse(s) if rules.list_reuse_until > 0 => {
            Some(session_entry(s, rules.list_reuse_until))
        }
        _ => None,
    }
}

/// A shared store is a store: several issuers (several "instances") over one backend.
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    fn create(&self, session: &Session) -> impl Future<Output = Result<()>> + Send {
        (**self).create(session)
    }
    fn load(&self, sid: SessionId) -> impl Future<Output = Result<Option<Session>>> + Send {
        (**self).load(sid)
    }
    fn rotate(
        &self,
        sid: SessionId,
        presented: u64,
        rules: RotationRules,
    ) -> impl Future<Output = Result<Option<Rotation>>> + Send {
        (**self).rotate(sid, presented, rules)
    }
    fn revoke(
        &self,
        sid: SessionId,
        reason: RevokeReason,
        now: u64,
    ) -> impl Future<Output = Result<Option<Session>>> + Send {
        (**self).revoke(sid, reason, now)
    }
    fn list(&self, subject: &str, now: u64) -> impl Future<Output = Result<Vec<Session>>> + Send {
        (**self).list(subject, now)
    }
    fn revoke_subject(
        &self,
        subject: &str,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: u64,
    ) -> impl Future<Output = Result<Vec<Session>>> + Send {
        (**self).revoke_subject(subject, keep, reason, now)
    }
    fn cleanup(&self, now: u64, limit: usize) -> impl Future<Output = Result<usize>> + Send {
        (**self).cleanup(now, limit)
    }
    fn append_revocations(&self, entries: &[Entry]) -> impl Future<Output = Result<u64>> + Send {
        (**self).append_revocations(entries)
    }
    fn lists_reuse(&self) -> bool {
        (**self).lists_reuse()
    }
    fn compares_risk(&self) -> bool {
        (**self).compares_risk()
    }
    fn revocation_changes(
        &self,
        since: Option<u64>,
        now: u64,
    ) -> impl Future<Output = Result<Changes>> + Send {
        (**self).revocation_changes(since, now)
    }
    fn reserve_status_indices(&self, count: u64) -> impl Future<Output = Result<u64>> + Send {
        (**self).reserve_status_indices(count)
    }
}
