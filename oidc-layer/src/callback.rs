//! `GET {prefix}/oidc`: the redirect URI. Checks the authorization response against the
//! login attempt (state, RFC 9207 `iss`), exchanges the code with its PKCE verifier, validates
//! the ID token, and only then creates a session under a fresh id.
//!
//! Every failure answers 4xx (or 502/503 when the provider is at fault or down), removes the
//! attempt cookie, writes nothing to the store, and leaves an existing session as it was.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use session_store::SessionId;
use url::form_urlencoded;

use crate::admission;
use crate::cookies;
use crate::layer::Shared;
use crate::login::{login_url, provider_problem};
use crate::pages::{PageBody, Problem};
use crate::provider::ProviderError;
use crate::session::{self, AccessToken, SessionData, StoredToken};

/// Authorization responses longer than this are refused.
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// The parameters of an authorization response (each at most once).
#[derive(Debug, Default)]
struct AuthorizationResponse {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

fn parse_query(query: &str) -> Result<AuthorizationResponse, &'static str> {
    if query.len() > MAX_QUERY_BYTES {
        return Err("The sign-in response is too long.");
    }
    let mut r = AuthorizationResponse::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "code" => &mut r.code,
            "state" => &mut r.state,
            "iss" => &mut r.iss,
            "error" => &mut r.error,
            _ => continue,
        };
        // RFC 6749 3.1: parameters must not be included more than once.
        if slot.replace(value.into_owned()).is_some() {
            return Err("The sign-in response repeats a parameter.");
        }
    }
    Ok(r)
}

/// A failed callback: the problem to show and whether the attempt cookie must be removed.
struct Failure {
    problem: Problem,
    state: Option<String>,
}

impl Failure {
    fn new(problem: Problem, state: Option<&str>) -> Self {
        Self {
            problem,
            state: state.map(str::to_owned),
        }
    }
}

fn bad_request(detail: &str, shared: &Shared) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Sign-in failed", detail)
        .with_login_url(login_url(shared, "/"))
}

/// Handles the callback; never panics and never touches the store on failure.
#[tracing::instrument(name = "oidc.callback", level = "info", skip_all)]
pub(crate) async fn callback(
    shared: &Shared,
    index: usize,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let html = crate::challenge::wants_html(headers);
    match complete(shared, index, query.unwrap_or(""), headers).await {
        Ok(response) => response,
        Err(Failure { problem, state }) => {
            tracing::warn!(status = problem.status().as_u16(), "login rejected");
            let mut response = problem.into_response(html);
            if let Some(removal) = state.as_deref().and_then(|s| shared.attempts.removal(s)) {
                cookies::append_set_cookie(response.headers_mut(), &removal);
            }
            response
        }
    }
}

async fn current_session(shared: &Shared, headers: &HeaderMap) -> Option<SessionId> {
    let id = cookies::session_id(headers, &shared.cookies.session_name)?;
    shared
        .store
        .load(&id)
        .await
        .ok()
        .flatten()
        .filter(|r| !r.is_expired_at(SystemTime::now()))
        .map(|_| id)
}

