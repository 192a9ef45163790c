//! The token endpoint: client authentication, code exchange with PKCE, refresh with rotation.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::jwt::{self, AccessTokenRequest, IdTokenRequest};
use super::store::RefreshGrant;
use super::{Params, Shared, Tamper};

/// An RFC 6749 5.2 error response.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    fn server_error(description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.error, description = %self.description, "test provider token error");
        let body = Json(json!({ "error": self.error, "error_description": self.description }));
        let mut response = (self.status, no_store_headers(), body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oidc-layer-testkit\""),
            );
        }
        response
    }
}

fn no_store_headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// `POST /token`.
pub(super) async fn token(
    State(provider): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    provider.count_token_request();
    let tamper = provider.tamper();
    match tamper {
        Tamper::TokenEndpointError => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
        }
        Tamper::GarbageTokenResponse => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "<html>this is not a token response {\"access_token\":",
            )
                .into_response();
        }
        _ => {}
    }
    match exchange(&provider, &headers, &body, tamper) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

fn exchange(
    provider: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    tamper: Tamper,
) -> Result<Response, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(name) = params.first_repeated() {
        return Err(OAuthError::new(
            "invalid_request",
            format!("parameter `{name}` is repeated"),
        ));
    }
    let client = authenticate_client(provider, headers, &params)?;
    let grant_type = params.get("grant_type");
    let is_machine = client != provider.client_id;
    if is_machine && grant_type.is_some_and(|g| g != "client_credentials") {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client may only use the client_credentials grant",
        ));
    }
    match grant_type {
        Some("authorization_code") => exchange_code(provider, &params, tamper),
        Some("refresh_token") => refresh(provider, &params, tamper),
        Some("client_credentials") if provider.api_audience.is_some() => {
            client_credentials(provider, &client, &params)
        }
        Some(_) => Err(OAuthError::new(
            "unsupported_grant_type",
            "only authorization_code, refresh_token and (with an API audience) \
client_credentials are supported",
        )),
        None => Err(OAuthError::new("invalid_request", "grant_type is missing")),
    }
}

/// `client_secret_basic` or `client_secret_post`, exactly one of them; the authenticated
/// client's id (the main client or a machine client).
fn authenticate_client(
    provider: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, OAuthError> {
    let invalid_client = || OAuthError::new("invalid_client", "client authentication failed");
    let authorization = headers.get(header::AUTHORIZATION);
    let (client_id, secret) = match (authorization, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method, not both",
            ));
        }
        (Some(value), None) => {
            let (id, secret) = parse_basic(value).ok_or_else(invalid_client)?;
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::new(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => {
            let id = params.get("client_id").ok_or_else(invalid_client)?;
            (id.to_owned(), secret.to_owned())
        }
        (None, None) => {
            return Err(OAuthError::new(
                "invalid_client",
                "client authentication is required",
            ));
        }
    };
    let expected = std::iter::once((&provider.client_id, &provider.client_secret))
        .chain(
            provider
                .machine_clients
                .iter()
                .map(|(id, secret)| (id, secret)),
        )
        .find(|(id, _)| **id == client_id)
        .map(|(_, secret)| secret);
    let secret_ok =
        expected.is_some_and(|expected| bool::from(secret.as_bytes().ct_eq(expected.as_bytes())));
    if secret_ok {
        Ok(client_id)
    } else {
        Err(invalid_client())
    }
}

/// RFC 6749 4.4: a token for the client itself (`sub` = its id), for the API audience, with
/// the requested scopes; no refresh token, no ID token.
fn client_credentials(
    provider: &Shared,
    client_id: &str,
    params: &Params,
) -> Result<Response, OAuthError> {
    let audience = provider
        .api_audience
        .as_deref()
        .ok_or_else(|| OAuthError::new("unsupported_grant_type", "no API audience"))?;
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let access_token = jwt::access_token(
        provider.keys,
        &AccessTokenRequest {
            issuer: &provider.issuer,
            audience,
            client_id,
            user: None,
            scopes: &scopes,
            auth_time: None,
            ttl: provider.access_token_ttl,
        },
    )
    .map_err(|err| OAuthError::server_error(format!("signing failed: {}", err.0)))?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": provider.access_token_ttl.as_secs(),
    });
    if !scopes.is_empty() {
        body["scope"] = scopes.join(" ").into();
    }
    Ok((StatusCode::OK, no_store_headers(), Json(body)).into_response())
}

/// With an API audience, the RFC 9068 JWT access token for `grant`'s user; otherwise `None`
/// (the store makes an opaque one).
fn api_access_token(provider: &Shared, grant: &RefreshGrant) -> Result<Option<String>, OAuthError> {
    let Some(audience) = provider.api_audience.as_deref() else {
        return Ok(None);
    };
    let user = provider
        .user(&grant.username)
        .ok_or_else(|| OAuthError::server_error("the user of this grant disappeared"))?;
    jwt::access_token(
        provider.keys,
        &AccessTokenRequest {
            issuer: &provider.issuer,
            audience,
            client_id: &grant.client_id,
            user: Some(&user),
            scopes: &grant.scopes,
            auth_time: Some(grant.auth_time),
            ttl: provider.access_token_ttl,
        },
    )
    .map(Some)
    .map_err(|err| OAuthError::server_error(format!("signing failed: {}", err.0)))
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let credentials = credentials.trim();
    let decoded = STANDARD
        .decode(credentials)
        .or_else(|_| STANDARD_NO_PAD.decode(credentials))
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_url_decode(id)?, form_url_decode(secret)?))
}

