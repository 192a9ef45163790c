//! The `client_secret` check: whether the token endpoint accepts the client's authentication,
//! without a login. One token request with a dummy authorization code, authenticated as the
//! layer authenticates its code exchanges (`client_secret_basic`, or `client_secret_post` when
//! that is all the provider supports): the token endpoint authenticates the client before it
//! looks at the code (RFC 6749 section 3.2.1), so `invalid_client` (or a bare `401`) means the
//! secret, the client id or the method is wrong, and `invalid_grant` means the client was
//! accepted and only the (dummy) code refused. Any other answer says neither.

use http::{HeaderValue, Method, StatusCode, header};
use openidconnect::AsyncHttpClient as _;
use url::form_urlencoded;

use super::{Level, ProviderReport, error_chain};
use crate::config::ProviderConfig;
use crate::http_client::{HttpClient, basic_credentials};
use crate::layer::Registration;
use crate::provider::Metadata;

/// The dummy code: no provider ever issued it, so a right secret can only get `invalid_grant`.
const DUMMY_CODE: &str = "oidc-layer-doctor-not-a-code";
/// A well-formed PKCE verifier (RFC 7636 section 4.1: 43 characters), as the layer sends one.
const DUMMY_VERIFIER: &str = "oidc-layer-doctor-dummy-verifier-0123456789";

/// Sends the test token request and reports what its answer says of the client secret.
pub(super) async fn check(
    report: &mut ProviderReport,
    http: &HttpClient,
    settings: &ProviderConfig,
    metadata: &Metadata,
    registration: &Registration,
) {
    let Some(secret) = &settings.client_secret else {
        report.push(
            Level::Ok,
            "client_secret",
            "no client secret configured: a public client (PKCE only), nothing to check",
        );
        return;
    };
    let post = metadata.uses_client_secret_post();
    let method = if post {
        "client_secret_post"
    } else {
        "client_secret_basic"
    };
    let Some(request) = token_request(
        metadata,
        &settings.client_id,
        secret.expose(),
        &registration.redirect_uri,
        post,
    ) else {
        report.push(
            Level::Error,
            "client_secret",
            "the test token request could not be built (client id or token endpoint)",
        );
        return;
    };
    let endpoint = &metadata.token_endpoint;
    let response = match http.call(request).await {
        Ok(response) => response,
        Err(e) => {
            report.push(
                Level::Warn,
                "client_secret",
                format!(
                    "inconclusive: the token endpoint {endpoint} did not answer the test token request: {}",
                    error_chain(&e)
                ),
            );
            return;
        }
    };
    let status = response.status();
    let error = oauth_error(response.body());
    let answered = match &error {
        Some(code) => format!("{} {code}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    match (status, error.as_deref()) {
        (_, Some("invalid_client")) | (StatusCode::UNAUTHORIZED, _) => report.push(
            Level::Error,
            "client_secret",
            format!(
                "the token endpoint refused the client's authentication ({answered} to a test token request with {method}): the client secret is wrong (or the client id, or the client may not use {method}); every login will fail at the code exchange"
            ),
        ),
        (_, Some("invalid_grant")) => report.push(
            Level::Ok,
            "client_secret",
            format!(
                "the client secret is accepted ({method}; a test token request with a dummy code was refused with invalid_grant, as it should be)"
            ),
        ),
        _ => report.push(
            Level::Warn,
            "client_secret",
            format!(
                "inconclusive: a test token request with a dummy code ({method}) got {answered}, neither invalid_client (a wrong secret) nor invalid_grant (a right one)"
            ),
        ),
    }
}

/// The token request the layer's code exchange would send, with the dummy code. The secret
/// travels only to the token endpoint, as in a login.
fn token_request(
    metadata: &Metadata,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
    post: bool,
) -> Option<http::Request<Vec<u8>>> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", DUMMY_CODE)
        .append_pair("code_verifier", DUMMY_VERIFIER)
        .append_pair("redirect_uri", redirect_uri);
    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri(metadata.token_endpoint.as_str())
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(header::ACCEPT, HeaderValue::from_static("application/json"));
    if post {
        form.append_pair("client_id", client_id)
            .append_pair("client_secret", secret);
    } else {
        builder = builder.header(header::AUTHORIZATION, basic_credentials(client_id, secret)?);
    }
    builder.body(form.finish().into_bytes()).ok()
}

/// The `error` member of an OAuth error response (RFC 6749 section 5.2), when the body is one.
fn oauth_error(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("error")?.as_str()?;
    // Error codes are a small ASCII set: anything else is not echoed into the report.
    (code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'))
    .then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_and_nothing_else_is_echoed() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_grant","error_description":"x"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(oauth_error(br#"{"error":"<script>"}"#), None);
        assert_eq!(oauth_error(b"not json"), None);
        assert_eq!(oauth_error(br#"{"error":1}"#), None);
    }
}
