//! axum integration (feature `axum`): an extractor for verified claims, with RFC 6750
//! rejections, and the auth service's endpoints ([`router`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get, extract::FromRef};
//! use tidepass::{Verifier, http::axum::{Auth, AuthRejection}};
//!
//! #[derive(Clone)]
//! struct App { verifier: Arc<Verifier> }
//! impl FromRef<App> for Arc<Verifier> {
//!     fn from_ref(app: &App) -> Self { app.verifier.clone() }
//! }
//!
//! async fn me(Auth(claims): Auth) -> String { format!("hello {}", claims.sub) }
//! async fn admin(Auth(claims): Auth) -> Result<&'static str, AuthRejection> {
//!     tidepass::http::axum::require_scope(&claims, "admin")?;
//!     Ok("welcome")
//! }
//! # fn app(verifier: Arc<Verifier>) -> Router {
//! Router::new().route("/me", get(me)).route("/admin", get(admin)).with_state(App { verifier })
//! # }
//! ```
//!
//! Or guard a whole router with the [`require_auth`] middleware; handlers behind it read the
//! claims from the request's extensions:
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Extension, Router, middleware, routing::get};
//! use tidepass::{Verified, Verifier, http::axum::require_auth};
//!
//! async fn me(Extension(claims): Extension<Verified>) -> String { format!("hello {}", claims.sub) }
//! # fn app(verifier: Arc<Verifier>) -> Router {
//! Router::new()
//!     .route("/me", get(me))
//!     .layer(middleware::from_fn_with_state(verifier, require_auth::<tidepass::token::claims::NoExtra>))
//! # }
//! ```

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;

use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use axum::Router;

use crate::error::Error;
use crate::http::Rejection;
use crate::http::server::{AuthServer, Reply};
use crate::store::SessionStore;
use crate::token::claims::NoExtra;
use crate::verify::step_up::StepUp;
use crate::verify::{Verified, Verifier};

/// Verified claims of the request's bearer token. Fails with [`AuthRejection`].
#[derive(Debug)]
pub struct Auth<C = NoExtra>(pub Verified<C>);

/// A refusal as an HTTP response: 401 / 400 / 403 with the RFC 6750 `WWW-Authenticate` header
/// and a uniform JSON body. The precise reason is logged (`tracing`, target
/// `tidepass::verify`), never sent.
#[derive(Debug)]
pub struct AuthRejection {
    error: Error,
    realm: String,
    scope: Option<String>,
    step_up: Option<StepUp>,
    /// For a DPoP challenge: a fresh nonce, and the verifier's proof algorithms (boxed: most
    /// refusals have none, and the rejection stays small).
    dpop: Option<Box<DpopChallenge>>,
}

#[derive(Debug)]
struct DpopChallenge {
    nonce: Option<String>,
    algs: Vec<&'static str>,
}

impl AuthRejection {
    /// The reason, for the application's own logs and metrics.
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        tracing::info!(target: "tidepass::verify", kind = %self.error.kind(), "request refused");
        let rejection = match &self.step_up {
            Some(demand) => Rejection::step_up(&self.realm, demand),
            None => {
                let r = Rejection::from_error(&self.error, &self.realm, self.scope.as_deref());
                match self.dpop {
                    Some(d) => r.with_dpop_nonce(d.nonce).with_dpop_algs(&d.algs),
                    None => r,
                }
            }
        };
        rejection.to_response().into_response()
    }
}

impl<S, C> FromRequestParts<S> for Auth<C>
where
    S: Send + Sync,
    Arc<Verifier<C>>: FromRef<S>,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Verified once per request: what a layer in front already verified is reused.
        if let Some(claims) = parts.extensions.get::<Verified<C>>() {
            return Ok(Auth(claims.clone()));
        }
        let verifier = Arc::<Verifier<C>>::from_ref(state);
        let realm = verifier.audience().to_owned();
        // Both schemes: `Bearer`, and `DPoP` with its proof for this method and URL.
        // A new `kid` (the issuer rotated) is fetched and tried again before answering, when a
        // Follower follows the issuer for this verifier.
        crate::http::verify_http_following(&*verifier, &parts.method, &parts.uri, &parts.headers)
            .await
            .map(Auth)
            .map_err(|error: Error| AuthRejection {
                dpop: Some(Box::new(DpopChallenge {
                    nonce: (error.kind() == crate::ErrorKind::UseDpopNonce)
                        .then(|| verifier.dpop().nonce_at(verifier.now()))
                        .flatten(),
                    algs: verifier.dpop().algorithm_names(),
                })),
                error,
                realm,
                scope: None,
                step_up: None,
            })
    }
}

/// Require `scope`, or answer 403 `insufficient_scope` naming it.
///
/// # Errors
///
/// An [`AuthRejection`] with [`crate::ErrorKind::InsufficientScope`].
pub fn require_scope<C>(claims: &Verified<C>, scope: &str) -> Result<(), AuthRejection> {
    claims
        .require_scopes(&[scope])
        .map_err(|error| AuthRejection {
            error,
            realm: realm_of(claims),
            scope: Some(scope.to_owned()),
            step_up: None,
            dpop: None,
        })
}

fn realm_of<C>(claims: &Verified<C>) -> String {
    match &claims.aud {
        crate::Audience::One(a) => a.to_string(),
        crate::Audience::Many(v) => v.first().map(|a| a.to_string()).unwrap_or_default(),
    }
}

