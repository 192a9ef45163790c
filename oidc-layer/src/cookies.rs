//! Cookie names, flags and reading the `Cookie` header without allocating.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use session_store::SessionId;

/// Names and flags of the layer's cookies, fixed by the configuration.
#[derive(Debug, Clone)]
pub(crate) struct CookieSettings {
    pub(crate) session_name: String,
    pub(crate) attempt_prefix: String,
    /// The `state` of an RP-initiated logout in flight, checked when the provider sends the
    /// browser back.
    pub(crate) logout_state_name: String,
    pub(crate) secure: bool,
}

impl CookieSettings {
    /// `__Host-` prefixed, `Secure` names when the app is served over https; plain names on
    /// http (loopback development), where browsers would refuse `Secure` cookies.
    pub(crate) fn new(secure: bool) -> Self {
        let prefix = if secure { "__Host-" } else { "" };
        Self {
            session_name: format!("{prefix}oidc_session"),
            attempt_prefix: format!("{prefix}oidc_attempt_"),
            logout_state_name: format!("{prefix}oidc_logout"),
            secure,
        }
    }

    /// A cookie with the layer's flags: `Path=/`, `HttpOnly`, `SameSite=Lax`, `Secure` on https.
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
        let https = CookieSettings::new(true);
        let http = CookieSettings::new(false);
        for (secure, plain) in [
            (&https.session_name, &http.session_name),
            (&https.attempt_prefix, &http.attempt_prefix),
            (&https.logout_state_name, &http.logout_state_name),
        ] {
            assert_eq!(secure, &format!("__Host-{plain}"));
            assert!(!plain.starts_with("__"), "{plain}");
        }
        let removal = https.removal(https.logout_state_name.clone()).to_string();
        for flag in ["__Host-oidc_logout=", "Secure", "Path=/", "HttpOnly"] {
            assert!(removal.contains(flag), "{removal} lacks {flag}");
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
    fn flags() {
        let s = CookieSettings::new(true);
        let c = s
            .build(s.session_name.clone(), "v".into(), Duration::from_secs(60))
            .to_string();
        assert!(c.starts_with("__Host-oidc_session=v"), "{c}");
        for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(c.contains(flag), "{c} lacks {flag}");
        }
        let insecure = CookieSettings::new(false);
        let c = insecure
            .build(
                insecure.session_name.clone(),
                "v".into(),
                Duration::from_secs(60),
            )
            .to_string();
        assert!(
            c.starts_with("oidc_session=v") && !c.contains("Secure"),
            "{c}"
        );
    }
}
