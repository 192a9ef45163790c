//! [`OidcLayer`]: the tower `Layer` that wraps a service in [`OidcService`], and everything the
//! app does with the layer from its own handlers (local sign-in, linking, the same-origin check).

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::Full;
use session_store::SessionStore;
use tower_layer::Layer;

use crate::accounts::AccountResolver;
use crate::after_login::AfterLogin;
use crate::config::OidcConfig;
use crate::custom_pages::PageRenderer;
use crate::flows::local::{LocalSignInError, LocalUser};
use crate::flows::{common, link, local};
use crate::http_client::HttpClient;
use crate::login_options::{LoginOptions, LoginUrlError};
use crate::provider::ProviderError;
use crate::record::SessionData;
use crate::service::OidcService;
use crate::session::manage::{self, SessionInfo};
use crate::state::{Durable, Shared};
use crate::web::{origin, return_to};

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
/// Any tower service of `http::Request`s goes behind it, axum's `Router` or a
/// `tower::service_fn` under hyper: the inner service's response body must yield
/// [`Bytes`](bytes::Bytes) and its errors convert into [`BoxError`](crate::BoxError); the
/// bounds are listed on [`OidcService`], with the error a wrong body gives.
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
    let config = &shared.config;
    if config.accepts_bearer_tokens()
        && config.bearer_paths == crate::config::BearerPaths::ApiPaths
        && config.api_paths.is_empty()
    {
        tracing::warn!(
            "api_audience is set but there are no api_paths: access tokens are taken nowhere (set api_paths, or bearer_paths = \"all_paths\")"
        );
    }
}

impl OidcLayer {
    /// A layer for `config`, with an in-memory session store and the stateless account
    /// resolver (account = issuer + subject). Discovery happens on first use.
    pub fn new(config: OidcConfig) -> Self {
        crate::metrics::describe();
        let durable = Durable::new();
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
        self.rebuild(|d| {
            d.store = Arc::new(store);
            d.store_health = Arc::default();
        })
    }

    /// Uses `resolver` to map verified identities to the app's accounts (see
    /// [`accounts`](crate::accounts)).
    pub fn with_account_resolver(self, resolver: impl AccountResolver) -> Self {
        self.rebuild(|d| d.accounts = Arc::new(resolver))
    }

    /// Runs `hook` after each sign-in through a provider, once the identity is verified and
    /// admitted and before its session exists: it adds app data and extra roles to the
    /// session, or refuses the login with a message (see [`AfterLogin`]). Kept across
    /// [`reload`](Self::reload).
    pub fn with_after_login(self, hook: impl AfterLogin) -> Self {
        self.rebuild(|d| d.after_login = Some(Arc::new(hook)))
    }

    /// Replaces any of the layer's pages with the app's own
    /// ([`custom_pages`](crate::custom_pages)); the pages it does not replace stay the
    /// built-in ones, in the configured [`Branding`](crate::Branding). Kept across
    /// [`reload`](Self::reload). Call it before handing the layer to the router.
    pub fn with_pages(self, pages: impl PageRenderer) -> Self {
        self.rebuild(|d| d.pages = Some(Arc::new(pages)))
    }

    /// The layer's health, from what it knows (no network): each provider's metadata age,
    /// last error and whether it is usable, and whether the session store answered its last
    /// round trip. Starts a background probe of what it has not heard from for
    /// [`health::CHECK_AFTER`](crate::health::CHECK_AFTER). See [`health`](crate::health).
    pub fn health(&self) -> crate::health::HealthReport {
        let shared = self.current.load_full();
        let report = crate::health::report(&shared);
        crate::health::probe_in_background(shared);
        report
    }

