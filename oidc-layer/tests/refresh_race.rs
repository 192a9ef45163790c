//! The cross-instance refresh race: two instances (two `OidcLayer`s, each with its own
//! single-flight) share one store, and the provider rotates refresh tokens. Instance A
//! refreshes the session; instance B, which read the record just before A saved it, redeems
//! the same (now spent) refresh token and is refused. B must keep the session with A's tokens,
//! not end it.
//!
//! The race is made deterministic with a store wrapper that hands B the record as it was
//! before A's refresh, for B's first reads only.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::testkit::TestProvider;
use oidc_layer::{
    Identity, MemoryStore, OidcConfig, OidcLayer, Record, ResponseBody, SessionData, SessionId,
    SessionStore,
};
use session_store::Error;
use tower::{Layer, Service, ServiceExt};

type Shared = Arc<MemoryStore<SessionData>>;

/// Another instance's view of the shared store: its first `lagging` reads return `stale` (the
/// record as it was before the other instance refreshed it).
struct Lagging {
    store: Shared,
    stale: Mutex<Option<Arc<Record<SessionData>>>>,
    lagging: AtomicUsize,
    reads: AtomicUsize,
}

impl Lagging {
    fn read(&self) -> Option<Arc<Record<SessionData>>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let lag = self
            .lagging
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lag {
            self.stale.lock().unwrap().clone()
        } else {
            None
        }
    }
}

#[async_trait]
impl SessionStore<SessionData> for Lagging {
    async fn create(&self, record: Record<SessionData>) -> Result<SessionId, Error> {
        self.store.create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<SessionData>>>, Error> {
        match self.read() {
            Some(stale) => Ok(Some(stale)),
            None => self.store.load(id).await,
        }
    }
    async fn load_fresh(&self, id: &SessionId) -> Result<Option<Arc<Record<SessionData>>>, Error> {
        match self.read() {
            Some(stale) => Ok(Some(stale)),
            None => self.store.load_fresh(id).await,
        }
    }
    async fn save(&self, id: &SessionId, record: Record<SessionData>) -> Result<bool, Error> {
        self.store.save(id, record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.store.delete(id).await
    }
    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        self.store.delete_tagged(tag).await
    }
}

async fn whoami(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let sub = request
        .extensions()
        .get::<Identity>()
        .map(|id| id.sub().to_owned())
        .unwrap_or_default();
    Ok(Response::new(Full::from(sub)))
}

fn cookie_pairs(response: &Response<impl Sized>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|line| !line.contains("Max-Age=0"))
        .filter_map(|line| line.split(';').next().map(str::to_owned))
        .collect()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Full::default()).unwrap()
}

/// Logs alice in through `service` (the provider signs in at once); the session cookie pair.
async fn login<S>(service: &S) -> String
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let response = service.clone().oneshot(get("/whoami", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let attempt = cookie_pairs(&response).join("; ");
    let authorize = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let to_callback = http.get(&authorize).send().await.unwrap();
    let callback =
        url::Url::parse(to_callback.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    let response = service
        .clone()
        .oneshot(get(&path, Some(&attempt)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
    cookie_pairs(&response)
        .into_iter()
        .find(|c| c.starts_with("oidc_session="))
        .expect("a session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_that_loses_a_refresh_race_keeps_the_session() {
    let provider = TestProvider::builder()
        .auto_login("alice")
        .allow_any_loopback_redirect()
        .start()
        .await
        .unwrap();
    // Every access token is due for a refresh (the margin exceeds its 300 s lifetime).
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .refresh_margin(Duration::from_secs(3600))
        .build()
        .unwrap();
    let shared: Shared = Arc::new(MemoryStore::new());
    let lagging = Arc::new(Lagging {
        store: shared.clone(),
        stale: Mutex::new(None),
        lagging: AtomicUsize::new(0),
        reads: AtomicUsize::new(0),
    });
    let a = OidcLayer::new(config.clone())
        .with_store(shared.clone())
        .layer(tower::service_fn(whoami));
    let b = OidcLayer::new(config)
        .with_store(lagging.clone())
        .layer(tower::service_fn(whoami));

    let cookie = login(&a).await;
    let id = SessionId::parse(cookie.trim_start_matches("oidc_session=")).unwrap();
    let before = shared.load(&id).await.unwrap().unwrap();
    let spent = before.data_refresh_token();

    // A refreshes: the refresh token B is about to use is spent.
    let requests = provider.token_requests();
    let response = a
        .clone()
        .oneshot(get("/whoami", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(provider.token_requests(), requests + 1, "A refreshed");
    let after_a = shared.load(&id).await.unwrap().unwrap();
    assert_ne!(after_a.data_refresh_token(), spent, "rotated");

    // B read the record before A saved it: its request, and its upkeep's re-read, see the
    // spent token.
    *lagging.stale.lock().unwrap() = Some(before);
    lagging.lagging.store(2, Ordering::SeqCst);
    let response = b
        .clone()
        .oneshot(get("/whoami", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(
        provider.token_requests(),
        requests + 2,
        "B redeemed the spent token"
    );
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the instance that lost the race must keep the session"
    );
    assert!(
        lagging.reads.load(Ordering::SeqCst) >= 3,
        "B re-read the record after the refusal"
    );
    let kept = shared
        .load(&id)
        .await
        .unwrap()
        .expect("the session lives on");
    assert_eq!(kept.data_refresh_token(), after_a.data_refresh_token());

    // A real refusal still ends the session: the test provider, like real ones, revoked the
    // whole grant when it saw the spent token again, so the next instance to refresh (a third
    // one, whose single-flight has no outcome to reuse) is refused and nobody refreshed.
    let c = OidcLayer::new(
        OidcConfig::builder()
            .issuer(provider.issuer())
            .client_id(provider.client_id())
            .client_secret(provider.client_secret())
            .external_url("http://127.0.0.1:8080")
            .refresh_margin(Duration::from_secs(3600))
            .build()
            .unwrap(),
    )
    .with_store(shared.clone())
    .layer(tower::service_fn(whoami));
    let response = c.oneshot(get("/whoami", Some(&cookie))).await.unwrap();
    assert_ne!(
        response.status(),
        StatusCode::OK,
        "a real refusal ends the session"
    );
    assert!(shared.load(&id).await.unwrap().is_none());
    provider.shutdown().await;
}

/// The refresh token of a record, through the public serde form of [`SessionData`].
trait RefreshToken {
    fn data_refresh_token(&self) -> Option<String>;
}

impl RefreshToken for Record<SessionData> {
    fn data_refresh_token(&self) -> Option<String> {
        let json = serde_json::to_value(&self.data).unwrap();
        json["refresh_token"].as_str().map(str::to_owned)
    }
}
