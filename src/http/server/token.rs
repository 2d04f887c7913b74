//! The login helper and the OAuth token endpoint of [`AuthServer`] (RFC 6749 §5, RFC 9449
//! proofs), and the token response they share.

use std::future::Future;

use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use super::{
    AuthServer, Delivery, Reply, error_reply, form, json_reply, no_store, oauth_error, param,
};
use crate::error::{Error, ErrorKind, Result};
use crate::http::cookie::origin_allowed;
use crate::issuer::{Login, TokenPair};
use crate::store::SessionStore;

impl<S: SessionStore> AuthServer<S> {
    /// The pair as an RFC 6749 §5.1 token response; with [`Delivery::Cookie`] the refresh
    /// token goes into the cookie instead of the body.
    pub fn pair_reply(&self, pair: &TokenPair, delivery: Delivery) -> Reply {
        let mut body = serde_json::Map::new();
        body.insert("access_token".into(), pair.access.as_str().into());
        body.insert("token_type".into(), pair.token_type().into());
        body.insert("expires_in".into(), pair.expires_in.into());
        body.insert("session_id".into(), pair.session_id.to_string().into());
        if delivery == Delivery::Body {
            body.insert("refresh_token".into(), pair.refresh.expose().into());
        }
        let mut r = self.with_nonce(no_store(json_reply(StatusCode::OK, &Value::Object(body))));
        if delivery == Delivery::Cookie {
            let max_age = pair.refresh_expires_at.saturating_sub(self.issuer.now());
            if let Ok(v) = HeaderValue::from_str(&self.cookie.set(&pair.refresh, max_age)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// A fresh `DPoP-Nonce`, when the server demands nonces (RFC 9449 §8: with every answer,
    /// so clients always hold a current one).
    pub(super) fn with_nonce(&self, mut r: Reply) -> Reply {
        if let Some(n) = self
            .dpop
            .nonce_at(self.issuer.now())
            .and_then(|n| HeaderValue::from_str(&n).ok())
        {
            r.headers_mut().insert("dpop-nonce", n);
        }
        r
    }

    /// The request's DPoP proof (RFC 9449 §4.3) checked for this endpoint: `None` without
    /// one, else the thumbprint of its key. A refusal is answered with [`Self::refuse_proof`].
    pub(super) fn proof(&self, parts: &Parts) -> Result<Option<crate::keys::Thumbprint>> {
        let mut all = parts.headers.get_all("dpop").iter();
        let proof = match (all.next(), all.next()) {
            (None, _) => return Ok(None),
            (Some(p), None) => p.to_str().ok(),
            _ => None,
        };
        let htu = format!("{}{}", self.origin, parts.uri.path());
        let checked = proof
            .ok_or(Error::with(
                ErrorKind::InvalidDpopProof,
                "one DPoP header at most",
            ))
            .and_then(|p| {
                self.dpop
                    .check_at(p, parts.method.as_str(), &htu, None, self.issuer.now())
            });
        checked.map(Some)
    }

    /// 400 `invalid_dpop_proof`, or `use_dpop_nonce` with a fresh nonce.
    pub(super) fn refuse_proof(&self, e: &Error) -> Reply {
        tracing::info!(target: "tidepass::dpop", kind = %e.kind(), "DPoP proof refused");
        self.with_nonce(error_reply(e))
    }

    /// The login helper. `authenticate` is your check of the credentials (a password hash, a
    /// passkey, an upstream identity provider): it runs only after the client's address has
    /// passed the failure rate limit, so it cannot be used to guess passwords quickly, and
    /// answers the [`Login`] to open (`None`: refused). The server opens the session and
    /// answers the pair ([`Delivery`]), `401 invalid_credentials`, or `429 slow_down`. The
    /// login's user agent and address default to the request's. Make a refused check cost
    /// what an accepted one does (hash a dummy password for an unknown user), or response
    /// times tell which users exist.
    pub async fn login(
        &self,
        parts: &Parts,
        delivery: Delivery,
        authenticate: impl Future<Output = Option<Login>>,
    ) -> Reply {
        self.keys_current().await;
        let key = self.client_key(parts);
        if let Some(r) = self.throttled(key.as_deref()) {
            return no_store(r);
        }
        // A proof of possession binds the session to its key (checked before the password).
        let jkt = match self.proof(parts) {
            Ok(jkt) => jkt,
            Err(e) => return no_store(self.refuse_proof(&e)),
        };
        let Some(mut login) = authenticate.await else {
            return no_store(
                self.failed(key.as_deref()).unwrap_or_else(|| {
                    oauth_error(StatusCode::UNAUTHORIZED, "invalid_credentials")
                }),
            );
        };
        let seen = self.context(parts, key);
        login.context.user_agent = login.context.user_agent.or(seen.user_agent);
        login.context.ip = login.context.ip.or(seen.ip);
        if let Some(jkt) = jkt {
            login = login.dpop(jkt);
        }
        match self.issuer.login(login).await {
            Ok(pair) => self.pair_reply(&pair, delivery),
            Err(e) => no_store(error_reply(&e)),
        }
    }

    /// `POST /token` (RFC 6749 §6): `grant_type=refresh_token` with the token from the form
    /// or, when the form has none, from the refresh cookie. A cookie refresh is accepted only
    /// from an allowed origin ([`origin_allowed`]) and with exactly one refresh cookie; its
    /// new token goes back into the cookie. Failures count against the client's address.
    pub async fn token(&self, parts: &Parts, body: &[u8]) -> Reply {
        self.keys_current().await;
        no_store(self.token_inner(parts, body).await)
    }

    async fn token_inner(&self, parts: &Parts, body: &[u8]) -> Reply {
        let key = self.client_key(parts);
        if let Some(r) = self.throttled(key.as_deref()) {
            return r;
        }
        let Some(form) = form(parts, body) else {
            let _ = self.failed(key.as_deref());
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match param(&form, "grant_type") {
            Some("refresh_token") => {}
            Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        }
        let (token, delivery) = match param(&form, "refresh_token") {
            Some(t) => (t, Delivery::Body),
            None => match self.cookie.from_headers(&parts.headers) {
                Some(c) => (c, Delivery::Cookie),
                // No refresh cookie, or two of them (one planted by a sibling subdomain).
                None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
            },
        };
        // A cookie rides along with any request the browser makes: accept it only from our
        // pages.
        let origins: Vec<&str> = self.allowed_origins.iter().map(String::as_str).collect();
        if delivery == Delivery::Cookie && !origin_allowed(&parts.headers, &origins) {
            return oauth_error(StatusCode::FORBIDDEN, "invalid_request");
        }
        // The token's tag first (no store access): only a holder of an authentic refresh token
        // gets a proof checked, and so recorded in the replay cache.
        let authentic = match self.issuer.authenticate_refresh_token(token) {
            Ok(p) => p,
            Err(e) => {
                if let Some(r) = self.failed(key.as_deref()) {
                    return r;
                }
                return error_reply(&e);
            }
        };
        let jkt = match self.proof(parts) {
            Ok(jkt) => jkt,
            Err(e) => {
                let _ = self.failed(key.as_deref());
                return self.refuse_proof(&e);
            }
        };
        let presented = self.context(parts, key.clone());
        // A cookie is a jar the browser's concurrent requests share: settle inside the window.
        // A DPoP-bound session needs its key's proof on either path.
        let mut refresh = self
            .issuer
            .refresh(token)
            .authenticated(authentic)
            .context(&presented)
            .dpop(jkt);
        if delivery == Delivery::Cookie {
            refresh = refresh.shared_jar();
        }
        let refreshed = refresh.await;
        match refreshed {
            Ok(pair) => self.pair_reply(&pair, delivery),
            Err(e) => {
                if e.kind() == ErrorKind::RefreshReuse || e.kind() == ErrorKind::RiskDenied {
                    // A theft response takes effect here at once, not at the next sync: the
                    // revoked session's access tokens stop working at this server's account
                    // endpoints and introspection now.
                    self.revoked().await;
                }
                if e.is_invalid_grant()
                    && let Some(r) = self.failed(key.as_deref())
                {
                    return r;
                }
                error_reply(&e)
            }
        }
    }
}
