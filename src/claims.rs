//! Access-token claims: the RFC 9068 profile plus `sid` and typed custom claims.

use std::fmt;

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
    One(String),
    /// Several audiences, serialized as a JSON array.
    Many(Vec<String>),
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
                Ok(Audience::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(a) = seq.next_element::<String>()? {
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
        Self::One(a.to_owned())
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
pub struct AccessClaims<C = NoExtra> {
    /// Issuer.
    pub iss: String,
    /// Subject (the user).
    pub sub: String,
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
    pub jti: String,
    /// Session id: every access token of one login on one device shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Space-separated scopes (RFC 8693 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The OAuth client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When the user last authenticated, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
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

/// Registered claim names, in the order of [`AccessClaims`]' fields.
const FIELDS: [&str; 11] = [
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
];

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
                let mut exp = None;
                let mut iat = None;
                let mut nbf = None;
                let mut jti = None;
                let mut sid = None;
                let mut scope = None;
                let mut client_id = None;
                let mut auth_time = None;
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
                    exp: exp.ok_or_else(|| missing("exp"))?,
                    iat: iat.ok_or_else(|| missing("iat"))?,
                    nbf: nbf.flatten(),
                    jti: jti.ok_or_else(|| missing("jti"))?,
                    sid: sid.flatten(),
                    scope: scope.flatten(),
                    client_id: client_id.flatten(),
                    auth_time: auth_time.flatten(),
                    extra,
                })
            }
        }
        d.deserialize_struct("AccessClaims", &FIELDS, V(std::marker::PhantomData))
    }
}
