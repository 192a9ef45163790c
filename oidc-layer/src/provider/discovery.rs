//! Discovery metadata and signing keys: fetched on first use, cached, and refreshed in the
//! background once stale (requests keep the stale copy meanwhile, never wait for a refresh).
//!
//! A fetch runs one at a time. Callers that waited for one share its outcome, and after a
//! failure everyone gets that failure (or the stale copy) for [`RETRY_AFTER_FAILURE`] instead
//! of calling the provider again, so with the provider down a crowd of login starts costs one
//! request to it, not one each in turn. A fetch that does not finish within [`FETCH_TIMEOUT`]
//! failed, and so did one whose caller went away before it finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use tokio::sync::MutexGuard;

use super::{Metadata, Provider, ProviderError};
use crate::jose::KeySet;
use crate::metrics;

/// How long discovery metadata and keys are used before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// After a failed fetch, callers get the failure (or the stale copy) for this long instead of
/// each one calling the provider again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// An unknown `kid` refetches the JWKS at most this often.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// A fetch of the discovery document and the keys (two small JSON documents) that takes longer
/// failed: a provider that accepts connections but does not answer would otherwise hold every
/// login start for the HTTP client's whole timeout.
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Metadata and keys as fetched together.
#[derive(Debug)]
pub(crate) struct Discovered {
    pub(crate) metadata: Metadata,
    pub(crate) jwks: CoreJsonWebKeySet,
    /// The same keys, parsed once for [`crate::jose`] (the keys it cannot use left out).
    pub(crate) keys: Arc<KeySet>,
    fetched_at: Instant,
}

impl Discovered {
    fn is_fresh(&self) -> bool {
        self.fetched_at.elapsed() < METADATA_TTL
    }
}

/// A provider's copy of its metadata and keys, and the state of fetching them.
#[derive(Default)]
pub(super) struct Cache {
    copy: RwLock<Option<Arc<Discovered>>>,
    fetch: tokio::sync::Mutex<FetchState>,
    /// A background refresh of a stale copy is under way (at most one).
    refreshing: AtomicBool,
}

#[derive(Default)]
struct FetchState {
    last_failure: Option<Failure>,
    last_jwks_refetch: Option<Instant>,
}

struct Failure {
    at: Instant,
    reason: String,
}

/// A fetch under way, holding the fetch lock. Dropped before it finished (its caller went
/// away: a browser that gave up, a caller's own timeout), it counts as a failure, so that the
/// back-off starts instead of the next caller starting over at once.
struct Fetching<'a> {
    state: MutexGuard<'a, FetchState>,
    finished: bool,
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!("provider discovery cancelled before the provider answered");
            self.state.last_failure = Some(Failure {
                at: Instant::now(),
                reason: "the last discovery fetch was cancelled before the provider answered"
                    .into(),
            });
        }
    }
}

/// Marks the background refresh as over, however its task ends.
struct Refreshing(Arc<Provider>);

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.0.discovery.refreshing.store(false, Ordering::Release);
    }
}

impl Provider {
    fn cached(&self) -> Option<Arc<Discovered>> {
        self.discovery.copy.read().ok().and_then(|c| c.clone())
    }

    /// How long ago the cached metadata was fetched; `None` before the first fetch.
    pub(crate) fn cached_metadata_age(&self) -> Option<Duration> {
        self.cached().map(|c| c.fetched_at.elapsed())
    }

    fn replace(&self, discovered: Arc<Discovered>) {
        if let Ok(mut copy) = self.discovery.copy.write() {
            *copy = Some(discovered);
        }
    }

