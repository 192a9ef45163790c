//! Discovery, JWKS, userinfo and end-session endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::Url;

use super::user::{SUPPORTED_SCOPES, USER_CLAIMS};
use super::{Params, Shared, html, jwt, redirect_with};

/// `GET /.well-known/openid-configuration`.
pub(super) async fn discovery(State(provider): State<Arc<Shared>>) -> Response {
    let issuer = &provider.issuer;
    let mut claims: Vec<&str> = vec![
        "iss",
        "aud",
        "azp",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
    ];
    claims.extend_from_slice(USER_CLAIMS);
    let mut grant_types = vec!["authorization_code", "refresh_token"];
    if provider.api_audience.is_some() {
        grant_types.push("client_credentials");
    }
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/end-session"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "subject_types_supported": ["public"],
        // ES256 too (its key is published), so that a client that accepts whatever is
        // advertised takes Tamper::Es256Signed's token.
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": SUPPORTED_SCOPES,
        "claims_supported": claims,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
    .into_response()
}

/// `GET /jwks`.
pub(super) async fn jwks(State(provider): State<Arc<Shared>>) -> Response {
    Json(provider.keys.jwks().clone()).into_response()
}

/// `GET`/`POST /userinfo` with `Authorization: Bearer <access token>`.
pub(super) async fn userinfo(State(provider): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    provider.userinfo_requests.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        // RFC 6750 3.1: no error code when the request carried no credentials.
        return bearer_challenge("Bearer realm=\"oidc-layer-testkit\"");
    };
    let grant = provider.store().access(token).cloned();
    let Some(grant) = grant else {
        return bearer_challenge(
            "Bearer realm=\"oidc-layer-testkit\", error=\"invalid_token\", \
error_description=\"the access token is unknown, expired or revoked\"",
        );
    };
    match provider.user(&grant.username) {
        Some(user) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(Value::Object(user.released_claims(&grant.scopes))),
        )
            .into_response(),
        None => bearer_challenge("Bearer realm=\"oidc-layer-testkit\", error=\"invalid_token\""),
    }
}

fn bearer_challenge(challenge: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )],
    )
        .into_response()
}

/// `GET /end-session` (OpenID Connect RP-Initiated Logout).
pub(super) async fn end_session_get(
    State(provider): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    end_session(
        &provider,
        &Params::parse(query.unwrap_or_default().as_bytes()),
    )
}

/// `POST /end-session`, form-encoded.
pub(super) async fn end_session_post(State(provider): State<Arc<Shared>>, body: Bytes) -> Response {
    end_session(&provider, &Params::parse(&body))
}

/// The provider keeps no sign-in session, so ending it is only validating the request and
/// sending the user back.
fn end_session(provider: &Shared, params: &Params) -> Response {
    if let Some(name) = params.first_repeated() {
        return html::logout_error_page(&format!("parameter `{name}` is repeated"));
    }
    let hint_audience = match params.get("id_token_hint") {
        Some(hint) => match jwt::verify_id_token_hint(provider.keys, &provider.issuer, hint) {
            Ok(claims) => Some(audiences(claims.get("aud"))),
            Err(message) => return html::logout_error_page(message),
        },
        None => None,
    };
    if let Some(audience) = &hint_audience
        && !audience.iter().any(|a| a == &provider.client_id)
    {
        return html::logout_error_page("id_token_hint was issued to another client");
    }
    let client_id_given = match params.get("client_id") {
        Some(id) if id != provider.client_id => {
            return html::logout_error_page("unknown client_id");
        }
        Some(_) => true,
        None => false,
    };
    let Some(target) = params.get("post_logout_redirect_uri") else {
        tracing::debug!("test provider signed a user out");
        return html::signed_out_page();
    };
    if !client_id_given && hint_audience.is_none() {
        return html::logout_error_page(
            "post_logout_redirect_uri requires client_id or id_token_hint",
        );
    }
    if !provider.post_logout_redirect_uri_allowed(target) {
        return html::logout_error_page("post_logout_redirect_uri is not registered");
    }
    let Ok(target) = Url::parse(target) else {
        return html::logout_error_page("post_logout_redirect_uri is not a valid URL");
    };
    tracing::debug!("test provider signed a user out");
    match params.get("state") {
        Some(state) => redirect_with(&target, &[("state", state)]),
        None => redirect_with(&target, &[]),
    }
}

/// `aud` as a list, whether it is a string or an array.
fn audiences(aud: Option<&Value>) -> Vec<String> {
    match aud {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
