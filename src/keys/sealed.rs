//! Sealing key material at rest: AES-256-GCM (from the crypto backend) under a key-encryption
//! key (KEK) the operator provides. A store holding sealed blobs never sees plaintext key
//! material; the AAD binds each blob to its issuer, its purpose and its id, so a blob moved
//! to another issuer, another slot or another key id does not open.
//!
//! A KEK has an id, written beside every blob it sealed: an instance with another KEK is told
//! which id the blob needs, and a KEK is rotated by re-sealing every blob under the new one
//! ([`crate::store::key_ring::reseal_key_ring`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::backend::aead;
use crate::error::{Error, ErrorKind, Result};

/// The smallest KEK accepted, in bytes (AES-256).
pub const KEK_LEN: usize = 32;

/// A key-encryption key: 32 secret bytes and an id (not secret) that names it in every blob
/// it seals. No `Clone`, no `Serialize`; `Debug` prints the id only.
pub struct Kek {
    id: String,
    key: aead::LessSafeKey,
    /// Derives the secrets instances share besides the ring ([`Kek::derived_secret`]).
    derive: crate::backend::hmac::Key,
    /// KEKs it also opens with (never seals with): the previous KEK during a KEK rotation.
    also: Vec<Kek>,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .field(
                "also_opens",
                &self.also.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The ids of the KEK a blob was sealed under and of the one at hand (neither is secret).
#[derive(Debug)]
struct KekMismatch {
    sealed_under: String,
    given: String,
}

impl std::fmt::Display for KekMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sealed under KEK id {:?}; this instance has KEK ids {:?}",
            self.sealed_under, self.given
        )
    }
}

impl std::error::Error for KekMismatch {}

/// The environment variable that should hold the KEK.
#[derive(Debug)]
struct MissingVar(String);

impl std::fmt::Display for MissingVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "environment variable {} is not set", self.0)
    }
}

impl std::error::Error for MissingVar {}

