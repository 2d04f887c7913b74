//! The tower `AuthLayer` in front of a plain hyper service on a loopback port (no axum), in
//! its gRPC form (and in front of a tonic server, called by tonic's client), and in front of
//! axum's extractor, which must reuse what it verified.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use tidepass::http::layer::AuthLayer;
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::{Minter, Verified, Verifier};
use tower::{Service, ServiceBuilder, ServiceExt};

fn minter() -> Minter {
    Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter")
}

fn verifier(m: &Minter) -> Arc<Verifier> {
    Arc::new(
        Verifier::builder("https://auth.example", "api", m.keys().verifying_keys())
            .build()
            .expect("verifier"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyper_service_behind_the_layer() {
    let m = minter();
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(verifier(&m)).require_scope("read"))
        .service_fn(|req: Request<hyper::body::Incoming>| async move {
            let who = req
                .extensions()
                .get::<Verified>()
                .map(|c| c.sub.to_string())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes_of(format!(
                "hello {who}"
            )))))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    let http = reqwest::Client::new();
    let ok = m.token("ada").scope("read write").mint().expect("mint");
    let r = http
        .get(&url)
        .bearer_auth(ok.as_str())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "hello ada");

    let r = http.get(&url).send().await.expect("request");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"api\"");

    let narrow = m.token("ada").scope("write").mint().expect("mint");
    let r = http
        .get(&url)
        .bearer_auth(narrow.as_str())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"read\""),
        "{challenge}"
    );

    let forged = minter()
        .token("mallory")
        .scope("read")
        .mint()
        .expect("mint");
    let r = http
        .get(&url)
        .bearer_auth(forged.as_str())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("invalid_token")
    );
}

fn bytes_of(s: String) -> hyper::body::Bytes {
    hyper::body::Bytes::from(s)
}

#[tokio::test]
async fn grpc_refusals_are_status_codes_without_the_reason() {
    let m = minter();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    type Boxed = tower::util::BoxService<Request<String>, Response<String>, Infallible>;
    let mut svc: Boxed = tower::util::BoxService::new(
        ServiceBuilder::new()
            .layer(AuthLayer::grpc(verifier(&m)).require_scope("orders"))
            .service_fn(move |_req: Request<String>| {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async { Ok::<_, Infallible>(Response::new(String::from("reply"))) }
            }),
    );
    let call = async |svc: &mut Boxed, token: Option<&str>| {
        let mut b = Request::post("/shop.Orders/List").header("content-type", "application/grpc");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        svc.ready()
            .await
            .expect("ready")
            .call(b.body(String::new()).expect("request"))
            .await
            .expect("infallible")
    };
    let grpc = |r: &Response<String>| {
        (
            r.status().as_u16(),
            r.headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            r.headers()
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    };
    // No token, and a tampered one: UNAUTHENTICATED, with one generic message for both.
    let none = call(&mut svc, None).await;
    let mut tampered = m
        .token("ada")
        .scope("orders")
        .mint()
        .expect("mint")
        .into_string();
    tampered.pop();
    let bad = call(&mut svc, Some(&tampered)).await;
    for r in [&none, &bad] {
        assert_eq!(
            grpc(r),
            (200, Some("16".into()), Some("unauthenticated".into()))
        );
        assert_eq!(r.headers()["content-type"], "application/grpc");
        assert!(r.body().is_empty());
    }
    // A token without the scope: PERMISSION_DENIED.
    let other = m.token("ada").scope("profile").mint().expect("mint");
    let r = call(&mut svc, Some(other.as_str())).await;
    assert_eq!(grpc(&r).1.as_deref(), Some("7"));
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "never reached"
    );
    // The right token reaches the service.
    let good = m.token("ada").scope("orders").mint().expect("mint");
    let r = call(&mut svc, Some(good.as_str())).await;
    assert_eq!((r.status().as_u16(), r.body().as_str()), (200, "reply"));
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// The extractor reuses the layer's claims: its own verifier here would refuse every token
/// (another issuer), so a 200 proves the token was verified once, by the layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_extractor_reuses_what_the_layer_verified() {
    use axum::extract::FromRef;
    use tidepass::http::axum::Auth;

    #[derive(Clone)]
    struct App(Arc<Verifier>);
    impl FromRef<App> for Arc<Verifier> {
        fn from_ref(app: &App) -> Self {
            app.0.clone()
        }
    }
    async fn me(Auth(claims): Auth) -> String {
        format!("hello {}", claims.sub)
    }
    let m = minter();
    let elsewhere = Arc::new(
        Verifier::builder("https://other.example", "api", m.keys().verifying_keys())
            .build()
            .expect("verifier"),
    );
    let app = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .with_state(App(elsewhere))
        .layer(AuthLayer::new(verifier(&m)));
    let token = m.token("ada").mint().expect("mint");
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {}", token.as_str()))
        .body(axum::body::Body::empty())
        .expect("request");
    let r = app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(r.status(), 200);
    // Without the layer's claims, the extractor's own verifier refuses the same token.
    let alone = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .with_state(App(Arc::new(
            Verifier::builder("https://other.example", "api", m.keys().verifying_keys())
                .build()
                .expect("verifier"),
        )));
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {}", token.as_str()))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(alone.oneshot(req).await.expect("infallible").status(), 401);
}

