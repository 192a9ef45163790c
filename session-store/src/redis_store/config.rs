//! [`RedisConfig`]: where Redis is, how long to wait for it, and the key prefix; its `Debug`
//! hides the password and the TLS key.

use std::fmt;
use std::time::Duration;

/// How a [`RedisStore`](crate::RedisStore) connects and names its keys.
///
/// ```
/// use std::time::Duration;
/// use session_store::RedisConfig;
///
/// let config = RedisConfig::new("rediss://:s3cret@redis.internal:6380/2")
///     .key_prefix("myapp:sessions:")
///     .response_timeout(Duration::from_secs(1));
/// // The password never shows up in logs.
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
///
/// For Redis Cluster, [`RedisConfig::cluster`] takes a few nodes' URLs instead of one URL; the
/// rest is the same:
///
/// ```
/// use session_store::RedisConfig;
///
/// // e.g. from REDIS_CLUSTER_URLS=redis://10.0.0.1:7000,redis://10.0.0.2:7000
/// let urls = "redis://10.0.0.1:7000,redis://10.0.0.2:7000";
/// let config = RedisConfig::cluster(urls.split(',')).key_prefix("myapp:");
/// assert!(config.is_cluster());
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    /// One URL, or with `cluster` the seed nodes' URLs.
    pub(super) urls: Vec<String>,
    /// Redis Cluster (`RedisStore` uses the cluster client and its per-key scripts).
    pub(super) cluster: bool,
    pub(super) key_prefix: String,
    pub(super) connect_timeout: Duration,
    pub(super) response_timeout: Duration,
    /// PEM certificates trusted instead of the system's roots (`rediss://`).
    pub(super) tls_roots: Option<Vec<u8>>,
    /// PEM certificate and key presented to Redis (`rediss://`).
    pub(super) tls_client: Option<(Vec<u8>, Vec<u8>)>,
}

impl RedisConfig {
    /// The default key prefix.
    pub const DEFAULT_KEY_PREFIX: &'static str = "oidc-layer:";

    /// Connects to `url`: `redis://[:password@]host[:port][/db]`, `rediss://...` for TLS
    /// (rustls, the system's root certificates), or `redis+unix:///path/to/socket`. Usernames
    /// (Redis 6 ACL) go before the password: `redis://user:password@host`.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_urls(vec![url.into()], false)
    }

    /// Connects to the Redis Cluster that `urls` belong to: a few of its nodes (any of them,
    /// masters or replicas; listing several lets the store start and resubscribe while one is
    /// down), each written as for [`new`](Self::new) (`redis://[user:password@]host:port`,
    /// `rediss://` for TLS; no database number: a cluster has only database 0; the same user
    /// and password in every URL, or opening the store fails: the client logs in to every
    /// node as one user). The client
    /// discovers the other nodes, follows `MOVED`/`ASK` redirections and failovers by itself.
    /// See "Redis Cluster" in [`RedisStore`](crate::RedisStore)'s docs for what changes.
    pub fn cluster(urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::with_urls(urls.into_iter().map(Into::into).collect(), true)
    }

    fn with_urls(urls: Vec<String>, cluster: bool) -> Self {
        Self {
            urls,
            cluster,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            tls_roots: None,
            tls_client: None,
        }
    }

    /// Prepends `prefix` to every key and to the invalidation channel (default
    /// `oidc-layer:`). Apps sharing one Redis database need different prefixes.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long connecting may take before an operation fails (default 2 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long Redis may take to answer before an operation fails (default 2 s): what a
    /// request waits at most when Redis hangs.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// For `rediss://`: trusts the CA certificates in `pem` (one or more PEM blocks) instead of
    /// the system's roots, for a Redis whose certificate comes from a private CA.
    #[must_use]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots = Some(pem.into());
        self
    }

    /// For `rediss://`: presents this client certificate and its private key (both PEM) to
    /// Redis, which asks for one by default when TLS is on (`tls-auth-clients yes`).
    #[must_use]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls_client = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// Whether this is a Redis Cluster configuration ([`cluster`](Self::cluster)).
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The URL without its password, for logs (for a cluster: every node's, comma-separated).
    pub fn redacted_url(&self) -> String {
        self.urls
            .iter()
            .map(|url| redact(url))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn redact(url: &str) -> String {
    match url_password_span(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// Where the password sits in `scheme://user:password@host...`, if anywhere.
fn url_password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let at = url[authority_start..authority_end].rfind('@')? + authority_start;
    let colon = url[authority_start..at].find(':')? + authority_start;
    Some((colon + 1, at))
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("tls_root_certificates", &self.tls_roots.is_some())
            .field("tls_client_certificate", &self.tls_client.is_some())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_the_password_nor_the_client_key() {
        let config = RedisConfig::new("rediss://user:hunter2-secret@host:6380/0")
            .tls_client_certificate("CERTIFICATE", "PRIVATE-KEY-secret");
        let store_config = format!("{config:?}");
        assert!(!store_config.contains("secret"), "{store_config}");
        assert!(store_config.contains("rediss://user:***@host:6380/0"));
    }

    #[cfg(feature = "conformance")]
    #[test]
    fn the_test_servers_tls_settings_hide_the_private_key() {
        let tls = crate::redis_server::ServerTls {
            certificate_pem: "CERTIFICATE".into(),
            key_pem: "PRIVATE-KEY-secret".into(),
            client_ca_pem: "CA".into(),
        };
        assert!(!format!("{tls:?}").contains("secret"), "{tls:?}");
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:pw@host/1", "redis://:***@host/1"),
            (
                "rediss://user:p%40ss@host:6380",
                "rediss://user:***@host:6380",
            ),
            ("redis://user@host", "redis://user@host"),
            ("redis://host/0?x=a:b@c", "redis://host/0?x=a:b@c"),
        ] {
            assert_eq!(RedisConfig::new(url).redacted_url(), shown, "{url}");
        }
        let cluster = RedisConfig::cluster(["redis://:pw@a:7000", "redis://b:7001"]);
        assert_eq!(cluster.redacted_url(), "redis://:***@a:7000,redis://b:7001");
        assert!(!format!("{cluster:?}").contains("pw"));
    }
}
