//! The verifier's side: the Status List Tokens it holds, by URI, and the check of a token's
//! `status` against them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::{DashMap, DashSet};

use super::Status;
use super::token::VerifiedStatusList;
use crate::error::{Error, ErrorKind, Result};
use crate::token::claims::TokenStatus;

/// The status lists a verifier holds, by URI, each verified ([`super::token::verify`]) before
/// it is put here. [`HeldLists::check`] answers for a token's `status` claim without I/O; what
/// fills and refreshes it is the follower's job
/// ([`FollowerBuilder::status_lists`](crate::verify::follow::FollowerBuilder::status_lists)),
/// or yours.
///
/// A token whose list is not held, or whose held list has passed its `exp` or is older (by its
/// `iat`) than the verifier's `max_staleness`, is refused with [`ErrorKind::RevocationsStale`]
/// (fail closed, as a native list past its staleness bound), and its URI is remembered as
/// wanted so the follower fetches it at once.
#[derive(Debug, Default)]
pub struct HeldLists {
    lists: DashMap<String, Arc<Held>>,
    wanted: DashSet<String>,
}

/// One held list.
#[derive(Debug)]
pub struct Held {
    /// The list as verified.
    pub verified: VerifiedStatusList,
    /// When it was fetched (Unix seconds).
    pub fetched_at: u64,
    /// When a token was last checked against it.
    used_at: AtomicU64,
}

impl Held {
    /// When it should be fetched again: its `ttl` (a minute without one) after it was issued,
    /// or after it was fetched if that is earlier (a clock ahead of ours).
    pub fn due_at(&self) -> u64 {
        self.fetched_at
            .min(self.verified.issued_at)
            .saturating_add(self.verified.ttl.unwrap_or(60))
    }

    /// When a token was last checked against it (its fetch, if never).
    pub fn used_at(&self) -> u64 {
        self.used_at.load(Ordering::Relaxed)
    }
}

impl HeldLists {
    /// Nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hold `list` as the one at `uri`, fetched at `now` (replacing an older one). A list
    /// issued before the one held is ignored (an out-of-order answer never goes back).
    pub fn put(&self, uri: &str, list: VerifiedStatusList, now: u64) {
        self.wanted.remove(uri);
        let newer = self
            .lists
            .get(uri)
            .is_none_or(|h| h.verified.issued_at <= list.issued_at);
        if newer {
            self.lists.insert(
                uri.to_owned(),
                Arc::new(Held {
                    verified: list,
                    fetched_at: now,
                    used_at: AtomicU64::new(now),
                }),
            );
        }
    }

    /// The list held for `uri`.
    pub fn get(&self, uri: &str) -> Option<Arc<Held>> {
        self.lists.get(uri).map(|h| h.clone())
    }

    /// The URIs held.
    pub fn uris(&self) -> Vec<String> {
        self.lists.iter().map(|e| e.key().clone()).collect()
    }

    /// URIs tokens pointed at that are not held (and forget them).
    pub fn take_wanted(&self) -> Vec<String> {
        let w: Vec<String> = self.wanted.iter().map(|u| u.clone()).collect();
        for u in &w {
            self.wanted.remove(u);
        }
        w
    }

    /// Drop the list at `uri` (the issuer no longer publishes it).
    pub fn remove(&self, uri: &str) {
        self.lists.remove(uri);
    }

    /// Check a token's entry at `now` against a list issued no more than `max_age` seconds
    /// ago: VALID passes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Revoked`] for any other status; [`ErrorKind::RevocationsStale`] when the
    /// list is not held, has expired, is older than `max_age`, or is too short to have the
    /// entry (a list older than the token).
    pub fn check(&self, status: &TokenStatus, now: u64, max_age: u64) -> Result<()> {
        let Some(held) = self.lists.get(status.uri.as_str()) else {
            if self.wanted.len() < 1024 {
                self.wanted.insert(status.uri.to_string());
            }
            return Err(Error::with(
                ErrorKind::RevocationsStale,
                "the token's status list is not held yet",
            ));
        };
        if held.verified.expires_at.is_some_and(|exp| now >= exp)
            || now.saturating_sub(held.verified.issued_at) > max_age
        {
            return Err(Error::with(
                ErrorKind::RevocationsStale,
                "the token's status list has expired or is too old",
            ));
        }
        // One store a second per list at most: the check stays read-only in between.
        if held.used_at.load(Ordering::Relaxed) != now {
            held.used_at.store(now, Ordering::Relaxed);
        }
        match usize::try_from(status.idx)
            .ok()
            .and_then(|i| held.verified.list.get(i))
        {
            Some(Status::VALID) => Ok(()),
            Some(_) => Err(Error::new(ErrorKind::Revoked)),
            None => Err(Error::with(
                ErrorKind::RevocationsStale,
                "the token's index is beyond its status list",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Bits, StatusList};
    use super::*;

    fn verified(issued_at: u64, exp: u64, revoked: &[usize]) -> VerifiedStatusList {
        let mut list = StatusList::new(Bits::One, 16).expect("list");
        for &i in revoked {
            list.set(i, Status::INVALID).expect("set");
        }
        VerifiedStatusList {
            list,
            issued_at,
            expires_at: Some(exp),
            ttl: Some(10),
        }
    }

    #[test]
    fn a_token_is_checked_against_the_newest_list_until_it_expires() {
        let held = HeldLists::new();
        let at = |idx| TokenStatus::new(idx, "https://a/s/0");
        let kind = |r: Result<()>| r.err().map(|e| e.kind());
        assert_eq!(
            kind(held.check(&at(1), 100, 300)),
            Some(ErrorKind::RevocationsStale)
        );
        assert_eq!(
            held.take_wanted(),
            vec!["https://a/s/0".to_owned()],
            "asked for"
        );
        assert!(held.take_wanted().is_empty(), "once");
        held.put("https://a/s/0", verified(100, 200, &[3]), 100);
        assert_eq!(held.get("https://a/s/0").map(|h| h.due_at()), Some(110));
        assert_eq!(
            kind(held.check(&at(1), 150, 40)),
            Some(ErrorKind::RevocationsStale),
            "issued longer ago than max_staleness"
        );
        assert_eq!(kind(held.check(&at(1), 150, 300)), None);
        assert_eq!(kind(held.check(&at(3), 150, 300)), Some(ErrorKind::Revoked));
        assert_eq!(
            kind(held.check(&at(16), 150, 300)),
            Some(ErrorKind::RevocationsStale),
            "beyond the list"
        );
        assert_eq!(
            kind(held.check(&at(1), 200, 300)),
            Some(ErrorKind::RevocationsStale),
            "expired"
        );
        // An older answer arriving late never replaces a newer list.
        held.put("https://a/s/0", verified(90, 300, &[]), 120);
        assert_eq!(kind(held.check(&at(3), 150, 300)), Some(ErrorKind::Revoked));
        held.put("https://a/s/0", verified(130, 300, &[]), 130);
        assert_eq!(kind(held.check(&at(3), 150, 300)), None);
        held.remove("https://a/s/0");
        assert!(held.uris().is_empty());
    }
}
