//! Admission at the callback: the verified claims through [`admission`](crate::admission),
//! whose refusals become the pages people see here.

use http::StatusCode;
use serde_json::{Map, Value};

use super::Failure;
use super::verify::Verified;
use crate::admission::{self, AdmissionError, Admitted};
use crate::custom_pages::ProblemKind;
use crate::flows::common::{login_url, reauth_login_url};
use crate::metrics::LoginFailure;
use crate::pages::Problem;
use crate::state::{ProviderRuntime, Shared};

/// Admits the claims of `verified`'s login, or the page saying why not.
pub(super) async fn admit(
    shared: &Shared,
    provider: &ProviderRuntime,
    verified: &Verified,
    claims: Map<String, Value>,
) -> Result<Admitted, Failure> {
    admission::admit(shared, provider, &verified.attempt, claims)
        .await
        .map_err(|error| {
            let problem = problem(&error, shared, provider, &verified.attempt.return_to);
            let reason = match error {
                AdmissionError::AccountStore(_) => LoginFailure::StoreUnavailable,
                AdmissionError::NoSubject => LoginFailure::InvalidToken,
                _ => LoginFailure::Refused,
            };
            Failure::new(
                reason,
                problem.with_link("Home", format!("{}/", shared.config.external.base_path)),
                Some(&verified.state),
            )
        })
}

/// The page of a refusal: a 403 that says why with a way out (another account), a 503 when
/// the account store failed.
fn problem(
    error: &AdmissionError,
    shared: &Shared,
    provider: &ProviderRuntime,
    return_to: &str,
) -> Problem {
    let refused = |title: &'static str, detail: String| {
        Problem::new(StatusCode::FORBIDDEN, title, detail)
            .kind(ProblemKind::Refusal)
            .with_link(
                "Sign in with another account",
                reauth_login_url(shared, return_to),
            )
    };
    match error {
        AdmissionError::RequiredClaim { claim } => refused(
            "Access denied",
            format!(
                "Your {} account is not allowed to use this app: its `{claim}` claim is not true.",
                provider.settings.name
            ),
        ),
        AdmissionError::NoSubject => Problem::new(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The ID token lacks a subject.",
        ),
        AdmissionError::NoRole => refused(
            "No access to this app",
            "None of your groups gives you a role in this app. Ask an administrator for access."
                .to_owned(),
        ),
        AdmissionError::Refused { reason, linking } => refused(
            if *linking {
                "Account not linked"
            } else {
                "Sign-in refused"
            },
            reason.clone(),
        ),
        AdmissionError::AccountStore(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "Accounts cannot be read right now. Please try again in a moment.",
        )
        .with_login_url(login_url(shared, return_to)),
    }
}
