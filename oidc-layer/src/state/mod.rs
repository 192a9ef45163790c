//! The layer's run-time state: what every request reads ([`Shared`], swapped whole on
//! `OidcLayer::reload`) and what outlives a swap ([`Durable`]: sessions, accounts, replay
//! memory, upkeep outcomes, the HTTP client). Built from the configuration; imports no handler.

pub(crate) mod replay;
pub(crate) mod token_cache;

use std::sync::Arc;
use std::time::Duration;

use cookie::Key;
use session_store::{MemoryStore, SessionStore};

use crate::accounts::{AccountResolver, StatelessResolver};
use crate::after_login::AfterLogin;
use crate::config::{OidcConfig, ProviderConfig, callback_path};
use crate::custom_pages::PageRenderer;
use crate::http_client::HttpClient;
use crate::identity::Identity;
use crate::provider::{Provider, issuers_match};
use crate::record::SessionData;
use crate::record::upkeep::{UpkeepCache, upkeep_cache};
use crate::store_tracker::StoreTracker;
use crate::web::attempt::AttemptCookies;
use crate::web::cookies::CookieSettings;
use replay::ProofReplay;
use token_cache::BearerState;

pub(crate) use replay::{JtiMemory, UsedStates};

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

impl Routes {
    fn new(prefix: String) -> Self {
        Self {
            login: format!("{prefix}/login"),
            logout: format!("{prefix}/logout"),
            logged_out: format!("{prefix}/logged-out"),
            link: format!("{prefix}/link"),
            backchannel_logout: format!("{prefix}/backchannel-logout"),
            prefix,
        }
    }
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
    /// The app's after-login hook, if any.
    pub(crate) after_login: Option<Arc<dyn AfterLogin>>,
    /// States already used at the callback (replay defence), kept as long as an attempt lives.
    pub(crate) used_states: UsedStates,
    /// Session upkeep in flight or just done (see `session::refresh`).
    pub(crate) upkeeps: UpkeepCache,
    /// `jti`s of accepted logout tokens (replay defence), per issuer.
    pub(crate) logout_jtis: JtiMemory,
    pub(crate) http: HttpClient,
    /// `jti`s of accepted DPoP proofs (replay defence), kept while a proof is acceptable.
    pub(crate) dpop_replay: Arc<ProofReplay>,
    /// The cookie key of this process when the configuration has none: made once, so that
    /// `with_store`, `with_account_resolver` and `reload` keep logins in flight working.
    pub(crate) fallback_key: Key,
    /// The outcome of the store's last round trip (see [`crate::health`]).
    pub(crate) store_health: Arc<StoreTracker>,
    /// The app's own pages ([`crate::OidcLayer::with_pages`]), if any.
    pub(crate) pages: Option<Arc<dyn PageRenderer>>,
}

impl Durable {
    /// An in-memory session store, the stateless account resolver, empty caches.
    pub(crate) fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::<SessionData>::new()),
            accounts: Arc::new(StatelessResolver),
            after_login: None,
            used_states: replay::used_states(),
            upkeeps: upkeep_cache(),
            logout_jtis: replay::jti_memory(),
            http: http_client(),
            dpop_replay: Arc::new(ProofReplay::new()),
            fallback_key: Key::generate(),
            store_health: Arc::default(),
            pages: None,
        }
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

/// Everything a request needs under one configuration.
pub(crate) struct Shared {
    pub(crate) config: OidcConfig,
    pub(crate) providers: Vec<ProviderRuntime>,
    pub(crate) cookies: CookieSettings,
    pub(crate) attempts: AttemptCookies,
    pub(crate) routes: Routes,
    /// Access tokens (when a provider has an `api_audience`): their verified-token cache is per
    /// configuration, since what a token was checked against may change with it.
    pub(crate) bearer: Option<BearerState>,
    /// The part that outlives configuration swaps (shared with every other configuration).
    pub(crate) durable: Durable,
}

impl Shared {
    pub(crate) fn new(config: OidcConfig, durable: &Durable) -> Self {
        let keys: Vec<Key> = if config.cookie_keys.is_empty() {
            vec![durable.fallback_key.clone()]
        } else {
            config
                .cookie_keys
                .iter()
                .map(|k| Key::derive_from(k))
                .collect()
        };
        let cookies = config.cookie_settings();
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
            bearer: BearerState::new(&config),
            routes: Routes::new(prefix),
            attempts: AttemptCookies::new(keys, cookies.clone()),
            cookies,
            providers,
            config,
            durable: durable.clone(),
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
