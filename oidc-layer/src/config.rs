//! Configuration: a builder in code and the same settings through serde (TOML, environment).
//!
//! Every setting has the secure default. [`OidcConfig::builder`] and
//! [`OidcConfig::from_toml_str`] both end in the same validation, whose errors name the key.
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
//! assert_eq!(config.redirect_uri(), "https://app.example.com/auth/oidc");
//!
//! let from_toml = OidcConfig::from_toml_str(r#"
//!     issuer = "https://id.example.com/realms/home/"
//!     client_id = "my-app"
//!     client_secret = "s3cret"
//!     external_url = "https://app.example.com"
//!     scopes = "openid profile email groups"
//! "#).expect("valid configuration");
//! assert_eq!(from_toml.scopes(), ["openid", "profile", "email", "groups"]);
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use url::Url;

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// A configuration value that was rejected, with the key it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration `{key}`: {reason}")]
pub struct ConfigError {
    /// The configuration key (as in TOML) that is wrong.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self {
            key,
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

/// The settings as written in a file or the environment, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default, deserialize_with = "list_or_words")]
    scopes: Option<Vec<String>>,
    external_url: String,
    #[serde(default)]
    route_prefix: Option<String>,
    #[serde(default, deserialize_with = "list_or_words")]
    public_paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "list_or_words")]
    api_paths: Option<Vec<String>>,
    #[serde(default)]
    cookie_key: Option<Secret>,
    #[serde(default)]
    allow_insecure_http: bool,
    #[serde(default)]
    clock_leeway_seconds: Option<u64>,
    #[serde(default)]
    session_max_age_seconds: Option<u64>,
    #[serde(default, deserialize_with = "list_or_words")]
    id_token_signing_algs: Option<Vec<String>>,
    #[serde(default)]
    post_logout_path: Option<String>,
    #[serde(default)]
    fetch_userinfo: Option<bool>,
}

/// Accepts `["a", "b"]`, `"a b"` and `"a,b"` (environment variables carry lists as strings).
fn list_or_words<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
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

pub(crate) fn split_words(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A validated configuration for one OpenID provider and this app.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub(crate) issuer: String,
    pub(crate) discovery_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<Secret>,
    pub(crate) scopes: Vec<String>,
    pub(crate) external: ExternalUrl,
    pub(crate) route_prefix: String,
    pub(crate) public_paths: Vec<PathRule>,
    pub(crate) api_paths: Vec<PathRule>,
    pub(crate) cookie_key: Option<Vec<u8>>,
    pub(crate) clock_leeway: Duration,
    pub(crate) session_max_age: Duration,
    pub(crate) id_token_signing_algs: Option<Vec<String>>,
    pub(crate) post_logout_path: Option<String>,
    pub(crate) fetch_userinfo: bool,
}

/// Where browsers reach the app: origin plus an optional path prefix (behind a reverse proxy).
#[derive(Debug, Clone)]
pub(crate) struct ExternalUrl {
    /// `https://app.example.com` (no trailing slash).
    pub(crate) origin: String,
    /// `""` or `/prefix` (no trailing slash).
    pub(crate) base_path: String,
    /// Whether cookies must be `Secure` (https, or plain http on a non-loopback host when allowed).
    pub(crate) secure: bool,
}

/// A public path: exact (`/health`) or prefix (`/static/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathRule {
    Exact(String),
    Prefix(String),
}

