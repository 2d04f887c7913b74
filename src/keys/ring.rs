//! The key ring one issuer's instances share: its signing keys (the active one, and retired
//! public halves kept until the tokens they signed have expired) and its refresh-token
//! secrets, as one document whose private parts are sealed under the operator's KEK
//! ([`super::sealed`]). Sans-IO: this module turns a document into keys and back; the store
//! keeps the document ([`crate::store::key_ring`]).
//!
//! (Over 600 lines only with its unit tests; the code is about 450.)

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::sealed::{self, Kek, Sealed};
use super::{Algorithm, KeySet, SigningKey};
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
    /// Since when the active key signs (Unix seconds).
    #[serde(default)]
    active_since: u64,
    /// The next key: published in the JWKS from `published_at`, signing only once every
    /// verifier's cached JWKS has it.
    #[serde(default)]
    next: Option<NextEntry>,
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
struct NextEntry {
    key: SigningEntry,
    published_at: u64,
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
    /// Since when it makes new refresh tokens (the current one), or made them.
    #[serde(default)]
    since: u64,
    /// Once superseded: until when refresh tokens made with it are still accepted.
    #[serde(default)]
    accepted_until: Option<u64>,
}

/// When a shared key ring rotates ([`crate::store::key_ring::maintain_key_ring_at`]). The rules
/// are pure functions of (ring, policy, now); instances agree through the store's
/// compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingPolicy {
    /// How long a signing key signs before the next one takes over.
    pub every: Duration,
    /// How long the next key is in the JWKS before it signs: at least the JWKS
    /// `Cache-Control: max-age` verifiers honour, plus how often instances look at the ring,
    /// plus a leeway, so every cached JWKS has it by then.
    pub publish_ahead: Duration,
    /// How long a key stays in the JWKS after it stopped signing: at least the longest
    /// access-token (and signed revocation feed) lifetime, plus how often instances look at
    /// the ring, plus a leeway.
    pub keep_retired: Duration,
    /// How long a refresh-token secret makes new tokens (`None`: it never rotates by itself).
    pub secret_every: Option<Duration>,
    /// How long a superseded refresh secret is still accepted: at least the longest session
    /// (absolute timeout), so no session is logged out by a secret rotation.
    pub secret_accept: Duration,
}

impl RingPolicy {
    /// Signing keys rotate every `every`, pre-published `publish_ahead` before they sign and
    /// kept `keep_retired` after; refresh secrets do not rotate by themselves.
    pub fn signing(every: Duration, publish_ahead: Duration, keep_retired: Duration) -> Self {
        Self {
            every,
            publish_ahead,
            keep_retired,
            secret_every: None,
            secret_accept: Duration::ZERO,
        }
    }

    /// The margins worked out for a server that looks at the ring every `poll`
    /// ([`KeyRing::poll`](crate::store::key_ring::KeyRing::poll)), serves its JWKS with
    /// `Cache-Control: max-age=jwks_max_age` and mints tokens living `token_ttl` at most: a
    /// new signing key every `every`, published `jwks_max_age + poll + 10 s` before it signs
    /// (every cached JWKS has it by then), kept `token_ttl + poll + 60 s` after (every token
    /// it signed has expired by then).
    pub fn for_server(
        every: Duration,
        jwks_max_age: Duration,
        token_ttl: Duration,
        poll: Duration,
    ) -> Self {
        Self::signing(
            every,
            jwks_max_age + poll + Duration::from_secs(10),
            token_ttl + poll + Duration::from_secs(60),
        )
    }

    /// Also rotate the refresh-token secret every `every`, accepting a superseded one for
    /// `accept` (at least the longest session).
    #[must_use]
    pub fn rotate_secrets(mut self, every: Duration, accept: Duration) -> Self {
        self.secret_every = Some(every);
        self.secret_accept = accept;
        self
    }

    fn check(&self) -> Result<()> {
        if self.every.is_zero() || self.publish_ahead >= self.every {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "a key ring's period must be longer than its pre-publication lead",
            ));
        }
        if self.secret_every.is_some_and(|e| e.is_zero()) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "a refresh secret's period must not be zero",
            ));
        }
        Ok(())
    }
}

/// The keys an opened ring gives an issuer.
#[derive(Debug)]
#[non_exhaustive]
pub struct RingKeys {
    /// The signing keys, for [`crate::Minter::with_keys`] (or [`crate::Minter::set_keys`]):
    /// the active key, and verify-only the next one (published ahead) and the retired ones.
    pub keys: KeySet,
    /// The refresh-token secrets, for [`crate::IssuerBuilder::refresh_secrets`] (or
    /// [`crate::Issuer::use_ring_keys`]).
    pub secrets: RefreshSecrets,
}

