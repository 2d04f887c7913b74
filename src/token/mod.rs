//! The access-token format both sides share: compact JWS on prepared keys (`jws`, the hot
//! path), the RFC 9068 claims, minting, and strict base64url.
//!
//! Depends on [`crate::keys`] (key material) and nothing above it.

pub(crate) mod b64;
pub mod claims;
pub(crate) mod jws;
pub mod mint;

/// Default largest token a verifier accepts, and the largest the minter makes: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
