//! One identity provider's settings: where it is, how the app is registered there, and how its
//! claims become the app's identity and roles.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::auth_params::{validate_extra_auth_params, validate_max_age};
use super::{ConfigError, Secret, WELL_KNOWN, is_loopback_host};
use crate::claims::ClaimPath;
use crate::issuer::normalized_issuer;
use crate::roles::{RoleMap, RoleMapConfig};
use crate::words::{split_words, trimmed_list_or_words};

/// A provider's settings as written in TOML or the environment, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub(crate) name: Option<String>,
    pub(crate) slug: Option<String>,
    pub(crate) logo: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<Secret>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) username_claim: Option<String>,
    pub(crate) groups_claim: Option<String>,
    pub(crate) roles: Option<RoleMapConfig>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(crate) required_claims: Option<Vec<String>>,
    pub(crate) allow_new_users: Option<bool>,
    pub(crate) link_by_verified_email: Option<bool>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(crate) id_token_signing_algs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(crate) trusted_audiences: Option<Vec<String>>,
    pub(crate) id_token_max_age_seconds: Option<u64>,
    pub(crate) fetch_userinfo: Option<bool>,
    pub(crate) end_session_url: Option<String>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(crate) api_audience: Option<Vec<String>>,
    pub(crate) legacy_access_token_typ: Option<bool>,
    pub(crate) introspection: Option<bool>,
    pub(crate) extra_auth_params: Option<BTreeMap<String, String>>,
    pub(crate) max_age_seconds: Option<u64>,
}

/// The provider slug, issuer and subject prefix of sessions made by
/// [`OidcLayer::sign_in_local`](crate::OidcLayer::sign_in_local); no configured provider may use
/// it as its slug.
pub(crate) const LOCAL_PROVIDER: &str = "local";

/// The ID-token signature algorithms that can be configured: the asymmetric JWS algorithms the
/// layer verifies. `none` and the HMAC ones are never accepted (an HMAC key is the client
/// secret, or a public key an attacker mistakes for one).
pub(crate) const SIGNING_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// How old (by its `iat`) an ID token may be when it arrives, by default: 10 minutes, as
/// mod_auth_openidc's `OIDCIDTokenIatSlack`.
pub(crate) const DEFAULT_ID_TOKEN_MAX_AGE: Duration = Duration::from_secs(600);

/// A validated provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) logo: Option<String>,
    pub(crate) issuer: String,
    pub(crate) discovery_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<Secret>,
    pub(crate) scopes: Vec<String>,
    pub(crate) username_claim: ClaimPath,
    pub(crate) groups_claim: ClaimPath,
    pub(crate) role_map: Option<RoleMap>,
    pub(crate) required_claims: Vec<ClaimPath>,
    pub(crate) allow_new_users: bool,
    /// Whether a first sign-in links to the one account with the same verified email.
    pub(crate) link_by_verified_email: bool,
    /// The algorithms ID and logout tokens may be signed with (validated names from
    /// [`SIGNING_ALGS`]); `None`: RS256 when the provider advertises it, else what it advertises.
    pub(crate) id_token_signing_algs: Option<Vec<String>>,
    /// Audiences an ID token may name besides the client (Core 3.1.3.7 item 3).
    pub(crate) trusted_audiences: Vec<String>,
    /// ID tokens whose `iat` is older than this are refused.
    pub(crate) id_token_max_age: Duration,
    pub(crate) fetch_userinfo: bool,
    /// Overrides the discovered `end_session_endpoint`, with `{clientId}`, `{idToken}` and
    /// `{postLogoutRedirectUri}` placeholders.
    pub(crate) end_session_url: Option<String>,
    /// The audiences an access token must name (one of them) in `aud` to be accepted; empty:
    /// this provider's access tokens are not accepted.
    pub(crate) api_audiences: Vec<String>,
    /// Whether JWT access tokens typed `JWT` (or untyped) are accepted besides `at+jwt`.
    pub(crate) legacy_access_token_typ: bool,
    /// Whether opaque access tokens are checked at the introspection endpoint (RFC 7662).
    pub(crate) introspection: bool,
    /// Parameters added to every authorization request (validated: none the layer sets).
    pub(crate) extra_auth_params: Vec<(String, String)>,
    /// `max_age` sent with every authorization request; `auth_time` is checked against it.
    pub(crate) max_age: Option<u64>,
}

