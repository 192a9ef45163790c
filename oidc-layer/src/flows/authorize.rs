//! The redirect to a provider's authorization endpoint with a fresh attempt (state, nonce,
//! PKCE) in its sealed cookie: how every login and every link starts.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use session_store::{SessionId, SessionStore as _};
use tracing::Instrument as _;

use super::common::provider_problem;
use crate::config::ProviderConfig;
use crate::issuer::issuers_match;
use crate::login_options::{AuthRequest, Prompt};
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
    start_with(
        shared,
        index,
        headers,
        return_to,
        link_to,
        &AuthRequest::plain(),
    )
    .await
}

/// [`start`] with the login's own parameters (`prompt`, `login_hint`, `max_age`).
pub(crate) async fn start_with(
    shared: &Shared,
    index: usize,
    headers: &HeaderMap,
    return_to: String,
    link_to: Option<String>,
    request: &AuthRequest,
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
    redirect_to_provider(shared, provider, headers, return_to, link_to, request)
        .instrument(span)
        .await
        .unwrap_or_else(|page| page)
}

/// A silent sign-in (`prompt=none`) at provider `index`: the redirect, or `None` when the
/// provider or the session store cannot be used now (the page is then served as it is: an
/// attempt nobody asked for shows no error page).
pub(crate) async fn start_silent(
    shared: &Shared,
    index: usize,
    headers: &HeaderMap,
    return_to: String,
) -> Option<Response<PageBody>> {
    let provider = shared.providers.get(index)?;
    let span = tracing::info_span!("oidc.login", provider = %provider.settings.slug, return_to = %return_to::path_of(&return_to), silent = true);
    let request = AuthRequest::prompting(Prompt::None);
    redirect_to_provider(shared, provider, headers, return_to, None, &request)
        .instrument(span)
        .await
        .ok()
}

/// The `max_age` a login sends: the shorter of the provider's and the request's.
fn effective_max_age(configured: Option<u64>, requested: Option<u64>) -> Option<u64> {
    match (configured, requested) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The authorization request: the layer's parameters (code flow, PKCE, state, nonce), the
/// provider's extras, then the login's own; every name and value form-urlencoded.
fn authorization_url(
    endpoint: &url::Url,
    settings: &ProviderConfig,
    redirect_uri: &str,
    attempt: &Attempt,
    request: &AuthRequest,
) -> url::Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", &attempt.state)
        .append_pair("nonce", &attempt.nonce)
        .append_pair("code_challenge", &attempt.pkce_challenge())
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(&settings.extra_auth_params)
        .extend_pairs(request_params(settings, request, attempt.max_age));
    url
}

/// The parameters a provider's authorization request carries after the layer's own: the
/// provider's extras, then the login's `prompt`, `login_hint` and `max_age`.
fn request_params(
    settings: &ProviderConfig,
    request: &AuthRequest,
    max_age: Option<u64>,
) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if let Some(prompt) = request.prompt {
        let value = match prompt {
            Prompt::Login => reauth_prompt(&settings.issuer),
            other => other.as_str(),
        };
        params.push(("prompt", value.to_owned()));
    }
    if let Some(hint) = &request.login_hint {
        params.push(("login_hint", hint.clone()));
    }
    if let Some(age) = max_age {
        params.push(("max_age", age.to_string()));
    }
    params
}

