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

/// At most this many lists are followed (a million sessions each).
const MAX_LISTS: usize = 1024;
/// How often the aggregation is read again when nothing asks for it sooner.
const RELIST_EVERY: u64 = 60;

/// What one follower knows of the issuer's lists between rounds.
#[derive(Debug)]
pub(super) struct Lists {
    pub(super) aggregation: String,
    /// The issuer's scheme: lists are fetched over it only (`https`, or `http` for an `http`
    /// issuer).
    pub(super) scheme: &'static str,
    known: Vec<String>,
    listed_at: u64,
}

#[derive(Deserialize)]
struct Aggregation {
    status_lists: Vec<String>,
}

impl Lists {
    pub(super) fn new(aggregation: String, issuer: &str) -> Self {
        Self {
            aggregation,
            scheme: if issuer.starts_with("http://") {
                "http://"
            } else {
                "https://"
            },
            known: Vec::new(),
            listed_at: 0,
        }
    }

    /// One round at `now`: read the aggregation when first asked, every minute, or when a
    /// token named a list it did not list; then fetch every list that is due (its `ttl` run
    /// out), new, or wanted by a token. A list that fails to fetch or verify is kept as it was
    /// (until its `exp`, after which tokens on it are stale) and the error is returned after
    /// the others were tried.
    pub(super) async fn round<C: DeserializeOwned + Send + Sync + 'static>(
        &mut self,
        fetch: &Fetch,
        held: &HeldLists,
        verifier: &Verifier<C>,
        now: u64,
    ) -> Result<()> {
        let wanted: HashSet<String> = held.take_wanted().into_iter().collect();
        let unlisted = wanted.iter().any(|w| !self.known.contains(w));
        if self.known.is_empty() || unlisted || now >= self.listed_at.saturating_add(RELIST_EVERY) {
            let (body, _) = fetch.get(&self.aggregation, "application/json").await?;
            let agg: Aggregation = serde_json::from_str(&body).map_err(|_| {
                Error::with(
                    ErrorKind::InvalidMetadata,
                    "the status list aggregation is not {\"status_lists\": [...]}",
                )
            })?;
            if agg.status_lists.len() > MAX_LISTS
                || agg
                    .status_lists
                    .iter()
                    .any(|u| !u.starts_with(self.scheme) || u.parse::<http::Uri>().is_err())
            {
                return Err(Error::with(
                    ErrorKind::InvalidMetadata,
                    "the status list aggregation names too many lists, or a URL not of the issuer's scheme",
                ));
            }
            for gone in held.uris().iter().filter(|u| !agg.status_lists.contains(u)) {
                held.remove(gone);
            }
            self.known = agg.status_lists;
            self.listed_at = now;
        }
        let keys = verifier.keys();
        let mut failed = None;
        for uri in &self.known {
            let due = held.get(uri).is_none_or(|h| now >= h.due_at()) || wanted.contains(uri);
            if !due {
                continue;
            }
            let got = async {
                let (jwt, _) = fetch.get(uri, MEDIA_TYPE).await?;
                token::verify(&jwt, &keys, uri, now)
            };
            match got.await {
                Ok(list) => held.put(uri, list, now),
                Err(e) => failed = Some(e),
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
