//! [`OidcLayer`]: the tower `Layer` that wraps a service in [`OidcService`].

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use cookie::Key;
use session_store::{MemoryStore, SessionStore};
use tower_layer::Layer;

use crate::accounts::{AccountResolver, StatelessResolver};
use crate::attempt::{ATTEMPT_TTL, AttemptCookies};
use crate::config::{OidcConfig, ProviderConfig, callback_path};
use crate::cookies::CookieSettings;
use crate::http_client::HttpClient;
use crate::identity::Identity;
use crate::provider::{Provider, ProviderError, issuers_match};
use crate::refresh::{UPKEEP_REUSE, Upkeep, UpkeepKey};
use crate::service::OidcService;
use crate::session::SessionData;

/// The layer's reserved paths, computed once per configuration.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    pub(crate) prefix: String,
    pub(crate) login: String,
    pub(crate) logout: String,
    pub(crate) logged_out: String,
    pub(crate) link: String,
    pub(crate) backchannel_logout: String,
}

/// One provider at run time: its settings, its discovery cache and its callback.
pub(crate) struct ProviderRuntime {
    pub(crate) settings: Arc<ProviderConfig>,
    pub(crate) client: Arc<Provider>,
    pub(crate) callback_path: String,
    pub(crate) redirect_uri: String,
}

/// What outlives a configuration swap: sessions, accounts, replay memory, the HTTP client.
#[derive(Clone)]
pub(crate) struct Durable {
    pub(crate) store: Arc<dyn SessionStore<SessionData>>,
    pub(crate) accounts: Arc<dyn AccountResolver>,
    /// States already used at the callback (replay defence), kept as long as an attempt lives.
    pub(crate) used_states: moka::future::Cache<String, ()>,
    /// Session upkeep in flight or just done (see [`crate::refresh`]).
    pub(crate) upkeeps: moka::future::Cache<UpkeepKey, Upkeep>,
    /// `jti`s of accepted logout tokens (replay defence), per issuer.
    pub(crate) logout_jtis: crate::backchannel::JtiMemory,
    pub(crate) http: HttpClient,
    /// The cookie key of this process when the configuration has none: made once, so that
    /// `with_store`, `with_account_resolver` and `reload` keep logins in flight working.
    pub(crate) fallback_key: Key,
}

/// Everything a request needs under one configuration.
pub(crate) struct Shared {
    pub(crate) config: OidcConfig,
    pub(crate) providers: Vec<ProviderRuntime>,
    pub(crate) cookies: CookieSettings,
    pub(crate) attempts: AttemptCookies,
    pub(crate) routes: Routes,
    pub(crate) store: Arc<dyn SessionStore<SessionData>>,
    pub(crate) accounts: Arc<dyn AccountResolver>,
    pub(crate) used_states: moka::future::Cache<String, ()>,
    pub(crate) upkeeps: moka::future::Cache<UpkeepKey, Upkeep>,
    pub(crate) logout_jtis: crate::backchannel::JtiMemory,
}

impl Shared {
    fn new(config: OidcConfig, durable: &Durable) -> Self {
        let keys: Vec<Key> = if config.cookie_keys.is_empty() {
            vec![durable.fallback_key.clone()]
        } else {
            config
                .cookie_keys
                .iter()
                .map(|k| Key::derive_from(k))
                .collect()
        };
        let cookies = CookieSettings::new(&config.cookie_name, config.external.secure);
        let prefix = config.route_prefix.clone();
        let providers = config
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let settings = Arc::new(p.clone());
                ProviderRuntime {
                    client: Provider::new(
                        settings.clone(),
                        config.clock_leeway,
                        durable.http.clone(),
                    ),
                    callback_path: callback_path(&prefix, i, &p.slug),
                    redirect_uri: config.redirect_uri_of(i),
                    settings,
                }
            })
            .collect();
        Self {
            routes: Routes {
                login: format!("{prefix}/login"),
                logout: format!("{prefix}/logout"),
                logged_out: format!("{prefix}/logged-out"),
                link: format!("{prefix}/link"),
                backchannel_logout: format!("{prefix}/backchannel-logout"),
                prefix,
            },
            attempts: AttemptCookies::new(keys, cookies.clone()),
            cookies,
            providers,
            config,
            store: durable.store.clone(),
            accounts: durable.accounts.clone(),
            used_states: durable.used_states.clone(),
            upkeeps: durable.upkeeps.clone(),
            logout_jtis: durable.logout_jtis.clone(),
        }
    }

    /// The provider with `slug`.
    pub(crate) fn provider(&self, slug: &str) -> Option<(usize, &ProviderRuntime)> {
        self.providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.settings.slug == slug)
    }

    /// The provider `identity` signed in with: the one of its slug, if that still has its
    /// issuer (a reload may point a slug at another issuer, which must never receive this
    /// session's refresh token or `id_token_hint`).
    pub(crate) fn provider_of(&self, identity: &Identity) -> Option<(usize, &ProviderRuntime)> {
        self.provider(identity.provider())
            .filter(|(_, p)| issuers_match(&p.settings.issuer, identity.iss()))
    }
}

