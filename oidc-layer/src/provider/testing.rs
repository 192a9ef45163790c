//! Unit-test helpers: a provider configured at an address, and a provider that never answers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::OidcConfig;
use crate::http_client::HttpClient;

use super::Provider;

/// A [`Provider`] whose issuer is `http://{addr}`.
pub(super) fn provider_at(addr: SocketAddr) -> Arc<Provider> {
    let config = OidcConfig::builder()
        .issuer(format!("http://{addr}"))
        .client_id("client")
        .client_secret("secret")
        .external_url("http://127.0.0.1:8080")
        .build()
        .expect("a valid configuration");
    let settings = config.providers.into_iter().next().expect("one provider");
    let http =
        HttpClient::new(Duration::from_secs(5), Duration::from_secs(15)).expect("an HTTP client");
    Provider::new(Arc::new(settings), Duration::ZERO, http)
}

/// A loopback listener that accepts connections (once the test accepts them, or in the
/// kernel's backlog until then) and never answers: the nastiest provider outage.
pub(super) async fn hanging_provider() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound listener's address");
    (listener, addr)
}
