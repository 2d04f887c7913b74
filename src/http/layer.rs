//! A tower [`Layer`] that verifies the bearer token of every request (feature `tower`), on the
//! `http` crate's types: hyper, tonic, axum and any other tower stack are guarded the same
//! way. A request whose token verifies reaches the inner service with its [`Verified`]
//! claims in the request's extensions (axum's [`Auth`](crate::http::axum::Auth) extractor
//! reuses them instead of verifying again); any other request is answered by the layer.
//!
//! - HTTP ([`AuthLayer::new`]): 401, 400, 403 or 503 with the RFC 6750 `WWW-Authenticate`
//!   challenge and an empty body.
//! - gRPC ([`AuthLayer::grpc`]): HTTP 200 with `content-type: application/grpc` and the status
//!   in the headers (a trailers-only response): `UNAUTHENTICATED` (16) for a missing or
//!   invalid token, `PERMISSION_DENIED` (7) for a missing scope, `UNAVAILABLE` (14) while the
//!   revocation list is stale, `INTERNAL` (13) otherwise. `grpc-message` is the code's generic
//!   text: the reason is logged (`tracing`, target `tidepass::verify`), never sent.
//!
//! ```
//! use std::sync::Arc;
//! use tidepass::{Minter, Verified, Verifier, http::layer::AuthLayer, keys::{Algorithm, SigningKey}};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth.example", "api")?;
//! let verifier = Arc::new(Verifier::new("https://auth.example", "api", minter.keys().verifying_keys())?);
//! let mut svc = ServiceBuilder::new()
//!     .layer(AuthLayer::new(verifier).require_scope("read"))
//!     .service_fn(|req: http::Request<String>| async move {
//!         let claims = req.extensions().get::<Verified>().expect("the layer put them there");
//!         Ok::<_, std::convert::Infallible>(http::Response::new(format!("hello {}", claims.sub)))
//!     });
//! let token = minter.token("ada").scope("read").mint()?;
//! let req = http::Request::get("/").header("authorization", format!("Bearer {}", token.as_str())).body(String::new())?;
//! assert_eq!(svc.ready().await?.call(req).await?.into_body(), "hello ada");
//! let req = http::Request::get("/").body(String::new())?;
//! assert_eq!(svc.ready().await?.call(req).await?.status(), 401);
//! # Ok(()) }
//! ```

use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::Either;
use http::{HeaderValue, Request, Response, StatusCode, header};
use serde::de::DeserializeOwned;
pub use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, ErrorKind};
use crate::http::Rejection;
use crate::token::claims::NoExtra;
use crate::verify::{Verified, Verifier};

/// How refusals are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http,
    Grpc,
}

/// Verifies every request's bearer token (see the [module docs](self)).
#[derive(Debug)]
pub struct AuthLayer<C = NoExtra> {
    verifier: Arc<Verifier<C>>,
    protocol: Protocol,
    scopes: Arc<[String]>,
}

impl<C> Clone for AuthLayer<C> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            protocol: self.protocol,
            scopes: self.scopes.clone(),
        }
    }
}

impl<C> AuthLayer<C> {
    /// For HTTP services: RFC 6750 refusals.
    pub fn new(verifier: Arc<Verifier<C>>) -> Self {
        Self {
            verifier,
            protocol: Protocol::Http,
            scopes: Arc::from([]),
        }
    }

    /// For gRPC services: refusals as gRPC status codes.
    pub fn grpc(verifier: Arc<Verifier<C>>) -> Self {
        Self {
            protocol: Protocol::Grpc,
            ..Self::new(verifier)
        }
    }

    /// Also require `scope` (HTTP 403 `insufficient_scope`, gRPC `PERMISSION_DENIED`).
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        let mut all: Vec<String> = self.scopes.iter().cloned().collect();
        all.push(scope.into());
        self.scopes = Arc::from(all);
        self
    }
}

