//! oidc-layer in a real browser: headless Chromium (Debian `chromium` + `chromium-driver`)
//! driven over WebDriver, against the real npm provider (tests/provider/op.mjs) and a small
//! app with the demo's pages. What is asserted is what a person sees: where the browser ends
//! up, the page's heading and text, the cookies the browser holds. Every page a person sees is
//! also saved as a screenshot (see [`chrome::screenshot_dir`]).
//!
//! Each test starts its own provider(s), app, chromedriver and browser (fresh profile) on
//! loopback ports. Without chromium/chromedriver the tests fail with the install command;
//! they never skip.
//!
//! Run: `cargo test -p oidc-e2e --test browser` (needs `npm ci --prefix tests/provider` and
//! `apt-get install -y chromium chromium-driver`; `bash scripts/test.sh` does both).

mod chrome;
mod journeys;
mod refused;
mod screens;
mod session;

use std::sync::Arc;

use axum::extract::Path;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use chrome::Chrome;
use oidc_e2e::{App, AppListener, Op, OpOptions, init_tracing};
use oidc_layer::accounts::AccountResolver;
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{
    Identity, MemoryStore, OidcConfig, OidcLayer, ProviderBuilder, RequireRole, SessionData,
    SessionId, SessionStore,
};
use url::Url;

/// The demo's role map: admins → admin, users → trusted, anyone else untrusted.
fn demo_roles() -> RoleMapConfig {
    RoleMapConfig::new()
        .rule("admins", "admin")
        .rule("users", "trusted")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page with the demo's look (examples/axum-demo's `page`).
fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · oidc-layer demo</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1c1e21;line-height:1.5}}\
a.button,button{{font:inherit;padding:.5rem 1rem;border-radius:8px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;text-decoration:none;cursor:pointer}}\
code{{background:#f1f3f4;padding:.1rem .3rem;border-radius:4px}}</style>\
</head><body><main>{body}</main></body></html>",
        title = escape(title)
    ))
}

fn display_name(id: &Identity) -> String {
    id.name().unwrap_or(id.username()).to_owned()
}

/// The demo's home page: who is signed in, a sign-out button, links.
async fn home(identity: Option<Identity>) -> Html<String> {
    let status = match identity {
        Some(id) => format!(
            "<p id=\"status\">Signed in as <strong id=\"name\">{}</strong> ({}) with role <strong id=\"role\">{}</strong>.</p>\
<form method=\"post\" action=\"/auth/logout\"><button type=\"submit\" id=\"logout\">Sign out</button></form>",
            escape(&display_name(&id)),
            escape(id.email().unwrap_or("no email")),
            escape(&id.roles().join(", ")),
        ),
        None => "<p id=\"status\">You are not signed in.</p><p><a class=\"button\" id=\"login\" href=\"/auth/login?return_to=/profile\">Sign in</a></p>".to_owned(),
    };
    page(
        "Home",
        &format!(
            "<h1>oidc-layer demo</h1>{status}<h2>Try</h2><ul>\
<li><a href=\"/profile\">/profile</a>: your profile (protected)</li>\
<li><a href=\"/whoami\">/whoami</a>: your identity as JSON</li>\
<li><a href=\"/admin\">/admin</a>: needs the <code>admin</code> role</li>\
<li><a href=\"/auth/logout\">/auth/logout</a>: sign out</li></ul>"
        ),
    )
}

