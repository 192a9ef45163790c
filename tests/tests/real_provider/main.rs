//! oidc-layer against the real npm `oidc-provider` (tests/provider/op.mjs), driven by the
//! scripted [`Browser`]. Every test starts its own provider and app on loopback ports, so the
//! tests run in parallel. What is asserted is what a user sees: statuses, redirects, headers,
//! cookie flags, the identity handed to the app, and what the session store holds afterwards.
//!
//! Run: `npm ci --prefix tests/provider && cargo test -p oidc-e2e --test real_provider`.

use std::sync::Arc;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use cookie::SameSite;
use oidc_e2e::{
    App, AppListener, AtProvider, Browser, Journey, Op, OpOptions, Page, init_tracing,
    is_attempt_cookie, is_session_cookie, query_param, with_query_param,
};
use oidc_layer::{CookieNames, Identity, MemoryStore, OidcConfig, OidcLayer, SessionData};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use url::Url;

mod access;
mod accounts;
mod auth_params;
mod backchannel;
mod bearer;
mod break_glass;
mod claims;
mod cookie_scope;
mod doctor;
mod garbage;
mod guards;
mod hooks;
mod https_cookies;
mod lifetime;
mod linking;
mod login;
mod logout;
mod providers;
mod proxy_prefix;
mod refresh_failure;
mod rejected;
mod reload;
mod roles;
mod sessions;
mod site;
mod two_apps;

const CALLBACK: &str = "/auth/oidc";

/// One app behind the layer, its provider and its session store.
struct Env {
    app: App,
    op: Op,
    store: Arc<MemoryStore<SessionData>>,
    /// The names of the layer's cookies.
    cookies: CookieNames,
}

impl Env {
    /// Binds the app's port, starts the provider with `{app}/auth/oidc` as redirect URI, then
    /// builds the layer with the provider's issuer. Routes: `/` and `/health` public,
    /// `/whoami` (the identity as JSON) and `/tabs/{name}` protected.
    async fn start() -> Env {
        init_tracing();
        let listener = AppListener::bind().await;
        let op = Op::start(OpOptions::for_app(&listener)).await;
        let config = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(listener.external_url())
            .scopes(["openid", "profile", "email"])
            .public_paths(["/", "/health"])
            .build()
            .expect("a valid configuration");
        let cookies = config.cookie_names();
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/health", get(|| async { "ok" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .route(
                "/tabs/{name}",
                get(|Path(name): Path<String>, id: Identity| async move {
                    Json(json!({ "tab": name, "identity": id }))
                }),
            )
            .layer(layer);
        let app = App::spawn(router, listener);
        Env {
            app,
            op,
            store,
            cookies,
        }
    }

    /// Live sessions in the store.
    async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    /// Navigates to `path`, logs in as `user` at the provider and returns the journey, after
    /// checking it ended on `path` with a 200 and no server error on the way.
    async fn log_in(&self, browser: &Browser, path: &str, user: &str) -> Journey {
        log_in_at(browser, self.app.url(path), user, &self.op).await
    }

    /// Logs `browser` in as alice through `/whoami`; returns the session cookie's value.
    async fn log_in_alice(&self, browser: &Browser) -> String {
        self.log_in(browser, "/whoami", "alice").await;
        self.session_cookie(browser)
            .expect("a session cookie after login")
    }

    fn session_cookie(&self, browser: &Browser) -> Option<String> {
        browser.find_cookie(&self.app.url("/"), is_session_cookie)
    }

    /// `fetch('/whoami')` answers 200 with `sub`.
    async fn assert_logged_in(&self, browser: &Browser, sub: &str, context: &str) {
        let page = browser.fetch(self.app.url("/whoami")).await;
        assert_eq!(
            page.status, 200,
            "{context}: the session should still work: {page}"
        );
        assert_eq!(page.json()["sub"], sub, "{context}: {}", page.body);
    }

    /// `fetch('/whoami')` answers 401.
    async fn assert_logged_out(&self, browser: &Browser, context: &str) {
        let page = browser.fetch(self.app.url("/whoami")).await;
        assert_eq!(page.status, 401, "{context}: expected no session: {page}");
    }

    /// Starts a login at `path` and walks the provider as `at_provider`, stopping in front of
    /// the app's callback; returns the callback URL the provider sent the browser to.
    async fn callback_url(&self, browser: &Browser, path: &str, at_provider: AtProvider) -> Url {
        let first = browser.get(self.app.url(path)).await;
        let app_origin = self.app.origin();
        let journey = browser
            .follow_until(first, at_provider, |u| {
                u.origin() == app_origin && u.path() == CALLBACK
            })
            .await;
        journey.assert_no_server_error();
        journey.pending.clone().unwrap_or_else(|| {
            panic!(
                "never reached the callback:\n{journey}\n{}",
                self.op.log_tail()
            )
        })
    }

    /// Asserts the page is a rejected callback: 4xx HTML (a navigation), no session cookie set.
    fn assert_rejected_callback(&self, page: &Page, context: &str) {
        assert!(
            page.status.is_client_error(),
            "{context}: expected a 4xx, got {page}\n{}",
            page.body
        );
        assert!(
            page.content_type().starts_with("text/html"),
            "{context}: expected an HTML error page, got {:?}",
            page.content_type()
        );
        assert!(
            page.find_set_cookie(is_session_cookie)
                .is_none_or(|c| c.value().is_empty()),
            "{context}: a rejected callback must not set a session cookie: {:?}",
            page.set_cookie_headers()
        );
    }

    /// Asserts `page` is the layer's redirect of a browser to the authorization endpoint.
    fn assert_authorize_redirect(&self, page: &Page, context: &str) -> Url {
        assert_eq!(
            page.status, 302,
            "{context}: expected a 302 to the provider, got {page}"
        );
        let location = page
            .location()
            .unwrap_or_else(|| panic!("{context}: no Location: {page}"));
        let endpoint = self.op.authorization_endpoint();
        assert_eq!(
            (location.origin(), location.path()),
            (endpoint.origin(), endpoint.path()),
            "{context}: should redirect to the authorization endpoint {endpoint}, got {location}"
        );
        location
    }
}

