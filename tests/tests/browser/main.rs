//! oidc-layer in a real browser: headless Chromium (Debian `chromium` + `chromium-driver`)
//! driven over WebDriver, against the real npm provider (tests/provider/op.mjs) and the demo
//! app itself (examples/axum-demo's `axum_demo::router`: its pages are what the screenshots,
//! and the README's, show). What is asserted is what a person sees: where the browser ends
//! up, the page's heading and text, the cookies the browser holds. Every page a person sees is
//! also saved as a screenshot (see [`chrome::screenshot_dir`]).
//!
//! Each test starts its own provider(s), app, chromedriver and browser (fresh profile) on
//! loopback ports. Without chromium/chromedriver the tests fail with the install command;
//! they never skip.
//!
//! Run: `cargo test -p oidc-e2e --test browser` (needs `npm ci --prefix tests/provider` and
//! `apt-get install -y chromium chromium-driver`; `bash scripts/test.sh` does both).

mod branding;
mod chrome;
mod cookies;
mod journeys;
mod preferences;
mod refused;
mod screens;
mod session;
mod silent;
mod your_sessions;

use std::sync::Arc;

use axum::Router;
use chrome::Chrome;
use oidc_e2e::{App, AppListener, Op, OpOptions, init_tracing};
use oidc_layer::accounts::AccountResolver;
use oidc_layer::{
    BrandingConfig, MemoryStore, OidcConfig, OidcConfigBuilder, OidcLayer, PageRenderer,
    ProviderBuilder, SessionData, SessionId, SessionStore,
};
use url::Url;

/// The demo app itself (examples/axum-demo, `axum_demo::router`) behind `layer`; `callbacks`
/// records the callback URLs the browser requests (WebDriver cannot see redirects).
fn demo_router(layer: &OidcLayer, callbacks: Callbacks) -> Router {
    axum_demo::router(layer, DEMO_ADMIN_PASSWORD.to_owned()).layer(
        axum::middleware::from_fn_with_state(callbacks, record_callbacks),
    )
}

/// The demo's break-glass password in these tests.
const DEMO_ADMIN_PASSWORD: &str = "browser-suite-admin-password";

type Callbacks = Arc<std::sync::Mutex<Vec<String>>>;

async fn record_callbacks(
    axum::extract::State(callbacks): axum::extract::State<Callbacks>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path().starts_with("/auth/oidc") {
        callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.uri().to_string());
    }
    next.run(request).await
}

/// How a [`Site`] is set up.
struct Setup {
    /// Changes to each provider's settings (issuer, client, scopes `openid profile email
    /// groups` and the demo's roles are already set).
    provider: Box<dyn Fn(ProviderBuilder) -> ProviderBuilder + Send>,
    resolver: Option<Arc<dyn AccountResolver>>,
    /// A second provider ("Beta Login", slug `beta`): the chooser appears.
    second_provider: bool,
    /// Changes to the app-wide settings (external URL, public, API and backup paths set).
    config: Box<dyn Fn(OidcConfigBuilder) -> OidcConfigBuilder + Send>,
    /// The host name browsers reach the app at (a name under `example.test`, which the
    /// browser resolves to loopback) instead of `127.0.0.1`: another site than the provider's.
    app_host: Option<&'static str>,
    /// The session store (by default a new one).
    store: Option<Arc<MemoryStore<SessionData>>>,
    /// The app's branding on the layer's pages.
    branding: Option<BrandingConfig>,
    /// The app's own versions of some of the layer's pages.
    pages: Option<Arc<dyn PageRenderer>>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            provider: Box::new(|p| p),
            resolver: None,
            second_provider: false,
            config: Box::new(|c| c),
            app_host: None,
            store: None,
            branding: None,
            pages: None,
        }
    }
}

/// The app, its provider(s), its session store and a browser.
struct Site {
    /// Serves the app until the site is dropped.
    _app: App,
    /// Where the browser reaches the app (no trailing slash).
    base: String,
    op: Op,
    beta: Option<Op>,
    store: Arc<MemoryStore<SessionData>>,
    callbacks: Callbacks,
    chrome: Chrome,
}

