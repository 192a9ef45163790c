//! The redirect to a provider's authorization endpoint with a fresh attempt (state, nonce,
//! PKCE) in its sealed cookie: how every login and every link starts.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use session_store::{SessionId, SessionStore as _};
use tracing::Instrument as _;

use super::common::provider_problem;
use crate::issuer::issuers_match;
use crate::metrics::{self, LoginFailure};
use crate::pages::{PageBody, Problem};
use crate::state::{ProviderRuntime, Shared};
use crate::web::attempt::Attempt;
use crate::web::cookies::append_set_cookie;
use crate::web::negotiate::wants_html;
use crate::web::return_to;

/// The `prompt` that asks the provider for a fresh sign-in. OpenID Connect's `login` is what
/// most providers know; Google knows only `none`, `consent` and `select_account` (and refuses
/// `login`), where choosing the account is the way to another one.
fn reauth_prompt(issuer: &str) -> &'static str {
    if issuers_match(issuer, "https://accounts.google.com") {
        "select_account"
    } else {
        "login"
    }
}

/// Redirects the browser to provider `index`, remembering `return_to` (and the account to link
/// to, for a link) in the attempt cookie.
pub(crate) async fn start(
    shared: &Shared,
    index: usize,
    headers: &HeaderMap,
    return_to: String,
    link_to: Option<String>,
) -> Response<PageBody> {
    start_prompting(shared, index, headers, return_to, link_to, false).await
}

/// [`start`]; with `reauth` the provider is asked for a fresh sign-in ([`reauth_prompt`]).
pub(crate) async fn start_prompting(
    shared: &Shared,
    index: usize,
    headers: &HeaderMap,
    return_to: String,
    link_to: Option<String>,
    reauth: bool,
) -> Response<PageBody> {
    let Some(provider) = shared.providers.get(index) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "There is no such sign-in provider.",
        )
        .into_response(true);
    };
    let span = tracing::info_span!("oidc.login", provider = %provider.settings.slug, return_to = %return_to::path_of(&return_to), link = link_to.is_some());
    redirect_to_provider(shared, provider, headers, return_to, link_to, reauth)
        .instrument(span)
        .await
}

/// The redirect to `provider`'s authorization endpoint, with the attempt cookie; or the page
/// saying why sign-in cannot start now.
async fn redirect_to_provider(
    shared: &Shared,
    provider: &ProviderRuntime,
    headers: &HeaderMap,
    return_to: String,
    link_to: Option<String>,
    reauth: bool,
) -> Response<PageBody> {
    let html = wants_html(headers);
    let slug = &provider.settings.slug;
    let discovered = match provider.client.discovered().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a login: provider unavailable");
            metrics::login_failed(slug, LoginFailure::ProviderUnavailable);
            return provider_problem(&e, shared, &return_to).into_response(html);
        }
    };
    // Cached metadata says nothing about the provider being up now.
    if let Err(e) = provider.client.check_reachable().await {
        tracing::warn!(error = %e, "cannot start a login: provider unreachable");
        metrics::login_failed(slug, LoginFailure::ProviderUnavailable);
        return provider_problem(&e, shared, &return_to).into_response(html);
    }
    let unavailable = |reason| {
        metrics::login_failed(slug, reason);
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "Please try again in a moment.",
        )
    };
    // The session must be storable at the end, or the user signs in at the provider for
    // nothing: one read of an unknown id asks the store (a Redis round trip) first.
    let probe = match SessionId::generate() {
        Ok(id) => metrics::store_call(
            &shared.durable.store_health,
            "load",
            shared.durable.store.load(&id),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = probe {
        tracing::error!(error = %e, "cannot start a login: the session store is unavailable");
        return unavailable(LoginFailure::StoreUnavailable).into_response(html);
    }
    let attempt = match Attempt::new(&provider.settings.slug, return_to, link_to) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "random number generator failed");
            return unavailable(LoginFailure::Internal).into_response(html);
        }
    };
    let Some(sealed) = shared.attempts.seal(&attempt) else {
        return unavailable(LoginFailure::Internal).into_response(html);
    };
    let mut url = discovered.metadata.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.settings.client_id)
        .append_pair("redirect_uri", &provider.redirect_uri)
        .append_pair("scope", &provider.settings.scopes.join(" "))
        .append_pair("state", &attempt.state)
        .append_pair("nonce", &attempt.nonce)
        .append_pair("code_challenge", &attempt.pkce_challenge())
        .append_pair("code_challenge_method", "S256");
    if reauth {
        url.query_pairs_mut()
            .append_pair("prompt", reauth_prompt(&provider.settings.issuer));
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        metrics::login_failed(slug, LoginFailure::Internal);
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
        append_set_cookie(h, &cookie);
    }
    tracing::debug!("redirecting to the provider");
    metrics::login_started(slug);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_gets_select_account_everyone_else_login() {
        assert_eq!(
            reauth_prompt("https://accounts.google.com"),
            "select_account"
        );
        assert_eq!(
            reauth_prompt("https://accounts.google.com/"),
            "select_account"
        );
        assert_eq!(reauth_prompt("https://kc.example.com/realms/home"), "login");
        assert_eq!(
            reauth_prompt("https://accounts.google.com.evil.example"),
            "login"
        );
    }
}
