//! `GET /statuslists/k` and `GET /statuslists`: the issuer's Token Status Lists
//! (draft-ietf-oauth-status-list §8.1 and §9.3).

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use super::{AuthServer, Reply, error_reply, json_reply, oauth_error};
use crate::revocation::status_list::token::MEDIA_TYPE;
use crate::store::SessionStore;

/// `k` of `/statuslists/k`: decimal digits only (no sign, no leading zero but "0"), so each
/// list has one URL.
pub(super) fn list_number(path: &str) -> Option<u64> {
    let k = path.strip_prefix("/statuslists/")?;
    let canonical =
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && (k == "0" || !k.starts_with('0'));
    canonical.then(|| k.parse().ok()).flatten()
}

/// Whether an `Accept` header admits the Status List Token's media type (absent: yes).
fn accepts_jwt(parts: &Parts) -> bool {
    let Some(accept) = parts.headers.get(header::ACCEPT) else {
        return true;
    };
    let Ok(accept) = accept.to_str() else {
        return false;
    };
    accept.split(',').any(|range| {
        let mut p = range.split(';');
        let t = p.next().unwrap_or_default().trim();
        let refused = p.any(|q| {
            q.trim()
                .strip_prefix("q=")
                .is_some_and(|v| v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        !refused
            && (t.eq_ignore_ascii_case(MEDIA_TYPE)
                || t == "*/*"
                || t.eq_ignore_ascii_case("application/*"))
    })
}

impl<S: SessionStore> AuthServer<S> {
    /// `GET /statuslists/k`: list `k` as a Status List Token (`application/statuslist+jwt`),
    /// cacheable for what is left of its `ttl`; 404 for a list that holds no index yet (or
    /// when the issuer publishes none), 406 for an `Accept` that refuses the JWT form (the
    /// CWT form is not served).
    pub async fn status_list(&self, parts: &Parts, k: u64) -> Reply {
        if !accepts_jwt(parts) {
            return oauth_error(StatusCode::NOT_ACCEPTABLE, "not_acceptable");
        }
        // Signed with the minter's key: the ring's current one.
        self.keys_current().await;
        match self.issuer.status_list(k).await {
            Ok(Some(list)) => {
                let mut r = Response::new(list.jwt.clone().into_bytes());
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
                let age = list.max_age(self.issuer.now());
                if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={age}")) {
                    h.insert(header::CACHE_CONTROL, v);
                }
                r
            }
            Ok(None) => oauth_error(StatusCode::NOT_FOUND, "not_found"),
            Err(e) => error_reply(&e),
        }
    }

    /// `GET /statuslists`: the URIs of every list (§9.3's aggregation), cacheable for the
    /// lists' `ttl`.
    pub async fn status_lists(&self) -> Reply {
        let Some(config) = self.issuer.status_lists() else {
            return oauth_error(StatusCode::NOT_FOUND, "not_found");
        };
        match self.issuer.status_list_uris().await {
            Ok(uris) => {
                let mut r = json_reply(StatusCode::OK, &json!({ "status_lists": uris }));
                if let Ok(v) =
                    HeaderValue::from_str(&format!("public, max-age={}", config.ttl_secs()))
                {
                    r.headers_mut().insert(header::CACHE_CONTROL, v);
                }
                r
            }
            Err(e) => error_reply(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_numbers_are_canonical() {
        assert_eq!(list_number("/statuslists/0"), Some(0));
        assert_eq!(list_number("/statuslists/17"), Some(17));
        for bad in [
            "/statuslists/",
            "/statuslists/01",
            "/statuslists/+1",
            "/statuslists/1/",
            "/statuslists/1a",
            "/statuslists/99999999999999999999999",
        ] {
            assert_eq!(list_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn accept_is_honoured() {
        let parts = |accept: Option<&str>| {
            let mut b = http::Request::builder();
            if let Some(a) = accept {
                b = b.header(header::ACCEPT, a);
            }
            b.body(()).expect("request").into_parts().0
        };
        assert!(accepts_jwt(&parts(None)));
        assert!(accepts_jwt(&parts(Some("application/statuslist+jwt"))));
        assert!(accepts_jwt(&parts(Some("text/html, */*;q=0.1"))));
        assert!(!accepts_jwt(&parts(Some("application/statuslist+cwt"))));
        assert!(!accepts_jwt(&parts(Some(
            "application/statuslist+jwt;q=0, application/statuslist+cwt"
        ))));
    }
}
