//! The compact revocation list every verifier holds, and its distribution.
//!
//! Access tokens are verified statelessly, so a logout reaches a microservice only through a
//! list it holds locally. Entries are keyed by 128-bit ids:
//!
//! - a token id (`jti`; UUIDs are read as their 128 bits, other strings hashed),
//! - a session id (`sid`: every access token of the session),
//! - a subject watermark (every token of `sub` issued at or before a moment).
//!
//! The three are separate id spaces: a `jti` equal to some session's id revokes one token,
//! never that session.
//!
//! Each entry expires when the last token it can match has expired, so the list's size depends
//! on the revocation rate within one access-token lifetime, not on history.
//!
//! The issuer side keeps a versioned log ([`crate::store::SessionStore`] holds it, so several
//! auth-service instances share it) and serves [`Snapshot`]s and [`Delta`]s in a compact
//! binary encoding ([`Changes::encode`]; JSON through serde for people). A verifier's
//! [`RevocationList`] applies them in any order of arrival, idempotently, and reports a gap
//! (then it needs a snapshot). A [`Syncer`] keeps a list in step by polling a fetch function
//! the application supplies.
//!
//! Lookups are lock-free: a blocked Bloom filter (one cache line per query) answers "not
//! revoked" for almost every token without touching the sorted id arrays behind it.

use serde::{Deserialize, Serialize};

mod codec;
mod list;
mod log;
mod signed;
#[cfg(feature = "status-list")]
#[cfg_attr(docsrs, doc(cfg(feature = "status-list")))]
pub mod status_list;
mod sync;

pub use codec::MAX_ENCODED;
pub use list::{Applied, RevocationList};
pub use log::{Log, chain, new_epoch};
pub use signed::FEED_TYPE;
pub use sync::Syncer;

/// What an entry revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One token, by `jti`.
    Token,
    /// Every token of one session, by `sid`.
    Session,
    /// Every token of one subject issued at or before `before` (`iat <= before`).
    Subject,
}

impl Target {
    /// A stable small number for storage formats.
    pub fn code(self) -> u8 {
        match self {
            Self::Token => 0,
            Self::Session => 1,
            Self::Subject => 2,
        }
    }

    /// The inverse of [`Target::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Token),
            1 => Some(Self::Session),
            2 => Some(Self::Subject),
            _ => None,
        }
    }
}

/// One revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// What it revokes.
    pub target: Target,
    /// The 128-bit id: see [`token_id`], [`session_id`], [`subject_id`].
    #[serde(with = "hex128")]
    pub id: u128,
    /// For [`Target::Subject`]: tokens issued (`iat`) at or before this second are revoked
    /// (`iat` has one-second resolution, so the whole second counts). For
    /// [`Target::Session`]: the session's Token Status List index plus one (0: it has none),
    /// from which the issuer builds its published lists; verifiers of this list ignore it,
    /// and the binary encoding leaves it out. Zero for [`Target::Token`].
    pub before: u64,
    /// When the entry stops mattering: no token it matches is valid after this (Unix seconds).
    pub expires: u64,
}

mod hex128 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{v:032x}"))
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        if s.len() != 32 {
            return Err(serde::de::Error::custom("id must be 32 hex digits"));
        }
        u128::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
    }
}

fn hash128(domain: &[u8], value: &[u8]) -> u128 {
    let mut ctx = crate::backend::digest::Context::new(&crate::backend::digest::SHA256);
    ctx.update(domain);
    ctx.update(value);
    let d = ctx.finish();
    // SHA-256 has 32 bytes: the first 16 are always there.
    u128::from_be_bytes(d.as_ref().first_chunk::<16>().copied().unwrap_or_default())
}

/// The id of a token: a UUID `jti` (any version, hyphenated or not) is its 128 bits; any other
/// string is hashed (SHA-256, domain-separated, truncated to 128 bits).
pub fn token_id(jti: &str) -> u128 {
    parse_uuid(jti).unwrap_or_else(|| hash128(b"tidepass jti\0", jti.as_bytes()))
}

/// The id of a session: a tidepass session id is its 128 bits; any other string is hashed.
pub fn session_id(sid: &str) -> u128 {
    match sid.parse::<crate::SessionId>() {
        Ok(s) => u128::from_be_bytes(*s.as_bytes()),
        Err(_) => hash128(b"tidepass sid\0", sid.as_bytes()),
    }
}

