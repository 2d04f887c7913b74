//! DPoP proofs (RFC 9449): checking the proof a client sends beside a request, on the auth
//! service's token endpoint and on every resource server.
//!
//! A proof is a JWT signed by the client's own key, which it embeds (`jwk`). [`ProofChecker`]
//! checks everything §4.3 lists: `typ` `dpop+jwt`; an asymmetric algorithm from its list (no
//! `none`, no HMAC); a public `jwk` without private members whose algorithm is the header's;
//! the signature; `htm` equal to the request's method and `htu` to its URL (both normalized
//! per RFC 3986 §6, without query and fragment); `iat` inside the window; `jti` never seen
//! before by this checker (a bounded replay cache); `ath`, when the request carries an access
//! token, equal to that token's SHA-256; and the server's nonce when it demands one
//! ([`Nonces`]). It returns the key's RFC 7638 [`Thumbprint`], which the caller compares
//! with the token's `cnf.jkt` or the session's binding.
//!
//! ```
//! use tidepass::verify::dpop::ProofChecker;
//! // RFC 9449 Figure 2: a token request proof, dated 2019.
//! let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
//! let checker = ProofChecker::new();
//! let at = 1_562_262_620;
//! let jkt = checker.check_at(proof, "POST", "https://server.example.com/token", None, at)?;
//! assert_eq!(jkt.to_string(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
//! // The same proof again is a replay.
//! assert!(checker.check_at(proof, "POST", "https://server.example.com/token", None, at).is_err());
//! # Ok::<(), tidepass::Error>(())
//! ```
//!
//! (One file of about 650 lines of code on purpose: RFC 9449 §4.3's checks in the order
//! the RFC lists them, with the replay cache and nonces they use, read top to bottom.)

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::{Algorithm, Thumbprint, VerifyingKey};
use crate::token::claims::NumericDate;
use crate::token::jws;

/// The algorithms a proof may use by default: every asymmetric algorithm tidepass verifies.
pub const DEFAULT_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::PS256,
    Algorithm::PS384,
];

/// The longest proof accepted, in bytes (an RSA-4096 `jwk` and signature fit).
pub const MAX_PROOF_LEN: usize = 4096;

const SHARDS: usize = 8;

/// The longest RSA modulus a proof's `jwk` may carry, in base64url characters: 4096 bits
/// (683 characters), with room for one leading zero byte some encoders write (684).
const MAX_RSA_MODULUS_B64: usize = 684;

/// 32 random bytes for the replay cache's keyed ids. Should the system RNG fail, std's
/// per-process random hasher keys fill in: weaker, but never a panic and never shared.
fn random_key() -> [u8; 32] {
    use std::hash::BuildHasher as _;
    let mut key = [0u8; 32];
    if crate::keys::crypto::fill_random(&mut key).is_err() {
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            let word = std::collections::hash_map::RandomState::new().hash_one(i);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }
    key
}

fn refuse(detail: &'static str) -> Error {
    Error::with(ErrorKind::InvalidDpopProof, detail)
}

/// The `DPoP` header value's JWT, checked as RFC 9449 §4.3 says. Build once and share: it
/// holds the replay cache, so every request a server sees must go through the same checker.
pub struct ProofChecker {
    algorithms: Vec<Algorithm>,
    max_age: u64,
    max_ahead: u64,
    nonces: Option<std::sync::Arc<Nonces>>,
    public_base: Option<String>,
    replay: Vec<Mutex<Shard>>,
    per_shard: usize,
    /// A per-checker random key for the replay cache's ids: the shard a proof lands in is
    /// not computable from its `jti`, so no client can aim its proofs at one shard and fill
    /// it for everyone else.
    shard_key: [u8; 32],
}

impl fmt::Debug for ProofChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofChecker")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("max_ahead", &self.max_ahead)
            .field("nonces", &self.nonces.is_some())
            .field("replay_capacity", &(self.per_shard * SHARDS))
            .finish()
    }
}

