//! The app's after-login hook at the callback (see [`crate::after_login`]): its refusal is a
//! 403 page with its message, its failure (or panic, or additions that cannot be stored) a
//! 503 page; either way no session is made.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use http::{HeaderMap, StatusCode};

use super::Failure;
use super::verify::Verified;
use crate::after_login::{AfterLoginError, Login, LoginAdditions};
use crate::flows::common::{login_url, reauth_login_url};
use crate::identity::Identity;
use crate::metrics::LoginFailure;
use crate::pages::Problem;
use crate::provider::VerifiedTokens;
use crate::state::{ProviderRuntime, Shared};

/// What the hook adds to the session of `identity`; nothing without a hook.
pub(super) async fn run(
    shared: &Shared,
    provider: &ProviderRuntime,
    verified: &Verified,
    identity: &Identity,
    tokens: &VerifiedTokens,
    headers: &HeaderMap,
) -> Result<LoginAdditions, Failure> {
    let Some(hook) = &shared.durable.after_login else {
        return Ok(LoginAdditions::new());
    };
    let login = Login {
        identity: identity.clone(),
        provider: provider.settings.slug.clone(),
        access_token: tokens.access_token.clone(),
        id_token: tokens.id_token.clone(),
        refresh_token: tokens.refresh_token.is_some(),
        headers: headers.clone(),
    };
    let outcome = AssertUnwindSafe(hook.after_login(login))
        .catch_unwind()
        .await;
    let fail = |reason: LoginFailure, problem: Problem| {
        Failure::new(
            reason,
            problem.with_link("Home", format!("{}/", shared.config.external.base_path)),
            Some(&verified.state),
        )
    };
    let unavailable = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "The app could not complete your sign-in. Please try again in a moment.",
        )
        .with_login_url(login_url(shared, &verified.attempt.return_to))
    };
    match outcome {
        Ok(Ok(additions)) => match additions.problem(shared.config.app_data_max_bytes) {
            None => Ok(additions),
            Some(problem) => {
                tracing::error!(
                    problem,
                    sub = identity.sub(),
                    "the after-login hook's additions cannot be stored; no session made"
                );
                Err(fail(LoginFailure::HookFailed, unavailable()))
            }
        },
        Ok(Err(AfterLoginError::Refused(message))) => {
            tracing::warn!(sub = identity.sub(), reason = %message, "login refused by the after-login hook");
            Err(fail(
                LoginFailure::Refused,
                Problem::new(StatusCode::FORBIDDEN, "Sign-in refused", message).with_link(
                    "Sign in with another account",
                    reauth_login_url(shared, &verified.attempt.return_to),
                ),
            ))
        }
        Ok(Err(AfterLoginError::Failed(error))) => {
            tracing::error!(error = %error, sub = identity.sub(), "the after-login hook failed; no session made");
            Err(fail(LoginFailure::HookFailed, unavailable()))
        }
        Err(_panic) => {
            tracing::error!(
                sub = identity.sub(),
                "the after-login hook panicked; no session made"
            );
            Err(fail(LoginFailure::HookFailed, unavailable()))
        }
    }
}
