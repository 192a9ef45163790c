//! Bounds a user cannot push past: sessions per user (a login past the cap ends the user's
//! oldest session), and what the logs keep of a `return_to` (its path: a query can carry a
//! one-time token).
//!
//! The provider is the in-process testkit [`TestProvider`], signing alice in at once. This
//! binary installs its own tracing subscriber, which keeps every line at INFO and above, to
//! read what an operator's logs would hold.
//!
//! Run: `cargo test -p oidc-e2e --test bounds`.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::routing::get;
use axum::{Json, Router};
use oidc_e2e::{App, AppListener, AtProvider, Browser, is_session_cookie};
use oidc_layer::{Identity, MemoryStore, OidcConfig, OidcLayer, SessionData};
use oidc_testkit::TestProvider;
use reqwest::StatusCode;

const ALICE_SUB: &str = "u-1001-alice";

/// Everything logged at INFO and above by this test binary.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture;
        impl Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut logs) = logs().lock() {
                    logs.extend_from_slice(bytes);
                }
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
        Mutex::new(Vec::new())
    })
}

fn logged() -> String {
    let logs = logs().lock().expect("the log buffer");
    String::from_utf8_lossy(&logs).into_owned()
}

/// An app (`/whoami` protected) whose layer keeps at most `max_sessions` per user, in front
/// of a testkit provider that signs alice in at once.
struct Env {
    app: App,
    store: Arc<MemoryStore<SessionData>>,
    _provider: TestProvider,
}

impl Env {
    async fn start(max_sessions: usize) -> Env {
        logs();
        let listener = AppListener::bind().await;
        let provider = TestProvider::builder()
            .redirect_uris([listener.redirect_uri()])
            .auto_login("alice")
            .start()
            .await
            .expect("start the test provider");
        let config = OidcConfig::builder()
            .issuer(provider.issuer())
            .client_id(provider.client_id())
            .client_secret(provider.client_secret())
            .external_url(listener.external_url())
            .max_sessions_per_user(max_sessions)
            .build()
            .expect("a valid configuration");
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let router = Router::new()
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .route("/reset", get(|id: Identity| async move { Json(id) }))
            .layer(OidcLayer::new(config).with_store(store.clone()));
        Env {
            app: App::spawn(router, listener),
            store,
            _provider: provider,
        }
    }

    /// Logs alice in from `browser` through `start` (a path on the app); where she landed.
    async fn log_in(&self, browser: &Browser, start: &str) -> url::Url {
        let first = browser.get(self.app.url(start)).await;
        let journey = browser
            .follow_with(first, AtProvider::log_in("alice"))
            .await;
        journey.assert_no_server_error();
        let last = journey.last();
        assert_eq!(last.status, StatusCode::OK, "alice logs in:\n{journey}");
        assert_eq!(last.json()["sub"], ALICE_SUB, "{}", last.body);
        assert!(
            browser
                .find_cookie(&self.app.url("/"), is_session_cookie)
                .is_some(),
            "a session cookie"
        );
        last.url.clone()
    }

    /// Whether `browser`'s session still lets a script in.
    async fn signed_in(&self, browser: &Browser) -> bool {
        let page = browser.fetch(self.app.url("/whoami")).await;
        match page.status {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("/whoami answered {other}: {}", page.body),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_past_the_sessions_per_user_cap_ends_the_oldest_session() {
    let env = Env::start(2).await;
    let (first, second, third) = (Browser::new(), Browser::new(), Browser::new());
    env.log_in(&first, "/whoami").await;
    env.log_in(&second, "/whoami").await;
    assert!(env.signed_in(&first).await && env.signed_in(&second).await);
    assert_eq!(env.store.len().await, 2);

    env.log_in(&third, "/whoami").await;
    assert!(
        !env.signed_in(&first).await,
        "alice's oldest session should have ended at her third login (cap 2)"
    );
    assert!(env.signed_in(&second).await, "the second session stays");
    assert!(env.signed_in(&third).await, "the new session stays");
    assert_eq!(
        env.store.len().await,
        2,
        "two sessions of alice's in the store"
    );
    assert!(
        logged().contains("sessions-per-user cap"),
        "the cap biting is logged:\n{}",
        logged()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_keep_the_return_to_path_never_its_query() {
    const ONE_TIME: &str = "one-time-t0ken-8c1f";
    let env = Env::start(10).await;
    let browser = Browser::new();
    let landed = env
        .log_in(
            &browser,
            &format!("/auth/login?return_to=%2Freset%3Ftoken%3D{ONE_TIME}"),
        )
        .await;
    assert_eq!(
        (landed.path(), landed.query()),
        ("/reset", Some(format!("token={ONE_TIME}").as_str())),
        "alice returns to where she asked, query included"
    );
    let logs = logged();
    assert!(
        logs.contains("return_to=/reset"),
        "the login span names the path:\n{logs}"
    );
    assert!(
        !logs.contains(ONE_TIME),
        "a return_to query reached the logs:\n{logs}"
    );
}
