//! HTTP glue without a framework: RFC 6750 bearer credentials, refresh-token cookies,
//! rejection responses, and the auth service's endpoints ([`server`]) on the `http` crate's
//! types (feature `server`); the axum extractor, middleware and `Router` on top (feature
//! `axum`).

#[cfg(feature = "axum")]
pub mod axum;
/// RFC 6750 §2.1 `Authorization: Bearer` parsing (it lives with the verifier, which uses it).
pub use crate::verify::bearer;
#[cfg(feature = "server")]
pub mod cookie;
#[cfg(feature = "tower")]
pub mod layer;
pub mod rejection;
#[cfg(feature = "server")]
pub mod server;

pub use rejection::Rejection;
