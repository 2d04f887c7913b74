//! The compact binary encoding of snapshots and deltas.

use super::{Changes, Delta, Entry, Snapshot, Target};
use crate::error::{Error, ErrorKind, Result};

const MAGIC: &[u8; 4] = b"TPRL";
/// 3: the history fingerprints (`base`, `head`) joined the header.
const FORMAT: u8 = 3;
pub(super) const HEADER: usize = 4 + 1 + 1 + 8 + 8 + 8 + 8 + 8 + 8 + 4 * 3;
pub(super) const TRAILER: usize = 8;
/// Refuse encodings larger than this (64 M entries' worth would be far beyond any real list).
pub const MAX_ENCODED: usize = 256 << 20;

impl Changes {
    /// The version a receiver at `since` can be brought up from with a delta, for a log that
    /// still covers every version after `floor` and is at `version`; `None`: it needs a
    /// snapshot. The rule every store applies.
    pub fn delta_base(since: Option<u64>, floor: u64, version: u64) -> Option<u64> {
        since.filter(|v| *v >= floor && *v <= version)
    }

    /// A delta from `from` (whose history fingerprint is `base`), or a snapshot when `from`
    /// is `None`, of log `epoch` at `version` (fingerprint `head`).
    pub fn from_log(
        epoch: u64,
        from: Option<(u64, u64)>,
        version: u64,
        head: u64,
        entries: Vec<Entry>,
    ) -> Self {
        match from {
            Some((from, base)) => Changes::Delta(Delta {
                epoch,
                from,
                to: version,
                base,
                head,
                entries,
            }),
            None => Changes::Snapshot(Snapshot {
                epoch,
                version,
                head,
                entries,
            }),
        }
    }

