//! oidc-layer while its provider is down: discovery is lazy (the app starts and serves public
//! paths without the provider), people get a 503 page with a way to retry, scripts get a 401,
//! the layer recovers by itself once the provider is up (retrying discovery at most every 2 s
//! after a failure), and existing sessions keep working when the provider goes away again (the
//! hot path never calls the provider). With the provider down, or worse, accepting connections
//! and never answering, a crowd of login starts costs the provider one request and all of them
//! get the 503 page together, instead of each waiting for its own request in turn.
//!
//! The provider is the in-process testkit [`TestProvider`], started late on a port chosen
//! before the app (`.bind(127.0.0.1:P)`), signing alice in at once (`auto_login`).
//!
//! Run: `cargo test -p oidc-e2e --test provider_down`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use oidc_e2e::{
    App, AppListener, AtProvider, Browser, Page, init_tracing, is_attempt_cookie, is_session_cookie,
};
use oidc_layer::{Identity, MemoryStore, OidcConfig, OidcLayer, SessionData};
use oidc_testkit::TestProvider;
use regex::Regex;
use reqwest::StatusCode;
use url::Url;

const CALLBACK: &str = "/auth/oidc";
const ALICE_SUB: &str = "u-1001-alice";
/// The layer retries discovery at most this often after a failure (`RETRY_AFTER_FAILURE`).
const DISCOVERY_BACKOFF: Duration = Duration::from_secs(2);
/// A failed contact answers login starts for this long before the provider is probed again
/// (`FAILURE_VOUCHES_FOR`).
const FAILURE_REMEMBERED: Duration = Duration::from_secs(5);
/// The layer's HTTP client gives up on a provider request after this long: a crowd of login
/// starts facing a provider that never answers must not wait for it.
const HTTP_CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How many login starts arrive together in the outage tests.
const CROWD: usize = 50;

/// A loopback address nothing listens on: bound to pick a free port, then released.
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
}

/// An app whose layer points at a provider that is not running (yet).
struct Env {
    app: App,
    /// Where the provider will listen; its issuer is `http://{provider_addr}`.
    provider_addr: SocketAddr,
    /// The app's redirect URI, to register at the provider when it starts.
    redirect_uri: String,
    store: Arc<MemoryStore<SessionData>>,
}

impl Env {
    /// Routes: `/` public, `/whoami` (the identity as JSON) protected. Nothing listens at the
    /// issuer: building the layer and serving must not need it.
    async fn start() -> Env {
        Env::start_for(free_addr()).await
    }

    /// [`Env::start`] with the provider at `provider_addr`.
    async fn start_for(provider_addr: SocketAddr) -> Env {
        init_tracing();
        let listener = AppListener::bind().await;
        let redirect_uri = listener.redirect_uri();
        let config = OidcConfig::builder()
            .issuer(format!("http://{provider_addr}"))
            .client_id("test-client")
            .client_secret("test-secret")
            .external_url(listener.external_url())
            .public_paths(["/"])
            .build()
            .expect("a valid configuration");
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .layer(layer);
        let app = App::spawn(router, listener);
        Env {
            app,
            provider_addr,
            redirect_uri,
            store,
        }
    }

    /// Starts the testkit provider on the address the layer was configured with.
    async fn start_provider(&self) -> TestProvider {
        let provider = TestProvider::builder()
            .bind(self.provider_addr)
            .redirect_uris([self.redirect_uri.clone()])
            .auto_login("alice")
            .start()
            .await
            .unwrap_or_else(|e| panic!("start the provider on {}: {e}", self.provider_addr));
        assert_eq!(provider.issuer(), self.issuer());
        provider
    }

