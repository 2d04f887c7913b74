//! Connecting: one server, TLS, Sentinel.

use redis::aio::ConnectionManager;

use super::{RedisOptions, RedisStore, store_err};
use crate::error::Result;

impl RedisStore<ConnectionManager> {
    /// Connect to one Redis server (`redis://127.0.0.1:6379/0`). The connection reconnects on
    /// its own; each command fails after `timeout` instead of hanging.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str, prefix: &str, timeout: std::time::Duration) -> Result<Self> {
        Self::connect_with(url, prefix, RedisOptions::new(timeout)).await
    }

    /// [`RedisStore::connect`] with [`RedisOptions`]: replica acknowledgement, and what to do
    /// about a `maxmemory-policy` that can evict keys.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the URL is invalid or the server cannot be reached;
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) when its eviction policy can drop the store's keys and
    /// `options.eviction` is [`Eviction::Refuse`](super::Eviction::Refuse).
    pub async fn connect_with(url: &str, prefix: &str, options: RedisOptions) -> Result<Self> {
        let client = redis::Client::open(url).map_err(store_err)?;
        Self::managed(client, prefix, options).await
    }

    /// [`RedisStore::connect`] over TLS to a server whose certificate is signed by the CA in
    /// `root_ca_pem` (PEM), as private and managed Redis deployments use: `url` is
    /// `rediss://host:port/db`. The certificate is always verified, host name (or IP)
    /// included; there is no switch to turn that off. With a publicly trusted certificate,
    /// `connect` with a `rediss://` URL is enough (the system's roots are used). Feature
    /// `redis-tls`: rustls on ring.
    ///
    /// Redis Cluster over TLS: build redis-rs's cluster client with the CA and hand its
    /// connection to [`RedisStore::with_connection`] (tested against a TLS-only cluster in
    /// `tests/it/tls.rs`). Give it a response timeout longer than its retry cycle
    /// (RELIABILITY.md says why):
    ///
    /// ```no_run
    /// # async fn f(ca_pem: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepass::store::{Eviction, RedisStore};
    ///
    /// let client = redis::cluster::ClusterClientBuilder::new(vec!["rediss://10.0.0.1:6380"])
    ///     .certs(redis::TlsCertificates { client_tls: None, root_cert: Some(ca_pem) })
    ///     .connection_timeout(std::time::Duration::from_millis(250))
    ///     .response_timeout(std::time::Duration::from_secs(3))
    ///     .build()?;
    /// let store = RedisStore::with_connection(client.get_async_connection().await?, "tp");
    /// store.check_eviction(Eviction::Refuse).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the URL or the CA is invalid, the server cannot be reached,
    /// or its certificate does not verify.
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub async fn connect_tls(
        url: &str,
        prefix: &str,
        options: RedisOptions,
        root_ca_pem: &[u8],
    ) -> Result<Self> {
        if !url.starts_with("rediss://") {
            return Err(crate::error::Error::with(
                crate::error::ErrorKind::InvalidConfig,
                "connect_tls needs a rediss:// URL",
            ));
        }
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_ca_pem.to_vec()),
        };
        let client = redis::Client::build_with_tls(url, certs).map_err(store_err)?;
        Self::managed(client, prefix, options).await
    }

    async fn managed(client: redis::Client, prefix: &str, options: RedisOptions) -> Result<Self> {
        let timeout = options.timeout;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(timeout);
        let con = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(store_err)?;
        let mut store = Self::with_connection(con, prefix);
        if options.replicas > 0 {
            let writes = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(store_err)?;
            store = store.with_write_connection(writes);
        }
        store.checked(options).await
    }
}

impl RedisStore<redis::cluster_async::ClusterConnection> {
    /// Connect to a Redis Cluster by the nodes to start from,
    /// `redis+cluster://host:port,host:port,…` (the others are discovered). The store's
    /// multi-key scripts touch one hash slot each, as a cluster requires. Each call fails
    /// after 5 seconds rather than hang, and a cluster whose `maxmemory-policy` can evict the
    /// store's keys is refused, as [`RedisStore::connect`] does. Plain TCP: for TLS, build the
    /// cluster connection yourself and use [`RedisStore::with_connection`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) for a URL of another
    /// form or an evicting policy; [`ErrorKind::Store`](crate::ErrorKind::Store) when no node
    /// can be reached.
    pub async fn connect_cluster(url: &str, prefix: &str) -> Result<Self> {
        let Some(nodes) = url.strip_prefix("redis+cluster://") else {
            return Err(crate::error::Error::with(
                crate::error::ErrorKind::InvalidConfig,
                "a cluster URL is redis+cluster://host:port,host:port,…",
            ));
        };
        let urls: Vec<String> = nodes
            .split(',')
            .filter(|n| !n.is_empty())
            .map(|n| format!("redis://{n}"))
            .collect();
        let timeout = std::time::Duration::from_secs(5);
        let con = redis::cluster::ClusterClientBuilder::new(urls)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()
            .map_err(store_err)?
            .get_async_connection()
            .await
            .map_err(store_err)?;
        // As every connect function: refuse a server whose eviction policy can drop keys.
        Self::with_connection(con, prefix)
            .checked(RedisOptions::new(timeout))
            .await
    }
}

#[cfg(feature = "redis-sentinel")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-sentinel")))]
impl RedisStore<crate::store::SentinelConnection> {
    /// Connect to the primary that the Redis Sentinels at `sentinels` (`redis://host:port`,
    /// the sentinels' own addresses) name for `service`, and follow it through failovers
    /// ([`SentinelConnection`](crate::store::SentinelConnection)). Database 0. With
    /// [`RedisOptions::acknowledge_after`], an acknowledged write survives the primary's death.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when no sentinel answers or the primary cannot be reached;
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) as for [`RedisStore::connect_with`].
    pub async fn connect_sentinel(
        sentinels: &[&str],
        service: &str,
        prefix: &str,
        options: RedisOptions,
    ) -> Result<Self> {
        let connect =
            || crate::store::SentinelConnection::connect(sentinels, service, options.timeout);
        let mut store = Self::with_connection(connect().await.map_err(store_err)?, prefix);
        if options.replicas > 0 {
            store = store.with_write_connection(connect().await.map_err(store_err)?);
        }
        store.checked(options).await
    }
}
