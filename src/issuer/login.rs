//! What a login hands in and what the issuer hands back.

use serde_json::{Map, Value};

use crate::session::refresh::RefreshToken;
use crate::session::{ClientContext, Session, SessionId};
use crate::token::mint::AccessToken;

/// What [`Issuer::login`](super::Issuer::login) and [`Issuer::refresh`](super::Issuer::refresh)
/// hand back.
#[derive(Debug)]
#[non_exhaustive]
pub struct TokenPair {
    /// The access token (for `Authorization: Bearer`).
    pub access: AccessToken,
    /// The refresh token: keep it where scripts cannot read it.
    pub refresh: RefreshToken,
    /// The session both belong to.
    pub session_id: SessionId,
    /// Seconds until the access token expires (OAuth `expires_in`).
    pub expires_in: u64,
    /// When the session ends unless refreshed before (Unix seconds).
    pub refresh_expires_at: u64,
    /// The session is DPoP-bound: the access token carries `cnf.jkt` and is used under the
    /// `DPoP` scheme ([`TokenPair::token_type`]).
    pub dpop_bound: bool,
}

impl TokenPair {
    /// The OAuth `token_type` (RFC 6749 §7.1): `"DPoP"` for a DPoP-bound session (RFC 9449
    /// §5), else `"Bearer"`.
    pub fn token_type(&self) -> &'static str {
        if self.dpop_bound { "DPoP" } else { "Bearer" }
    }
}

/// A login to open a session for. Build with [`Login::new`] and the setters.
#[derive(Debug, Clone)]
pub struct Login {
    pub(crate) subject: String,
    pub(crate) context: ClientContext,
    pub(crate) scope: Option<String>,
    pub(crate) client_id: Option<String>,
    /// The custom claims, or why they could not be serialized (refused by the login).
    pub(crate) claims: std::result::Result<Map<String, Value>, crate::ErrorKind>,
    pub(crate) assurance: u8,
    pub(crate) auth_time: Option<u64>,
    pub(crate) dpop_jkt: Option<crate::keys::Thumbprint>,
}

impl Login {
    /// A login for `subject`, whom the application has just authenticated.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            context: ClientContext::default(),
            scope: None,
            client_id: None,
            claims: Ok(Map::new()),
            assurance: 1,
            auth_time: None,
            dpop_jkt: None,
        }
    }

    /// Bind the session to the DPoP key with thumbprint `jkt` (RFC 9449 §5), whose proof the
    /// caller has checked on this login request
    /// ([`ProofChecker`](crate::verify::dpop::ProofChecker)): every refresh must then carry a
    /// proof by that key ([`Refresh::dpop`](crate::issuer::Refresh::dpop)), and every
    /// access token carries `cnf.jkt`.
    pub fn dpop(mut self, jkt: crate::keys::Thumbprint) -> Self {
        self.dpop_jkt = Some(jkt);
        self
    }

    /// The device, user agent and IP.
    pub fn context(mut self, context: ClientContext) -> Self {
        self.context = context;
        self
    }

    /// Scopes the session's access tokens carry.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The OAuth client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Custom claims for every access token of the session: anything that serializes to a
    /// JSON object (your struct, or a map), as [`Mint::claims`](crate::token::mint::Mint::claims)
    /// takes. Verifiers read them back typed (`Verifier<C>`, `start_with_claims::<C>`). A value
    /// that is not an object makes the login fail with [`ErrorKind::Serialization`](
    /// crate::ErrorKind::Serialization).
    pub fn claims<D: serde::Serialize>(mut self, claims: D) -> Self {
        self.claims = match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(crate::ErrorKind::Serialization),
        };
        self
    }

    /// Authentication assurance level (default 1).
    pub fn assurance(mut self, level: u8) -> Self {
        self.assurance = level;
        self
    }

    /// When the user authenticated, if not now.
    pub fn auth_time(mut self, at: u64) -> Self {
        self.auth_time = Some(at);
        self
    }
}

/// One of a subject's sessions, as a "your devices" screen shows it. Its times are
/// [`time::OffsetDateTime`] (UTC); the stored [`Session`] keeps Unix seconds, the form every
/// store and the tokens' NumericDates share.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionView {
    /// The session.
    pub session: Session,
    /// `true` for the session the request came from.
    pub current: bool,
}

/// Unix seconds as a UTC time (the latest representable one for a value beyond it).
pub(crate) fn utc(secs: u64) -> time::OffsetDateTime {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

/// A UTC time as RFC 3339 text (`2026-12-06T12:00:00Z`), for JSON people read.
#[cfg(feature = "server")]
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl SessionView {
    /// When the session was opened (the login).
    pub fn created_at(&self) -> time::OffsetDateTime {
        utc(self.session.created_at)
    }

    /// When its refresh token was last used.
    pub fn last_used_at(&self) -> time::OffsetDateTime {
        utc(self.session.last_used_at)
    }

    /// When it ends unless used again (idle timeout) or at the latest (absolute timeout),
    /// whichever comes first.
    pub fn expires_at(&self) -> time::OffsetDateTime {
        utc(self.session.ends_at())
    }
}
