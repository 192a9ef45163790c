//! The cross-instance refresh race: two instances (two `OidcLayer`s, each with its own
//! single-flight) share one store, and the provider rotates refresh tokens and, like real
//! ones, revokes the whole grant when a spent refresh token comes back. Instance A is in the
//! middle of a refresh (its save is held back) when a request of the same session reaches
//! instance B. B must not redeem the refresh token A is redeeming: it goes on with the live
//! access token, or, when that has expired, waits for A's refresh. Afterwards the grant is
//! intact: a third instance refreshes with A's rotated token. And a refresh is not cancelled
//! with the request that started it.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::testkit::TestProvider;
use oidc_layer::{
    Identity, Lease, MemoryStore, OidcConfig, OidcLayer, Record, ResponseBody, SessionData,
    SessionId, SessionStore,
};
use session_store::Error;
use tokio::sync::Semaphore;
use tower::{Layer, Service, ServiceExt};

type Shared = Arc<MemoryStore<SessionData>>;

/// Instance A's view of the shared store: its saves wait for the test to open the gate, so
/// its refresh is caught between redeeming the refresh token and storing the new one.
struct Gated {
    store: Shared,
    gate: Semaphore,
}

#[async_trait]
impl SessionStore<SessionData> for Gated {
    async fn create(&self, record: Record<SessionData>) -> Result<SessionId, Error> {
        self.store.create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<SessionData>>>, Error> {
        self.store.load(id).await
    }
    async fn save(&self, id: &SessionId, record: Record<SessionData>) -> Result<bool, Error> {
        let _permit = self.gate.acquire().await.unwrap();
        self.store.save(id, record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.store.delete(id).await
    }
    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        self.store.delete_tagged(tag).await
    }
    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        self.store.trim_tagged(tag, keep, spare).await
    }
    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        self.store.try_lock(id, ttl).await
    }
    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        self.store.unlock(id, lease).await
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

/// A layer over `store` whose sessions are always due for a refresh (the margin exceeds any
/// token lifetime the test provider issues).
fn instance(
    provider: &TestProvider,
    store: impl SessionStore<SessionData>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<ResponseBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .refresh_margin(Duration::from_secs(3600))
        .build()
        .unwrap();
    OidcLayer::new(config)
        .with_store(store)
        .layer(tower::service_fn(whoami))
}

/// Waits until the provider has answered `count` token requests.
async fn token_requests_reach(provider: &TestProvider, count: usize) {
    let started = Instant::now();
    while provider.token_requests() < count {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the provider saw {} token requests, expected {count}",
            provider.token_requests()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A provider issuing access tokens for `ttl`, the shared store, instance A's gated view of
/// it, and alice's session (logged in through a plain instance).
struct Setup {
    provider: TestProvider,
    shared: Shared,
    gated: Arc<Gated>,
    cookie: String,
    id: SessionId,
}

impl Setup {
    async fn start(ttl: Duration) -> Setup {
        let provider = TestProvider::builder()
            .auto_login("alice")
            .allow_any_loopback_redirect()
            .access_token_ttl(ttl)
            .start()
            .await
            .unwrap();
        let shared: Shared = Arc::new(MemoryStore::new());
        let gated = Arc::new(Gated {
            store: shared.clone(),
            gate: Semaphore::new(0),
        });
        let cookie = login(&instance(&provider, shared.clone())).await;
        let id = SessionId::parse(cookie.trim_start_matches("oidc_session=")).unwrap();
        Setup {
            provider,
            shared,
            gated,
            cookie,
            id,
        }
    }

    /// The session's refresh token in the store now.
    async fn refresh_token(&self) -> Option<String> {
        let record = self.shared.load(&self.id).await.unwrap();
        record.expect("the session lives").data_refresh_token()
    }

    /// The grant is intact: a third instance (no single-flight outcome to reuse) refreshes
    /// with the stored token `saved`, the provider's token request number `requests`.
    async fn assert_another_instance_refreshes(&self, saved: Option<String>, requests: usize) {
        let c = instance(&self.provider, self.shared.clone());
        let response = c.oneshot(get("/whoami", Some(&self.cookie))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the session lives on");
        assert_eq!(self.provider.token_requests(), requests, "C refreshed");
        let after = self.refresh_token().await;
        assert!(
            after.is_some() && after != saved,
            "C refreshed with the saved token"
        );
    }
}

/// The race, with access tokens living `ttl`; `expired` waits them out before the race.
async fn race(ttl: Duration, expired: bool) {
    let setup = Setup::start(ttl).await;
    let (provider, gated, cookie) = (&setup.provider, &setup.gated, &setup.cookie);
    let a = instance(provider, gated.clone());
    let b = instance(provider, setup.shared.clone());
    let before = setup.refresh_token().await;
    if expired {
        tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    }

    // A redeems the refresh token; its save waits at the gate, holding the session's lock.
    let requests = provider.token_requests();
    let on_a = tokio::spawn(a.oneshot(get("/whoami", Some(cookie))));
    token_requests_reach(provider, requests + 1).await;

    let on_b = tokio::spawn(b.oneshot(get("/whoami", Some(cookie))));
    if expired {
        // B has nothing valid to go on with: it waits for A.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!on_b.is_finished(), "B answered before A's refresh landed");
        gated.gate.add_permits(1);
    }
    let b_response = on_b.await.unwrap().unwrap();
    assert_eq!(b_response.status(), StatusCode::OK, "B keeps the session");
    if !expired {
        // B answered with the live access token while A's refresh was still in flight.
        assert!(!on_a.is_finished(), "A finished before the gate opened");
        gated.gate.add_permits(1);
    }
    assert_eq!(
        on_a.await.unwrap().unwrap().status(),
        StatusCode::OK,
        "A keeps the session"
    );
    assert_eq!(
        provider.token_requests(),
        requests + 1,
        "the refresh token was redeemed once, by A"
    );
    let after_a = setup.refresh_token().await;
    assert_ne!(after_a, before, "A's refresh rotated the refresh token");

    setup
        .assert_another_instance_refreshes(after_a, requests + 2)
        .await;
    setup.provider.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_finds_a_refresh_running_elsewhere_goes_on_with_the_live_token() {
    race(Duration::from_secs(300), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_finds_a_refresh_running_elsewhere_waits_for_it_once_the_token_expired() {
    race(Duration::from_secs(1), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_outlives_the_request_that_started_it() {
    let setup = Setup::start(Duration::from_secs(300)).await;
    let (provider, gated, cookie) = (&setup.provider, &setup.gated, &setup.cookie);
    let before = setup.refresh_token().await;

    // The request redeems the refresh token, then goes away (the browser moved on) before
    // the rotated token is saved.
    let requests = provider.token_requests();
    let a = instance(provider, gated.clone());
    let request = tokio::spawn(a.oneshot(get("/whoami", Some(cookie))));
    token_requests_reach(provider, requests + 1).await;
    request.abort();
    assert!(request.await.is_err_and(|e| e.is_cancelled()));
    gated.gate.add_permits(1);

    // The refresh finishes anyway: the rotated token is saved and the lock released.
    let started = Instant::now();
    let saved = loop {
        let now = setup.refresh_token().await;
        if now != before {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the rotated refresh token was never saved"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    setup
        .assert_another_instance_refreshes(saved, requests + 2)
        .await;
    setup.provider.shutdown().await;
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
