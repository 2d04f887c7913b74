//! The key ring one issuer's instances share: its signing keys (the active one, and retired
//! public halves kept until the tokens they signed have expired) and its refresh-token
//! secrets, as one document whose private parts are sealed under the operator's KEK
//! ([`super::sealed`]). Sans-IO: this module turns a document into keys and back; the store
//! keeps the document ([`crate::store::key_ring`]).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::sealed::{self, Kek, Sealed};
use super::{Algorithm, KeySet, SigningKey, VerifyingKey};
use crate::error::{Error, ErrorKind, Result};
use crate::session::refresh::RefreshSecrets;

/// The document's format version.
const FORMAT: u32 = 1;

/// What the store keeps: nothing in it is secret unless sealed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RingDoc {
    format: u32,
    issuer: String,
    active: SigningEntry,
    #[serde(default)]
    retired: Vec<RetiredEntry>,
    secrets: Vec<SecretEntry>,
    /// The id of the secret new refresh tokens are made with.
    current_secret: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct SigningEntry {
    kid: String,
    alg: String,
    /// The PKCS#8 PEM, sealed.
    private: Sealed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct RetiredEntry {
    /// The public JWK.
    jwk: serde_json::Value,
    /// Until when tokens it signed may still be presented (Unix seconds).
    until: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct SecretEntry {
    id: u8,
    secret: Sealed,
}

/// The keys an opened ring gives an issuer.
#[derive(Debug)]
pub struct RingKeys {
    /// The signing keys, for [`crate::Minter::with_keys`].
    pub keys: KeySet,
    /// The refresh-token secrets, for [`crate::IssuerBuilder::refresh_secrets`].
    pub secrets: RefreshSecrets,
}

fn corrupt(what: &'static str) -> Error {
    Error::store_corrupt(what)
}

impl RingDoc {
    /// A new ring for `issuer`: a fresh signing key of `alg` (asymmetric: its public half is
    /// published) and a fresh 32-byte refresh secret, both sealed under `kek`.
    pub(crate) fn create(kek: &Kek, issuer: &str, alg: Algorithm) -> Result<Self> {
        if alg.is_hmac() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "a shared key ring signs with an asymmetric algorithm (its JWKS is public)",
            ));
        }
        let key = SigningKey::generate(alg)?;
        let pem = key.export_private()?;
        let kid = key.kid().as_str().to_owned();
        let mut secret = Zeroizing::new([0u8; 32]);
        super::crypto::fill_random(&mut secret[..])?;
        Ok(Self {
            format: FORMAT,
            issuer: issuer.to_owned(),
            active: SigningEntry {
                private: sealed::seal(kek, issuer, "signing", &kid, pem.as_bytes())?,
                kid,
                alg: alg.as_str().to_owned(),
            },
            retired: Vec::new(),
            secrets: vec![SecretEntry {
                id: 1,
                secret: sealed::seal(kek, issuer, "refresh", "1", &secret[..])?,
            }],
            current_secret: 1,
        })
    }

    /// The document as stored.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| Error::source_from(ErrorKind::Serialization, "key ring", e))
    }

    /// A stored document, checked to be `issuer`'s.
    pub(crate) fn from_bytes(bytes: &[u8], issuer: &str) -> Result<Self> {
        let doc: Self =
            serde_json::from_slice(bytes).map_err(|_| corrupt("key ring: not a ring document"))?;
        if doc.format != FORMAT {
            return Err(corrupt("key ring: a format this version does not read"));
        }
        if doc.issuer != issuer {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "the store's key ring belongs to another issuer",
            ));
        }
        Ok(doc)
    }

    /// Open every sealed part with `kek`: the issuer's keys.
    pub(crate) fn open(&self, kek: &Kek) -> Result<RingKeys> {
        let alg = Algorithm::from_name(&self.active.alg)
            .ok_or_else(|| corrupt("key ring: unknown algorithm"))?;
        let pem = sealed::open(
            kek,
            &self.issuer,
            "signing",
            &self.active.kid,
            &self.active.private,
        )?;
        let key = SigningKey::from_pem(&pem, Some(alg))?;
        if key.kid().as_str() != self.active.kid {
            return Err(corrupt("key ring: the signing key is not its kid's"));
        }
        let retired = self
            .retired
            .iter()
            .map(|r| VerifyingKey::from_jwk(&r.jwk).map(|k| (k, r.until)))
            .collect::<Result<Vec<_>>>()?;
        let keys = KeySet::with_retired(key, retired);
        // Every other secret first, the current one last (it becomes current).
        let mut order: Vec<&SecretEntry> = self.secrets.iter().collect();
        order.sort_by_key(|s| s.id == self.current_secret);
        let mut secrets: Option<RefreshSecrets> = None;
        for s in order {
            let raw = sealed::open(kek, &self.issuer, "refresh", &s.id.to_string(), &s.secret)?;
            match secrets.as_mut() {
                None => secrets = Some(RefreshSecrets::from_secret(s.id, &raw)?),
                Some(all) => all.rotate_to(s.id, &raw)?,
            }
        }
        let secrets = secrets.ok_or_else(|| corrupt("key ring: no refresh secret"))?;
        if secrets.current() != self.current_secret {
            return Err(corrupt("key ring: its current secret is missing"));
        }
        Ok(RingKeys { keys, secrets })
    }

    /// The same ring sealed under `new` (opened with `old`): KEK rotation.
    pub(crate) fn reseal(&self, old: &Kek, new: &Kek) -> Result<Self> {
        let mut next = self.clone();
        let pem = sealed::open(
            old,
            &self.issuer,
            "signing",
            &self.active.kid,
            &self.active.private,
        )?;
        next.active.private = sealed::seal(new, &self.issuer, "signing", &self.active.kid, &pem)?;
        for s in &mut next.secrets {
            let id = s.id.to_string();
            let raw = sealed::open(old, &self.issuer, "refresh", &id, &s.secret)?;
            s.secret = sealed::seal(new, &self.issuer, "refresh", &id, &raw)?;
        }
        Ok(next)
    }

    /// The ids of the KEKs its blobs are sealed under (one, except half-way through a
    /// re-seal, which never happens: a re-seal is one compare-and-set).
    pub(crate) fn kek_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = std::iter::once(self.active.private.kek.as_str())
            .chain(self.secrets.iter().map(|s| s.secret.kek.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_opens_to_the_same_keys_and_reseals() {
        let k1 = Kek::new("k1", &[1; 32]).expect("kek");
        let doc = RingDoc::create(&k1, "https://a", Algorithm::EdDSA).expect("ring");
        let bytes = doc.to_bytes().expect("bytes");
        let back = RingDoc::from_bytes(&bytes, "https://a").expect("parse");
        let (x, y) = (back.open(&k1).expect("open"), doc.open(&k1).expect("open"));
        assert_eq!(x.keys.active().kid(), y.keys.active().kid());
        assert!(RingDoc::from_bytes(&bytes, "https://b").is_err());
        let k2 = Kek::new("k2", &[2; 32]).expect("kek");
        let resealed = doc.reseal(&k1, &k2).expect("reseal");
        assert_eq!(resealed.kek_ids(), vec!["k2"]);
        assert_eq!(
            resealed.open(&k2).expect("open").keys.active().kid(),
            y.keys.active().kid()
        );
        assert!(resealed.open(&k1).is_err());
        assert!(RingDoc::create(&k1, "https://a", Algorithm::HS256).is_err());
    }
}
