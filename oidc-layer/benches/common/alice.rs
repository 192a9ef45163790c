//! What `sessions` and `session_memory` measure on: alice's login at the in-process test
//! provider (ID and access tokens valid for an hour, so that no session expires or refreshes
//! during a run), the layer's default configuration, and a handler that answers "hello".

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use oidc_layer::OidcConfig;
use oidc_testkit::TestProvider;

pub async fn hello(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("hello")))
}

/// The provider, signing alice in without a form, and the layer's configuration for it.
pub async fn provider_and_config() -> (TestProvider, OidcConfig) {
    let provider = TestProvider::builder()
        .auto_login("alice")
        .allow_any_loopback_redirect()
        .id_token_ttl(Duration::from_secs(3600))
        .access_token_ttl(Duration::from_secs(3600))
        .start()
        .await
        .expect("provider");
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .build()
        .expect("config");
    (provider, config)
}
