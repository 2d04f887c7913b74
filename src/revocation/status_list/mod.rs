//! The IETF Token Status List (draft-ietf-oauth-status-list, revisions 20 and 21, which agree
//! on everything here): a compressed array of fixed-width status entries that an issuer
//! publishes as a signed JWT, so that a verifier in any language with a JOSE library can see
//! that a token it verifies was revoked (feature `status-list`).
//!
//! This module is the format: [`StatusList`] (the entries, §4.1), its JSON encoding (`bits`
//! and `lst`, the DEFLATE-compressed bytes in a ZLIB stream, base64url, §4.2), the `status`
//! claim a referenced token carries ([`StatusClaim`], §6.1) and the Status List Token
//! ([`token`], §5.1). The draft's own examples are its test vectors (`tests/data/status_list/`).
//!
//! ```
//! use tidepass::revocation::status_list::{Bits, Status, StatusList};
//!
//! let mut list = StatusList::new(Bits::One, 16)?;
//! list.set(3, Status::INVALID)?;
//! let encoded = list.encode()?;
//! let back = StatusList::decode(encoded.bits, &encoded.lst)?;
//! assert_eq!(back.get(3), Some(Status::INVALID));
//! assert_eq!(back.get(4), Some(Status::VALID));
//! # Ok::<(), tidepass::Error>(())
//! ```

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

mod held;
pub mod token;

pub use held::{Held, HeldLists};

/// The most bytes a decoded list may hold: 16 MiB, 2^27 one-bit entries. A compressed list
/// that inflates past it is refused ([`ErrorKind::TooLarge`]), so a small hostile `lst` cannot
/// make a verifier allocate without bound.
pub const MAX_LIST_BYTES: usize = 1 << 24;

/// The longest `lst` accepted, in base64url characters: a list of [`MAX_LIST_BYTES`] that does
/// not compress at all (DEFLATE's stored blocks add 5 bytes per 65,535, ZLIB 6 more), encoded.
/// Every list [`StatusList::encode`] makes fits.
pub const MAX_LST_CHARS: usize = (MAX_LIST_BYTES + MAX_LIST_BYTES / 8192 + 64).div_ceil(3) * 4;

/// Bits per entry (§4.1: 1, 2, 4 or 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bits {
    /// Two statuses: VALID and INVALID.
    One = 1,
    /// Up to four statuses.
    Two = 2,
    /// Up to sixteen statuses.
    Four = 4,
    /// Up to 256 statuses.
    Eight = 8,
}

impl Bits {
    /// The width from its number of bits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Malformed`] for anything but 1, 2, 4 or 8.
    pub fn from_u8(bits: u8) -> Result<Self> {
        match bits {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            4 => Ok(Self::Four),
            8 => Ok(Self::Eight),
            _ => Err(Error::with(
                ErrorKind::Malformed,
                "status list bits must be 1, 2, 4 or 8",
            )),
        }
    }

    /// The number of bits.
    pub fn get(self) -> u8 {
        self as u8
    }

    fn mask(self) -> u8 {
        u8::MAX >> (8 - self.get())
    }
}

/// An entry's value (§7). The draft registers VALID, INVALID and SUSPENDED; other values are
/// the application's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(pub u8);

impl Status {
    /// 0x00: the token is valid (as far as its status goes).
    pub const VALID: Self = Self(0);
    /// 0x01: the token is revoked, for good.
    pub const INVALID: Self = Self(1);
    /// 0x02: the token is suspended, for now.
    pub const SUSPENDED: Self = Self(2);
}

/// A status list (§4.1): `len` entries of [`Bits`] each, entry `i` in the bits of byte
/// `i * bits / 8` starting from its least significant bit (the draft's bit order).
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: Bits,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusList")
            .field("bits", &self.bits.get())
            .field("len", &self.len())
            .finish()
    }
}

/// A status list's JSON form (§4.2): `{"bits": …, "lst": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedList {
    /// Bits per entry.
    pub bits: u8,
    /// The list's bytes, ZLIB-compressed (RFC 1950, DEFLATE inside), base64url without
    /// padding.
    pub lst: String,
}

impl StatusList {
    /// `len` entries, all [`Status::VALID`] (the byte array is rounded up to whole bytes).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLarge`] past [`MAX_LIST_BYTES`].
    pub fn new(bits: Bits, len: usize) -> Result<Self> {
        let bytes = len
            .checked_mul(usize::from(bits.get()))
            .map(|b| b.div_ceil(8))
            .filter(|b| *b <= MAX_LIST_BYTES)
            .ok_or_else(|| Error::with(ErrorKind::TooLarge, "status list too large"))?;
        Ok(Self {
            bits,
            bytes: vec![0; bytes],
        })
    }

    /// Bits per entry.
    pub fn bits(&self) -> Bits {
        self.bits
    }

    /// How many entries the bytes hold.
    pub fn len(&self) -> usize {
        self.bytes.len() * 8 / usize::from(self.bits.get())
    }

    /// `true` when it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The raw bytes, in the draft's bit order.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Entry `idx`; `None` past the end (§8.3 asks a verifier to refuse the token then).
    pub fn get(&self, idx: usize) -> Option<Status> {
        let (byte, shift) = self.place(idx)?;
        let b = self.bytes.get(byte)?;
        Some(Status((b >> shift) & self.bits.mask()))
    }

