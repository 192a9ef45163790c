//! Starting a login: the provider chooser (with several providers), a fresh attempt (state,
//! nonce, PKCE) in its sealed cookie, and the 302 to the provider's authorization endpoint.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use maud::html;
use session_store::{SessionId, SessionStore as _};
use tracing::Instrument as _;
use url::form_urlencoded;

use crate::attempt::Attempt;
use crate::cookies::append_set_cookie;
use crate::layer::{ProviderRuntime, Shared};
use crate::pages::{self, PageBody, Problem};
use crate::provider::ProviderError;
use crate::return_to;

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `{base_path}{prefix}/login?return_to=...`: where programs and error pages send people
/// (the chooser when there are several providers).
pub(crate) fn login_url(shared: &Shared, return_to: &str) -> String {
    format!(
        "{}{}?return_to={}",
        shared.config.external.base_path,
        shared.routes.login,
        encode(return_to)
    )
}

/// [`login_url`] that makes the provider ask who is signing in, even when it has a session:
/// the way out of a refusal ("Sign in with another account"). Without it the provider signs
/// the same person straight in again and they see the same refusal.
pub(crate) fn reauth_login_url(shared: &Shared, return_to: &str) -> String {
    format!("{}&prompt=login", login_url(shared, return_to))
}

/// The login URL of one provider.
pub(crate) fn provider_login_url(shared: &Shared, slug: &str, return_to: &str) -> String {
    format!("{}&provider={}", login_url(shared, return_to), encode(slug))
}

/// The `prompt` that asks the provider for a fresh sign-in. OpenID Connect's `login` is what
/// most providers know; Google knows only `none`, `consent` and `select_account` (and refuses
/// `login`), where choosing the account is the way to another one.
fn reauth_prompt(issuer: &str) -> &'static str {
    if issuer.trim_end_matches('/') == "https://accounts.google.com" {
        "select_account"
    } else {
        "login"
    }
}

/// `GET {prefix}/login?return_to=/path[&provider=slug][&backup=1]`.
pub(crate) async fn login_route(
    shared: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let (mut return_to, mut provider, mut backup, mut reauth) = (None, None, false, false);
    for (key, value) in query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
    {
        match key.as_ref() {
            "return_to" => return_to = return_to::sanitize(&value),
            "provider" => provider = Some(value.into_owned()),
            "backup" => backup = value == "1" || value == "true",
            "prompt" => reauth = value == "login",
            _ => {}
        }
    }
    let return_to = return_to.unwrap_or_else(|| "/".to_owned());
    let html = crate::challenge::wants_html(headers);
    if backup {
        return match &shared.config.backup_login_path {
            Some(path) => {
                crate::callback::redirect(&format!("{}{path}", shared.config.external.base_path))
            }
            None => Problem::new(
                StatusCode::NOT_FOUND,
                "No backup login",
                "This app has no backup login configured.",
            )
            .into_response(html),
        };
    }
    match provider {
        Some(slug) => match shared.provider(&slug) {
            Some((index, _)) => {
                start_prompting(shared, index, headers, return_to, None, reauth).await
            }
            None => Problem::new(
                StatusCode::BAD_REQUEST,
                "Unknown sign-in provider",
                "There is no such sign-in provider.",
            )
            .with_link("Choose a provider", login_url(shared, &return_to))
            .into_response(html),
        },
        None if shared.providers.len() == 1 => {
            start_prompting(shared, 0, headers, return_to, None, reauth).await
        }
        None => chooser_page(shared, &return_to, reauth),
    }
}

/// The first letter or digit of `name`, upper-cased (the chooser's stand-in for a logo).
fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

/// The provider chooser: one accessible link per provider, with its logo.
pub(crate) fn chooser(shared: &Shared, return_to: &str) -> Response<PageBody> {
    chooser_page(shared, return_to, false)
}

