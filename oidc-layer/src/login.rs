//! Starting a login: a fresh attempt (state, nonce, PKCE), its sealed cookie, and the 302 to
//! the provider's authorization endpoint.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use url::form_urlencoded;

use crate::attempt::Attempt;
use crate::layer::Shared;
use crate::pages::{PageBody, Problem};
use crate::provider::ProviderError;
use crate::return_to;

/// `{base_path}{prefix}/login?return_to=...`: where programs and error pages send people.
pub(crate) fn login_url(shared: &Shared, return_to: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!(
        "{}{}/login?return_to={encoded}",
        shared.config.external.base_path, shared.routes.prefix
    )
}

/// `GET {prefix}/login?return_to=/path`: starts a login explicitly.
pub(crate) async fn login_route(
    shared: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let return_to = query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "return_to")
        .and_then(|(_, v)| return_to::sanitize(&v))
        .unwrap_or_else(|| "/".to_owned());
    start(shared, headers, return_to).await
}

/// Redirects the browser to the provider, remembering `return_to` in the attempt cookie.
pub(crate) async fn start(
    shared: &Shared,
    headers: &HeaderMap,
    return_to: String,
) -> Response<PageBody> {
    let span = tracing::info_span!("oidc.login", return_to = %return_to);
    let _guard = span.enter();
    let html = crate::challenge::wants_html(headers);
    let discovered = match shared.provider.discovered().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a login: provider unavailable");
            return provider_problem(&e, shared, &return_to).into_response(html);
        }
    };
    let attempt = match Attempt::new(return_to) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "random number generator failed");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "Please try again in a moment.",
            )
            .into_response(html);
        }
    };
    let Some(sealed) = shared.attempts.seal(&attempt) else {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "Please try again in a moment.",
        )
        .into_response(html);
    };
    let mut url = discovered.metadata.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &shared.config.client_id)
        .append_pair("redirect_uri", &shared.routes.redirect_uri)
        .append_pair("scope", &shared.config.scopes.join(" "))
        .append_pair("state", &attempt.state)
        .append_pair("nonce", &attempt.nonce)
        .append_pair("code_challenge", &attempt.pkce_challenge())
        .append_pair("code_challenge_method", "S256");
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return Problem::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in is misconfigured",
            "The provider's authorization endpoint is not a valid URL.",
        )
        .into_response(html);
    };
    let mut response = Response::new(PageBody::default());
    *response.status_mut() = StatusCode::FOUND;
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    for cookie in shared
        .attempts
        .evictions(headers)
        .into_iter()
        .chain([sealed])
    {
        crate::cookies::append_set_cookie(h, &cookie);
    }
    tracing::debug!("redirecting to the provider");
    response
}

/// The answer when the provider cannot be used: 503 while it is unreachable (with a retry
/// link), 502 when its metadata is unusable.
pub(crate) fn provider_problem(error: &ProviderError, shared: &Shared, return_to: &str) -> Problem {
    match error {
        ProviderError::Unavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sign-in service is unreachable",
            "The identity provider did not answer. Please try again in a moment.",
        )
        .with_link("Try again", login_url(shared, return_to)),
        _ => Problem::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in is misconfigured",
            "The identity provider's configuration could not be used. The administrator can find the cause in the logs.",
        ),
    }
}