    /// Probes every provider (its discovery document) and the session store (one read) now,
    /// waits for their answers, and reports (for start-up checks and tests).
    pub async fn check_health(&self) -> crate::health::HealthReport {
        let shared = self.current.load_full();
        crate::health::check(&shared).await;
        crate::health::report(&shared)
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

    /// Creates a session for a user the app authenticated itself and returns the `Set-Cookie`
    /// value to send. Its [`Identity`](crate::Identity) has provider and issuer `local` and subject
    /// `local:{username}` (no provider may use the slug `local`). Use it for a root
    /// administrator's backup login
    /// ([`OidcConfigBuilder::backup_login_path`](crate::OidcConfigBuilder::backup_login_path)),
    /// after checking the password with a [`BreakGlassGuard`](crate::BreakGlassGuard).
    ///
    /// `request_headers` are the sign-in request's: the session this browser had before (its
    /// cookie) is deleted from the store, so a session cookie planted in or stolen from this
    /// browser does not survive the sign-in.
    pub async fn sign_in_local(
        &self,
        request_headers: &HeaderMap,
        user: LocalUser,
    ) -> Result<HeaderValue, LocalSignInError> {
        local::sign_in(&self.current(), request_headers, user).await
    }

    /// Whether a request comes from the app's own pages: [`is_same_origin`](crate::is_same_origin)
    /// against the configured external origin. Check it first in every handler of a
    /// state-changing form (a local login, an "unlink" button), as the layer does for logout
    /// and linking.
    pub fn is_same_origin(&self, request_headers: &HeaderMap) -> bool {
        origin::is_same_origin(request_headers, &self.current().config.external.origin)
    }

    /// The same-origin URL (`{prefix}/login?...`, behind the external URL's path) that starts
    /// a login with `options`: a `login_hint`, a `prompt` (`select_account` for "Switch
    /// account", `login` for a fresh sign-in) or a `max_age` (`Duration::ZERO` for a step-up
    /// before a sensitive action). Put it in a link, or redirect to it. The login route checks
    /// the same things again, so a URL made by hand gets the same answers (`400` for an
    /// unknown prompt). See [`LoginOptions`] for an example.
    pub fn login_url(&self, options: &LoginOptions) -> Result<String, LoginUrlError> {
        let shared = self.current();
        let return_to = options.checked()?;
        let mut url = common::login_url(&shared, &return_to);
        if let Some(slug) = &options.provider {
            if shared.provider(slug).is_none() {
                return Err(LoginUrlError::UnknownProvider(slug.clone()));
            }
            url = common::provider_login_url(&shared, slug, &return_to);
        }
        url.push_str(&options.params.query_suffix());
        Ok(url)
    }

    /// Starts linking provider `provider` (its slug; `None` with a single provider) to the app's
    /// account `account_id`, for a user the app has authenticated (e.g. with a local password):
    /// returns the redirect to the provider. After the provider login the account resolver
    /// links the identity to that account and the browser returns to `return_to`. Call it only
    /// from a handler that has checked who the user is, behind a same-origin POST.
    pub async fn start_link(
        &self,
        request_headers: &HeaderMap,
        account_id: impl Into<String>,
        provider: Option<&str>,
        return_to: &str,
    ) -> Response<Full<Bytes>> {
        let shared = self.current();
        let return_to = return_to::sanitize(return_to)
            .map(|path| shared.config.return_to_in_app(path))
            .unwrap_or_else(|| "/".to_owned());
        link::start(
            &shared,
            request_headers,
            account_id.into(),
            provider,
            return_to,
        )
        .await
    }

    /// The live sessions of the app's account `account_id` (every provider identity linked
    /// to it, and its local sign-ins), the latest-ending first, at most 100: for a "your
    /// sessions" page (`account_id` = the signed-in [`Identity::account`](crate::Identity::account))
    /// or an administrator's view. The session of the request whose headers are given is
    /// marked [`current`](SessionInfo::current) (pass an empty `HeaderMap` for someone else's
    /// sessions). Works on every store (through its tag index). Sessions created before
    /// session management existed are not listed.
    pub async fn sessions_of_account(
        &self,
        account_id: &str,
        request_headers: &HeaderMap,
    ) -> Result<Vec<SessionInfo>, session_store::Error> {
        let shared = self.current();
        manage::list(&shared, &manage::account_tags(account_id), request_headers).await
    }

    /// The live sessions of one provider identity (issuer `iss`, subject `sub`), as
    /// [`sessions_of_account`](Self::sessions_of_account) lists an account's.
    pub async fn sessions_of_identity(
        &self,
        iss: &str,
        sub: &str,
        request_headers: &HeaderMap,
    ) -> Result<Vec<SessionInfo>, session_store::Error> {
        let shared = self.current();
        let tags = [crate::record::sub_tag(iss, sub)];
        manage::list(&shared, &tags, request_headers).await
    }

    /// Ends the session whose [handle](SessionInfo::handle) is `handle`, only if it belongs
    /// to the account `account_id` (the signed-in user's: a handle from a form is input, and
    /// one user must not end another's sessions); whether it ended one. An unknown or
    /// malformed handle, or another account's, ends nothing (`false`). Call it behind a
    /// same-origin POST ([`is_same_origin`](Self::is_same_origin)).
    pub async fn end_session(
        &self,
        account_id: &str,
        handle: &str,
    ) -> Result<bool, session_store::Error> {
        manage::end_one(&self.current(), account_id, handle).await
    }

    /// Ends every session of the account `account_id`, on every instance sharing the store
    /// ("sign out everywhere", or an account the app disables or deletes); returns how many.
    /// The sessions at the providers stay (a provider with single sign-on may sign the user
    /// straight back in: disable the account in the resolver too).
    pub async fn end_sessions_of_account(
        &self,
        account_id: &str,
    ) -> Result<u64, session_store::Error> {
        manage::end_all(&self.current(), account_id).await
    }

    /// Ends every session of the account `account_id` except the one of the request whose
    /// headers are given ("sign out other sessions"); returns how many. If the request's
    /// session is not one of the account's, all of them end.
    pub async fn end_other_sessions(
        &self,
        account_id: &str,
        request_headers: &HeaderMap,
    ) -> Result<u64, session_store::Error> {
        manage::end_others(&self.current(), account_id, request_headers).await
    }
}

impl OidcLayer {
    /// Wraps `inner` in an [`OidcService`], as [`Layer::layer`] (and `ServiceBuilder`) do,
    /// and checks at this call that the result is a tower `Service`: an inner response body
    /// whose `Data` is not `Bytes` (or any other bound listed on [`OidcService`]) is reported
    /// here, not where the service is first used (hyper's `serve_connection`). For a service
    /// with one request type, such as `tower::service_fn` of an
    /// `async fn(Request<Incoming>)`; axum's `Router::layer` checks the same already.
    ///
    /// ```no_run
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # use oidc_layer::{OidcConfig, OidcLayer};
    /// async fn app(_: http::Request<String>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    ///     Ok(http::Response::new(Full::from("hello")))
    /// }
    /// # fn run(config: OidcConfig) {
    /// let service = OidcLayer::new(config).wrap(tower::service_fn(app));
    /// # let _ = service; }
    /// ```
    pub fn wrap<S, ReqBody>(&self, inner: S) -> OidcService<S>
    where
        OidcService<S>: tower_service::Service<http::Request<ReqBody>>,
    {
        self.layer(inner)
    }
}

impl<S> Layer<S> for OidcLayer {
    type Service = OidcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService::new(inner, self.current.clone())
    }
}
