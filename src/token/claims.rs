//! Access-token claims: the RFC 9068 profile plus `sid` and typed custom claims.
//!
//! String claims are [`CompactString`]s (inline up to 24 bytes: no allocation for typical
//! `iss`, `sub`, `aud`, `jti` values on the verify path). That type is part of tidepass's
//! public API, re-exported here so users need no dependency of their own; it derefs to `str`
//! and compares with `&str`. A semver-incompatible compact_str upgrade is a breaking tidepass
//! release.
//!
//! (About 650 lines of code, and its tests: the claims, the serde parser and the fast path
//! that must answer exactly as it does, kept side by side so a claim added to one is seen
//! missing from the other.)

use std::fmt;

pub use compact_str::CompactString;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// No custom claims. The default type parameter of [`AccessClaims`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoExtra {}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialized as a JSON string.
    One(CompactString),
    /// Several audiences, serialized as a JSON array.
    Many(Vec<CompactString>),
}

impl Audience {
    /// `true` when `aud` is (or contains) `expected`.
    pub fn contains(&self, expected: &str) -> bool {
        match self {
            Self::One(a) => a == expected,
            Self::Many(v) => v.iter().any(|a| a == expected),
        }
    }
}

// By hand rather than `#[serde(untagged)]`, which buffers the value before trying each form.
impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(a) = seq.next_element::<CompactString>()? {
                    v.push(a);
                }
                Ok(Audience::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl From<&str> for Audience {
    fn from(a: &str) -> Self {
        Self::One(a.into())
    }
}

/// The claims of a tidepass access token (RFC 9068 §2.2), with custom claims `C` flattened
/// beside the registered ones.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Tenant { tenant: String }
/// let c: tidepass::AccessClaims<Tenant> = serde_json::from_str(r#"{
///   "iss":"https://auth.example","sub":"u1","aud":"api","exp":20,"iat":10,
///   "jti":"0190b6e0-0000-7000-8000-000000000000","tenant":"acme"}"#)?;
/// assert_eq!(c.extra.tenant, "acme");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessClaims<C = NoExtra> {
    /// Issuer.
    pub iss: CompactString,
    /// Subject (the user).
    pub sub: CompactString,
    /// Audience(s): the resource servers the token is for.
    pub aud: Audience,
    /// Expiry, Unix seconds. The token is invalid from this second on.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token id (UUID v7 when minted by tidepass): the revocation key of one token.
    pub jti: CompactString,
    /// Session id: every access token of one login on one device shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<CompactString>,
    /// Space-separated scopes (RFC 8693 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<CompactString>,
    /// The OAuth client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<CompactString>,
    /// When the user last authenticated, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// Authentication context class: how strongly the user authenticated (RFC 9068 §2.2.1,
    /// RFC 9470). tidepass's issuer writes the session's assurance level in decimal (`"1"`,
    /// `"2"`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<CompactString>,
    /// Confirmation (RFC 7800 §3.1): the key a sender-constrained token is bound to. For a
    /// DPoP-bound token (RFC 9449 §6.1) `cnf.jkt` is the thumbprint of the client's key, and
    /// the token is accepted only under the `DPoP` scheme with a proof by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The token's entry in a Token Status List (draft-ietf-oauth-status-list §6.1:
    /// `status.status_list`), when it has one. A `status` claim of another shape (no
    /// `status_list` member) is left to the custom claims, as before the draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TokenStatus>,
    /// Custom claims, flattened into the same JSON object.
    #[serde(flatten)]
    pub extra: C,
}

impl<C> AccessClaims<C> {
    /// `true` when the space-separated `scope` contains `wanted` as a whole word.
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == wanted))
    }

    /// `true` when every scope in `wanted` is present.
    pub fn has_scopes(&self, wanted: &[&str]) -> bool {
        wanted.iter().all(|w| self.has_scope(w))
    }
}

/// A token's entry in a Token Status List: `status.status_list {idx, uri}` (§6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenStatus {
    /// The entry's index in the list.
    pub idx: u64,
    /// Where the Status List Token is fetched (its `sub`).
    pub uri: CompactString,
}

impl TokenStatus {
    /// Entry `idx` of the list at `uri`.
    pub fn new(idx: u64, uri: impl Into<CompactString>) -> Self {
        Self {
            idx,
            uri: uri.into(),
        }
    }

