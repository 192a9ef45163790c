//! What the flows share, so that none imports another: the URLs of the login route, and the
//! page shown when the provider cannot be used.

use http::StatusCode;
use url::form_urlencoded;

use crate::pages::Problem;
use crate::provider::ProviderError;
use crate::state::Shared;

/// `value` percent-encoded for a query string.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `{base_path}{prefix}/login?return_to=...`: where programs and error pages send people
/// (the chooser when there are several providers).
pub(crate) fn login_url(shared: &Shared, return_to: &str) -> String {
    format!(
        "{}{}?return_to={}",
        shared.config.external.base_path,
        shared.routes.login,
        encode(return_to)
    )
}

/// [`login_url`] that makes the provider ask who is signing in, even when it has a session:
/// the way out of a refusal ("Sign in with another account"). Without it the provider signs
/// the same person straight in again and they see the same refusal.
pub(crate) fn reauth_login_url(shared: &Shared, return_to: &str) -> String {
    format!("{}&prompt=login", login_url(shared, return_to))
}

/// The login URL of one provider.
pub(crate) fn provider_login_url(shared: &Shared, slug: &str, return_to: &str) -> String {
    format!("{}&provider={}", login_url(shared, return_to), encode(slug))
}

/// The answer when the provider cannot be used: 503 while it is unreachable (with a retry
/// link), 502 when its answers or metadata are unusable; these offer the backup login when
/// there is one. Any other error (a refused or invalid token) is not the provider failing, and
/// does not.
pub(crate) fn provider_problem(error: &ProviderError, shared: &Shared, return_to: &str) -> Problem {
    let provider_failing = matches!(
        error,
        ProviderError::Unavailable(_)
            | ProviderError::BadResponse(_)
            | ProviderError::BadMetadata(_)
    );
    let problem = match error {
        ProviderError::Unavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sign-in service is unreachable",
            "The identity provider did not answer. Please try again in a moment.",
        )
        .with_login_action("Try again", login_url(shared, return_to)),
        ProviderError::BadResponse(_) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "The sign-in service answered incorrectly",
            "The identity provider sent an answer that could not be used. Please try again; if it keeps happening, contact the administrator.",
        )
        .with_login_action("Try again", login_url(shared, return_to)),
        _ => Problem::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in is misconfigured",
            "The identity provider's configuration could not be used. The administrator can find the cause in the logs.",
        ),
    };
    match &shared.config.backup_login_path {
        Some(path) if provider_failing => {
            problem.with_backup_login(format!("{}{path}", shared.config.external.base_path))
        }
        _ => problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OidcLayer;
    use crate::config::test_base as base;

    #[test]
    fn only_a_failing_provider_offers_the_backup_login() {
        let config = base()
            .backup_login_path("/login/local")
            .build()
            .expect("a valid configuration");
        let shared = OidcLayer::new(config).current();
        let failing = [
            ProviderError::Unavailable("connection refused".into()),
            ProviderError::BadResponse("html".into()),
            ProviderError::BadMetadata("no jwks".into()),
        ];
        for error in &failing {
            let problem = provider_problem(error, &shared, "/");
            assert!(problem.offers_backup_login(), "{error}");
        }
        let not_failing = [
            ProviderError::Rejected {
                error: "invalid_grant".into(),
            },
            ProviderError::InvalidToken("bad nonce".into()),
        ];
        for error in &not_failing {
            let problem = provider_problem(error, &shared, "/");
            assert!(!problem.offers_backup_login(), "{error}");
        }
        // Without a backup login configured, no page offers one.
        let config = base().build().expect("a valid configuration");
        let shared = OidcLayer::new(config).current();
        assert!(!provider_problem(&failing[0], &shared, "/").offers_backup_login());
    }
}