impl Site {
    async fn start() -> Site {
        Self::start_with(Setup::default()).await
    }

    async fn start_with(setup: Setup) -> Site {
        init_tracing();
        let listener = AppListener::bind().await;
        let base = match setup.app_host {
            Some(host) => format!("http://{host}:{}", listener.addr().port()),
            None => listener.external_url(),
        };
        let chrome = Chrome::start();
        let op = Op::start(OpOptions {
            redirect_uris: vec![format!("{base}/auth/oidc")],
            post_logout_redirect_uris: ["/", "/logged-out", "/auth/logged-out"]
                .iter()
                .map(|path| format!("{base}{path}"))
                .collect(),
            ..OpOptions::default()
        });
        let beta = async {
            if setup.second_provider {
                let mut options = OpOptions::for_app(&listener);
                options.redirect_uris = vec![format!("{base}/auth/oidc/beta")];
                Some(Op::start(options).await)
            } else {
                None
            }
        };
        let (chrome, op, beta) = tokio::join!(chrome, op, beta);
        let mut builder = OidcConfig::builder()
            .external_url(&base)
            .public_paths(axum_demo::PUBLIC_PATHS)
            .api_paths(axum_demo::API_PATHS)
            .backup_login_path(axum_demo::BACKUP_LOGIN_PATH)
            // A name under `example.test` is not loopback to the layer: plain http on purpose.
            .allow_insecure_http(setup.app_host.is_some());
        builder = (setup.config)(builder);
        let provider = |name: &str, op: &Op| {
            ProviderBuilder::new(name)
                .issuer(op.issuer())
                .client_id(op.client_id())
                .client_secret(op.client_secret())
                .scopes(["openid", "profile", "email", "groups"])
                .roles(axum_demo::role_map())
        };
        builder = builder.provider((setup.provider)(provider("Alpha ID", &op).slug("alpha")));
        if let Some(beta) = &beta {
            builder = builder.provider((setup.provider)(provider("Beta Login", beta).slug("beta")));
        }
        if let Some(branding) = setup.branding {
            builder = builder.branding(branding);
        }
        let config = builder.build().expect("a valid configuration");
        let store = setup
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::<SessionData>::new()));
        // As the demo's main: its after-login hook gives sessions their preferences.
        let mut layer = OidcLayer::new(config)
            .with_store(store.clone())
            .with_after_login(axum_demo::after_login);
        if let Some(pages) = setup.pages {
            layer = layer.with_pages(pages);
        }
        if let Some(resolver) = setup.resolver {
            layer = layer.with_account_resolver(resolver);
        }
        let callbacks = Callbacks::default();
        let app = App::spawn(demo_router(&layer, callbacks.clone()), listener);
        Site {
            _app: app,
            base,
            op,
            beta,
            store,
            callbacks,
            chrome,
        }
    }

    fn url(&self, path: &str) -> Url {
        let raw = format!("{}{path}", self.base);
        Url::parse(&raw).unwrap_or_else(|e| panic!("bad app URL {raw:?}: {e}"))
    }

    /// Whether `url` is on the app (any path).
    fn on_app(&self, url: &Url) -> bool {
        url.origin() == self.url("/").origin()
    }

    /// The callback URL the browser requested last.
    fn last_callback(&self) -> Url {
        let last = self
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .cloned()
            .expect("the browser went through a callback");
        self.url(&last)
    }

    /// Live sessions in the store.
    async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    /// The session cookie's value in the browser (read on an app page).
    async fn session_cookie(&self) -> Option<String> {
        self.chrome
            .cookies()
            .await
            .into_iter()
            .find(|c| oidc_e2e::is_session_cookie(c.name()))
            .map(|c| c.value().to_owned())
    }

    /// Whether the store holds the session of cookie value `cookie`.
    async fn has_session(&self, cookie: &str) -> bool {
        let id = SessionId::parse(cookie).expect("a session id");
        self.store
            .load(&id)
            .await
            .expect("read the session store")
            .is_some()
    }

    /// Deletes the browser's session from the store (as an expiry or an admin would).
    async fn end_session_server_side(&self) {
        let value = self
            .session_cookie()
            .await
            .expect("the browser has a session cookie");
        let id = SessionId::parse(&value).expect("a session id");
        self.store.delete(&id).await.expect("delete the session");
    }

    /// The HTTP status of the page in the current tab (Navigation Timing).
    async fn status(&self) -> u64 {
        let value = self
            .chrome
            .client()
            .execute(
                "return performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0;",
                vec![],
            )
            .await
            .expect("read the navigation status");
        value.as_u64().unwrap_or(0)
    }

    /// Asserts the current page is no server error (status below 500, no provider "oops").
    async fn assert_no_server_error(&self, context: &str) {
        let status = self.status().await;
        let text = self.chrome.text().await;
        assert!(
            status < 500 && !text.contains("server_error"),
            "{context}: a server error ({status}) at {}:\n{text}\n{}",
            self.chrome.url().await,
            self.op.log_tail()
        );
    }

    /// On the provider's login page: signs in as `user` (password `<user>-password`),
    /// confirms the consent page when it comes, and waits until the browser is back on the
    /// app. `shot`: screenshot names for the login and consent pages.
    async fn sign_in_at_provider(&self, user: &str, shot: Option<&str>) {
        let chrome = &self.chrome;
        chrome.wait_for("form#login").await;
        assert!(
            !self.on_app(&chrome.url().await),
            "expected the provider's login page"
        );
        if let Some(name) = shot {
            chrome.screenshot(&format!("{name}-provider-login")).await;
        }
        chrome
            .type_into("form#login input[name=username]", user)
            .await;
        chrome
            .type_into(
                "form#login input[name=password]",
                &format!("{user}-password"),
            )
            .await;
        chrome.click("form#login button[type=submit]").await;
        self.finish_at_provider(shot).await;
    }

    /// After the provider's login form: confirms consent when asked; waits until the browser
    /// is back on the app.
    async fn finish_at_provider(&self, shot: Option<&str>) {
        let chrome = &self.chrome;
        let deadline = std::time::Instant::now() + chrome::WAIT;
        let mut consented = false;
        loop {
            let url = chrome.url().await;
            if self.on_app(&url) {
                return;
            }
            if !consented && chrome.find("form#consent").await.is_some() {
                if let Some(name) = shot {
                    chrome.screenshot(&format!("{name}-provider-consent")).await;
                }
                chrome.click("form#consent button[type=submit]").await;
                consented = true;
                continue;
            }
            if chrome.find("#error").await.is_some() {
                panic!(
                    "the provider shows an error at {url}:\n{}\n{}",
                    chrome.text().await,
                    self.op.log_tail()
                );
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "never got back to the app; the browser is at {url}:\n{}",
                    chrome.text().await
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Opens `path`, signs in as `user` at the provider, and asserts the browser ends on
    /// `path` showing the person's name (`#name`).
    async fn log_in(&self, path: &str, user: &str, name: &str) {
        self.chrome.goto(&self.url(path)).await;
        self.sign_in_at_provider(user, None).await;
        self.assert_on(path, name).await;
    }

    /// Asserts the browser is on `path` of the app (with its query, when `path` has one) and
    /// shows `name` in `#name`.
    async fn assert_on(&self, path: &str, name: &str) {
        let chrome = &self.chrome;
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        let url = chrome
            .wait_for_url(&format!("the app's {path}"), |u| {
                self.on_app(u) && u.path() == path && (query.is_none() || u.query() == query)
            })
            .await;
        let shown = chrome
            .wait_for("#name")
            .await
            .text()
            .await
            .unwrap_or_default();
        assert_eq!(shown, name, "the page shows the person's name ({url})");
    }

    /// Ends the browser and the processes.
    async fn stop(self) {
        self.chrome.quit().await;
    }
}