/// The id of a subject (always hashed: subjects are not random).
pub fn subject_id(sub: &str) -> u128 {
    hash128(b"tidepass sub\0", sub.as_bytes())
}

fn parse_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let mut v: u128 = 0;
    let mut digits = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'-' && b.len() == 36 && matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
        digits += 1;
    }
    (digits == 32 && (b.len() == 32 || b.len() == 36)).then_some(v)
}

/// A full copy of the live list at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The log's identity: a random number fixed when the log was created. A verifier that
    /// sees another epoch knows the log was reset (a store restarted without its data) and
    /// starts over from this snapshot, whatever its version. Zero means unknown.
    #[serde(default)]
    pub epoch: u64,
    /// The log version this snapshot is complete up to.
    pub version: u64,
    /// The log's history fingerprint at `version` (see [`Delta::base`]); zero means unknown.
    #[serde(default)]
    pub head: u64,
    /// Every entry still live.
    pub entries: Vec<Entry>,
}

/// The entries added after `from`, up to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The log's identity (see [`Snapshot::epoch`]); a delta of another epoch is a gap.
    #[serde(default)]
    pub epoch: u64,
    /// The version the receiver must already have.
    pub from: u64,
    /// The version the receiver has after applying.
    pub to: u64,
    /// The log's history fingerprint at `from`: a hash chained over every entry the log ever
    /// appended up to `from`. A receiver at `from` whose own fingerprint differs holds a
    /// history the log no longer has (the log went back — a promoted replica, a restored
    /// backup — and was appended to again): it must resync from a snapshot
    /// ([`Applied::Diverged`]). Zero means unknown (not checked).
    #[serde(default)]
    pub base: u64,
    /// The log's history fingerprint at `to`.
    #[serde(default)]
    pub head: u64,
    /// The entries with versions in `(from, to]`.
    pub entries: Vec<Entry>,
}

/// What an issuer serves: a delta when it can, a snapshot when the receiver is too far behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Changes {
    /// A full list.
    Snapshot(Snapshot),
    /// What changed since a version.
    Delta(Delta),
}

impl Changes {
    /// The log version these changes bring a receiver to.
    pub fn version(&self) -> u64 {
        match self {
            Changes::Snapshot(s) => s.version,
            Changes::Delta(d) => d.to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::codec::{HEADER, TRAILER};
    use super::*;

    fn e(target: Target, id: u128, expires: u64) -> Entry {
        Entry {
            target,
            id,
            before: 0,
            expires,
        }
    }

    #[test]
    fn uuid_ids_are_their_bits() {
        let id = token_id("01a3185c-5000-7462-8c63-e6a54a2e40a8");
        assert_eq!(id, 0x01a3185c_5000_7462_8c63_e6a54a2e40a8);
        assert_eq!(
            token_id(
                "01a3185c50007462 8c63e6a54a2e40a8"
                    .replace(' ', "")
                    .as_str()
            ),
            id
        );
        assert_ne!(token_id("not-a-uuid"), token_id("not-a-uuid2"));
        assert_ne!(subject_id("alice"), token_id("alice"));
    }

    #[test]
    fn entries_expire_at_their_exact_second() {
        let list = RevocationList::new();
        list.apply_snapshot_at(
            Snapshot {
                head: 0,
                epoch: 0,
                version: 1,
                entries: vec![e(Target::Token, 7, 100)],
            },
            50,
        );
        assert!(list.is_revoked(7, None, 0, 0, 99));
        assert!(!list.is_revoked(7, None, 0, 0, 100));
        list.prune_at(100);
        assert!(list.is_empty(), "pruned at its expiry");
    }

    #[test]
    fn encoding_round_trips_and_refuses_corruption() {
        let c = Changes::Delta(Delta {
            base: 0,
            head: 0,
            epoch: 0,
            from: 3,
            to: 9,
            entries: vec![
                e(Target::Token, 1, 1000),
                e(Target::Session, u128::MAX, 1300),
                Entry {
                    target: Target::Subject,
                    id: 5,
                    before: 900,
                    expires: 1200,
                },
            ],
        });
        let bytes = c.encode().expect("encode");
        assert_eq!(bytes.len(), HEADER + 20 + 20 + 24 + TRAILER);
        assert_eq!(Changes::decode(&bytes).expect("decode"), c);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Changes::decode(&b).is_err(), "byte {i}");
            assert!(Changes::decode(&bytes[..i]).is_err(), "truncated at {i}");
        }
    }
}