/// Navigates to `url`, logs in as `user` at `op` and returns the journey, after checking it
/// ended on `url` with a 200 and no server error on the way.
async fn log_in_at(browser: &Browser, url: Url, user: &str, op: &Op) -> Journey {
    let first = browser.get(url.clone()).await;
    let journey = browser.follow_with(first, AtProvider::log_in(user)).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        last.url,
        url,
        "login as {user} should end on {url}:\n{journey}\n{}",
        op.log_tail()
    );
    assert_eq!(
        last.status, 200,
        "login as {user} should end with a 200 on {url}:\n{journey}\n{}",
        last.body
    );
    journey
}

/// `url` with the query parameter `name` set to `value`, form-encoded.
fn login_url(app: &App, return_to: &str) -> Url {
    let mut url = app.url("/auth/login");
    url.query_pairs_mut().append_pair("return_to", return_to);
    url
}

/// Every hop stayed on the app or the provider, and the journey ended on the app.
fn assert_stays_on_site(env: &Env, journey: &Journey, context: &str) {
    let allowed = [env.app.origin(), env.op.origin()];
    for page in &journey.hops {
        assert!(
            allowed.contains(&page.url.origin()),
            "{context}: left the site at {}:\n{journey}",
            page.url
        );
        if let Some(location) = page.location() {
            assert!(
                allowed.contains(&location.origin()),
                "{context}: redirect off-site to {location}:\n{journey}"
            );
        }
    }
    if let Some(pending) = &journey.pending {
        assert!(
            allowed.contains(&pending.origin()),
            "{context}: about to leave the site for {pending}"
        );
    }
    assert!(!journey.truncated, "{context}: redirect loop:\n{journey}");
    assert_eq!(
        journey.last().url.origin(),
        env.app.origin(),
        "{context}: should end on the app:\n{journey}"
    );
}
