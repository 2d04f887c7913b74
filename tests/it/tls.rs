//! TLS to the stores: a private `redis-server` with a TLS port only, on certificates this test
//! makes (openssl), is reached over TLS with the right CA, and refused with another CA or
//! without TLS. The whole store conformance suite then runs over the TLS connection.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tidepass::store::RedisStore;

/// A CA, and a server certificate for 127.0.0.1 signed by it, in `dir`: `ca.pem`,
/// `server.pem`, `server.key`.
fn make_certs(dir: &Path, name: &str) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (installed by .ci/run)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &ca_key,
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &ca_key,
        "-sha256",
        "-days",
        "2",
        "-subj",
        &format!("/CN=tidepass test CA {name}"),
        "-out",
        &ca,
    ]);
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "server.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=127.0.0.1",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
}

#[cfg(all(feature = "redis-tls", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_over_tls_verifies_the_server_and_conforms() {
    let dir = std::env::temp_dir().join(format!("tidepass-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    make_certs(&dir, "other"); // a CA that signed nothing of this server's
    let other_ca = std::fs::read(dir.join("other-ca.pem")).expect("other ca");
    make_certs(&dir, "right");
    let ca = std::fs::read(dir.join("right-ca.pem")).expect("ca");
    let path = |f: &str| dir.join(f).to_str().expect("utf8").to_owned();
    let port = crate::stores::private_redis::free_port();
    let Some(_server) = crate::stores::private_redis::Server::start(&[
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &path("server.pem"),
        "--tls-key-file",
        &path("server.key"),
        "--tls-ca-cert-file",
        &path("right-ca.pem"),
        "--tls-auth-clients",
        "no",
    ]) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{port}/0");
    let t = Duration::from_millis(1500);

    let wrong = RedisStore::connect_tls(&url, "tp", t, &other_ca)
        .await
        .expect_err("a certificate from another CA must not verify");
    assert!(wrong.is_store(), "{wrong}");
    let why = std::error::Error::source(&wrong)
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        why.contains("UnknownIssuer") || why.contains("certificate"),
        "refused for its certificate: {why}"
    );
    let plain = RedisStore::connect(&format!("redis://127.0.0.1:{port}/0"), "tp", t).await;
    assert!(plain.is_err(), "plain text to a TLS-only server");
    let scheme = RedisStore::connect_tls(&format!("redis://127.0.0.1:{port}/0"), "tp", t, &ca)
        .await
        .expect_err("connect_tls without rediss://");
    assert_eq!(scheme.kind(), tidepass::ErrorKind::InvalidConfig);

    static N: AtomicUsize = AtomicUsize::new(0);
    let store = || async {
        let prefix = format!("tls{}", N.fetch_add(1, Ordering::Relaxed));
        RedisStore::connect_tls(&url, &prefix, t, &ca)
            .await
            .expect("TLS with the right CA")
    };
    tidepass::conformance::run_all(store).await;
}
