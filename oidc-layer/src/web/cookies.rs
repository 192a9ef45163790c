//! Cookie names, flags and reading the `Cookie` header without allocating.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use session_store::SessionId;

/// Longest `cookie_name` accepted (cookie names are sent with every request).
pub(crate) const MAX_COOKIE_NAME: usize = 64;

/// The session cookie's name when `cookie_name` is not configured: `oidc_session_` and eight
/// hex digits of SHA-256 over the first provider's client id and the external URL.
///
/// Browsers scope cookies by host, not by port or path prefix, so two apps on one host (two
/// ports, or two prefixes of one origin, where `__Host-` cookies must all have `Path=/`)
/// would overwrite each other's session with one fixed name. Derived from the configuration,
/// the name differs between apps and is the same on every instance of one app.
pub(crate) fn default_cookie_name(client_id: &str, external_url: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::new()
        .chain_update(client_id.as_bytes())
        .chain_update([0])
        .chain_update(external_url.as_bytes())
        .finalize();
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("oidc_session_{tag}")
}

/// Whether `name` is an acceptable `cookie_name`: 1 to [`MAX_COOKIE_NAME`] ASCII letters,
/// digits and `_`. No `-`: the layer's other cookies are `{name}-attempt-...` and
/// `{name}-logout`, and without a `-` in any app's name, no app's cookie can be taken for
/// another app's on the same host.
pub(crate) fn is_valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_COOKIE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The names of the layer's cookies under one configuration: what to look for in a browser,
/// a test, or a reverse proxy's rules. See [`OidcConfig::cookie_names`](crate::OidcConfig::cookie_names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieNames {
    session: String,
    attempt_prefix: String,
    logout: String,
}

impl CookieNames {
    /// The session cookie (`__Host-` prefixed on https, `__Secure-` with a `cookie_domain`).
    pub fn session(&self) -> &str {
        &self.session
    }
    /// What the name of every login-attempt cookie starts with (the rest names the attempt).
    pub fn attempt_prefix(&self) -> &str {
        &self.attempt_prefix
    }
    /// The cookie holding the `state` of an RP-initiated logout in flight.
    pub fn logout(&self) -> &str {
        &self.logout
    }
    /// Whether `name` is one of this app's login-attempt cookies.
    pub fn is_attempt(&self, name: &str) -> bool {
        name.starts_with(&self.attempt_prefix)
    }
}

/// Names and flags of the layer's cookies, fixed by the configuration.
#[derive(Debug, Clone)]
pub(crate) struct CookieSettings {
    pub(crate) session_name: String,
    pub(crate) attempt_prefix: String,
    /// The `state` of an RP-initiated logout in flight, checked when the provider sends the
    /// browser back.
    pub(crate) logout_state_name: String,
    pub(crate) secure: bool,
    /// The session cookie's `Domain`: shared with the subdomains (single sign-on across
    /// apps). The other cookies are host-only: they belong to one app's login or logout.
    domain: Option<String>,
    /// The session cookie's `SameSite`; the other cookies are always `Lax`, since they must
    /// come back on the provider's cross-site redirect to the callback or the signed-out page.
    session_same_site: SameSite,
}

impl CookieSettings {
    /// The cookies of an app whose session cookie is `name` (a valid `cookie_name`):
    /// `__Host-` prefixed, `Secure` names when the app is served over https; plain names on
    /// http (loopback development), where browsers would refuse `Secure` cookies.
    pub(crate) fn new(name: &str, secure: bool) -> Self {
        let prefix = if secure { "__Host-" } else { "" };
        Self {
            session_name: format!("{prefix}{name}"),
            attempt_prefix: format!("{prefix}{name}-attempt-"),
            logout_state_name: format!("{prefix}{name}-logout"),
            secure,
            domain: None,
            session_same_site: SameSite::Lax,
        }
    }

    /// The session cookie with a `Domain` and a `SameSite` of its own. With a domain its
    /// name takes `__Secure-` on https: a `__Host-` cookie must not have a `Domain`.
    pub(crate) fn with_session_scope(
        mut self,
        domain: Option<String>,
        same_site: SameSite,
    ) -> Self {
        if domain.is_some() && self.secure {
            self.session_name = format!("__Secure-{}", &self.session_name["__Host-".len()..]);
        }
        self.domain = domain;
        self.session_same_site = same_site;
        self
    }

    /// Whether the session cookie is `SameSite=Strict`: the redirect after the provider's is
    /// then still cross-site, and the browser would not send the new session cookie on it.
    pub(crate) fn session_is_strict(&self) -> bool {
        self.session_same_site == SameSite::Strict
    }