/// Require a recent or strong enough login (RFC 9470), or answer 401
/// `insufficient_user_authentication` with the demand's `acr_values` and `max_age`.
///
/// ```no_run
/// use std::time::Duration;
/// use tidepass::http::axum::{Auth, AuthRejection, require_step_up};
/// use tidepass::verify::step_up::StepUp;
///
/// async fn pay(Auth(claims): Auth) -> Result<&'static str, AuthRejection> {
///     // Browse on any login; pay only within five minutes of a level-2 login.
///     require_step_up(&claims, &StepUp::new().max_age(Duration::from_secs(300)).acr_at_least(2))?;
///     Ok("paid")
/// }
/// ```
///
/// # Errors
///
/// An [`AuthRejection`] with [`crate::ErrorKind::InsufficientUserAuthentication`].
pub fn require_step_up<C>(claims: &Verified<C>, demand: &StepUp) -> Result<(), AuthRejection> {
    demand.check(claims).map_err(|error| AuthRejection {
        error,
        realm: realm_of(claims),
        scope: None,
        step_up: Some(demand.clone()),
        dpop: None,
    })
}

/// Middleware (for `axum::middleware::from_fn_with_state` with an `Arc<Verifier<C>>`): a
/// request without a valid bearer token gets the [`AuthRejection`] response and never reaches
/// the handler; otherwise its [`Verified<C>`] claims are put in the request's extensions
/// (`axum::Extension<Verified<C>>`) and the request goes on.
pub async fn require_auth<C>(
    State(verifier): State<Arc<Verifier<C>>>,
    request: Request,
    next: Next,
) -> Response
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let (mut parts, body) = request.into_parts();
    match Auth::<C>::from_request_parts(&mut parts, &verifier).await {
        Ok(Auth(claims)) => {
            parts.extensions.insert(claims);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// The auth service's endpoints ([`crate::http::server`]) as a `Router`, to merge with your
/// own routes (your `/login` calls [`AuthServer::login`]). Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so failures are rate-limited per
/// client address. Bodies over [`AuthServer::max_body`] answer 413.
///
/// ```no_run
/// use std::{net::SocketAddr, sync::Arc};
/// use axum::{Router, extract::State, http::request::Parts, routing::post};
/// use tidepass::http::server::{AuthServer, Delivery};
/// use tidepass::{Login, MemoryStore};
///
/// async fn login(State(server): State<Arc<AuthServer<MemoryStore>>>, parts: Parts) -> axum::response::Response {
///     let delivery = Delivery::from_query(&parts);
///     let reply = server.login(&parts, delivery, async {
///         // Check the credentials here; `None` refuses.
///         Some(Login::new("alice"))
///     }).await;
///     tidepass::http::axum::into_response(reply)
/// }
///
/// # async fn run(server: Arc<AuthServer<MemoryStore>>) -> std::io::Result<()> {
/// let app = Router::new()
///     .route("/login", post(login))
///     .with_state(server.clone())
///     .merge(tidepass::http::axum::router(server));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
/// # }
/// ```
pub fn router<S: SessionStore + 'static>(server: Arc<AuthServer<S>>) -> Router {
    use crate::http::server::paths;
    use axum::routing::{delete, get, post};
    // Below the issuer's own path (`https://example.com/auth` serves `/auth/token`); the
    // metadata sits at the root with that path after it (RFC 8414 §3). Merge, don't nest.
    let p = server.path_prefix();
    let at = |path: &str| format!("{p}{path}");
    Router::new()
        .route(&at(paths::TOKEN), post(endpoint::<S>))
        .route(&at(paths::LOGOUT), post(endpoint::<S>))
        .route(&at(paths::SESSIONS), get(endpoint::<S>))
        .route(&at(paths::REVOKE_OTHERS), post(endpoint::<S>))
        .route(&at("/sessions/{id}"), delete(endpoint::<S>))
        .route(&at(paths::REVOKE), post(endpoint::<S>))
        .route(&at(paths::INTROSPECT), post(endpoint::<S>))
        .route(&at(paths::JWKS), get(endpoint::<S>))
        .route(&at(paths::REVOCATIONS), get(endpoint::<S>))
        .route(&at(paths::STATUS_LISTS), get(endpoint::<S>))
        .route(&at("/statuslists/{k}"), get(endpoint::<S>))
        .route(server.metadata_path(), get(endpoint::<S>))
        .with_state(server)
}

/// Collect the body (up to the server's limit) and hand the request to
/// [`AuthServer::handle`], which routes it.
async fn endpoint<S: SessionStore>(
    State(server): State<Arc<AuthServer<S>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, server.max_body()).await else {
        return into_response(
            Rejection {
                status: 413,
                www_authenticate: None,
                body: r#"{"error":"request_too_large"}"#,
                dpop_nonce: None,
            }
            .to_response()
            .map(String::into_bytes),
        );
    };
    into_response(
        server
            .handle(axum::http::Request::from_parts(parts, bytes))
            .await,
    )
}

/// A [`Reply`] as an axum response.
pub fn into_response(reply: Reply) -> Response {
    reply.map(axum::body::Body::from).into_response()
}

/// Middleware (`axum::middleware::from_fn(json_errors)`): every 4xx answer gets a JSON body,
/// axum's own plain-text ones too (unknown route, wrong method, body too large, wrong content
/// type), so clients parse one shape. RFC 6750 challenges are left as they are.
pub async fn json_errors(request: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let r = next.run(request).await;
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !r.status().is_client_error()
        || is_json
        || r.status() == StatusCode::UNAUTHORIZED
            && r.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        return r;
    }
    let code = match r.status() {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        StatusCode::TOO_MANY_REQUESTS => "slow_down",
        _ => "invalid_request",
    };
    let (mut parts, _) = r.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        axum::body::Body::from(format!(r#"{{"error":"{code}"}}"#)),
    )
}
