//! Configuration in code: [`OidcConfigBuilder`] for the app and its first provider,
//! [`ProviderBuilder`] for more providers. Both fill the raw settings that TOML and the
//! environment fill, and `build` ends in the same validation.

use std::time::Duration;

use super::branding::BrandingConfig;
use super::provider::RawProvider;
use super::raw::RawGlobal;
use super::secret::Secret;
use super::{BearerPaths, ConfigError, OidcConfig, RefreshFailure};
use crate::roles::RoleMapConfig;

/// Builds an [`OidcConfig`] in code, from [`OidcConfig::builder`]. The provider setters
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
    /// Paths of an API: without a session they always get `401`, never a redirect to the
    /// provider, even for a browser navigation: problem+json, or an HTML page with a sign-in
    /// link when the client asks for HTML (exact `/api/me` or prefix `/api/*`).
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
    /// Shares the session cookie with every subdomain of `domain` (`Domain=example.com`): single
    /// sign-on across apps at `a.example.com` and `b.example.com`. The external URL's host must
    /// be `domain` or one of its subdomains; the name then takes `__Secure-` instead of
    /// `__Host-` on https, and [`cookie_name`](Self::cookie_name) is required (every app
    /// sharing the session uses the same). The apps must also share the session store. The
    /// login-attempt and logout cookies stay host-only.
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.global.cookie_domain = Some(domain.into());
        self
    }
    /// The session cookie's `SameSite` (default [`Lax`](crate::CookieSameSite::Lax));
    /// [`None`](crate::CookieSameSite::None) needs an https external URL.
    pub fn cookie_same_site(mut self, same_site: super::CookieSameSite) -> Self {
        self.global.cookie_same_site = Some(same_site.as_str().to_owned());
        self
    }
    /// Whether the reverse proxy passes the external URL's path prefix on to the app (default
    /// `false`: the proxy strips it). With `true` and an external URL
    /// `https://example.com/app`, the app receives `/app/...` and the layer answers its routes
    /// at `/app/auth/...`; paths in the configuration stay relative to the external URL.
    pub fn proxy_keeps_prefix(mut self, keeps: bool) -> Self {
        self.global.proxy_keeps_prefix = Some(keeps);
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
    /// The largest app data (see [`AppSession`](crate::AppSession)) a session keeps, in bytes
    /// of JSON (default 8 KiB, between 64 bytes and 1 MiB): a larger value is refused, by
    /// [`AppSession::set`](crate::AppSession::set) or as a failed login when the after-login
    /// hook adds it. Every request of the session loads it from the store.
    pub fn app_data_max_bytes(mut self, bytes: usize) -> Self {
        self.global.app_data_max_bytes = Some(u64::try_from(bytes).unwrap_or(u64::MAX));
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

    /// Where an `Authorization: Bearer` (or `DPoP`) header authenticates a request: only on
    /// [`api_paths`](Self::api_paths) (the default) or on every path. Tokens are accepted only
    /// when a provider has an [`api_audience`](Self::api_audience).
    pub fn bearer_paths(mut self, paths: BearerPaths) -> Self {
        self.global.bearer_paths = Some(paths);
        self
    }
    /// How long an active introspection result is reused at most (default 60 s, at most 1 h;
    /// never past the token's `exp`). Inactive results are reused for 10 s.
    pub fn introspection_cache(mut self, ttl: Duration) -> Self {
        self.global.introspection_cache_seconds = Some(ttl.as_secs());
        self
    }

    /// Tries a silent sign-in (`prompt=none`) once per browser session when a browser
    /// navigates to a public path without a session: a user with a session at the provider
    /// comes back signed in, anyone else comes back to the page unauthenticated, without an
    /// error (default `false`).
    pub fn silent_login(mut self, silent: bool) -> Self {
        self.global.silent_login = Some(silent);
        self
    }
    /// The provider (slug) silent sign-in asks (default: the first provider).
    pub fn silent_login_provider(mut self, slug: impl Into<String>) -> Self {
        self.global.silent_login_provider = Some(slug.into());
        self
    }
    /// The app's name, logo and colours on the layer's pages (default: the layer's own look).
    pub fn branding(mut self, branding: BrandingConfig) -> Self {
        self.global.branding = Some(branding);
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

/// One provider, configured in code; add it with
/// [`OidcConfigBuilder::provider`].
///
/// ```
/// use oidc_layer::{OidcConfig, ProviderBuilder};
///
/// let config = OidcConfig::builder()
///     .external_url("https://app.example.com")
///     .provider(ProviderBuilder::new("Keycloak").issuer("https://kc.example.com/realms/home").client_id("app"))
///     .provider(ProviderBuilder::new("Google").issuer("https://accounts.google.com").client_id("123.apps"))
///     .build()
///     .expect("valid");
/// assert_eq!(config.providers()[1].slug(), "google");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProviderBuilder {
    raw: RawProvider,
}

macro_rules! provider_setters {
    ($($(#[$doc:meta])* fn $name:ident($arg:ident: $ty:ty) => $field:ident = $value:expr;)*) => {
        impl ProviderBuilder {
            $($(#[$doc])* pub fn $name(mut self, $arg: $ty) -> Self { self.raw.$field = Some($value); self })*
        }
        impl OidcConfigBuilder {
            $($(#[$doc])* #[doc = ""] #[doc = "Sets it on the first provider (the single-provider shortcut)."]
            pub fn $name(mut self, $arg: $ty) -> Self { self.primary.raw.$field = Some($value); self })*
        }
    };
}

provider_setters! {
    /// The name shown to users (chooser page, refusal pages; default: the issuer's host).
    fn name(name: impl Into<String>) => name = name.into();
    /// The provider's issuer URL, or its `/.well-known/openid-configuration` URL.
    fn issuer(issuer: impl Into<String>) => issuer = issuer.into();
    /// The client id registered at the provider.
    fn client_id(client_id: impl Into<String>) => client_id = client_id.into();
    /// The client secret (confidential clients).
    fn client_secret(secret: impl Into<String>) => client_secret = Secret::new(secret);
    /// Scopes to request (default `openid profile email`; `openid` is always added).
    fn scopes(scopes: impl IntoIterator<Item = impl Into<String>>) => scopes = scopes.into_iter().map(Into::into).collect();
    /// The URL-safe id (default: derived from the name).
    fn slug(slug: impl Into<String>) => slug = slug.into();
    /// A logo for the chooser page: an https URL, a `/path`, or a `data:image/...` URL.
    fn logo(logo: impl Into<String>) => logo = logo.into();
    /// The claim holding the login name (default `preferred_username`, falling back to `sub`).
    fn username_claim(claim: impl Into<String>) => username_claim = claim.into();
    /// The claim holding the user's groups: a name (`groups`), a path (`realm_access/roles`) or a
    /// URN/URL claim name (default `groups`).
    fn groups_claim(claim: impl Into<String>) => groups_claim = claim.into();
    /// How groups become the app's roles.
    fn roles(roles: RoleMapConfig) => roles = roles;
    /// Claims that must be the JSON boolean `true` for a login to be accepted.
    fn required_claims(claims: impl IntoIterator<Item = impl Into<String>>) => required_claims = claims.into_iter().map(Into::into).collect();
    /// Whether a first login may create a new account (default `true`).
    fn allow_new_users(allow: bool) => allow_new_users = allow;
    /// Whether a first sign-in links to the one existing account with the same email when this
    /// provider says it is verified (default `false`). Turn it on only for providers whose
    /// users cannot choose their email address: at a provider with open sign-up, a "trust
    /// email" setting or an editable email mapper, anyone can claim someone else's address and
    /// be linked into their account. Accounts with a local login are never linked this way.
    /// With it off, such a sign-in is refused with a page asking the person to sign in to the
    /// account and link this provider from there.
    fn link_by_verified_email(link: bool) => link_by_verified_email = link;
    /// The algorithms ID tokens and logout tokens may be signed with (default: RS256 when the
    /// provider advertises it, the OpenID default, else the asymmetric ones it advertises).
    /// `none` and HMAC algorithms are never accepted.
    fn id_token_signing_algs(algs: impl IntoIterator<Item = impl Into<String>>) => id_token_signing_algs = algs.into_iter().map(Into::into).collect();
    /// Audiences an ID token may name besides this client (Zitadel adds its project id); such a
    /// token must also name the client in `azp`. Default: none.
    fn trusted_audiences(audiences: impl IntoIterator<Item = impl Into<String>>) => trusted_audiences = audiences.into_iter().map(Into::into).collect();
    /// How old (by `iat`) an ID token may be when it arrives (default 10 minutes; 1 minute to
    /// 1 day).
    fn id_token_max_age(age: Duration) => id_token_max_age_seconds = age.as_secs();
    /// Whether to fetch userinfo at login and merge its claims over the ID token's (default `true`).
    fn fetch_userinfo(fetch: bool) => fetch_userinfo = fetch;
    /// The provider's logout URL when discovery has none or the wrong one, with `{clientId}`,
    /// `{idToken}` and `{postLogoutRedirectUri}` placeholders (filled URL-encoded), e.g. Auth0:
    /// `https://tenant.auth0.com/v2/logout?client_id={clientId}&returnTo={postLogoutRedirectUri}`.
    fn end_session_url(template: impl Into<String>) => end_session_url = template.into();
    /// Accepts this provider's access tokens naming `audience` in `aud` (RFC 9068): requests
    /// with `Authorization: Bearer` are then authenticated by the token. Unset (the default):
    /// the provider's access tokens are not accepted.
    fn api_audience(audience: impl Into<String>) => api_audience = vec![audience.into()];
    /// Like [`api_audience`](Self::api_audience) with several audiences (a token must name one).
    fn api_audiences(audiences: impl IntoIterator<Item = impl Into<String>>) => api_audience = audiences.into_iter().map(Into::into).collect();
    /// Also accepts JWT access tokens typed `JWT` or untyped (Keycloak, Auth0, Entra ID,
    /// Authentik); by default only `at+jwt` (RFC 9068 section 2.1) is.
    fn legacy_access_token_typ(accept: bool) => legacy_access_token_typ = accept;
    /// Checks opaque (non-JWT) access tokens at the provider's introspection endpoint (RFC 7662)
    /// with the client's credentials (needs `client_secret` and `api_audience`; one provider
    /// at most).
    fn introspection(introspect: bool) => introspection = introspect;
    /// Parameters added to every authorization request of this provider, e.g. Auth0's
    /// `audience`, RFC 8707 `resource`, `acr_values` or `ui_locales` (at most 16). Names the
    /// layer sets itself (`state`, `redirect_uri`, `prompt`, `max_age`, `login_hint`, ...) are
    /// refused.
    fn extra_auth_params(params: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) => extra_auth_params = params.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    /// Sends `max_age` (whole seconds) with every authorization request: the provider must
    /// authenticate users who signed in there longer ago, and a login whose ID token lacks
    /// `auth_time` or has an older one is refused (default: none).
    fn max_age(age: Duration) => max_age_seconds = age.as_secs();
}

impl ProviderBuilder {
    /// A provider shown as `name` (its slug is derived from it unless set).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            raw: RawProvider {
                name: Some(name.into()),
                ..RawProvider::default()
            },
        }
    }
}