async fn complete(
    shared: &Shared,
    index: usize,
    query: &str,
    headers: &HeaderMap,
) -> Result<Response<PageBody>, Failure> {
    let Some(provider) = shared.providers.get(index) else {
        return Err(Failure::new(
            bad_request("Unknown identity provider.", shared),
            None,
        ));
    };
    let params = parse_query(query).map_err(|d| Failure::new(bad_request(d, shared), None))?;
    let Some(state) = params.state.as_deref() else {
        tracing::warn!("callback without state");
        return Err(Failure::new(
            bad_request("The sign-in response has no state.", shared),
            None,
        ));
    };
    let Some(attempt) = shared.attempts.open(headers, state) else {
        // A reload of the callback after logging in, the back button, or an attempt that
        // expired: send a logged-in user home, offer everyone else a fresh login.
        if current_session(shared, headers).await.is_some() {
            tracing::info!("stale callback for a logged-in browser; sending it home");
            return Ok(redirect(&format!("{}/", shared.config.external.base_path)));
        }
        tracing::warn!("callback state matches no login attempt of this browser");
        return Err(Failure::new(
            Problem::new(
                StatusCode::BAD_REQUEST,
                "This sign-in link has expired",
                "The sign-in was already completed, took too long, or was started in another browser. Please sign in again.",
            )
            .with_login_url(login_url(shared, "/")),
            Some(state),
        ));
    };
    let retry = login_url(shared, &attempt.return_to);
    // Mix-up defence: the answer must arrive at the callback of the provider the login went to.
    if attempt.provider != provider.settings.slug {
        tracing::warn!(expected = %attempt.provider, arrived = %provider.settings.slug, "callback at another provider's redirect URI");
        return Err(Failure::new(
            bad_request(
                "The sign-in response arrived for a different identity provider than the one you chose.",
                shared,
            ),
            Some(state),
        ));
    }
    // Single use: a second callback with the same state is refused even with the cookie.
    let fresh = shared
        .used_states
        .entry(attempt.state.clone())
        .or_insert(())
        .await
        .is_fresh();
    if !fresh {
        tracing::warn!("replayed callback state");
        return Err(Failure::new(
            Problem::new(
                StatusCode::BAD_REQUEST,
                "This sign-in link was already used",
                "Please sign in again.",
            )
            .with_login_url(retry),
            Some(state),
        ));
    }

    let discovered = provider.client.discovered().await.map_err(|e| {
        Failure::new(
            provider_problem(&e, shared, &attempt.return_to),
            Some(state),
        )
    })?;

    // RFC 9207: when the provider advertises `iss` in authorization responses it must be
    // there; whenever it is there it must be this provider's issuer (mix-up defence).
    match params.iss.as_deref() {
        Some(iss) if iss != discovered.metadata.issuer => {
            tracing::warn!(iss, "authorization response from another issuer");
            return Err(Failure::new(
                bad_request(
                    "The sign-in response came from an unexpected identity provider.",
                    shared,
                ),
                Some(state),
            ));
        }
        None if discovered.metadata.iss_parameter_supported => {
            tracing::warn!(
                "authorization response lacks the iss parameter the provider advertises"
            );
            return Err(Failure::new(
                bad_request("The sign-in response is incomplete (no issuer).", shared),
                Some(state),
            ));
        }
        _ => {}
    }

    if let Some(error) = params.error.as_deref() {
        tracing::info!(error, "the provider returned an error");
        let problem = if error == "access_denied" {
            Problem::new(
                StatusCode::FORBIDDEN,
                "Sign-in was cancelled",
                "The identity provider did not grant access. You can try again.",
            )
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                format!(
                    "The identity provider answered `{}`.",
                    error
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .take(64)
                        .collect::<String>()
                ),
            )
        };
        return Err(Failure::new(
            problem
                .with_login_url(retry)
                .with_link("Home", format!("{}/", shared.config.external.base_path)),
            Some(state),
        ));
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Failure::new(
            bad_request("The sign-in response has no authorization code.", shared),
            Some(state),
        ));
    };

    let tokens = provider
        .client
        .exchange_code(&discovered, code, &attempt.pkce_verifier, &attempt.nonce, &provider.redirect_uri)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "code exchange or ID token validation failed");
            provider
                .client
                .note_contact(!matches!(e, ProviderError::Unavailable(_)));
            let problem = match e {
                ProviderError::Rejected { .. } => Problem::new(
                    StatusCode::BAD_REQUEST,
                    "This sign-in link was already used",
                    "The identity provider refused the sign-in code (used or expired). Please sign in again.",
                )
                .with_login_url(retry.clone()),
                ProviderError::InvalidToken(_) => Problem::new(
                    StatusCode::BAD_REQUEST,
                    "Sign-in could not be verified",
                    "The identity provider's answer failed verification. Please try again; if it keeps happening, contact the administrator.",
                )
                .with_login_url(retry.clone()),
                other => provider_problem(&other, shared, &attempt.return_to),
            };
            Failure::new(problem, Some(state))
        })?;

    provider.client.note_contact(true);
    let admitted = admission::admit(shared, provider, &attempt, tokens.claims)
        .await
        .map_err(|problem| {
            Failure::new(
                problem.with_link("Home", format!("{}/", shared.config.external.base_path)),
                Some(state),
            )
        })?;
    let identity = match admitted {
        admission::Admitted::Linked => {
            // The provider identity now belongs to the signed-in account: nobody else signs in.
            let mut response = redirect(&format!(
                "{}{}",
                shared.config.external.base_path, attempt.return_to
            ));
            if let Some(removal) = shared.attempts.removal(state) {
                cookies::append_set_cookie(response.headers_mut(), &removal);
            }
            return Ok(response);
        }
        admission::Admitted::Identity(identity) => identity,
    };
    let now = SystemTime::now();
    let sid = match identity.claim("sid") {
        Some(serde_json::Value::String(sid)) => Some(sid),
        _ => None,
    };
    tracing::info!(provider = %provider.settings.slug, sub = identity.sub(), roles = ?identity.roles(), "login succeeded");
    let tags = session::tags(identity.iss(), identity.sub(), sid.as_deref());
    let data = SessionData {
        identity,
        sid,
        id_token: Some(StoredToken::new(tokens.id_token)),
        // Kept only for apps that asked for it: a refresh needs the refresh token alone.
        access_token: shared
            .config
            .expose_access_token
            .then(|| AccessToken::new(tokens.access_token)),
        refresh_token: tokens.refresh_token.map(StoredToken::new),
        access_expires_at: tokens.expires_in.map(|d| now + d),
        access_issued_at: tokens.expires_in.map(|_| now),
        created_at: now,
        last_seen: now,
    };
    let id = crate::user_sessions::create(shared, data, tags)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "session store failed");
            Failure::new(
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is unavailable",
                    "Sessions cannot be stored right now. Please try again in a moment.",
                )
                .with_login_url(retry.clone()),
                Some(state),
            )
        })?;
    // No fixation and no orphan: the browser's previous session (if any) ends here.
    if let Some(old) = cookies::session_id(headers, &shared.cookies.session_name)
        && let Err(e) = shared.store.delete(&old).await
    {
        tracing::warn!(error = %e, "could not delete the previous session");
    }

    let mut response = redirect(&format!(
        "{}{}",
        shared.config.external.base_path, attempt.return_to
    ));
    let h = response.headers_mut();
    let session_cookie = shared.cookies.build(
        shared.cookies.session_name.clone(),
        id.encode(),
        shared.config.session_max_age,
    );
    for cookie in [Some(session_cookie), shared.attempts.removal(state)]
        .into_iter()
        .flatten()
    {
        cookies::append_set_cookie(h, &cookie);
    }
    Ok(response)
}

/// `303 See Other` to a same-origin path, never cached, never leaking the callback URL.
pub(crate) fn redirect(path: &str) -> Response<PageBody> {
    let mut response = Response::new(PageBody::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(path) {
        h.insert(header::LOCATION, v);
    } else {
        h.insert(header::LOCATION, HeaderValue::from_static("/"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let r = parse_query("code=abc&state=xyz&iss=https%3A%2F%2Fid&session_state=1").unwrap();
        assert_eq!(
            (r.code.as_deref(), r.state.as_deref(), r.iss.as_deref()),
            (Some("abc"), Some("xyz"), Some("https://id"))
        );
        assert!(parse_query("code=a&code=b").is_err());
        assert!(parse_query(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
        assert!(parse_query("%ff%fe=%00&&&==").is_ok());
    }
}