impl ProviderConfig {
    /// The display name (on the chooser page).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The URL-safe id of the provider (`/auth/oidc/{slug}`, `/auth/login?provider={slug}`).
    pub fn slug(&self) -> &str {
        &self.slug
    }
    /// The issuer as configured.
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
    /// Whether a first login may create a new account.
    pub fn allow_new_users(&self) -> bool {
        self.allow_new_users
    }
    /// Whether a first sign-in whose verified email matches an account links to it (see
    /// [`ProviderBuilder::link_by_verified_email`](super::ProviderBuilder::link_by_verified_email)).
    pub fn link_by_verified_email(&self) -> bool {
        self.link_by_verified_email
    }
    /// The audiences an access token of this provider must name (one of them) to be accepted;
    /// empty when the provider's access tokens are not accepted.
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }
    /// The parameters added to every authorization request of this provider (name, value).
    pub fn extra_auth_params(&self) -> &[(String, String)] {
        &self.extra_auth_params
    }
    /// The `max_age` (seconds) sent with every authorization request, if any.
    pub fn max_age_seconds(&self) -> Option<u64> {
        self.max_age
    }
}

/// `Keycloak Home` → `keycloak-home`.
pub(crate) fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-')
        .chars()
        .take(48)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// Returns (issuer, discovery URL). Accepts the issuer or its well-known URL.
fn parse_issuer(key: &str, value: &str) -> Result<(String, String), ConfigError> {
    let url = Url::parse(value)
        .map_err(|e| ConfigError::new(key, format!("`{value}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                key,
                "must use https (http is only allowed for loopback hosts)",
            ));
        }
        other => {
            return Err(ConfigError::new(
                key,
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
            key,
            "must not contain a query, fragment or credentials",
        ));
    }
    let issuer = match url.as_str().strip_suffix(WELL_KNOWN) {
        Some(issuer) => issuer.to_owned(),
        None => value.to_owned(),
    };
    let discovery_url = format!("{}{WELL_KNOWN}", normalized_issuer(&issuer));
    Ok((issuer, discovery_url))
}

pub(super) fn validate_logo(key: &str, logo: &str) -> Result<(), ConfigError> {
    const IMAGE_TYPES: &[&str] = &[
        "image/png",
        "image/svg+xml",
        "image/jpeg",
        "image/gif",
        "image/webp",
    ];
    if let Some(data) = logo.strip_prefix("data:") {
        let mime = data.split([';', ',']).next().unwrap_or("");
        if !IMAGE_TYPES.contains(&mime) || logo.len() > 64 * 1024 {
            return Err(ConfigError::new(
                key,
                "a data: logo must be a PNG, SVG, JPEG, GIF or WebP image under 64 KB",
            ));
        }
        return Ok(());
    }
    if logo.starts_with('/') && !logo.starts_with("//") {
        return Ok(());
    }
    match Url::parse(logo) {
        Ok(url)
            if url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(&url)) =>
        {
            Ok(())
        }
        _ => Err(ConfigError::new(
            key,
            "must be an https URL, a /path, or a data:image URL",
        )),
    }
}

