//! Access-token minting (RFC 9068 profile) on a key prepared once.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{KeySet, SigningKey, Thumbprint, crypto};
use crate::token::claims::{Audience, NoExtra};
use crate::token::jws;

/// The `typ` header of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// A signed access token. `Debug` prints `[redacted]`: a bearer token is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: String,
    jti: String,
    exp: u64,
}

impl AccessToken {
    /// The compact JWS, for the `Authorization: Bearer` header.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The compact JWS, owned.
    pub fn into_string(self) -> String {
        self.token
    }

    /// The token's unique id (its `jti`, a UUID v7).
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// Expiry (Unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.exp
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("jti", &self.jti)
            .field("exp", &self.exp)
            .finish()
    }
}

struct Prepared {
    keys: KeySet,
    key: Arc<SigningKey>,
    header: String,
}

impl Prepared {
    fn new(keys: KeySet) -> Self {
        let key = keys.active_shared().clone();
        let header = jws::header_b64(&key, ACCESS_TOKEN_TYPE);
        Self { keys, key, header }
    }
}

/// Mints access tokens for one issuer.
///
/// Holds a [`KeySet`]; the active key and its encoded header are prepared once, and
/// [`Minter::rotate_at`] swaps them without blocking concurrent minting.
///
/// ```
/// use tidepass::{Minter, keys::{Algorithm, SigningKey}};
/// let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth.example", "api")?;
/// let token = minter.token("user-1").scope("read").mint_at(1_700_000_000)?;
/// assert_eq!(token.expires_at(), 1_700_000_000 + 300);
/// # Ok::<(), tidepass::Error>(())
/// ```
pub struct Minter {
    issuer: String,
    audience: Audience,
    ttl: u64,
    clock: Arc<dyn Clock>,
    state: ArcSwap<Prepared>,
    rotating: Mutex<()>,
    /// The longest lifetime of any token minted (at least `ttl`): revocations must outlive it.
    max_ttl: AtomicU64,
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .field("kid", self.state.load().key.kid())
            .finish()
    }
}

/// Default access-token lifetime: 5 minutes.
pub const DEFAULT_ACCESS_TTL: u64 = 300;

impl Minter {
    /// A minter with one key, a 5-minute token lifetime and the system clock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an empty issuer or audience.
    pub fn new(key: SigningKey, issuer: &str, audience: &str) -> Result<Self> {
        Self::with_keys(KeySet::new(key), issuer, Audience::from(audience))
    }

    /// A minter over a whole [`KeySet`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for an empty issuer or audience.
    pub fn with_keys(keys: KeySet, issuer: &str, audience: Audience) -> Result<Self> {
        let empty_aud = match &audience {
            Audience::One(a) => a.is_empty(),
            Audience::Many(v) => v.is_empty() || v.iter().any(|a| a.is_empty()),
        };
        if issuer.is_empty() || empty_aud {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "issuer and audience must be set",
            ));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            audience,
            ttl: DEFAULT_ACCESS_TTL,
            clock: Arc::new(SystemClock),
            state: ArcSwap::from_pointee(Prepared::new(keys)),
            rotating: Mutex::new(()),
            max_ttl: AtomicU64::new(DEFAULT_ACCESS_TTL),
        })
    }

    /// Set the token lifetime in seconds (at least 1).
    ///
    /// Whole seconds count (a fraction is dropped); less than a second becomes one.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.as_secs().max(1);
        self.max_ttl = AtomicU64::new(self.ttl);
        self
    }

    /// Use another clock (for tests: a manual clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The token lifetime in seconds.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// The longest lifetime of any token this minter has minted, per-token overrides
    /// ([`Mint::ttl`]) included, and at least [`Minter::ttl`]. Revocations of a session live
    /// this long (plus the verifier leeway) so that they reach its longest-lived token. It is
    /// kept in memory: after a restart it starts again from the default.
    pub fn max_ttl(&self) -> u64 {
        self.max_ttl.load(Ordering::Relaxed).max(self.ttl)
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience (`aud`).
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// A snapshot of the current key set (active and retired keys).
    pub fn keys(&self) -> KeySet {
        self.state.load().keys.clone()
    }

    /// Rotate to `next` at `now`. The old key stays verify-only for the token lifetime plus
    /// `leeway`, then [`Minter::prune_at`] drops it. Concurrent minting is never blocked.
    pub fn rotate_at(&self, next: SigningKey, now: u64, leeway: Duration) {
        let _guard = self.rotating.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys = self.state.load().keys.clone();
        let keep = self.max_ttl().saturating_add(leeway.as_secs());
        keys.rotate_at(next, now, Duration::from_secs(keep));
        self.state.store(Arc::new(Prepared::new(keys)));
    }

    /// Replace the whole key set (the keys a shared key ring gives,
    /// [`crate::store::key_ring::maintain_key_ring_at`]). Concurrent minting is never blocked.
    pub fn set_keys(&self, keys: KeySet) {
        let _guard = self.rotating.lock().unwrap_or_else(|p| p.into_inner());
        self.state.store(Arc::new(Prepared::new(keys)));
    }

    /// Drop retired keys whose tokens have all expired at `now`.
    pub fn prune_at(&self, now: u64) {
        let _guard = self.rotating.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys = self.state.load().keys.clone();
        keys.prune_at(now);
        self.state.store(Arc::new(Prepared::new(keys)));
    }

    /// Start a token for `subject`.
    pub fn token<'a>(&'a self, subject: &'a str) -> Mint<'a> {
        Mint {
            minter: self,
            sub: subject,
            sid: None,
            scope: None,
            client_id: None,
            auth_time: None,
            acr: None,
            jkt: None,
            status: None,
            ttl: None,
            extra: NoExtra {},
        }
    }
}