impl Default for ProofChecker {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default)]
struct Shard {
    seen: HashMap<u128, u64>,
    /// (expiry, id) in insertion order: expiries grow with the clock, so the front expires
    /// first and eviction is O(1) per entry.
    order: VecDeque<(u64, u128)>,
}

/// The claims of a proof (RFC 9449 §4.2). A repeated member is refused by serde.
#[derive(Deserialize)]
struct Claims<'a> {
    #[serde(borrow)]
    jti: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    htm: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    htu: std::borrow::Cow<'a, str>,
    iat: NumericDate<true>,
    #[serde(borrow, default)]
    ath: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    nonce: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    alg: Option<std::borrow::Cow<'a, str>>,
    jwk: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

impl ProofChecker {
    /// A checker with the defaults: [`DEFAULT_ALGORITHMS`], proofs at most 60 s old and 5 s
    /// ahead of this server's clock, room for 262 144 recent `jti`s, no nonces.
    pub fn new() -> Self {
        Self {
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            max_age: 60,
            max_ahead: 5,
            nonces: None,
            public_base: None,
            replay: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: 262_144 / SHARDS,
            shard_key: random_key(),
        }
    }

    /// A checker with the same settings (algorithms, window, nonces, public base, capacity)
    /// and a replay cache of its own: the auth server checks resource requests' proofs with
    /// one and its token and revocation endpoints' with the other, so filling one cache can
    /// never refuse the other's proofs.
    #[cfg(feature = "server")]
    pub(crate) fn sibling(&self) -> Self {
        Self {
            algorithms: self.algorithms.clone(),
            max_age: self.max_age,
            max_ahead: self.max_ahead,
            nonces: self.nonces.clone(),
            public_base: self.public_base.clone(),
            replay: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: self.per_shard,
            shard_key: random_key(),
        }
    }

