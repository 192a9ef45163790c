//! The cookie settings beyond the name: `cookie_domain` (a session shared across subdomains)
//! and `cookie_same_site`, checked against the external URL.

use serde::Deserialize;

use super::{ConfigError, ExternalUrl};

/// The `SameSite` attribute of the session cookie (`cookie_same_site`). The login-attempt and
/// logout-state cookies are always `Lax`: they must come back on the provider's cross-site
/// redirect to the callback and to the signed-out page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CookieSameSite {
    /// Sent on top-level navigations from other sites (following a link to the app), not on
    /// their subrequests or form posts (the default).
    #[default]
    Lax,
    /// Never sent on a request another site started, not even a link to the app: a visitor
    /// arriving from another site is signed in again (at the provider, usually without a
    /// prompt). After login the callback answers with a page that moves on to the return-to
    /// path itself, since the redirect that follows the provider's is still cross-site.
    Strict,
    /// Sent on every request, also those other sites embed (iframes, `fetch` with
    /// credentials); needs `Secure`, so an https external URL. Browsers that block
    /// third-party cookies still do.
    None,
}

impl CookieSameSite {
    /// The name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "lax",
            Self::Strict => "strict",
            Self::None => "none",
        }
    }

    /// The attribute for the `cookie` crate.
    pub(crate) fn attribute(self) -> cookie::SameSite {
        match self {
            Self::Lax => cookie::SameSite::Lax,
            Self::Strict => cookie::SameSite::Strict,
            Self::None => cookie::SameSite::None,
        }
    }
}

/// `lax`, `strict` or `none` (any case), as `cookie_same_site` is written.
impl std::str::FromStr for CookieSameSite {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "lax" => Ok(Self::Lax),
            "strict" => Ok(Self::Strict),
            "none" => Ok(Self::None),
            _ => Err(ConfigError::new(
                "cookie_same_site",
                "must be `lax`, `strict` or `none`",
            )),
        }
    }
}

/// `cookie_same_site` as written; `none` needs https.
pub(super) fn validate_same_site(
    value: Option<&str>,
    external: &ExternalUrl,
) -> Result<CookieSameSite, ConfigError> {
    let Some(value) = value else {
        return Ok(CookieSameSite::default());
    };
    let same_site: CookieSameSite = value.parse()?;
    if same_site == CookieSameSite::None && !external.secure {
        // Browsers drop a `SameSite=None` cookie that is not `Secure`.
        return Err(ConfigError::new(
            "cookie_same_site",
            "`none` needs Secure cookies: the external_url must use https",
        ));
    }
    Ok(same_site)
}

