//! Step-up authentication (RFC 9470): a resource demands a recent login (`max_age`) or a
//! stronger one (`acr_values`), and a token whose login falls short is refused with
//! `WWW-Authenticate: Bearer error="insufficient_user_authentication"` naming the demand, so
//! the client sends the user to log in again (or to elevate the session).
//!
//! This is the adaptive session: browse for 30 minutes on one login, but pay only within five
//! minutes of entering the password.
//!
//! ```
//! use std::time::Duration;
//! use tidepass::{Minter, Verifier, keys::{Algorithm, SigningKey, VerifyingKeys}};
//! use tidepass::verify::step_up::StepUp;
//!
//! let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth.example", "api")?;
//! let verifier = Verifier::new("https://auth.example", "api", minter.keys().verifying_keys())?;
//! let now = 1_700_000_000;
//! let token = minter.token("alice").auth_time(now - 3_600).acr("1").mint_at(now)?;
//! let claims = verifier.verify_at(token.as_str(), now)?;
//!
//! let pay = StepUp::new().max_age(Duration::from_secs(300)).acr_at_least(2);
//! let refused = pay.check_at(&claims, now).unwrap_err();
//! assert_eq!(refused.kind(), tidepass::ErrorKind::InsufficientUserAuthentication);
//! assert_eq!(pay.challenge_params(), r#"acr_values="2", max_age="300""#);
//! assert!(StepUp::new().max_age(Duration::from_secs(7_200)).check_at(&claims, now).is_ok());
//! # Ok::<(), tidepass::Error>(())
//! ```

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::token::claims::AccessClaims;

/// What a resource demands of the login behind a token. Build with [`StepUp::new`] and the
/// setters; an empty demand accepts every token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepUp {
    max_age: Option<u64>,
    min_acr: Option<u8>,
}

impl StepUp {
    /// No demand yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The user must have authenticated at most `age` ago (the token's `auth_time`; a token
    /// without one falls short). Whole seconds count.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age.as_secs());
        self
    }

    /// The login's assurance level (the token's `acr`, which tidepass's issuer writes as the
    /// session's level in decimal) must be at least `level`. A token without an `acr`, or
    /// with one that is not a level, falls short.
    pub fn acr_at_least(mut self, level: u8) -> Self {
        self.min_acr = Some(level);
        self
    }

    /// Does the token's login meet the demand at `now` (Unix seconds)?
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InsufficientUserAuthentication`] when it does not.
    pub fn check_at<C>(&self, claims: &AccessClaims<C>, now: u64) -> Result<()> {
        if let Some(max) = self.max_age {
            let fresh = claims
                .auth_time
                .is_some_and(|at| now.saturating_sub(at) <= max);
            if !fresh {
                return Err(Error::with(
                    ErrorKind::InsufficientUserAuthentication,
                    "the login is older than max_age",
                ));
            }
        }
        if let Some(min) = self.min_acr {
            let level = claims.acr.as_deref().and_then(|a| a.parse::<u8>().ok());
            if level.is_none_or(|l| l < min) {
                return Err(Error::with(
                    ErrorKind::InsufficientUserAuthentication,
                    "the login's acr is below the required level",
                ));
            }
        }
        Ok(())
    }

    /// [`StepUp::check_at`] now, by the system clock.
    ///
    /// # Errors
    ///
    /// As [`StepUp::check_at`].
    pub fn check<C>(&self, claims: &AccessClaims<C>) -> Result<()> {
        self.check_at(claims, crate::clock::Clock::now(&crate::clock::SystemClock))
    }

    /// The RFC 9470 §3 challenge parameters: `acr_values="N"` (the lowest level accepted; any
    /// higher one does too) and `max_age="S"`, comma-separated, empty for no demand.
    pub fn challenge_params(&self) -> String {
        let mut out = Vec::new();
        if let Some(level) = self.min_acr {
            out.push(format!("acr_values=\"{level}\""));
        }
        if let Some(age) = self.max_age {
            out.push(format!("max_age=\"{age}\""));
        }
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(auth_time: Option<u64>, acr: Option<&str>) -> AccessClaims {
        let mut c: AccessClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "aud": "a", "exp": 2_000, "iat": 1_000, "jti": "j",
        }))
        .expect("claims");
        c.auth_time = auth_time;
        c.acr = acr.map(Into::into);
        c
    }

    #[test]
    fn demands() {
        let age = StepUp::new().max_age(Duration::from_secs(300));
        assert!(age.check_at(&claims(Some(1_000), None), 1_300).is_ok());
        assert!(age.check_at(&claims(Some(1_000), None), 1_301).is_err());
        assert!(
            age.check_at(&claims(None, None), 1_000).is_err(),
            "no auth_time"
        );
        let acr = StepUp::new().acr_at_least(2);
        assert!(acr.check_at(&claims(None, Some("2")), 0).is_ok());
        assert!(acr.check_at(&claims(None, Some("3")), 0).is_ok());
        for weak in [Some("1"), Some("gold"), Some(""), None] {
            assert!(acr.check_at(&claims(None, weak), 0).is_err(), "{weak:?}");
        }
        assert!(StepUp::new().check_at(&claims(None, None), 0).is_ok());
        assert_eq!(StepUp::new().challenge_params(), "");
        assert_eq!(
            StepUp::new()
                .max_age(Duration::from_secs(60))
                .challenge_params(),
            "max_age=\"60\""
        );
    }
}