    /// Accept only these algorithms (asymmetric ones; HMAC algorithms are dropped, since a
    /// proof's key is public).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms
            .iter()
            .copied()
            .filter(|a| !a.is_hmac())
            .collect();
        self
    }

    /// The accepted algorithms' names, for `dpop_signing_alg_values_supported` (RFC 8414) and
    /// the `algs` challenge parameter.
    pub fn algorithm_names(&self) -> Vec<&'static str> {
        self.algorithms.iter().map(|a| a.as_str()).collect()
    }

    /// How old (by its `iat`) a proof may be, whole seconds (default 60). The replay cache
    /// keeps each `jti` this long.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age.as_secs().max(1);
        self
    }

    /// How far ahead of this server's clock a proof's `iat` may be (default 5 s).
    pub fn max_ahead(mut self, ahead: Duration) -> Self {
        self.max_ahead = ahead.as_secs();
        self
    }

    /// Room for this many recent `jti`s (default 262 144). When it is full of proofs still
    /// inside their window, new proofs are refused (fail closed) rather than forgetting a
    /// `jti` that could then be replayed.
    pub fn replay_capacity(mut self, proofs: usize) -> Self {
        self.per_shard = proofs.div_ceil(SHARDS).max(1);
        self
    }

    /// Demand server nonces (RFC 9449 §8, §9): a proof without a current nonce is refused
    /// with [`ErrorKind::UseDpopNonce`], and the answer carries [`ProofChecker::nonce_at`].
    pub fn nonces(mut self, nonces: Nonces) -> Self {
        self.nonces = Some(std::sync::Arc::new(nonces));
        self
    }

    /// The public URL this server is reached at (`https://api.example.com`, no trailing
    /// slash needed), for the HTTP adapters: a proof's `htu` is compared with it plus the
    /// request's path. Without it they use the request's own URL (its `Host`, on `http`): right
    /// for a service reached directly (the example services on loopback), wrong behind a
    /// TLS-terminating proxy, where it must be set.
    pub fn public_base(mut self, url: impl Into<String>) -> Self {
        self.public_base = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// See [`ProofChecker::public_base`].
    pub fn public_base_url(&self) -> Option<&str> {
        self.public_base.as_deref()
    }

    /// The nonce to send in a `DPoP-Nonce` header at `now`, when this checker demands them.
    pub fn nonce_at(&self, now: u64) -> Option<String> {
        self.nonces.as_ref().map(|n| n.issue_at(now))
    }

    /// Check `proof` for a request with method `htm` to URL `htu` (the URL the request was
    /// actually sent to; query and fragment are ignored), carrying `access_token` if it is a
    /// resource request, at `now`. Returns the thumbprint of the proof's key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidDpopProof`] for any refused proof (the detail says which check);
    /// [`ErrorKind::UseDpopNonce`] when a nonce is demanded and the proof has no current one.
    pub fn check_at(
        &self,
        proof: &str,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        now: u64,
    ) -> Result<Thumbprint> {
        self.check_inner(proof, htm, htu, access_token, now, None)
    }

    /// [`ProofChecker::check_at`] for a proof that must be made by the key with thumbprint
    /// `jkt` (a bound token's `cnf.jkt`, a bound session's key). A proof by another key is
    /// refused before its `jti` is recorded.
    ///
    /// # Errors
    ///
    /// As [`ProofChecker::check_at`]; [`ErrorKind::InvalidDpopProof`] for another key.
    pub fn check_bound_at(
        &self,
        proof: &str,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        now: u64,
        jkt: &Thumbprint,
    ) -> Result<()> {
        self.check_inner(proof, htm, htu, access_token, now, Some(jkt))
            .map(|_| ())
    }

    fn check_inner(
        &self,
        proof: &str,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        now: u64,
        expect: Option<&Thumbprint>,
    ) -> Result<Thumbprint> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(refuse("DPoP proof too large"));
        }
        let (h64, p64, s64) = jws::split(proof).map_err(|_| refuse("DPoP proof is not a JWS"))?;
        let (key, alg) = jws::with_decoded(h64, |h| self.header(h)).map_err(|e| {
            if e.kind() == ErrorKind::InvalidDpopProof {
                e
            } else {
                refuse("DPoP header is not base64url JSON")
            }
        })?;
        let signing_input = proof
            .as_bytes()
            .get(..h64.len() + 1 + p64.len())
            .ok_or_else(|| refuse("DPoP proof is not a JWS"))?;
        let signed =
            jws::with_decoded(s64, |sig| Ok(key.verify(signing_input, sig))).unwrap_or(false);
        if !signed || key.algorithm() != alg {
            return Err(refuse("DPoP proof signature invalid"));
        }
        let jkt = key
            .thumbprint()
            .ok_or_else(|| refuse("DPoP key has no thumbprint"))?;
        if expect.is_some_and(|want| *want != jkt) {
            return Err(refuse("DPoP proof is not by the bound key"));
        }
        let jti_id = jws::with_decoded(p64, |payload| {
            self.claims(payload, htm, htu, access_token, now, &jkt)
        })
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidDpopProof | ErrorKind::UseDpopNonce => e,
            _ => refuse("DPoP claims are not base64url JSON"),
        })?;
        self.remember(jti_id, now)?;
        Ok(jkt)
    }

    fn header(&self, bytes: &[u8]) -> Result<(VerifyingKey, Algorithm)> {
        if !jws::is_json_object(bytes) {
            return Err(refuse("DPoP header is not a JSON object"));
        }
        let h: Header<'_> =
            serde_json::from_slice(bytes).map_err(|_| refuse("DPoP header is not valid JSON"))?;
        match h.typ.as_deref() {
            Some(t) if jws::typ_matches(t, "dpop+jwt") => {}
            _ => return Err(refuse("DPoP typ is not dpop+jwt")),
        }
        if h.crit {
            return Err(refuse("DPoP header has crit extensions"));
        }
        let alg = h
            .alg
            .as_deref()
            .ok_or_else(|| refuse("DPoP header has no alg"))?;
        let alg = Algorithm::from_name(alg)
            .filter(|a| !a.is_hmac() && self.algorithms.contains(a))
            .ok_or_else(|| refuse("DPoP alg is not an accepted asymmetric algorithm"))?;
        let jwk = h.jwk.ok_or_else(|| refuse("DPoP header has no jwk"))?;
        // Anyone may send a proof, before any authentication: no RSA modulus over 4096 bits
        // (512 bytes, 683 base64url characters), so no client makes the server import and
        // verify an 8192-bit key per request.
        if let Some(n) = jwk.get("n").and_then(Value::as_str)
            && n.len() > MAX_RSA_MODULUS_B64
        {
            return Err(refuse("DPoP RSA key over 4096 bits"));
        }
        let key = VerifyingKey::from_embedded_jwk(&jwk, alg)
            .map_err(|_| refuse("DPoP jwk refused (private members, a secret, or not for alg)"))?;
        Ok((key, alg))
    }

    fn claims(
        &self,
        bytes: &[u8],
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        now: u64,
        jkt: &Thumbprint,
    ) -> Result<u128> {
        if !jws::is_json_object(bytes) {
            return Err(refuse("DPoP claims are not a JSON object"));
        }
        let c: Claims<'_> = serde_json::from_slice(bytes)
            .map_err(|_| refuse("DPoP claims missing, mistyped or repeated"))?;
        if c.jti.is_empty() || c.jti.len() > 256 {
            return Err(refuse("DPoP jti must be 1 to 256 bytes"));
        }
        if c.htm != htm {
            return Err(refuse("DPoP htm is not the request's method"));
        }
        match (normalize_htu(&c.htu), normalize_htu(htu)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return Err(refuse("DPoP htu is not the request's URL")),
        }
        let iat = c.iat.0;
        if iat.saturating_add(self.max_age) < now || iat > now.saturating_add(self.max_ahead) {
            return Err(refuse("DPoP iat outside the accepted window"));
        }
        if let Some(token) = access_token {
            let want = access_token_hash(token);
            match c.ath.as_deref() {
                // Both are public (the client sent the token): no secret to time.
                Some(ath) if ath == want => {}
                Some(_) => return Err(refuse("DPoP ath is not the access token's hash")),
                None => return Err(refuse("DPoP proof for a resource request has no ath")),
            }
        }
        if let Some(nonces) = &self.nonces
            && !c.nonce.as_deref().is_some_and(|n| nonces.valid_at(n, now))
        {
            return Err(Error::new(ErrorKind::UseDpopNonce));
        }
        // The jti is unique per key (§11.1): hash both, so two clients' equal jtis differ;
        // keyed with the checker's own secret, so the id (and its shard) cannot be aimed.
        let mut ctx = crate::backend::digest::Context::new(&crate::backend::digest::SHA256);
        ctx.update(&self.shard_key);
        ctx.update(jkt.as_bytes());
        ctx.update(c.jti.as_bytes());
        let d = ctx.finish();
        let mut id = [0u8; 16];
        id.copy_from_slice(d.as_ref().get(..16).unwrap_or(&[0; 16]));
        Ok(u128::from_le_bytes(id))
    }

    /// Record a jti, refusing one seen inside its window.
    fn remember(&self, id: u128, now: u64) -> Result<()> {
        let expires = now
            .saturating_add(self.max_age)
            .saturating_add(self.max_ahead)
            .saturating_add(1);
        let shard = usize::try_from(id % SHARDS as u128).unwrap_or(0);
        let Some(shard) = self.replay.get(shard) else {
            return Err(refuse("DPoP replay cache unavailable"));
        };
        let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(exp, old)) = s.order.front() {
            if exp > now {
                break;
            }
            s.order.pop_front();
            if s.seen.get(&old) == Some(&exp) {
                s.seen.remove(&old);
            }
        }
        if let Some(&exp) = s.seen.get(&id)
            && exp > now
        {
            return Err(refuse("DPoP jti replayed"));
        }
        if s.seen.len() >= self.per_shard {
            tracing::warn!(target: "tidepass::dpop", "DPoP replay cache full; refusing proofs");
            return Err(refuse("DPoP replay cache full"));
        }
        s.seen.insert(id, expires);
        s.order.push_back((expires, id));
        Ok(())
    }
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    crate::keys::b64(
        crate::backend::digest::digest(&crate::backend::digest::SHA256, access_token.as_bytes())
            .as_ref(),
    )
}