    /// Set entry `idx` to `status`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when `idx` is past the end or `status` does not fit the
    /// list's bits.
    pub fn set(&mut self, idx: usize, status: Status) -> Result<()> {
        let mask = self.bits.mask();
        if status.0 > mask {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "status does not fit the list's bits",
            ));
        }
        let (byte, shift) = self
            .place(idx)
            .ok_or_else(|| Error::with(ErrorKind::InvalidConfig, "index past the list's end"))?;
        let b = self
            .bytes
            .get_mut(byte)
            .ok_or_else(|| Error::with(ErrorKind::InvalidConfig, "index past the list's end"))?;
        *b = (*b & !(mask << shift)) | (status.0 << shift);
        Ok(())
    }

    /// The byte and the shift of entry `idx`.
    fn place(&self, idx: usize) -> Option<(usize, u32)> {
        let bit = idx.checked_mul(usize::from(self.bits.get()))?;
        let shift = u32::try_from(bit % 8).ok()?;
        (bit / 8 < self.bytes.len()).then_some((bit / 8, shift))
    }

    /// The JSON form (§4.2), compressed at ZLIB's best level as the draft recommends.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] if compression fails (it does not on a `Vec`).
    pub fn encode(&self) -> Result<EncodedList> {
        let mut z = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(self.bytes.len() / 8 + 64),
            flate2::Compression::best(),
        );
        z.write_all(&self.bytes)
            .and_then(|()| z.finish())
            .map(|zipped| EncodedList {
                bits: self.bits.get(),
                lst: crate::keys::b64(&zipped),
            })
            .map_err(|e| Error::source_from(ErrorKind::Serialization, "status list", e))
    }

    /// A list from its JSON form's members.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Malformed`] for bits other than 1, 2, 4, 8, `lst` that is not base64url
    /// (without padding) or not a ZLIB stream, or an empty list; [`ErrorKind::TooLarge`] when
    /// it inflates past [`MAX_LIST_BYTES`].
    pub fn decode(bits: u8, lst: &str) -> Result<Self> {
        let bits = Bits::from_u8(bits)?;
        // Longer than the largest list compressed as badly as ZLIB can: refused unread.
        if lst.len() > MAX_LST_CHARS {
            return Err(Error::with(ErrorKind::TooLarge, "status list too large"));
        }
        let mut zipped = vec![0u8; lst.len() / 4 * 3 + 3];
        let n = crate::token::b64::decode(lst.as_bytes(), &mut zipped)
            .ok_or_else(|| Error::with(ErrorKind::Malformed, "status list lst is not base64url"))?;
        zipped.truncate(n);
        let mut bytes = Vec::new();
        flate2::read::ZlibDecoder::new(zipped.as_slice())
            .take(MAX_LIST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| Error::with(ErrorKind::Malformed, "status list lst is not ZLIB"))?;
        if bytes.len() > MAX_LIST_BYTES {
            return Err(Error::with(ErrorKind::TooLarge, "status list too large"));
        }
        // `read_to_end` grows by doubling: give back what the list does not use.
        bytes.shrink_to_fit();
        if bytes.is_empty() {
            return Err(Error::with(ErrorKind::Malformed, "status list is empty"));
        }
        Ok(Self { bits, bytes })
    }
}

/// The `status` claim of a referenced token (§6.1): where its entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClaim {
    /// The Status List mechanism's reference.
    pub status_list: StatusRef,
}

/// A token's entry: the index and the list's URI (§6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRef {
    /// The entry's index in the list.
    pub idx: u64,
    /// The URI the Status List Token is fetched from (its `sub`).
    pub uri: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §4.1's worked example: the 16 one-bit entries give the bytes 0xB9 0xA3.
    #[test]
    fn bit_order_is_the_drafts() {
        let values = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
        let mut list = StatusList::new(Bits::One, 16).expect("list");
        for (i, v) in values.iter().enumerate() {
            list.set(i, Status(*v)).expect("set");
        }
        assert_eq!(list.as_bytes(), [0xb9, 0xa3]);
        let values = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
        let mut list = StatusList::new(Bits::Two, 12).expect("list");
        for (i, v) in values.iter().enumerate() {
            list.set(i, Status(*v)).expect("set");
        }
        assert_eq!(list.as_bytes(), [0xc9, 0x44, 0xf9]);
    }

    #[test]
    fn set_refuses_what_does_not_fit() {
        let mut list = StatusList::new(Bits::Two, 8).expect("list");
        assert!(list.set(8, Status::INVALID).is_err());
        assert!(list.set(0, Status(4)).is_err());
        list.set(7, Status(3)).expect("fits");
        list.set(7, Status::VALID).expect("clears");
        assert_eq!(list.get(7), Some(Status::VALID));
        assert_eq!(list.get(8), None);
        assert_eq!(list.get(usize::MAX), None);
        assert!(StatusList::new(Bits::Eight, MAX_LIST_BYTES + 1).is_err());
        assert!(StatusList::new(Bits::Eight, usize::MAX).is_err());
    }

    #[test]
    fn decode_refuses_bombs_and_garbage() {
        // 32 MiB of zeros compress to about 32 KiB.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 2 * MAX_LIST_BYTES]).expect("write");
        let bomb = crate::keys::b64(&z.finish().expect("zip"));
        assert_eq!(
            StatusList::decode(1, &bomb).expect_err("bomb").kind(),
            ErrorKind::TooLarge
        );
        for (bits, lst) in [
            (3, "eNrbuRgAAhcBXQ"),
            (1, "eNrbuRgAAhcBXQ="),
            (1, "!!"),
            (1, "AAAA"),
        ] {
            assert!(StatusList::decode(bits, lst).is_err(), "{bits} {lst}");
        }
        let empty = StatusList::new(Bits::One, 0)
            .expect("empty")
            .encode()
            .expect("encode");
        assert!(StatusList::decode(1, &empty.lst).is_err(), "an empty list");
    }
}
