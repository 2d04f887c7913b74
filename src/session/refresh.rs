//! The opaque refresh-token format.
//!
//! `tprt_` + base64url(version ‖ secret id ‖ session id ‖ generation ‖ tag), where
//! tag = HMAC-SHA256(refresh secret[secret id], domain ‖ version ‖ secret id ‖ session id ‖
//! generation). Nothing secret is stored anywhere: the store keeps the session's generation,
//! and the token for any generation can be recomputed by the issuer (which is what lets honest
//! concurrent refreshes receive the *identical* child token).
//!
//! The tag is checked in constant time before any store access, so guessed, mangled, truncated
//! or foreign tokens never reach the store.

use std::fmt;

use crate::backend::hmac;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::crypto;
use crate::session::SessionId;

/// Every refresh token starts with this.
pub const PREFIX: &str = "tprt_";
const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"tidepass refresh token\0";
/// version(1) + secret id(1) + sid(16) + generation(8) + tag(32).
const RAW_LEN: usize = 58;
/// The signed part: version, secret id, sid (16 bytes), generation (8 bytes).
const BODY_LEN: usize = 26;
/// The encoded length of every refresh token: prefix + 78 base64url characters.
pub const TOKEN_LEN: usize = PREFIX.len() + 78;

/// A refresh token: a bearer credential. `Debug` prints `[redacted]`; the string zeroizes on
/// drop; no `Clone`, `Display` or `Serialize`.
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// The token, to hand to the client (a JSON body or an HttpOnly cookie).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

impl PartialEq for RefreshToken {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for RefreshToken {}

/// The versioned secrets refresh tokens are authenticated with.
///
/// Tokens carry the id of the secret that made them. [`RefreshSecrets::rotate_to`] makes a new
/// secret current while older ones keep verifying the tokens of sessions still alive; drop an
/// old secret with [`RefreshSecrets::retire`] once those sessions have ended (at the latest
/// after the absolute session lifetime).
pub struct RefreshSecrets {
    keys: Vec<(u8, hmac::Key)>,
    current: u8,
}

impl fmt::Debug for RefreshSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("RefreshSecrets")
            .field("ids", &ids)
            .field("current", &self.current)
            .field("keys", &"[redacted]")
            .finish()
    }
}

const MIN_SECRET: usize = 32;

impl RefreshSecrets {
    /// One fresh random 32-byte secret with id 1. Tokens die with the process: use
    /// [`RefreshSecrets::from_secret`] with a stored secret where sessions must survive a
    /// restart.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Random`] if the system RNG fails.
    pub fn generate() -> Result<Self> {
        let mut secret = Zeroizing::new([0u8; 32]);
        crypto::fill_random(&mut secret[..])?;
        Self::from_secret(1, &secret[..])
    }

    /// A single secret (at least 32 bytes) with the given id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] for a secret shorter than 32 bytes.
    pub fn from_secret(id: u8, secret: &[u8]) -> Result<Self> {
        Ok(Self {
            keys: vec![(id, Self::key(secret)?)],
            current: id,
        })
    }

    fn key(secret: &[u8]) -> Result<hmac::Key> {
        if secret.len() < MIN_SECRET {
            return Err(Error::with(
                ErrorKind::WeakKey,
                "refresh secret shorter than 32 bytes",
            ));
        }
        Ok(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// Add `secret` as `id` and make it current. Tokens of other ids keep verifying.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] for a short secret; [`ErrorKind::InvalidConfig`] if `id` exists.
    pub fn rotate_to(&mut self, id: u8, secret: &[u8]) -> Result<()> {
        if self.keys.iter().any(|(i, _)| *i == id) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "refresh secret id already used",
            ));
        }
        self.keys.push((id, Self::key(secret)?));
        self.current = id;
        Ok(())
    }

    /// Forget secret `id`: tokens made with it stop verifying.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when `id` is the current secret.
    pub fn retire(&mut self, id: u8) -> Result<()> {
        if id == self.current {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "cannot retire the current secret",
            ));
        }
        self.keys.retain(|(i, _)| *i != id);
        Ok(())
    }

    /// A copy for copy-on-write updates inside the issuer (ring's keys clone their state).
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            current: self.current,
        }
    }

    /// The id new tokens are made with.
    pub fn current(&self) -> u8 {
        self.current
    }

    fn get(&self, id: u8) -> Option<&hmac::Key> {
        self.keys.iter().find(|(i, _)| *i == id).map(|(_, k)| k)
    }

    /// Make the token for (`sid`, `generation`) under secret `id`. The issuer does this; it is
    /// public so tests and tools can build tokens for known sessions.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when this set holds no secret `id`.
    pub fn encode(&self, id: u8, sid: &SessionId, generation: u64) -> Result<RefreshToken> {
        let key = self.get(id).ok_or(Error::with(
            ErrorKind::InvalidConfig,
            "unknown refresh secret id",
        ))?;
        let mut body = [0u8; BODY_LEN];
        let (head, generation_bytes) = body.split_at_mut(18);
        let (version_id, sid_bytes) = head.split_at_mut(2);
        version_id.copy_from_slice(&[VERSION, id]);
        sid_bytes.copy_from_slice(sid.as_bytes());
        generation_bytes.copy_from_slice(&generation.to_be_bytes());
        let tag = tag(key, &body);
        let mut raw = Zeroizing::new(Vec::with_capacity(RAW_LEN));
        raw.extend_from_slice(&body);
        raw.extend_from_slice(tag.as_ref());
        let mut out = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        out.push_str(PREFIX);
        {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&raw[..], &mut out);
        }
        Ok(RefreshToken(out))
    }

    /// Parse and authenticate a presented token, without any store access. The issuer does
    /// this first on every refresh; it is public for introspection endpoints and tests.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRefreshToken`] for anything but an authentic token of a secret this
    /// set holds.
    pub fn parse(&self, token: &str) -> Result<Presented> {
        let invalid = || Error::new(ErrorKind::InvalidRefreshToken);
        let body = token
            .strip_prefix(PREFIX)
            .filter(|_| token.len() == TOKEN_LEN)
            .ok_or_else(invalid)?;
        let mut raw = Zeroizing::new([0u8; RAW_LEN + 3]);
        let n = crate::token::b64::decode(body.as_bytes(), &mut raw[..]).ok_or_else(invalid)?;
        // version ‖ secret id ‖ sid (16) ‖ generation (8) ‖ tag, each field checked out.
        let raw = raw
            .get(..n)
            .filter(|r| r.len() == RAW_LEN)
            .ok_or_else(invalid)?;
        let (signed, tag) = raw.split_first_chunk::<BODY_LEN>().ok_or_else(invalid)?;
        let [version, secret_id, rest @ ..] = signed;
        let (sid, generation) = rest.split_first_chunk::<16>().ok_or_else(invalid)?;
        let generation: [u8; 8] = generation.try_into().map_err(|_| invalid())?;
        if *version != VERSION {
            return Err(invalid());
        }
        let key = self.get(*secret_id).ok_or_else(invalid)?;
        hmac::verify(key, &tag_input(signed), tag).map_err(|_| invalid())?;
        Ok(Presented {
            secret_id: *secret_id,
            sid: SessionId::from_bytes(*sid),
            generation: u64::from_be_bytes(generation),
        })
    }
}

