//! The layer's own redirects.

use http::{HeaderValue, Response, StatusCode, header};

use crate::pages::PageBody;

/// `303 See Other` to a same-origin path, never cached, never leaking the callback URL.
pub(crate) fn redirect(path: &str) -> Response<PageBody> {
    let mut response = Response::new(PageBody::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(path) {
        h.insert(header::LOCATION, v);
    } else {
        h.insert(header::LOCATION, HeaderValue::from_static("/"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Where a finished login sends the browser: the return-to `path` (same-origin).
///
/// With a `SameSite=Strict` session cookie (`same_site_hop`) a redirect is not enough: the
/// browser treats the whole redirect chain that began at the provider as cross-site and would
/// not send the new session cookie on the request for `path`, so the person would look signed
/// out right after signing in. The answer is then a small page that moves on by itself
/// (`<meta http-equiv="refresh">`, allowed by the pages' script-free CSP, with a link for
/// browsers that do not follow it): a navigation this origin's page starts is same-site.
pub(crate) fn after_login(path: &str, same_site_hop: bool) -> Response<PageBody> {
    if !same_site_hop {
        return redirect(path);
    }
    let refresh = format!("0;url={path}");
    let body = maud::html! {
        meta http-equiv="refresh" content=(refresh);
        h1 { "Signed in" }
        p { "Continuing to the app…" }
        div class="actions" { a class="button" id="continue" href=(path) { "Continue" } }
    };
    crate::pages::html_response(StatusCode::OK, crate::pages::page("Signed in", body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_strict_session_lands_through_a_page_of_this_origin() {
        let plain = after_login("/a?b=1&c=<x>", false);
        assert_eq!(plain.status(), StatusCode::SEE_OTHER);

        let hop = after_login("/a?b=1&c=\"x\"", true);
        assert_eq!(hop.status(), StatusCode::OK);
        assert!(hop.headers().get(header::LOCATION).is_none());
        assert_eq!(hop.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(hop.headers()[header::REFERRER_POLICY], "no-referrer");
        let csp = hop.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        let body = hop.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        // The path is escaped in both attributes (a `"` cannot end them).
        assert!(
            body.contains(
                r#"<meta http-equiv="refresh" content="0;url=/a?b=1&amp;c=&quot;x&quot;">"#
            ),
            "{body}"
        );
        assert!(
            body.contains(r#"href="/a?b=1&amp;c=&quot;x&quot;""#),
            "{body}"
        );
        assert!(!body.contains("<script"), "{body}");
    }
}
