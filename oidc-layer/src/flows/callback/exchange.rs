//! The code exchange: the code and its PKCE verifier for tokens, the ID token validated
//! against the attempt's nonce.

use http::StatusCode;

use super::Failure;
use super::verify::Verified;
use crate::flows::common::provider_problem;
use crate::metrics::LoginFailure;
use crate::pages::Problem;
use crate::provider::{ProviderError, VerifiedTokens};
use crate::state::{ProviderRuntime, Shared};

/// The verified tokens of `verified`'s code.
pub(super) async fn exchange(
    shared: &Shared,
    provider: &ProviderRuntime,
    verified: &Verified,
) -> Result<VerifiedTokens, Failure> {
    let attempt = &verified.attempt;
    let exchanged = provider
        .client
        .exchange_code(
            &verified.discovered,
            &verified.code,
            &attempt.pkce_verifier,
            &attempt.nonce,
            &provider.redirect_uri,
        )
        .await;
    let tokens = exchanged.map_err(|e| {
        tracing::warn!(error = %e, "code exchange or ID token validation failed");
        match &e {
            ProviderError::Unavailable(_) => provider.client.note_failure(e.to_string()),
            _ => provider.client.note_contact(true),
        }
        let reason = match e {
            ProviderError::Rejected { .. } => LoginFailure::CodeRejected,
            ProviderError::InvalidToken(_) => LoginFailure::InvalidToken,
            _ => LoginFailure::ProviderUnavailable,
        };
        Failure::new(reason, refusal(shared, e, verified), Some(&verified.state))
    })?;
    provider.client.note_contact(true);
    Ok(tokens)
}

/// The page for a failed exchange: the code refused, the answer failing verification, or
/// the provider failing.
fn refusal(shared: &Shared, error: ProviderError, verified: &Verified) -> Problem {
    match error {
        ProviderError::Rejected { .. } => Problem::new(
            StatusCode::BAD_REQUEST,
            "This sign-in link was already used",
            "The identity provider refused the sign-in code (used or expired). Please sign in again.",
        )
        .with_login_url(verified.retry.clone()),
        ProviderError::InvalidToken(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be verified",
            "The identity provider's answer failed verification. Please try again; if it keeps happening, contact the administrator.",
        )
        .with_login_url(verified.retry.clone()),
        other => provider_problem(&other, shared, &verified.attempt.return_to),
    }
}