/// The redirect to `provider`'s authorization endpoint, with the attempt cookie; or the page
/// saying why sign-in cannot start now.
async fn redirect_to_provider(
    shared: &Shared,
    provider: &ProviderRuntime,
    headers: &HeaderMap,
    return_to: String,
    link_to: Option<String>,
    request: &AuthRequest,
) -> Result<Response<PageBody>, Response<PageBody>> {
    let html = wants_html(headers);
    let slug = &provider.settings.slug;
    let discovered = match provider.client.discovered().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a login: provider unavailable");
            metrics::login_failed(slug, LoginFailure::ProviderUnavailable);
            return Err(provider_problem(&e, shared, &return_to).into_response(html));
        }
    };
    // Cached metadata says nothing about the provider being up now.
    if let Err(e) = provider.client.check_reachable().await {
        tracing::warn!(error = %e, "cannot start a login: provider unreachable");
        metrics::login_failed(slug, LoginFailure::ProviderUnavailable);
        return Err(provider_problem(&e, shared, &return_to).into_response(html));
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
        return Err(unavailable(LoginFailure::StoreUnavailable).into_response(html));
    }
    let mut attempt = match Attempt::new(&provider.settings.slug, return_to, link_to) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "random number generator failed");
            return Err(unavailable(LoginFailure::Internal).into_response(html));
        }
    };
    attempt.max_age = effective_max_age(provider.settings.max_age, request.max_age);
    attempt.silent = request.prompt == Some(Prompt::None);
    let Some(sealed) = shared.attempts.seal(&attempt) else {
        return Err(unavailable(LoginFailure::Internal).into_response(html));
    };
    let url = authorization_url(
        &discovered.metadata.authorization_endpoint,
        &provider.settings,
        &provider.redirect_uri,
        &attempt,
        request,
    );
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        metrics::login_failed(slug, LoginFailure::Internal);
        return Err(Problem::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in is misconfigured",
            "The provider's authorization endpoint is not a valid URL.",
        )
        .into_response(html));
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
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_base;

    fn query_of(url: &url::Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn extras_and_login_parameters_follow_the_layers_own_encoded() {
        let config = test_base()
            .extra_auth_params([
                ("audience", "https://api.example.com/v1?x=1&y=2"),
                ("ui_locales", "de-CH fr"),
            ])
            .max_age(std::time::Duration::from_secs(3600))
            .build()
            .unwrap();
        let settings = &config.providers()[0];
        let mut attempt = Attempt::new("id", "/".into(), None).unwrap();
        let request = AuthRequest {
            prompt: Some(Prompt::SelectAccount),
            login_hint: Some("a+b@example.com".into()),
            max_age: Some(0),
        };
        attempt.max_age = effective_max_age(settings.max_age, request.max_age);
        let endpoint = url::Url::parse("https://id.example.com/authorize?tenant=t").unwrap();
        let url = authorization_url(&endpoint, settings, "https://app/cb", &attempt, &request);
        let pairs = query_of(&url);
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "tenant",
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "nonce",
                "code_challenge",
                "code_challenge_method",
                "audience",
                "ui_locales",
                "prompt",
                "login_hint",
                "max_age"
            ]
        );
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            value("audience"),
            Some("https://api.example.com/v1?x=1&y=2")
        );
        assert_eq!(value("ui_locales"), Some("de-CH fr"));
        assert_eq!(value("login_hint"), Some("a+b@example.com"));
        assert_eq!(value("max_age"), Some("0"));
        // Encoded, so no value can add a parameter of its own.
        assert!(
            url.as_str()
                .contains("audience=https%3A%2F%2Fapi.example.com%2Fv1%3Fx%3D1%26y%3D2"),
            "{url}"
        );
        assert!(
            url.as_str().contains("login_hint=a%2Bb%40example.com"),
            "{url}"
        );
    }

    #[test]
    fn the_shorter_max_age_wins_and_nothing_is_sent_without_one() {
        assert_eq!(effective_max_age(None, None), None);
        assert_eq!(effective_max_age(Some(600), None), Some(600));
        assert_eq!(effective_max_age(None, Some(0)), Some(0));
        assert_eq!(effective_max_age(Some(600), Some(86_400)), Some(600));
        assert_eq!(effective_max_age(Some(600), Some(60)), Some(60));
        let config = test_base().build().unwrap();
        let params = request_params(&config.providers()[0], &AuthRequest::plain(), None);
        assert!(params.is_empty());
        let google = test_base()
            .issuer("https://accounts.google.com")
            .build()
            .unwrap();
        let params = request_params(
            &google.providers()[0],
            &AuthRequest::prompting(Prompt::Login),
            None,
        );
        assert_eq!(params, [("prompt", "select_account".to_owned())]);
    }

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