impl<S, C> Layer<S> for AuthLayer<C> {
    type Service = AuthService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around yours.
#[derive(Debug)]
pub struct AuthService<S, C = NoExtra> {
    inner: S,
    layer: AuthLayer<C>,
}

impl<S: Clone, C> Clone for AuthService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> AuthLayer<C> {
    /// The request's claims, or the reason it is refused.
    fn check<B>(&self, request: &Request<B>) -> Result<Verified<C>, Error> {
        // Both schemes: `Bearer`, and `DPoP` with its proof for this method and URL.
        let claims = crate::http::verify_http(
            &self.verifier,
            request.method(),
            request.uri(),
            request.headers(),
        )?;
        // No list built per request: each required scope checked in place.
        if self.scopes.iter().all(|s| claims.has_scope(s)) {
            Ok(claims)
        } else {
            Err(Error::new(ErrorKind::InsufficientScope))
        }
    }

    /// The refusal of `err`, with an empty body.
    fn refuse<B: Default>(&self, err: &Error) -> Response<B> {
        tracing::info!(target: "tidepass::verify", kind = %err.kind(), "request refused");
        let mut r = Response::new(B::default());
        match self.protocol {
            Protocol::Http => {
                let scope = self.scopes.join(" ");
                let scope = (!scope.is_empty()).then_some(scope.as_str());
                let rej = Rejection::from_error(err, self.verifier.audience(), scope)
                    .with_dpop_algs(&self.verifier.dpop().algorithm_names());
                *r.status_mut() =
                    StatusCode::from_u16(rej.status).unwrap_or(StatusCode::UNAUTHORIZED);
                if let Some(v) = rej
                    .www_authenticate
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                let nonce = (err.kind() == ErrorKind::UseDpopNonce)
                    .then(|| self.verifier.dpop().nonce_at(self.verifier.now()))
                    .flatten()
                    .and_then(|n| HeaderValue::from_str(&n).ok());
                if let Some(n) = nonce {
                    r.headers_mut().insert("dpop-nonce", n);
                }
            }
            Protocol::Grpc => {
                let (code, message) = match err.kind() {
                    ErrorKind::InsufficientScope => ("7", "permission denied"),
                    ErrorKind::RevocationsStale => ("14", "unavailable"),
                    _ if err.is_rejected() => ("16", "unauthenticated"),
                    _ => ("13", "internal error"),
                };
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc"),
                );
                h.insert("grpc-status", HeaderValue::from_static(code));
                h.insert("grpc-message", HeaderValue::from_static(message));
            }
        }
        r
    }
}

/// What [`AuthService`] answers with: at once (a refusal), the inner service's future, or
/// (a token with an unknown `kid`, when a `Follower` follows the issuer) one key refresh and
/// one more try before either.
type Answer<S, RB, E> = Either<
    Either<Ready<Result<Response<RB>, E>>, S>,
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response<RB>, E>> + Send>>,
>;

impl<S, C, B, RB> Service<Request<B>> for AuthService<S, C>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: Default + Send + 'static,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Answer<S::Future, RB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.layer.check(&request) {
            Ok(claims) => {
                request.extensions_mut().insert(claims);
                Either::Left(Either::Right(self.inner.call(request)))
            }
            // The issuer rotated: fetch its keys (single-flight, rate-limited) and try once
            // more before answering, so a rotation never answers 401 to a valid token.
            Err(e) if e.kind() == ErrorKind::UnknownKey && self.layer.verifier.follows_keys() => {
                // The service that was polled ready goes into the future; a clone stays.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let layer = self.layer.clone();
                Either::Right(Box::pin(async move {
                    let retried = if layer.verifier.refresh_for_unknown_kid().await {
                        layer.check(&request)
                    } else {
                        Err(e)
                    };
                    match retried {
                        Ok(claims) => {
                            request.extensions_mut().insert(claims);
                            inner.call(request).await
                        }
                        Err(e) => Ok(layer.refuse(&e)),
                    }
                }))
            }
            Err(e) => Either::Left(Either::Left(ready(Ok(self.layer.refuse(&e))))),
        }
    }
}