/// Stateless server nonces (RFC 9449 §8): an HMAC of the time window, so every instance with
/// the same secret accepts every other's nonces and nothing is stored. A nonce is good for
/// the window it was issued in and the next one.
pub struct Nonces {
    key: crate::backend::hmac::Key,
    window: u64,
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("key", &"[redacted]")
            .field("window", &self.window)
            .finish()
    }
}

impl Nonces {
    /// Nonces under `secret` (at least 32 bytes, shared by every instance that checks them),
    /// each issued for a window of `window` (whole seconds, at least one).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakKey`] for a secret shorter than 32 bytes.
    pub fn new(secret: &[u8], window: Duration) -> Result<Self> {
        if secret.len() < 32 {
            return Err(Error::with(
                ErrorKind::WeakKey,
                "a DPoP nonce secret needs at least 32 bytes",
            ));
        }
        Ok(Self {
            key: crate::backend::hmac::Key::new(crate::backend::hmac::HMAC_SHA256, secret),
            window: window.as_secs().max(1),
        })
    }

    /// Nonces under a fresh random secret (one instance, or tests).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Random`] if the system RNG fails.
    pub fn generate(window: Duration) -> Result<Self> {
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        crate::keys::crypto::fill_random(&mut secret[..])?;
        Self::new(&secret[..], window)
    }