    /// The session cookie carrying `value`: [`Self::build`]'s flags with the session's own
    /// `Domain` and `SameSite`.
    pub(crate) fn session(&self, value: String, max_age: Duration) -> Cookie<'static> {
        let mut cookie = self.build(self.session_name.clone(), value, max_age);
        cookie.set_same_site(self.session_same_site);
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    /// The `Set-Cookie` that removes the session cookie (same `Domain`, or the browser keeps
    /// the domain cookie).
    pub(crate) fn session_removal(&self) -> Cookie<'static> {
        let mut c = self.session(String::new(), Duration::ZERO);
        c.make_removal();
        c
    }

    /// The names, for the public [`CookieNames`].
    pub(crate) fn names(&self) -> CookieNames {
        CookieNames {
            session: self.session_name.clone(),
            attempt_prefix: self.attempt_prefix.clone(),
            logout: self.logout_state_name.clone(),
        }
    }

    /// A host-only cookie with the layer's flags: `Path=/` (a `__Host-` cookie must have it;
    /// the name, not the path, tells apps on one host apart), `HttpOnly`, `SameSite=Lax`,
    /// `Secure` on https.
    pub(crate) fn build(&self, name: String, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .build()
    }

    /// A `Set-Cookie` that removes `name`.
    pub(crate) fn removal(&self, name: String) -> Cookie<'static> {
        let mut c = self.build(name, String::new(), Duration::ZERO);
        c.make_removal();
        c
    }
}

/// Appends `Set-Cookie: cookie` to `headers` (cookies we build are always valid header values).
pub(crate) fn append_set_cookie(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    if let Ok(value) = http::HeaderValue::from_str(&cookie.to_string()) {
        headers.append(http::header::SET_COOKIE, value);
    }
}

/// Every `name=value` pair of the request's `Cookie` headers, borrowed from the headers.
///
/// Split on raw bytes: a pair that is not UTF-8 (any site on the same host can set one) is
/// skipped on its own instead of hiding every other cookie of the header.
pub(crate) fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            let (name, value) = pair.split_once('=')?;
            Some((name.trim(), value.trim().trim_matches('"')))
        })
}

/// The first value of cookie `name` that is UTF-8 (what [`request_cookies`] yields for it).
pub(crate) fn find<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    values(headers, name).find_map(|value| std::str::from_utf8(value).ok())
}

/// The session id in cookie `name`: the first value of that name that is one.
///
/// On the hot path (every request): bytes only. Names are compared as bytes, the other
/// cookies of the header cost a byte scan each, and the value goes to the id's decoder as it
/// is, which accepts only its own ASCII alphabet (no UTF-8 check needed).
pub(crate) fn session_id(headers: &HeaderMap, name: &str) -> Option<SessionId> {
    values(headers, name).find_map(SessionId::parse_bytes)
}

/// The values of the cookies named `name`, in header order, without the whitespace and
/// quotes around them (whitespace is the `Cookie` header's own: spaces and tabs).
fn values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h [u8]> {
    let name = name.as_bytes();
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(move |pair| {
            let rest = pair.trim_ascii_start().strip_prefix(name)?;
            let value = rest.trim_ascii_start().strip_prefix(b"=")?;
            Some(trim_quotes(value.trim_ascii()))
        })
}

