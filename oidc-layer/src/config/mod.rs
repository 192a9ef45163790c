//! Configuration: a builder in code and the same settings through serde (TOML, environment).
//!
//! Every setting has the secure default. [`OidcConfig::builder`], [`OidcConfig::from_toml_str`]
//! and [`OidcConfig::from_env`] all end in the same validation, whose errors name the key.
//! One provider can be written at the top level; several go in `[[providers]]`.
//!
//! ```
//! use oidc_layer::OidcConfig;
//!
//! let config = OidcConfig::builder()
//!     .issuer("https://id.example.com/realms/home")
//!     .client_id("my-app")
//!     .client_secret("s3cret")
//!     .external_url("https://app.example.com")
//!     .build()
//!     .expect("valid configuration");
//! assert_eq!(config.providers()[0].scopes(), ["openid", "profile", "email"]);
//!
//! let two = OidcConfig::from_toml_str(r#"
//!     external_url = "https://app.example.com"
//!
//!     [[providers]]
//!     name = "Keycloak"
//!     issuer = "https://kc.example.com/realms/home/"
//!     client_id = "my-app"
//!     scopes = "openid profile email groups"
//!     roles = { rules = { admins = "admin", users = "trusted" }, order = ["untrusted", "trusted", "admin"], default = "untrusted" }
//!
//!     [[providers]]
//!     name = "Google"
//!     issuer = "https://accounts.google.com"
//!     client_id = "123.apps.googleusercontent.com"
//!     allow_new_users = false
//! "#).expect("valid configuration");
//! assert_eq!(two.redirect_uris(), ["https://app.example.com/auth/oidc", "https://app.example.com/auth/oidc/google"]);
//! ```

#[cfg(feature = "toml")]
mod env;
mod provider;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use url::Url;

#[cfg(feature = "toml")]
use provider::PROVIDER_KEYS;
use provider::RawProvider;

use crate::cookies::{CookieNames, CookieSettings};
pub use provider::{ProviderBuilder, ProviderConfig};

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

/// A secret string (client secret, cookie key): never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A decoded cookie key: `Debug` never shows it (with the key, anyone can forge login-attempt
/// cookies, including the account a link goes to).
#[derive(Clone)]
pub(crate) struct CookieKey(Vec<u8>);

impl std::ops::Deref for CookieKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKey(***)")
    }
}

/// [`list_or_words`] for secrets (previous cookie keys): each item a [`Secret`].
fn secret_list_or_words<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Secret>>, D::Error> {
    Ok(list_or_words(d)?.map(|items| items.into_iter().map(Secret::new).collect()))
}

/// Sessions per user unless configured ([`OidcConfigBuilder::max_sessions_per_user`]).
const DEFAULT_MAX_SESSIONS_PER_USER: u64 = 10;
/// The highest sessions-per-user cap accepted: past it a user's sessions are unbounded in all
/// but name.
const MAX_SESSIONS_PER_USER_LIMIT: u64 = 1000;

/// The app-wide settings as written, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    external_url: Option<String>,
    route_prefix: Option<String>,
    #[serde(default, deserialize_with = "list_or_words")]
    public_paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "list_or_words")]
    api_paths: Option<Vec<String>>,
    cookie_name: Option<String>,
    cookie_key: Option<Secret>,
    #[serde(default, deserialize_with = "secret_list_or_words")]
    previous_cookie_keys: Option<Vec<Secret>>,
    allow_insecure_http: Option<bool>,
    clock_leeway_seconds: Option<u64>,
    session_max_age_seconds: Option<u64>,
    session_idle_timeout_seconds: Option<u64>,
    session_follows_token: Option<bool>,
    max_sessions_per_user: Option<u64>,
    refresh_margin_seconds: Option<u64>,
    refresh_failure: Option<RefreshFailure>,
    expose_access_token: Option<bool>,
    post_logout_path: Option<String>,
    backup_login_path: Option<String>,
    providers: Option<Vec<RawProvider>>,
}

/// What happens to a session whose token refresh fails because the provider is unreachable
/// (a refusal such as `invalid_grant` always ends the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshFailure {
    /// Keep the session until its access token has really expired, retrying the refresh every
    /// few seconds (the default: a provider blip does not log everyone out).
    #[default]
    KeepUntilExpiry,
    /// End the session at once: the next request logs in again.
    End,
}

/// Accepts `["a", "b"]`, `"a b"` and `"a,b"` (environment variables carry lists as strings).
pub(crate) fn list_or_words<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Words(String),
    }
    Ok(Option::<ListOrString>::deserialize(d)?.map(|v| match v {
        ListOrString::List(items) => items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        ListOrString::Words(s) => split_words(&s),
    }))
}