impl RawProvider {
    /// Validates one provider; `at` names it in errors (`providers[1]` or empty at top level).
    pub(crate) fn validate(self, at: &str) -> Result<ProviderConfig, ConfigError> {
        let key = |k: &str| {
            if at.is_empty() {
                k.to_owned()
            } else {
                format!("{at}.{k}")
            }
        };
        let issuer = self
            .issuer
            .ok_or_else(|| ConfigError::new(&key("issuer"), "is required"))?;
        let (issuer, discovery_url) = parse_issuer(&key("issuer"), issuer.trim())?;
        let client_id = self.client_id.unwrap_or_default().trim().to_owned();
        if client_id.is_empty() {
            return Err(ConfigError::new(&key("client_id"), "is required"));
        }
        let (name, slug) = name_and_slug(&key("slug"), self.name, self.slug, &issuer)?;
        if let Some(logo) = &self.logo {
            validate_logo(&key("logo"), logo)?;
        }
        let scopes = validate_scopes(&key("scopes"), self.scopes)?;
        if let Some(template) = &self.end_session_url {
            validate_end_session_url(&key("end_session_url"), template)?;
        }
        let id_token_signing_algs = self
            .id_token_signing_algs
            .map(|algs| validate_signing_algs(&key("id_token_signing_algs"), algs))
            .transpose()?;
        let id_token_max_age = validate_id_token_max_age(
            &key("id_token_max_age_seconds"),
            self.id_token_max_age_seconds,
        )?;
        let api_audiences = validate_api_audiences(&key("api_audience"), self.api_audience)?;
        let introspection = self.introspection.unwrap_or(false);
        if introspection && api_audiences.is_empty() {
            return Err(ConfigError::new(
                &key("introspection"),
                "needs `api_audience`: introspected tokens must name this API in `aud`",
            ));
        }
        if introspection
            && self
                .client_secret
                .as_ref()
                .is_none_or(|s| s.expose().is_empty())
        {
            return Err(ConfigError::new(
                &key("introspection"),
                "needs `client_secret`: the introspection endpoint authenticates the app",
            ));
        }
        let extra_auth_params =
            validate_extra_auth_params(&key("extra_auth_params"), self.extra_auth_params)?;
        let max_age = validate_max_age(&key("max_age_seconds"), self.max_age_seconds)?;
        let role_map = self
            .roles
            .map(RoleMap::new)
            .transpose()
            .map_err(|e| ConfigError::new(&key("roles"), e.to_string()))?;
        Ok(ProviderConfig {
            name,
            slug,
            logo: self.logo,
            issuer,
            discovery_url,
            client_id,
            client_secret: self.client_secret.filter(|s| !s.expose().is_empty()),
            scopes,
            username_claim: ClaimPath::new(
                self.username_claim
                    .as_deref()
                    .unwrap_or("preferred_username"),
            ),
            groups_claim: ClaimPath::new(self.groups_claim.as_deref().unwrap_or("groups")),
            role_map,
            required_claims: self
                .required_claims
                .unwrap_or_default()
                .iter()
                .map(ClaimPath::new)
                .collect(),
            allow_new_users: self.allow_new_users.unwrap_or(true),
            link_by_verified_email: self.link_by_verified_email.unwrap_or(false),
            id_token_signing_algs,
            trusted_audiences: self.trusted_audiences.unwrap_or_default(),
            id_token_max_age,
            fetch_userinfo: self.fetch_userinfo.unwrap_or(true),
            end_session_url: self.end_session_url,
            api_audiences,
            legacy_access_token_typ: self.legacy_access_token_typ.unwrap_or(false),
            introspection,
            extra_auth_params,
            max_age,
        })
    }
}

/// The display name (default: the issuer's host) and the slug (default: from the name), which
/// must be URL-safe and not the app's own `local`.
fn name_and_slug(
    key: &str,
    name: Option<String>,
    slug: Option<String>,
    issuer: &str,
) -> Result<(String, String), ConfigError> {
    let name = match name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(name) => name,
        None => Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Sign-in".into()),
    };
    let slug = slug
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| slugify(&name));
    if slug.is_empty()
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ConfigError::new(
            key,
            format!("`{slug}` must be lowercase letters, digits and dashes"),
        ));
    }
    if slug == LOCAL_PROVIDER {
        // Sessions of the app's own login carry this provider; a provider of the same slug
        // would share their identities and account links.
        return Err(ConfigError::new(
            key,
            "`local` is reserved for the app's own login (`sign_in_local`); choose another slug",
        ));
    }
    Ok((name, slug))
}