fn trim_quotes(mut value: &[u8]) -> &[u8] {
    while let [b'"', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b'"'] = value {
        value = rest;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_across_headers_and_ignores_garbage() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=1; b = 2 ;junk; =x".parse().unwrap(),
        );
        h.append(
            http::header::COOKIE,
            "oidc_session=\"abc\"".parse().unwrap(),
        );
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(b"c=\xff").unwrap(),
        );
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(b"weird=\xff\xfe; d=4").unwrap(),
        );
        assert_eq!(find(&h, "a"), Some("1"));
        assert_eq!(find(&h, "b"), Some("2"));
        assert_eq!(find(&h, "oidc_session"), Some("abc"));
        assert_eq!(find(&h, "c"), None);
        assert_eq!(
            find(&h, "d"),
            Some("4"),
            "a non-UTF-8 pair must not hide its neighbours"
        );
        assert_eq!(find(&h, "junk"), None);
    }

    #[test]
    fn the_session_id_is_the_first_value_that_is_one() {
        let id = SessionId::generate().unwrap();
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(b"oidc_session=\xff\xfe; oidc_session=short").unwrap(),
        );
        assert_eq!(session_id(&h, "oidc_session"), None);
        h.append(
            http::header::COOKIE,
            format!("other=1; oidc_session = \"{}\" ", id.encode())
                .parse()
                .unwrap(),
        );
        assert_eq!(session_id(&h, "oidc_session"), Some(id));
        assert_eq!(session_id(&h, "oidc_sessio"), None);
    }

    #[test]
    fn every_cookie_name_is_host_prefixed_exactly_on_https() {
        // Browsers refuse `__Host-` and `Secure` cookies on plain http, so the loopback http
        // end-to-end suites (real browser included) only ever see the plain names.
        let https = CookieSettings::new("app", true);
        let http = CookieSettings::new("app", false);
        for (secure, plain) in [
            (&https.session_name, &http.session_name),
            (&https.attempt_prefix, &http.attempt_prefix),
            (&https.logout_state_name, &http.logout_state_name),
        ] {
            assert_eq!(secure, &format!("__Host-{plain}"));
            assert!(plain.starts_with("app"), "{plain}");
        }
        assert_eq!(
            (
                http.session_name.as_str(),
                http.attempt_prefix.as_str(),
                http.logout_state_name.as_str()
            ),
            ("app", "app-attempt-", "app-logout")
        );
        let removal = https.removal(https.logout_state_name.clone()).to_string();
        for flag in ["__Host-app-logout=", "Secure", "Path=/", "HttpOnly"] {
            assert!(removal.contains(flag), "{removal} lacks {flag}");
        }
    }

    #[test]
    fn default_names_differ_between_apps_of_one_host_and_not_between_instances() {
        let name = default_cookie_name;
        let a = name("app", "http://127.0.0.1:3000");
        assert!(is_valid_cookie_name(&a), "{a}");
        assert!(a.starts_with("oidc_session_") && a.len() == 21, "{a}");
        assert_eq!(a, name("app", "http://127.0.0.1:3000"), "every instance");
        for other in [
            name("app", "http://127.0.0.1:3001"),
            name("app", "http://127.0.0.1:3000/b"),
            name("other-app", "http://127.0.0.1:3000"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn no_app_takes_another_apps_cookie_for_its_own() {
        let names = [
            "app",
            "app_x",
            "app_attempt",
            "app_logout",
            "x",
            "oidc_session",
        ];
        for mine in names {
            let mine = CookieSettings::new(mine, false);
            for theirs in names.iter().filter(|t| **t != mine.session_name) {
                let theirs = CookieSettings::new(theirs, false);
                let attempt = format!("{}{}", theirs.attempt_prefix, "A".repeat(16));
                for cookie in [&theirs.session_name, &theirs.logout_state_name, &attempt] {
                    assert_ne!(cookie, &mine.session_name);
                    assert_ne!(cookie, &mine.logout_state_name);
                    assert!(!cookie.starts_with(&mine.attempt_prefix), "{cookie}");
                }
            }
        }
        for bad in [
            "",
            "a-b",
            "a b",
            "a;b",
            "ü",
            &"a".repeat(MAX_COOKIE_NAME + 1),
        ] {
            assert!(!is_valid_cookie_name(bad), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The hot path's `find` agrees with the general parser on any ASCII header.
        #[test]
        fn find_agrees_with_request_cookies(
            header in "[ a-c=;\"\t]{0,40}",
            name in "[a-c]{1,2}",
        ) {
            let mut h = HeaderMap::new();
            if let Ok(value) = http::HeaderValue::from_str(&header) {
                h.append(http::header::COOKIE, value);
            }
            let general = request_cookies(&h).find(|(n, _)| *n == name).map(|(_, v)| v);
            proptest::prop_assert_eq!(find(&h, &name), general);
        }
    }

    #[test]
    fn only_the_session_cookie_takes_the_domain_and_same_site() {
        let https = CookieSettings::new("sso", true)
            .with_session_scope(Some("example.com".into()), SameSite::None);
        assert_eq!(https.session_name, "__Secure-sso");
        assert_eq!(https.attempt_prefix, "__Host-sso-attempt-");
        assert_eq!(https.logout_state_name, "__Host-sso-logout");
        assert!(!https.session_is_strict());
        let session = https
            .session("v".into(), Duration::from_secs(60))
            .to_string();
        for flag in [
            "__Secure-sso=v",
            "Domain=example.com",
            "SameSite=None",
            "Secure",
        ] {
            assert!(session.contains(flag), "{session} lacks {flag}");
        }
        let logout = https
            .build(
                https.logout_state_name.clone(),
                "s".into(),
                Duration::from_secs(60),
            )
            .to_string();
        assert!(
            logout.contains("SameSite=Lax") && !logout.contains("Domain"),
            "{logout}"
        );
        // On http no prefix at all; a strict session without a domain stays host-only.
        let http = CookieSettings::new("sso", false).with_session_scope(None, SameSite::Strict);
        assert_eq!(http.session_name, "sso");
        assert!(http.session_is_strict());
        let session = http
            .session("v".into(), Duration::from_secs(60))
            .to_string();
        assert!(
            session.contains("SameSite=Strict") && !session.contains("Domain"),
            "{session}"
        );
        let removal = http.session_removal().to_string();
        assert!(
            removal.starts_with("sso=;") && removal.contains("Max-Age=0"),
            "{removal}"
        );
    }

    #[test]
    fn flags() {
        let s = CookieSettings::new("app", true);
        let c = s
            .build(s.session_name.clone(), "v".into(), Duration::from_secs(60))
            .to_string();
        assert!(c.starts_with("__Host-app=v"), "{c}");
        for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(c.contains(flag), "{c} lacks {flag}");
        }
        let insecure = CookieSettings::new("app", false);
        let c = insecure
            .build(
                insecure.session_name.clone(),
                "v".into(),
                Duration::from_secs(60),
            )
            .to_string();
        assert!(c.starts_with("app=v") && !c.contains("Secure"), "{c}");
    }
}
