//! oidc-layer against a second, independent provider: `django-oidc-provider` 0.9.0 from PyPI
//! in the minimal Django project of `tests/django-op` ([`DjangoOp`]), driven by the scripted
//! [`Browser`] through Django's own login form and the package's consent page. Every test
//! starts its own provider (a fresh SQLite database) and app on loopback ports.
//!
//! What differs from the npm provider, and how the layer copes, is in docs/providers.md
//! ("django-oidc-provider"); each difference is pinned by a test here.
//!
//! Run: `bash scripts/test.sh -p oidc-e2e --test second_provider` (installs the provider's
//! virtual environment), or after `python3 -m venv tests/django-op/.venv &&
//! tests/django-op/.venv/bin/pip install --require-hashes -r tests/django-op/requirements.txt`:
//! `cargo test -p oidc-e2e --test second_provider`.

use std::sync::Arc;

use axum::extract::Request;
use axum::routing::get;
use axum::{Json, Router};
use oidc_e2e::{
    App, AppListener, AtProvider, Browser, DjangoOp, DjangoOpOptions, Journey, Page, init_tracing,
    is_session_cookie,
};
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{
    AccessToken, CookieNames, Identity, MemoryStore, OidcConfig, OidcConfigBuilder, OidcLayer,
    SessionData,
};
use serde_json::json;
use url::Url;

mod claims;
mod doctor;
mod login;
mod logout;
mod refresh;
mod rejected;

const CALLBACK: &str = "/auth/oidc";

/// The scopes the app asks for: `groups` is the provider's custom scope
/// (`OIDC_EXTRA_SCOPE_CLAIMS`, tests/django-op/djop/claims.py).
const SCOPES: [&str; 4] = ["openid", "profile", "email", "groups"];

/// The demo's role map: `admins` -> admin, `users` -> trusted, anyone else untrusted.
fn roles() -> RoleMapConfig {
    RoleMapConfig::new()
        .rule("admins", "admin")
        .rule("users", "trusted")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
}

/// One app behind the layer, its Django provider and its session store.
struct Env {
    app: App,
    op: DjangoOp,
    layer: OidcLayer,
    store: Arc<MemoryStore<SessionData>>,
    cookies: CookieNames,
}

impl Env {
    /// The provider with its defaults for the app, the layer with [`SCOPES`] and [`roles`].
    async fn start() -> Env {
        Env::start_custom(|options| options, |_, builder| builder).await
    }

    /// Binds the app's port, starts the provider with `{app}/auth/oidc` as redirect URI
    /// (`op_options` may change its settings), then builds the layer with the provider's
    /// issuer (`config`, given the provider, may change it). Routes: `/` public; `/whoami` (the identity as JSON)
    /// and `/token` (`{"sub", "access_token"}`, the token only with `expose_access_token`)
    /// protected; `/public`, public: `signed in as {sub}` or `anonymous`.
    async fn start_custom(
        op_options: impl FnOnce(DjangoOpOptions) -> DjangoOpOptions,
        config: impl FnOnce(&DjangoOp, OidcConfigBuilder) -> OidcConfigBuilder,
    ) -> Env {
        init_tracing();
        let listener = AppListener::bind().await;
        let op = DjangoOp::start(op_options(DjangoOpOptions::for_app(&listener))).await;
        let builder = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(listener.external_url())
            .scopes(SCOPES)
            .roles(roles())
            .public_paths(["/", "/public"]);
        let config = config(&op, builder).build().expect("a valid configuration");
        let cookies = config.cookie_names();
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .route(
                "/public",
                get(|id: Option<Identity>| async move {
                    match id {
                        Some(id) => format!("signed in as {}", id.sub()),
                        None => "anonymous".to_owned(),
                    }
                }),
            )
            .route(
                "/token",
                get(|request: Request| async move {
                    let extensions = request.extensions();
                    Json(json!({
                        "sub": extensions.get::<Identity>().map(|id| id.sub().to_owned()),
                        "access_token": extensions
                            .get::<AccessToken>()
                            .map(|t| t.secret().to_owned()),
                    }))
                }),
            )
            .layer(layer.clone());
        let app = App::spawn(router, listener);
        Env {
            app,
            op,
            layer,
            store,
            cookies,
        }
    }

    /// Live sessions in the store.
    async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    fn session_cookie(&self, browser: &Browser) -> Option<String> {
        browser.find_cookie(&self.app.url("/"), is_session_cookie)
    }

    /// Navigates to `/whoami`, logs in as `user` at the provider (login form, then the consent
    /// page the first time) and returns the journey, after checking that it ended on
    /// `/whoami` with a 200 and no server error on the way.
    async fn log_in(&self, browser: &Browser, user: &str) -> Journey {
        let url = self.app.url("/whoami");
        let first = browser.get(url.clone()).await;
        let journey = browser.follow_with(first, AtProvider::log_in(user)).await;
        journey.assert_no_server_error();
        let last = journey.last();
        assert_eq!(
            (last.status.as_u16(), &last.url),
            (200, &url),
            "login as {user} should end with a 200 on {url}:\n{journey}\n{}\n{}",
            last.body,
            self.op.log_tail()
        );
        journey
    }

    /// `fetch('/whoami')`: the identity (asserting a 200).
    async fn whoami(&self, browser: &Browser, context: &str) -> serde_json::Value {
        let page = browser.fetch(self.app.url("/whoami")).await;
        assert_eq!(
            page.status,
            200,
            "{context}: the session should work: {page}\n{}",
            self.op.log_tail()
        );
        page.json()
    }

    /// `fetch('/whoami')` answers 401.
    async fn assert_logged_out(&self, browser: &Browser, context: &str) {
        let page = browser.fetch(self.app.url("/whoami")).await;
        assert_eq!(page.status, 401, "{context}: expected no session: {page}");
    }

    /// Starts a login and walks the provider as `at_provider`, stopping in front of the app's
    /// callback; returns the callback URL the provider sent the browser to.
    async fn callback_url(&self, browser: &Browser, at_provider: AtProvider) -> Url {
        let first = browser.get(self.app.url("/whoami")).await;
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

    /// Asserts the page is a rejected callback: 4xx HTML, no session cookie set.
    fn assert_rejected_callback(&self, page: &Page, context: &str) {
        assert!(
            page.status.is_client_error(),
            "{context}: expected a 4xx, got {page}\n{}\n{}",
            page.body,
            self.op.log_tail()
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

    /// How many requests the provider logged as `"{request}" {status}`, e.g.
    /// `("POST /openid/token", 200)` (Django's request log: `"POST /openid/token HTTP/1.1" 200`).
    async fn provider_requests(&self, request: &str, status: u16) -> usize {
        self.op.sync_log().await;
        self.op
            .count_log_lines(&format!("\"{request} HTTP/1.1\" {status} "))
    }
}

/// The payload of a JWT (unverified; the provider's own token, for assertions).
fn jwt_payload(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("a JSON payload")
}
