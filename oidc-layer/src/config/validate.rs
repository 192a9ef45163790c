//! The one validation every source ends in (builder, TOML, environment): [`RawGlobal`] and the
//! raw providers become an [`OidcConfig`], or a [`ConfigError`] naming the key.

use std::time::Duration;

use url::Url;

use super::cookies;
use super::provider::{ProviderConfig, RawProvider};
use super::raw::RawGlobal;
use super::secret::{CookieKey, Secret, decode_cookie_key};
use super::{ConfigError, ExternalUrl, OidcConfig, PathRule, is_loopback_host};

/// Sessions per user unless configured
/// ([`OidcConfigBuilder::max_sessions_per_user`](super::OidcConfigBuilder::max_sessions_per_user)).
const DEFAULT_MAX_SESSIONS_PER_USER: u64 = 10;
/// The highest sessions-per-user cap accepted: past it a user's sessions are unbounded in all
/// but name.
const MAX_SESSIONS_PER_USER_LIMIT: u64 = 1000;
/// The app data a session keeps at most unless configured
/// ([`OidcConfigBuilder::app_data_max_bytes`](super::OidcConfigBuilder::app_data_max_bytes)).
const DEFAULT_APP_DATA_MAX_BYTES: u64 = 8 * 1024;
/// The highest app-data limit accepted: every request of the session carries it from the store.
const APP_DATA_MAX_BYTES_LIMIT: u64 = 1024 * 1024;

impl OidcConfig {
    /// Validates the app-wide settings and the providers: `providers` are those written at the
    /// top level (named without a prefix in errors), then come `global.providers`
    /// (`providers[i]`).
    pub(super) fn validate(
        mut global: RawGlobal,
        providers: Vec<RawProvider>,
    ) -> Result<Self, ConfigError> {
        let providers = validate_providers(providers, global.providers.take())?;
        let external_url = global
            .external_url
            .ok_or_else(|| ConfigError::new("external_url", "is required"))?;
        let mut external = parse_external_url(
            external_url.trim(),
            global.allow_insecure_http.unwrap_or(false),
        )?;
        external.keeps_prefix = validate_keeps_prefix(global.proxy_keeps_prefix, &external)?;
        let route_prefix = validate_route_prefix(global.route_prefix)?;
        let cookie_keys = decode_cookie_keys(global.cookie_key, global.previous_cookie_keys)?;
        let cookie_domain = cookies::validate_domain(global.cookie_domain.as_deref(), &external)?;
        if cookie_domain.is_some() && global.cookie_name.is_none() {
            // The default name is derived from this app's client id and URL: no other app
            // would find the shared cookie under it.
            return Err(ConfigError::new(
                "cookie_name",
                "is required with cookie_domain: every app sharing the session cookie must use the same name",
            ));
        }
        let cookie_same_site =
            cookies::validate_same_site(global.cookie_same_site.as_deref(), &external)?;
        let cookie_name = validate_cookie_name(global.cookie_name, &providers[0], &external)?;
        let silent_login = silent_login_provider(
            global.silent_login.unwrap_or(false),
            global.silent_login_provider,
            &providers,
        )?;
        Ok(Self {
            silent_login,
            providers,
            external,
            public_paths: path_rules("public_paths", global.public_paths)?,
            api_paths: path_rules("api_paths", global.api_paths)?,
            route_prefix,
            cookie_name,
            cookie_domain,
            cookie_same_site,
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
            app_data_max_bytes: usize::try_from(
                global
                    .app_data_max_bytes
                    .unwrap_or(DEFAULT_APP_DATA_MAX_BYTES)
                    .clamp(64, APP_DATA_MAX_BYTES_LIMIT),
            )
            .unwrap_or(usize::MAX),
            refresh_margin: Duration::from_secs(
                global.refresh_margin_seconds.unwrap_or(60).min(3600),
            ),
            refresh_failure: global.refresh_failure.unwrap_or_default(),
            expose_access_token: global.expose_access_token.unwrap_or(false),
            post_logout_path: same_origin_path("post_logout_path", global.post_logout_path)?,
            backup_login_path: same_origin_path("backup_login_path", global.backup_login_path)?,
            bearer_paths: global.bearer_paths.unwrap_or_default(),
            introspection_cache: Duration::from_secs(
                global.introspection_cache_seconds.unwrap_or(60).min(3600),
            ),
            branding: global.branding.unwrap_or_default().validate()?,
        })
    }
}

