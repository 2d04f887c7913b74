//! RFC 7009 revocation and RFC 7662 introspection on [`AuthServer`], with the introspection
//! clients' authentication (constant time, whatever the id).

use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::{AuthServer, Reply, error_reply, form, json_reply, oauth_error, param, with_status};
use crate::store::SessionStore;

impl<S: SessionStore> AuthServer<S> {
    /// `POST /revoke` (RFC 7009): a refresh token ends its whole session when it is the
    /// session's current generation or the one before ([`Issuer::revoke_refresh_token`](crate::Issuer::revoke_refresh_token));
    /// a DPoP-bound session's only with a proof by its key (`DPoP` header, `htu` this
    /// endpoint). An access token's `jti`, bound or not, goes on the revocation list until its
    /// `exp`. Always 200, as the RFC asks (a token that is neither, too old, without its key's
    /// proof, or already dead, changes nothing), unless the store is down or a proof that was
    /// sent is refused (400 `invalid_dpop_proof` or `use_dpop_nonce`).
    pub async fn revoke(&self, parts: &Parts, body: &[u8]) -> Reply {
        self.keys_current().await;
        let Some(token) = form(parts, body)
            .as_deref()
            .and_then(|f| param(f, "token"))
            .map(str::to_owned)
        else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        let key = self.client_key(parts);
        if let Some(r) = self.throttled(key.as_deref()) {
            return r;
        }
        let done = if self.issuer.inspect_refresh_token(&token).is_some() {
            // A bound session's refresh token revokes only with its key's proof, which is
            // checked (and its `jti` recorded) only for such a session's recent token.
            let revoked = self
                .issuer
                .revoke_refresh_token_checked(&token, || self.proof(parts))
                .await;
            match revoked {
                Ok(ended) => ended,
                Err(e) if e.is_dpop_refusal() => {
                    let _ = self.failed(key.as_deref());
                    return self.refuse_proof(&e);
                }
                Err(e) => return error_reply(&e),
            }
        } else {
            self.keys_current().await;
            self.current().await;
            match self.verifier.verify_unconstrained(&token) {
                // A bound access token too (its holder may end it; it cannot move the session).
                Ok(c) => match self.issuer.revoke_access_token(&c.jti, c.exp).await {
                    Ok(_) => true,
                    Err(e) => return error_reply(&e),
                },
                // A stale list cannot tell a live token from a revoked one: answer 503.
                Err(e) if e.is_store() || e.is_fetch() => {
                    return error_reply(&e);
                }
                Err(_) => false,
            }
        };
        if done {
            self.revoked().await;
        }
        with_status(StatusCode::OK)
    }

    /// Is the request from a registered introspection client (HTTP Basic, or `client_id` and
    /// `client_secret` in the form)?
    fn client_authenticated(&self, parts: &Parts, form: &[(String, String)]) -> bool {
        let presented = basic_credentials(&parts.headers).or_else(|| {
            Some((
                param(form, "client_id")?.to_owned(),
                param(form, "client_secret")?.to_owned(),
            ))
        });
        let Some((id, secret)) = presented else {
            return false;
        };
        client_matches(&self.clients, &id, &secret)
    }