/// What to register at a provider, derived from the external URL (show it on an admin page).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Registration {
    /// The provider's display name.
    pub provider: String,
    /// The provider's slug.
    pub slug: String,
    /// The redirect (callback) URI.
    pub redirect_uri: String,
    /// Where the provider may send the browser after logout.
    pub post_logout_redirect_uri: String,
    /// Where the provider posts logout tokens (OpenID Connect Back-Channel Logout; register it
    /// with "session required" when the provider offers it).
    pub backchannel_logout_uri: String,
}

/// Adds OpenID Connect login to a service: see the [crate docs](crate) for an example.
///
/// Cheap to clone. Discovery is lazy: the app starts and serves public paths while the
/// provider is down. [`reload`](Self::reload) swaps the configuration at run time; sessions
/// stay valid.
#[derive(Clone)]
pub struct OidcLayer {
    current: Arc<ArcSwap<Shared>>,
    durable: Durable,
}

impl std::fmt::Debug for OidcLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.current.load();
        let issuers: Vec<&str> = shared
            .providers
            .iter()
            .map(|p| p.settings.issuer.as_str())
            .collect();
        f.debug_struct("OidcLayer")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

/// Why [`OidcLayer::discover`] failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DiscoveryError(#[from] ProviderError);

/// What the admin must know about a configuration, logged when it takes effect.
fn log_configuration(shared: &Shared) {
    if shared.config.cookie_keys.is_empty() {
        tracing::warn!(
            "no cookie_key configured: using a random key for this process (logins in flight fail across restarts and instances)"
        );
    }
    for p in &shared.providers {
        tracing::info!(provider = %p.settings.name, redirect_uri = %p.redirect_uri, "register this redirect URI at the provider");
    }
}

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
    /// A layer for `config`, with an in-memory session store and the stateless account
    /// resolver (account = issuer + subject). Discovery happens on first use.
    pub fn new(config: OidcConfig) -> Self {
        let durable = Durable {
            store: Arc::new(MemoryStore::<SessionData>::new()),
            accounts: Arc::new(StatelessResolver),
            used_states: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ATTEMPT_TTL)
                .build(),
            upkeeps: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(UPKEEP_REUSE)
                .build(),
            logout_jtis: crate::backchannel::jti_memory(),
            http: http_client(),
            fallback_key: Key::generate(),
        };
        let shared = Shared::new(config, &durable);
        log_configuration(&shared);
        Self {
            current: Arc::new(ArcSwap::from_pointee(shared)),
            durable,
        }
    }

    /// A layer whose providers are all discovered now: fails if one is unreachable or
    /// misconfigured (for apps that prefer to fail at start-up).
    pub async fn discover(config: OidcConfig) -> Result<Self, DiscoveryError> {
        let layer = Self::new(config);
        for provider in &layer.current.load().providers {
            provider.client.discovered().await?;
        }
        Ok(layer)
    }

    fn rebuild(mut self, change: impl FnOnce(&mut Durable)) -> Self {
        change(&mut self.durable);
        let config = self.current.load().config.clone();
        self.current = Arc::new(ArcSwap::from_pointee(Shared::new(config, &self.durable)));
        self
    }

    /// Uses `store` for sessions instead of the default in-memory store.
    pub fn with_store(self, store: impl SessionStore<SessionData>) -> Self {
        self.rebuild(|d| d.store = Arc::new(store))
    }

    /// Uses `resolver` to map verified identities to the app's accounts (see
    /// [`accounts`](crate::accounts)).
    pub fn with_account_resolver(self, resolver: impl AccountResolver) -> Self {
        self.rebuild(|d| d.accounts = Arc::new(resolver))
    }

    /// Swaps in a new configuration for every service made from this layer. Existing sessions
    /// stay valid; logins in flight survive when the cookie key is unchanged.
    pub fn reload(&self, config: OidcConfig) {
        let shared = Shared::new(config, &self.durable);
        log_configuration(&shared);
        self.current.store(Arc::new(shared));
        tracing::info!("configuration reloaded");
    }

    /// What to register at each provider (redirect URI, post-logout URI).
    pub fn registrations(&self) -> Vec<Registration> {
        let shared = self.current.load();
        let logged_out = format!(
            "{}{}{}",
            shared.config.external.origin,
            shared.config.external.base_path,
            shared.routes.logged_out
        );
        shared
            .providers
            .iter()
            .map(|p| Registration {
                provider: p.settings.name.clone(),
                slug: p.settings.slug.clone(),
                redirect_uri: p.redirect_uri.clone(),
                post_logout_redirect_uri: logged_out.clone(),
                backchannel_logout_uri: format!(
                    "{}{}{}",
                    shared.config.external.origin,
                    shared.config.external.base_path,
                    shared.routes.backchannel_logout
                ),
            })
            .collect()
    }

    /// The redirect URI of the first provider (the only one in a single-provider set-up).
    pub fn redirect_uri(&self) -> String {
        self.current
            .load()
            .providers
            .first()
            .map(|p| p.redirect_uri.clone())
            .unwrap_or_default()
    }

    /// The configuration in force.
    pub fn config(&self) -> OidcConfig {
        self.current.load().config.clone()
    }

    pub(crate) fn current(&self) -> Arc<Shared> {
        self.current.load_full()
    }

    /// The HTTP client the layer talks to providers with.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.durable.http
    }
}

impl<S> Layer<S> for OidcLayer {
    type Service = OidcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService::new(inner, self.current.clone())
    }
}