impl PathRule {
    fn parse(key: &'static str, rule: &str) -> Result<Self, ConfigError> {
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

impl OidcConfig {
    /// Starts a configuration in code.
    pub fn builder() -> OidcConfigBuilder {
        OidcConfigBuilder::default()
    }

    /// Reads and validates a configuration from TOML; errors name the bad key.
    pub fn from_toml_str(toml_text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(toml_text).map_err(|e| {
            ConfigError::new(
                "toml",
                e.message().to_owned()
                    + &e.span()
                        .map(|s| format!(" (at byte {})", s.start))
                        .unwrap_or_default(),
            )
        })?;
        Self::validate(raw)
    }

    /// Reads and validates a configuration from environment variables named `{prefix}ISSUER`,
    /// `{prefix}CLIENT_ID`, `{prefix}CLIENT_SECRET`, `{prefix}SCOPES`, `{prefix}EXTERNAL_URL`,
    /// `{prefix}ROUTE_PREFIX`, `{prefix}PUBLIC_PATHS`, `{prefix}COOKIE_KEY`, ... (each key of the
    /// TOML form, upper-cased).
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        Self::from_vars(prefix, std::env::vars())
    }

    fn from_vars(
        prefix: &str,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(prefix) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            let value = match key.as_str() {
                "allow_insecure_http" => {
                    toml::Value::Boolean(matches!(value.as_str(), "1" | "true" | "yes"))
                }
                "clock_leeway_seconds" | "session_max_age_seconds" => match value.parse::<i64>() {
                    Ok(n) => toml::Value::Integer(n),
                    Err(_) => {
                        return Err(ConfigError::new(
                            "environment",
                            format!("{name} must be a whole number"),
                        ));
                    }
                },
                _ => toml::Value::String(value),
            };
            table.insert(key, value);
        }
        let raw = RawConfig::deserialize(toml::Value::Table(table)).map_err(|e| {
            ConfigError::new(
                "environment",
                format!("{e} (variables start with {prefix})"),
            )
        })?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let (issuer, discovery_url) = parse_issuer(raw.issuer.trim())?;
        if raw.client_id.trim().is_empty() {
            return Err(ConfigError::new("client_id", "must not be empty"));
        }
        let external = parse_external_url(raw.external_url.trim(), raw.allow_insecure_http)?;
        let route_prefix = raw.route_prefix.unwrap_or_else(|| "/auth".to_owned());
        let route_prefix = route_prefix.trim_end_matches('/').to_owned();
        if !route_prefix.starts_with('/')
            || route_prefix.contains(['?', '#', '*', '\\'])
            || route_prefix.contains("//")
        {
            return Err(ConfigError::new(
                "route_prefix",
                "must be a path like `/auth`",
            ));
        }
        let mut scopes = raw
            .scopes
            .unwrap_or_else(|| split_words("openid profile email"));
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        if let Some(bad) = scopes.iter().find(|s| {
            !s.chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        }) {
            return Err(ConfigError::new(
                "scopes",
                format!("`{bad}` is not a valid scope token"),
            ));
        }
        let public_paths = raw
            .public_paths
            .unwrap_or_default()
            .iter()
            .map(|p| PathRule::parse("public_paths", p))
            .collect::<Result<_, _>>()?;
        let api_paths = raw
            .api_paths
            .unwrap_or_default()
            .iter()
            .map(|p| PathRule::parse("api_paths", p))
            .collect::<Result<_, _>>()?;
        let cookie_key = raw
            .cookie_key
            .map(|k| decode_cookie_key(k.expose()))
            .transpose()?;
        let post_logout_path = match raw.post_logout_path {
            Some(p) if crate::return_to::sanitize(&p).as_deref() != Some(p.as_str()) => {
                return Err(ConfigError::new(
                    "post_logout_path",
                    "must be a same-origin path like `/goodbye`",
                ));
            }
            other => other,
        };
        Ok(Self {
            issuer,
            discovery_url,
            client_id: raw.client_id.trim().to_owned(),
            client_secret: raw.client_secret.filter(|s| !s.expose().is_empty()),
            scopes,
            external,
            route_prefix,
            public_paths,
            api_paths,
            cookie_key,
            clock_leeway: Duration::from_secs(raw.clock_leeway_seconds.unwrap_or(30).min(600)),
            session_max_age: Duration::from_secs(
                raw.session_max_age_seconds.unwrap_or(12 * 3600).max(60),
            ),
            id_token_signing_algs: raw.id_token_signing_algs,
            post_logout_path,
            fetch_userinfo: raw.fetch_userinfo.unwrap_or(true),
        })
    }