/// [`chooser`]; with `reauth` its links ask the provider for a fresh sign-in.
fn chooser_page(shared: &Shared, return_to: &str, reauth: bool) -> Response<PageBody> {
    // The link text names the provider, so the logo is decorative (empty alt). Without a logo,
    // the name's first letter (drawn by CSS, hidden from screen readers) keeps the rows aligned.
    // A `/path` logo is the app's own file: behind the external URL's prefix.
    let base = &shared.config.external.base_path;
    let body = html! {
        h1 { "Sign in" }
        p { "Choose how you want to sign in." }
        nav aria-label="Sign-in providers" {
            ul class="providers" {
                @for p in &shared.providers {
                    li {
                        a class="provider" id={ "provider-" (p.settings.slug) }
                            href={
                                (provider_login_url(shared, &p.settings.slug, return_to))
                                @if reauth { "&prompt=login" }
                            } {
                            @match p.settings.logo.as_deref() {
                                Some(src) => {
                                    img class="logo"
                                        src={ @if src.starts_with('/') { (base) } (src) }
                                        alt="" width="28" height="28";
                                }
                                None => {
                                    span class="logo" aria-hidden="true"
                                        data-initial=(initial(&p.settings.name)) {}
                                }
                            }
                            span { "Sign in with " (p.settings.name) }
                        }
                    }
                }
            }
        }
        @if let Some(path) = &shared.config.backup_login_path {
            p class="backup" {
                a href={ (base) (path) } id="backup-login" { "Administrator sign-in" }
            }
        }
    };
    // The page's CSP allows images from these origins too, so logos at https URLs show.
    let mut logo_origins: Vec<String> = shared
        .providers
        .iter()
        .filter_map(|p| p.settings.logo.as_deref())
        .filter(|logo| logo.starts_with("http"))
        .filter_map(|logo| url::Url::parse(logo).ok())
        .map(|url| url.origin().ascii_serialization())
        .collect();
    logo_origins.sort();
    logo_origins.dedup();
    pages::allow_images_from(
        pages::html_response(StatusCode::OK, pages::page("Sign in", body)),
        &logo_origins,
    )
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
async fn start_prompting(
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
    let html = crate::challenge::wants_html(headers);
    let discovered = match provider.client.discovered().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a login: provider unavailable");
            return provider_problem(&e, shared, &return_to).into_response(html);
        }
    };
    // Cached metadata says nothing about the provider being up now.
    if let Err(e) = provider.client.check_reachable().await {
        tracing::warn!(error = %e, "cannot start a login: provider unreachable");
        return provider_problem(&e, shared, &return_to).into_response(html);
    }
    let unavailable = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "Please try again in a moment.",
        )
    };
    // The session must be storable at the end, or the user signs in at the provider for
    // nothing: one read of an unknown id asks the store (a Redis round trip) first.
    let probe = match SessionId::generate() {
        Ok(id) => shared.store.load(&id).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = probe {
        tracing::error!(error = %e, "cannot start a login: the session store is unavailable");
        return unavailable().into_response(html);
    }
    let attempt = match Attempt::new(&provider.settings.slug, return_to, link_to) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "random number generator failed");
            return unavailable().into_response(html);
        }
    };
    let Some(sealed) = shared.attempts.seal(&attempt) else {
        return unavailable().into_response(html);
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
    response
}

/// The answer when the provider cannot be used: 503 while it is unreachable (with a retry
/// link), 502 when its answers or metadata are unusable; these offer the backup login when
/// there is one. Any other error (a refused or invalid token) is not the provider failing, and
/// does not.
pub(crate) fn provider_problem(error: &ProviderError, shared: &Shared, return_to: &str) -> Problem {
    let provider_failing = matches!(
        error,
        ProviderError::Unavailable(_)
            | ProviderError::BadResponse(_)
            | ProviderError::BadMetadata(_)
    );
    let problem = match error {
        ProviderError::Unavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sign-in service is unreachable",
            "The identity provider did not answer. Please try again in a moment.",
        )
        .with_login_action("Try again", login_url(shared, return_to)),
        ProviderError::BadResponse(_) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "The sign-in service answered incorrectly",
            "The identity provider sent an answer that could not be used. Please try again; if it keeps happening, contact the administrator.",
        )
        .with_login_action("Try again", login_url(shared, return_to)),
        _ => Problem::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in is misconfigured",
            "The identity provider's configuration could not be used. The administrator can find the cause in the logs.",
        ),
    };
    match &shared.config.backup_login_path {
        Some(path) if provider_failing => {
            problem.with_backup_login(format!("{}{path}", shared.config.external.base_path))
        }
        _ => problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OidcLayer;
    use crate::config::test_base as base;

    #[test]
    fn only_a_failing_provider_offers_the_backup_login() {
        let config = base()
            .backup_login_path("/login/local")
            .build()
            .expect("a valid configuration");
        let shared = OidcLayer::new(config).current();
        let failing = [
            ProviderError::Unavailable("connection refused".into()),
            ProviderError::BadResponse("html".into()),
            ProviderError::BadMetadata("no jwks".into()),
        ];
        for error in &failing {
            let problem = provider_problem(error, &shared, "/");
            assert!(problem.offers_backup_login(), "{error}");
        }
        let not_failing = [
            ProviderError::Rejected {
                error: "invalid_grant".into(),
            },
            ProviderError::InvalidToken("bad nonce".into()),
        ];
        for error in &not_failing {
            let problem = provider_problem(error, &shared, "/");
            assert!(!problem.offers_backup_login(), "{error}");
        }
        // Without a backup login configured, no page offers one.
        let config = base().build().expect("a valid configuration");
        let shared = OidcLayer::new(config).current();
        assert!(!provider_problem(&failing[0], &shared, "/").offers_backup_login());
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
