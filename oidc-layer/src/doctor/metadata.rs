//! The `metadata` check: the discovery document passes the layer's own validation
//! ([`Metadata::parse`]: endpoints, https), and the provider supports PKCE and a way to send the
//! client secret.

use super::{Level, ProviderReport};
use crate::config::ProviderConfig;
use crate::provider::{Metadata, MetadataError};

/// Parses the discovery document `body` as the layer does; `None` when the layer would refuse
/// it.
pub(super) fn check(
    report: &mut ProviderReport,
    settings: &ProviderConfig,
    body: &[u8],
) -> Option<Metadata> {
    match Metadata::parse(body, &settings.issuer) {
        Ok(metadata) => {
            report.push(
                Level::Ok,
                "metadata",
                "the discovery document passes the layer's checks",
            );
            check_methods(report, settings, &metadata);
            Some(metadata)
        }
        // Reported by the `issuer` check, with a hint.
        Err(MetadataError::IssuerMismatch { .. }) => None,
        Err(e) => {
            report.push(Level::Error, "metadata", e.to_string());
            None
        }
    }
}

/// PKCE S256, and a client authentication method the layer can use.
fn check_methods(report: &mut ProviderReport, settings: &ProviderConfig, metadata: &Metadata) {
    if let Some(methods) = &metadata.code_challenge_methods
        && !methods.iter().any(|m| m == "S256")
    {
        report.push(
            Level::Warn,
            "metadata",
            "the provider does not advertise PKCE S256 (code_challenge_methods_supported); the layer sends it anyway",
        );
    }
    let basic = metadata
        .token_auth_methods
        .iter()
        .any(|m| m == "client_secret_basic");
    let post = metadata
        .token_auth_methods
        .iter()
        .any(|m| m == "client_secret_post");
    if settings.client_secret.is_some() && !basic && !post {
        report.push(
            Level::Error,
            "metadata",
            format!(
                "the token endpoint supports neither client_secret_basic nor client_secret_post (it advertises {})",
                metadata.token_auth_methods.join(", ")
            ),
        );
    }
}