/// `application/x-www-form-urlencoded` decoding of one value; `None` on a bad `%` escape.
fn form_url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn exchange_code(
    provider: &Shared,
    params: &Params,
    tamper: Tamper,
) -> Result<Response, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::new("invalid_request", "code is missing"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::new("invalid_request", "redirect_uri is missing"))?;
    let invalid_grant = |msg: &str| OAuthError::new("invalid_grant", msg);

    let (grant, nonce, issued) = {
        let mut store = provider.store();
        let entry = store
            .code_mut(code)
            .ok_or_else(|| invalid_grant("unknown or expired authorization code"))?;
        if entry.client_id != provider.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if entry.consumed {
            let grant = entry.grant;
            store.revoke_grant(grant);
            tracing::debug!("test provider saw a replayed code and revoked its grant");
            return Err(invalid_grant(
                "authorization code already used; the tokens issued with it are revoked",
            ));
        }
        // Presented once by its client: burnt, whatever the outcome of the checks below.
        entry.consumed = true;
        if entry.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let verifier = params
            .get("code_verifier")
            .ok_or_else(|| invalid_grant("PKCE code_verifier is missing"))?;
        if !is_code_verifier(verifier) {
            return Err(invalid_grant("PKCE code_verifier is malformed"));
        }
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if challenge != entry.code_challenge {
            return Err(invalid_grant("PKCE verification failed"));
        }
        let grant = RefreshGrant {
            grant: entry.grant,
            client_id: entry.client_id.clone(),
            username: entry.username.clone(),
            scopes: entry.scopes.clone(),
            auth_time: entry.auth_time,
            expires_at: entry.expires_at,
            consumed: false,
        };
        let nonce = entry.nonce.clone();
        let access_token = api_access_token(provider, &grant)?;
        let issued = store
            .issue_tokens(
                &grant,
                access_token,
                provider.access_token_ttl,
                provider.refresh_token_ttl,
            )
            .map_err(|_| OAuthError::server_error("no randomness available"))?;
        (grant, nonce, issued)
    };
    token_response(
        provider,
        &grant,
        nonce.as_deref(),
        Some(code),
        &issued.access_token,
        &issued.refresh_token,
        tamper,
    )
}

/// RFC 7636 4.1: 43 to 128 unreserved characters.
fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn refresh(provider: &Shared, params: &Params, tamper: Tamper) -> Result<Response, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is missing"))?;
    let invalid_grant = |msg: &str| OAuthError::new("invalid_grant", msg);
    let (grant, issued) = {
        let mut store = provider.store();
        let entry = store
            .refresh_mut(token)
            .ok_or_else(|| invalid_grant("unknown, expired or revoked refresh token"))?;
        if entry.client_id != provider.client_id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if entry.consumed {
            let grant = entry.grant;
            store.revoke_grant(grant);
            tracing::debug!("test provider saw a replayed refresh token and revoked its grant");
            return Err(invalid_grant(
                "refresh token already used; the tokens issued with it are revoked",
            ));
        }
        let mut grant = entry.clone();
        if let Some(scope) = params.get("scope") {
            let narrowed: Vec<String> = scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if narrowed.iter().any(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "scope exceeds the original grant",
                ));
            }
            grant.scopes = narrowed;
        }
        // Rotation: this refresh token is spent.
        entry.consumed = true;
        let access_token = api_access_token(provider, &grant)?;
        let issued = store
            .issue_tokens(
                &grant,
                access_token,
                provider.access_token_ttl,
                provider.refresh_token_ttl,
            )
            .map_err(|_| OAuthError::server_error("no randomness available"))?;
        (grant, issued)
    };
    // OIDC Core 12.2: same iss/sub/aud/azp/auth_time, new iat, and no nonce.
    token_response(
        provider,
        &grant,
        None,
        None,
        &issued.access_token,
        &issued.refresh_token,
        tamper,
    )
}

fn token_response(
    provider: &Shared,
    grant: &RefreshGrant,
    nonce: Option<&str>,
    code: Option<&str>,
    access_token: &str,
    refresh_token: &str,
    tamper: Tamper,
) -> Result<Response, OAuthError> {
    let user = provider
        .user(&grant.username)
        .ok_or_else(|| OAuthError::server_error("the user of this grant disappeared"))?;
    let id_token = jwt::id_token(
        provider.keys,
        &IdTokenRequest {
            issuer: &provider.issuer,
            client_id: &provider.client_id,
            extra_audiences: &provider.id_token_audiences,
            user: &user,
            scopes: &grant.scopes,
            nonce,
            auth_time: grant.auth_time,
            access_token,
            code,
            ttl: provider.id_token_ttl,
        },
        tamper,
    )
    .map_err(|err| OAuthError::server_error(format!("signing failed: {}", err.0)))?;
    let token_type = match tamper {
        Tamper::WrongTokenType => "DPoP",
        _ => "Bearer",
    };
    let expires_in = match tamper {
        Tamper::HugeExpiresIn => u64::MAX,
        _ => provider.access_token_ttl.as_secs(),
    };
    let body = json!({
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": expires_in,
        "id_token": id_token,
        "refresh_token": refresh_token,
        "scope": grant.scopes.join(" "),
    });
    Ok((StatusCode::OK, no_store_headers(), Json(body)).into_response())
}