/// A tonic gRPC server guarded by the layer, called by tonic's own client over loopback
/// HTTP/2: no token and a forged token are `UNAUTHENTICATED`, a missing scope
/// `PERMISSION_DENIED`, each with the generic message only; the right token gets the answer
/// and the handler sees the claims.
mod grpc_over_tonic {
    use super::*;
    use bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    /// Messages as raw bytes: no protobuf code generation needed for one echo call.
    #[derive(Clone, Default)]
    struct Raw;
    struct RawEnc;
    struct RawDec;

    impl Encoder for RawEnc {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for RawDec {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            let mut out = vec![0; src.remaining()];
            src.copy_to_slice(&mut out);
            Ok(Some(out))
        }
    }

    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawEnc;
        type Decoder = RawDec;
        fn encoder(&mut self) -> RawEnc {
            RawEnc
        }
        fn decoder(&mut self) -> RawDec {
            RawDec
        }
    }

    /// `test.Echo/Say`: answers "hello SUB" from the claims the layer put in the request.
    #[derive(Clone)]
    struct Echo;

    impl tonic::server::NamedService for Echo {
        const NAME: &'static str = "test.Echo";
    }

    struct Say;

    impl tonic::server::UnaryService<Vec<u8>> for Say {
        type Response = Vec<u8>;
        type Future = std::future::Ready<Result<tonic::Response<Vec<u8>>, tonic::Status>>;
        fn call(&mut self, request: tonic::Request<Vec<u8>>) -> Self::Future {
            let who = request
                .extensions()
                .get::<Verified>()
                .map(|c| c.sub.to_string())
                .unwrap_or_default();
            std::future::ready(Ok(tonic::Response::new(
                format!("hello {who}").into_bytes(),
            )))
        }
    }

    impl Service<Request<tonic::body::Body>> for Echo {
        type Response = Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
        >;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(Raw);
                Ok(grpc.unary(Say, req).await)
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tonic_server_and_client() {
        let m = minter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let layer = AuthLayer::grpc(verifier(&m)).require_scope("echo");
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(Echo)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = tonic::transport::Channel::from_shared(url)
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let say = async |token: Option<String>| {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.expect("ready");
            let mut req = tonic::Request::new(b"hi".to_vec());
            if let Some(t) = token {
                req.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {t}").parse().expect("ascii"),
                );
            }
            grpc.unary(
                req,
                http::uri::PathAndQuery::from_static("/test.Echo/Say"),
                Raw,
            )
            .await
        };
        let good = m.token("ada").scope("echo").mint().expect("mint");
        let r = say(Some(good.as_str().to_owned())).await.expect("answer");
        assert_eq!(r.into_inner(), b"hello ada");

        let none = say(None).await.expect_err("no token");
        let forged = minter().token("ada").scope("echo").mint().expect("mint");
        let bad = say(Some(forged.as_str().to_owned()))
            .await
            .expect_err("forged");
        for status in [&none, &bad] {
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert_eq!(status.message(), "unauthenticated", "the reason stays out");
        }
        let narrow = m.token("ada").scope("other").mint().expect("mint");
        let denied = say(Some(narrow.as_str().to_owned()))
            .await
            .expect_err("no scope");
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(denied.message(), "permission denied");
    }
}

