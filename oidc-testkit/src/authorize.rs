//! The authorization endpoint: request validation, sign-in page, code issuance.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use url::Url;

use super::store::{CODE_TTL, CodeGrant, random_token};
use super::user::SUPPORTED_SCOPES;
use super::{Params, Shared, html, jwt, lock, redirect_with};

/// A validated authorization request.
struct AuthRequest {
    redirect_uri: String,
    redirect_url: Url,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    /// Requested scopes this provider knows, in request order.
    scopes: Vec<String>,
}

/// Why an authorization request is refused.
enum AuthError {
    /// The client or redirect URI cannot be trusted: tell the user, never redirect (RFC 6749
    /// 4.1.2.1).
    Page(String),
    /// Tell the client, at its redirect URI.
    Redirect(Box<Refusal>),
}

/// An error response sent to the client's redirect URI.
struct Refusal {
    to: Url,
    state: Option<String>,
    error: &'static str,
    description: String,
}

impl AuthError {
    fn redirect(to: Url, state: Option<String>, error: &'static str, description: String) -> Self {
        AuthError::Redirect(Box::new(Refusal {
            to,
            state,
            error,
            description,
        }))
    }
}

/// `GET /authorize`.
pub(super) async fn authorize_get(
    State(provider): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    show_or_answer(&provider, &params)
}

/// `POST /authorize`: a button of the sign-in page, or a form-serialized authorization request.
pub(super) async fn authorize_post(State(provider): State<Arc<Shared>>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    if params.get("cancel").is_none() && params.get("user").is_none() {
        return show_or_answer(&provider, &params);
    }
    // The hidden inputs came back from the browser: validate them all again.
    let request = match validate(&provider, &params) {
        Ok(request) => request,
        Err(err) => return refuse(&provider, err),
    };
    if params.get("cancel").is_some() {
        return refuse(
            &provider,
            AuthError::redirect(
                request.redirect_url,
                request.state,
                "access_denied",
                "the user cancelled the sign-in".to_owned(),
            ),
        );
    }
    match params.get("user") {
        Some(username) if !params.is_repeated("user") && provider.user(username).is_some() => {
            answer_with_code(&provider, request, username)
        }
        _ => html::error_page(StatusCode::BAD_REQUEST, "unknown user"),
    }
}

fn show_or_answer(provider: &Shared, params: &Params) -> Response {
    let request = match validate(provider, params) {
        Ok(request) => request,
        Err(err) => return refuse(provider, err),
    };
    match &provider.auto_login {
        Some(username) => answer_with_code(provider, request, username),
        None => html::sign_in_page(params, &provider.client_id, &lock(&provider.users)),
    }
}

/// Validates an authorization request: first the client and its redirect URI (errors shown to
/// the user), then the rest (errors sent back to the client at that URI).
fn validate(provider: &Shared, params: &Params) -> Result<AuthRequest, AuthError> {
    let (redirect_uri, redirect_url) = registered_redirect(provider, params)?;
    let state = params.get("state").map(str::to_owned);
    match requested_grant(provider, params) {
        Ok((scopes, code_challenge)) => Ok(AuthRequest {
            redirect_uri: redirect_uri.to_owned(),
            redirect_url,
            state,
            nonce: params.get("nonce").map(str::to_owned),
            code_challenge: code_challenge.to_owned(),
            scopes,
        }),
        Err((error, description)) => {
            Err(AuthError::redirect(redirect_url, state, error, description))
        }
    }
}

/// The client and its redirect URI: errors here are shown, never redirected.
fn registered_redirect<'p>(
    provider: &Shared,
    params: &'p Params,
) -> Result<(&'p str, Url), AuthError> {
    let page = |msg: &str| Err(AuthError::Page(msg.to_owned()));
    if params.is_repeated("client_id") {
        return page("client_id is repeated");
    }
    match params.get("client_id") {
        None => return page("client_id is missing"),
        Some(id) if id != provider.client_id => return page("unknown client_id"),
        Some(_) => {}
    }
    if params.is_repeated("redirect_uri") {
        return page("redirect_uri is repeated");
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return page("redirect_uri is missing");
    };
    if !provider.redirect_uri_allowed(redirect_uri) {
        return page("redirect_uri is not registered for this client");
    }
    let Ok(redirect_url) = Url::parse(redirect_uri) else {
        return page("redirect_uri is not a valid URL");
    };
    Ok((redirect_uri, redirect_url))
}

