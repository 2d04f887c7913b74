//! The HTTPS client that [`Follower`](crate::verify::follow::Follower) (feature `follow`) and
//! [`HyperClient`](crate::client::HyperClient) (feature `client-http`) share: hyper's, over
//! rustls on ring with the platform's roots.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};

/// hyper's client over rustls (https) or plain TCP (http), sending whole bodies.
pub(crate) type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// The default TLS setup: rustls on ring with the platform's roots.
pub(crate) fn default_tls() -> Result<rustls::ClientConfig> {
    let refuse = |e: &dyn std::fmt::Display| {
        tracing::warn!(cause = %e, "HTTPS client TLS setup");
        Error::with(ErrorKind::InvalidConfig, "TLS client setup failed")
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| refuse(&e))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refuse(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// A client with `tls` for https URLs.
pub(crate) fn client(tls: rustls::ClientConfig) -> Client {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector)
}