impl RingKeys {
    /// Keys and secrets from elsewhere (your secret manager), for
    /// [`Issuer::use_ring_keys`](crate::Issuer::use_ring_keys).
    pub fn new(keys: KeySet, secrets: crate::session::refresh::RefreshSecrets) -> Self {
        Self { keys, secrets }
    }
}

fn corrupt(what: &'static str) -> Error {
    Error::store_corrupt(what)
}

/// A fresh signing key of `alg`, sealed.
fn new_signing(kek: &Kek, issuer: &str, alg: Algorithm) -> Result<SigningEntry> {
    if alg.is_hmac() {
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            "a shared key ring signs with an asymmetric algorithm (its JWKS is public)",
        ));
    }
    let key = SigningKey::generate(alg)?;
    let pem = key.export_private()?;
    let kid = key.kid().as_str().to_owned();
    Ok(SigningEntry {
        private: sealed::seal(kek, issuer, "signing", &kid, pem.as_bytes())?,
        kid,
        alg: alg.as_str().to_owned(),
    })
}

/// A fresh 32-byte refresh secret with id `id`, sealed, current from `now`.
fn new_secret(kek: &Kek, issuer: &str, id: u8, now: u64) -> Result<SecretEntry> {
    let mut secret = Zeroizing::new([0u8; 32]);
    super::crypto::fill_random(&mut secret[..])?;
    Ok(SecretEntry {
        id,
        secret: sealed::seal(kek, issuer, "refresh", &id.to_string(), &secret[..])?,
        since: now,
        accepted_until: None,
    })
}

/// The algorithm an entry names.
fn alg_of(entry: &SigningEntry) -> Result<Algorithm> {
    Algorithm::from_name(&entry.alg).ok_or_else(|| corrupt("key ring: unknown algorithm"))
}

impl RingDoc {
    /// A new ring for `issuer` as of `now`: a fresh signing key of `alg` (asymmetric: its
    /// public half is published) and a fresh 32-byte refresh secret, both sealed under `kek`.
    pub(crate) fn create(kek: &Kek, issuer: &str, alg: Algorithm, now: u64) -> Result<Self> {
        Ok(Self {
            format: FORMAT,
            issuer: issuer.to_owned(),
            active: new_signing(kek, issuer, alg)?,
            active_since: now,
            next: None,
            retired: Vec::new(),
            secrets: vec![new_secret(kek, issuer, 1, now)?],
            current_secret: 1,
        })
    }

    /// The ring as the rules want it at `now`, or `None` when nothing changes: retired keys
    /// and secrets past their time dropped; the next key made and published `publish_ahead`
    /// before the active one's period ends; the next key made active once that period has
    /// ended *and* it has been published for `publish_ahead` (the old active key retired,
    /// kept `keep_retired`); the refresh secret rotated when its period has ended.
    pub(crate) fn advance(&self, kek: &Kek, policy: &RingPolicy, now: u64) -> Result<Option<Self>> {
        policy.check()?;
        let (every, ahead) = (policy.every.as_secs(), policy.publish_ahead.as_secs());
        let mut next = self.clone();
        next.retired.retain(|r| now < r.until);
        next.secrets
            .retain(|s| s.accepted_until.is_none_or(|until| now < until));
        let period_ends = next.active_since.saturating_add(every);
        if next.next.is_none() && now >= period_ends.saturating_sub(ahead) {
            next.next = Some(NextEntry {
                key: new_signing(kek, &self.issuer, alg_of(&next.active)?)?,
                published_at: now,
            });
        }
        let ready =
            |n: &mut NextEntry| now >= period_ends && now >= n.published_at.saturating_add(ahead);
        if let Some(n) = next.next.take_if(ready) {
            next.promote(kek, n, policy, now)?;
        }
        if let Some(period) = policy.secret_every {
            let current_since = next
                .secrets
                .iter()
                .find(|s| s.id == next.current_secret)
                .map_or(0, |s| s.since);
            if now >= current_since.saturating_add(period.as_secs()) {
                let id = (1..=u8::MAX)
                    .map(|i| next.current_secret.wrapping_add(i).max(1))
                    .find(|i| next.secrets.iter().all(|s| s.id != *i))
                    .ok_or_else(|| corrupt("key ring: no free refresh secret id"))?;
                let accept = now.saturating_add(policy.secret_accept.as_secs());
                for s in &mut next.secrets {
                    s.accepted_until.get_or_insert(accept);
                }
                next.secrets.push(new_secret(kek, &self.issuer, id, now)?);
                next.current_secret = id;
            }
        }
        Ok((next != *self).then_some(next))
    }

