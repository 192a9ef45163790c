//! Configuration: [`OidcConfig`] (its docs show the builder and TOML), its builder and serde forms.

mod auth_params;
mod branding;
mod builder;
mod cookies;
#[cfg(feature = "toml")]
mod env;
mod provider;
mod raw;
mod secret;
mod validate;

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

#[cfg(feature = "toml")]
use provider::RawProvider;
#[cfg(feature = "toml")]
use raw::RawGlobal;
use secret::CookieKey;

use crate::web::cookies::{CookieNames, CookieSettings};
pub(crate) use branding::Color;
pub use branding::{Branding, BrandingConfig};
pub use builder::{OidcConfigBuilder, ProviderBuilder};
pub use cookies::CookieSameSite;
pub use provider::ProviderConfig;
pub(crate) use provider::{LOCAL_PROVIDER, fill_end_session_url};
pub(crate) use secret::Secret;

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// A configuration value that was rejected, with the key it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration `{key}`: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The configuration key (as in TOML, e.g. `providers[1].issuer`) that is wrong.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What happens to a session whose token refresh fails because the provider is unreachable
/// (a refusal such as `invalid_grant` always ends the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshFailure {
    /// Keep the session through the outage (the default): its requests go on while the access
    /// token is live, then get a `503` (the "try again" page, or problem+json for programs,
    /// with `Retry-After`) until a refresh succeeds, and the session goes on as before. The
    /// refresh is retried every few seconds; the session ends when the provider refuses it or
    /// at the session's own deadline. Nothing reaches the app on the expired token: a provider
    /// restart does not log everyone out, and does not extend anyone's access either.
    #[default]
    Suspend,
    /// Keep the session until its access token has expired, then end it (the next request
    /// signs in again, which fails until the provider is back).
    KeepUntilExpiry,
    /// End the session at once: the next request logs in again.
    End,
}

/// Where an `Authorization: Bearer` (or `DPoP`) header is taken as the request's credential
/// (only when a provider has an `api_audience`; elsewhere the header is left to the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BearerPaths {
    /// Only on `api_paths` (the default): pages browsers navigate to keep cookie sessions.
    #[default]
    ApiPaths,
    /// On every path the layer guards (its own routes excepted).
    AllPaths,
}

/// A validated configuration: the app's settings and one or more providers.
///
/// Configuration: a builder in code and the same settings through serde (TOML, environment).
///
/// Every setting has the secure default. [`OidcConfig::builder`], [`OidcConfig::from_toml_str`]
/// and [`OidcConfig::from_env`] all end in the same validation, whose errors name the key.
/// One provider can be written at the top level; several go in `[[providers]]`.
///
/// ```
/// use oidc_layer::OidcConfig;
///
/// let config = OidcConfig::builder()
///     .issuer("https://id.example.com/realms/home")
///     .client_id("my-app")
///     .client_secret("s3cret")
///     .external_url("https://app.example.com")
///     .build()
///     .expect("valid configuration");
/// assert_eq!(config.providers()[0].scopes(), ["openid", "profile", "email"]);
///
/// let two = OidcConfig::from_toml_str(r#"
///     external_url = "https://app.example.com"
///
///     [[providers]]
///     name = "Keycloak"
///     issuer = "https://kc.example.com/realms/home/"
///     client_id = "my-app"
///     scopes = "openid profile email groups"
///     roles = { rules = { admins = "admin", users = "trusted" }, order = ["untrusted", "trusted", "admin"], default = "untrusted" }
///
///     [[providers]]
///     name = "Google"
///     issuer = "https://accounts.google.com"
///     client_id = "123.apps.googleusercontent.com"
///     allow_new_users = false
/// "#).expect("valid configuration");
/// assert_eq!(two.redirect_uris(), ["https://app.example.com/auth/oidc", "https://app.example.com/auth/oidc/google"]);
/// ```
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub(crate) providers: Vec<ProviderConfig>,
    pub(crate) external: ExternalUrl,
    pub(crate) route_prefix: String,
    pub(crate) public_paths: Vec<PathRule>,
    pub(crate) api_paths: Vec<PathRule>,
    /// The session cookie's name, without `__Host-` (the other cookies are named after it).
    pub(crate) cookie_name: String,
    /// The session cookie's `Domain` (shared with the domain's subdomains), if any.
    pub(crate) cookie_domain: Option<String>,
    /// The session cookie's `SameSite`.
    pub(crate) cookie_same_site: CookieSameSite,
    /// The key that seals new cookies, then older keys still accepted (rotation).
    pub(crate) cookie_keys: Vec<CookieKey>,
    pub(crate) clock_leeway: Duration,
    pub(crate) session_max_age: Duration,
    /// Sessions idle longer than this end (none by default).
    pub(crate) session_idle_timeout: Option<Duration>,
    /// Whether a session that cannot be refreshed ends when its access token expires.
    pub(crate) session_follows_token: bool,
    /// How many sessions one user keeps at most; a login past it ends the user's oldest.
    pub(crate) max_sessions_per_user: usize,
    /// The largest app data a session keeps, in bytes of JSON.
    pub(crate) app_data_max_bytes: usize,
    /// How long before the access token expires a refresh is attempted.
    pub(crate) refresh_margin: Duration,
    pub(crate) refresh_failure: RefreshFailure,
    /// Whether requests carry the session's [`AccessToken`](crate::AccessToken).
    pub(crate) expose_access_token: bool,
    pub(crate) post_logout_path: Option<String>,
    pub(crate) backup_login_path: Option<String>,
    /// Where bearer tokens are taken.
    pub(crate) bearer_paths: BearerPaths,
    /// How long an active introspection result is reused at most (never past the token's `exp`).
    pub(crate) introspection_cache: Duration,
    /// The provider (index) of silent sign-in on public pages, when it is on.
    pub(crate) silent_login: Option<usize>,
    /// The app's name, logo and colours on the layer's pages.
    pub(crate) branding: Branding,
}

