//! The account endpoints of [`AuthServer`]: logout, the session list, ending one session or
//! all the others, each for the bearer of a verified access token.

use http::StatusCode;
use http::request::Parts;
use http::{HeaderValue, header};
use serde_json::{Value, json};

use super::{AuthServer, Reply, error_reply, json_reply, oauth_error, session_of, with_status};
use crate::issuer::login::rfc3339;
use crate::session::SessionId;
use crate::store::SessionStore;

impl<S: SessionStore> AuthServer<S> {
    /// `POST /logout`: end the bearer's session; 204, and the refresh cookie cleared.
    pub async fn logout(&self, parts: &Parts) -> Reply {
        let claims = match self.bearer(parts).await {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        let Some(sid) = session_of(&claims) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match self.issuer.logout(sid).await {
            Ok(_) => {
                self.revoked().await;
                let mut r = with_status(StatusCode::NO_CONTENT);
                if let Ok(v) = HeaderValue::from_str(&self.cookie.clear()) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            }
            Err(e) => error_reply(&e),
        }
    }

    /// `GET /sessions`: the bearer's active sessions (`session_id`, `device`, `user_agent`,
    /// `ip`, `created_at`, `last_used_at`, `expires_at` as RFC 3339 UTC times, `current`).
    pub async fn sessions(&self, parts: &Parts) -> Reply {
        let claims = match self.bearer(parts).await {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        match self.issuer.sessions(&claims.sub, session_of(&claims)).await {
            Ok(list) => {
                let items: Vec<Value> = list
                    .iter()
                    .map(|v| {
                        json!({
                            "session_id": v.session.sid.to_string(),
                            "device": v.session.context.device,
                            "user_agent": v.session.context.user_agent,
                            "ip": v.session.context.ip,
                            "created_at": rfc3339(v.created_at()),
                            "last_used_at": rfc3339(v.last_used_at()),
                            "expires_at": rfc3339(v.expires_at()),
                            "current": v.current,
                        })
                    })
                    .collect();
                json_reply(StatusCode::OK, &json!({ "sessions": items }))
            }
            Err(e) => error_reply(&e),
        }
    }

    /// `DELETE /sessions/{id}`: end one of the bearer's sessions; 204, or 404 when it is not
    /// one of theirs.
    pub async fn revoke_session(&self, parts: &Parts, id: &str) -> Reply {
        let claims = match self.bearer(parts).await {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        let Ok(sid) = id.parse::<SessionId>() else {
            return oauth_error(StatusCode::NOT_FOUND, "not_found");
        };
        match self.issuer.revoke(&claims.sub, sid).await {
            Ok(true) => {
                self.revoked().await;
                with_status(StatusCode::NO_CONTENT)
            }
            Ok(false) => oauth_error(StatusCode::NOT_FOUND, "not_found"),
            Err(e) => error_reply(&e),
        }
    }

    /// `POST /sessions/revoke-others`: end every session of the bearer's but this one; 204.
    pub async fn revoke_others(&self, parts: &Parts) -> Reply {
        let claims = match self.bearer(parts).await {
            Ok(c) => c,
            Err(e) => return self.refuse(&e),
        };
        let Some(sid) = session_of(&claims) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match self.issuer.revoke_others(&claims.sub, sid).await {
            Ok(_) => {
                self.revoked().await;
                with_status(StatusCode::NO_CONTENT)
            }
            Err(e) => error_reply(&e),
        }
    }
}