/// domain ‖ version ‖ secret id ‖ sid ‖ generation, on the stack.
fn tag_input(body: &[u8; BODY_LEN]) -> [u8; DOMAIN.len() + BODY_LEN] {
    let mut input = [0u8; DOMAIN.len() + BODY_LEN];
    let (domain, rest) = input.split_at_mut(DOMAIN.len());
    domain.copy_from_slice(DOMAIN);
    rest.copy_from_slice(body);
    input
}

fn tag(key: &hmac::Key, body: &[u8; BODY_LEN]) -> hmac::Tag {
    hmac::sign(key, &tag_input(body))
}

/// An authenticated refresh token's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented {
    /// The refresh secret it was made with.
    pub secret_id: u8,
    /// Its session.
    pub sid: SessionId,
    /// Its generation.
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> RefreshSecrets {
        RefreshSecrets::from_secret(1, &[9u8; 32]).expect("secret")
    }

    #[test]
    fn round_trip_and_shape() {
        let s = secrets();
        let sid = SessionId::from_bytes([3u8; 16]);
        let t = s.encode(1, &sid, 42).expect("encode");
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert!(t.expose().starts_with(PREFIX));
        assert_eq!(
            s.parse(t.expose()).expect("parse"),
            Presented {
                secret_id: 1,
                sid,
                generation: 42
            }
        );
        assert_eq!(format!("{t:?}"), "RefreshToken([redacted])");
        // Deterministic: the same (sid, generation) gives the same token.
        assert_eq!(s.encode(1, &sid, 42).expect("again"), t);
    }

    #[test]
    fn every_single_character_change_is_refused() {
        let s = secrets();
        let t = s
            .encode(1, &SessionId::from_bytes([7u8; 16]), 1)
            .expect("encode");
        let text = t.expose().to_owned();
        for i in 0..text.len() {
            for c in [b'A', b'z', b'_', b'0', b'.', b'='] {
                let mut b = text.clone().into_bytes();
                if b[i] == c {
                    continue;
                }
                b[i] = c;
                let m = String::from_utf8(b).expect("ascii");
                assert_eq!(
                    s.parse(&m).map_err(|e| e.kind()).err(),
                    Some(ErrorKind::InvalidRefreshToken),
                    "{i}"
                );
            }
        }
        for bad in [
            "",
            "tprt_",
            "tprt_AAAA",
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text[5..],
        ] {
            assert_eq!(
                s.parse(bad).map_err(|e| e.kind()).err(),
                Some(ErrorKind::InvalidRefreshToken)
            );
        }
    }

    #[test]
    fn secret_rotation_keeps_old_tokens_until_retired() {
        let mut s = secrets();
        let sid = SessionId::from_bytes([5u8; 16]);
        let old = s.encode(1, &sid, 1).expect("old");
        s.rotate_to(2, &[8u8; 32]).expect("rotate");
        assert_eq!(s.current(), 2);
        assert!(s.parse(old.expose()).is_ok());
        let new = s.encode(2, &sid, 1).expect("new");
        assert_ne!(new, old);
        s.retire(1).expect("retire");
        assert!(s.parse(old.expose()).is_err());
        assert!(s.parse(new.expose()).is_ok());
        assert!(s.retire(2).is_err(), "the current secret stays");
        // A foreign issuer's token (another secret, same id) is refused.
        let foreign = RefreshSecrets::from_secret(2, &[1u8; 32])
            .expect("f")
            .encode(2, &sid, 1)
            .expect("t");
        assert!(s.parse(foreign.expose()).is_err());
        assert_eq!(
            RefreshSecrets::from_secret(1, &[0u8; 31])
                .err()
                .map(|e| e.kind()),
            Some(ErrorKind::WeakKey)
        );
    }
}
