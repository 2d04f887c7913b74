//! RFC 6750 §3 error responses: status, `WWW-Authenticate`, and a uniform body.

use crate::error::{Error, ErrorKind};

/// The parts of an HTTP response that refuses a request.
///
/// The body is the same for every cause within an error code, so a client learns nothing that
/// helps it probe; the precise [`ErrorKind`] belongs in logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// HTTP status: 400, 401, 403, or 500 for a server-side misuse.
    pub status: u16,
    /// The `WWW-Authenticate` header value, when the status calls for one.
    pub www_authenticate: Option<String>,
    /// The JSON body.
    pub body: &'static str,
    /// A fresh nonce for a `DPoP-Nonce` header (RFC 9449 §9), set with
    /// [`Rejection::with_dpop_nonce`] when the refusal is `use_dpop_nonce`.
    pub dpop_nonce: Option<String>,
}

/// The `algs` a `DPoP` challenge announces (RFC 9449 §7.1).
const DPOP_ALGS: &str = "ES256 ES384 EdDSA RS256 RS384 PS256 PS384";

/// How the `algs` parameter of a `DPoP` challenge starts; it is always the challenge's last.
const ALGS_PARAM: &str = ", algs=\"";

impl Rejection {
    /// The response for `err` on a resource in `realm`. `required_scope` is announced with
    /// `insufficient_scope`.
    pub fn from_error(err: &Error, realm: &str, required_scope: Option<&str>) -> Self {
        let realm = quote(realm);
        let challenge = |code: &str| format!("Bearer realm=\"{realm}\", error=\"{code}\"");
        match err.kind() {
            ErrorKind::MissingToken => Self {
                status: 401,
                www_authenticate: Some(format!("Bearer realm=\"{realm}\"")),
                body: r#"{"error":"unauthorized"}"#,
                dpop_nonce: None,
            },
            ErrorKind::InvalidRequest => Self {
                status: 400,
                www_authenticate: Some(challenge("invalid_request")),
                body: r#"{"error":"invalid_request"}"#,
                dpop_nonce: None,
            },
            ErrorKind::InsufficientScope => {
                let mut h = challenge("insufficient_scope");
                if let Some(s) = required_scope {
                    h.push_str(&format!(", scope=\"{}\"", quote(s)));
                }
                Self {
                    status: 403,
                    www_authenticate: Some(h),
                    body: r#"{"error":"insufficient_scope"}"#,
                    dpop_nonce: None,
                }
            }
            ErrorKind::InsufficientUserAuthentication => {
                Self::step_up(&realm, &crate::verify::step_up::StepUp::new())
            }
            ErrorKind::InvalidDpopProof | ErrorKind::UseDpopNonce | ErrorKind::DpopBoundToken => {
                let (code, body) = match err.kind() {
                    ErrorKind::InvalidDpopProof => {
                        ("invalid_dpop_proof", r#"{"error":"invalid_dpop_proof"}"#)
                    }
                    ErrorKind::UseDpopNonce => ("use_dpop_nonce", r#"{"error":"use_dpop_nonce"}"#),
                    _ => ("invalid_token", r#"{"error":"invalid_token"}"#),
                };
                Self {
                    status: 401,
                    www_authenticate: Some(format!(
                        "DPoP realm=\"{realm}\", error=\"{code}\"{ALGS_PARAM}{DPOP_ALGS}\""
                    )),
                    body,
                    dpop_nonce: None,
                }
            }
            ErrorKind::RevocationsStale => Self {
                status: 503,
                www_authenticate: None,
                body: r#"{"error":"temporarily_unavailable"}"#,
                dpop_nonce: None,
            },
            _ if err.is_rejected() => Self {
                status: 401,
                www_authenticate: Some(challenge("invalid_token")),
                body: r#"{"error":"invalid_token"}"#,
                dpop_nonce: None,
            },
            _ => Self {
                status: 500,
                www_authenticate: None,
                body: r#"{"error":"server_error"}"#,
                dpop_nonce: None,
            },
        }
    }
}

impl Rejection {
    /// Announce `algs` in a `DPoP` challenge (RFC 9449 §7.1): the algorithms the verifier's
    /// [`crate::verify::dpop::ProofChecker`] accepts, from its `algorithm_names()`. Without
    /// this call a challenge lists the checker's default set; a later call replaces an earlier
    /// one's list. A `"` or `\` in a name is dropped, so no name can end the parameter early.
    /// Other refusals are unchanged, and so is a challenge when `algs` is empty.
    ///
    /// ```
    /// use tidepass::http::Rejection;
    /// use tidepass::{Error, ErrorKind};
    ///
    /// let r = Rejection::from_error(&Error::from(ErrorKind::InvalidDpopProof), "api", None)
    ///     .with_dpop_algs(&["EdDSA"]);
    /// assert!(r.www_authenticate.unwrap().ends_with("algs=\"EdDSA\""));
    /// ```
    pub fn with_dpop_algs(mut self, algs: &[&str]) -> Self {
        if algs.is_empty() {
            return self;
        }
        // A `DPoP` challenge ends with its `algs` parameter, and nothing before it holds a
        // `"` unescaped (the realm is `quote`d), so the last `, algs="` is that parameter.
        if let Some(h) = self.www_authenticate.as_mut()
            && h.starts_with("DPoP ")
            && let Some(at) = h.rfind(ALGS_PARAM)
        {
            h.truncate(at);
            h.push_str(ALGS_PARAM);
            h.push_str(&quote(&algs.join(" ")));
            h.push('"');
        }
        self
    }

    /// Add a `DPoP-Nonce` (for a `use_dpop_nonce` refusal).
    pub fn with_dpop_nonce(mut self, nonce: Option<String>) -> Self {
        self.dpop_nonce = nonce;
        self
    }

    /// RFC 9470 §3: the token's login falls short of `demand`. 401 with
    /// `error="insufficient_user_authentication"` and the demand's `acr_values` and `max_age`,
    /// so the client knows what login to ask the user for.
    pub fn step_up(realm: &str, demand: &crate::verify::step_up::StepUp) -> Self {
        let mut h = format!(
            "Bearer realm=\"{}\", error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level is required\"",
            quote(realm)
        );
        let params = demand.challenge_params();
        if !params.is_empty() {
            h.push_str(", ");
            h.push_str(&params);
        }
        Self {
            status: 401,
            www_authenticate: Some(h),
            body: r#"{"error":"insufficient_user_authentication"}"#,
            dpop_nonce: None,
        }
    }
}

/// Keep a quoted-string free of quotes, backslashes and control characters.
fn quote(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(feature = "server")]
impl Rejection {
    /// The whole response on the `http` crate's types (feature `server`).
    pub fn to_response(&self) -> http::Response<String> {
        let mut r = http::Response::new(self.body.to_owned());
        *r.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::UNAUTHORIZED);
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(v) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
        {
            h.insert(http::header::WWW_AUTHENTICATE, v);
        }
        if let Some(v) = self
            .dpop_nonce
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
        {
            h.insert("dpop-nonce", v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpop_algs_replace_the_last_announcement() {
        let dpop = Rejection::from_error(&Error::new(ErrorKind::InvalidDpopProof), "api", None);
        // A second call announces its own list, not the first one's.
        let r = dpop
            .clone()
            .with_dpop_algs(&["EdDSA"])
            .with_dpop_algs(&["ES256", "PS256"]);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(r#"DPoP realm="api", error="invalid_dpop_proof", algs="ES256 PS256""#)
        );
        // A name with a quote cannot end the parameter early.
        let r = dpop.with_dpop_algs(&["ES256\", x=\"y"]);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(r#"DPoP realm="api", error="invalid_dpop_proof", algs="ES256, x=y""#)
        );
        // Bearer challenges are left alone.
        let bearer = Rejection::from_error(&Error::new(ErrorKind::Expired), "api", None);
        assert_eq!(bearer.clone().with_dpop_algs(&["EdDSA"]), bearer);
    }

    #[test]
    fn codes_follow_rfc6750() {
        let r = Rejection::from_error(&Error::new(ErrorKind::Expired), "api", None);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\"")
        );
        let r2 = Rejection::from_error(&Error::new(ErrorKind::InvalidSignature), "api", None);
        assert_eq!(r.body, r2.body, "uniform body");
        let r = Rejection::from_error(&Error::new(ErrorKind::InvalidRequest), "api", None);
        assert_eq!((r.status, r.body), (400, r#"{"error":"invalid_request"}"#));
        let r = Rejection::from_error(
            &Error::new(ErrorKind::InsufficientScope),
            "a\"pi",
            Some("admin"),
        );
        assert_eq!(r.status, 403);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"admin\"")
        );
        let r = Rejection::from_error(&Error::new(ErrorKind::MissingToken), "api", None);
        assert_eq!(
            (r.status, r.www_authenticate.as_deref()),
            (401, Some("Bearer realm=\"api\""))
        );
        let demand = crate::verify::step_up::StepUp::new()
            .acr_at_least(2)
            .max_age(std::time::Duration::from_secs(300));
        let r = Rejection::step_up("api", &demand);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
                 error_description=\"A different authentication level is required\", \
                 acr_values=\"2\", max_age=\"300\""
            )
        );
        let r = Rejection::from_error(&Error::new(ErrorKind::WeakKey), "api", None);
        assert_eq!((r.status, r.www_authenticate), (500, None));
    }
}
