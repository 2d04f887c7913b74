//! The OAuth side of a device, on the `http` crate's types: the application (or
//! [`HyperClient`](super::HyperClient), feature `client-http`) moves bytes with an
//! [`HttpClient`]; [`TokenEndpoint`] builds the requests and reads the answers (RFC 6749
//! §5.1 and §5.2, RFC 9449's `DPoP-Nonce` and `use_dpop_nonce`, the `Date` header for the
//! device's clock offset), and [`Keeper::log_in`] opens a session with it.

use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Deserialize;

use super::{
    BoxError, ClientError, DpopKey, Keeper, MAX_EXPIRES_IN, Refresh, Refreshed, Storage, Tokens,
    Transport, TransportError,
};

/// The lifetime assumed for an access token whose answer has no `expires_in`, seconds.
pub const MISSING_EXPIRES_IN: u64 = 60;

/// The largest token-endpoint answer read: 64 KiB (a token response is a few KiB).
pub const MAX_ANSWER: usize = 64 * 1024;

/// One HTTP exchange: a request on the `http` crate's types in, its response out; and a timer.
/// Implement it over your HTTP stack (or use [`HyperClient`](super::HyperClient)); everything
/// OAuth is [`TokenEndpoint`]'s.
pub trait HttpClient: Send + Sync {
    /// Send `request` and read the whole response (at most [`MAX_ANSWER`] bytes of body is
    /// enough). An error means no response arrived: the refresh may or may not have happened
    /// on the server, and the keeper retries.
    fn send(
        &self,
        request: Request<Vec<u8>>,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, BoxError>> + Send;

    /// Wait `duration` (`tokio::time::sleep`, or your executor's timer) between retries.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// How a session is opened.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Credentials<'a> {
    /// `POST` this JSON body to the auth service's login endpoint (what
    /// [`AuthServer::login`](crate::http::server::AuthServer::login) answers; the body is
    /// your application's, for example `{"username": …, "password": …, "device": …}`).
    Login {
        /// The login endpoint's URL.
        url: &'a str,
        /// The JSON body.
        body: &'a serde_json::Value,
    },
    /// A grant at the token endpoint (RFC 6749 §4): the form's parameters, `grant_type`
    /// included (`password`, `authorization_code` with `code`, `redirect_uri` and
    /// `code_verifier`, …).
    Grant(&'a [(&'a str, &'a str)]),
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Login { url, .. } => f
                .debug_struct("Login")
                .field("url", url)
                .field("body", &"[redacted]")
                .finish(),
            Self::Grant(params) => {
                let names: Vec<&str> = params.iter().map(|(k, _)| *k).collect();
                f.debug_tuple("Grant").field(&names).finish()
            }
        }
    }
}

/// The token endpoint of an OAuth server over an [`HttpClient`]: the keeper's [`Transport`].
#[derive(Debug, Clone)]
pub struct TokenEndpoint<H> {
    http: H,
    url: String,
    client_id: Option<String>,
}

/// RFC 6749 §5.1's answer (the fields the keeper uses).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
}

/// RFC 6749 §5.2's answer.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// What an answer says: tokens, an OAuth error with its status, or nothing usable.
enum Answer {
    Tokens(Tokens),
    Error(StatusCode, Option<String>),
}

impl<H: HttpClient> TokenEndpoint<H> {
    /// The token endpoint at `url` (`https://auth.example.com/token`), reached with `http`.
    pub fn new(http: H, url: impl Into<String>) -> Self {
        Self {
            http,
            url: url.into(),
            client_id: None,
        }
    }

    /// Send `client_id` with every request (a public client, RFC 6749 §3.2.1).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The endpoint's URL: the `htu` of the keeper's refresh proofs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP client.
    pub fn http(&self) -> &H {
        &self.http
    }

