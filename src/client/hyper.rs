//! The keeper's ready HTTP client (feature `client-http`): hyper's, over rustls on ring with
//! the platform's roots, one connection pool, a timeout per exchange, and answers read up to
//! [`MAX_ANSWER`](super::http::MAX_ANSWER) bytes.
//!
//! Why hyper and not reqwest: `follow` already builds this exact stack (hyper-util's pooled
//! client, hyper-rustls on ring, rustls-platform-verifier), so with both features on it adds
//! no crate; reqwest would add itself and its own layers over the same hyper for four calls
//! (BENCHMARKS.md has the build time and binary size of each).

use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt as _;

use super::BoxError;
use super::http::{HttpClient, MAX_ANSWER};

/// hyper's HTTP client for the keeper and [`TokenEndpoint`](super::TokenEndpoint): https
/// (rustls on ring, certificates checked against the platform's roots) and http.
#[derive(Clone)]
pub struct HyperClient {
    client: crate::net::Client,
    timeout: Duration,
    plain_http: bool,
}

impl std::fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HyperClient {
    /// A client with the platform's roots and a 10-second timeout per exchange. Needs a tokio
    /// runtime when it sends.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) when the platform's
    /// certificate verifier cannot be set up.
    pub fn new() -> crate::Result<Self> {
        Ok(Self::with_tls(crate::net::default_tls()?))
    }

    /// A client with your own TLS setup (your CA, a pinned certificate).
    pub fn with_tls(tls: rustls::ClientConfig) -> Self {
        Self {
            client: crate::net::client(tls),
            timeout: Duration::from_secs(10),
            plain_http: false,
        }
    }

    /// Allow `http://` URLs to any host. By default plain HTTP is refused except to a
    /// loopback address (a password or refresh token sent in clear is anyone's on the path).
    #[must_use]
    pub fn allow_plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }

    /// How long one exchange may take, connection included.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// `localhost`, or an IP literal on a loopback address.
fn loopback(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl HttpClient for HyperClient {
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, BoxError> {
        let uri = request.uri();
        if uri.scheme_str() != Some("https") && !self.plain_http && !loopback(uri.host()) {
            return Err("plain http:// to a host that is not loopback (allow_plain_http)".into());
        }
        let request = request.map(|b| http_body_util::Full::new(bytes::Bytes::from(b)));
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| BoxError::from("the server did not answer in time"))?
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
