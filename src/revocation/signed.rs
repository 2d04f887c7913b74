//! The signed feed: snapshots and deltas signed with the issuer's signing key, checked by
//! verifiers against the key set they already hold.
//!
//! A feed is a compact JWS (`typ: tidepass-revocations`, `kid` always set) whose payload is the
//! issue time (8 bytes, big-endian Unix seconds), the issuer identifier it belongs to (its
//! length in 2 bytes, big-endian, then its UTF-8), then the binary encoding
//! ([`Changes::encode`]). The issuer binds the feed to its log: one issuer has one log, so
//! two logs under one signing key (two tenants, staging and production) are told apart, and
//! the other log's genuine current feed is refused ([`ErrorKind::InvalidIssuer`]) instead of
//! counting as a sync.
//!
//! The issuer field came in with this layout: a verifier of the earlier layout refuses these
//! feeds as malformed and fails closed once it goes stale, and a current verifier refuses the
//! earlier layout. Upgrade the auth service and the verifiers that follow it within one
//! `max_staleness` (or raise it for the switch).
//!
//! A forged snapshot (say, epoch 0 at a version near `u64::MAX`, which would freeze an
//! unsigned verifier's list) does not verify; a tampered one neither; a replayed older feed is
//! refused ([`ErrorKind::FeedReplayed`]); and a list kept by signed feeds counts its age from
//! the issuer's signature time, so a replay cannot make a cut-off verifier look fresh. Nothing
//! is applied from a refused feed.

use super::{Applied, Changes, RevocationList};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{SigningKey, VerifyingKeys};
use crate::token::jws;

/// The `typ` header of a signed revocation feed.
pub const FEED_TYPE: &str = "tidepass-revocations";

impl Changes {
    /// Sign these changes with `key` as of `now` (Unix seconds): what a
    /// `GET /revocations?since=V` handler serves to verifiers that check signatures.
    /// `issuer` is the issuer identifier (the `iss` of its access tokens) whose log these
    /// changes are.
    ///
    /// # Errors
    ///
    /// As [`Changes::encode`]; [`ErrorKind::InvalidConfig`] for an issuer identifier over
    /// 65,535 bytes; a signing failure.
    pub fn sign(&self, key: &SigningKey, issuer: &str, now: u64) -> Result<String> {
        let body = self.encode()?;
        let iss_len = u16::try_from(issuer.len())
            .map_err(|_| Error::with(ErrorKind::InvalidConfig, "issuer identifier too long"))?;
        let mut payload = Vec::with_capacity(10 + issuer.len() + body.len());
        payload.extend_from_slice(&now.to_be_bytes());
        payload.extend_from_slice(&iss_len.to_be_bytes());
        payload.extend_from_slice(issuer.as_bytes());
        payload.extend_from_slice(&body);
        let header = serde_json::json!({
            "alg": key.algorithm().as_str(),
            "kid": key.kid().as_str(),
            "typ": FEED_TYPE,
        });
        key.sign_jws(header.to_string().as_bytes(), &payload)
    }

    /// Check a signed feed against `keys` and `issuer` (the identifier whose log this verifier
    /// follows) and decode it: the changes and the time the issuer signed them.
    ///
    /// # Errors
    ///
    /// The JWS refusals of [`crate::Verifier::verify_at`] (a bad or missing signature, an
    /// unknown key, a `typ` other than [`FEED_TYPE`], …); [`ErrorKind::InvalidIssuer`] for
    /// a feed of another issuer's log; [`ErrorKind::Malformed`] for a payload that is not a
    /// feed.
    pub fn verify_signed(feed: &str, keys: &VerifyingKeys, issuer: &str) -> Result<(Changes, u64)> {
        if feed.len() > super::MAX_ENCODED.saturating_mul(2) {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let policy = jws::Policy {
            require_kid: true,
            typ: Some(FEED_TYPE),
        };
        jws::verify(feed, keys, policy, |payload, _| {
            let truncated = || Error::with(ErrorKind::Malformed, "revocation feed truncated");
            let (issued_at, rest) = payload.split_first_chunk::<8>().ok_or_else(truncated)?;
            let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(truncated)?;
            let (iss, body) = rest
                .split_at_checked(usize::from(u16::from_be_bytes(*len)))
                .ok_or_else(truncated)?;
            if iss != issuer.as_bytes() {
                return Err(Error::with(
                    ErrorKind::InvalidIssuer,
                    "revocation feed of another issuer's log",
                ));
            }
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
    /// As [`Changes::verify_signed`] (a feed of another issuer than `issuer` is refused);
    /// [`ErrorKind::FeedReplayed`] for an older feed. The list is left as it was.
    pub fn apply_signed_at(
        &self,
        feed: &str,
        keys: &VerifyingKeys,
        issuer: &str,
        now: u64,
    ) -> Result<Applied> {
        self.apply_signed_versioned(feed, keys, issuer, now)
            .map(|(applied, _)| applied)
    }

    /// [`RevocationList::apply_signed_at`], also answering the feed's version.
    pub(super) fn apply_signed_versioned(
        &self,
        feed: &str,
        keys: &VerifyingKeys,
        issuer: &str,
        now: u64,
    ) -> Result<(Applied, u64)> {
        let (changes, issued_at) = Changes::verify_signed(feed, keys, issuer)?;
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
