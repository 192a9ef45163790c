//! The authorization response against the login attempt: its parameters, the attempt cookie
//! of its `state` (used once), the provider it went to, RFC 9207 `iss`, and the provider's
//! `error`; what comes out is a code to exchange.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Response, StatusCode};

use super::{Failure, bad_request};
use crate::flows::common::login_url;
use crate::flows::common::provider_problem;
use crate::metrics::LoginFailure;
use crate::pages::{PageBody, Problem};
use crate::provider::Discovered;
use crate::session::current::{self, Expired};
use crate::state::replay::first_use_of_state;
use crate::state::{ProviderRuntime, Shared};
use crate::web::attempt::Attempt;
use crate::web::query::{self, Repeated};
use crate::web::redirect;

/// Authorization responses longer than this are refused.
pub(super) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// The parameters of an authorization response (each at most once).
#[derive(Debug, Default)]
pub(super) struct AuthorizationResponse {
    pub(super) code: Option<String>,
    pub(super) state: Option<String>,
    pub(super) iss: Option<String>,
    pub(super) error: Option<String>,
}

pub(super) fn parse_query(query: &str) -> Result<AuthorizationResponse, &'static str> {
    if query.len() > MAX_QUERY_BYTES {
        return Err("The sign-in response is too long.");
    }
    // RFC 6749 3.1: parameters must not be included more than once.
    let [code, state, iss, error] =
        query::unique(query.as_bytes(), ["code", "state", "iss", "error"])
            .map_err(|Repeated(_)| "The sign-in response repeats a parameter.")?;
    Ok(AuthorizationResponse {
        code,
        state,
        iss,
        error,
    })
}

/// A verified authorization response: the code to exchange and what it belongs to.
pub(super) struct Verified {
    /// The response's `state` (whose attempt cookie is removed at the end).
    pub(super) state: String,
    pub(super) attempt: Attempt,
    pub(super) code: String,
    pub(super) discovered: Arc<Discovered>,
    /// Where "Sign in" sends the browser after a failure: the login, back to `return_to`.
    pub(super) retry: String,
}

/// What the callback goes on with.
pub(super) enum Checked {
    /// Exchange this code.
    Verified(Verified),
    /// A stale callback of a signed-in browser: send it there.
    Home(Response<PageBody>),
}

/// Checks the authorization response `query` against this browser's login attempt.
pub(super) async fn verify(
    shared: &Shared,
    provider: &ProviderRuntime,
    query: &str,
    headers: &HeaderMap,
) -> Result<Checked, Failure> {
    let params = parse_query(query)
        .map_err(|d| Failure::new(LoginFailure::BadResponse, bad_request(d, shared), None))?;
    let Some(state) = params.state else {
        tracing::warn!("callback without state");
        return Err(Failure::new(
            LoginFailure::BadResponse,
            bad_request("The sign-in response has no state.", shared),
            None,
        ));
    };
    let fail = |reason, problem: Problem| Failure::new(reason, problem, Some(&state));
    let Some(attempt) = shared.attempts.open(headers, &state) else {
        return stale(shared, headers)
            .await
            .map_err(|p| fail(LoginFailure::UnknownState, p));
    };
    let retry = login_url(shared, &attempt.return_to);
    // Mix-up defence: the answer must arrive at the callback of the provider the login went to.
    if attempt.provider != provider.settings.slug {
        tracing::warn!(expected = %attempt.provider, arrived = %provider.settings.slug, "callback at another provider's redirect URI");
        return Err(fail(
            LoginFailure::ProviderMismatch,
            bad_request(
                "The sign-in response arrived for a different identity provider than the one you chose.",
                shared,
            ),
        ));
    }
    // Single use: a second callback with the same state is refused even with the cookie.
    let fresh = first_use_of_state(&shared.durable.used_states, attempt.state.clone()).await;
    if !fresh {
        tracing::warn!("replayed callback state");
        return Err(fail(
            LoginFailure::ReplayedState,
            Problem::new(
                StatusCode::BAD_REQUEST,
                "This sign-in link was already used",
                "Please sign in again.",
            )
            .with_login_url(retry),
        ));
    }
    let discovered = provider.client.discovered().await.map_err(|e| {
        fail(
            LoginFailure::ProviderUnavailable,
            provider_problem(&e, shared, &attempt.return_to),
        )
    })?;
    check_issuer(shared, params.iss.as_deref(), &discovered)
        .map_err(|p| fail(LoginFailure::ProviderMismatch, p))?;
    if let Some(error) = params.error.as_deref() {
        if attempt.silent {
            return Ok(Checked::Home(silent_miss(shared, &state, error, &attempt)));
        }
        return Err(fail(
            LoginFailure::ProviderError,
            provider_error(shared, error, retry),
        ));
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return Err(fail(
            LoginFailure::BadResponse,
            bad_request("The sign-in response has no authorization code.", shared),
        ));
    };
    Ok(Checked::Verified(Verified {
        state,
        attempt,
        code,
        discovered,
        retry,
    }))
}