impl Kek {
    /// A KEK of exactly 32 bytes with the id `id` (1 to 64 characters, say `"2026-12"`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] for a key that is not 32 bytes; [`ErrorKind::InvalidConfig`]
    /// for an empty or overlong id.
    pub fn new(id: impl Into<String>, key: &[u8]) -> Result<Self> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "a KEK id is 1 to 64 characters",
            ));
        }
        if key.len() != KEK_LEN {
            return Err(Error::with(
                ErrorKind::WeakKey,
                "a KEK is 32 bytes (AES-256)",
            ));
        }
        let derive = crate::backend::hmac::Key::new(crate::backend::hmac::HMAC_SHA256, key);
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, key)
            .map_err(|_| Error::with(ErrorKind::WeakKey, "the backend refused the KEK"))?;
        Ok(Self {
            id,
            key: aead::LessSafeKey::new(key),
            derive,
            also: Vec::new(),
        })
    }

    /// A 32-byte secret for `purpose`, derived from this KEK (HMAC-SHA256 of a labelled
    /// purpose): every instance with the same KEK derives the same one, and it reveals
    /// nothing of the KEK. For state instances must share that is not in the key ring, such as
    /// the DPoP nonce secret (`Nonces::new(&*kek.derived_secret(&format!("dpop-nonces {issuer}")),
    /// window)`: name the issuer when issuers share a KEK). During a KEK rotation, instances
    /// on different KEKs derive different secrets (a nonce from one is refused by the other,
    /// and the client gets a fresh one).
    pub fn derived_secret(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut label = b"tidepass kek-derived secret\0".to_vec();
        label.extend_from_slice(purpose.as_bytes());
        let tag = crate::backend::hmac::sign(&self.derive, &label);
        // An HMAC-SHA256 tag is exactly 32 bytes.
        let mut out = Zeroizing::new([0u8; 32]);
        for (o, b) in out.iter_mut().zip(tag.as_ref()) {
            *o = *b;
        }
        out
    }

    /// A KEK from at least 32 secret bytes (more are hashed down to 32 with SHA-256), with an
    /// id derived from the key itself (`sha256:` and 12 base64url characters of its hash): the
    /// same bytes give the same id on every instance, and a different key a different id, so
    /// a wrong KEK is told apart from a damaged ring.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] for fewer than 32 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        use crate::backend::digest;
        if secret.len() < KEK_LEN {
            return Err(Error::with(
                ErrorKind::WeakKey,
                "a KEK is at least 32 random bytes",
            ));
        }
        let hashed;
        let key = if secret.len() == KEK_LEN {
            secret
        } else {
            hashed = digest::digest(&digest::SHA256, secret);
            hashed.as_ref()
        };
        let id_hash = digest::digest(&digest::SHA256, key);
        let id = format!(
            "sha256:{}",
            URL_SAFE_NO_PAD.encode(id_hash.as_ref().get(..9).unwrap_or_default())
        );
        Self::new(id, key)
    }

    /// A KEK from its base64url text (no padding) of at least 32 random bytes, with the id
    /// [`Kek::from_secret`] derives: what `TIDEPASS_KEK` holds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] when it is not base64url of at least 32 bytes.
    pub fn from_base64url_secret(text: &str) -> Result<Self> {
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text.trim())
                .map_err(|_| Error::with(ErrorKind::WeakKey, "a KEK is base64url, no padding"))?,
        );
        Self::from_secret(&raw)
    }

    /// The KEK that opens `sealed`: this one or one it [`Kek::also_opens`].
    fn for_blob(&self, sealed: &Sealed) -> Option<&Kek> {
        std::iter::once(self)
            .chain(self.also.iter())
            .find(|k| k.id == sealed.kek)
    }

    /// A KEK from the environment variable `var` (such as `TIDEPASS_KEK`): base64url, no
    /// padding, of at least 32 random bytes; its id as [`Kek::from_secret`] derives it. When
    /// `{var}_ALSO` is set too, the KEK also opens blobs sealed under that one
    /// ([`Kek::also_opens`]: a KEK rotation in progress).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the variable is not set (the error names it);
    /// [`ErrorKind::WeakKey`] when either is not base64url of at least 32 bytes.
    pub fn from_env(var: &str) -> Result<Self> {
        let text = Zeroizing::new(std::env::var(var).map_err(|_| {
            Error::source_from(
                ErrorKind::InvalidConfig,
                "the KEK is not set: an instance on a shared store needs it",
                MissingVar(var.to_owned()),
            )
        })?);
        let kek = Self::from_base64url_secret(&text)?;
        match std::env::var(format!("{var}_ALSO")) {
            Ok(other) => Ok(kek.also_opens(Self::from_base64url_secret(&Zeroizing::new(other))?)),
            Err(_) => Ok(kek),
        }
    }

    /// Also open blobs sealed under `other` (never seal with it): what every instance holds
    /// during a KEK rotation, so that instances before and after the re-seal all read the
    /// ring. The procedure, with no downtime: (1) roll every instance to the old KEK that
    /// also opens the new one (`TIDEPASS_KEK` old, `TIDEPASS_KEK_ALSO` new); (2) re-seal
    /// ([`crate::store::key_ring::reseal_key_ring`], `tidepass keyring reseal`); (3) roll
    /// every instance to the new KEK that also opens the old one; (4) drop the old one.
    #[must_use]
    pub fn also_opens(mut self, other: Kek) -> Self {
        self.also.push(other);
        self
    }

    /// The KEK's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A sealed blob: the id of the KEK that sealed it, a random 96-bit nonce and the ciphertext
/// with its tag (both base64url). Safe to store anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The sealing KEK's id.
    pub kek: String,
    nonce: String,
    ct: String,
}

/// What a sealed blob is bound to: its issuer, its purpose (`"signing"`, `"refresh"`) and its
/// id (a kid, a secret id). A blob opens only for exactly these.
fn aad(issuer: &str, purpose: &str, id: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(32 + issuer.len() + purpose.len() + id.len());
    a.extend_from_slice(b"tidepass-sealed-v1\0");
    for part in [issuer, purpose, id] {
        a.extend_from_slice(&(part.len() as u64).to_be_bytes());
        a.extend_from_slice(part.as_bytes());
    }
    a
}