/// Where browsers reach the app: origin plus an optional path prefix (behind a reverse proxy).
#[derive(Debug, Clone)]
pub(crate) struct ExternalUrl {
    /// `https://app.example.com` (no trailing slash).
    pub(crate) origin: String,
    /// `""` or `/prefix` (no trailing slash).
    pub(crate) base_path: String,
    /// Whether cookies must be `Secure` (https).
    pub(crate) secure: bool,
    /// The host, lower-case ASCII (what `cookie_domain` must domain-match).
    pub(crate) host: String,
    /// Whether the reverse proxy passes `base_path` on (`proxy_keeps_prefix`): the app then
    /// receives `/prefix/...` and the layer matches its paths after the prefix.
    pub(crate) keeps_prefix: bool,
}

impl ExternalUrl {
    /// The path of a request as the configuration writes paths: relative to the external
    /// URL. Behind a proxy that strips the prefix that is the path the app receives; behind
    /// one that keeps it, the path after the prefix (`/app` itself is `/`), and `None` for a
    /// path outside the prefix (no route, rule or return-to of the layer's).
    pub(crate) fn app_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        if !self.keeps_prefix {
            return Some(path);
        }
        match path.strip_prefix(self.base_path.as_str())? {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}

/// A path rule: exact (`/health`) or prefix (`/static/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathRule {
    Exact(String),
    Prefix(String),
}

impl PathRule {
    fn parse(key: &str, rule: &str) -> Result<Self, ConfigError> {
        if !rule.starts_with('/') {
            return Err(ConfigError::new(
                key,
                format!("`{rule}` must start with `/`"),
            ));
        }
        Ok(match rule.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(rule.to_owned()),
        })
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => p == path,
            Self::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// The callback path of the provider at `index` under `prefix`: the first provider's is
/// `{prefix}/oidc`, the others' `{prefix}/oidc/{slug}`.
pub(crate) fn callback_path(prefix: &str, index: usize, slug: &str) -> String {
    if index == 0 {
        format!("{prefix}/oidc")
    } else {
        format!("{prefix}/oidc/{slug}")
    }
}

impl OidcConfig {
    /// Starts a configuration in code.
    pub fn builder() -> OidcConfigBuilder {
        OidcConfigBuilder::default()
    }

    /// Reads and validates a configuration from TOML; errors name the bad key.
    #[cfg(feature = "toml")]
    pub fn from_toml_str(toml_text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table =
            toml::from_str(toml_text).map_err(|e| ConfigError::new("toml", e.message()))?;
        Self::from_table(table)
    }