/// A token being built; finish with [`Mint::mint`] or [`Mint::mint_at`].
#[derive(Debug)]
#[must_use = "a Mint does nothing until mint() or mint_at() is called"]
pub struct Mint<'a, C = NoExtra> {
    minter: &'a Minter,
    sub: &'a str,
    sid: Option<&'a str>,
    scope: Option<&'a str>,
    client_id: Option<&'a str>,
    auth_time: Option<u64>,
    acr: Option<&'a str>,
    jkt: Option<Thumbprint>,
    status: Option<(u64, &'a str)>,
    ttl: Option<u64>,
    extra: C,
}

impl<'a, C: Serialize> Mint<'a, C> {
    /// The session id (`sid`).
    pub fn sid(mut self, sid: &'a str) -> Self {
        self.sid = Some(sid);
        self
    }

    /// Space-separated scopes.
    pub fn scope(mut self, scope: &'a str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The OAuth client id.
    pub fn client_id(mut self, client_id: &'a str) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// When the user authenticated (Unix seconds).
    pub fn auth_time(mut self, auth_time: u64) -> Self {
        self.auth_time = Some(auth_time);
        self
    }

    /// The authentication context class (`acr`, RFC 9068 §2.2.1).
    pub fn acr(mut self, acr: &'a str) -> Self {
        self.acr = Some(acr);
        self
    }

    /// Bind the token to a DPoP key (RFC 9449 §6.1): it carries `cnf.jkt`, and verifiers
    /// accept it only under the `DPoP` scheme with a proof by that key.
    pub fn dpop_jkt(mut self, jkt: Thumbprint) -> Self {
        self.jkt = Some(jkt);
        self
    }

    /// Point the token at entry `idx` of the Token Status List published at `uri`
    /// (draft-ietf-oauth-status-list §6.1): it carries `status.status_list {idx, uri}`. The
    /// issuer sets it from the session's entry when it publishes lists
    /// ([`crate::IssuerBuilder::status_lists`]); custom claims then may not use `status`.
    pub fn status(mut self, idx: u64, uri: &'a str) -> Self {
        self.status = Some((idx, uri));
        self
    }

    /// Override the minter's lifetime for this token.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl.as_secs().max(1));
        self
    }

    /// Custom claims, flattened beside the registered ones. Names that collide with registered
    /// claims make the JSON ambiguous: [`Mint::mint_at`] refuses them.
    pub fn claims<D: Serialize>(self, extra: D) -> Mint<'a, D> {
        Mint {
            minter: self.minter,
            sub: self.sub,
            sid: self.sid,
            scope: self.scope,
            client_id: self.client_id,
            auth_time: self.auth_time,
            acr: self.acr,
            jkt: self.jkt,
            status: self.status,
            ttl: self.ttl,
            extra,
        }
    }

    /// Sign the token, reading the minter's clock.
    ///
    /// # Errors
    ///
    /// As [`Mint::mint_at`].
    pub fn mint(self) -> Result<AccessToken> {
        let now = self.minter.clock.now();
        self.mint_at(now)
    }