/// `cookie_domain` as the `Domain` attribute will carry it: lower-case ASCII (international
/// names in their `xn--` form), no leading dot, and a domain the external URL's host
/// domain-matches (RFC 6265bis 5.1.3: the host is the domain or one of its subdomains).
///
/// Refused: IP addresses (a domain cookie needs a name), and names of a single label (`com`,
/// `localhost`). Browsers also refuse a `Domain` that is a public suffix (`co.uk`,
/// `github.io`); the layer has no copy of the public suffix list, so such a name is not
/// caught here: the browser would drop the cookie and nobody could sign in.
pub(super) fn validate_domain(
    value: Option<&str>,
    external: &ExternalUrl,
) -> Result<Option<String>, ConfigError> {
    const KEY: &str = "cookie_domain";
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    // A leading dot is how older specifications wrote it; browsers ignore it.
    let written = value.strip_prefix('.').unwrap_or(value);
    if written.ends_with('.') {
        return Err(ConfigError::new(
            KEY,
            format!("`{value}` must be a domain name like `example.com`"),
        ));
    }
    let domain = match url::Host::parse(written) {
        Ok(url::Host::Domain(domain)) => domain,
        Ok(_) => {
            return Err(ConfigError::new(
                KEY,
                format!("`{value}` is an IP address; a cookie domain must be a name"),
            ));
        }
        Err(e) => {
            return Err(ConfigError::new(
                KEY,
                format!("`{value}` is not a domain name: {e}"),
            ));
        }
    };
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok || domain.len() > 253 {
        return Err(ConfigError::new(
            KEY,
            format!("`{value}` is not a domain name"),
        ));
    }
    if !domain.contains('.') {
        return Err(ConfigError::new(
            KEY,
            format!(
                "`{value}` has a single label; browsers refuse cookies for a top-level domain (use e.g. `example.com`)"
            ),
        ));
    }
    let host = external.host.as_str();
    let matches = host == domain
        || host
            .strip_suffix(domain.as_str())
            .is_some_and(|rest| rest.ends_with('.'));
    if !matches {
        return Err(ConfigError::new(
            KEY,
            format!("`{domain}` must be the external_url's host `{host}` or a parent domain of it"),
        ));
    }
    Ok(Some(domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(url: &str) -> ExternalUrl {
        crate::config::test_base()
            .external_url(url)
            .allow_insecure_http(true)
            .build()
            .expect("a valid external URL")
            .external
    }

    #[test]
    fn domains_the_external_host_matches_are_kept_in_their_ascii_form() {
        let app = external("https://app.eu.example.com:8443/x");
        for (written, kept) in [
            ("example.com", "example.com"),
            (".example.com", "example.com"),
            ("EU.Example.COM", "eu.example.com"),
            (" app.eu.example.com ", "app.eu.example.com"),
        ] {
            assert_eq!(
                validate_domain(Some(written), &app).unwrap().as_deref(),
                Some(kept),
                "{written}"
            );
        }
        let idn = external("https://app.bücher.example");
        assert_eq!(
            validate_domain(Some("Bücher.example"), &idn)
                .unwrap()
                .as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(validate_domain(None, &app).unwrap(), None);
        assert_eq!(validate_domain(Some(""), &app).unwrap(), None);
    }

    #[test]
    fn other_domains_addresses_and_single_labels_are_refused_naming_the_key() {
        let app = external("https://app.example.com");
        for bad in [
            "com",
            ".com",
            "other.com",
            "ample.com",
            "pp.example.com",
            "x.app.example.com",
            "example.com.",
            "..example.com",
            "exa mple.com",
            "example.com:443",
            "https://example.com",
            "-bad.example.com",
            "a_b.example.com",
        ] {
            let err = validate_domain(Some(bad), &app).unwrap_err();
            assert_eq!(err.key, "cookie_domain", "{bad}");
        }
        let by_ip = external("http://127.0.0.1:3000");
        for bad in ["127.0.0.1", "[::1]"] {
            let err = validate_domain(Some(bad), &by_ip).unwrap_err();
            assert_eq!(err.key, "cookie_domain");
            assert!(err.reason.contains("IP address"), "{}", err.reason);
        }
        let local = external("http://a.localhost:3000");
        let err = validate_domain(Some("localhost"), &local).unwrap_err();
        assert!(err.reason.contains("single label"), "{}", err.reason);
    }

    #[test]
    fn same_site_none_needs_https() {
        let https = external("https://app.example.com");
        let http = external("http://127.0.0.1:3000");
        for (written, expected) in [
            (None, CookieSameSite::Lax),
            (Some("lax"), CookieSameSite::Lax),
            (Some("Strict"), CookieSameSite::Strict),
            (Some(" NONE "), CookieSameSite::None),
        ] {
            assert_eq!(validate_same_site(written, &https).unwrap(), expected);
        }
        assert_eq!(
            validate_same_site(Some("strict"), &http).unwrap(),
            CookieSameSite::Strict
        );
        for (bad, on) in [("none", &http), ("relaxed", &https), ("", &https)] {
            let err = validate_same_site(Some(bad), on).unwrap_err();
            assert_eq!(err.key, "cookie_same_site", "{bad}");
        }
    }

    #[test]
    fn a_shared_session_cookie_is_secure_prefixed_with_its_domain_and_same_site() {
        let base = || crate::config::test_base().external_url("https://a.example.com/app");
        let shared = base()
            .cookie_name("sso")
            .cookie_domain("Example.com")
            .cookie_same_site(CookieSameSite::Strict)
            .build()
            .unwrap();
        assert_eq!(shared.cookie_domain(), Some("example.com"));
        assert_eq!(shared.cookie_same_site(), CookieSameSite::Strict);
        let names = shared.cookie_names();
        // A `__Host-` cookie must not carry a Domain; the host-only ones keep it.
        assert_eq!(
            (names.session(), names.attempt_prefix(), names.logout()),
            ("__Secure-sso", "__Host-sso-attempt-", "__Host-sso-logout")
        );
        let settings = shared.cookie_settings();
        let session = settings
            .session("v".into(), std::time::Duration::from_secs(60))
            .to_string();
        for flag in [
            "__Secure-sso=v",
            "Domain=example.com",
            "SameSite=Strict",
            "Secure",
            "HttpOnly",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(session.contains(flag), "{session} lacks {flag}");
        }
        let removal = settings.session_removal().to_string();
        for flag in ["__Secure-sso=", "Domain=example.com", "Max-Age=0"] {
            assert!(removal.contains(flag), "{removal} lacks {flag}");
        }
        // The attempt and logout cookies: host-only and Lax whatever the session's settings.
        let attempt = settings
            .build(
                names.logout().to_owned(),
                "s".into(),
                std::time::Duration::from_secs(60),
            )
            .to_string();
        assert!(
            attempt.contains("SameSite=Lax") && !attempt.contains("Domain"),
            "{attempt}"
        );

        // Without a domain: `__Host-`, host-only; the default SameSite is Lax.
        let plain = base().build().unwrap();
        let cookie = plain
            .cookie_settings()
            .session("v".into(), std::time::Duration::from_secs(60))
            .to_string();
        assert!(cookie.starts_with("__Host-oidc_session_"), "{cookie}");
        assert!(
            cookie.contains("SameSite=Lax") && !cookie.contains("Domain"),
            "{cookie}"
        );

        // On loopback http: no prefix, no Secure, the domain still set.
        let local = crate::config::test_base()
            .external_url("http://a.example.test:3000")
            .allow_insecure_http(true)
            .cookie_name("sso")
            .cookie_domain("example.test")
            .build()
            .unwrap();
        let cookie = local
            .cookie_settings()
            .session("v".into(), std::time::Duration::from_secs(60))
            .to_string();
        assert!(
            cookie.starts_with("sso=v") && !cookie.contains("Secure"),
            "{cookie}"
        );
        assert!(cookie.contains("Domain=example.test"), "{cookie}");
    }

    #[test]
    fn a_domain_needs_a_name_every_app_shares() {
        let err = crate::config::test_base()
            .cookie_domain("example.com")
            .build()
            .unwrap_err();
        assert_eq!(err.key, "cookie_name");
        assert!(err.reason.contains("cookie_domain"), "{}", err.reason);
        let err = crate::config::test_base()
            .cookie_name("sso")
            .cookie_domain("example.org")
            .build()
            .unwrap_err();
        assert_eq!(err.key, "cookie_domain");
        let err = crate::config::test_base()
            .external_url("http://127.0.0.1:3000")
            .cookie_same_site(CookieSameSite::None)
            .build()
            .unwrap_err();
        assert_eq!(err.key, "cookie_same_site");
    }

    #[cfg(feature = "toml")]
    #[test]
    fn toml_and_environment_spell_the_same_settings() {
        let toml = crate::OidcConfig::from_toml_str(
            r#"
            issuer = "https://id.example.com"
            client_id = "app"
            external_url = "https://a.example.com/app"
            cookie_name = "sso"
            cookie_domain = "example.com"
            cookie_same_site = "none"
            proxy_keeps_prefix = true
            "#,
        )
        .unwrap();
        let env = crate::OidcConfig::from_vars(
            "OIDC_",
            [
                ("OIDC_ISSUER", "https://id.example.com"),
                ("OIDC_CLIENT_ID", "app"),
                ("OIDC_EXTERNAL_URL", "https://a.example.com/app"),
                ("OIDC_COOKIE_NAME", "sso"),
                ("OIDC_COOKIE_DOMAIN", "example.com"),
                ("OIDC_COOKIE_SAME_SITE", "none"),
                ("OIDC_PROXY_KEEPS_PREFIX", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        for config in [toml, env] {
            assert_eq!(config.cookie_domain(), Some("example.com"));
            assert_eq!(config.cookie_same_site(), CookieSameSite::None);
            assert!(config.proxy_keeps_prefix());
        }
        let err = crate::OidcConfig::from_toml_str(
            "issuer = 'https://id.example.com'\nclient_id = 'a'\nexternal_url = 'https://a.example.com'\ncookie_same_site = 'loose'",
        )
        .unwrap_err();
        assert_eq!(err.key, "cookie_same_site");
    }
}
