//! What a [`RedisStore`](super::RedisStore) sends its commands through: one multiplexed
//! connection to a single Redis (`ConnectionManager`), or the cluster client's connections to
//! every node of a Redis Cluster (which routes each command to the master of its key's slot,
//! follows `MOVED`/`ASK` and refreshes its slot map after a failover).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::OnceCell;

use super::RedisConfig;

/// The store's connection, shared by its clones.
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(Box<LazyCluster>),
}

/// The cluster connection, made on first use: `ClusterClient` connects eagerly (it reads the
/// slot map), and a store opens without contacting Redis. A failed first attempt is retried by
/// the next operation; once made, the connection repairs itself.
pub(super) struct LazyCluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
    /// Bounds the first connection (each node's connect and the slot map read).
    connect_within: Duration,
}

/// One operation's handle on the connection (cheap clones of the shared one).
pub(super) enum Handle {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A client for one node: `url` with the configuration's TLS settings.
pub(super) fn node_client(url: &str, config: &RedisConfig) -> redis::RedisResult<redis::Client> {
    match tls_certificates(config) {
        Some(certificates) => redis::Client::build_with_tls(url, certificates),
        None => redis::Client::open(url),
    }
}

fn tls_certificates(config: &RedisConfig) -> Option<redis::TlsCertificates> {
    if config.tls_roots.is_none() && config.tls_client.is_none() {
        return None;
    }
    Some(redis::TlsCertificates {
        client_tls: config
            .tls_client
            .as_ref()
            .map(|(certificate, key)| redis::ClientTlsConfig {
                client_cert: certificate.clone(),
                client_key: key.clone(),
            }),
        root_cert: config.tls_roots.clone(),
    })
}

impl Connection {
    /// The connection for `config`, without contacting Redis. Fails only on a malformed URL.
    pub(super) fn open(config: &RedisConfig) -> redis::RedisResult<Self> {
        if config.cluster {
            let mut builder = ClusterClientBuilder::new(config.urls.iter().map(String::as_str))
                .connection_timeout(config.connect_timeout)
                .response_timeout(config.response_timeout)
                // What a request waits at most, redirections and retries included: during a
                // failover it fails with this bound rather than hanging until the election ends.
                .overall_response_timeout(Some(config.response_timeout))
                // Quick retries within that bound (the library's default waits grow to minutes).
                .retries(4)
                .min_retry_wait(20)
                .max_retry_wait(400);
            if let Some(certificates) = tls_certificates(config) {
                builder = builder.certs(certificates);
            }
            return Ok(Self::Cluster(Box::new(LazyCluster {
                client: builder.build()?,
                connection: OnceCell::new(),
                connect_within: config.connect_timeout + config.response_timeout,
            })));
        }
        let url = config.urls.first().map_or("", String::as_str);
        let client = node_client(url, config)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            // Few, quick retries: a request waits at most about a second for a reconnection
            // before it fails (and the next one tries again).
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        Ok(Self::Single(ConnectionManager::new_lazy_with_config(
            client, manager,
        )?))
    }

    /// A handle for one operation (for a cluster, connecting first if need be).
    pub(super) async fn handle(&self) -> redis::RedisResult<Handle> {
        match self {
            Self::Single(manager) => Ok(Handle::Single(manager.clone())),
            Self::Cluster(lazy) => {
                let connection = lazy
                    .connection
                    .get_or_try_init(|| async {
                        tokio::time::timeout(
                            lazy.connect_within,
                            lazy.client.get_async_connection(),
                        )
                        .await
                        .map_err(|_| {
                            redis::RedisError::from((
                                redis::ErrorKind::Io,
                                "connecting to the Redis Cluster timed out",
                            ))
                        })?
                    })
                    .await?;
                Ok(Handle::Cluster(connection.clone()))
            }
        }
    }
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