    /// `POST /introspect` (RFC 7662) for a registered client: any token — an access token is
    /// active while it verifies (revocation list included), a refresh token while it is its
    /// session's current one — with the §2.2 fields; anything else `{"active": false}`.
    pub async fn introspect(&self, parts: &Parts, body: &[u8]) -> Reply {
        let Some(form) = form(parts, body) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        if !self.client_authenticated(parts, &form) {
            let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"introspection\""),
            );
            return r;
        }
        let Some(token) = param(&form, "token") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        // A DPoP-bound token is active too, with its `cnf.jkt` (RFC 9449 §6.2): the resource
        // server asking checks the proof itself.
        self.keys_current().await;
        self.current().await;
        if let Ok(c) = self.verifier.verify_unconstrained(token) {
            // RFC 7662 §2.2: the token's type as RFC 6749 §7.1 names it.
            let bound = c.cnf.as_ref().and_then(|c| c.jkt);
            let token_type = if bound.is_some() { "DPoP" } else { "Bearer" };
            let mut body = json!({
                "active": true, "token_type": token_type, "sub": c.sub,
                "scope": c.scope, "client_id": c.client_id, "exp": c.exp, "iat": c.iat,
                "nbf": c.nbf, "aud": c.aud, "iss": c.iss, "jti": c.jti, "sid": c.sid,
                "auth_time": c.auth_time, "acr": c.acr,
            });
            if let Some(jkt) = bound {
                with_cnf(&mut body, jkt);
            }
            return json_reply(StatusCode::OK, &body);
        }
        match self.issuer.introspect_refresh_token(token).await {
            Ok(Some(s)) => {
                let mut body = json!({
                    "active": true, "token_type": "refresh_token", "sub": s.subject,
                    "scope": s.scope, "client_id": s.client_id, "exp": s.ends_at(),
                    "iat": s.rotated_at, "iss": self.issuer.minter().issuer(),
                    "sid": s.sid.to_string(),
                });
                if let Some(jkt) = s.dpop_jkt {
                    with_cnf(&mut body, jkt);
                }
                json_reply(StatusCode::OK, &body)
            }
            Ok(None) => json_reply(StatusCode::OK, &json!({ "active": false })),
            Err(e) => error_reply(&e),
        }
    }
}

/// The client's id and secret from HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1: each
/// form-urlencoded, then together base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let pair = String::from_utf8(raw).ok()?;
    let (id, secret) = pair.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// Constant-time equality of two secrets (by their SHA-256, so lengths leak nothing either).
fn secret_eq(a: &str, b: &str) -> bool {
    #[cfg(test)]
    COMPARED.with(|c| c.set(c.get() + 1));
    let (a, b) = (
        crate::backend::digest::digest(&crate::backend::digest::SHA256, a.as_bytes()),
        crate::backend::digest::digest(&crate::backend::digest::SHA256, b.as_bytes()),
    );
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Is (`id`, `secret`) one of `clients`? Every client is compared, id and secret both in
/// constant time and without a short circuit, so the time tells neither which ids exist nor
/// how much matched.
fn client_matches(clients: &[(String, String)], id: &str, secret: &str) -> bool {
    clients.iter().fold(false, |ok, (want_id, want)| {
        let matched = secret_eq(want_id, id) & secret_eq(want, secret);
        ok | matched
    })
}

#[cfg(test)]
thread_local! {
    static COMPARED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An introspection answer's `cnf` (RFC 9449 §6.2): the key a DPoP-bound token is bound to.
fn with_cnf(body: &mut Value, jkt: crate::keys::Thumbprint) {
    if let Some(o) = body.as_object_mut() {
        o.insert("cnf".into(), json!({ "jkt": jkt.to_string() }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Introspection client authentication does the same comparisons whatever the id: an
    /// unknown id costs what a known one with a wrong secret does (before, `==` on the id
    /// short-circuited the secret's comparison, and the time told which ids exist).
    #[test]
    fn client_authentication_does_not_short_circuit_on_the_id() {
        let clients = vec![
            (
                "rs".to_owned(),
                "a long secret of the resource server".to_owned(),
            ),
            ("other".to_owned(), "another secret".to_owned()),
        ];
        let compares = |id: &str, secret: &str| {
            COMPARED.with(|c| c.set(0));
            let ok = client_matches(&clients, id, secret);
            (ok, COMPARED.with(std::cell::Cell::get))
        };
        let known = compares("rs", "wrong");
        let unknown = compares("nobody", "wrong");
        let right = compares("rs", "a long secret of the resource server");
        assert_eq!((known.0, unknown.0, right.0), (false, false, true));
        assert_eq!(known.1, unknown.1);
        assert_eq!(known.1, right.1);
    }
}
