//! Shared by the benches that drive the release `auth_service` example over HTTP against
//! real stores: the example's path, a private Redis, a PostgreSQL schema of the run's own,
//! and a login.

use std::time::Duration;

use super::service::{Proc, free_port};

/// A release example: `target/release/examples/NAME`.
pub(crate) fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/release/examples")
        .join(name)
}

/// A private `redis-server` on a free loopback port that keeps nothing on disk, once it
/// accepts connections; stopped when the `Proc` is dropped. Returns it and its URL.
pub(crate) fn redis_server() -> (Proc, String) {
    let port = free_port();
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{port}/0");
    (
        Proc {
            url: url.clone(),
            child,
        },
        url,
    )
}

/// A schema of this run's own on the shared PostgreSQL (database `test`): each run starts
/// on an empty store (a key ring belongs to one issuer) and leaves the server as it found
/// it ([`PgSchema::drop_schema`]).
pub(crate) struct PgSchema {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) name: String,
    /// A store URL whose connections use the schema.
    pub(crate) url: String,
}

impl PgSchema {
    pub(crate) async fn create(prefix: &str) -> Self {
        let admin = "postgres://postgres@127.0.0.1:5432/test";
        let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
            .await
            .expect("postgres");
        tokio::spawn(conn);
        let name = format!("{prefix}_{}", std::process::id());
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("schema");
        let url = format!("{admin}?options=-c%20search_path%3D{name}");
        Self { client, name, url }
    }

    pub(crate) async fn drop_schema(self) {
        self.client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .expect("drop schema");
    }
}

/// Log in to the example as the benches' user (`--user alice:s3cret`): the JSON answer.
pub(crate) async fn login(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.post(format!("{url}/login"))
        .json(&serde_json::json!({"username": "alice", "password": "s3cret"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("pair")
}