/// Both schemes through the tower layer and through axum's `require_auth` middleware: a
/// DPoP-bound token passes under `DPoP` with a proof for the request's method and URL (from
/// its `Host`, or the checker's public base URL); as a bearer token, with a replayed proof,
/// with a proof for another URL or with no proof it is refused with a `DPoP` challenge; with
/// nonces demanded, the refusal carries a `DPoP-Nonce` the retry uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_through_the_layer_and_the_middleware() {
    use tidepass::client::DpopKey;
    use tidepass::verify::dpop::{Nonces, ProofChecker};
    let m = minter();
    let device = DpopKey::generate(Algorithm::ES256).expect("key");
    let token = m
        .token("ada")
        .dpop_jkt(device.thumbprint())
        .mint()
        .expect("mint")
        .into_string();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
    };
    let with = |checker: ProofChecker| {
        Arc::new(
            Verifier::builder("https://auth.example", "api", m.keys().verifying_keys())
                .dpop(checker)
                .build()
                .expect("verifier"),
        )
    };
    let request = |scheme: &str, proof: Option<String>| {
        let mut b = Request::get("/orders?page=2")
            .header("host", "127.0.0.1:9000")
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            b = b.header("dpop", p);
        }
        b.body(axum::body::Body::empty()).expect("request")
    };
    let proof_for = |url: &str, nonce: Option<&str>| {
        device
            .proof_at("GET", url, Some(&token), nonce, now())
            .expect("proof")
    };
    async fn orders() -> &'static str {
        "orders"
    }
    let layered = |v: Arc<Verifier>| {
        axum::Router::new()
            .route("/orders", axum::routing::get(orders))
            .layer(AuthLayer::new(v))
    };
    let middleware = |v: Arc<Verifier>| {
        axum::Router::new()
            .route("/orders", axum::routing::get(orders))
            .layer(axum::middleware::from_fn_with_state(
                v,
                tidepass::http::axum::require_auth::<tidepass::NoExtra>,
            ))
    };
    // The challenge's `algs` are the checker's own (RFC 9449 §7.1), default or restricted.
    let default_algs = ProofChecker::new().algorithm_names().join(" ");
    let only_es256 = || ProofChecker::new().algorithms(&[Algorithm::ES256]);
    for (name, app, algs) in [
        (
            "layer",
            layered(with(ProofChecker::new())),
            default_algs.as_str(),
        ),
        (
            "middleware",
            middleware(with(ProofChecker::new())),
            default_algs.as_str(),
        ),
        ("layer, ES256 only", layered(with(only_es256())), "ES256"),
        (
            "middleware, ES256 only",
            middleware(with(only_es256())),
            "ES256",
        ),
    ] {
        let here = "http://127.0.0.1:9000/orders";
        let p = proof_for(here, None);
        let r = app
            .clone()
            .oneshot(request("DPoP", Some(p.clone())))
            .await
            .expect("call");
        assert_eq!(r.status(), 200, "{name}: DPoP with its proof");
        for (what, req) in [
            ("replayed", request("DPoP", Some(p))),
            ("bearer", request("Bearer", None)),
            ("no proof", request("DPoP", None)),
            (
                "other URL",
                request("DPoP", Some(proof_for("http://127.0.0.1:9000/admin", None))),
            ),
        ] {
            let r = app.clone().oneshot(req).await.expect("call");
            assert_eq!(r.status(), 401, "{name}: {what}");
            let challenge = r.headers()["www-authenticate"].to_str().expect("ascii");
            assert!(
                challenge.starts_with("DPoP ") && challenge.ends_with(&format!("algs=\"{algs}\"")),
                "{name}: {what}: {challenge}"
            );
        }
    }
    // Behind a proxy: the public base URL, not the Host, is what proofs name.
    let app = layered(with(
        ProofChecker::new().public_base("https://api.example.com"),
    ));
    let r = app
        .clone()
        .oneshot(request(
            "DPoP",
            Some(proof_for("http://127.0.0.1:9000/orders", None)),
        ))
        .await
        .expect("call");
    assert_eq!(
        r.status(),
        401,
        "the internal address is not the public one"
    );
    let r = app
        .oneshot(request(
            "DPoP",
            Some(proof_for("https://api.example.com/orders", None)),
        ))
        .await
        .expect("call");
    assert_eq!(r.status(), 200);
    // Nonces: refused with a DPoP-Nonce, which the retry carries.
    let nonces = Nonces::generate(std::time::Duration::from_secs(300)).expect("nonces");
    let app = layered(with(ProofChecker::new().nonces(nonces)));
    let here = "http://127.0.0.1:9000/orders";
    let r = app
        .clone()
        .oneshot(request("DPoP", Some(proof_for(here, None))))
        .await
        .expect("call");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("use_dpop_nonce")
    );
    let nonce = r.headers()["dpop-nonce"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let r = app
        .oneshot(request("DPoP", Some(proof_for(here, Some(&nonce)))))
        .await
        .expect("call");
    assert_eq!(r.status(), 200);
}
