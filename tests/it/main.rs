//! tidepass integration tests: one binary, one module per story.

mod attacks;
#[cfg(feature = "cli")]
mod cli;
mod common;
mod differential;
mod interop;
mod revocation;
mod rotation;
mod stores;
mod vectors;
mod wycheproof;
