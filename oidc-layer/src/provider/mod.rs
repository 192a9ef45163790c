//! The identity provider as the layer sees it: discovery metadata and signing keys, fetched
//! lazily, cached, refreshed, and retried without hammering a provider that is down.
//!
//! This module (with `tokens`) is the only place openidconnect types live.

mod logout_token;
mod metadata;
mod tokens;
mod userinfo;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;

pub(crate) use logout_token::unverified_addressee;
pub(crate) use metadata::{Metadata, issuers_match};

use crate::config::ProviderConfig;
use crate::http_client::{HttpClient, HttpError};

/// How long discovery metadata and keys are used before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// After a failed fetch, callers get the failure (or the stale copy) for this long instead of
/// each one calling the provider again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// An unknown `kid` refetches the JWKS at most this often.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

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

/// Metadata and keys as fetched together.
#[derive(Debug)]
pub(crate) struct Discovered {
    pub(crate) metadata: Metadata,
    pub(crate) jwks: CoreJsonWebKeySet,
    fetched_at: Instant,
}

#[derive(Default)]
struct FetchState {
    last_failure: Option<(Instant, String)>,
    last_jwks_refetch: Option<Instant>,
}

/// How long a successful contact with the provider vouches for it when a login starts: past
/// that, or after a failed contact, a login start checks the provider first (at most one check
/// at a time), so that people get the 503 page instead of a redirect to a provider that is down.
const CONTACT_VOUCHES_FOR: Duration = Duration::from_secs(30);

/// The last successful and failed contacts with the provider.
#[derive(Debug, Default, Clone, Copy)]
struct Contact {
    ok: Option<Instant>,
    failed: Option<Instant>,
}

impl Contact {
    fn vouches(&self) -> bool {
        match (self.ok, self.failed) {
            (Some(ok), failed) => {
                ok.elapsed() < CONTACT_VOUCHES_FOR && failed.is_none_or(|f| f < ok)
            }
            (None, _) => false,
        }
    }
}

/// One configured provider: lazily discovered, cached, single-flight refreshed.
pub(crate) struct Provider {
    settings: Arc<ProviderConfig>,
    leeway: Duration,
    http: HttpClient,
    cache: RwLock<Option<Arc<Discovered>>>,
    fetch: tokio::sync::Mutex<FetchState>,
    contact: std::sync::Mutex<Contact>,
    probe: tokio::sync::Mutex<()>,
}

impl Provider {
    pub(crate) fn new(settings: Arc<ProviderConfig>, leeway: Duration, http: HttpClient) -> Self {
        Self {
            settings,
            leeway,
            http,
            cache: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            contact: std::sync::Mutex::new(Contact::default()),
            probe: tokio::sync::Mutex::new(()),
        }
    }

    /// Records the outcome of a call to the provider (failures: it could not be reached).
    pub(crate) fn note_contact(&self, ok: bool) {
        if let Ok(mut contact) = self.contact.lock() {
            if ok {
                contact.ok = Some(Instant::now());
            } else {
                contact.failed = Some(Instant::now());
            }
        }
    }

    fn contact_vouches(&self) -> bool {
        self.contact.lock().is_ok_and(|c| c.vouches())
    }

    /// Before sending a browser to the provider: Ok when a recent contact vouches for it,
    /// otherwise after one quick request to its discovery document.
    pub(crate) async fn check_reachable(&self) -> Result<(), ProviderError> {
        if self.contact_vouches() {
            return Ok(());
        }
        let _one_at_a_time = self.probe.lock().await;
        if self.contact_vouches() {
            return Ok(());
        }
        let outcome = match self.http.get_json(&self.settings.discovery_url).await {
            Ok((status, _)) if !status.is_server_error() => Ok(()),
            Ok((status, _)) => Err(ProviderError::Unavailable(format!(
                "discovery document answered {status}"
            ))),
            Err(e) => Err(ProviderError::from(e)),
        };
        self.note_contact(outcome.is_ok());
        outcome
    }

    fn cached(&self) -> Option<Arc<Discovered>> {
        self.cache.read().ok().and_then(|c| c.clone())
    }

