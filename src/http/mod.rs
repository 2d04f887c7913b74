//! HTTP glue without a framework: RFC 6750 bearer credentials, refresh-token cookies and
//! rejection responses; the axum extractor and middleware on top (feature `axum`).

#[cfg(feature = "axum")]
pub mod axum;
/// RFC 6750 §2.1 `Authorization: Bearer` parsing (it lives with the verifier, which uses it).
pub use crate::verify::bearer;
#[cfg(feature = "axum")]
pub mod cookie;
pub mod rejection;

pub use rejection::Rejection;
