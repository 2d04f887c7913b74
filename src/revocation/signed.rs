//! The signed feed: snapshots and deltas signed with the issuer's signing key, checked by
//! verifiers against the key set they already hold.
//!
//! A feed is a compact JWS (`typ: tidepass-revocations`, `kid` always set) whose payload is the
//! issue time (8 bytes, big-endian Unix seconds) followed by the binary encoding
//! ([`Changes::encode`]). A forged snapshot (say, epoch 0 at a version near `u64::MAX`, which
//! would freeze an unsigned verifier's list) does not verify; a tampered one neither; a
//! replayed older feed is refused ([`ErrorKind::FeedReplayed`]); and a list kept by signed
//! feeds counts its age from the issuer's signature time, so a replay cannot make a cut-off
//! verifier look fresh. Nothing is applied from a refused feed.

use super::{Applied, Changes, RevocationList};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{SigningKey, VerifyingKeys};
use crate::token::jws;

/// The `typ` header of a signed revocation feed.
pub const FEED_TYPE: &str = "tidepass-revocations";

impl Changes {
    /// Sign these changes with `key` as of `now` (Unix seconds): what a
    /// `GET /revocations?since=V` handler serves to verifiers that check signatures.
    ///
    /// # Errors
    ///
    /// As [`Changes::encode`]; a signing failure.
    pub fn sign(&self, key: &SigningKey, now: u64) -> Result<String> {
        let body = self.encode()?;
        let mut payload = Vec::with_capacity(8 + body.len());
        payload.extend_from_slice(&now.to_be_bytes());
        payload.extend_from_slice(&body);
        let header = serde_json::json!({
            "alg": key.algorithm().as_str(),
            "kid": key.kid().as_str(),
            "typ": FEED_TYPE,
        });
        key.sign_jws(header.to_string().as_bytes(), &payload)
    }

    /// Check a signed feed against `keys` and decode it: the changes and the time the issuer
    /// signed them.
    ///
    /// # Errors
    ///
    /// The JWS refusals of [`crate::Verifier::verify_at`] (a bad or missing signature, an
    /// unknown key, a `typ` other than [`FEED_TYPE`], …), or [`ErrorKind::Malformed`] for a
    /// payload that is not a feed.
    pub fn verify_signed(feed: &str, keys: &VerifyingKeys) -> Result<(Changes, u64)> {
        if feed.len() > super::MAX_ENCODED.saturating_mul(2) {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let policy = jws::Policy {
            require_kid: true,
            typ: Some(FEED_TYPE),
        };
        jws::verify(feed, keys, policy, |payload, _| {
            let (issued_at, body) = payload.split_first_chunk::<8>().ok_or(Error::with(
                ErrorKind::Malformed,
                "revocation feed truncated",
            ))?;
            Ok((Changes::decode(body)?, u64::from_be_bytes(*issued_at)))
        })
    }
}

impl RevocationList {
    /// Apply a signed feed: checked against `keys` first; refused when it was signed before the
    /// newest feed this list has applied (a replay), or more than five minutes in the future.
    /// The list's sync time becomes the feed's signature time.
    ///
    /// # Errors
    ///
    /// As [`Changes::verify_signed`]; [`ErrorKind::FeedReplayed`] for an older feed. The list
    /// is left as it was.
    pub fn apply_signed_at(&self, feed: &str, keys: &VerifyingKeys, now: u64) -> Result<Applied> {
        self.apply_signed_versioned(feed, keys, now)
            .map(|(applied, _)| applied)
    }

    /// [`RevocationList::apply_signed_at`], also answering the feed's version.
    pub(super) fn apply_signed_versioned(
        &self,
        feed: &str,
        keys: &VerifyingKeys,
        now: u64,
    ) -> Result<(Applied, u64)> {
        let (changes, issued_at) = Changes::verify_signed(feed, keys)?;
        if issued_at > now.saturating_add(crate::verify::MAX_LEEWAY) {
            return Err(Error::with(
                ErrorKind::FeedReplayed,
                "revocation feed signed in the future",
            ));
        }
        if issued_at < self.synced_at() {
            return Err(Error::with(
                ErrorKind::FeedReplayed,
                "revocation feed older than the one applied",
            ));
        }
        let version = changes.version();
        Ok((self.apply_marked(changes, now, issued_at), version))
    }
}
