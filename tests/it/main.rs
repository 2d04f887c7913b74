//! tidepass integration tests: one binary, one module per story.

mod attacks;
mod common;
mod differential;
mod interop;
mod rotation;
mod vectors;
mod wycheproof;
