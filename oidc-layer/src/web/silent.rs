//! The silent sign-in marker: a browser-session cookie (no `Max-Age`, gone when the browser
//! closes) saying that a silent sign-in (`prompt=none`) was tried, or that the user signed
//! out, so public pages redirect to the provider at most once per browser session.
//!
//! It holds no secret: a browser that removes it gets one more silent attempt, nothing else.

use cookie::Cookie;
use http::HeaderMap;

use super::cookies::{CookieSettings, find};

/// `{session cookie}-silent`.
pub(crate) fn marker_name(settings: &CookieSettings) -> String {
    format!("{}-silent", settings.session_name)
}

/// Whether the request carries the marker.
pub(crate) fn has_marker(headers: &HeaderMap, settings: &CookieSettings) -> bool {
    find(headers, &marker_name(settings)).is_some()
}

/// The `Set-Cookie` of the marker: the layer's flags, without `Max-Age` (a session cookie).
pub(crate) fn marker(settings: &CookieSettings) -> Cookie<'static> {
    let mut cookie = settings.build(
        marker_name(settings),
        "1".to_owned(),
        std::time::Duration::ZERO,
    );
    cookie.set_max_age(None);
    cookie.unset_expires();
    cookie
}

/// The `Set-Cookie` removing the marker.
pub(crate) fn marker_removal(settings: &CookieSettings) -> Cookie<'static> {
    settings.removal(marker_name(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_a_browser_session_cookie_named_after_the_session() {
        let settings = CookieSettings::new("app", true);
        let set = marker(&settings).to_string();
        assert!(set.starts_with("__Host-app-silent=1"), "{set}");
        for flag in ["HttpOnly", "Secure", "Path=/", "SameSite=Lax"] {
            assert!(set.contains(flag), "{set}");
        }
        assert!(
            !set.contains("Max-Age") && !set.contains("Expires"),
            "{set}"
        );
        let removal = marker_removal(&settings).to_string();
        assert!(removal.contains("Max-Age=0"), "{removal}");
        let mut headers = HeaderMap::new();
        assert!(!has_marker(&headers, &settings));
        headers.insert(
            http::header::COOKIE,
            "a=b; __Host-app-silent=1".parse().unwrap(),
        );
        assert!(has_marker(&headers, &settings));
    }
}
