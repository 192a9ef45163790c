//! The cross-instance refresh race: two instances (two `OidcLayer`s, each with its own
//! single-flight) share one store, and the provider rotates refresh tokens and, like real
//! ones, revokes the whole grant when a spent refresh token comes back. Instance A is in the
//! middle of a refresh (its save is held back) when a request of the same session reaches
//! instance B. B must not redeem the refresh token A is redeeming: it goes on with the live
//! access token, or, when that has expired, waits for A's refresh. Afterwards the grant is
//! intact: a third instance refreshes with A's rotated token. And a refresh is not cancelled
//! with the request that started it.
//!
//! Each test runs on the memory store and on Redis (a throwaway `redis-server` on a free
//! loopback port, started by the test; it fails without `redis-server`, never skips): the
//! session's lock and the re-reads are the store's, so both must hold the line.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::{
    Identity, Lease, MemoryStore, OidcConfig, OidcLayer, Record, ResponseBody, SessionData,
    SessionId, SessionStore,
};
use oidc_testkit::TestProvider;
use session_store::redis_server::RedisServer;
use session_store::{Error, RedisConfig, RedisStore};
use tokio::sync::Semaphore;
use tower::{Layer, Service, ServiceExt};

type Shared = Arc<dyn SessionStore<SessionData>>;

/// The store the instances share.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

impl Backend {
    /// The shared store, and the Redis server behind it (stopped when dropped).
    fn start(self) -> (Shared, Option<RedisServer>) {
        match self {
            Backend::Memory => (Arc::new(MemoryStore::<SessionData>::new()), None),
            Backend::Redis => {
                let server = RedisServer::start();
                let store = RedisStore::<SessionData>::open(RedisConfig::new(server.url()))
                    .expect("a Redis store");
                (Arc::new(store), Some(server))
            }
        }
    }
}

/// Instance A's view of the shared store: its saves wait for the test to open the gate, so
/// its refresh is caught between redeeming the refresh token and storing the new one.
struct Gated {
    store: Shared,
    gate: Semaphore,
    /// This many saves fail (a Redis restart) before they reach the store.
    failing_saves: AtomicUsize,
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
        let failing = self.failing_saves.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_saves.store(failing - 1, Ordering::SeqCst);
            return Err(Error::Backend(
                "connection refused (the test's outage)".into(),
            ));
        }
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
    async fn list_tagged(
        &self,
        tag: &str,
        limit: usize,
    ) -> Result<Vec<Arc<Record<SessionData>>>, Error> {
        self.store.list_tagged(tag, limit).await
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

/// Logs alice in through `service` (the provider signs in at once); the pair of the session
/// cookie `name`.
async fn login<S>(service: &S, name: &str) -> String
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
        .find(|c| c.starts_with(&format!("{name}=")))
        .expect("a session cookie")
}