    /// Takes `browser` from `/whoami` through the provider up to the app's callback (it then
    /// holds a code); the callback URL, not yet requested.
    async fn up_to_the_callback(&self, browser: &Browser) -> Url {
        let first = browser.get(self.app.url("/whoami")).await;
        let app_origin = self.app.origin();
        let journey = browser
            .follow_until(first, AtProvider::Stay, |u| {
                u.origin() == app_origin && u.path() == CALLBACK
            })
            .await;
        journey
            .pending
            .clone()
            .unwrap_or_else(|| panic!("the browser never reached the callback:\n{journey}"))
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.provider_addr)
    }

    async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    fn session_cookie(&self, browser: &Browser) -> Option<String> {
        browser.find_cookie(&self.app.url("/"), is_session_cookie)
    }

    fn attempt_cookies(&self, browser: &Browser) -> Vec<String> {
        browser
            .cookie_names(&self.app.url(CALLBACK))
            .into_iter()
            .filter(|n| is_attempt_cookie(n))
            .collect()
    }

    /// Asserts `page` is the layer's "provider unreachable" page for a person: 503 HTML with a
    /// link retrying the login for `/whoami`; no cookie set, nothing stored. Returns the link.
    async fn assert_unavailable_page(&self, page: &Page, context: &str) -> Url {
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{context}: expected the 503 page: {page}\n{}",
            page.body
        );
        assert!(
            page.content_type().starts_with("text/html"),
            "{context}: a person gets an HTML page, got {:?}",
            page.content_type()
        );
        assert!(
            page.header("cache-control")
                .is_some_and(|v| v.contains("no-store")),
            "{context}: the 503 page must not be cached: {:?}",
            page.header("cache-control")
        );
        assert!(
            page.set_cookies()
                .iter()
                .all(|c| !is_attempt_cookie(c.name()) && !is_session_cookie(c.name())),
            "{context}: no attempt and no session cookie on the 503: {:?}",
            page.set_cookie_headers()
        );
        assert_eq!(self.sessions().await, 0, "{context}: nothing stored");
        hrefs(page)
            .into_iter()
            .find(|u| {
                u.origin() == self.app.origin()
                    && u.path() == "/auth/login"
                    && u.query_pairs()
                        .any(|(k, v)| k == "return_to" && v == "/whoami")
            })
            .unwrap_or_else(|| {
                panic!(
                    "{context}: no retry link to /auth/login?return_to=/whoami on the page:\n{}",
                    page.body
                )
            })
    }
}

