//! Who may come in, once the provider's answer is verified: required claims, the identity
//! (username and groups from the configured claims), roles, and the app's account (or the
//! link of this provider identity to the signed-in account).
//!
//! A refusal is an [`AdmissionError`] that says why; the callback turns it into the page the
//! browser sees, a refresh into the end of the session. Nothing here writes a session.

use serde_json::{Map, Value};

use crate::accounts::{AccountError, Resolution, ResolveRequest};
use crate::identity::Identity;
use crate::roles::{RoleDecision, check_required_claims};
use crate::state::{ProviderRuntime, Shared};
use crate::web::attempt::Attempt;

/// The outcome of a successful admission.
pub(crate) enum Admitted {
    /// Sign this identity in.
    Identity(Identity),
    /// The provider identity was linked to the account that started the link; nobody signs in.
    Linked,
}

/// Why a verified provider identity is not let in.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdmissionError {
    /// A required claim is missing or not `true`.
    #[error("the `{claim}` claim is not true")]
    RequiredClaim {
        /// The claim's name.
        claim: String,
    },
    /// The ID token has no subject.
    #[error("the ID token lacks a subject")]
    NoSubject,
    /// The role map gives none of the user's groups a role.
    #[error("no role")]
    NoRole,
    /// The account resolver refused the identity (or the link).
    #[error("refused by the account resolver: {reason}")]
    Refused {
        /// The resolver's reason, shown to the user.
        reason: String,
        /// Whether the login was a link to an account.
        linking: bool,
    },
    /// The account store failed.
    #[error("account store failed: {0}")]
    AccountStore(#[source] AccountError),
}

/// Required claims, then the identity (username and groups from the configured claims) and
/// its roles. Also used when a refresh brings a new ID token.
pub(crate) fn identify(
    provider: &ProviderRuntime,
    claims: Map<String, Value>,
) -> Result<Identity, AdmissionError> {
    let settings = &provider.settings;
    if let Err(claim) = check_required_claims(&claims, &settings.required_claims) {
        tracing::warn!(claim = %claim, "login refused: a required claim is not true");
        return Err(AdmissionError::RequiredClaim { claim });
    }
    let Some(identity) = Identity::build(
        claims,
        &settings.slug,
        &settings.username_claim,
        &settings.groups_claim,
    ) else {
        return Err(AdmissionError::NoSubject);
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
                return Err(AdmissionError::NoRole);
            }
        },
    };
    Ok(identity)
}

/// `identity` with the after-login hook's `extra` roles (at login, and after a refresh
/// decided the mapped roles again), with what they imply in the provider's role order.
pub(crate) fn with_extra_roles(
    provider: &ProviderRuntime,
    identity: Identity,
    extra: &[String],
) -> Identity {
    if extra.is_empty() {
        return identity;
    }
    let implied = match &provider.settings.role_map {
        Some(map) => {
            let all: Vec<String> = identity.roles().iter().chain(extra).cloned().collect();
            map.implied_by(&all)
        }
        None => Vec::new(),
    };
    identity.with_extra_roles(extra, implied)
}

/// [`identify`], then the app's account of the identity (or the link to the account that
/// started the login).
pub(crate) async fn admit(
    shared: &Shared,
    provider: &ProviderRuntime,
    attempt: &Attempt,
    claims: Map<String, Value>,
) -> Result<Admitted, AdmissionError> {
    let settings = &provider.settings;
    let identity = identify(provider, claims)?;
    let request = ResolveRequest::new(
        &settings.slug,
        settings.allow_new_users,
        &identity,
        attempt.link_to.as_deref(),
    )
    .with_provider_name(&settings.name)
    .with_link_by_verified_email(settings.link_by_verified_email);
    match shared.durable.accounts.resolve(request).await {
        Ok(Resolution::Account(account)) if attempt.link_to.is_some() => {
            tracing::info!(account = %account.id, provider = %settings.slug, "provider identity linked");
            Ok(Admitted::Linked)
        }
        Ok(Resolution::Account(account)) => Ok(Admitted::Identity(
            identity.with_account(account.id, account.username),
        )),
        Ok(Resolution::Refused { reason }) => {
            tracing::warn!(sub = identity.sub(), reason = %reason, "login refused by the account resolver");
            Err(AdmissionError::Refused {
                reason,
                linking: attempt.link_to.is_some(),
            })
        }
        Err(e) => {
            tracing::error!(error = %e, "account store failed");
            Err(AdmissionError::AccountStore(e))
        }
    }
}