/// A protected page that shows the person's name and checks the session with `fetch()`, the
/// way a single-page app would: a 401 shows "session ended" with a link to sign in again,
/// built from the answer's `login_url` (with `return_to` set to this page).
async fn profile(identity: Identity) -> Html<String> {
    page(
        "Profile",
        &format!(
            "<h1>Profile</h1><p>Hello, <strong id=\"name\">{name}</strong>.</p>\
<p>Username <code id=\"username\">{username}</code>, roles <code id=\"roles\">{roles}</code>.</p>\
<p><button type=\"button\" id=\"check\">Check my session</button></p><p id=\"result\" role=\"status\"></p>\
<p id=\"ended\" hidden>Your session has ended. <a class=\"button\" id=\"sign-in-again\" href=\"#\">Sign in again</a></p>\
<p><a href=\"/\">Home</a></p>\
<script>\
document.getElementById('check').addEventListener('click', async () => {{\
  const result = document.getElementById('result');\
  delete result.dataset.status;\
  delete result.dataset.contentType;\
  delete result.dataset.loginUrl;\
  try {{\
    const r = await fetch('/api/me');\
    const body = await r.json();\
    result.dataset.status = r.status;\
    result.dataset.contentType = r.headers.get('content-type');\
    if (r.status === 401) {{\
      const login = new URL(body.login_url, location.href);\
      login.searchParams.set('return_to', location.pathname);\
      result.dataset.loginUrl = body.login_url;\
      document.getElementById('sign-in-again').href = login.href;\
      document.getElementById('ended').hidden = false;\
      result.textContent = 'Signed out (' + r.status + ')';\
    }} else {{\
      result.textContent = 'Still signed in as ' + body.username + ' (' + r.status + ')';\
    }}\
  }} catch (e) {{\
    result.dataset.status = 'error';\
    result.textContent = 'fetch failed: ' + e;\
  }}\
}});\
</script>",
            name = escape(&display_name(&identity)),
            username = escape(identity.username()),
            roles = escape(&identity.roles().join(", ")),
        ),
    )
}

async fn tab(Path(name): Path<String>, identity: Identity) -> Html<String> {
    page(
        "Tab",
        &format!(
            "<h1>Tab {}</h1><p>Hello, <strong id=\"name\">{}</strong>.</p>",
            escape(&name),
            escape(&display_name(&identity))
        ),
    )
}

async fn admin(identity: Identity) -> Html<String> {
    page(
        "Admin",
        &format!(
            "<h1>Admin</h1><p id=\"admin\">Welcome, {}. You have the <code>admin</code> role.</p><h2>Why these roles</h2><pre id=\"why\">{}</pre><p><a href=\"/\">Home</a></p>",
            escape(identity.username()),
            escape(identity.role_explanation().unwrap_or("")),
        ),
    )
}

/// The demo's routes, behind `layer`; `callbacks` records the callback URLs the browser
/// requests (WebDriver cannot see redirects).
fn demo_router(layer: OidcLayer, callbacks: Callbacks) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/profile", get(profile))
        .route("/tabs/{name}", get(tab))
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .route("/api/me", get(|id: Identity| async move { Json(id) }))
        .route("/admin", get(admin).route_layer(RequireRole::new("admin")))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT.into_response() }),
        )
        .layer(layer)
        .layer(axum::middleware::from_fn_with_state(
            callbacks,
            record_callbacks,
        ))
}

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
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            provider: Box::new(|p| p),
            resolver: None,
            second_provider: false,
        }
    }
}

/// The app, its provider(s), its session store and a browser.
struct Site {
    app: App,
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
        let base = listener.external_url();
        let chrome = Chrome::start();
        let op = Op::start(OpOptions::for_app(&listener));
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
            .public_paths(["/", "/favicon.ico"])
            .api_paths(["/api/*"]);
        let provider = |name: &str, op: &Op| {
            ProviderBuilder::new(name)
                .issuer(op.issuer())
                .client_id(op.client_id())
                .client_secret(op.client_secret())
                .scopes(["openid", "profile", "email", "groups"])
                .roles(demo_roles())
        };
        builder = builder.provider((setup.provider)(provider("Alpha ID", &op).slug("alpha")));
        if let Some(beta) = &beta {
            builder = builder.provider((setup.provider)(provider("Beta Login", beta).slug("beta")));
        }
        let config = builder.build().expect("a valid configuration");
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let mut layer = OidcLayer::new(config).with_store(store.clone());
        if let Some(resolver) = setup.resolver {
            layer = layer.with_account_resolver(resolver);
        }
        let callbacks = Callbacks::default();
        let app = App::spawn(demo_router(layer, callbacks.clone()), listener);
        Site {
            app,
            op,
            beta,
            store,
            callbacks,
            chrome,
        }
    }

    fn url(&self, path: &str) -> Url {
        self.app.url(path)
    }

    /// Whether `url` is on the app (any path).
    fn on_app(&self, url: &Url) -> bool {
        url.origin() == self.app.origin()
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

    /// Asserts the browser is on `path` of the app and shows `name` in `#name`.
    async fn assert_on(&self, path: &str, name: &str) {
        let chrome = &self.chrome;
        let url = chrome
            .wait_for_url(&format!("the app's {path}"), |u| {
                self.on_app(u) && u.path() == path
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