    fn form(&self, params: &[(&str, &str)]) -> Vec<u8> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        if let Some(id) = &self.client_id
            && !params.iter().any(|(k, _)| *k == "client_id")
        {
            form.append_pair("client_id", id);
        }
        form.finish().into_bytes()
    }

    /// One `POST`: its answer read as RFC 6749 §5.1 or §5.2, and its `Date` and `DPoP-Nonce`.
    async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        body: Vec<u8>,
        dpop_proof: Option<&str>,
    ) -> Result<(Answer, Option<u64>, Option<String>), TransportError> {
        let unusable = |e: BoxError| TransportError::Unavailable(e);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json");
        if let Some(proof) = dpop_proof {
            request = request.header("dpop", proof);
        }
        let request = request.body(body).map_err(|e| unusable(e.into()))?;
        let response = self.http.send(request).await.map_err(unusable)?;
        let headers = response.headers();
        let server_date = headers
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let nonce = headers
            .get("dpop-nonce")
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status();
        let body = response.body();
        if body.len() > MAX_ANSWER {
            return Err(unusable(
                "the token endpoint's answer is over 64 KiB".into(),
            ));
        }
        let answer = if status == StatusCode::OK {
            let t: TokenAnswer = serde_json::from_slice(body).map_err(|e| unusable(Box::new(e)))?;
            let refresh_token = t
                .refresh_token
                .ok_or_else(|| unusable("the token answer has no refresh_token".into()))?;
            Answer::Tokens(Tokens {
                access_token: t.access_token,
                refresh_token,
                // RFC 6749 §5.1: RECOMMENDED, so it may be missing; then assume a minute (not
                // 0, which would rotate the refresh token on every call).
                expires_in: t
                    .expires_in
                    .unwrap_or(MISSING_EXPIRES_IN)
                    .min(MAX_EXPIRES_IN),
            })
        } else {
            let error = serde_json::from_slice::<ErrorAnswer>(body)
                .ok()
                .map(|e| e.error);
            Answer::Error(status, error)
        };
        Ok((answer, server_date, nonce))
    }

    /// A grant at the token endpoint (`params`, `grant_type` included), with a DPoP proof
    /// when there is one: the tokens, or what the server refused with.
    ///
    /// # Errors
    ///
    /// [`TransportError::InvalidGrant`] for `invalid_grant`,
    /// [`TransportError::UseDpopNonce`] and [`TransportError::InvalidDpopProof`] for the DPoP
    /// refusals, [`TransportError::Unavailable`] for any other answer or none.
    pub async fn grant(
        &self,
        params: &[(&str, &str)],
        dpop_proof: Option<&str>,
    ) -> Result<Refreshed, TransportError> {
        let body = self.form(params);
        let (answer, server_date, nonce) = self
            .post(
                &self.url,
                "application/x-www-form-urlencoded",
                body,
                dpop_proof,
            )
            .await?;
        refreshed(answer, server_date, nonce)
    }
}

/// An answer as the keeper's outcome.
fn refreshed(
    answer: Answer,
    server_date: Option<u64>,
    nonce: Option<String>,
) -> Result<Refreshed, TransportError> {
    match answer {
        Answer::Tokens(tokens) => Ok(Refreshed {
            tokens,
            server_date,
        }),
        Answer::Error(StatusCode::BAD_REQUEST, Some(e)) => match e.as_str() {
            "invalid_grant" => Err(TransportError::InvalidGrant),
            "use_dpop_nonce" => match nonce {
                Some(n) => Err(TransportError::UseDpopNonce(n)),
                None => Err(TransportError::Unavailable(
                    "use_dpop_nonce without a DPoP-Nonce header".into(),
                )),
            },
            "invalid_dpop_proof" => Err(TransportError::InvalidDpopProof(server_date)),
            other => Err(TransportError::Unavailable(
                format!("the token endpoint answered {other}").into(),
            )),
        },
        Answer::Error(status, e) => Err(TransportError::Unavailable(
            format!(
                "the token endpoint answered HTTP {} ({})",
                status.as_u16(),
                e.as_deref().unwrap_or("no error code")
            )
            .into(),
        )),
    }
}

impl<H: HttpClient> Transport for TokenEndpoint<H> {
    async fn refresh(&self, request: Refresh<'_>) -> Result<Refreshed, TransportError> {
        self.grant(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", request.refresh_token),
            ],
            request.dpop_proof,
        )
        .await
    }

    async fn sleep(&self, duration: Duration) {
        self.http.sleep(duration).await;
    }
}

