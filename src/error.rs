//! One opaque error type for everything tidepass does.
//!
//! Callers branch on three questions, answered by predicates:
//!
//! - [`Error::is_rejected`]: the *input* was refused (a token, a header, a key document from
//!   outside). Answer the client with 401/400; the detail belongs in logs, not in the response.
//! - [`Error::is_misuse`]: the *caller* did something wrong (bad configuration, a weak key, a
//!   key that cannot do what was asked). Fix the code or the configuration.
//! - [`Error::is_store`]: a backing store failed. Retry or answer 503.
//!
//! [`Error::kind`] gives the precise [`ErrorKind`] for logs, metrics and tests. Error messages
//! never contain tokens or key material.
//!
//! (Over 600 lines only with its unit tests; the code is about 540.)

use std::fmt;

/// The precise reason for an [`Error`].
///
/// Each variant's documentation says what it means and how to fix it. New variants may be added
/// in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    // ----- rejected input: tokens and headers -----
    /// The token is longer than the configured limit. Nothing was decoded.
    TooLarge,
    /// The token is not compact JWS: wrong number of parts, bad base64url, bad JSON, or a header
    /// or claims set that is not a JSON object. Fix the producer of the token.
    Malformed,
    /// The token has five parts: it is a JWE (encrypted), which tidepass does not accept as an
    /// access token.
    Encrypted,
    /// The header says `alg: none` (in any spelling). Unsigned tokens are never accepted.
    AlgorithmNone,
    /// The header names an algorithm tidepass does not implement (for example `ES512`).
    UnsupportedAlgorithm,
    /// The header's `alg` disagrees with the algorithm of the key chosen by `kid`. This is the
    /// signature of an algorithm-confusion attack (for example HS256 "signed" with a public key).
    AlgorithmMismatch,
    /// The header has no `kid` and the key set cannot pick a key without one.
    MissingKeyId,
    /// No key in the verifier's key set has the token's `kid`. If the issuer rotated keys,
    /// refresh the verifier's JWKS.
    UnknownKey,
    /// The header embeds key material or a key URL (`jwk`, `jku`, `x5u`, `x5c`). tidepass never
    /// trusts keys carried by the token itself.
    EmbeddedKey,
    /// The header has a `crit` parameter. tidepass understands no JWS extensions, so by RFC 7515
    /// §4.1.11 the token must be rejected.
    UnknownCritical,
    /// The signature does not verify with the chosen key.
    InvalidSignature,
    /// The header's `typ` is missing or is not the required one (`at+jwt` by default, RFC 9068).
    InvalidType,
    /// The `iss` claim is missing or is not the expected issuer.
    InvalidIssuer,
    /// The `sub` claim is not the expected one: a Status List Token whose `sub` is not the
    /// list's URI the referenced token names (another list's token says nothing about it).
    InvalidSubject,
    /// The `aud` claim is missing or does not contain the expected audience.
    InvalidAudience,
    /// A required claim (`exp`, `iat`, `sub`, `jti`) is missing or has the wrong JSON type.
    MissingClaim,
    /// `exp` lies in the past (beyond the leeway).
    Expired,
    /// `nbf` lies in the future (beyond the leeway).
    NotYetValid,
    /// `iat` lies in the future (beyond the leeway): the token was minted by a clock that runs
    /// ahead, or forged.
    IssuedInFuture,
    /// The token claims to live longer (`exp - iat`) than the verifier's maximum token lifetime
    /// (a day by default): a far-future `exp` is refused even when signed. Raise
    /// `VerifierBuilder::max_token_lifetime` if your issuer really mints such tokens.
    LifetimeTooLong,
    /// `exp`, `nbf`, `iat` or `auth_time` is not a NumericDate tidepass can compare: negative,
    /// beyond 2⁶³ − 1 seconds, or not a number.
    InvalidNumericDate,
    /// The token is on the revocation list: its session was logged out or revoked, the token
    /// itself was revoked, or its subject's tokens issued before a moment were.
    Revoked,
    /// The token is valid but lacks a scope the resource requires. Answer 403
    /// `insufficient_scope`.
    InsufficientScope,
    /// The token is valid but its login is too old or too weak for the resource (RFC 9470:
    /// `max_age` or `acr_values`). Answer 401 `insufficient_user_authentication` with the
    /// demand, so the client sends the user to log in again.
    InsufficientUserAuthentication,
    /// No credential at all (an empty or absent `Authorization` header). RFC 6750 §3.1: answer
    /// 401 with a bare `WWW-Authenticate: Bearer` challenge and no error code.
    MissingToken,
    /// The `Authorization` header uses another scheme, or is not a valid RFC 6750
    /// bearer credential. Answer 400/401 `invalid_request`.
    InvalidRequest,
    /// The string is not a tidepass refresh token, or its tag does not verify (guessed,
    /// mangled, truncated, or made with a secret this issuer does not hold). Checked before any
    /// store access. Answer `invalid_grant`.
    InvalidRefreshToken,
    /// The refresh token is authentic but its session is not in the store (cleaned up after it
    /// ended, or the store was reset). Answer `invalid_grant`: the user logs in again.
    UnknownSession,
    /// The session was revoked (logout, revoke, reuse detection, privilege change). Answer
    /// `invalid_grant`.
    SessionRevoked,
    /// The session passed its idle timeout or its absolute lifetime. Answer `invalid_grant`.
    SessionExpired,
    /// An already-rotated refresh token was presented again outside the grace window (or beyond
    /// the replay cap): the token was probably stolen, and the whole session has just been
    /// revoked. Answer `invalid_grant`.
    RefreshReuse,
    /// The refresh token's generation is newer than the session's: forged with a leaked secret,
    /// or the store was rolled back. Answer `invalid_grant`.
    RefreshFromFuture,
    /// The risk policy wants the user to authenticate again before this session continues
    /// (for example the client looks different from the one that logged in). The session is
    /// kept. Answer `invalid_grant`.
    StepUpRequired,
    /// The risk policy refused the refresh and the session was revoked. Answer
    /// `invalid_grant`.
    RiskDenied,
    /// The refresh token is the immediate parent inside the grace window, but this generation
    /// has already served its cap of grace replays (`Policy::max_grace_replays`). The session
    /// is kept: this is not reuse. Answer 429 with `Retry-After: 1`
    /// ([`Error::retry_after`]); a client that already holds the child should use it. It is
    /// deliberately not `invalid_grant`, which tells OAuth clients to drop the session.
    GraceReplayLimit,
    /// A key document from outside (a JWK or JWKS) was refused: unknown key type, wrong `use` or
    /// `key_ops`, a point off the curve, a duplicate `kid`, a weak key, and so on.
    InvalidKeySet,

    // ----- misuse by the caller -----
    /// A key could not be imported or generated: bad PEM/DER, unsupported key type, or a key
    /// that does not match the requested algorithm.
    InvalidKey,
    /// A key is too weak: an HMAC secret shorter than the hash output, an RSA modulus under 2048
    /// bits, an RSA public exponent below 3, or a key with the ROCA fingerprint.
    WeakKey,
    /// The operation needs a private key but only a public one is held (or the reverse).
    KeyCannotSign,
    /// A configuration value is out of range (for example an empty issuer).
    InvalidConfig,
    /// Claims could not be serialized to JSON when minting.
    Serialization,
    /// The token being minted would be refused by a default verifier: longer than
    /// [`crate::token::DEFAULT_MAX_TOKEN_LEN`] (a long `sub`, large custom claims, or
    /// characters JSON escapes). Nothing was signed. Shorten the claims.
    MintTooLarge,
    /// The system random number generator failed.
    Random,
    /// An I/O operation on a key or data file failed.
    Io,

    // ----- store -----
    /// The session store failed or could not be reached. Nothing was changed by this call
    /// unless the store says otherwise; retry later or answer 503.
    Store,
    /// The session store's data could not be decoded (corruption, or a newer format). Nothing
    /// was changed.
    StoreCorrupt,
    /// A signed revocation feed was signed before the newest one the list has applied (a
    /// replay), or in the future. Nothing was applied.
    FeedReplayed,
    /// The verifier's revocation list has not synced for longer than its `max_staleness`:
    /// a logout may have happened that it cannot know of, so it fails closed. Not the
    /// client's fault: answer 503 (`Retry-After`); check the revocation feed's reachability.
    RevocationsStale,
    // ----- fetching from another service -----
    /// Fetching a document from another service failed (the issuer's JWKS, the revocation
    /// feed): unreachable, a timeout, a non-success status. What the verifier holds is kept;
    /// retry later. Build it with [`Error::fetch`].
    Fetch,
    /// An authorization server's RFC 8414 metadata was refused: not a JSON object, over its
    /// size limit, an `issuer` other than the one asked for (§3.3), or a missing or unusable
    /// `jwks_uri`.
    InvalidMetadata,
    // ----- DPoP (RFC 9449) -----
    /// A DPoP proof was refused: missing where one is required, not a `dpop+jwt`, an
    /// algorithm that is not asymmetric, an embedded key with private parts, a bad signature,
    /// `htm`/`htu` for another request, an `iat` outside the window, a `jti` seen before, an
    /// `ath` for another access token, or a key other than the one the token or session is
    /// bound to. Answer `invalid_dpop_proof` (400 at the token endpoint, 401 with
    /// `WWW-Authenticate: DPoP` at a resource). A bound session lives on.
    InvalidDpopProof,
    /// The server demands a DPoP nonce the proof did not carry (or carried a stale one): answer
    /// `use_dpop_nonce` with a fresh `DPoP-Nonce` header; the client retries once with it.
    UseDpopNonce,
    /// A DPoP-bound access token (`cnf.jkt`) was presented as a bearer token: it is usable only
    /// under the `DPoP` scheme with a proof by its key (RFC 9449 §7.1).
    DpopBoundToken,
}

