//! Who is asking: a person's browser navigating (send them to log in) or a program
//! (answer 401, never a redirect it cannot follow).

use http::{HeaderMap, Method, header};

/// Whether the request is a top-level browser navigation that may be redirected to the
/// provider. `Sec-Fetch-Mode` decides when the browser sends it; otherwise `X-Requested-With`
/// marks a script and `Accept: text/html` marks a page load.
pub(crate) fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes().eq_ignore_ascii_case(b"navigate")
            && headers.get("sec-fetch-dest").is_none_or(|d| {
                matches!(d.as_bytes(), b"document" | b"iframe" | b"frame" | b"empty")
            });
    }
    if headers.contains_key("x-requested-with") {
        return false;
    }
    wants_html(headers)
}

/// Whether an error should be shown as an HTML page (else problem+json).
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-mode")
        .is_some_and(|m| m.as_bytes().eq_ignore_ascii_case(b"navigate"))
    {
        return true;
    }
    if headers.contains_key("x-requested-with") {
        return false;
    }
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().to_ascii_lowercase().starts_with("text/html"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn navigation_rules() {
        let html = ("accept", "text/html,application/xhtml+xml");
        assert!(is_navigation(&Method::GET, &headers(&[html])));
        assert!(is_navigation(
            &Method::GET,
            &headers(&[
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "document")
            ])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[html, ("sec-fetch-mode", "cors")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[html, ("x-requested-with", "XMLHttpRequest")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", "application/json")])
        ));
        assert!(!is_navigation(&Method::GET, &headers(&[])));
        assert!(!is_navigation(
            &Method::POST,
            &headers(&[html, ("sec-fetch-mode", "navigate")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "image")])
        ));
    }

    #[test]
    fn html_for_errors() {
        assert!(wants_html(&headers(&[(
            "accept",
            "application/json, TEXT/HTML;q=0.9"
        )])));
        assert!(!wants_html(&headers(&[("accept", "*/*")])));
        assert!(wants_html(&headers(&[("sec-fetch-mode", "navigate")])));
    }
}
