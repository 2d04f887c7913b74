//! The follower's Token Status Lists: the issuer's aggregation read for the lists' URIs, each
//! list fetched, verified against the followed JWKS and held until its `ttl` runs out.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Fetch;
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::status_list::HeldLists;
use crate::revocation::status_list::token::{self, MEDIA_TYPE};
use crate::verify::Verifier;

/// The most lists an aggregation may name (a million sessions each).
const MAX_LISTS: usize = 1 << 16;
/// How often the aggregation is read again when nothing asks for it sooner.
const RELIST_EVERY: u64 = 60;
/// The newest lists are fetched before any token asks for them (new sessions land there).
const PREFETCH: usize = 4;
/// A held list no token was checked against for this long is dropped (unless among the
/// newest): a verifier holds the lists its traffic uses, not every list ever published.
const KEEP_UNUSED: u64 = 600;

/// What one follower knows of the issuer's lists between rounds.
#[derive(Debug)]
pub(super) struct Lists {
    aggregation: String,
    /// The issuer's scheme: lists are fetched over it only (`https`, or `http` for an `http`
    /// issuer).
    scheme: &'static str,
    /// The verifier's `max_staleness`: a list is fetched again by half of it at the latest.
    max_age: u64,
    known: Vec<String>,
    listed_at: u64,
}

#[derive(Deserialize)]
struct Aggregation {
    status_lists: Vec<String>,
}

impl Lists {
    pub(super) fn new(aggregation: String, issuer: &str, max_age: u64) -> Self {
        Self {
            aggregation,
            scheme: if issuer.starts_with("http://") {
                "http://"
            } else {
                "https://"
            },
            max_age,
            known: Vec::new(),
            listed_at: 0,
        }
    }

    /// Read the aggregation: the URIs of the issuer's lists.
    async fn list(&self, fetch: &Fetch) -> Result<Vec<String>> {
        let (body, _) = fetch.get(&self.aggregation, "application/json").await?;
        let agg: Aggregation = serde_json::from_str(&body).map_err(|_| {
            Error::with(
                ErrorKind::InvalidMetadata,
                "the status list aggregation is not {\"status_lists\": [...]}",
            )
        })?;
        if agg.status_lists.len() > MAX_LISTS
            || agg.status_lists.iter().any(|u| {
                !u.starts_with(self.scheme) || u.contains('@') || u.parse::<http::Uri>().is_err()
            })
        {
            return Err(Error::with(
                ErrorKind::InvalidMetadata,
                "the status list aggregation names too many lists, or a URL not of the \
                 issuer's scheme",
            ));
        }
        Ok(agg.status_lists)
    }

    /// One round at `now`: read the aggregation when first asked, every minute, or when a
    /// token named a list it did not list; then fetch each list that is due (its `ttl` run
    /// out, or half the verifier's `max_staleness`), among those the verifier needs: the
    /// newest few, those tokens were checked against lately, and those tokens asked for. Only
    /// URIs the aggregation names are fetched. A list that fails to fetch or verify is kept as
    /// it was (tokens on it turn stale once it is too old); the first error is returned after
    /// everything else was tried.
    pub(super) async fn round<C: DeserializeOwned + Send + Sync + 'static>(
        &mut self,
        fetch: &Fetch,
        held: &HeldLists,
        verifier: &Verifier<C>,
        now: u64,
    ) -> Result<()> {
        let mut failed = None;
        let wanted: HashSet<String> = held.take_wanted().into_iter().collect();
        let unlisted = wanted.iter().any(|w| !self.known.contains(w));
        if self.known.is_empty() || unlisted || now >= self.listed_at.saturating_add(RELIST_EVERY) {
            match self.list(fetch).await {
                Ok(known) => {
                    self.known = known;
                    self.listed_at = now;
                }
                Err(e) => failed = Some(e),
            }
        }
        let newest: HashSet<&String> = self.known.iter().rev().take(PREFETCH).collect();
        let used = |uri: &str| {
            held.get(uri)
                .is_some_and(|h| now < h.used_at().saturating_add(KEEP_UNUSED))
        };
        for uri in held.uris() {
            if !newest.contains(&uri) && !used(&uri) {
                held.remove(&uri);
            }
        }
        let keys = verifier.keys();
        for uri in &self.known {
            let wants = wanted.contains(uri);
            if !(wants || newest.contains(uri) || used(uri)) {
                continue;
            }
            let due = held.get(uri).is_none_or(|h| {
                let by = h.verified.issued_at.saturating_add(self.max_age / 2);
                now >= h.due_at().min(by)
            });
            if !(due || wants) {
                continue;
            }
            let got = async {
                let (jwt, _) = fetch.get(uri, MEDIA_TYPE).await?;
                token::verify(&jwt, &keys, uri, now)
            };
            match got.await {
                Ok(list) => held.put(uri, list, now),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