/// At least one provider, each valid, no two with the same slug.
/// The provider silent sign-in asks: the one named by `silent_login_provider`, else the first.
fn silent_login_provider(
    on: bool,
    slug: Option<String>,
    providers: &[ProviderConfig],
) -> Result<Option<usize>, ConfigError> {
    let Some(slug) = slug else {
        return Ok(on.then_some(0));
    };
    if !on {
        return Err(ConfigError::new(
            "silent_login_provider",
            "needs `silent_login = true`",
        ));
    }
    providers
        .iter()
        .position(|p| p.slug == slug.trim())
        .map(Some)
        .ok_or_else(|| {
            ConfigError::new(
                "silent_login_provider",
                format!("no provider has the slug `{slug}`"),
            )
        })
}

fn validate_providers(
    mut providers: Vec<RawProvider>,
    listed: Option<Vec<RawProvider>>,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let top_level = providers.len();
    providers.extend(listed.unwrap_or_default());
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
    if providers.iter().filter(|p| p.introspection).count() > 1 {
        // An opaque token names no issuer: with two, a token of one provider would be sent to
        // the other's introspection endpoint.
        return Err(ConfigError::new(
            "introspection",
            "only one provider may introspect opaque tokens (an opaque token does not say whose it is)",
        ));
    }
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].iter().any(|q| q.slug == p.slug) {
            return Err(ConfigError::new(
                "providers",
                format!("two providers have the slug `{}`", p.slug),
            ));
        }
    }
    Ok(providers)
}

/// The route prefix (default `/auth`) without a trailing slash: a plain path.
fn validate_route_prefix(prefix: Option<String>) -> Result<String, ConfigError> {
    let route_prefix = prefix
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
    Ok(route_prefix)
}

fn path_rules(key: &str, list: Option<Vec<String>>) -> Result<Vec<PathRule>, ConfigError> {
    list.unwrap_or_default()
        .iter()
        .map(|p| PathRule::parse(key, p))
        .collect()
}

/// The key sealing new cookies, then the older ones still accepted.
fn decode_cookie_keys(
    current: Option<Secret>,
    previous: Option<Vec<Secret>>,
) -> Result<Vec<CookieKey>, ConfigError> {
    let mut cookie_keys = Vec::new();
    if let Some(key) = current {
        cookie_keys.push(decode_cookie_key("cookie_key", key.expose())?);
    }
    for old in previous.unwrap_or_default() {
        cookie_keys.push(decode_cookie_key("previous_cookie_keys", old.expose())?);
    }
    Ok(cookie_keys)
}

/// The configured cookie name, or one derived from the first provider and the external URL.
fn validate_cookie_name(
    name: Option<String>,
    first: &ProviderConfig,
    external: &ExternalUrl,
) -> Result<String, ConfigError> {
    match name {
        Some(name) if crate::web::cookies::is_valid_cookie_name(&name) => Ok(name),
        Some(_) => Err(ConfigError::new(
            "cookie_name",
            format!(
                "must be 1 to {} ASCII letters, digits and `_`",
                crate::web::cookies::MAX_COOKIE_NAME
            ),
        )),
        None => Ok(crate::web::cookies::default_cookie_name(
            &first.client_id,
            &format!("{}{}", external.origin, external.base_path),
        )),
    }
}

fn same_origin_path(key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(p) if crate::web::return_to::sanitize(&p).as_deref() != Some(p.as_str()) => Err(
            ConfigError::new(key, "must be a same-origin path like `/goodbye`"),
        ),
        other => Ok(other),
    }
}

/// `proxy_keeps_prefix` (default false) makes sense only with a path prefix to keep.
fn validate_keeps_prefix(value: Option<bool>, external: &ExternalUrl) -> Result<bool, ConfigError> {
    let keeps = value.unwrap_or(false);
    if keeps && external.base_path.is_empty() {
        return Err(ConfigError::new(
            "proxy_keeps_prefix",
            "the external_url has no path prefix to keep (like `https://example.com/app`)",
        ));
    }
    Ok(keeps)
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
        host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
        keeps_prefix: false,
    })
}
