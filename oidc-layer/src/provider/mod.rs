//! The identity provider as the layer sees it: discovery metadata and signing keys, fetched
//! lazily, cached, refreshed in the background ([`discovery`]), and whether it answers now
//! ([`reachability`]), without queueing requests behind a provider that is down.
//!
//! This module (with `tokens`) is the only place openidconnect types live.

mod discovery;
mod jws;
mod logout_token;
mod metadata;
mod reachability;
#[cfg(test)]
mod testing;
mod tokens;
mod userinfo;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use crate::issuer::{issuers_match, normalized_issuer};
pub(crate) use discovery::Discovered;
pub(crate) use jws::{allowed as signing_algs, is_asymmetric_alg};
pub(crate) use logout_token::unverified_addressee;
pub(crate) use metadata::{Metadata, MetadataError};
pub(crate) use reachability::ContactHealth;
pub(crate) use tokens::VerifiedTokens;

use crate::config::ProviderConfig;
use crate::http_client::{HttpClient, HttpError};

/// Why talking to the provider failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    /// The provider could not be reached or answered with a server error.
    #[error("the identity provider is unreachable: {0}")]
    Unavailable(String),
    /// The discovery document or key set is unusable (misconfiguration).
    #[error("the identity provider's metadata is unusable: {0}")]
    BadMetadata(String),
    /// The token endpoint refused the request (`invalid_grant`: code used or expired, ...).
    #[error("the identity provider refused the token request: {error}")]
    Rejected { error: String },
    /// The token response or the ID token failed validation.
    #[error("the ID token is invalid: {0}")]
    InvalidToken(String),
    /// The provider answered `200` with something that is not a token response (a proxy's
    /// HTML page, a truncated body): a bad gateway, not the browser's fault.
    #[error("the identity provider's answer is not a token response: {0}")]
    BadResponse(String),
}

impl From<HttpError> for ProviderError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::TooLarge => Self::BadMetadata(e.to_string()),
            HttpError::Transport(_) | HttpError::ServerError(_) | HttpError::Build(_) => {
                Self::Unavailable(e.to_string())
            }
        }
    }
}

/// One configured provider: lazily discovered, cached, single-flight refreshed. Shared
/// (`Arc`) so that a stale copy's refresh can run in the background.
pub(crate) struct Provider {
    settings: Arc<ProviderConfig>,
    leeway: Duration,
    http: HttpClient,
    discovery: discovery::Cache,
    reachability: reachability::Reachability,
}

impl Provider {
    pub(crate) fn new(
        settings: Arc<ProviderConfig>,
        leeway: Duration,
        http: HttpClient,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            leeway,
            http,
            discovery: discovery::Cache::default(),
            reachability: reachability::Reachability::default(),
        })
    }

    pub(crate) fn settings(&self) -> &ProviderConfig {
        &self.settings
    }
}
