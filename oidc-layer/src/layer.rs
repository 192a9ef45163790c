//! [`OidcLayer`]: the tower `Layer` that wraps a service in [`OidcService`].

use std::sync::Arc;
use std::time::Duration;

use cookie::Key;
use session_store::{MemoryStore, SessionStore};
use tower_layer::Layer;

use crate::attempt::{ATTEMPT_TTL, AttemptCookies};
use crate::config::OidcConfig;
use crate::cookies::CookieSettings;
use crate::http_client::HttpClient;
use crate::provider::{Provider, ProviderError};
use crate::service::OidcService;
use crate::session::SessionData;

/// The layer's reserved paths, computed once.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    pub(crate) prefix: String,
    pub(crate) callback: String,
    pub(crate) login: String,
    pub(crate) logout: String,
    pub(crate) logged_out: String,
    pub(crate) redirect_uri: String,
}

/// Everything a request needs, shared by every clone of the layer and its services.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) config: Arc<OidcConfig>,
    pub(crate) provider: Arc<Provider>,
    pub(crate) store: Arc<dyn SessionStore<SessionData>>,
    pub(crate) cookies: CookieSettings,
    pub(crate) attempts: Arc<AttemptCookies>,
    /// States already used at the callback (replay defence), kept as long as an attempt lives.
    pub(crate) used_states: moka::future::Cache<String, ()>,
    pub(crate) routes: Routes,
}

/// Adds OpenID Connect login to a service: see the [crate docs](crate) for an example.
///
/// Cheap to clone (an `Arc` of shared state). Discovery is lazy: the app starts and serves
/// public paths while the provider is down.
#[derive(Clone)]
pub struct OidcLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for OidcLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLayer")
            .field("issuer", &self.shared.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Why [`OidcLayer::discover`] failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DiscoveryError(#[from] ProviderError);

fn http_client() -> HttpClient {
    match HttpClient::new(Duration::from_secs(5), Duration::from_secs(15)) {
        Ok(client) => client,
        Err(e) => {
            // Only a broken TLS root store gets here; keep running so public routes work, and
            // let provider calls fail with this reason.
            tracing::error!(error = %e, "could not build the HTTP client for the provider");
            HttpClient::without_native_roots()
        }
    }
}

impl OidcLayer {
    /// A layer for `config`, with an in-memory session store. Discovery happens on first use.
    pub fn new(config: OidcConfig) -> Self {
        let config = Arc::new(config);
        let key = match &config.cookie_key {
            Some(bytes) => Key::derive_from(bytes),
            None => {
                tracing::warn!(
                    "no cookie_key configured: using a random key for this process (logins in flight fail across restarts and instances)"
                );
                Key::generate()
            }
        };
        let cookies = CookieSettings::new(config.external.secure);
        let prefix = config.route_prefix.clone();
        let routes = Routes {
            callback: format!("{prefix}/oidc"),
            login: format!("{prefix}/login"),
            logout: format!("{prefix}/logout"),
            logged_out: format!("{prefix}/logged-out"),
            redirect_uri: config.redirect_uri(),
            prefix,
        };
        tracing::info!(redirect_uri = %routes.redirect_uri, "register this redirect URI at the provider");
        let shared = Shared {
            provider: Arc::new(Provider::new(config.clone(), http_client())),
            store: Arc::new(MemoryStore::<SessionData>::new()),
            attempts: Arc::new(AttemptCookies::new(vec![key], cookies.clone())),
            cookies,
            used_states: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ATTEMPT_TTL)
                .build(),
            routes,
            config,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// A layer for `config` whose provider is discovered now: fails if it is unreachable or
    /// misconfigured (for apps that prefer to fail at start-up).
    pub async fn discover(config: OidcConfig) -> Result<Self, DiscoveryError> {
        let layer = Self::new(config);
        layer.shared.provider.discovered().await?;
        Ok(layer)
    }

    /// Uses `store` for sessions instead of the default in-memory store.
    pub fn with_store(self, store: impl SessionStore<SessionData>) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        shared.store = Arc::new(store);
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> &str {
        &self.shared.routes.redirect_uri
    }

    /// The configuration in force.
    pub fn config(&self) -> &OidcConfig {
        &self.shared.config
    }
}

impl<S> Layer<S> for OidcLayer {
    type Service = OidcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService::new(inner, self.shared.clone())
    }
}