/// The configuration of every instance: the refresh margin exceeds any token lifetime the test
/// provider issues, so a token is due half-way through its lifetime (the most a margin can be).
fn config(provider: &TestProvider) -> OidcConfig {
    OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url("http://127.0.0.1:8080")
        .refresh_margin(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// Sleeps until the access token issued at `issued` (living `ttl`) is due for a refresh: past
/// half its lifetime.
async fn until_due(issued: Instant, ttl: Duration) {
    tokio::time::sleep_until((issued + ttl / 2 + Duration::from_millis(200)).into()).await;
}

/// A layer over `store` (see [`config`]).
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
    OidcLayer::new(config(provider))
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
/// it, and alice's session (logged in through a plain instance at `logged_in`).
struct Setup {
    provider: TestProvider,
    ttl: Duration,
    shared: Shared,
    gated: Arc<Gated>,
    cookie: String,
    id: SessionId,
    logged_in: Instant,
    _redis: Option<RedisServer>,
}

impl Setup {
    async fn start(ttl: Duration, backend: Backend) -> Setup {
        let provider = TestProvider::builder()
            .auto_login("alice")
            .allow_any_loopback_redirect()
            .access_token_ttl(ttl)
            .start()
            .await
            .unwrap();
        let (shared, redis) = backend.start();
        let gated = Arc::new(Gated {
            store: shared.clone(),
            gate: Semaphore::new(0),
            failing_saves: AtomicUsize::new(0),
        });
        let logged_in = Instant::now();
        let name = config(&provider).cookie_names().session().to_owned();
        let cookie = login(&instance(&provider, shared.clone()), &name).await;
        let id = SessionId::parse(cookie.split_once('=').unwrap().1).unwrap();
        Setup {
            provider,
            ttl,
            shared,
            gated,
            cookie,
            id,
            logged_in,
            _redis: redis,
        }
    }

    /// The session's refresh token in the store now.
    async fn refresh_token(&self) -> Option<String> {
        let record = self.shared.load(&self.id).await.unwrap();
        record.expect("the session lives").data_refresh_token()
    }

    /// Waits for the store to hold a refresh token other than `before` (a refresh running in
    /// its own task saved the rotated one), and returns it.
    async fn rotated_from(&self, before: &Option<String>) -> Option<String> {
        let started = Instant::now();
        loop {
            let now = self.refresh_token().await;
            if now != *before {
                return now;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the rotated refresh token was never saved"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The grant is intact: once the token saved at `saved_at` is due, a third instance (no
    /// single-flight outcome to reuse) refreshes with the stored token `saved`, the provider's
    /// token request number `requests`.
    async fn assert_another_instance_refreshes(
        &self,
        saved: Option<String>,
        saved_at: Instant,
        requests: usize,
    ) {
        let c = instance(&self.provider, self.shared.clone());
        until_due(saved_at, self.ttl).await;
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

/// The race, with access tokens living `ttl`, once they are due for a refresh; `expired`
/// waits them out before the race.
async fn race(ttl: Duration, expired: bool, backend: Backend) {
    let setup = Setup::start(ttl, backend).await;
    let (provider, gated, cookie) = (&setup.provider, &setup.gated, &setup.cookie);
    let a = instance(provider, gated.clone());
    let b = instance(provider, setup.shared.clone());
    let before = setup.refresh_token().await;
    if expired {
        tokio::time::sleep_until((setup.logged_in + ttl + Duration::from_millis(200)).into()).await;
    } else {
        until_due(setup.logged_in, ttl).await;
    }

    // A redeems the refresh token; its save waits at the gate, holding the session's lock.
    let requests = provider.token_requests();
    let on_a = tokio::spawn(a.oneshot(get("/whoami", Some(cookie))));
    token_requests_reach(provider, requests + 1).await;
    let refreshed_at = Instant::now();

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
        // B answered with the live access token while A's refresh was still in flight, and
        // so does A's own request: with a live token no request waits for a refresh that
        // hangs (here: its save held at the gate). The bound is a guard against a hang, not a
        // timing figure: A answers after `LIVE_TOKEN_WAIT` (half a second).
        let a_response = tokio::time::timeout(Duration::from_secs(10), on_a)
            .await
            .expect("A's request waited for its hanging refresh although its token is live")
            .unwrap()
            .unwrap();
        assert_eq!(a_response.status(), StatusCode::OK, "A keeps the session");
        gated.gate.add_permits(1);
    } else {
        assert_eq!(
            on_a.await.unwrap().unwrap().status(),
            StatusCode::OK,
            "A keeps the session"
        );
    }
    // A's refresh lands (after the gate opened, in its own task).
    let after_a = setup.rotated_from(&before).await;
    assert_eq!(
        provider.token_requests(),
        requests + 1,
        "the refresh token was redeemed once, by A"
    );

    setup
        .assert_another_instance_refreshes(after_a, refreshed_at, requests + 2)
        .await;
    setup.provider.shutdown().await;
}

/// Tokens that are due half-way through their 4 s: the race runs with 2 s of the old token
/// left.
const LIVE_TTL: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_finds_a_refresh_running_elsewhere_goes_on_with_the_live_token() {
    race(LIVE_TTL, false, Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_an_instance_that_finds_a_refresh_running_elsewhere_goes_on_with_the_live_token() {
    race(LIVE_TTL, false, Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_finds_a_refresh_running_elsewhere_waits_for_it_once_the_token_expired() {
    race(Duration::from_secs(1), true, Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_an_instance_that_finds_a_refresh_running_elsewhere_waits_for_it_once_the_token_expired()
 {
    race(Duration::from_secs(1), true, Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_outlives_the_request_that_started_it() {
    refresh_outlives_its_request(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_refresh_outlives_the_request_that_started_it() {
    refresh_outlives_its_request(Backend::Redis).await;
}

async fn refresh_outlives_its_request(backend: Backend) {
    let setup = Setup::start(LIVE_TTL, backend).await;
    let (provider, gated, cookie) = (&setup.provider, &setup.gated, &setup.cookie);
    let before = setup.refresh_token().await;
    until_due(setup.logged_in, LIVE_TTL).await;

    // The request redeems the refresh token, then goes away (the browser moved on) before
    // the rotated token is saved.
    let requests = provider.token_requests();
    let a = instance(provider, gated.clone());
    let request = tokio::spawn(a.oneshot(get("/whoami", Some(cookie))));
    token_requests_reach(provider, requests + 1).await;
    let refreshed_at = Instant::now();
    request.abort();
    assert!(request.await.is_err_and(|e| e.is_cancelled()));
    gated.gate.add_permits(1);

    // The refresh finishes anyway: the rotated token is saved and the lock released.
    let saved = setup.rotated_from(&before).await;
    setup
        .assert_another_instance_refreshes(saved, refreshed_at, requests + 2)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_save_fails_for_a_while_keeps_the_rotated_token() {
    refresh_survives_a_store_outage(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_refresh_whose_save_fails_for_a_while_keeps_the_rotated_token() {
    refresh_survives_a_store_outage(Backend::Redis).await;
}

/// The store fails the first saves after a refresh (a Redis restart, found by the soak): the
/// provider has rotated the refresh token, so the new one must reach the store, or the
/// session's next refresh presents a spent token and the provider revokes the grant.
async fn refresh_survives_a_store_outage(backend: Backend) {
    let setup = Setup::start(LIVE_TTL, backend).await;
    let (provider, gated, cookie) = (&setup.provider, &setup.gated, &setup.cookie);
    gated.gate.add_permits(100);
    gated.failing_saves.store(3, Ordering::SeqCst);
    let before = setup.refresh_token().await;
    until_due(setup.logged_in, LIVE_TTL).await;
    let requests = provider.token_requests();
    let a = instance(provider, gated.clone());
    let response = a.oneshot(get("/whoami", Some(cookie))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    token_requests_reach(provider, requests + 1).await;
    let refreshed_at = Instant::now();
    let saved = setup.rotated_from(&before).await;
    assert_eq!(
        gated.failing_saves.load(Ordering::SeqCst),
        0,
        "the saves failed first"
    );
    setup
        .assert_another_instance_refreshes(saved, refreshed_at, requests + 2)
        .await;
    setup.provider.shutdown().await;
}
