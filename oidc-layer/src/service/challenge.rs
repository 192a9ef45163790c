//! The challenge: what a request for a protected path without a session gets. A browser
//! navigating is sent to log in (to the provider, or the chooser with several); anything else
//! gets `401` with a login URL.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};

use crate::bearer::Scheme;
use crate::bearer::error::challenge as bearer_challenge;
use crate::flows::common::login_url;
use crate::flows::{authorize, login};
use crate::pages::{PageBody, Problem};
use crate::state::Shared;
use crate::web::negotiate;
use crate::web::return_to;

/// Left in the extensions of requests without a session, so that [`RequireRole`]
/// (crate::RequireRole) on a public route can send a browser to log in.
#[derive(Clone)]
pub(crate) struct LoginChallenge(pub(crate) Arc<Shared>);

/// Whether the request path `path` is served without a session (checked only for requests
/// without one). Behind a proxy that keeps the prefix, a path outside it never is.
pub(crate) fn is_public(shared: &Shared, path: &str) -> bool {
    let Some(path) = shared.config.app_path(path) else {
        return false;
    };
    // The backup login must work exactly when the provider does not, so it is public even when
    // the app did not list it (behind the challenge it would answer the provider's 503).
    let backup = shared
        .config
        .backup_login_path
        .as_deref()
        .and_then(|p| p.split(['?', '#']).next());
    backup == Some(path)
        || shared
            .config
            .public_paths
            .iter()
            .any(|rule| rule.matches(path))
}

/// Answers a request for a protected path without a session.
pub(crate) async fn challenge_response(shared: &Shared, request: &Parts) -> Response<PageBody> {
    // Paths relative to the external URL: a path outside the prefix kept by the proxy
    // returns to the app's root and is no API path.
    let path = shared.config.app_path(request.uri.path());
    let return_to = path
        .and_then(|path| match request.uri.query() {
            Some(query) => return_to::sanitize(&format!("{path}?{query}")),
            None => return_to::sanitize(path),
        })
        .unwrap_or_else(|| "/".to_owned());
    let api = path.is_some_and(|path| shared.config.is_api_path(path));
    if !api && negotiate::is_navigation(&request.method, &request.headers) {
        return match shared.providers.len() {
            1 => authorize::start(shared, 0, &request.headers, return_to, None).await,
            _ => login::chooser(shared, &return_to),
        };
    }
    let login = login_url(shared, &return_to);
    let html = negotiate::wants_html(&request.headers);
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "Sign in to use this resource.",
    )
    .with_login_url(login.clone())
    .into_response(html);
    // Not a standard scheme: tells scripts where a person can log in, and that a cookie
    // session (not a bearer token) is what this resource takes.
    let challenge = format!(
        "OIDC realm=\"{}\", login_url=\"{}\"",
        shared.config.external.origin,
        login.replace('"', "%22")
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    // Where access tokens are taken, say so (RFC 6750 section 3, RFC 9449 section 7.1).
    if let Some(bearer) = &shared.bearer
        && path.is_some_and(|path| bearer.covers(&shared.config, path))
    {
        for scheme in [Scheme::Bearer, Scheme::Dpop] {
            if let Ok(v) =
                HeaderValue::from_str(&bearer_challenge(scheme, Some(&bearer.realm), None))
            {
                response.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
    }
    response
}

/// The answer when the session store cannot be read and the path is not public: `503`.
pub(crate) fn store_unavailable(html: bool) -> Response<PageBody> {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service unavailable",
        "Sessions cannot be read right now. Please try again in a moment.",
    )
    .into_response(html)
}

/// The answer when the session's access token has expired and the provider cannot be asked
/// for another (`refresh_failure = "suspend"`): `503` (with `Retry-After`, as every 503 page
/// has); the session is kept.
pub(crate) fn provider_unavailable(html: bool) -> Response<PageBody> {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in provider unreachable",
        "Your session needs renewing, and the sign-in provider cannot be reached right now. You are still signed in: please try again in a moment.",
    )
    .into_response(html)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    async fn text(response: Response<PageBody>) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a full body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[tokio::test]
    async fn a_suspended_session_gets_a_503_that_says_it_is_still_signed_in() {
        let page = provider_unavailable(true);
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.headers()[header::RETRY_AFTER], "5");
        let html = text(page).await;
        assert!(html.contains("Sign-in provider unreachable"), "{html}");
        assert!(html.contains("You are still signed in"), "{html}");

        let problem = provider_unavailable(false);
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            problem.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let json: serde_json::Value = serde_json::from_str(&text(problem).await).expect("JSON");
        assert_eq!(json["status"], 503);
        assert_eq!(json["title"], "Sign-in provider unreachable");
    }
}