    /// A rotation by hand, in the two safe steps: with no next key, publish one now; with a
    /// next key published for at least `publish_ahead`, make it active now (the old key
    /// retired and kept `keep_retired`). Otherwise nothing changes (`None`): the next key is
    /// not yet in every cached JWKS.
    pub(crate) fn rotate_now(
        &self,
        kek: &Kek,
        policy: &RingPolicy,
        now: u64,
    ) -> Result<Option<Self>> {
        policy.check()?;
        let mut next = self.clone();
        match &self.next {
            None => {
                next.next = Some(NextEntry {
                    key: new_signing(kek, &self.issuer, alg_of(&self.active)?)?,
                    published_at: now,
                });
            }
            Some(n)
                if now
                    >= n.published_at
                        .saturating_add(policy.publish_ahead.as_secs()) =>
            {
                let n = n.clone();
                next.next = None;
                next.promote(kek, n, policy, now)?;
            }
            Some(_) => return Ok(None),
        }
        Ok(Some(next))
    }

    /// `n` signs from `now`; the active key is retired, kept `keep_retired`.
    fn promote(&mut self, kek: &Kek, n: NextEntry, policy: &RingPolicy, now: u64) -> Result<()> {
        let old = std::mem::replace(&mut self.active, n.key);
        let pem = sealed::open(kek, &self.issuer, "signing", &old.kid, &old.private)?;
        let jwk = SigningKey::from_pem(&pem, Some(alg_of(&old)?))?
            .public_jwk()
            .ok_or_else(|| corrupt("key ring: a signing key without a public half"))?;
        self.retired.push(RetiredEntry {
            jwk,
            until: now.saturating_add(policy.keep_retired.as_secs()),
        });
        self.active_since = now;
        Ok(())
    }

