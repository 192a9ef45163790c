//! Health: what the layer knows about its providers and its session store, cheap to ask.
//!
//! [`OidcLayer::health`](crate::OidcLayer::health) reads what the layer's own traffic
//! learnt (each call to a provider and each round trip to the store notes its outcome); it
//! never waits for the network. When what it knows is older than [`CHECK_AFTER`] (or there
//! is nothing yet), it starts one probe in the background (a provider's discovery document,
//! one read of the store) whose outcome the next report shows.
//! [`OidcLayer::check_health`](crate::OidcLayer::check_health) probes now and waits.
//!
//! [`ready`] turns the report into a readiness answer: `200` with the report as JSON when
//! every provider is usable and the store reachable, else `503` with the report.
//!
//! ```
//! # use oidc_layer::{OidcConfig, OidcLayer};
//! # fn app(layer: OidcLayer) -> axum::Router {
//! use axum::routing::get;
//!
//! axum::Router::new().route(
//!     "/health/ready",
//!     get(move || {
//!         let layer = layer.clone();
//!         async move { oidc_layer::health::ready(&layer) }
//!     }),
//! )
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::OidcLayer;
use crate::state::Shared;
use crate::store_tracker::StoreTracker;

/// What the report knows is refreshed in the background when it is older than this.
pub const CHECK_AFTER: Duration = Duration::from_secs(10);

/// The layer's health: [`OidcLayer::health`](crate::OidcLayer::health).
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// Every provider usable and the session store reachable.
    pub ready: bool,
    /// Each configured provider.
    pub providers: Vec<ProviderHealth>,
    /// The session store.
    pub store: StoreHealth,
}

/// One provider's health.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderHealth {
    /// The provider's slug.
    pub provider: String,
    /// Its metadata is cached and usable, and the last contact with it succeeded.
    pub usable: bool,
    /// Seconds since its metadata and keys were fetched (`None`: never yet).
    pub metadata_age_seconds: Option<u64>,
    /// Why the last contact or metadata fetch failed, while it is the latest news: the error
    /// as logged (it may name the provider's URLs, never a token or a secret).
    pub last_error: Option<String>,
    /// Seconds since that failure.
    pub last_error_age_seconds: Option<u64>,
}

/// The session store's health.
#[derive(Debug, Clone, Serialize)]
pub struct StoreHealth {
    /// The last round trip to the store succeeded.
    pub reachable: bool,
    /// Seconds since that round trip (`None`: none yet).
    pub checked_seconds_ago: Option<u64>,
    /// Why the last round trip failed, when it did.
    pub last_error: Option<String>,
}

/// The store's health from what its last round trip said.
fn store_health(tracker: &StoreTracker) -> StoreHealth {
    match tracker.last() {
        None => StoreHealth {
            reachable: false,
            checked_seconds_ago: None,
            last_error: None,
        },
        Some((at, error)) => StoreHealth {
            reachable: error.is_none(),
            checked_seconds_ago: Some(at.elapsed().as_secs()),
            last_error: error,
        },
    }
}

/// Whether the store's news is older than [`CHECK_AFTER`] (or there is none).
fn store_is_stale(tracker: &StoreTracker) -> bool {
    tracker
        .last()
        .is_none_or(|(at, _)| at.elapsed() >= CHECK_AFTER)
}

fn provider_is_stale(contact: &crate::provider::ContactHealth) -> bool {
    let latest = [contact.ok, contact.last_error.as_ref().map(|(at, _)| *at)]
        .into_iter()
        .flatten()
        .max();
    latest.is_none_or(|at| at.elapsed() >= CHECK_AFTER)
}

/// Probes every provider and the session store now, waits for them.
pub(crate) async fn check(shared: &Shared) {
    for provider in &shared.providers {
        provider.client.probe_now().await;
    }
    probe_store(shared).await;
}

/// What `shared`'s layer knows about its providers and store (no network).
pub(crate) fn report(shared: &Shared) -> HealthReport {
    let providers: Vec<ProviderHealth> = shared
        .providers
        .iter()
        .map(|p| {
            let contact = p.client.contact_health();
            let metadata_age = p.client.cached_metadata_age();
            // The latest failure: the metadata's, while it stands, or the contact's.
            let error = match (&contact.metadata_error, &contact.last_error) {
                (Some(m), _) => Some(m.clone()),
                (None, Some(c)) if contact.failing => Some(c.clone()),
                _ => None,
            };
            ProviderHealth {
                provider: p.settings.slug.clone(),
                usable: metadata_age.is_some()
                    && contact.ok.is_some()
                    && !contact.failing
                    && contact.metadata_error.is_none(),
                metadata_age_seconds: metadata_age.map(|a| a.as_secs()),
                last_error_age_seconds: error.as_ref().map(|(at, _)| at.elapsed().as_secs()),
                last_error: error.map(|(_, e)| e),
            }
        })
        .collect();
    let store = store_health(&shared.durable.store_health);
    HealthReport {
        ready: store.reachable && providers.iter().all(|p| p.usable),
        providers,
        store,
    }
}

/// Probes, in the background, what `shared`'s layer has not heard from for [`CHECK_AFTER`].
pub(crate) fn probe_in_background(shared: Arc<Shared>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for provider in &shared.providers {
        if provider_is_stale(&provider.client.contact_health()) {
            let client = provider.client.clone();
            runtime.spawn(async move { client.probe_now().await });
        }
    }
    let tracker = &shared.durable.store_health;
    if store_is_stale(tracker) && !tracker.probing.swap(true, Ordering::AcqRel) {
        runtime.spawn(async move {
            probe_store(&shared).await;
            shared
                .durable
                .store_health
                .probing
                .store(false, Ordering::Release);
        });
    }
}

/// One read of an unknown session id: a round trip that notes the store's outcome.
async fn probe_store(shared: &Shared) {
    use session_store::{SessionId, SessionStore as _};
    let Ok(id) = SessionId::generate() else {
        return;
    };
    let store = &shared.durable.store;
    let _ = crate::metrics::store_call(&shared.durable.store_health, "load", store.load(&id)).await;
}

/// A readiness answer for `layer`: `200` with the [`HealthReport`] as JSON when it is ready,
/// `503` with it otherwise. Cheap (see [`OidcLayer::health`](crate::OidcLayer::health)):
/// fit for a probe every second. Works as an axum handler's answer (see the module
/// example) and in a plain `tower::service_fn`.
pub fn ready(layer: &OidcLayer) -> Response<String> {
    let report = layer.health();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
