//! Connecting: a pool over plain TCP or TLS, or the application's own pool.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tokio_postgres::NoTls;

use super::{PgStore, store_err};
use crate::error::Result;
#[cfg(feature = "postgres-tls")]
use crate::error::{Error, ErrorKind};

impl PgStore {
    /// A pool of up to `max_connections` to `url` (`postgres://user@127.0.0.1/db`, or
    /// key=value form). Waiting for, creating and recycling a connection each give up after
    /// `timeout`, so calls fail fast when the server is down.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) for an invalid URL or pool settings.
    pub fn connect(url: &str, max_connections: usize, timeout: Duration) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(store_err)?;
        config.connect_timeout(timeout);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Self::pooled(manager, max_connections, timeout)
    }

    /// [`PgStore::connect`] over TLS, as managed PostgreSQL requires: the server's certificate
    /// must chain to a CA in `root_ca_pem` (PEM, one or more certificates: your provider's CA
    /// bundle, or your own) and name the host (or IP) of `url`. TLS is required whatever
    /// `sslmode` the URL says: a server that does not offer it is refused, never talked to in
    /// plain text. Feature `postgres-tls`: rustls on ring.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) when `root_ca_pem` holds no certificate;
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) for an invalid URL or pool settings. A certificate that does not
    /// verify fails each call with a store error.
    #[cfg(feature = "postgres-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-tls")))]
    pub fn connect_tls(
        url: &str,
        max_connections: usize,
        timeout: Duration,
        root_ca_pem: &[u8],
    ) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(store_err)?;
        config.connect_timeout(timeout);
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let mut roots = rustls::RootCertStore::empty();
        let certs = pem::parse_many(root_ca_pem)
            .map_err(|_| Error::with(ErrorKind::InvalidConfig, "root CA: not PEM"))?;
        for cert in certs.iter().filter(|p| p.tag() == "CERTIFICATE") {
            roots
                .add(rustls::pki_types::CertificateDer::from(
                    cert.contents().to_vec(),
                ))
                .map_err(|_| Error::with(ErrorKind::InvalidConfig, "root CA: bad certificate"))?;
        }
        if roots.is_empty() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "root CA: no certificate in the PEM",
            ));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::source_from(ErrorKind::InvalidConfig, "rustls", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let manager = Manager::from_config(
            config,
            tokio_postgres_rustls::MakeRustlsConnect::new(tls),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Self::pooled(manager, max_connections, timeout)
    }

    /// A store over a pool you built (your TLS, your limits, your hooks). Its connections
    /// must reach a database [`PgStore::migrate`] has brought up to date.
    pub fn from_pool(pool: Pool) -> Self {
        Self::with_pool(pool)
    }

    fn pooled(manager: Manager, max_connections: usize, timeout: Duration) -> Result<Self> {
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            })
            .build()
            .map_err(store_err)?;
        Ok(Self::with_pool(pool))
    }

    fn with_pool(pool: Pool) -> Self {
        Self {
            pool,
            legacy_until: std::sync::Arc::default(),
        }
    }
}