    /// The issuer as configured (a trailing slash is tolerated when it is compared with the
    /// provider's own issuer at discovery).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The client id registered at the provider.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The scopes requested at login (always including `openid`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// The path under which the layer's own routes live (default `/auth`).
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }
    /// The redirect URI to register at the provider: `{external_url}{route_prefix}/oidc`.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}{}{}/oidc",
            self.external.origin, self.external.base_path, self.route_prefix
        )
    }
    /// Whether cookies are marked `Secure` (and `__Host-` prefixed).
    pub fn secure_cookies(&self) -> bool {
        self.external.secure
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Returns (issuer, discovery URL). Accepts the issuer or its well-known URL.
fn parse_issuer(value: &str) -> Result<(String, String), ConfigError> {
    let url = Url::parse(value)
        .map_err(|e| ConfigError::new("issuer", format!("`{value}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                "issuer",
                "must use https (http is only allowed for loopback hosts)",
            ));
        }
        other => {
            return Err(ConfigError::new(
                "issuer",
                format!("unsupported scheme `{other}`"),
            ));
        }
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(ConfigError::new(
            "issuer",
            "must not contain a query, fragment or credentials",
        ));
    }
    let text = url.as_str();
    let issuer = match text.strip_suffix(WELL_KNOWN) {
        Some(issuer) => issuer.to_owned(),
        None => value.to_owned(),
    };
    let discovery_url = format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/'));
    Ok((issuer, discovery_url))
}

fn parse_external_url(value: &str, allow_insecure_http: bool) -> Result<ExternalUrl, ConfigError> {
    let url = Url::parse(value)
        .map_err(|e| ConfigError::new("external_url", format!("`{value}` is not a URL: {e}")))?;
    let secure = match url.scheme() {
        "https" => true,
        "http" if is_loopback_host(&url) => false,
        "http" if allow_insecure_http => false,
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
    let origin = url.origin().ascii_serialization();
    let base_path = url.path().trim_end_matches('/').to_owned();
    Ok(ExternalUrl {
        origin,
        base_path,
        secure,
    })
}

fn decode_cookie_key(value: &str) -> Result<Vec<u8>, ConfigError> {
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    let bytes = engines
        .iter()
        .find_map(|e| {
            e.decode(value.trim().trim_end_matches('='))
                .ok()
                .or_else(|| e.decode(value.trim()).ok())
        })
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(value.trim().trim_end_matches('='))
                .ok()
        })
        .or_else(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(value.trim().trim_end_matches('='))
                .ok()
        })
        .ok_or_else(|| ConfigError::new("cookie_key", "must be base64"))?;
    if bytes.len() < 32 {
        return Err(ConfigError::new(
            "cookie_key",
            "must be at least 32 random bytes (base64 of 32+ bytes)",
        ));
    }
    Ok(bytes)
}

/// Builds an [`OidcConfig`] in code; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct OidcConfigBuilder {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    scopes: Option<Vec<String>>,
    external_url: Option<String>,
    route_prefix: Option<String>,
    public_paths: Vec<String>,
    api_paths: Vec<String>,
    cookie_key: Option<Secret>,
    allow_insecure_http: bool,
    clock_leeway: Option<Duration>,
    session_max_age: Option<Duration>,
    id_token_signing_algs: Option<Vec<String>>,
    post_logout_path: Option<String>,
    fetch_userinfo: Option<bool>,
}