/// No attempt of this browser has the state: a reload of the callback after logging in, the
/// back button, or an attempt that expired. A signed-in browser goes home, everyone else is
/// offered a fresh login.
async fn stale(shared: &Shared, headers: &HeaderMap) -> Result<Checked, Problem> {
    let signed_in = current::find(shared, headers, Expired::EndedAt(SystemTime::now()))
        .await
        .ok()
        .flatten()
        .is_some();
    if signed_in {
        tracing::info!("stale callback for a logged-in browser; sending it home");
        return Ok(Checked::Home(redirect(&format!(
            "{}/",
            shared.config.external.base_path
        ))));
    }
    tracing::warn!("callback state matches no login attempt of this browser");
    Err(Problem::new(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "The sign-in was already completed, took too long, or was started in another browser. Please sign in again.",
    )
    .with_login_url(login_url(shared, "/")))
}

/// RFC 9207: when the provider advertises `iss` in authorization responses it must be there;
/// whenever it is there it must be this provider's issuer (mix-up defence).
fn check_issuer(
    shared: &Shared,
    iss: Option<&str>,
    discovered: &Discovered,
) -> Result<(), Problem> {
    match iss {
        Some(iss) if iss != discovered.metadata.issuer => {
            tracing::warn!(iss, "authorization response from another issuer");
            Err(bad_request(
                "The sign-in response came from an unexpected identity provider.",
                shared,
            ))
        }
        None if discovered.metadata.iss_parameter_supported => {
            tracing::warn!(
                "authorization response lacks the iss parameter the provider advertises"
            );
            Err(bad_request(
                "The sign-in response is incomplete (no issuer).",
                shared,
            ))
        }
        _ => Ok(()),
    }
}

/// The provider's errors that mean "no silent sign-in possible" (Core 3.1.2.6): the user must
/// interact, which a `prompt=none` request forbids.
const SILENT_MISSES: &[&str] = &[
    "login_required",
    "consent_required",
    "interaction_required",
    "account_selection_required",
];

/// A silent sign-in the provider could not complete: back to the page, unauthenticated, with
/// the attempt cookie removed and no error page (the user asked for nothing).
fn silent_miss(shared: &Shared, state: &str, error: &str, attempt: &Attempt) -> Response<PageBody> {
    if SILENT_MISSES.contains(&error) {
        tracing::info!(error, "silent sign-in: no provider session to use");
    } else {
        tracing::warn!(
            error = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect::<String>(),
            "silent sign-in refused by the provider"
        );
    }
    let mut response = redirect(&format!(
        "{}{}",
        shared.config.external.base_path, attempt.return_to
    ));
    if let Some(removal) = shared.attempts.removal(state) {
        crate::web::cookies::append_set_cookie(response.headers_mut(), &removal);
    }
    response
}

/// The page for an authorization response that carries the provider's `error`.
fn provider_error(shared: &Shared, error: &str, retry: String) -> Problem {
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
    problem
        .with_login_url(retry)
        .with_link("Home", format!("{}/", shared.config.external.base_path))
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
