//! The same-origin check ([`is_same_origin`]) guarding state-changing requests.

use http::{HeaderMap, header};

/// Whether a request with `headers` was sent by a page of `origin` (`https://app.example.com`:
/// scheme, host and port, as browsers write the `Origin` header; no trailing slash).
///
/// Both signals browsers send with a form post are checked when present, and at least one must
/// be: `Sec-Fetch-Site` must be `same-origin` (not `same-site`, which includes sibling hosts and
/// other ports), and `Origin` must equal `origin` exactly (no prefix or suffix match). A request
/// with neither header is refused: every browser that runs the app's pages sends at least one
/// of them on a POST.
///
/// `Origin: null` passes only beside `Sec-Fetch-Site: same-origin`: a page served with
/// `Referrer-Policy: no-referrer` (the layer's own pages are) makes browsers send `null` on its
/// form posts (Fetch, "append a request `Origin` header"), while `Sec-Fetch-Site`, which no
/// page can set, still says where the post came from.
///
/// This is the cross-site request forgery defence: the layer checks it on
/// `POST {prefix}/logout` and `POST {prefix}/link`; apps use it for their own forms (a local
/// login, an "unlink" button) through this function or
/// [`OidcLayer::is_same_origin`](crate::OidcLayer::is_same_origin).
///
/// ```
/// use http::HeaderMap;
/// use oidc_layer::is_same_origin;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("origin", "https://app.example.com".parse().unwrap());
/// headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
/// assert!(is_same_origin(&headers, "https://app.example.com"));
///
/// // A look-alike host, another port, or no header at all: refused.
/// headers.insert("origin", "https://evilapp.example.com".parse().unwrap());
/// assert!(!is_same_origin(&headers, "https://app.example.com"));
/// assert!(!is_same_origin(&HeaderMap::new(), "https://app.example.com"));
/// ```
pub fn is_same_origin(headers: &HeaderMap, origin: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site");
    let sent_origin = headers.get(header::ORIGIN);
    if fetch_site.is_none() && sent_origin.is_none() {
        return false;
    }
    let same_origin_fetch = fetch_site.map(|site| site.as_bytes() == b"same-origin");
    same_origin_fetch != Some(false)
        && sent_origin.is_none_or(|sent| {
            sent.as_bytes() == origin.as_bytes()
                || (sent.as_bytes() == b"null" && same_origin_fetch == Some(true))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "https://app.example.com";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("a valid header value"));
        }
        map
    }

    #[test]
    fn own_pages_pass() {
        for pairs in [
            &[("origin", APP), ("sec-fetch-site", "same-origin")][..],
            &[("origin", APP)][..],
            &[("sec-fetch-site", "same-origin")][..],
            // A form of a page with `Referrer-Policy: no-referrer` (the layer's logout page).
            &[("origin", "null"), ("sec-fetch-site", "same-origin")][..],
        ] {
            assert!(is_same_origin(&headers(pairs), APP), "{pairs:?}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for pairs in [
            &[][..],
            &[("sec-fetch-site", "same-site")][..],
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "none")][..],
            &[("origin", "https://app.example.com:8443")][..],
            &[("origin", "http://app.example.com")][..],
            &[("origin", "https://evilapp.example.com")][..],
            &[("origin", "https://app.example.com.evil.example")][..],
            &[("origin", "https://app.example.com/")][..],
            &[("origin", "null")][..],
            &[("origin", "")][..],
            // Both present: each must agree.
            &[("origin", APP), ("sec-fetch-site", "same-site")][..],
            &[("origin", "null"), ("sec-fetch-site", "same-site")][..],
            &[("origin", "null"), ("sec-fetch-site", "cross-site")][..],
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ][..],
        ] {
            assert!(!is_same_origin(&headers(pairs), APP), "{pairs:?}");
        }
    }
}