    /// The nonce for `now`: the window's number and its HMAC.
    pub fn issue_at(&self, now: u64) -> String {
        let slot = (now / self.window).to_be_bytes();
        let t = crate::backend::hmac::sign(&self.key, &slot);
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&slot);
        out.extend_from_slice(t.as_ref());
        crate::keys::b64(&out)
    }

    /// `true` for a nonce issued in this window or the one before.
    pub fn valid_at(&self, nonce: &str, now: u64) -> bool {
        use base64::Engine as _;
        let mut raw = [0u8; 40];
        let Ok(40) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw)
        else {
            return false;
        };
        let (slot, tag) = raw.split_at(8);
        let mut n = [0u8; 8];
        n.copy_from_slice(slot);
        let n = u64::from_be_bytes(n);
        let current = now / self.window;
        if n != current && n.saturating_add(1) != current {
            return false;
        }
        crate::backend::hmac::verify(&self.key, slot, tag).is_ok()
    }
}

/// An `http`/`https` URL normalized for comparison (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2 and
/// §6.2.3): scheme and host lower-cased, the default port dropped, an empty path made `/`,
/// percent-encodings upper-cased and unreserved ones decoded, dot segments removed, query
/// and fragment dropped. `None` for anything that is not an absolute `http(s)` URL without
/// user information.
///
/// Hand-written rather than the `url` crate: the comparison needs these few rules, and `url`
/// would bring IDNA and its Unicode tables into every verifier's build.
pub fn normalize_htu(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at_checked(end)?;
    if authority.is_empty() || authority.contains('@') || !authority.is_ascii() {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p),
        _ => (authority, ""),
    };
    if host.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || !host_ok(host) {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = percent_normalize(path)?;
    let path = remove_dot_segments(if path.is_empty() { "/" } else { &path });
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    let port = port.trim_start_matches('0');
    if !port.is_empty() && port != default_port {
        out.push(':');
        out.push_str(port);
    }
    out.push_str(&path);
    Some(out)
}

