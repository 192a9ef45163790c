//! `OidcLayer::health`, `check_health` and the readiness answer `health::ready` against the
//! in-process test provider, stopped and started again on the same port, and a session store
//! that fails on demand.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::StatusCode;
use oidc_layer::{
    Lease, MemoryStore, OidcConfig, OidcLayer, Record, SessionData, SessionId, SessionStore, health,
};
use oidc_testkit::TestProvider;
use session_store::Error;

/// A memory store that fails every operation while `down` is set.
#[derive(Default)]
struct Switchable {
    store: MemoryStore<SessionData>,
    down: Arc<AtomicBool>,
}

impl Switchable {
    fn check(&self) -> Result<(), Error> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::Backend("connection refused (test)".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SessionStore<SessionData> for Switchable {
    async fn create(&self, record: Record<SessionData>) -> Result<SessionId, Error> {
        self.check()?;
        self.store.create(record).await
    }
    fn load_now(&self, _: &SessionId) -> Option<Result<Option<Arc<Record<SessionData>>>, Error>> {
        None
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<SessionData>>>, Error> {
        self.check()?;
        self.store.load(id).await
    }
    async fn save(&self, id: &SessionId, record: Record<SessionData>) -> Result<bool, Error> {
        self.check()?;
        self.store.save(id, record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.check()?;
        self.store.delete(id).await
    }
    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        self.check()?;
        self.store.delete_tagged(tag).await
    }
    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        self.check()?;
        self.store.trim_tagged(tag, keep, spare).await
    }
    async fn list_tagged(
        &self,
        tag: &str,
        limit: usize,
    ) -> Result<Vec<Arc<Record<SessionData>>>, Error> {
        self.check()?;
        self.store.list_tagged(tag, limit).await
    }
    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        self.check()?;
        self.store.try_lock(id, ttl).await
    }
    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        self.check()?;
        self.store.unlock(id, lease).await
    }
}

fn config(provider: &TestProvider) -> OidcConfig {
    OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .build()
        .unwrap()
}

fn body(response: &http::Response<String>) -> serde_json::Value {
    serde_json::from_str(response.body()).unwrap()
}

#[tokio::test]
async fn readiness_follows_the_provider_going_down_and_coming_back() {
    let provider = TestProvider::start().await.unwrap();
    let addr = provider.addr();
    let store = Switchable::default();
    let down = store.down.clone();
    let layer = OidcLayer::new(config(&provider)).with_store(store);

    // Nothing heard yet: not ready, and nothing made up.
    let report = layer.health();
    assert!(!report.ready);
    assert!(!report.providers[0].usable);
    assert_eq!(report.providers[0].metadata_age_seconds, None);
    assert_eq!(report.store.checked_seconds_ago, None);

    // Checked: ready, 200 with the report.
    let report = layer.check_health().await;
    assert!(report.ready, "{report:?}");
    assert_eq!(report.providers[0].metadata_age_seconds, Some(0));
    assert_eq!(report.providers[0].last_error, None);
    assert!(report.store.reachable);
    let answer = health::ready(&layer);
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let json = body(&answer);
    assert_eq!(json["ready"], true);
    assert_eq!(
        json["providers"][0]["provider"],
        report.providers[0].provider
    );

    // The provider goes down: not ready, with the reason.
    provider.shutdown().await;
    let report = layer.check_health().await;
    assert!(!report.ready);
    let p = &report.providers[0];
    assert!(!p.usable);
    let error = p.last_error.as_deref().expect("the reason");
    assert!(error.contains("unreachable"), "{error}");
    assert!(
        p.metadata_age_seconds.is_some(),
        "the cached metadata stays"
    );
    assert!(report.store.reachable);
    // The cheap report says the same, and so does the readiness answer.
    assert!(!layer.health().providers[0].usable);
    let answer = health::ready(&layer);
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let json = body(&answer);
    assert_eq!(json["ready"], false);
    assert_eq!(json["providers"][0]["last_error"], error);

    // Back on the same port: ready again.
    let provider = TestProvider::builder().bind(addr).start().await.unwrap();
    let report = layer.check_health().await;
    assert!(report.ready, "{report:?}");
    assert_eq!(report.providers[0].last_error, None);
    assert_eq!(health::ready(&layer).status(), StatusCode::OK);

    // The store fails: not ready, with its error; back: ready.
    down.store(true, Ordering::SeqCst);
    let report = layer.check_health().await;
    assert!(!report.ready);
    assert!(!report.store.reachable);
    assert!(
        report
            .store
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("connection refused")),
        "{report:?}"
    );
    assert!(report.providers[0].usable);
    assert_eq!(
        health::ready(&layer).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    down.store(false, Ordering::SeqCst);
    assert!(layer.check_health().await.ready);
    provider.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_never_answered_is_not_ready_with_the_reason() {
    // A port nobody listens on (bound, then released).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = OidcConfig::builder()
        .issuer(format!("http://{addr}"))
        .client_id("c")
        .client_secret("s")
        .external_url("http://127.0.0.1:8080")
        .build()
        .unwrap();
    let layer = OidcLayer::new(config);
    let report = layer.check_health().await;
    assert!(!report.ready);
    assert!(report.store.reachable);
    let p = &report.providers[0];
    assert!(!p.usable);
    assert_eq!(p.metadata_age_seconds, None);
    assert!(p.last_error.is_some(), "{report:?}");
}
