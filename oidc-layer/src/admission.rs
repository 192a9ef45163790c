//! Who may come in, once the provider's answer is verified: required claims, the identity
//! (username and groups from the configured claims), roles, and the app's account (or the
//! link of this provider identity to the signed-in account).
//!
//! Every refusal is a 403 page that says why and offers a way out; a failing account store
//! is a 503. Nothing here writes a session.

use http::StatusCode;
use serde_json::{Map, Value};

use crate::accounts::{Resolution, ResolveRequest};
use crate::attempt::Attempt;
use crate::identity::Identity;
use crate::layer::{ProviderRuntime, Shared};
use crate::login::{login_url, reauth_login_url};
use crate::pages::Problem;
use crate::roles::{RoleDecision, check_required_claims};

/// The outcome of a successful admission.
pub(crate) enum Admitted {
    /// Sign this identity in.
    Identity(Identity),
    /// The provider identity was linked to the account that started the link; nobody signs in.
    Linked,
}

fn refused(title: &'static str, detail: String, shared: &Shared, return_to: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, title, detail).with_link(
        "Sign in with another account",
        reauth_login_url(shared, return_to),
    )
}

/// Required claims, then the identity (username and groups from the configured claims) and
/// its roles. Also used when a refresh brings a new ID token.
pub(crate) fn identify(
    shared: &Shared,
    provider: &ProviderRuntime,
    claims: Map<String, Value>,
    return_to: &str,
) -> Result<Identity, Problem> {
    let settings = &provider.settings;
    if let Err(claim) = check_required_claims(&claims, &settings.required_claims) {
        tracing::warn!(claim = %claim, "login refused: a required claim is not true");
        return Err(refused(
            "Access denied",
            format!(
                "Your {} account is not allowed to use this app: its `{claim}` claim is not true.",
                settings.name
            ),
            shared,
            return_to,
        ));
    }
    let Some(identity) = Identity::build(
        claims,
        &settings.slug,
        &settings.username_claim,
        &settings.groups_claim,
    ) else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The ID token lacks a subject.",
        ));
    };
    let identity = match &settings.role_map {
        None => identity,
        Some(map) => match map.decide(identity.groups(), identity.username(), identity.sub()) {
            RoleDecision::Granted { roles, explanation } => {
                let implied = map.implied_by(&roles);
                identity.with_roles(roles, implied, Some(explanation.to_string()))
            }
            RoleDecision::Denied { explanation } => {
                tracing::warn!(sub = identity.sub(), why = %explanation, "login refused: no role");
                return Err(refused(
                    "No access to this app",
                    "None of your groups gives you a role in this app. Ask an administrator for access.".to_owned(),
                    shared,
                    return_to,
                ));
            }
        },
    };
    Ok(identity)
}

pub(crate) async fn admit(
    shared: &Shared,
    provider: &ProviderRuntime,
    attempt: &Attempt,
    claims: Map<String, Value>,
) -> Result<Admitted, Problem> {
    let settings = &provider.settings;
    let identity = identify(shared, provider, claims, &attempt.return_to)?;
    let request = ResolveRequest::new(
        &settings.slug,
        settings.allow_new_users,
        &identity,
        attempt.link_to.as_deref(),
    )
    .with_provider_name(&settings.name)
    .with_link_by_verified_email(settings.link_by_verified_email);
    match shared.accounts.resolve(request).await {
        Ok(Resolution::Account(account)) if attempt.link_to.is_some() => {
            tracing::info!(account = %account.id, provider = %settings.slug, "provider identity linked");
            Ok(Admitted::Linked)
        }
        Ok(Resolution::Account(account)) => Ok(Admitted::Identity(
            identity.with_account(account.id, account.username),
        )),
        Ok(Resolution::Refused { reason }) => {
            tracing::warn!(sub = identity.sub(), reason = %reason, "login refused by the account resolver");
            let title = if attempt.link_to.is_some() {
                "Account not linked"
            } else {
                "Sign-in refused"
            };
            Err(refused(title, reason, shared, &attempt.return_to))
        }
        Err(e) => {
            tracing::error!(error = %e, "account store failed");
            Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "Accounts cannot be read right now. Please try again in a moment.",
            )
            .with_login_url(login_url(shared, &attempt.return_to)))
        }
    }
}