/// An error for the client: `error` and `error_description`.
type Rejection = (&'static str, String);

/// Everything after the redirect URI, reported to the client when wrong: the known scopes
/// requested (in request order, without repeats) and the PKCE challenge.
fn requested_grant<'p>(
    provider: &Shared,
    params: &'p Params,
) -> Result<(Vec<String>, &'p str), Rejection> {
    if let Some(name) = params.first_repeated() {
        return Err(("invalid_request", format!("parameter `{name}` is repeated")));
    }
    if params.get("request").is_some() {
        return Err((
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if params.get("request_uri").is_some() {
        return Err((
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match params.get("response_type") {
        None => return Err(("invalid_request", "response_type is missing".into())),
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ));
        }
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return Err((
            "invalid_request",
            "only response_mode=query is supported".into(),
        ));
    }
    let requested: Vec<&str> = params.get("scope").unwrap_or("").split(' ').collect();
    if !requested.contains(&"openid") {
        return Err(("invalid_scope", "scope must contain openid".into()));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested {
        if SUPPORTED_SCOPES.contains(&scope) && !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    let code_challenge = pkce_challenge(params)?;
    let prompt_none = params
        .get("prompt")
        .is_some_and(|p| p.split(' ').any(|p| p == "none"));
    if prompt_none && provider.auto_login.is_none() {
        return Err(("login_required", "the user is not signed in".into()));
    }
    Ok((scopes, code_challenge))
}

/// The PKCE challenge: required, S256 only.
fn pkce_challenge(params: &Params) -> Result<&str, Rejection> {
    let Some(code_challenge) = params.get("code_challenge") else {
        return Err((
            "invalid_request",
            "PKCE is required: code_challenge is missing".into(),
        ));
    };
    if params.get("code_challenge_method") != Some("S256") {
        return Err((
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)".into(),
        ));
    }
    if !is_s256_challenge(code_challenge) {
        return Err((
            "invalid_request",
            "code_challenge is not a base64url SHA-256 value".into(),
        ));
    }
    Ok(code_challenge)
}

/// 43 base64url characters: the encoding of a SHA-256 digest.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn refuse(provider: &Shared, err: AuthError) -> Response {
    match err {
        AuthError::Page(message) => html::error_page(StatusCode::BAD_REQUEST, &message),
        AuthError::Redirect(refusal) => {
            let Refusal {
                to,
                state,
                error,
                description,
            } = *refusal;
            tracing::debug!(error, %description, "test provider refused an authorization request");
            let iss = provider.callback_iss();
            let mut params = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            if let Some(iss) = &iss {
                params.push(("iss", iss));
            }
            redirect_with(&to, &params)
        }
    }
}

fn answer_with_code(provider: &Shared, request: AuthRequest, username: &str) -> Response {
    let Ok(code) = random_token() else {
        return refuse(
            provider,
            AuthError::redirect(
                request.redirect_url,
                request.state,
                "server_error",
                "no randomness available".into(),
            ),
        );
    };
    {
        let mut store = provider.store();
        let grant = store.new_grant();
        store.insert_code(
            code.clone(),
            CodeGrant {
                grant,
                client_id: provider.client_id.clone(),
                redirect_uri: request.redirect_uri,
                nonce: request.nonce,
                code_challenge: request.code_challenge,
                username: username.to_owned(),
                scopes: request.scopes,
                auth_time: jwt::now_secs(),
                expires_at: Instant::now() + CODE_TTL,
                consumed: false,
            },
        );
    }
    tracing::debug!(
        user = username,
        "test provider issued an authorization code"
    );
    let iss = provider.callback_iss();
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        params.push(("state", state));
    }
    if let Some(iss) = &iss {
        params.push(("iss", iss));
    }
    redirect_with(&request.redirect_url, &params)
}