    /// The provider's metadata and keys: fetched on first use (callers wait, at most
    /// [`FETCH_TIMEOUT`]); once stale, the stale copy is returned at once and refreshed in the
    /// background, and it keeps being served while the provider is down.
    pub(crate) async fn discovered(self: &Arc<Self>) -> Result<Arc<Discovered>, ProviderError> {
        match self.cached() {
            Some(copy) if copy.is_fresh() => Ok(copy),
            Some(stale) => {
                self.refresh_in_background();
                Ok(stale)
            }
            None => self.fetch_once(Instant::now()).await,
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.discovery.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let refreshing = Refreshing(Arc::clone(self));
        // Without a Tokio runtime there is no HTTP client either: the stale copy stays.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // The outcome is in the cache (or the failure is logged and remembered).
                let _ = refreshing.0.fetch_once(Instant::now()).await;
            });
        }
    }

    /// One fetch at a time; a caller that waited (since `waiting_since`) for another caller's
    /// fetch takes its outcome.
    async fn fetch_once(&self, waiting_since: Instant) -> Result<Arc<Discovered>, ProviderError> {
        let state = self.discovery.fetch.lock().await;
        let stale = self.cached();
        if let Some(copy) = stale.as_ref().filter(|c| c.is_fresh()) {
            return Ok(copy.clone());
        }
        if let Some(failure) = &state.last_failure
            && (failure.at >= waiting_since || failure.at.elapsed() < RETRY_AFTER_FAILURE)
        {
            return stale.ok_or_else(|| ProviderError::Unavailable(failure.reason.clone()));
        }
        let mut fetching = Fetching {
            state,
            finished: false,
        };
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.fetch_all())
            .await
            .unwrap_or_else(|_| {
                Err(ProviderError::Unavailable(format!(
                    "the provider did not answer discovery within {} s",
                    FETCH_TIMEOUT.as_secs()
                )))
            });
        fetching.finished = true;
        match &fetched {
            Err(e @ ProviderError::Unavailable(_)) => self.note_failure(e.to_string()),
            _ => self.note_contact(true),
        }
        self.note_metadata(fetched.as_ref().err().map(ToString::to_string));
        match fetched {
            Ok(d) => {
                let d = Arc::new(d);
                self.replace(d.clone());
                fetching.state.last_failure = None;
                Ok(d)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %e, "provider discovery failed");
                fetching.state.last_failure = Some(Failure {
                    at: Instant::now(),
                    reason: e.to_string(),
                });
                stale.ok_or(e)
            }
        }
    }

    async fn fetch_all(&self) -> Result<Discovered, ProviderError> {
        let body = self
            .get(
                &self.settings.discovery_url,
                "discovery document",
                "discovery",
            )
            .await?;
        let metadata = Metadata::parse(&body, &self.settings.issuer)?;
        let (jwks, keys) = self.fetch_jwks(&metadata).await?;
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
            keys,
            fetched_at: Instant::now(),
        })
    }

    /// GETs `what` (`endpoint`, the metrics' label) from the provider.
    async fn get(
        &self,
        url: &str,
        what: &str,
        endpoint: &'static str,
    ) -> Result<Vec<u8>, ProviderError> {
        let (status, body) =
            metrics::provider_call(&self.settings.slug, endpoint, self.http.get_json(url)).await?;
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

    async fn fetch_jwks(
        &self,
        metadata: &Metadata,
    ) -> Result<(CoreJsonWebKeySet, Arc<KeySet>), ProviderError> {
        let body = self.get(metadata.jwks_uri.as_str(), "JWKS", "jwks").await?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::BadMetadata(format!("JWKS is not valid: {e}")))?;
        let keys = Arc::new(KeySet::from_json(&value));
        let jwks = serde_json::from_value(value)
            .map_err(|e| ProviderError::BadMetadata(format!("JWKS is not valid: {e}")))?;
        Ok((jwks, keys))
    }

    /// Refetches the key set after a token named a key we do not have (the provider rotated its
    /// keys). Rate-limited; returns the current copy when another caller refreshed it already.
    pub(crate) async fn refetch_jwks(&self, seen: &Arc<Discovered>) -> Option<Arc<Discovered>> {
        let mut state = self.discovery.fetch.lock().await;
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
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.fetch_jwks(&seen.metadata)).await;
        match fetched {
            Ok(Ok((jwks, keys))) => {
                tracing::info!(
                    keys = jwks.keys().len(),
                    "refetched JWKS after an unknown key id"
                );
                let d = Arc::new(Discovered {
                    metadata: seen.metadata.clone(),
                    jwks,
                    keys,
                    fetched_at: seen.fetched_at,
                });
                self.replace(d.clone());
                Some(d)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "JWKS refetch failed");
                None
            }
            Err(_) => {
                tracing::warn!("JWKS refetch failed: no answer within {FETCH_TIMEOUT:?}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::super::testing::{hanging_provider, provider_at};
    use super::*;

    /// A copy fetched longer than [`METADATA_TTL`] ago.
    fn stale_copy(provider: &Provider) -> Arc<Discovered> {
        let issuer = &provider.settings.issuer;
        let document = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        let metadata =
            Metadata::parse(document.to_string().as_bytes(), issuer).expect("valid metadata");
        let d = Arc::new(Discovered {
            metadata,
            jwks: CoreJsonWebKeySet::new(Vec::new()),
            keys: Arc::default(),
            fetched_at: Instant::now()
                .checked_sub(METADATA_TTL + Duration::from_secs(1))
                .expect("the clock is past one hour"),
        });
        provider.replace(d.clone());
        d
    }

    #[tokio::test]
    async fn a_stale_copy_is_served_at_once_while_the_refresh_hangs() {
        let (listener, addr) = hanging_provider().await;
        let provider = provider_at(addr);
        let stale = stale_copy(&provider);
        for _ in 0..3 {
            // Ready on the first poll: the caller never waits for the provider.
            let served = provider.discovered().now_or_never();
            assert!(
                matches!(&served, Some(Ok(d)) if Arc::ptr_eq(d, &stale)),
                "the stale copy at once"
            );
        }
        // One background refresh, which reached the provider.
        let _connection = listener
            .accept()
            .await
            .expect("the background refresh connects");
        assert!(provider.discovery.refreshing.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_cancelled_fetch_starts_the_back_off() {
        let (listener, addr) = hanging_provider().await;
        let provider = provider_at(addr);
        {
            let mut fetch = std::pin::pin!(provider.discovered());
            // Poll until the fetch has reached the provider, then give up on it.
            tokio::select! {
                _ = &mut fetch => panic!("a hanging provider cannot answer"),
                accepted = listener.accept() => { accepted.expect("the fetch connects"); }
            }
        }
        // The next caller gets the failure at once instead of a fetch of its own.
        let next = provider.discovered().now_or_never();
        assert!(
            matches!(next, Some(Err(ProviderError::Unavailable(_)))),
            "after a cancelled fetch, callers get the failure without waiting"
        );
    }

    #[tokio::test]
    async fn callers_waiting_for_a_fetch_share_its_failure() {
        let (listener, addr) = hanging_provider().await;
        let provider = provider_at(addr);
        let counting = tokio::spawn(async move {
            let mut connections = 0;
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections += 1;
                held.push(socket);
                if connections > 1 {
                    break;
                }
            }
            connections
        });
        let outcomes = futures_util::future::join_all((0..20).map(|_| provider.discovered())).await;
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Err(ProviderError::Unavailable(_)))),
            "every waiting caller gets the failure"
        );
        counting.abort();
        match counting.await {
            Err(e) if e.is_cancelled() => {}
            other => panic!("one connection for 20 callers, the counter ended with {other:?}"),
        }
    }
}
