//! The `redirect_uri` check: the redirect URI to register, and whether the authorization
//! endpoint accepts it (one authorization request, never completed).

use http::header;
use url::Url;

use super::{Level, ProviderReport, error_chain};
use crate::config::ProviderConfig;
use crate::http_client::HttpClient;
use crate::layer::Registration;
use crate::provider::Metadata;

/// Lists the redirect URI to register and, when the layer accepts the provider's `metadata`,
/// tries it.
pub(super) async fn check(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: Option<&Metadata>,
    registration: &Registration,
) {
    match metadata {
        Some(metadata) => try_redirect_uri(report, http, settings, metadata, registration).await,
        None => report.push(
            Level::Ok,
            "redirect_uri",
            format!("register this redirect URI: {}", registration.redirect_uri),
        ),
    }
}

/// Sends one authorization request (never completed) and reads how the provider treats the
/// redirect URI: most providers refuse an unregistered one with an error page before any
/// sign-in page, and redirect other errors (`invalid_scope`, `unauthorized_client`) to it.
async fn try_redirect_uri(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: &Metadata,
    registration: &Registration,
) {
    let redirect_uri = &registration.redirect_uri;
    let url = test_request(settings, metadata, redirect_uri);
    let answer = match http.get_with_headers(url.as_str()).await {
        Ok(answer) => answer,
        Err(e) => {
            report.push(
                Level::Error,
                "redirect_uri",
                format!(
                    "register this redirect URI: {redirect_uri}\nthe authorization endpoint {} is unreachable: {}",
                    metadata.authorization_endpoint,
                    error_chain(&e)
                ),
            );
            return;
        }
    };
    let (status, headers, _) = answer;
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| metadata.authorization_endpoint.join(l).ok());
    let back_to_us = location
        .as_ref()
        .filter(|l| l.as_str().split(['?', '#']).next() == Some(redirect_uri.as_str()));
    match back_to_us {
        Some(location) => match error_parameter(location) {
            None => report.push(
                Level::Ok,
                "redirect_uri",
                format!(
                    "{redirect_uri} is registered (the provider answered a test authorization request there)"
                ),
            ),
            Some(error) => {
                let hint = match error.as_str() {
                    "invalid_scope" => " (a configured scope is not allowed for this client)",
                    "unauthorized_client" => {
                        " (the client may not use the authorization code flow)"
                    }
                    _ => "",
                };
                report.push(
                    Level::Error,
                    "redirect_uri",
                    format!(
                        "{redirect_uri} is registered, but the provider refused a test authorization request with `{error}`{hint}"
                    ),
                );
            }
        },
        None if status.is_client_error() || status.is_server_error() => report.push(
            Level::Error,
            "redirect_uri",
            format!(
                "the provider refused a test authorization request ({status}): register the redirect URI {redirect_uri} exactly (scheme, host, port, path) for client `{}`, and check the client id",
                settings.client_id
            ),
        ),
        None => report.push(
            Level::Ok,
            "redirect_uri",
            format!(
                "register this redirect URI: {redirect_uri} (a test authorization request with it was not refused: {status})"
            ),
        ),
    }
}

/// The authorization request the check sends: a login as the layer starts it, with a fixed
/// state, nonce and PKCE challenge, since nobody completes it.
fn test_request(settings: &ProviderConfig, metadata: &Metadata, redirect_uri: &str) -> Url {
    let mut url = metadata.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", "oidc-layer-doctor")
        .append_pair("nonce", "oidc-layer-doctor")
        // The S256 challenge of an unused verifier (RFC 7636 appendix B).
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    url
}

/// The `error` parameter of an authorization response, in the query or the fragment.
fn error_parameter(location: &Url) -> Option<String> {
    location
        .query_pairs()
        .chain(location.fragment().map_or_else(Vec::new, |f| {
            url::form_urlencoded::parse(f.as_bytes()).collect()
        }))
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
}