/// Splits on commas and whitespace, dropping empties.
pub(crate) fn split_words(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A validated configuration: the app's settings and one or more providers.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub(crate) providers: Vec<ProviderConfig>,
    pub(crate) external: ExternalUrl,
    pub(crate) route_prefix: String,
    pub(crate) public_paths: Vec<PathRule>,
    pub(crate) api_paths: Vec<PathRule>,
    /// The session cookie's name, without `__Host-` (the other cookies are named after it).
    pub(crate) cookie_name: String,
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
    /// How long before the access token expires a refresh is attempted.
    pub(crate) refresh_margin: Duration,
    pub(crate) refresh_failure: RefreshFailure,
    /// Whether requests carry the session's [`AccessToken`](crate::AccessToken).
    pub(crate) expose_access_token: bool,
    pub(crate) post_logout_path: Option<String>,
    pub(crate) backup_login_path: Option<String>,
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
        for key in PROVIDER_KEYS {
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

    fn validate(
        mut global: RawGlobal,
        mut providers: Vec<RawProvider>,
    ) -> Result<Self, ConfigError> {
        let top_level = providers.len();
        providers.extend(global.providers.take().unwrap_or_default());
        if providers.is_empty() {
            return Err(ConfigError::new(
                "issuer",
                "is required (or list providers in [[providers]])",
            ));
        }
        let providers = providers
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let at = if i < top_level {
                    String::new()
                } else {
                    format!("providers[{}]", i - top_level)
                };
                p.validate(&at)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, p) in providers.iter().enumerate() {
            if providers[..i].iter().any(|q| q.slug == p.slug) {
                return Err(ConfigError::new(
                    "providers",
                    format!("two providers have the slug `{}`", p.slug),
                ));
            }
        }
        let external_url = global
            .external_url
            .ok_or_else(|| ConfigError::new("external_url", "is required"))?;
        let external = parse_external_url(
            external_url.trim(),
            global.allow_insecure_http.unwrap_or(false),
        )?;
        let route_prefix = global
            .route_prefix
            .unwrap_or_else(|| "/auth".to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !route_prefix.starts_with('/')
            || route_prefix.contains(['?', '#', '*', '\\'])
            || route_prefix.contains("//")
        {
            return Err(ConfigError::new(
                "route_prefix",
                "must be a path like `/auth`",
            ));
        }
        let rules = |key: &str, list: Option<Vec<String>>| -> Result<Vec<PathRule>, ConfigError> {
            list.unwrap_or_default()
                .iter()
                .map(|p| PathRule::parse(key, p))
                .collect()
        };
        let mut cookie_keys = Vec::new();
        if let Some(key) = global.cookie_key {
            cookie_keys.push(decode_cookie_key("cookie_key", key.expose())?);
        }
        for old in global.previous_cookie_keys.unwrap_or_default() {
            cookie_keys.push(decode_cookie_key("previous_cookie_keys", old.expose())?);
        }
        let cookie_name = match global.cookie_name {
            Some(name) if crate::cookies::is_valid_cookie_name(&name) => name,
            Some(_) => {
                return Err(ConfigError::new(
                    "cookie_name",
                    format!(
                        "must be 1 to {} ASCII letters, digits and `_`",
                        crate::cookies::MAX_COOKIE_NAME
                    ),
                ));
            }
            None => crate::cookies::default_cookie_name(
                &providers[0].client_id,
                &format!("{}{}", external.origin, external.base_path),
            ),
        };
        let same_origin_path = |key: &str, value: Option<String>| match value {
            Some(p) if crate::return_to::sanitize(&p).as_deref() != Some(p.as_str()) => Err(
                ConfigError::new(key, "must be a same-origin path like `/goodbye`"),
            ),
            other => Ok(other),
        };
        Ok(Self {
            providers,
            external,
            public_paths: rules("public_paths", global.public_paths)?,
            api_paths: rules("api_paths", global.api_paths)?,
            route_prefix,
            cookie_name,
            cookie_keys,
            clock_leeway: Duration::from_secs(global.clock_leeway_seconds.unwrap_or(30).min(600)),
            session_max_age: Duration::from_secs(
                global.session_max_age_seconds.unwrap_or(12 * 3600).max(60),
            ),
            session_idle_timeout: global
                .session_idle_timeout_seconds
                .map(|s| Duration::from_secs(s.max(60))),
            session_follows_token: global.session_follows_token.unwrap_or(true),
            max_sessions_per_user: usize::try_from(
                global
                    .max_sessions_per_user
                    .unwrap_or(DEFAULT_MAX_SESSIONS_PER_USER)
                    .clamp(1, MAX_SESSIONS_PER_USER_LIMIT),
            )
            .unwrap_or(usize::MAX),
            refresh_margin: Duration::from_secs(
                global.refresh_margin_seconds.unwrap_or(60).min(3600),
            ),
            refresh_failure: global.refresh_failure.unwrap_or_default(),
            expose_access_token: global.expose_access_token.unwrap_or(false),
            post_logout_path: same_origin_path("post_logout_path", global.post_logout_path)?,
            backup_login_path: same_origin_path("backup_login_path", global.backup_login_path)?,
        })
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
    /// Whether cookies are marked `Secure` (and `__Host-` prefixed).
    pub fn secure_cookies(&self) -> bool {
        self.external.secure
    }
    /// The names of the layer's cookies: the session cookie is `cookie_name` (by default
    /// `oidc_session_` and a tag derived from the first provider's client id and the external
    /// URL), `__Host-` prefixed on https; the others are named after it.
    pub fn cookie_names(&self) -> CookieNames {
        CookieSettings::new(&self.cookie_name, self.external.secure).names()
    }
    /// The app's own login page for administrators when the provider is misconfigured
    /// (never behind the login redirect), if configured.
    pub fn backup_login_path(&self) -> Option<&str> {
        self.backup_login_path.as_deref()
    }
}

pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn parse_external_url(value: &str, allow_insecure_http: bool) -> Result<ExternalUrl, ConfigError> {
    let url = Url::parse(value)
        .map_err(|e| ConfigError::new("external_url", format!("`{value}` is not a URL: {e}")))?;
    let secure = match url.scheme() {
        "https" => true,
        "http" if is_loopback_host(&url) || allow_insecure_http => false,
        "http" => {
            return Err(ConfigError::new(
                "external_url",
                "must use https; plain http is allowed on loopback, or elsewhere with allow_insecure_http = true",
            ));
        }
        other => {
            return Err(ConfigError::new(
                "external_url",
                format!("unsupported scheme `{other}`"),
            ));
        }
    };
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.cannot_be_a_base()
    {
        return Err(ConfigError::new(
            "external_url",
            "must be a plain origin with an optional path",
        ));
    }
    Ok(ExternalUrl {
        origin: url.origin().ascii_serialization(),
        base_path: url.path().trim_end_matches('/').to_owned(),
        secure,
    })
}

fn decode_cookie_key(key: &str, value: &str) -> Result<CookieKey, ConfigError> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = value.trim().trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|_| ConfigError::new(key, "must be base64"))?;
    if bytes.len() < 32 {
        return Err(ConfigError::new(
            key,
            "must be at least 32 random bytes (base64 of 32+ bytes)",
        ));
    }
    Ok(CookieKey(bytes))
}