impl ErrorKind {
    /// A stable snake_case code (`"invalid_signature"`, `"refresh_reuse"`, …): for metric
    /// labels, log fields and dashboards. It never changes for a kind once released.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::Encrypted => "encrypted",
            Self::AlgorithmNone => "algorithm_none",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::MissingKeyId => "missing_key_id",
            Self::UnknownKey => "unknown_key",
            Self::EmbeddedKey => "embedded_key",
            Self::UnknownCritical => "unknown_critical",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidType => "invalid_type",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidSubject => "invalid_subject",
            Self::InvalidAudience => "invalid_audience",
            Self::MissingClaim => "missing_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::InvalidNumericDate => "invalid_numeric_date",
            Self::Revoked => "revoked",
            Self::InsufficientScope => "insufficient_scope",
            Self::InsufficientUserAuthentication => "insufficient_user_authentication",
            Self::MissingToken => "missing_token",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::UnknownSession => "unknown_session",
            Self::SessionRevoked => "session_revoked",
            Self::SessionExpired => "session_expired",
            Self::RefreshReuse => "refresh_reuse",
            Self::RefreshFromFuture => "refresh_from_future",
            Self::StepUpRequired => "step_up_required",
            Self::RiskDenied => "risk_denied",
            Self::GraceReplayLimit => "grace_replay_limit",
            Self::InvalidKeySet => "invalid_key_set",
            Self::InvalidKey => "invalid_key",
            Self::WeakKey => "weak_key",
            Self::KeyCannotSign => "key_cannot_sign",
            Self::InvalidConfig => "invalid_config",
            Self::Serialization => "serialization",
            Self::MintTooLarge => "mint_too_large",
            Self::Random => "random",
            Self::Io => "io",
            Self::Store => "store",
            Self::StoreCorrupt => "store_corrupt",
            Self::Fetch => "fetch",
            Self::InvalidMetadata => "invalid_metadata",
            Self::RevocationsStale => "revocations_stale",
            Self::FeedReplayed => "feed_replayed",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::DpopBoundToken => "dpop_bound_token",
        }
    }

    /// A short, stable, lower-case description, safe to log and to show.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "token too large",
            Self::Malformed => "malformed token",
            Self::Encrypted => "encrypted tokens (JWE) are not accepted",
            Self::AlgorithmNone => "unsigned token (alg none)",
            Self::UnsupportedAlgorithm => "unsupported algorithm",
            Self::AlgorithmMismatch => "header alg does not match the key's algorithm",
            Self::MissingKeyId => "token has no kid",
            Self::UnknownKey => "no key with the token's kid",
            Self::EmbeddedKey => "token header embeds a key or key URL",
            Self::UnknownCritical => "token header has crit extensions",
            Self::InvalidSignature => "invalid signature",
            Self::InvalidType => "wrong or missing typ",
            Self::InvalidIssuer => "wrong or missing issuer",
            Self::InvalidSubject => "wrong subject",
            Self::InvalidAudience => "wrong or missing audience",
            Self::MissingClaim => "required claim missing or mistyped",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::IssuedInFuture => "token issued in the future",
            Self::LifetimeTooLong => "token lifetime exceeds the verifier's maximum",
            Self::InvalidNumericDate => "a time claim is not a valid NumericDate",
            Self::Revoked => "token revoked",
            Self::InsufficientScope => "insufficient scope",
            Self::InsufficientUserAuthentication => "a more recent or stronger login is required",
            Self::MissingToken => "no bearer token",
            Self::InvalidRequest => "invalid bearer credential",
            Self::InvalidKeySet => "key set refused",
            Self::InvalidRefreshToken => "invalid refresh token",
            Self::UnknownSession => "unknown session",
            Self::SessionRevoked => "session revoked",
            Self::SessionExpired => "session expired",
            Self::RefreshReuse => "refresh token reuse detected; session revoked",
            Self::RefreshFromFuture => "refresh token generation is ahead of the session",
            Self::StepUpRequired => "step-up authentication required",
            Self::RiskDenied => "refresh denied by the risk policy; session revoked",
            Self::GraceReplayLimit => "too many concurrent refreshes of one token; retry",
            Self::Store => "session store unavailable",
            Self::StoreCorrupt => "session store data corrupt",
            Self::Fetch => "fetching from another service failed",
            Self::InvalidMetadata => "authorization server metadata refused",
            Self::RevocationsStale => "revocation list too old; failing closed",
            Self::FeedReplayed => "revocation feed replayed or from the future",
            Self::InvalidKey => "invalid key",
            Self::WeakKey => "key too weak",
            Self::KeyCannotSign => "key cannot do this operation",
            Self::InvalidConfig => "invalid configuration",
            Self::Serialization => "claims could not be serialized",
            Self::MintTooLarge => "token would exceed the verifier's size limit",
            Self::Random => "random number generator failed",
            Self::Io => "i/o error",
            Self::InvalidDpopProof => "invalid DPoP proof",
            Self::UseDpopNonce => "a DPoP nonce is required",
            Self::DpopBoundToken => "a DPoP-bound token was presented as a bearer token",
        }
    }

    fn class(self) -> Class {
        use ErrorKind::*;
        match self {
            TooLarge
            | Malformed
            | Encrypted
            | AlgorithmNone
            | UnsupportedAlgorithm
            | AlgorithmMismatch
            | MissingKeyId
            | UnknownKey
            | EmbeddedKey
            | UnknownCritical
            | InvalidSignature
            | InvalidType
            | InvalidIssuer
            | InvalidSubject
            | InvalidAudience
            | MissingClaim
            | Expired
            | NotYetValid
            | IssuedInFuture
            | LifetimeTooLong
            | InvalidNumericDate
            | Revoked
            | InsufficientScope
            | InsufficientUserAuthentication
            | InvalidRequest
            | MissingToken
            | InvalidKeySet
            | InvalidRefreshToken
            | UnknownSession
            | SessionRevoked
            | SessionExpired
            | RefreshReuse
            | RefreshFromFuture
            | StepUpRequired
            | RiskDenied
            | GraceReplayLimit
            | FeedReplayed
            | InvalidDpopProof
            | UseDpopNonce
            | DpopBoundToken => Class::Rejected,
            Store | StoreCorrupt => Class::Store,
            Fetch | InvalidMetadata | RevocationsStale => Class::Fetch,
            InvalidKey | WeakKey | KeyCannotSign | InvalidConfig | Serialization | MintTooLarge
            | Random | Io => Class::Misuse,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Rejected,
    Misuse,
    Store,
    Fetch,
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

struct Inner {
    kind: ErrorKind,
    detail: Option<&'static str>,
    source: Option<Source>,
}

/// The error type of every fallible tidepass function.
///
/// Opaque and cheap to move (one pointer). Use [`Error::kind`] for the exact reason and the
/// predicates to decide what to answer. `Display` is one line without secrets.
pub struct Error(Box<Inner>);

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self(Box::new(Inner {
            kind,
            detail: None,
            source: None,
        }))
    }

    /// An error with a static, secret-free detail string.
    pub(crate) fn with(kind: ErrorKind, detail: &'static str) -> Self {
        Self(Box::new(Inner {
            kind,
            detail: Some(detail),
            source: None,
        }))
    }

    pub(crate) fn source_from(
        kind: ErrorKind,
        detail: &'static str,
        source: impl Into<Source>,
    ) -> Self {
        Self(Box::new(Inner {
            kind,
            detail: Some(detail),
            source: Some(source.into()),
        }))
    }

    /// A store error ([`ErrorKind::Store`]) carrying its cause: for [`crate::SessionStore`]
    /// implementations outside this crate. `detail` is a short static description, safe to
    /// show (never a secret); the cause is kept as [`std::error::Error::source`].
    pub fn store(
        detail: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::source_from(ErrorKind::Store, detail, source)
    }

    /// Undecodable store data ([`ErrorKind::StoreCorrupt`]), for store implementations.
    pub fn store_corrupt(detail: &'static str) -> Self {
        Self::with(ErrorKind::StoreCorrupt, detail)
    }

    /// A failed fetch from another service ([`ErrorKind::Fetch`]): what a JWKS or
    /// revocation-feed fetch function returns when the HTTP call fails.
    pub fn fetch(
        detail: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::source_from(ErrorKind::Fetch, detail, source)
    }

    /// The precise reason.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The input (a token, a header, a key document from outside) was refused.
    /// Answer 401 (or 400 for a malformed request, 403 for insufficient scope).
    pub fn is_rejected(&self) -> bool {
        self.0.kind.class() == Class::Rejected
    }

    /// The caller misused the library: fix the code or configuration.
    pub fn is_misuse(&self) -> bool {
        self.0.kind.class() == Class::Misuse
    }

    /// A backing store failed; retry later or answer 503.
    pub fn is_store(&self) -> bool {
        self.0.kind.class() == Class::Store
    }

    /// Fetching from another service failed (JWKS, revocation feed), or what was fetched is
    /// too old to rely on ([`ErrorKind::RevocationsStale`]); retry later (503).
    pub fn is_fetch(&self) -> bool {
        self.0.kind.class() == Class::Fetch
    }

    /// A DPoP proof was refused, or lacked the server's nonce: answer `invalid_dpop_proof` or
    /// `use_dpop_nonce` (RFC 9449 §7.1, §8).
    #[cfg(feature = "server")]
    pub(crate) fn is_dpop_refusal(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::InvalidDpopProof | ErrorKind::UseDpopNonce
        )
    }

    /// Seconds after which the same request may succeed, for an HTTP `Retry-After` header:
    /// `Some(1)` for [`ErrorKind::GraceReplayLimit`] (answer 429), `None` otherwise.
    pub fn retry_after(&self) -> Option<u64> {
        (self.0.kind == ErrorKind::GraceReplayLimit).then_some(1)
    }

    /// The refresh was refused: answer OAuth 2.0 `invalid_grant` (RFC 6749 §5.2), whatever
    /// the precise kind (which belongs in logs and events).
    pub fn is_invalid_grant(&self) -> bool {
        use ErrorKind::*;
        matches!(
            self.0.kind,
            InvalidRefreshToken
                | UnknownSession
                | SessionRevoked
                | SessionExpired
                | RefreshReuse
                | RefreshFromFuture
                | StepUpRequired
                | RiskDenied
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind);
        if let Some(detail) = self.0.detail {
            d.field("detail", &detail);
        }
        if let Some(source) = &self.0.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    /// The kind and its static detail. The cause is not repeated here: it is
    /// [`std::error::Error::source`] (error reporters print the chain).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.kind.as_str())?;
        if let Some(detail) = self.0.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

/// `Result<T, tidepass::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn predicates_partition_kinds() {
        let e = Error::new(ErrorKind::Expired);
        assert!(e.is_rejected() && !e.is_misuse() && !e.is_store());
        let e = Error::with(ErrorKind::WeakKey, "hmac secret shorter than 32 bytes");
        assert!(e.is_misuse() && !e.is_rejected());
        assert_eq!(
            e.to_string(),
            "key too weak: hmac secret shorter than 32 bytes"
        );
        let f = Error::fetch("jwks", std::io::Error::other("connection refused"));
        assert!(f.is_fetch() && !f.is_store() && !f.is_rejected() && !f.is_misuse());
    }

    /// Display and source() do not repeat each other; a store's own cause travels as source.
    #[test]
    fn display_and_source_do_not_repeat() {
        use std::error::Error as _;
        let e = Error::store("redis", std::io::Error::other("connection reset"));
        assert_eq!(e.to_string(), "session store unavailable: redis");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("connection reset")
        );
        assert!(e.is_store());
    }

    #[test]
    fn codes_are_snake_case_and_distinct() {
        use ErrorKind::*;
        let all = [
            TooLarge,
            Malformed,
            Encrypted,
            AlgorithmNone,
            UnsupportedAlgorithm,
            AlgorithmMismatch,
            MissingKeyId,
            UnknownKey,
            EmbeddedKey,
            UnknownCritical,
            InvalidSignature,
            InvalidType,
            InvalidIssuer,
            InvalidSubject,
            InvalidAudience,
            MissingClaim,
            Expired,
            NotYetValid,
            IssuedInFuture,
            LifetimeTooLong,
            InvalidNumericDate,
            Revoked,
            InsufficientScope,
            InsufficientUserAuthentication,
            MissingToken,
            InvalidRequest,
            InvalidRefreshToken,
            UnknownSession,
            SessionRevoked,
            SessionExpired,
            RefreshReuse,
            RefreshFromFuture,
            StepUpRequired,
            RiskDenied,
            GraceReplayLimit,
            InvalidKeySet,
            InvalidKey,
            WeakKey,
            KeyCannotSign,
            InvalidConfig,
            Serialization,
            MintTooLarge,
            Random,
            Io,
            Store,
            StoreCorrupt,
            Fetch,
            InvalidMetadata,
            RevocationsStale,
            FeedReplayed,
        ];
        let codes: std::collections::HashSet<&str> = all.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        assert_eq!(RefreshReuse.code(), "refresh_reuse");
    }
}