    /// The entry a `status` claim's value names: `None` when it has no `status_list` member
    /// (then the claim is not the draft's); an error when `status_list` is not `{idx, uri}`
    /// with `idx` a non-negative integer and `uri` a string.
    fn from_claim(v: &serde_json::Value) -> Result<Option<Self>, &'static str> {
        let Some(list) = v.as_object().and_then(|o| o.get("status_list")) else {
            return Ok(None);
        };
        let idx = list.get("idx").and_then(serde_json::Value::as_u64);
        let uri = list.get("uri").and_then(serde_json::Value::as_str);
        match (idx, uri) {
            (Some(idx), Some(uri)) => Ok(Some(Self::new(idx, uri))),
            _ => Err("status.status_list is not {idx, uri}"),
        }
    }
}

impl Serialize for TokenStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct List<'a> {
            idx: u64,
            uri: &'a str,
        }
        #[derive(Serialize)]
        struct Claim<'a> {
            status_list: List<'a>,
        }
        Claim {
            status_list: List {
                idx: self.idx,
                uri: &self.uri,
            },
        }
        .serialize(s)
    }
}

/// The `cnf` claim (RFC 7800): how the token is bound to its holder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Confirmation {
    /// The RFC 7638 thumbprint of the DPoP key (RFC 9449 §6.1).
    pub jkt: Option<crate::keys::Thumbprint>,
    /// `true` when `cnf` names a confirmation method other than `jkt` (for example an mTLS
    /// certificate's `x5t#S256`): tidepass cannot check it, so it refuses the token.
    pub other_methods: bool,
}

impl Confirmation {
    /// A DPoP confirmation for the key with thumbprint `jkt`.
    pub fn jkt(jkt: crate::keys::Thumbprint) -> Self {
        Self {
            jkt: Some(jkt),
            other_methods: false,
        }
    }
}

impl Serialize for Confirmation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(None)?;
        if let Some(jkt) = &self.jkt {
            m.serialize_entry("jkt", jkt)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Confirmation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Confirmation;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cnf object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut c = Confirmation::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if &*key == "jkt" {
                        if c.jkt.is_some() {
                            return Err(de::Error::duplicate_field("jkt"));
                        }
                        c.jkt = Some(map.next_value()?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                        c.other_methods = true;
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

/// Registered claim names, in the order of [`AccessClaims`]' fields. Custom claims may not use
/// them.
pub(crate) const REGISTERED: [&str; 13] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sid",
    "scope",
    "client_id",
    "auth_time",
    "acr",
    "cnf",
];

/// The largest NumericDate tidepass compares: `i64::MAX` seconds (what RFC 7519 implementations
/// on signed 64-bit time can mean). Larger values, negative ones and non-numbers are refused.
pub(crate) const MAX_NUMERIC_DATE: u64 = i64::MAX as u64;

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional). Whole seconds are kept; a
/// fraction is rounded up when `UP` (iat, nbf: the token counts as issued, and valid, no
/// earlier than it says) and down otherwise (exp: it counts as expired no later than it says),
/// so rounding never makes a token valid for longer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumericDate<const UP: bool>(pub(crate) u64);

impl<'de, const UP: bool> Deserialize<'de> for NumericDate<UP> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const UP: bool>;
        impl<const UP: bool> Visitor<'_> for V<UP> {
            type Value = NumericDate<UP>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate between 0 and 2^63 - 1")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v > MAX_NUMERIC_DATE {
                    return Err(E::custom("NumericDate beyond 2^63 - 1"));
                }
                Ok(NumericDate(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("negative NumericDate"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // 2^63 exactly is the first f64 out of range; NaN is in no range.
                if !(0.0..9_223_372_036_854_775_808.0).contains(&v) {
                    return Err(E::custom("NumericDate out of range"));
                }
                let whole = if UP { v.ceil() } else { v.floor() };
                // In range and integral: the cast is exact (saturating at worst).
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let secs = whole as u64;
                Ok(NumericDate(secs.min(MAX_NUMERIC_DATE)))
            }
        }
        d.deserialize_any(V::<UP>)
    }
}