impl OidcConfigBuilder {
    /// The provider's issuer URL, or its `/.well-known/openid-configuration` URL.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// The client id registered at the provider.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }
    /// The client secret (confidential clients).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(Secret::new(secret));
        self
    }
    /// Scopes to request (default `openid profile email`; `openid` is always added).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
    /// Where browsers reach this app, e.g. `https://app.example.com` or `https://example.com/app`.
    /// The redirect URI is derived from it, never from request headers.
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.external_url = Some(url.into());
        self
    }
    /// The path of the layer's own routes (default `/auth`).
    pub fn route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.route_prefix = Some(prefix.into());
        self
    }
    /// Paths served without requiring login: exact (`/health`) or prefix (`/static/*`).
    /// A session, when present, is still attached.
    pub fn public_paths<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.public_paths.extend(paths.into_iter().map(Into::into));
        self
    }
    /// Paths of an API: without a session they always get `401` with problem+json, even for a
    /// browser navigation (exact `/api/me` or prefix `/api/*`).
    pub fn api_paths<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.api_paths.extend(paths.into_iter().map(Into::into));
        self
    }
    /// The key protecting the login-attempt cookie: base64 of at least 32 random bytes. Without
    /// it a random key is made per process (fine for one instance; logins in flight fail across
    /// restarts).
    pub fn cookie_key(mut self, base64_key: impl Into<String>) -> Self {
        self.cookie_key = Some(Secret::new(base64_key));
        self
    }
    /// Allows an `http://` external URL on a non-loopback host (cookies then lose `Secure`).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// Clock leeway for `exp`/`iat` checks (default 30 s, at most 10 min).
    pub fn clock_leeway(mut self, leeway: Duration) -> Self {
        self.clock_leeway = Some(leeway);
        self
    }
    /// The longest a session lives (default 12 h).
    pub fn session_max_age(mut self, age: Duration) -> Self {
        self.session_max_age = Some(age);
        self
    }
    /// The ID-token signature algorithms accepted (default: the asymmetric ones the provider
    /// advertises). `none` and HMAC algorithms are never accepted.
    pub fn id_token_signing_algs<I, S>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.id_token_signing_algs = Some(algs.into_iter().map(Into::into).collect());
        self
    }
    /// Where the browser goes after logout (default: the layer's "signed out" page).
    pub fn post_logout_path(mut self, path: impl Into<String>) -> Self {
        self.post_logout_path = Some(path.into());
        self
    }

    /// Whether to fetch the userinfo endpoint at login and merge its claims over the ID token's
    /// (default `true`: many providers put profile, email and group claims only there).
    pub fn fetch_userinfo(mut self, fetch: bool) -> Self {
        self.fetch_userinfo = Some(fetch);
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<OidcConfig, ConfigError> {
        OidcConfig::validate(RawConfig {
            issuer: self
                .issuer
                .ok_or_else(|| ConfigError::new("issuer", "is required"))?,
            client_id: self
                .client_id
                .ok_or_else(|| ConfigError::new("client_id", "is required"))?,
            client_secret: self.client_secret,
            scopes: self.scopes,
            external_url: self
                .external_url
                .ok_or_else(|| ConfigError::new("external_url", "is required"))?,
            route_prefix: self.route_prefix,
            public_paths: Some(self.public_paths),
            api_paths: Some(self.api_paths),
            cookie_key: self.cookie_key,
            allow_insecure_http: self.allow_insecure_http,
            clock_leeway_seconds: self.clock_leeway.map(|d| d.as_secs()),
            session_max_age_seconds: self.session_max_age.map(|d| d.as_secs()),
            id_token_signing_algs: self.id_token_signing_algs,
            post_logout_path: self.post_logout_path,
            fetch_userinfo: self.fetch_userinfo,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn base() -> OidcConfigBuilder {
        OidcConfig::builder()
            .issuer("https://id.example.com")
            .client_id("app")
            .external_url("https://app.example.com")
    }

    #[test]
    fn http_issuer_only_on_loopback() {
        assert_eq!(
            base()
                .issuer("http://id.example.com")
                .build()
                .unwrap_err()
                .key,
            "issuer"
        );
        assert!(base().issuer("http://127.0.0.1:9400").build().is_ok());
        assert!(base().issuer("http://localhost:9400/").build().is_ok());
        assert!(base().issuer("http://[::1]:9400").build().is_ok());
        assert_eq!(base().issuer("ftp://x").build().unwrap_err().key, "issuer");
    }

    #[test]
    fn well_known_url_is_accepted() {
        let c = base()
            .issuer("https://id.example.com/realms/x/.well-known/openid-configuration")
            .build()
            .unwrap();
        assert_eq!(c.issuer(), "https://id.example.com/realms/x");
        assert_eq!(
            c.discovery_url,
            "https://id.example.com/realms/x/.well-known/openid-configuration"
        );
        let c = base()
            .issuer("https://id.example.com/realms/x/")
            .build()
            .unwrap();
        assert_eq!(
            c.discovery_url,
            "https://id.example.com/realms/x/.well-known/openid-configuration"
        );
    }

    #[test]
    fn external_url_rules() {
        assert_eq!(
            base()
                .external_url("http://app.example.com")
                .build()
                .unwrap_err()
                .key,
            "external_url"
        );
        let c = base()
            .external_url("http://app.lan:8080")
            .allow_insecure_http(true)
            .build()
            .unwrap();
        assert!(!c.secure_cookies());
        let c = base()
            .external_url("https://example.com/app/")
            .build()
            .unwrap();
        assert_eq!(c.redirect_uri(), "https://example.com/app/auth/oidc");
        assert!(c.secure_cookies());
        let c = base()
            .external_url("http://127.0.0.1:3000")
            .build()
            .unwrap();
        assert!(!c.secure_cookies());
        assert_eq!(
            base()
                .external_url("https://app?x=1")
                .build()
                .unwrap_err()
                .key,
            "external_url"
        );
    }

    #[test]
    fn scopes_and_prefix() {
        let c = base()
            .scopes(["profile", "email"])
            .route_prefix("/sso/")
            .build()
            .unwrap();
        assert_eq!(c.scopes(), ["openid", "profile", "email"]);
        assert_eq!(c.route_prefix(), "/sso");
        assert_eq!(
            base().route_prefix("auth").build().unwrap_err().key,
            "route_prefix"
        );
        assert_eq!(base().scopes(["a\"b"]).build().unwrap_err().key, "scopes");
    }

    #[test]
    fn toml_errors_name_the_key() {
        let err = OidcConfig::from_toml_str(
            "issuer = 'https://x'\nclient_id = 'a'\nexternal_url = 'https://a'\nbogus = 1",
        )
        .unwrap_err();
        assert!(err.reason.contains("bogus"), "{err}");
        let err = OidcConfig::from_toml_str("issuer = 'https://x'\nclient_id = 'a'\nexternal_url = 'https://a'\ncookie_key = 'c2hvcnQ='").unwrap_err();
        assert_eq!(err.key, "cookie_key");
        let ok = OidcConfig::from_toml_str("issuer = 'https://x'\nclient_id = 'a'\nexternal_url = 'https://a'\nscopes = ['openid', 'groups']\npublic_paths = '/, /static/*'").unwrap();
        assert_eq!(
            ok.public_paths,
            vec![
                PathRule::Exact("/".into()),
                PathRule::Prefix("/static/".into())
            ]
        );
    }

    #[test]
    fn env_vars() {
        let vars = [
            ("OIDC_ISSUER", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_CLIENT_SECRET", "s"),
            ("OIDC_EXTERNAL_URL", "https://app.example.com"),
            ("OIDC_SCOPES", "openid,profile,groups"),
            ("OTHER", "ignored"),
        ];
        let c = OidcConfig::from_vars(
            "OIDC_",
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(c.scopes(), ["openid", "profile", "groups"]);
        assert!(format!("{c:?}").contains("Secret(***)"));
        assert!(!format!("{c:?}").contains("\"s\""));
    }
}