    /// Reads and validates a configuration from environment variables: each TOML key upper-cased
    /// after `prefix` (`OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_SCOPES="openid groups"`, ...);
    /// nested keys joined with `__` (`OIDC_ROLES__RULES__ADMINS=admin`,
    /// `OIDC_PROVIDERS__0__ISSUER=...`, `OIDC_PROVIDERS__1__NAME=Google`).
    #[cfg(feature = "toml")]
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        Self::from_vars(prefix, std::env::vars())
    }

    /// [`Self::from_env`] on the given variables (the fuzz targets pass their own).
    #[cfg(feature = "toml")]
    pub(crate) fn from_vars(
        prefix: &str,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::from_table(env::table_from_vars(prefix, vars)?)
    }

    /// Splits a table into app-wide keys and the provider(s), then validates.
    #[cfg(feature = "toml")]
    fn from_table(mut table: toml::Table) -> Result<Self, ConfigError> {
        let mut top_provider = toml::Table::new();
        for key in raw::serde_fields::<RawProvider>() {
            if let Some(value) = table.remove(*key) {
                top_provider.insert((*key).to_owned(), value);
            }
        }
        let global = RawGlobal::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::new("config", e.message()))?;
        let mut providers = Vec::new();
        if !top_provider.is_empty() {
            let raw = RawProvider::deserialize(toml::Value::Table(top_provider))
                .map_err(|e| ConfigError::new("config", e.message()))?;
            providers.push(raw);
        }
        Self::validate(global, providers)
    }

    /// The providers, in configuration order (the first one's callback is `{prefix}/oidc`).
    pub fn providers(&self) -> &[ProviderConfig] {
        &self.providers
    }
    /// The path under which the layer's own routes live (default `/auth`).
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }
    /// The redirect URI of each provider, to register at that provider.
    pub fn redirect_uris(&self) -> Vec<String> {
        (0..self.providers.len())
            .map(|i| self.redirect_uri_of(i))
            .collect()
    }
    pub(crate) fn redirect_uri_of(&self, index: usize) -> String {
        let path = callback_path(&self.route_prefix, index, &self.providers[index].slug);
        format!("{}{}{path}", self.external.origin, self.external.base_path)
    }
    /// The single redirect URI of a one-provider configuration (the first provider's).
    pub fn redirect_uri(&self) -> String {
        self.redirect_uri_of(0)
    }
    /// Whether cookies are marked `Secure` (and `__Host-` prefixed, or `__Secure-` for a
    /// session cookie with a `cookie_domain`).
    pub fn secure_cookies(&self) -> bool {
        self.external.secure
    }
    /// The session cookie's `Domain`, when it is shared with subdomains (`cookie_domain`).
    pub fn cookie_domain(&self) -> Option<&str> {
        self.cookie_domain.as_deref()
    }
    /// The session cookie's `SameSite` (`cookie_same_site`, `lax` by default).
    pub fn cookie_same_site(&self) -> CookieSameSite {
        self.cookie_same_site
    }
    /// Whether the reverse proxy keeps the external URL's path prefix (`proxy_keeps_prefix`).
    pub fn proxy_keeps_prefix(&self) -> bool {
        self.external.keeps_prefix
    }
    /// The names of the layer's cookies: the session cookie is `cookie_name` (by default
    /// `oidc_session_` and a tag derived from the first provider's client id and the external
    /// URL), `__Host-` prefixed on https (`__Secure-` with a `cookie_domain`); the others are
    /// named after it.
    pub fn cookie_names(&self) -> CookieNames {
        self.cookie_settings().names()
    }
    /// Names and flags of the layer's cookies under this configuration.
    pub(crate) fn cookie_settings(&self) -> CookieSettings {
        CookieSettings::new(&self.cookie_name, self.external.secure).with_session_scope(
            self.cookie_domain.clone(),
            self.cookie_same_site.attribute(),
        )
    }
    /// The app's own login page for administrators when the provider is misconfigured
    /// (never behind the login redirect), if configured.
    pub fn backup_login_path(&self) -> Option<&str> {
        self.backup_login_path.as_deref()
    }
    /// Whether access tokens are accepted: at least one provider has an `api_audience`.
    pub fn accepts_bearer_tokens(&self) -> bool {
        self.providers.iter().any(|p| !p.api_audiences.is_empty())
    }
    /// Where an `Authorization: Bearer` header is taken (when tokens are accepted at all).
    pub fn bearer_paths(&self) -> BearerPaths {
        self.bearer_paths
    }
    /// The path of a request relative to the external URL (see [`ExternalUrl::app_path`]):
    /// what routes, path rules and return-to paths are matched against.
    pub(crate) fn app_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        self.external.app_path(path)
    }
    /// A return-to path as written by the app (`?return_to=`): behind a proxy that keeps the
    /// prefix the app may write its own paths (`/app/page`), which are the same as `/page`.
    pub(crate) fn return_to_in_app(&self, return_to: String) -> String {
        if !self.external.keeps_prefix {
            return return_to;
        }
        let (path, query) = return_to.split_at(return_to.find('?').unwrap_or(return_to.len()));
        match self.app_path(path) {
            Some(inner) if inner.len() < path.len() => format!("{inner}{query}"),
            _ => return_to,
        }
    }
    /// The provider silent sign-in asks, when it is on.
    pub fn silent_login_provider(&self) -> Option<&ProviderConfig> {
        self.silent_login.and_then(|i| self.providers.get(i))
    }
    /// The app's name, logo and colours on the layer's pages (`[branding]`).
    pub fn branding(&self) -> &Branding {
        &self.branding
    }
    /// Whether `path` is one of the configured `api_paths`.
    pub(crate) fn is_api_path(&self, path: &str) -> bool {
        self.api_paths.iter().any(|rule| rule.matches(path))
    }
}

