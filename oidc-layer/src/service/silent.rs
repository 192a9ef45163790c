//! Silent sign-in on public pages (`silent_login`): a browser that navigates to a public page
//! without a session is sent once per browser session to the provider with `prompt=none`. A
//! user with a session there comes back signed in; anyone else comes back to the page,
//! unauthenticated, without an error (see `flows::callback::verify`). Like
//! express-openid-connect's `attemptSilentLogin`.
//!
//! Never for programs (only a top-level GET navigation of a document), never for API paths,
//! the layer's own routes or the backup login, never twice in a browser session (the marker cookie, also set at logout).

use http::request::Parts;
use http::{HeaderMap, Method, Response};

use crate::flows::authorize;
use crate::pages::PageBody;
use crate::state::Shared;
use crate::web::cookies::append_set_cookie;
use crate::web::{negotiate, return_to, silent};

/// Whether this request to a public path (without a session) gets a silent sign-in attempt.
fn wanted(shared: &Shared, request: &Parts) -> Option<usize> {
    let index = shared.config.silent_login?;
    let headers = &request.headers;
    let document = headers
        .get("sec-fetch-dest")
        .is_none_or(|d| d.as_bytes().eq_ignore_ascii_case(b"document"));
    let path = request.uri.path();
    let backup = shared
        .config
        .backup_login_path
        .as_deref()
        .and_then(|p| p.split(['?', '#']).next());
    (request.method == Method::GET
        && document
        && negotiate::is_navigation(&request.method, headers)
        && !shared.config.is_api_path(path)
        && !path.starts_with(&shared.routes.prefix)
        && backup != Some(path)
        && !silent::has_marker(headers, &shared.cookies))
    .then_some(index)
}

/// What a request to a public path without a session gets.
pub(crate) enum Silent {
    /// The redirect to the provider, with the marker set.
    Redirect(Response<PageBody>),
    /// No attempt: serve the page.
    NotWanted,
    /// An attempt that could not start (provider or store unavailable): serve the page and set
    /// the marker on it ([`mark`]), so the next pages do not try again.
    NotStarted,
}

/// Tries a silent sign-in for this request.
pub(crate) async fn attempt(shared: &Shared, request: &Parts) -> Silent {
    let Some(index) = wanted(shared, request) else {
        return Silent::NotWanted;
    };
    let path_and_query = request.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let return_to = return_to::sanitize(path_and_query).unwrap_or_else(|| "/".to_owned());
    match authorize::start_silent(shared, index, &request.headers, return_to).await {
        Some(mut response) => {
            mark(shared, response.headers_mut());
            Silent::Redirect(response)
        }
        None => Silent::NotStarted,
    }
}

/// Sets the marker: no silent sign-in for the rest of this browser session.
pub(crate) fn mark(shared: &Shared, headers: &mut HeaderMap) {
    append_set_cookie(headers, &silent::marker(&shared.cookies));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OidcLayer;
    use crate::config::test_base;

    fn parts(method: Method, path: &str, headers: &[(&'static str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    const NAVIGATE: &[(&str, &str)] = &[
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
        ("accept", "text/html"),
    ];

    #[test]
    fn only_a_first_document_navigation_outside_apis_gets_one() {
        let config = test_base()
            .silent_login(true)
            .public_paths(["/", "/api/*", "/break-glass", "/auth/*"])
            .api_paths(["/api/*"])
            .backup_login_path("/break-glass")
            .build()
            .unwrap();
        let shared = OidcLayer::new(config).current();
        assert_eq!(wanted(&shared, &parts(Method::GET, "/", NAVIGATE)), Some(0));
        let refused = [
            parts(Method::POST, "/", NAVIGATE),
            parts(Method::HEAD, "/", NAVIGATE),
            parts(Method::GET, "/api/me", NAVIGATE),
            parts(Method::GET, "/break-glass", NAVIGATE),
            parts(Method::GET, "/auth/elsewhere", NAVIGATE),
            parts(
                Method::GET,
                "/",
                &[("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "iframe")],
            ),
            parts(
                Method::GET,
                "/",
                &[("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty")],
            ),
            parts(Method::GET, "/", &[("accept", "application/json")]),
            parts(
                Method::GET,
                "/",
                &[
                    ("accept", "text/html"),
                    ("x-requested-with", "XMLHttpRequest"),
                ],
            ),
        ];
        for p in &refused {
            assert_eq!(
                wanted(&shared, p),
                None,
                "{} {} {:?}",
                p.method,
                p.uri,
                p.headers
            );
        }
        let marker = format!("{}=1", silent::marker_name(&shared.cookies));
        let mut again = NAVIGATE.to_vec();
        again.push(("cookie", &marker));
        assert_eq!(wanted(&shared, &parts(Method::GET, "/", &again)), None);
        // Off by default.
        let off = OidcLayer::new(test_base().public_paths(["/"]).build().unwrap()).current();
        assert_eq!(wanted(&off, &parts(Method::GET, "/", NAVIGATE)), None);
    }

    #[tokio::test]
    async fn an_attempt_that_cannot_start_serves_the_page_and_sets_the_marker() {
        use tower::{Layer as _, ServiceExt as _};
        // Nothing listens on the discard port: discovery fails at once.
        let config = crate::OidcConfig::builder()
            .issuer("http://127.0.0.1:9")
            .client_id("app")
            .external_url("http://127.0.0.1:3000")
            .public_paths(["/"])
            .silent_login(true)
            .build()
            .unwrap();
        let layer = OidcLayer::new(config);
        let marker = silent::marker_name(&layer.current().cookies);
        let app = layer.layer(tower::service_fn(
            |_: http::Request<http_body_util::Empty<bytes::Bytes>>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"page"),
                )))
            },
        ));
        let request = |cookie: Option<&str>| {
            let mut builder = http::Request::get("/");
            for (k, v) in NAVIGATE {
                builder = builder.header(*k, *v);
            }
            if let Some(cookie) = cookie {
                builder = builder.header("cookie", cookie);
            }
            builder.body(http_body_util::Empty::new()).unwrap()
        };
        let response = app.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(response.status(), 200, "the page, not an error");
        let set: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert!(
            set.iter()
                .any(|v| v.to_str().unwrap().starts_with(&format!("{marker}=1"))),
            "{set:?}"
        );
        // With the marker, the page comes without any attempt or cookie.
        let response = app
            .oneshot(request(Some(&format!("{marker}=1"))))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("set-cookie").is_none());
    }
}