/// Builds an [`OidcConfig`] in code, as in the [crate docs](crate). The provider setters
/// (`issuer`, `client_id`, ...) configure the first provider; add more with
/// [`provider`](Self::provider).
#[derive(Debug, Clone, Default)]
pub struct OidcConfigBuilder {
    global: RawGlobal,
    primary: ProviderBuilder,
    more: Vec<RawProvider>,
}

impl OidcConfigBuilder {
    /// Adds a provider (after the one set with the shortcut setters, if any).
    pub fn provider(mut self, provider: ProviderBuilder) -> Self {
        self.more.push(provider.raw);
        self
    }
    /// Where browsers reach this app, e.g. `https://app.example.com` or `https://example.com/app`.
    /// Redirect URIs are derived from it, never from request headers.
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.global.external_url = Some(url.into());
        self
    }
    /// The path of the layer's own routes (default `/auth`).
    pub fn route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.global.route_prefix = Some(prefix.into());
        self
    }
    /// Paths served without requiring login: exact (`/health`) or prefix (`/static/*`).
    /// A session, when present, is still attached.
    pub fn public_paths(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.global
            .public_paths
            .get_or_insert_with(Vec::new)
            .extend(paths.into_iter().map(Into::into));
        self
    }
    /// Paths of an API: without a session they always get `401` with problem+json, even for a
    /// browser navigation (exact `/api/me` or prefix `/api/*`).
    pub fn api_paths(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.global
            .api_paths
            .get_or_insert_with(Vec::new)
            .extend(paths.into_iter().map(Into::into));
        self
    }
    /// The session cookie's name (1 to 64 ASCII letters, digits and `_`; `__Host-` is added on
    /// https); the login-attempt and logout cookies are named after it (`{name}-attempt-...`,
    /// `{name}-logout`). By default `oidc_session_` and a tag derived from the first provider's
    /// client id and the external URL: unique per app on one host (browsers share cookies
    /// across ports and path prefixes) and the same on every instance of the app. Changing it
    /// (or what the default derives from) signs everyone out.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.global.cookie_name = Some(name.into());
        self
    }
    /// The key protecting the login-attempt cookie: base64 of at least 32 random bytes. Without
    /// it a random key is made per process (fine for one instance; logins in flight fail across
    /// restarts and instances).
    pub fn cookie_key(mut self, base64_key: impl Into<String>) -> Self {
        self.global.cookie_key = Some(Secret::new(base64_key));
        self
    }
    /// Earlier cookie keys still accepted (not used for new cookies) while a key is rotated.
    pub fn previous_cookie_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.global.previous_cookie_keys = Some(keys.into_iter().map(Secret::new).collect());
        self
    }
    /// Allows an `http://` external URL on a non-loopback host (cookies then lose `Secure`).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.global.allow_insecure_http = Some(allow);
        self
    }
    /// Clock leeway for `exp`/`iat` checks (default 30 s, at most 10 min).
    pub fn clock_leeway(mut self, leeway: Duration) -> Self {
        self.global.clock_leeway_seconds = Some(leeway.as_secs());
        self
    }
    /// The longest a session lives (default 12 h).
    pub fn session_max_age(mut self, age: Duration) -> Self {
        self.global.session_max_age_seconds = Some(age.as_secs());
        self
    }
    /// Ends sessions that see no request for this long (at least a minute; default: none).
    /// Activity is written to the store at most every tenth of the timeout.
    pub fn session_idle_timeout(mut self, idle: Duration) -> Self {
        self.global.session_idle_timeout_seconds = Some(idle.as_secs());
        self
    }
    /// Whether a session without a refresh token ends when its access token expires (default
    /// `true`; with `false` it lasts until [`session_max_age`](Self::session_max_age)).
    pub fn session_follows_token(mut self, follows: bool) -> Self {
        self.global.session_follows_token = Some(follows);
        self
    }
    /// How many sessions one user keeps at most (default 10, between 1 and 1000): a login
    /// past the cap ends that user's sessions that would end first (the oldest, or with an
    /// idle timeout the least recently used). A user is a subject at one issuer (or one local
    /// user name).
    pub fn max_sessions_per_user(mut self, sessions: usize) -> Self {
        self.global.max_sessions_per_user = Some(u64::try_from(sessions).unwrap_or(u64::MAX));
        self
    }
    /// How long before the access token expires it is refreshed (default 60 s, at most 1 h).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.global.refresh_margin_seconds = Some(margin.as_secs());
        self
    }
    /// What a refresh failing because the provider is unreachable does to the session.
    pub fn refresh_failure(mut self, policy: RefreshFailure) -> Self {
        self.global.refresh_failure = Some(policy);
        self
    }
    /// Puts the session's [`AccessToken`](crate::AccessToken) in each request's extensions,
    /// for apps that call APIs on the user's behalf (default `false`). Sessions keep the access
    /// token only when this is on (a refresh needs only the refresh token): turning it on
    /// later gives existing sessions their token at their next refresh.
    pub fn expose_access_token(mut self, expose: bool) -> Self {
        self.global.expose_access_token = Some(expose);
        self
    }
    /// Where the browser goes after logout (default: the layer's "signed out" page).
    pub fn post_logout_path(mut self, path: impl Into<String>) -> Self {
        self.global.post_logout_path = Some(path.into());
        self
    }
    /// The app's own local login page for a root administrator ("break glass" when the provider
    /// is misconfigured). It is never behind the login redirect, and
    /// `{prefix}/login?backup=1` leads to it.
    pub fn backup_login_path(mut self, path: impl Into<String>) -> Self {
        self.global.backup_login_path = Some(path.into());
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<OidcConfig, ConfigError> {
        let primary_set = self.primary.raw.issuer.is_some() || self.primary.raw.client_id.is_some();
        let providers = if primary_set {
            std::iter::once(self.primary.raw).chain(self.more).collect()
        } else {
            self.more
        };
        // Builder providers are reported as providers[i] unless set through the shortcuts.
        let top = usize::from(primary_set);
        let mut global = self.global;
        let mut list = providers;
        let rest = list.split_off(top);
        global.providers = Some(rest);
        OidcConfig::validate(global, list)
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