/// Every `<a href>` of an HTML page, resolved against its URL.
fn hrefs(page: &Page) -> Vec<Url> {
    let re = Regex::new(r#"(?is)<a\b[^>]*\bhref\s*=\s*"([^"]*)""#).expect("valid regex");
    re.captures_iter(&page.body)
        .filter_map(|c| page.url.join(&c[1].replace("&amp;", "&")).ok())
        .collect()
}

/// Asserts `page` is the layer's challenge to a script: 401 problem+json with a `login_url`
/// and a `WWW-Authenticate` header (it does not need the provider to say so).
fn assert_script_challenge(page: &Page, context: &str) {
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "{context}: a script without a session gets a 401: {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("application/problem+json"),
        "{context}: problem+json, got {:?}",
        page.content_type()
    );
    assert!(
        page.header("www-authenticate").is_some(),
        "{context}: WWW-Authenticate missing: {page}"
    );
    let problem = page.json();
    assert_eq!(problem["status"], 401, "{context}: {}", page.body);
    assert!(
        problem["login_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("/auth/login?return_to=")),
        "{context}: login_url: {}",
        page.body
    );
    assert!(
        page.set_cookie_headers().is_empty(),
        "{context}: no cookie for a script: {:?}",
        page.set_cookie_headers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_serves_without_its_provider() {
    let env = Env::start().await;
    let browser = Browser::new();

    let home = browser.get(env.app.url("/")).await;
    assert_eq!(
        home.status, 200,
        "public path with the provider down: {home}"
    );
    assert_eq!(home.body, "home");

    // A person: a 503 page with a retry link, instead of a redirect nobody can follow.
    let page = browser.get(env.app.url("/whoami")).await;
    let retry = env
        .assert_unavailable_page(&page, "navigation to /whoami, provider down")
        .await;
    // The retry link itself answers the same page while the provider is down.
    let page = browser.click(&page, retry).await;
    env.assert_unavailable_page(&page, "the retry link, provider still down")
        .await;

    // A script asking for a protected resource: 401 problem+json, as with a healthy provider
    // (the challenge does not depend on the provider; the login_url is where it fails).
    let page = browser.fetch(env.app.url("/whoami")).await;
    assert_script_challenge(&page, "fetch /whoami, provider down");

    // A script following that login_url: 503 problem+json.
    let page = browser
        .fetch(env.app.url("/auth/login?return_to=%2Fwhoami"))
        .await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "fetch /auth/login, provider down: {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("application/problem+json"),
        "fetch /auth/login, provider down: problem+json, got {:?}",
        page.content_type()
    );
    assert_eq!(page.json()["status"], 503, "{}", page.body);

    assert!(env.attempt_cookies(&browser).is_empty());
    assert_eq!(env.session_cookie(&browser), None);
    assert_eq!(env.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_recovers_when_the_provider_comes_up_and_sessions_outlive_it() {
    let env = Env::start().await;
    let browser = Browser::new();

    // 1. Provider down: the app starts, public paths work, logins get the 503 page.
    let home = browser.get(env.app.url("/")).await;
    assert_eq!(
        home.status, 200,
        "public path with the provider down: {home}"
    );
    let page = browser.get(env.app.url("/whoami")).await;
    let failed_at = Instant::now();
    let retry = env
        .assert_unavailable_page(&page, "navigation to /whoami, provider down")
        .await;
    let unavailable_page = page;
    let page = browser.fetch(env.app.url("/whoami")).await;
    assert_script_challenge(&page, "fetch /whoami, provider down");

    // 2. The provider comes up on the configured address; the app is not restarted. (That the
    // layer waits out the back-off before asking again is shown without a clock by the unit
    // test `a_cancelled_fetch_starts_the_back_off` and by the crowds below.)
    let provider = env.start_provider().await;
    tokio::time::sleep_until((failed_at + DISCOVERY_BACKOFF + Duration::from_millis(500)).into())
        .await;

    // 3. The person clicks "Try again" on the 503 page: the login completes.
    let first = browser.click(&unavailable_page, retry).await;
    let journey = browser
        .follow_with(first, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (last.url.path(), last.status),
        ("/whoami", StatusCode::OK),
        "after the provider came up, the retry link should log in and return to /whoami:\n{journey}\n{}",
        last.body
    );
    assert_eq!(last.json()["sub"], ALICE_SUB, "{}", last.body);
    let session = env
        .session_cookie(&browser)
        .expect("a session cookie after the login");
    assert_eq!(env.sessions().await, 1);
    assert_eq!(provider.token_requests(), 1);

    // A second browser gets as far as the callback (it holds a code) before the provider goes.
    let late = Browser::new();
    let late_callback = env.up_to_the_callback(&late).await;

    // 4. The provider goes down again.
    provider.shutdown().await;

    // The existing session keeps working, for scripts and for navigations: the hot path never
    // calls the provider.
    for _ in 0..3 {
        let page = browser.fetch(env.app.url("/whoami")).await;
        assert_eq!(
            page.status, 200,
            "fetch /whoami with a session, provider down: {page}"
        );
        assert_eq!(page.json()["sub"], ALICE_SUB, "{}", page.body);
    }
    let page = browser.get(env.app.url("/whoami")).await;
    assert_eq!(
        page.status, 200,
        "navigate /whoami with a session, provider down: {page}"
    );
    assert_eq!(
        env.session_cookie(&browser).as_deref(),
        Some(session.as_str())
    );

    // The second browser's callback cannot redeem its code: 503 page, nothing stored.
    let page = late.get(&late_callback).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "callback while the token endpoint is unreachable: {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("text/html"),
        "callback while the provider is down: HTML, got {:?}",
        page.content_type()
    );
    assert!(
        hrefs(&page).iter().any(|u| u.path() == "/auth/login"
            && u.query_pairs()
                .any(|(k, v)| k == "return_to" && v == "/whoami")),
        "callback while the provider is down: a retry link for /whoami:\n{}",
        page.body
    );
    assert!(
        page.find_set_cookie(is_session_cookie).is_none(),
        "no session cookie: {:?}",
        page.set_cookie_headers()
    );
    assert_eq!(env.session_cookie(&late), None);
    assert_eq!(env.sessions().await, 1, "still only the first session");

    // A fresh browser: discovery is cached (the provider's metadata is an hour fresh), but the
    // failed code exchange told the layer the provider is down, so the login start checks it
    // and shows the 503 page instead of sending the browser to a provider it cannot reach.
    let fresh = Browser::new();
    let page = fresh.get(env.app.url("/whoami")).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "fresh browser, provider down after discovery: {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("text/html"),
        "{:?}",
        page.content_type()
    );
    assert!(
        page.header("retry-after").is_some(),
        "a 503 says when to retry: {page}"
    );
    assert!(
        fresh.cookie_names(&env.app.url(CALLBACK)).is_empty(),
        "no attempt cookie for a login that cannot start"
    );
    assert_eq!(env.sessions().await, 1);
}

/// A provider that accepts TCP connections and never answers (the nastiest outage: nothing
/// fails fast), counting the connections it accepts.
struct HangingProvider {
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HangingProvider {
    async fn bind(addr: SocketAddr) -> HangingProvider {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind the hanging provider at {addr}: {e}"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        HangingProvider { connections, task }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for HangingProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// [`CROWD`] people open `/whoami` at once, each in a fresh browser; their pages.
/// `first_answered` is set once the first of them has its page.
async fn crowd_of_login_starts(env: &Env, first_answered: &AtomicBool) -> Vec<Page> {
    let starts = (0..CROWD).map(|_| async {
        let page = Browser::new().get(env.app.url("/whoami")).await;
        first_answered.store(true, Ordering::SeqCst);
        page
    });
    futures_util::future::join_all(starts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_login_starts_against_a_provider_that_never_answers_costs_it_one_request() {
    let provider_addr = free_addr();
    let hanging = HangingProvider::bind(provider_addr).await;
    let env = Env::start_for(provider_addr).await;

    let started = Instant::now();
    let pages = crowd_of_login_starts(&env, &AtomicBool::new(false)).await;
    let took = started.elapsed();
    for (i, page) in pages.iter().enumerate() {
        env.assert_unavailable_page(
            page,
            &format!("login start {i} of {CROWD}, provider hanging"),
        )
        .await;
    }
    // One discovery request for everyone (before the fix, every waiter of a failed check asked
    // again, one after the other).
    assert_eq!(
        hanging.connections(),
        1,
        "{CROWD} login starts at once should cost the provider one request"
    );
    // The layer gives up on its own well before the HTTP client's timeout would end the wait.
    assert!(
        took < HTTP_CLIENT_TIMEOUT,
        "{CROWD} login starts took {took:?}: the layer waited for the HTTP client's timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_known_provider_stops_answering_logins_get_the_503_together_and_sessions_go_on() {
    let env = Env::start().await;
    let provider = env.start_provider().await;
    // Alice logs in while the provider is up (discovery is now cached for an hour).
    let alice = Browser::new();
    let first = alice.get(env.app.url("/whoami")).await;
    let journey = alice.follow_with(first, AtProvider::log_in("alice")).await;
    assert_eq!(
        journey.last().status,
        StatusCode::OK,
        "alice logs in:\n{journey}"
    );
    // A second browser holds a code when the provider goes away; its failed code exchange
    // tells the layer the provider is down.
    let late = Browser::new();
    let late_callback = env.up_to_the_callback(&late).await;
    provider.shutdown().await;
    let page = late.get(&late_callback).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{page}");

    // The provider's address now accepts connections and never answers. Once the remembered
    // failure is old enough, the next login start checks the provider again.
    let hanging = HangingProvider::bind(env.provider_addr).await;
    tokio::time::sleep(FAILURE_REMEMBERED + Duration::from_millis(500)).await;

    let first_answered = AtomicBool::new(false);
    let crowd = crowd_of_login_starts(&env, &first_answered);
    let sessions_go_on = async {
        // The check is under way (it reached the provider) before alice's requests start.
        while hanging.connections() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for i in 0..5 {
            let page = alice.fetch(env.app.url("/whoami")).await;
            assert_eq!(
                page.status, 200,
                "alice's request {i} during the outage: {page}"
            );
            assert_eq!(page.json()["sub"], ALICE_SUB, "{}", page.body);
        }
        first_answered.load(Ordering::SeqCst)
    };
    let (pages, crowd_answered_first) = tokio::join!(crowd, sessions_go_on);
    assert!(
        !crowd_answered_first,
        "alice's requests waited for the login starts' check of the provider"
    );
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "login start {i} of {CROWD}, provider hanging: {page}\n{}",
            page.body
        );
    }
    assert_eq!(
        hanging.connections(),
        1,
        "{CROWD} login starts at once should cost the provider one check"
    );
    assert_eq!(env.sessions().await, 1, "only alice's session");
}
