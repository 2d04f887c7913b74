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
        // clientAuth too: Redis Cluster nodes present this certificate to each other on the
        // bus, which always verifies both ends.
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
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
    let t = tidepass::store::RedisOptions::new(Duration::from_millis(1500));

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
    let plain = RedisStore::connect(&format!("redis://127.0.0.1:{port}/0"), "tp", t.timeout).await;
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

/// Redis Cluster over TLS: three TLS-only nodes (clients, the cluster bus and replication
/// all on TLS), reached through redis-rs's cluster client with this test's CA; the whole
/// conformance suite passes, and another CA is refused.
#[cfg(all(feature = "redis-tls", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_over_tls_verifies_the_servers_and_conforms() {
    use redis::cluster::ClusterClientBuilder;

    use crate::stores::private_redis::{CLUSTERS, Server, free_port};

    let _one = CLUSTERS.lock().await;
    let dir = std::env::temp_dir().join(format!("tidepass-tls-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    make_certs(&dir, "other");
    let other_ca = std::fs::read(dir.join("other-ca.pem")).expect("other ca");
    make_certs(&dir, "right");
    let ca = std::fs::read(dir.join("right-ca.pem")).expect("ca");
    let path = |f: &str| dir.join(f).to_str().expect("utf8").to_owned();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        // The bus listens on the TLS port + 10000 (`--tls-cluster yes`).
        let port = loop {
            let p = free_port();
            if p < 55_000 && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
                break p;
            }
        };
        let Some(s) = Server::start(&[
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cluster",
            "yes",
            "--tls-replication",
            "yes",
            "--cluster-enabled",
            "yes",
            "--appendonly",
            "no",
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
        nodes.push(s);
    }
    let ca_path = path("right-ca.pem");
    let addrs = Server::create_cluster(&nodes, 0, &["--tls", "--cacert", &ca_path]);
    let urls: Vec<String> = addrs.iter().map(|a| format!("rediss://{a}")).collect();
    let certs = |root: &[u8]| redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(root.to_vec()),
    };
    let wrong = ClusterClientBuilder::new(urls.clone())
        .certs(certs(&other_ca))
        .connection_timeout(Duration::from_millis(500))
        .build()
        .expect("client")
        .get_async_connection()
        .await;
    assert!(
        wrong.is_err(),
        "a cluster whose certificates another CA signed"
    );
    let client = ClusterClientBuilder::new(urls)
        .certs(certs(&ca))
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let con = loop {
        if let Ok(mut c) = client.get_async_connection().await {
            let info: redis::RedisResult<String> =
                redis::cmd("CLUSTER").arg("INFO").query_async(&mut c).await;
            if info.is_ok_and(|i| i.contains("cluster_state:ok")) {
                break c;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the TLS cluster never came up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut con = con;
    crate::stores::private_redis::until_every_node_serves(&mut con, deadline).await;
    static N: AtomicUsize = AtomicUsize::new(0);
    tidepass::conformance::run_all(|| {
        let prefix = format!("tlsc{}", N.fetch_add(1, Ordering::Relaxed));
        let con = con.clone();
        async move { RedisStore::with_connection(con, &prefix) }
    })
    .await;
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private PostgreSQL with `ssl=on` that accepts only TLS connections (`hostssl` in its
/// pg_hba.conf), on certificates this test makes.
#[cfg(all(feature = "postgres-tls", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_over_tls_verifies_the_server_and_conforms() {
    use tidepass::store::PgStore;

    let dir = std::env::temp_dir().join(format!("tidepass-pgtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    make_certs(&dir, "other");
    let other_ca = std::fs::read(dir.join("other-ca.pem")).expect("other ca");
    make_certs(&dir, "right");
    let ca = std::fs::read(dir.join("right-ca.pem")).expect("ca");
    // The server reads its key as the postgres user, and only from a private file.
    if crate::stores::private_pg::running_as_root() {
        for f in ["server.key", "server.pem"] {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.join(f))
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown {f}");
        }
    }
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
    let path = |f: &str| dir.join(f).to_str().expect("utf8").to_owned();
    let (cert, key) = (
        format!("ssl_cert_file={}", path("server.pem")),
        format!("ssl_key_file={}", path("server.key")),
    );
    let Some(cluster) = crate::stores::private_pg::Cluster::start_with(
        &["-c", "ssl=on", "-c", &cert, "-c", &key],
        Some("local all all trust\nhostssl all all 127.0.0.1/32 trust\n"),
    ) else {
        return;
    };
    let url = cluster.url();
    let t = Duration::from_secs(2);

    // Plain text is refused by the server (hostssl only), another CA by us.
    let plain = PgStore::connect(&url, 1, t).expect("pool");
    assert!(
        plain.migrate().await.is_err(),
        "plain text to a TLS-only server"
    );
    let wrong = PgStore::connect_tls(&url, 1, t, &other_ca).expect("pool");
    let e = wrong
        .migrate()
        .await
        .expect_err("another CA's certificate must not verify");
    assert!(e.is_store(), "{e}");
    let mut why = String::new();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        why.push_str(&format!("{s}; "));
        src = s.source();
    }
    assert!(
        why.contains("UnknownIssuer") || why.contains("certificate"),
        "refused for its certificate: {why}"
    );
    let empty = PgStore::connect_tls(&url, 1, t, b"not a certificate").expect_err("no CA");
    assert_eq!(empty.kind(), tidepass::ErrorKind::InvalidConfig);

    // With the right CA: the whole conformance suite, each store in a schema of its own
    // (made over the server's Unix socket).
    let (admin, conn) = tokio_postgres::connect(&cluster.socket_url(), tokio_postgres::NoTls)
        .await
        .expect("socket");
    tokio::spawn(conn);
    let admin = std::sync::Arc::new(admin);
    static N: AtomicUsize = AtomicUsize::new(0);
    let store = || {
        let (admin, url, ca) = (admin.clone(), url.clone(), ca.clone());
        async move {
            let schema = format!("tls_{}", N.fetch_add(1, Ordering::Relaxed));
            admin
                .batch_execute(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("schema");
            let s = PgStore::connect_tls(
                &format!("{url} options='-c search_path={schema}'"),
                8,
                t,
                &ca,
            )
            .expect("pool");
            s.migrate().await.expect("TLS with the right CA");
            s
        }
    };
    tidepass::conformance::run_all(store).await;
}