    fn replace(&self, discovered: Arc<Discovered>) {
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(discovered);
        }
    }

    /// The provider's metadata and keys, fetched on first use and refreshed when stale. While
    /// the provider is down a stale copy keeps being served.
    pub(crate) async fn discovered(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self
            .cached()
            .filter(|d| d.fetched_at.elapsed() < METADATA_TTL)
        {
            return Ok(d);
        }
        let mut state = self.fetch.lock().await;
        let stale = self.cached();
        if let Some(d) = stale
            .clone()
            .filter(|d| d.fetched_at.elapsed() < METADATA_TTL)
        {
            return Ok(d);
        }
        if let Some((at, reason)) = &state.last_failure
            && at.elapsed() < RETRY_AFTER_FAILURE
        {
            return stale.ok_or_else(|| ProviderError::Unavailable(reason.clone()));
        }
        let fetched = self.fetch_all().await;
        self.note_contact(!matches!(fetched, Err(ProviderError::Unavailable(_))));
        match fetched {
            Ok(d) => {
                let d = Arc::new(d);
                self.replace(d.clone());
                state.last_failure = None;
                Ok(d)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %e, "provider discovery failed");
                state.last_failure = Some((Instant::now(), e.to_string()));
                match stale {
                    Some(d) => Ok(d),
                    None => Err(e),
                }
            }
        }
    }

    async fn fetch_all(&self) -> Result<Discovered, ProviderError> {
        let body = self
            .get(&self.settings.discovery_url, "discovery document")
            .await?;
        let metadata = Metadata::parse(&body, &self.settings.issuer)?;
        let jwks = self.fetch_jwks(&metadata).await?;
        if metadata
            .code_challenge_methods
            .as_ref()
            .is_some_and(|m| !m.iter().any(|m| m == "S256"))
        {
            tracing::warn!(issuer = %metadata.issuer, "the provider does not advertise PKCE S256; sending it anyway");
        }
        tracing::info!(issuer = %metadata.issuer, keys = jwks.keys().len(), "provider discovered");
        Ok(Discovered {
            metadata,
            jwks,
            fetched_at: Instant::now(),
        })
    }

    async fn get(&self, url: &str, what: &str) -> Result<Vec<u8>, ProviderError> {
        let (status, body) = self.http.get_json(url).await?;
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(format!(
                "{what} at {url} answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::BadMetadata(format!(
                "{what} at {url} answered {status}"
            )));
        }
        Ok(body)
    }

    async fn fetch_jwks(&self, metadata: &Metadata) -> Result<CoreJsonWebKeySet, ProviderError> {
        let body = self.get(metadata.jwks_uri.as_str(), "JWKS").await?;
        serde_json::from_slice(&body)
            .map_err(|e| ProviderError::BadMetadata(format!("JWKS is not valid: {e}")))
    }

    /// Refetches the key set after a token named a key we do not have (the provider rotated its
    /// keys). Rate-limited; returns the current copy when another caller refreshed it already.
    pub(crate) async fn refetch_jwks(&self, seen: &Arc<Discovered>) -> Option<Arc<Discovered>> {
        let mut state = self.fetch.lock().await;
        if let Some(current) = self.cached().filter(|c| !Arc::ptr_eq(c, seen)) {
            return Some(current);
        }
        if state
            .last_jwks_refetch
            .is_some_and(|at| at.elapsed() < JWKS_REFETCH_INTERVAL)
        {
            return None;
        }
        state.last_jwks_refetch = Some(Instant::now());
        match self.fetch_jwks(&seen.metadata).await {
            Ok(jwks) => {
                tracing::info!(
                    keys = jwks.keys().len(),
                    "refetched JWKS after an unknown key id"
                );
                let d = Arc::new(Discovered {
                    metadata: seen.metadata.clone(),
                    jwks,
                    fetched_at: seen.fetched_at,
                });
                self.replace(d.clone());
                Some(d)
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refetch failed");
                None
            }
        }
    }

    pub(crate) fn settings(&self) -> &ProviderConfig {
        &self.settings
    }
}

#[cfg(test)]
mod contact_tests {
    use super::*;

    #[test]
    fn only_a_recent_success_not_followed_by_a_failure_vouches() {
        let now = Instant::now();
        let never = Contact::default();
        assert!(!never.vouches());
        let ok = Contact {
            ok: Some(now),
            failed: None,
        };
        assert!(ok.vouches());
        let failed_since = Contact {
            ok: now.checked_sub(Duration::from_secs(1)),
            failed: Some(now),
        };
        assert!(!failed_since.vouches());
        let recovered = Contact {
            ok: Some(now),
            failed: now.checked_sub(Duration::from_secs(1)),
        };
        assert!(recovered.vouches());
        let old = Contact {
            ok: now.checked_sub(CONTACT_VOUCHES_FOR + Duration::from_secs(1)),
            failed: None,
        };
        assert!(!old.vouches());
    }
}
