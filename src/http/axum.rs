//! axum integration (feature `axum`): an extractor for verified claims, with RFC 6750
//! rejections.
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

use crate::error::Error;
use crate::http::Rejection;
use crate::token::claims::NoExtra;
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
        Rejection::from_error(&self.error, &self.realm, self.scope.as_deref())
            .to_response()
            .into_response()
    }
}

impl<S, C> FromRequestParts<S> for Auth<C>
where
    S: Send + Sync,
    Arc<Verifier<C>>: FromRef<S>,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier<C>>::from_ref(state);
        let realm = verifier.audience().to_owned();
        let reject = |error| AuthRejection {
            error,
            realm: realm.clone(),
            scope: None,
        };
        let token = crate::verify::bearer::from_headers(&parts.headers, verifier.max_token_len())
            .map_err(reject)?;
        verifier.verify(token).map(Auth).map_err(reject)
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
            realm: match &claims.aud {
                crate::Audience::One(a) => a.to_string(),
                crate::Audience::Many(v) => v.first().map(|a| a.to_string()).unwrap_or_default(),
            },
            scope: Some(scope.to_owned()),
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
