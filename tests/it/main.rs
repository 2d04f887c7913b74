//! tidepass integration tests: one binary, one module per story.

mod attacks;
#[cfg(all(feature = "server", feature = "guard"))]
mod auth_server;
#[cfg(feature = "axum")]
mod axum_layer;
mod backend;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod client_http;
mod common;
mod defects;
mod differential;
#[cfg(feature = "client")]
mod dpop;
#[cfg(all(feature = "follow", feature = "axum"))]
mod follow;
#[cfg(all(
    feature = "axum",
    feature = "redb",
    feature = "redis",
    feature = "postgres",
    feature = "status-list"
))]
mod http_e2e;
mod interop;
mod key_files;
mod key_source;
mod proc;
#[cfg(all(feature = "redis", unix))]
mod redis_ops;
mod revocation;
mod rotation;
mod round_trips;
#[cfg(all(feature = "server", feature = "guard", feature = "client"))]
mod side_doors;
#[cfg(feature = "status-list")]
mod status_list;
mod stores;
mod tls;
#[cfg(all(feature = "tower", feature = "axum"))]
mod tower_layer;
mod vectors;
mod went_back;
mod wycheproof;
