//! Access-token claims: the RFC 9068 profile plus `sid` and typed custom claims.

use serde::{Deserialize, Serialize};

/// No custom claims. The default type parameter of [`AccessClaims`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoExtra {}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