    /// The kids: the active one, the next one (published, not signing), the retired ones.
    pub(crate) fn kids(&self) -> (String, Option<String>, Vec<String>) {
        (
            self.active.kid.clone(),
            self.next.as_ref().map(|n| n.key.kid.clone()),
            self.retired
                .iter()
                .filter_map(|r| r.jwk.get("kid").and_then(serde_json::Value::as_str))
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Stop trusting the signing key `kid` at once (it leaked): an active one is replaced by
    /// the next key (made now if there is none) and dropped, not retired; a retired or next
    /// one is dropped. Tokens it signed stop verifying wherever the JWKS is fetched again.
    pub(crate) fn retire_now(&self, kek: &Kek, kid: &str, now: u64) -> Result<Self> {
        let mut next = self.clone();
        next.retired
            .retain(|r| r.jwk.get("kid").and_then(serde_json::Value::as_str) != Some(kid));
        if next.next.as_ref().is_some_and(|n| n.key.kid == kid) {
            next.next = None;
        }
        if next.active.kid == kid {
            next.active = match next.next.take() {
                Some(n) => n.key,
                None => new_signing(kek, &self.issuer, alg_of(&next.active)?)?,
            };
            next.active_since = now;
        }
        Ok(next)
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
            .map(|r| super::jwk::verifying_from_jwk(&r.jwk).map(|k| (k, r.until)))
            .collect::<Result<Vec<_>>>()?;
        let mut retired = retired;
        if let Some(n) = &self.next {
            // Published ahead: verify-only until it signs.
            let alg = Algorithm::from_name(&n.key.alg)
                .ok_or_else(|| corrupt("key ring: unknown algorithm"))?;
            let pem = sealed::open(kek, &self.issuer, "signing", &n.key.kid, &n.key.private)?;
            retired.push((
                SigningKey::from_pem(&pem, Some(alg))?.verifying_key(),
                u64::MAX,
            ));
        }
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
        if let Some(n) = &mut next.next {
            let pem = sealed::open(old, &self.issuer, "signing", &n.key.kid, &n.key.private)?;
            n.key.private = sealed::seal(new, &self.issuer, "signing", &n.key.kid, &pem)?;
        }
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
            .chain(self.next.iter().map(|n| n.key.private.kek.as_str()))
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

    /// Five periods, looked at every 5 s: every key is in the JWKS at least `publish_ahead`
    /// before it signs, stays in it `keep_retired` after it stopped, the JWKS never holds more
    /// than three keys, and refresh secrets rotate with the old one accepted for its window.
    #[test]
    fn the_lifecycle_publishes_before_it_signs_and_keeps_after() {
        use std::collections::HashMap;
        let kek = Kek::new("k", &[5; 32]).expect("kek");
        let policy = RingPolicy::signing(
            Duration::from_secs(100),
            Duration::from_secs(30),
            Duration::from_secs(50),
        )
        .rotate_secrets(Duration::from_secs(200), Duration::from_secs(120));
        let mut doc = RingDoc::create(&kek, "https://a", Algorithm::ES256, 0).expect("ring");
        let (mut published, mut signs, mut stopped, mut gone) = (
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        let mut last_active = String::new();
        let mut secret_ids = Vec::new();
        for now in (0..=500).step_by(5) {
            if let Some(next) = doc.advance(&kek, &policy, now).expect("advance") {
                doc = next;
            }
            let keys = doc.open(&kek).expect("open");
            let active = keys.keys.active().kid().as_str().to_owned();
            let listed: Vec<String> = keys
                .keys
                .verifying_keys()
                .iter()
                .map(|k| k.kid().as_str().to_owned())
                .collect();
            assert!(listed.len() <= 3, "{listed:?} at {now}");
            for kid in &listed {
                published.entry(kid.clone()).or_insert(now);
            }
            for (kid, at) in &stopped {
                if !listed.contains(kid) {
                    gone.entry(kid.clone()).or_insert(now);
                } else {
                    assert!(!gone.contains_key(kid), "{kid} came back");
                }
                let _ = at;
            }
            signs.entry(active.clone()).or_insert(now);
            if active != last_active && !last_active.is_empty() {
                stopped.insert(last_active.clone(), now);
            }
            last_active = active;
            if !secret_ids.contains(&keys.secrets.current()) {
                secret_ids.push(keys.secrets.current());
            }
        }
        assert!(signs.len() >= 5, "rotated each period: {signs:?}");
        for (kid, at) in &signs {
            if *at > 0 {
                assert!(
                    at - published[kid] >= 30,
                    "{kid} signed {}s after publication",
                    at - published[kid]
                );
            }
        }
        for (kid, at) in &stopped {
            if let Some(g) = gone.get(kid) {
                assert!(
                    g - at >= 50,
                    "{kid} left the JWKS {}s after it stopped",
                    g - at
                );
            }
        }
        assert_eq!(secret_ids, vec![1, 2, 3], "a secret every 200 s");
    }

    #[test]
    fn a_hand_rotation_publishes_first_then_signs() {
        let kek = Kek::new("k", &[7; 32]).expect("kek");
        let policy = RingPolicy::signing(
            Duration::from_secs(86_400),
            Duration::from_secs(60),
            Duration::from_secs(600),
        );
        let doc = RingDoc::create(&kek, "https://a", Algorithm::EdDSA, 0).expect("ring");
        let old = doc.kids().0;
        let published = doc
            .rotate_now(&kek, &policy, 100)
            .expect("step")
            .expect("published");
        let next = published.kids().1.expect("a next key");
        assert_eq!(published.kids().0, old, "not signing yet");
        assert!(
            published
                .rotate_now(&kek, &policy, 159)
                .expect("early")
                .is_none()
        );
        let done = published
            .rotate_now(&kek, &policy, 160)
            .expect("step")
            .expect("active");
        assert_eq!(done.kids().0, next);
        assert_eq!(done.kids().2, vec![old], "the old key is kept verify-only");
    }

    #[test]
    fn a_leaked_key_is_gone_at_once() {
        let kek = Kek::new("k", &[6; 32]).expect("kek");
        let doc = RingDoc::create(&kek, "https://a", Algorithm::EdDSA, 0).expect("ring");
        let leaked = doc
            .open(&kek)
            .expect("open")
            .keys
            .active()
            .kid()
            .as_str()
            .to_owned();
        let after = doc.retire_now(&kek, &leaked, 10).expect("retire");
        let keys = after.open(&kek).expect("open").keys;
        assert_ne!(keys.active().kid().as_str(), leaked);
        assert!(
            keys.verifying_keys().get(&leaked).is_none(),
            "not even verify-only"
        );
    }

    #[test]
    fn a_ring_opens_to_the_same_keys_and_reseals() {
        let k1 = Kek::new("k1", &[1; 32]).expect("kek");
        let doc = RingDoc::create(&k1, "https://a", Algorithm::EdDSA, 0).expect("ring");
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
        assert!(RingDoc::create(&k1, "https://a", Algorithm::HS256, 0).is_err());
    }
}