/// By hand rather than derived: `#[serde(flatten)]` buffers every field of the object before
/// deserializing any, which costs more than the rest of an HMAC verification. Here registered
/// claims are read directly; only names tidepass does not know are collected, and `C` is built
/// from those (an empty object for [`NoExtra`]). A repeated name is an error.
impl<'de, C: DeserializeOwned> Deserialize<'de> for AccessClaims<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<C>(std::marker::PhantomData<C>);
        impl<'de, C: DeserializeOwned> Visitor<'de> for V<C> {
            type Value = AccessClaims<C>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWT claims object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut iss = None;
                let mut sub = None;
                let mut aud = None;
                // Times are NumericDates (RFC 7519 §2): integers or fractions, rounded toward
                // the stricter side (exp down, iat and nbf up); see [`NumericDate`].
                let mut exp: Option<NumericDate<false>> = None;
                let mut iat: Option<NumericDate<true>> = None;
                let mut nbf: Option<Option<NumericDate<true>>> = None;
                let mut jti = None;
                let mut sid = None;
                let mut scope = None;
                let mut client_id = None;
                let mut auth_time: Option<Option<NumericDate<false>>> = None;
                let mut acr = None;
                let mut cnf = None;
                let mut status: Option<TokenStatus> = None;
                let mut extra = serde_json::Map::new();
                fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                    map: &mut A,
                    slot: &mut Option<T>,
                    name: &'static str,
                ) -> Result<(), A::Error> {
                    if slot.is_some() {
                        return Err(de::Error::duplicate_field(name));
                    }
                    *slot = Some(map.next_value()?);
                    Ok(())
                }
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "iss" => set(&mut map, &mut iss, "iss")?,
                        "sub" => set(&mut map, &mut sub, "sub")?,
                        "aud" => set(&mut map, &mut aud, "aud")?,
                        "exp" => set(&mut map, &mut exp, "exp")?,
                        "iat" => set(&mut map, &mut iat, "iat")?,
                        "nbf" => set(&mut map, &mut nbf, "nbf")?,
                        "jti" => set(&mut map, &mut jti, "jti")?,
                        "sid" => set(&mut map, &mut sid, "sid")?,
                        "scope" => set(&mut map, &mut scope, "scope")?,
                        "client_id" => set(&mut map, &mut client_id, "client_id")?,
                        "auth_time" => set(&mut map, &mut auth_time, "auth_time")?,
                        "acr" => set(&mut map, &mut acr, "acr")?,
                        "cnf" => set(&mut map, &mut cnf, "cnf")?,
                        "status" => {
                            let value: serde_json::Value = map.next_value()?;
                            if status.is_some() || extra.contains_key("status") {
                                return Err(de::Error::duplicate_field("status"));
                            }
                            match TokenStatus::from_claim(&value).map_err(de::Error::custom)? {
                                Some(st) => status = Some(st),
                                None => {
                                    extra.insert("status".to_owned(), value);
                                }
                            }
                        }
                        _ => {
                            let value: serde_json::Value = map.next_value()?;
                            if extra.insert(key.into_owned(), value).is_some() {
                                return Err(de::Error::custom("duplicate claim"));
                            }
                        }
                    }
                }
                let missing = |name| de::Error::missing_field(name);
                let extra =
                    C::deserialize(serde_json::Value::Object(extra)).map_err(de::Error::custom)?;
                Ok(AccessClaims {
                    iss: iss.ok_or_else(|| missing("iss"))?,
                    sub: sub.ok_or_else(|| missing("sub"))?,
                    aud: aud.ok_or_else(|| missing("aud"))?,
                    exp: exp.ok_or_else(|| missing("exp"))?.0,
                    iat: iat.ok_or_else(|| missing("iat"))?.0,
                    nbf: nbf.flatten().map(|t| t.0),
                    jti: jti.ok_or_else(|| missing("jti"))?,
                    sid: sid.flatten(),
                    scope: scope.flatten(),
                    client_id: client_id.flatten(),
                    auth_time: auth_time.flatten().map(|t| t.0),
                    acr: acr.flatten(),
                    cnf: cnf.flatten(),
                    status,
                    extra,
                })
            }
        }
        d.deserialize_struct("AccessClaims", &REGISTERED, V(std::marker::PhantomData))
    }
}

/// The index of the first `"`, `\\` or control character in `b`, eight bytes at a time.
///
/// Per 64-bit word, `(x - 0x01…) & !x & 0x80…` flags a byte that is zero (after an XOR with the
/// byte looked for) or below the subtrahend, exactly for the lowest such byte: a borrow only
/// false-flags bytes above a true one. The lowest flag of the three masks is therefore the
/// first special byte. Property-tested against the byte-by-byte scan.
pub(crate) fn special(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let flag = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().ok()?);
        let m = flag(x ^ (0x22 * ONES))
            | flag(x ^ (0x5c * ONES))
            | (x.wrapping_sub(0x20 * ONES) & !x & HIGH);
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| at + p)
}