/// Whether the URL's host is `localhost` or a loopback address (where plain http is allowed).
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A valid single-provider configuration for tests to adjust (this module's and others').
#[cfg(test)]
pub(crate) fn test_base() -> OidcConfigBuilder {
    OidcConfig::builder()
        .issuer("https://id.example.com")
        .client_id("app")
        .external_url("https://app.example.com")
}

// The tests read their configurations from TOML.
#[cfg(all(test, feature = "toml"))]
mod tests;

#[cfg(test)]
mod prefix_tests {
    use super::*;

    fn config(keeps: bool) -> OidcConfig {
        test_base()
            .external_url("https://example.com/app/")
            .proxy_keeps_prefix(keeps)
            .build()
            .unwrap()
    }

    #[test]
    fn paths_are_matched_after_a_kept_prefix_and_as_they_come_when_stripped() {
        let kept = config(true);
        assert!(kept.proxy_keeps_prefix());
        for (path, app) in [
            ("/app", Some("/")),
            ("/app/", Some("/")),
            ("/app/auth/login", Some("/auth/login")),
            ("/app/app/x", Some("/app/x")),
            ("/application", None),
            ("/auth/login", None),
            ("/", None),
        ] {
            assert_eq!(kept.app_path(path), app, "{path}");
        }
        let stripped = config(false);
        for path in ["/", "/auth/login", "/app/auth/login"] {
            assert_eq!(stripped.app_path(path), Some(path));
        }
        // Redirect URIs are the same either way.
        assert_eq!(kept.redirect_uri(), "https://example.com/app/auth/oidc");
        assert_eq!(kept.redirect_uri(), stripped.redirect_uri());
    }

    #[test]
    fn a_return_to_written_with_the_kept_prefix_is_not_doubled() {
        let kept = config(true);
        for (written, kept_as) in [
            ("/app/page?x=1", "/page?x=1"),
            ("/app?x=/app/y", "/?x=/app/y"),
            ("/app", "/"),
            ("/page", "/page"),
            ("/application", "/application"),
        ] {
            assert_eq!(
                kept.return_to_in_app(written.to_owned()),
                kept_as,
                "{written}"
            );
        }
        assert_eq!(
            config(false).return_to_in_app("/app/page".to_owned()),
            "/app/page"
        );
    }

    #[test]
    fn keeping_a_prefix_needs_one() {
        let err = test_base().proxy_keeps_prefix(true).build().unwrap_err();
        assert_eq!(err.key, "proxy_keeps_prefix");
        assert!(!test_base().build().unwrap().proxy_keeps_prefix());
    }
}