    /// Sign the token as of `now` (Unix seconds).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] when custom claims fail to serialize, are not a JSON object,
    /// or repeat a registered claim name; [`ErrorKind::MintTooLarge`] when the token would be
    /// longer than a default verifier accepts ([`crate::token::DEFAULT_MAX_TOKEN_LEN`]);
    /// [`ErrorKind::Random`] if the RNG fails.
    pub fn mint_at(self, now: u64) -> Result<AccessToken> {
        let m = self.minter;
        let ttl = self.ttl.unwrap_or(m.ttl);
        let exp = now.saturating_add(ttl);
        let jti = uuid_v7(now)?;
        let claims = Registered {
            iss: &m.issuer,
            sub: self.sub,
            aud: &m.audience,
            exp,
            iat: now,
            jti: &jti,
            sid: self.sid,
            scope: self.scope,
            client_id: self.client_id,
            auth_time: self.auth_time,
            acr: self.acr,
            cnf: self.jkt.map(|jkt| Cnf { jkt }),
            status: self.status.map(|(idx, uri)| StatusClaim {
                status_list: ListRef { idx, uri },
            }),
        };
        let payload = payload(&claims, &self.extra)?;
        let state = m.state.load();
        // Refuse, before signing, what a default verifier would refuse for its size.
        let len = jws::compact_len(&state.header, payload.len(), &state.key);
        if len > crate::token::DEFAULT_MAX_TOKEN_LEN {
            return Err(Error::with(
                ErrorKind::MintTooLarge,
                "token over the verifier's 8 KiB default",
            ));
        }
        let token = jws::sign(&state.header, &payload, &state.key)?;
        m.max_ttl.fetch_max(ttl, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("tidepass_tokens_minted_total").increment(1);
        Ok(AccessToken { token, jti, exp })
    }
}

/// The registered claims, borrowed, in the order they are written. [`write_registered`]
/// writes them; the derived `Serialize` is the reference it is tested against.
#[derive(Serialize)]
struct Registered<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a Audience,
    exp: u64,
    iat: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusClaim<'a>>,
}

#[derive(Serialize)]
struct Cnf {
    jkt: Thumbprint,
}

/// `status` (draft-ietf-oauth-status-list §6.1).
#[derive(Serialize)]
struct StatusClaim<'a> {
    status_list: ListRef<'a>,
}

#[derive(Serialize)]
struct ListRef<'a> {
    idx: u64,
    uri: &'a str,
}

/// The claims JSON: the registered claims, then the custom ones spliced into the same object.
/// (serde's `flatten` would buffer; splicing two serializations does not.)
fn payload<C: Serialize>(claims: &Registered<'_>, extra: &C) -> Result<Vec<u8>> {
    let ser = |e| Error::source_from(ErrorKind::Serialization, "claims", e);
    // Sized for the usual claims (about 300 bytes) so serialization does not regrow it.
    let mut out = Vec::with_capacity(512);
    write_registered(claims, &mut out).map_err(ser)?;
    let extra = serde_json::to_value(extra).map_err(ser)?;
    let serde_json::Value::Object(map) = extra else {
        return Err(Error::with(
            ErrorKind::Serialization,
            "custom claims are not a JSON object",
        ));
    };
    if map.is_empty() {
        return Ok(out);
    }
    if map.keys().any(|k| {
        crate::token::claims::REGISTERED.contains(&k.as_str())
            || (k == "status" && claims.status.is_some())
    }) {
        return Err(Error::with(
            ErrorKind::Serialization,
            "custom claims repeat a registered claim name",
        ));
    }
    let extra = serde_json::to_vec(&map).map_err(ser)?;
    out.pop(); // the closing brace
    out.push(b',');
    out.extend_from_slice(extra.strip_prefix(b"{").unwrap_or(&extra));
    Ok(out)
}