/// The keys the minter writes, in its order, each with its `"name":` as it appears in the JSON:
/// the fast path compares the next key in place before it scans one as a string. It is
/// [`REGISTERED`] without `nbf` (a unit test holds the two together); the patterns are spelled
/// out because comparing them is about 140 instructions per token cheaper than assembling
/// `"`, name and `":` from `REGISTERED` (callgrind).
const MINTER_KEYS: [(&str, &[u8]); 13] = [
    ("iss", br#""iss":"#),
    ("sub", br#""sub":"#),
    ("aud", br#""aud":"#),
    ("exp", br#""exp":"#),
    ("iat", br#""iat":"#),
    ("jti", br#""jti":"#),
    ("sid", br#""sid":"#),
    ("scope", br#""scope":"#),
    ("client_id", br#""client_id":"#),
    ("auth_time", br#""auth_time":"#),
    ("acr", br#""acr":"#),
    ("cnf", br#""cnf":"#),
    ("status", br#""status":"#),
];

/// A fast path for the claims layout tidepass's own minter writes: a flat object of registered
/// claims whose strings have no escapes and whose numbers are plain unsigned integers, with no
/// whitespace. Anything else — an unknown or repeated name, an escape, a `null`, a float, a
/// space — returns `None` and the caller falls back to the full serde_json path, so the fast
/// path never decides anything the full parser would decide differently. It exists because a
/// general JSON parser costs more than the HMAC of an HS256 token.
pub(crate) fn parse_simple<C: DeserializeOwned>(text: &str) -> Option<AccessClaims<C>> {
    let b = text.as_bytes();
    let mut i = 0;
    let next =
        |want: u8, i: &mut usize| -> Option<()> { (b.get(*i) == Some(&want)).then(|| *i += 1) };
    // A string with no escapes or control characters; returns it and moves past the quote.
    fn string<'t>(text: &'t str, i: &mut usize) -> Option<&'t str> {
        let b = text.as_bytes();
        if b.get(*i) != Some(&b'"') {
            return None;
        }
        let start = *i + 1;
        // One pass: stop at the closing quote, give up on an escape or a control character.
        let len = special(b.get(start..)?)?;
        if b.get(start + len) != Some(&b'"') {
            return None;
        }
        *i = start + len + 1;
        // `"` is ASCII, so these are char boundaries.
        text.get(start..start + len)
    }
    fn number(b: &[u8], i: &mut usize) -> Option<u64> {
        let start = *i;
        let mut v: u64 = 0;
        while let Some(d) = b.get(*i).filter(|c| c.is_ascii_digit()) {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            *i += 1;
        }
        // No digits, or a leading zero (not JSON), or a fraction/exponent, or beyond what a
        // NumericDate can mean: not simple (the full path decides).
        let digits = *i - start;
        if digits == 0 || (digits > 1 && b.get(start) == Some(&b'0')) || v > MAX_NUMERIC_DATE {
            return None;
        }
        matches!(b.get(*i), Some(b',' | b'}')).then_some(v)
    }
    fn set<T>(slot: &mut Option<T>, v: T) -> Option<()> {
        slot.is_none().then(|| *slot = Some(v))
    }
    next(b'{', &mut i)?;
    let (mut iss, mut sub, mut aud, mut exp, mut iat, mut nbf) =
        (None, None, None, None, None, None);
    let (mut jti, mut sid, mut scope, mut client_id, mut auth_time, mut acr) =
        (None, None, None, None, None, None);
    let mut cnf = None;
    let mut status = None;
    let mut expect = 0;
    loop {
        let rest = b.get(i..)?;
        let known = MINTER_KEYS
            .iter()
            .enumerate()
            .skip(expect)
            .find(|(_, (_, pat))| rest.starts_with(pat));
        let key = match known {
            Some((at, (name, pat))) => {
                i += pat.len();
                expect = at + 1;
                *name
            }
            None => {
                let key = string(text, &mut i)?;
                next(b':', &mut i)?;
                key
            }
        };
        match key {
            "iss" => set(&mut iss, CompactString::from(string(text, &mut i)?))?,
            "sub" => set(&mut sub, CompactString::from(string(text, &mut i)?))?,
            "jti" => set(&mut jti, CompactString::from(string(text, &mut i)?))?,
            "sid" => set(&mut sid, CompactString::from(string(text, &mut i)?))?,
            "scope" => set(&mut scope, CompactString::from(string(text, &mut i)?))?,
            "client_id" => set(&mut client_id, CompactString::from(string(text, &mut i)?))?,
            "acr" => set(&mut acr, CompactString::from(string(text, &mut i)?))?,
            "exp" => set(&mut exp, number(b, &mut i)?)?,
            "iat" => set(&mut iat, number(b, &mut i)?)?,
            "nbf" => set(&mut nbf, number(b, &mut i)?)?,
            "auth_time" => set(&mut auth_time, number(b, &mut i)?)?,
            // The minter writes `{"jkt":"…"}` and nothing else; any other shape goes the full way.
            "cnf" => {
                const OPEN: &[u8] = br#"{"jkt":"#;
                if !b.get(i..)?.starts_with(OPEN) {
                    return None;
                }
                i += OPEN.len();
                let jkt = string(text, &mut i)?.parse().ok()?;
                next(b'}', &mut i)?;
                set(&mut cnf, Confirmation::jkt(jkt))?;
            }
            // The minter writes `{"status_list":{"idx":N,"uri":"…"}}` exactly.
            "status" => {
                const OPEN: &[u8] = br#"{"status_list":{"idx":"#;
                const URI: &[u8] = br#","uri":"#;
                if !b.get(i..)?.starts_with(OPEN) {
                    return None;
                }
                i += OPEN.len();
                let idx = number(b, &mut i)?;
                if !b.get(i..)?.starts_with(URI) {
                    return None;
                }
                i += URI.len();
                let uri = string(text, &mut i)?;
                next(b'}', &mut i)?;
                next(b'}', &mut i)?;
                set(&mut status, TokenStatus::new(idx, uri))?;
            }
            "aud" if b.get(i) == Some(&b'[') => {
                i += 1;
                let mut v = Vec::new();
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    loop {
                        v.push(CompactString::from(string(text, &mut i)?));
                        match b.get(i) {
                            Some(b',') => i += 1,
                            Some(b']') => {
                                i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                set(&mut aud, Audience::Many(v))?;
            }
            "aud" => set(
                &mut aud,
                Audience::One(CompactString::from(string(text, &mut i)?)),
            )?,
            _ => return None,
        }
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if i + 1 == b.len() => break,
            _ => return None,
        }
    }
    // No custom claims were present: build `C` from an empty map (cheaper than an empty
    // `serde_json::Value`). A `C` that needs fields fails here and the full path reports it.
    let empty = std::iter::empty::<(&str, &str)>();
    let extra = C::deserialize(de::value::MapDeserializer::<_, serde_json::Error>::new(
        empty,
    ))
    .ok()?;
    Some(AccessClaims {
        iss: iss?,
        sub: sub?,
        aud: aud?,
        exp: exp?,
        iat: iat?,
        nbf,
        jti: jti?,
        sid,
        scope,
        client_id,
        auth_time,
        acr,
        cnf,
        status,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full(text: &str) -> Option<AccessClaims> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn minter_keys_are_the_registered_names_in_order() {
        let names: Vec<&str> = MINTER_KEYS.iter().map(|(n, _)| *n).collect();
        // `status` last: registered only in the draft's shape (custom claims may use the name).
        let registered: Vec<&str> = REGISTERED
            .into_iter()
            .filter(|n| *n != "nbf")
            .chain(["status"])
            .collect();
        assert_eq!(names, registered);
        for (name, pat) in MINTER_KEYS {
            assert_eq!(pat, format!("\"{name}\":").as_bytes());
        }
    }

    #[test]
    fn the_minters_layout_takes_the_fast_path() {
        let t = r#"{"iss":"https://a.example","sub":"u","aud":["x","api"],"exp":20,"iat":10,"jti":"j","sid":"s","scope":"read write","client_id":"c","auth_time":9}"#;
        let fast = parse_simple::<NoExtra>(t).expect("fast path");
        assert_eq!(Some(fast), full(t));
    }

    #[test]
    fn the_status_claim_takes_the_fast_path_in_the_minters_shape() {
        let t = r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j","status":{"status_list":{"idx":42,"uri":"https://a/statuslists/0"}}}"#;
        let fast = parse_simple::<NoExtra>(t).expect("fast path");
        assert_eq!(
            fast.status,
            Some(TokenStatus::new(42, "https://a/statuslists/0"))
        );
        assert_eq!(Some(fast), full(t));
        // Another shape of `status` is a custom claim, as before the draft.
        let other =
            r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j","status":"active"}"#;
        let c: AccessClaims<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(other).expect("parses");
        assert_eq!(c.status, None);
        assert_eq!(c.extra["status"], "active");
        // The draft's member in another shape is refused, not ignored.
        let bad = r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j","status":{"status_list":{"idx":"1","uri":"u"}}}"#;
        assert!(full(bad).is_none());
    }

    #[test]
    fn anything_unusual_falls_back() {
        for t in [
            r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j","tenant":"t"}"#,
            r#"{"iss":"a\u0041","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j"}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j","sub":"v"}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":020,"iat":10,"jti":"j"}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":2.0,"iat":10,"jti":"j"}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":20, "iat":10,"jti":"j"}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j","nbf":null}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10}"#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":20,"iat":10,"jti":"j"} "#,
            r#"{"iss":"a","sub":"u","aud":"x","exp":99999999999999999999,"iat":10,"jti":"j"}"#,
        ] {
            assert!(parse_simple::<NoExtra>(t).is_none(), "{t}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

        /// The word-at-a-time scan finds what the byte-by-byte one finds, on any bytes (UTF-8
        /// continuation bytes, DEL, quotes, backslashes and control characters among them).
        #[test]
        fn special_agrees_with_the_byte_scan(b in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), Just(0x1f), Just(0x20), Just(0x7f), 0x80u8..], 0..40)) {
            let want = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(special(&b), want);
        }

        /// Well-formed minter-style claims in any order take the fast path and agree.
        #[test]
        fn valid_layouts_take_the_fast_path(
            order in Just(vec!["iss", "sub", "aud", "exp", "iat", "jti", "sid", "nbf"]).prop_shuffle(),
            strs in proptest::collection::vec("[a-zA-Z0-9 ._:/~+-]{0,30}", 8),
            nums in proptest::collection::vec(0..=MAX_NUMERIC_DATE, 8),
            many in any::<bool>(),
        ) {
            let body: Vec<String> = order.iter().enumerate().map(|(i, k)| match *k {
                "exp" | "iat" | "nbf" => format!("\"{k}\":{}", nums[i]),
                "aud" if many => format!("\"aud\":[\"{}\",\"x\"]", strs[i]),
                _ => format!("\"{k}\":\"{}\"", strs[i]),
            }).collect();
            let text = format!("{{{}}}", body.join(","));
            let fast = parse_simple::<NoExtra>(&text);
            prop_assert!(fast.is_some(), "{}", text);
            prop_assert_eq!(fast, full(&text));
        }

        /// Whenever the fast path answers, the full parser gives the same claims.
        #[test]
        fn fast_path_agrees_with_serde(
            keys in proptest::collection::vec(prop_oneof![
                Just("iss"), Just("sub"), Just("aud"), Just("exp"), Just("iat"), Just("nbf"),
                Just("jti"), Just("sid"), Just("scope"), Just("client_id"), Just("auth_time"), Just("x"),
                Just("status")
            ], 0..12),
            values in proptest::collection::vec(prop_oneof![
                "[a-z \\\\\"]{0,6}".prop_map(|s| format!("\"{s}\"")),
                (0u64..u64::MAX).prop_map(|n| n.to_string()),
                Just("0".to_owned()), Just("01".to_owned()), Just("1e3".to_owned()), Just("null".to_owned()),
                Just("[\"a\",\"b\"]".to_owned()), Just("[]".to_owned()), Just("-1".to_owned()),
                Just(r#"{"status_list":{"idx":7,"uri":"https://a/s/0"}}"#.to_owned()),
                Just(r#"{"status_list":{"idx":-7,"uri":"u"}}"#.to_owned()),
                Just(r#"{"status_list":{"uri":"u","idx":7}}"#.to_owned()),
                Just(r#"{"other":1}"#.to_owned()),
            ], 12),
        ) {
            let body: Vec<String> = keys.iter().zip(&values).map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let text = format!("{{{}}}", body.join(","));
            if let Some(fast) = parse_simple::<NoExtra>(&text) {
                prop_assert_eq!(Some(fast), full(&text), "{}", text);
            }
        }
    }
}