/// The scopes (default `openid profile email`), `openid` first if missing, each a valid token.
fn validate_scopes(key: &str, scopes: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let mut scopes = scopes.unwrap_or_else(|| split_words("openid profile email"));
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    if let Some(bad) = scopes.iter().find(|s| {
        !s.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    }) {
        return Err(ConfigError::new(
            key,
            format!("`{bad}` is not a valid scope token"),
        ));
    }
    Ok(scopes)
}

/// The API audiences: each a non-empty string without whitespace, control characters or
/// quotes (they are compared with `aud` exactly).
fn validate_api_audiences(
    key: &str,
    audiences: Option<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    let audiences = audiences.unwrap_or_default();
    if let Some(bad) = audiences.iter().find(|a| {
        a.is_empty()
            || a.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    }) {
        return Err(ConfigError::new(
            key,
            format!("`{bad}` is not a valid audience"),
        ));
    }
    Ok(audiences)
}

/// The ID-token age limit: 10 minutes by default, 1 minute to 1 day.
fn validate_id_token_max_age(key: &str, seconds: Option<u64>) -> Result<Duration, ConfigError> {
    match seconds {
        None => Ok(DEFAULT_ID_TOKEN_MAX_AGE),
        Some(seconds @ 60..=86_400) => Ok(Duration::from_secs(seconds)),
        Some(_) => Err(ConfigError::new(
            key,
            "must be between 60 and 86400 seconds",
        )),
    }
}

/// The configured algorithms, spelled as the JWS registry does; at least one, each asymmetric.
fn validate_signing_algs(key: &str, algs: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if algs.is_empty() {
        return Err(ConfigError::new(key, "must name at least one algorithm"));
    }
    algs.into_iter()
        .map(|alg| {
            match SIGNING_ALGS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(&alg))
            {
                Some(known) => Ok((*known).to_owned()),
                None => Err(ConfigError::new(
                    key,
                    format!(
                        "`{alg}` is not accepted (one of {}; never `none` or HMAC)",
                        SIGNING_ALGS.join(", ")
                    ),
                )),
            }
        })
        .collect()
}

/// `template` (an end-session URL template) with its placeholders filled in: `{clientId}`,
/// `{idToken}` and `{postLogoutRedirectUri}` (the caller encodes the values). The one place that
/// knows the placeholders: validation, the logout page's CSP and the logout itself use it.
pub(crate) fn fill_end_session_url(
    template: &str,
    client_id: &str,
    id_token: &str,
    post_logout_redirect_uri: &str,
) -> String {
    template
        .replace("{clientId}", client_id)
        .replace("{idToken}", id_token)
        .replace("{postLogoutRedirectUri}", post_logout_redirect_uri)
}

/// An end-session template must be an https URL (http on loopback) once its placeholders are
/// filled, with no other `{...}`.
fn validate_end_session_url(key: &str, template: &str) -> Result<(), ConfigError> {
    let filled = fill_end_session_url(template, "x", "x", "x");
    if filled.contains(['{', '}']) {
        return Err(ConfigError::new(
            key,
            "knows only the placeholders {clientId}, {idToken} and {postLogoutRedirectUri}",
        ));
    }
    let url = Url::parse(&filled)
        .map_err(|e| ConfigError::new(key, format!("`{template}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        _ => Err(ConfigError::new(key, "must be an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Keycloak Home"), "keycloak-home");
        assert_eq!(slugify("  Entra ID (work)!"), "entra-id-work");
        assert_eq!(slugify("Ünïcode"), "n-code");
        assert_eq!(slugify("***"), "");
    }

    #[test]
    fn logos() {
        assert!(validate_logo("logo", "https://cdn.example.com/k.svg").is_ok());
        assert!(validate_logo("logo", "/static/k.png").is_ok());
        assert!(validate_logo("logo", "data:image/svg+xml;base64,PHN2Zy8+").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "//evil/x.png",
            "http://cdn.example.com/x.png",
        ] {
            assert!(validate_logo("logo", bad).is_err(), "{bad}");
        }
    }
}