/// The registered claims as JSON, byte for byte what `serde_json::to_writer` writes for
/// [`Registered`] (a property test holds the two together), without serde's per-field
/// machinery: strings that need no escaping are copied whole, numbers go through `itoa`.
fn write_registered(c: &Registered<'_>, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"iss\":");
    json_str(c.iss, out)?;
    out.extend_from_slice(b",\"sub\":");
    json_str(c.sub, out)?;
    out.extend_from_slice(b",\"aud\":");
    match c.aud {
        Audience::One(a) => json_str(a, out)?,
        many @ Audience::Many(_) => serde_json::to_writer(&mut *out, many)?,
    }
    out.extend_from_slice(b",\"exp\":");
    out.extend_from_slice(n.format(c.exp).as_bytes());
    out.extend_from_slice(b",\"iat\":");
    out.extend_from_slice(n.format(c.iat).as_bytes());
    out.extend_from_slice(b",\"jti\":");
    json_str(c.jti, out)?;
    let optional = [
        (&b",\"sid\":"[..], c.sid),
        (b",\"scope\":", c.scope),
        (b",\"client_id\":", c.client_id),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            out.extend_from_slice(name);
            json_str(v, out)?;
        }
    }
    if let Some(t) = c.auth_time {
        out.extend_from_slice(b",\"auth_time\":");
        out.extend_from_slice(n.format(t).as_bytes());
    }
    if let Some(acr) = c.acr {
        out.extend_from_slice(b",\"acr\":");
        json_str(acr, out)?;
    }
    if let Some(cnf) = &c.cnf {
        out.extend_from_slice(b",\"cnf\":{\"jkt\":\"");
        crate::token::b64::encode_append(cnf.jkt.as_bytes(), out);
        out.extend_from_slice(b"\"}");
    }
    if let Some(st) = &c.status {
        out.extend_from_slice(b",\"status\":{\"status_list\":{\"idx\":");
        out.extend_from_slice(n.format(st.status_list.idx).as_bytes());
        out.extend_from_slice(b",\"uri\":");
        json_str(st.status_list.uri, out)?;
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string: copied whole when nothing in it needs an escape (serde_json escapes only `"`,
/// `\` and control characters), otherwise written by serde_json.
fn json_str(s: &str, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let plain = crate::token::claims::special(s.as_bytes()).is_none();
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *out, s)
    }
}

thread_local! {
    static RANDOM: RefCell<([u8; 2048], usize)> = const { RefCell::new(([0; 2048], 2048)) };
}

/// Ten random bytes from a per-thread buffer refilled from the crypto backend's CSPRNG.
fn random10() -> Result<[u8; 10]> {
    RANDOM.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (buf, used) = &mut *cell;
        if *used + 10 > buf.len() {
            crypto::fill_random(&mut buf[..])?;
            *used = 0;
        }
        let mut out = [0u8; 10];
        let taken = buf
            .get_mut(*used..*used + 10)
            .ok_or(Error::new(ErrorKind::Random))?;
        out.copy_from_slice(taken);
        taken.fill(0);
        *used += 10;
        Ok(out)
    })
}

/// A UUID v7 (RFC 9562) for `now`: 48-bit milliseconds, then 74 random bits.
pub(crate) fn uuid_v7(now: u64) -> Result<String> {
    let r = random10()?;
    let id = uuid::Builder::from_unix_timestamp_millis(now.saturating_mul(1000), &r).into_uuid();
    // encode_lower writes the 36 characters directly; `to_string` went through `fmt`.
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    Ok(id.hyphenated().encode_lower(&mut buf).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Strings with what JSON must escape (quotes, backslashes, control characters), DEL,
    // and characters outside ASCII, beside plain ones.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9:/._ -]{0,24}",
            "[\\x00-\\x7f]{0,12}",
            ".{0,12}",
            Just("\"\\\u{1}\u{7f}\u{e9}\u{2028}\u{1f600}".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

        /// The hand-written claims writer is serde_json's output, byte for byte.
        #[test]
        fn claims_writer_matches_serde_json(
            iss in text(), sub in text(), jti in text(),
            aud in proptest::collection::vec(text(), 1..4), one_aud in any::<bool>(),
            exp in any::<u64>(), iat in any::<u64>(), auth_time in any::<Option<u64>>(),
            sid in proptest::option::of(text()), scope in proptest::option::of(text()),
            client_id in proptest::option::of(text()), acr in proptest::option::of(text()),
            jkt in proptest::option::of(any::<[u8; 32]>()),
            status in proptest::option::of((any::<u64>(), text())),
        ) {
            let aud = if one_aud {
                Audience::One(aud[0].as_str().into())
            } else {
                Audience::Many(aud.iter().map(|a| a.as_str().into()).collect())
            };
            let claims = Registered {
                iss: &iss, sub: &sub, aud: &aud, exp, iat, jti: &jti,
                sid: sid.as_deref(), scope: scope.as_deref(), client_id: client_id.as_deref(),
                auth_time, acr: acr.as_deref(),
                cnf: jkt.map(|b| Cnf { jkt: Thumbprint::from_bytes(b) }),
                status: status.as_ref().map(|(idx, uri)| StatusClaim {
                    status_list: ListRef { idx: *idx, uri },
                }),
            };
            let mut ours = Vec::new();
            write_registered(&claims, &mut ours).expect("write");
            prop_assert_eq!(
                String::from_utf8(ours).expect("utf-8"),
                serde_json::to_string(&claims).expect("serde_json")
            );
        }
    }
}