    /// The compact binary form: a 66-byte header, then the entries grouped by target — 20 bytes
    /// per token or session entry (16-byte id, 4-byte expiry offset), 24 per subject entry —
    /// then an 8-byte SHA-256 prefix over everything before it.
    ///
    /// The header, big-endian: `TPRL`, format byte 3, kind (0 snapshot, 1 delta), then u64s
    /// epoch, from (0 for a snapshot), to, base fingerprint (0 for a snapshot), head
    /// fingerprint, the time base (the earliest time among the entries; offsets count from
    /// it), then three u32 counts (token, session, subject entries). A subject entry's extra
    /// 4 bytes are its `before` offset. `tests/data/revocations/encode.py` is an encoder
    /// written from this description.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when an expiry lies more than 2³² seconds after the
    /// earliest one (not a real list).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let (kind, epoch, from, to, heads, entries) = match self {
            Changes::Snapshot(s) => (0u8, s.epoch, 0, s.version, [0, s.head], &s.entries),
            Changes::Delta(d) => (1u8, d.epoch, d.from, d.to, [d.base, d.head], &d.entries),
        };
        let base = entries
            .iter()
            .map(|e| {
                if e.target == Target::Subject {
                    e.expires.min(e.before)
                } else {
                    e.expires
                }
            })
            .min()
            .unwrap_or(0);
        let groups = [Target::Token, Target::Session, Target::Subject]
            .map(|t| entries.iter().filter(move |e| e.target == t));
        let counts = [Target::Token, Target::Session, Target::Subject]
            .map(|t| entries.iter().filter(|e| e.target == t).count());
        let mut out = Vec::with_capacity(HEADER + entries.len() * 24 + TRAILER);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.push(kind);
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&from.to_be_bytes());
        out.extend_from_slice(&to.to_be_bytes());
        for h in heads {
            out.extend_from_slice(&h.to_be_bytes());
        }
        out.extend_from_slice(&base.to_be_bytes());
        for c in counts {
            let c = u32::try_from(c)
                .map_err(|_| Error::with(ErrorKind::InvalidConfig, "too many entries"))?;
            out.extend_from_slice(&c.to_be_bytes());
        }
        let offset = |t: u64| {
            u32::try_from(t.saturating_sub(base))
                .map_err(|_| Error::with(ErrorKind::InvalidConfig, "entry times span over 2^32 s"))
        };
        for (i, group) in groups.into_iter().enumerate() {
            for e in group {
                out.extend_from_slice(&e.id.to_be_bytes());
                out.extend_from_slice(&offset(e.expires)?.to_be_bytes());
                if i == 2 {
                    out.extend_from_slice(&offset(e.before)?.to_be_bytes());
                }
            }
        }
        let digest = crate::backend::digest::digest(&crate::backend::digest::SHA256, &out);
        out.extend_from_slice(
            digest
                .as_ref()
                .first_chunk::<TRAILER>()
                .unwrap_or(&[0; TRAILER]),
        );
        Ok(out)
    }

    /// Decode the binary form. Every length is checked before use, the checksum before
    /// anything is returned; nothing is applied anywhere by decoding.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Malformed`] for a truncated, corrupt or hostile encoding;
    /// [`ErrorKind::TooLarge`] over [`MAX_ENCODED`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |d: &'static str| Error::with(ErrorKind::Malformed, d);
        if bytes.len() > MAX_ENCODED {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        let (body, sum) = bytes
            .split_last_chunk::<TRAILER>()
            .filter(|(body, _)| body.len() >= HEADER)
            .ok_or_else(|| bad("revocation data truncated"))?;
        let digest = crate::backend::digest::digest(&crate::backend::digest::SHA256, body);
        if !digest.as_ref().starts_with(sum) {
            return Err(bad("revocation data checksum mismatch"));
        }
        let mut r = Reader(body);
        let truncated = || bad("revocation data truncated");
        if r.take::<4>().ok_or_else(truncated)? != *MAGIC || r.byte() != Some(FORMAT) {
            return Err(bad("not tidepass revocation data (or a newer format)"));
        }
        let kind = r.byte().ok_or_else(truncated)?;
        let mut fields = [0u64; 6];
        for f in &mut fields {
            *f = r.u64().ok_or_else(truncated)?;
        }
        let [epoch, from, to, base_head, head, base] = fields;
        let mut counts = [0usize; 3];
        for c in &mut counts {
            *c = r.u32().ok_or_else(truncated)? as usize;
        }
        let [tokens, sessions, subjects] = counts;
        let need = tokens
            .checked_add(sessions)
            .and_then(|n| n.checked_mul(20))
            .and_then(|n| n.checked_add(subjects.checked_mul(24)?))
            .and_then(|n| n.checked_add(HEADER))
            .ok_or_else(|| bad("revocation counts overflow"))?;
        if need != body.len() {
            return Err(bad("revocation data length does not match its counts"));
        }
        let mut entries = Vec::with_capacity(tokens + sessions + subjects);
        for (count, target) in
            counts
                .into_iter()
                .zip([Target::Token, Target::Session, Target::Subject])
        {
            for _ in 0..count {
                let id = r
                    .take::<16>()
                    .map(u128::from_be_bytes)
                    .ok_or_else(truncated)?;
                let offset = |v: Option<u32>| v.map(|o| base.saturating_add(u64::from(o)));
                let expires = offset(r.u32()).ok_or_else(truncated)?;
                let before = if target == Target::Subject {
                    offset(r.u32()).ok_or_else(truncated)?
                } else {
                    0
                };
                entries.push(Entry {
                    target,
                    id,
                    before,
                    expires,
                });
            }
        }
        match kind {
            0 if from == 0 && base_head == 0 => Ok(Changes::Snapshot(Snapshot {
                epoch,
                version: to,
                head,
                entries,
            })),
            // from == to: an up-to-date receiver asked, and nothing happened since.
            1 if from <= to => Ok(Changes::Delta(Delta {
                epoch,
                from,
                to,
                base: base_head,
                head,
                entries,
            })),
            _ => Err(bad(
                "revocation data has an impossible kind or version range",
            )),
        }
    }
}

/// Reads fixed-size fields off the front of a byte string, checked: `None` past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
}
