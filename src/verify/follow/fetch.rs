//! The follower's HTTP side: one bounded, timed GET, and the issuer's documents by it.

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::verify::sync::Fetched;

/// The HTTP client: hyper's, over rustls (https) or plain TCP (http).
type Client = crate::net::Client;

/// The largest document fetched: 1 MiB (the JWKS parser's own limit).
const MAX_BODY: usize = 1 << 20;
/// How long one fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP side: the client and the URLs.
pub(super) struct Fetch {
    pub(super) http: Client,
    pub(super) jwks: String,
    pub(super) feed: Option<String>,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("jwks", &self.jwks)
            .field("feed", &self.feed)
            .finish_non_exhaustive()
    }
}

impl Fetch {
    /// GET `url`: the body (at most [`MAX_BODY`]) and the `Cache-Control` header of a 2xx
    /// answer; anything else is [`ErrorKind::Fetch`]. No redirects are followed: an issuer's
    /// documents are where its metadata says.
    pub(super) async fn get(
        &self,
        url: &str,
        accept: &'static str,
    ) -> Result<(String, Option<String>)> {
        use http_body_util::BodyExt as _;
        let unavailable = |what: &'static str| Error::with(ErrorKind::Fetch, what);
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, accept)
            .body(http_body_util::Full::default())
            .map_err(|_| Error::with(ErrorKind::InvalidConfig, "not a URL the client can fetch"))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| Error::fetch("issuer", e))?;
            if !response.status().is_success() {
                return Err(unavailable("the issuer answered with an error status"));
            }
            let cache_control = response
                .headers()
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|_| unavailable("the issuer's document is over 1 MiB or cut off"))?
                .to_bytes();
            let body = String::from_utf8(body.to_vec())
                .map_err(|_| unavailable("the issuer's document is not UTF-8"))?;
            Ok((body, cache_control))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| unavailable("the issuer did not answer in time"))?
    }

    pub(super) async fn jwks(&self) -> Result<Fetched> {
        let (body, cache_control) = self.get(&self.jwks, "application/json").await?;
        Ok(Fetched {
            body,
            cache_control,
        })
    }

    pub(super) async fn feed(&self, since: Option<u64>) -> Result<String> {
        let Some(feed) = &self.feed else {
            return Err(Error::with(ErrorKind::InvalidConfig, "no revocation feed"));
        };
        let url = match since {
            Some(v) => format!(
                "{feed}{}since={v}",
                if feed.contains('?') { '&' } else { '?' }
            ),
            None => feed.clone(),
        };
        self.get(&url, "application/jwt")
            .await
            .map(|(body, _)| body)
    }
}
