//! HTTP glue without a framework: RFC 6750 bearer credentials and rejection responses.

pub mod bearer;
#[cfg(feature = "axum")]
pub mod cookie;
pub mod rejection;

pub use rejection::Rejection;