impl<H: HttpClient, S: Storage> Keeper<TokenEndpoint<H>, S> {
    /// Open a session: log in with `credentials` at `endpoint`'s server, bind the session to
    /// `dpop` when there is a key (the login carries its proof; the server binds the session
    /// to it, RFC 9449), save the result through `storage`, and keep it. One retry after
    /// `use_dpop_nonce` or a proof refused for the device's clock, as for refreshes.
    ///
    /// ```no_run
    /// # #[cfg(feature = "client-http")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepass::client::{Credentials, DpopKey, FileStorage, HyperClient, Keeper, TokenEndpoint};
    /// use tidepass::keys::Algorithm;
    ///
    /// let endpoint = TokenEndpoint::new(HyperClient::new()?, "https://auth.example.com/token");
    /// let body = serde_json::json!({ "username": "alice", "password": "s3cret" });
    /// let login = Credentials::Login { url: "https://auth.example.com/login", body: &body };
    /// let key = DpopKey::generate(Algorithm::ES256)?;
    /// let storage = FileStorage::new("/var/lib/app/session.json");
    /// let keeper = Keeper::log_in(endpoint, storage, login, Some(key)).await?;
    /// let access = keeper.access_token().await?;
    /// # let _ = access; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ClientError::Refused`] when the server refused the credentials (or anything else it
    /// answered with an error status), [`ClientError::Unavailable`] when no usable answer came,
    /// [`ClientError::Dpop`] when a proof cannot be made, [`ClientError::Storage`] when the
    /// session cannot be saved (the session is open on the server, and this keeper is lost:
    /// log in again).
    pub async fn log_in(
        endpoint: TokenEndpoint<H>,
        storage: S,
        credentials: Credentials<'_>,
        dpop: Option<DpopKey>,
    ) -> Result<Self, ClientError> {
        let (url, content_type, body) = match credentials {
            Credentials::Login { url, body } => (
                url.to_owned(),
                "application/json",
                serde_json::to_vec(body).map_err(|e| ClientError::Unavailable(Box::new(e)))?,
            ),
            Credentials::Grant(params) => (
                endpoint.url.clone(),
                "application/x-www-form-urlencoded",
                endpoint.form(params),
            ),
        };
        let mut offset = 0i64;
        let mut nonce: Option<String> = None;
        let mut retried = false;
        let (tokens, server_date) = loop {
            let proof = match &dpop {
                Some(key) => {
                    let now = super::unix_now().saturating_add(offset);
                    let now = u64::try_from(now).unwrap_or(0);
                    Some(
                        key.proof_at("POST", &url, None, nonce.as_deref(), now)
                            .map_err(ClientError::Dpop)?,
                    )
                }
                None => None,
            };
            let (answer, date, new_nonce) = endpoint
                .post(&url, content_type, body.clone(), proof.as_deref())
                .await
                .map_err(|e| ClientError::Unavailable(Box::new(e)))?;
            match answer {
                Answer::Tokens(t) => break (t, date),
                Answer::Error(StatusCode::BAD_REQUEST, Some(e))
                    if !retried && (e == "use_dpop_nonce" || e == "invalid_dpop_proof") =>
                {
                    retried = true;
                    if e == "use_dpop_nonce" {
                        nonce = new_nonce;
                    } else if let Some(d) = date {
                        offset = i64::try_from(d)
                            .unwrap_or(i64::MAX)
                            .saturating_sub(super::unix_now());
                    }
                }
                Answer::Error(status, error) => {
                    return Err(ClientError::Refused {
                        status: status.as_u16(),
                        error,
                    });
                }
            }
        };
        let token_url = endpoint.url.clone();
        let mut keeper = Keeper::new(endpoint, tokens);
        if let Some(date) = server_date {
            keeper.set_offset(date);
        }
        if let Some(key) = dpop {
            keeper = keeper.with_dpop(key, token_url);
        }
        keeper.with_storage(storage).saved().await
    }
}