/// Seal `plaintext` under `kek`, bound to (`issuer`, `purpose`, `id`).
///
/// # Errors
///
/// [`ErrorKind::Random`] if the RNG fails; a backend failure.
pub(crate) fn seal(
    kek: &Kek,
    issuer: &str,
    purpose: &str,
    id: &str,
    plaintext: &[u8],
) -> Result<Sealed> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    crate::keys::crypto::fill_random(&mut nonce)?;
    let mut buf = plaintext.to_vec();
    kek.key
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad(issuer, purpose, id)),
            &mut buf,
        )
        .map_err(|_| Error::with(ErrorKind::InvalidConfig, "sealing failed"))?;
    Ok(Sealed {
        kek: kek.id.clone(),
        nonce: URL_SAFE_NO_PAD.encode(nonce),
        ct: URL_SAFE_NO_PAD.encode(buf),
    })
}

/// Open a blob sealed by [`seal`] for (`issuer`, `purpose`, `id`).
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when the blob was sealed under another KEK id (the error
/// names both ids), when `kek` has the right id but is the wrong key, or the blob was moved to
/// another issuer, purpose or id (the tag does not verify); [`ErrorKind::StoreCorrupt`] for a
/// blob that is not base64url.
pub(crate) fn open(
    kek: &Kek,
    issuer: &str,
    purpose: &str,
    id: &str,
    sealed: &Sealed,
) -> Result<Zeroizing<Vec<u8>>> {
    let Some(kek) = kek.for_blob(sealed) else {
        return Err(Error::source_from(
            ErrorKind::InvalidConfig,
            "the key ring is sealed under another KEK than this instance's",
            KekMismatch {
                sealed_under: sealed.kek.clone(),
                given: std::iter::once(kek.id.as_str())
                    .chain(kek.also.iter().map(|k| k.id.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        ));
    };
    let nonce: [u8; aead::NONCE_LEN] = URL_SAFE_NO_PAD
        .decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| Error::store_corrupt("sealed blob: bad nonce"))?;
    let mut buf = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(&sealed.ct)
            .map_err(|_| Error::store_corrupt("sealed blob: bad ciphertext"))?,
    );
    let len = kek
        .key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad(issuer, purpose, id)),
            &mut buf,
        )
        .map_err(|_| {
            Error::with(
                ErrorKind::InvalidConfig,
                "this KEK does not open the key ring: the wrong key for its id, or a blob moved \
                 to another issuer or slot",
            )
        })?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_blobs_open_only_where_they_belong() {
        let kek = Kek::new("k1", &[7; 32]).expect("kek");
        let s = seal(&kek, "https://a", "signing", "kid1", b"secret bytes").expect("seal");
        assert!(!s.ct.contains("secret"));
        assert_eq!(
            &open(&kek, "https://a", "signing", "kid1", &s).expect("open")[..],
            b"secret bytes"
        );
        for (iss, purpose, id) in [
            ("https://b", "signing", "kid1"),
            ("https://a", "refresh", "kid1"),
            ("https://a", "signing", "kid2"),
        ] {
            assert!(
                open(&kek, iss, purpose, id, &s).is_err(),
                "{iss} {purpose} {id}"
            );
        }
        let same_id_other_key = Kek::new("k1", &[8; 32]).expect("kek");
        assert!(open(&same_id_other_key, "https://a", "signing", "kid1", &s).is_err());
        let other = Kek::new("k2", &[7; 32]).expect("kek");
        let e = open(&other, "https://a", "signing", "kid1", &s).expect_err("other id");
        // During a KEK rotation: the new KEK that also opens the old one reads old blobs.
        let rotating = Kek::new("k2", &[9; 32])
            .expect("kek")
            .also_opens(Kek::new("k1", &[7; 32]).expect("kek"));
        assert_eq!(
            &open(&rotating, "https://a", "signing", "kid1", &s).expect("old blob")[..],
            b"secret bytes"
        );
        let resealed = seal(&rotating, "https://a", "signing", "kid1", b"x").expect("seal");
        assert_eq!(resealed.kek, "k2", "it seals with its own key only");
        let text = format!("{e} {:?}", std::error::Error::source(&e));
        assert!(text.contains("\"k1\"") && text.contains("\"k2\""), "{text}");
        assert!(!format!("{kek:?}").contains('7'));
        assert!(Kek::new("k", &[1; 16]).is_err());
        assert!(Kek::new("", &[1; 32]).is_err());
    }
}