/// A host is a bracketed IPv6 literal, or a name or IPv4 address of unreserved characters:
/// no `:` outside brackets, no controls, no spaces. (Found by the `dpop` fuzz target:
/// `https://\0::` normalized to `https://\0:/`, which normalized again to `https://\0/`.)
fn host_ok(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            !v6.is_empty()
                && v6
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        None => host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')),
    }
}

fn percent_normalize(path: &str) -> Option<String> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |x: u8| (x as char).to_digit(16);
            let (hi, lo) = (hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?);
            let v = u8::try_from(hi * 16 + lo).ok()?;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(v as char);
            } else {
                out.push_str(&format!("%{v:02X}"));
            }
            i += 3;
        } else if c.is_ascii() && c > b' ' && c != 0x7f {
            out.push(c as char);
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing = i == last,
            ".." => {
                out.pop();
                trailing = i == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut p = String::with_capacity(path.len());
    for s in &out {
        p.push('/');
        p.push_str(s);
    }
    if trailing || p.is_empty() {
        p.push('/');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalize_per_rfc_3986() {
        for (a, b) in [
            (
                "HTTPS://Server.Example.COM:443/token",
                "https://server.example.com/token",
            ),
            ("https://server.example.com", "https://server.example.com/"),
            (
                "https://s.example/a/./b/../c?x=1#f",
                "https://s.example/a/c",
            ),
            (
                "https://s.example/%7euser/a%2fb",
                "https://s.example/~user/a%2Fb",
            ),
            ("http://127.0.0.1:8080/me", "http://127.0.0.1:8080/me"),
            ("http://127.0.0.1:80/me", "http://127.0.0.1/me"),
            ("http://[::1]:8080/me", "http://[::1]:8080/me"),
            ("http://[::1]/me", "http://[::1]/me"),
        ] {
            assert_eq!(normalize_htu(a).as_deref(), Some(b), "{a}");
        }
        for bad in [
            "/token",
            "ftp://s.example/",
            "https://u@s.example/",
            "https:///x",
            "https://s.example/%zz",
            "https://s.example/%4",
            "https://s.example:8x/",
            "https://s.example/ä",
            // Found by the fuzz target: not idempotent before hosts were checked.
            "https://\0::",
            "https://a:b:80/",
            "https://a b/",
            "https://[]/",
        ] {
            assert_eq!(normalize_htu(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_last_two_windows_and_resist_tampering() {
        let n = Nonces::new(&[7; 32], Duration::from_secs(60)).expect("nonces");
        let nonce = n.issue_at(1_000);
        assert!(n.valid_at(&nonce, 1_000));
        assert!(n.valid_at(&nonce, 1_079));
        assert!(!n.valid_at(&nonce, 1_140));
        assert!(!n.valid_at(&nonce, 900), "from the future");
        let other = Nonces::new(&[8; 32], Duration::from_secs(60)).expect("nonces");
        assert!(!other.valid_at(&nonce, 1_000));
        assert!(!n.valid_at("not-a-nonce", 1_000));
        assert!(Nonces::new(&[1; 31], Duration::from_secs(60)).is_err());
    }

    #[test]
    fn the_replay_cache_forgets_only_expired_proofs_and_fails_closed_when_full() {
        let c = ProofChecker::new().replay_capacity(SHARDS);
        // One slot per shard: ids 0 and 8 share shard 0.
        c.remember(0, 100).expect("first");
        assert!(c.remember(0, 101).is_err(), "replay");
        assert!(c.remember(8, 101).is_err(), "full of live entries");
        c.remember(8, 100 + 66 + 1).expect("the old one expired");
        c.remember(0, 100 + 66 + 1 + 66 + 1).expect("and again");
    }
}
