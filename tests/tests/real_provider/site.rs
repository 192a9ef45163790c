//! The app of the identity, roles, providers, accounts and link tests (`roles`, `claims`,
//! `access`, `providers`, `accounts`, `linking`, `break_glass`), configured per test, and the
//! helpers they share.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap as RequestHeaders, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use oidc_layer::accounts::AccountResolver;
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{
    AppData, AppSession, LocalUser, OidcConfigBuilder, ProviderBuilder, RequireClaim,
    RequireIdentity, RequireRole, SessionId, SessionStore,
};
use regex::Regex;
use serde_json::Value;

use super::*;

/// The slug of the provider of a [`Site`] (its callback is `/auth/oidc`).
pub(crate) const SLUG: &str = "test-op";
/// The password of the app's own (local) sign-in routes.
pub(crate) const LOCAL_PASSWORD: &str = "root-password";
/// The backup (break-glass) login page of the app; deliberately not in [`PUBLIC_PATHS`].
pub(crate) const BACKUP_PATH: &str = "/login/local";
/// The paths every test app serves without a login.
pub(crate) const PUBLIC_PATHS: [&str; 5] =
    ["/", "/health", "/local-login", "/link-from-app", "/reports"];
pub(crate) const ALICE: &str = "u-1001-alice";
pub(crate) const BOB: &str = "u-1002-bob";
pub(crate) const CAROL: &str = "u-1003-carol";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

fn unique() -> u64 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// AudioBookRequest's (and the demo's) role map: admins → admin, users → trusted, anyone else
/// untrusted, with `untrusted < trusted < admin`.
pub(crate) fn demo_roles() -> RoleMapConfig {
    RoleMapConfig::new()
        .rule("admins", "admin")
        .rule("users", "trusted")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
}

/// The routes of the test app, behind `layer`:
///
/// - `/`, `/health` public; `/whoami` and `/settings`: the identity as JSON;
/// - `/can/{role}`: `{"role": .., "has_role": ..}` from [`Identity::has_role`];
///   `/why`: [`Identity::role_explanation`] as text (404 when there is none);
/// - `/admin` needs `admin`, `/trusted` needs `trusted` ([`RequireRole`]); `/reports` is a
///   public path that needs `trusted`;
/// - `/verified` and `/api/verified` need `email_verified` to be `true`, `/api/admins` needs
///   `admins` in `groups` ([`RequireClaim`]); `/carol` needs the username `carol`
///   ([`RequireIdentity`], with a reason);
/// - `/app-data`: GET `{"data": ..}` (the session's app data, [`AppData`]); POST `value` (JSON)
///   sets it ([`AppSession::set`]); `POST /app-data/count` adds one to a counter kept as the
///   app data ([`AppSession::update`]);
/// - `POST /local-login` (public): the app's own sign-in: `account` and `password`
///   ([`LOCAL_PASSWORD`]) give a local session with the role `admin`
///   ([`OidcLayer::sign_in_local`]), then `303` to `return_to` (default `/settings`);
/// - `POST /link-from-app` (public): after the same password check, starts linking
///   `provider` to `account` with [`OidcLayer::start_link`], back to `/settings`;
/// - [`BACKUP_PATH`]: the backup login form (GET) and the local administrator's sign-in
///   (POST `password`, then `303` to `/admin`). Not listed as a public path.
pub(crate) fn app_router(layer: &OidcLayer) -> Router {
    let local = layer.clone();
    let backup = layer.clone();
    let linker = layer.clone();
    Router::new()
        .route("/", get(|| async { "home" }))
        .route("/health", get(|| async { "ok" }))
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .route("/settings", get(|id: Identity| async move { Json(id) }))
        .route(
            "/can/{role}",
            get(|Path(role): Path<String>, id: Identity| async move {
                Json(json!({ "role": role, "has_role": id.has_role(&role) }))
            }),
        )
        .route(
            "/why",
            get(|id: Identity| async move {
                match id.role_explanation() {
                    Some(why) => (StatusCode::OK, why.to_owned()),
                    None => (StatusCode::NOT_FOUND, "no explanation".to_owned()),
                }
            }),
        )
        .route(
            "/admin",
            get(|| async { "admin area" }).route_layer(RequireRole::new("admin")),
        )
        .route(
            "/trusted",
            get(|| async { "trusted area" }).route_layer(RequireRole::new("trusted")),
        )
        .route(
            "/reports",
            get(|| async { "reports" }).route_layer(RequireRole::new("trusted")),
        )
        .route(
            "/verified",
            get(|| async { "verified area" }).route_layer(RequireClaim::is_true("email_verified")),
        )
        .route(
            "/api/verified",
            get(|| async { "verified api" }).route_layer(RequireClaim::is_true("email_verified")),
        )
        .route(
            "/api/admins",
            get(|| async { "admins api" }).route_layer(RequireClaim::includes("groups", "admins")),
        )
        .route(
            "/carol",
            get(|| async { "carol's page" }).route_layer(
                RequireIdentity::new(|id: &Identity| id.username() == "carol")
                    .reason("This page is for Carol."),
            ),
        )
        .route(
            "/app-data",
            get(|AppData(data): AppData<Value>| async move { Json(json!({ "data": data })) }).post(
                |session: AppSession, body: String| async move {
                    let form = parse_form(&body);
                    let value: Value = match form.get("value").map(|v| serde_json::from_str(v)) {
                        Some(Ok(value)) => value,
                        _ => return (StatusCode::BAD_REQUEST, "value: JSON").into_response(),
                    };
                    match session.set(&value).await {
                        Ok(()) => StatusCode::NO_CONTENT.into_response(),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        )
        .route(
            "/app-data/count",
            post(|session: AppSession| async move {
                match session
                    .update(|n: Option<u64>| Some(n.unwrap_or(0) + 1))
                    .await
                {
                    Ok(n) => Json(json!({ "count": n })).into_response(),
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/local-login",
            post(move |headers: RequestHeaders, body: String| {
                local_login(local.clone(), headers, body)
            }),
        )
        .route(
            BACKUP_PATH,
            get(|| async {
                axum::response::Html(
                    "<h1>Administrator sign-in</h1><form id=\"local-login\" method=\"post\" \
                     action=\"/login/local\"><input type=\"password\" name=\"password\">\
                     <input type=\"hidden\" name=\"return_to\" value=\"/admin\">\
                     <button>Sign in</button></form>",
                )
            })
            .post(move |headers: RequestHeaders, body: String| {
                local_login(backup.clone(), headers, body)
            }),
        )
        .route(
            "/link-from-app",
            post(move |headers: RequestHeaders, body: String| {
                let layer = linker.clone();
                async move {
                    let form = parse_form(&body);
                    if form.get("password").map(String::as_str) != Some(LOCAL_PASSWORD) {
                        return (StatusCode::UNAUTHORIZED, "wrong password").into_response();
                    }
                    let account = form.get("account").cloned().unwrap_or_default();
                    let provider = form.get("provider").map(String::as_str);
                    layer
                        .start_link(&headers, account, provider, "/settings")
                        .await
                        .map(Body::new)
                }
            }),
        )
        .layer(layer.clone())
}

fn parse_form(body: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// The app's own sign-in: checks the password, then [`OidcLayer::sign_in_local`] of `account`
/// (default `root`).
async fn local_login(layer: OidcLayer, headers: RequestHeaders, body: String) -> Response {
    let form = parse_form(&body);
    if form.get("password").map(String::as_str) != Some(LOCAL_PASSWORD) {
        return (StatusCode::UNAUTHORIZED, "wrong password").into_response();
    }
    let user = LocalUser {
        username: form
            .get("account")
            .cloned()
            .unwrap_or_else(|| "root".to_owned()),
        name: Some("Root".into()),
        roles: vec!["admin".into()],
        ..LocalUser::default()
    };
    let return_to = form
        .get("return_to")
        .cloned()
        .unwrap_or_else(|| "/settings".to_owned());
    match layer.sign_in_local(&headers, user).await {
        Ok(cookie) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, return_to)
            .header(header::SET_COOKIE, cookie)
            .body(Body::empty())
            .expect("a valid response"),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}

/// A provider user for `OP_USERS_FILE`: password `<username>-password`.
pub(crate) fn op_user(username: &str, claims: Value) -> Value {
    json!({ "username": username, "password": format!("{username}-password"), "claims": claims })
}

/// One app behind the layer, configured by the test, and its own provider.
pub(crate) struct Site {
    pub(crate) app: App,
    pub(crate) op: Op,
    pub(crate) store: Arc<MemoryStore<SessionData>>,
    pub(crate) layer: OidcLayer,
}

type Configure = Box<dyn FnOnce(OidcConfigBuilder) -> OidcConfigBuilder>;
type FromToml = Box<dyn FnOnce(&str, &str) -> String>;

/// How a [`Site`] is set up; see [`Site::builder`].
#[derive(Default)]
pub(crate) struct SiteBuilder {
    users: Option<Value>,
    op_env: Vec<(String, String)>,
    configure: Option<Configure>,
    toml: Option<FromToml>,
    accounts: Option<Arc<dyn AccountResolver>>,
    after_login: Option<Box<dyn FnOnce(OidcLayer) -> OidcLayer>>,
    access_token_ttl: Option<u64>,
}

impl SiteBuilder {
    /// The provider's users (`OP_USERS_FILE`) instead of alice, bob and carol.
    pub(crate) fn users(mut self, users: Value) -> Self {
        self.users = Some(users);
        self
    }

    /// An `OP_*` variable for the provider.
    pub(crate) fn op_env(mut self, name: &str, value: &str) -> Self {
        self.op_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Changes the configuration (after the defaults: the provider's issuer and client, slug
    /// [`SLUG`], the app's external URL, scopes `openid profile email groups`, [`PUBLIC_PATHS`]).
    pub(crate) fn configure(
        mut self,
        configure: impl FnOnce(OidcConfigBuilder) -> OidcConfigBuilder + 'static,
    ) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// Configures the layer from TOML instead: `toml(issuer, external_url)`.
    pub(crate) fn toml(mut self, toml: impl FnOnce(&str, &str) -> String + 'static) -> Self {
        self.toml = Some(Box::new(toml));
        self
    }

    /// The account resolver (default: the layer's stateless one).
    pub(crate) fn accounts(mut self, resolver: impl AccountResolver) -> Self {
        self.accounts = Some(Arc::new(resolver));
        self
    }

    /// Installs an after-login hook ([`OidcLayer::with_after_login`]).
    pub(crate) fn after_login(mut self, hook: impl oidc_layer::AfterLogin) -> Self {
        self.after_login = Some(Box::new(move |layer: OidcLayer| {
            layer.with_after_login(hook)
        }));
        self
    }

    /// Access tokens that live `seconds` at the provider (with refresh tokens, rotated).
    pub(crate) fn access_token_ttl(mut self, seconds: u64) -> Self {
        self.access_token_ttl = Some(seconds);
        self
    }

    pub(crate) async fn start(self) -> Site {
        init_tracing();
        let listener = AppListener::bind().await;
        let mut options = OpOptions::for_app(&listener);
        options.env = self.op_env;
        if let Some(ttl) = self.access_token_ttl {
            options.access_token_ttl = Some(ttl);
            options.env.push(("OP_ROTATE_REFRESH".into(), "1".into()));
        }
        let users_file = self.users.map(|users| {
            let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "op-users-{}-{}.json",
                std::process::id(),
                unique()
            ));
            let bytes = serde_json::to_vec_pretty(&users).expect("users serialize");
            std::fs::write(&path, bytes)
                .unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
            path
        });
        options.users_file = users_file.clone();
        let op = Op::start(options).await;
        if let Some(path) = users_file {
            // op.mjs read it at start-up.
            let _ = std::fs::remove_file(path);
        }
        let config = match self.toml {
            Some(toml) => {
                let text = toml(op.issuer(), &listener.external_url());
                OidcConfig::from_toml_str(&text)
                    .unwrap_or_else(|err| panic!("invalid TOML configuration: {err}\n{text}"))
            }
            None => {
                let builder = OidcConfig::builder()
                    .issuer(op.issuer())
                    .client_id(op.client_id())
                    .client_secret(op.client_secret())
                    .slug(SLUG)
                    .external_url(listener.external_url())
                    .scopes(["openid", "profile", "email", "groups"])
                    .public_paths(PUBLIC_PATHS);
                let builder = match self.configure {
                    Some(configure) => configure(builder),
                    None => builder,
                };
                builder.build().expect("a valid configuration")
            }
        };
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let mut layer = OidcLayer::new(config).with_store(store.clone());
        if let Some(resolver) = self.accounts {
            layer = layer.with_account_resolver(resolver);
        }
        if let Some(install) = self.after_login {
            layer = install(layer);
        }
        let app = App::spawn(app_router(&layer), listener);
        Site {
            app,
            op,
            store,
            layer,
        }
    }
}

impl Site {
    pub(crate) fn builder() -> SiteBuilder {
        SiteBuilder::default()
    }

    /// Live sessions in the store.
    pub(crate) async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    /// Logs `user` in through a navigation to `path`; asserts it ends there with a 200.
    pub(crate) async fn log_in(&self, browser: &Browser, path: &str, user: &str) -> Journey {
        log_in_at(&self.app, &self.op, browser, path, user).await
    }

    /// Logs `user` in at `/whoami` and returns the identity the app sees.
    pub(crate) async fn identity_of(&self, browser: &Browser, user: &str) -> Value {
        self.log_in(browser, "/whoami", user).await.last().json()
    }

    /// Navigates to `path` and logs `user` in at the provider, expecting the app to refuse
    /// the login at its callback; returns that refusal (checked: 4xx HTML, no session cookie).
    pub(crate) async fn refused_login(&self, browser: &Browser, path: &str, user: &str) -> Page {
        refused_login_at(&self.app, &self.op, browser, path, user, CALLBACK).await
    }

    /// The session the store holds for `browser`'s session cookie.
    pub(crate) async fn session(&self, browser: &Browser) -> Option<SessionData> {
        session_in(&self.store, &self.app, browser).await
    }

    /// The callback URL the provider sends `browser` to after `user` logs in, not requested.
    pub(crate) async fn callback_for(&self, browser: &Browser, path: &str, user: &str) -> Url {
        callback_url_at(&self.app, &self.op, browser, path, user, CALLBACK).await
    }
}

/// [`Site::log_in`] for any app and provider.
pub(crate) async fn log_in_at(
    app: &App,
    op: &Op,
    browser: &Browser,
    path: &str,
    user: &str,
) -> Journey {
    log_in_via(app, op, browser, path, user, path).await
}

/// Navigates to `start`, logs `user` in at the provider and asserts the journey ends with a
/// 200 on `end`.
pub(crate) async fn log_in_via(
    app: &App,
    op: &Op,
    browser: &Browser,
    start: &str,
    user: &str,
    end: &str,
) -> Journey {
    let first = browser.get(app.url(start)).await;
    let journey = browser.follow_with(first, AtProvider::log_in(user)).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (&last.url, last.status.as_u16()),
        (&app.url(end), 200),
        "login as {user} from {start} should end with a 200 on {end}:\n{journey}\n{}\nprovider log:\n{}",
        last.body,
        op.log_tail()
    );
    journey
}

/// [`Site::refused_login`] for any app, provider and callback path.
pub(crate) async fn refused_login_at(
    app: &App,
    op: &Op,
    browser: &Browser,
    path: &str,
    user: &str,
    callback: &str,
) -> Page {
    let first = browser.get(app.url(path)).await;
    let journey = browser.follow_with(first, AtProvider::log_in(user)).await;
    journey.assert_no_server_error();
    let last = journey.last().clone();
    assert_eq!(
        last.url.path(),
        callback,
        "the login of {user} should stop at the callback:\n{journey}\nprovider log:\n{}",
        op.log_tail()
    );
    assert_refusal(&last, &format!("login of {user}"));
    assert!(
        browser
            .find_cookie(&app.url("/"), is_session_cookie)
            .is_none(),
        "login of {user}: the browser holds no session cookie"
    );
    last
}

/// [`Site::callback_for`] for any app, provider and callback path.
pub(crate) async fn callback_url_at(
    app: &App,
    op: &Op,
    browser: &Browser,
    path: &str,
    user: &str,
    callback: &str,
) -> Url {
    let first = browser.get(app.url(path)).await;
    let origin = app.origin();
    let journey = browser
        .follow_until(first, AtProvider::log_in(user), |u| {
            u.origin() == origin && u.path() == callback
        })
        .await;
    journey.assert_no_server_error();
    journey.pending.clone().unwrap_or_else(|| {
        panic!(
            "never reached {callback}:\n{journey}\nprovider log:\n{}",
            op.log_tail()
        )
    })
}

/// Asserts `page` is a refusal shown to a person: 4xx, an HTML page, no session cookie set.
pub(crate) fn assert_refusal(page: &Page, context: &str) {
    assert!(
        page.status.is_client_error(),
        "{context}: expected a 4xx, got {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("text/html"),
        "{context}: expected an HTML page, got {:?}: {}",
        page.content_type(),
        page.body
    );
    assert_no_session_cookie_set(page, context);
}

/// Asserts `page` is a guard's refusal with `detail` (as problem+json text; backtick-quoted
/// names show as code on the page): 403, HTML or problem+json as `html` says, no redirect,
/// no cookie change.
pub(crate) fn assert_guard_refusal(page: &Page, detail_text: &str, html: bool, context: &str) {
    assert_eq!(page.status, 403, "{context}: {page}\n{}", page.body);
    assert!(page.location().is_none(), "{context}: no redirect: {page}");
    assert!(
        page.set_cookie_headers().is_empty(),
        "{context}: no cookie change: {:?}",
        page.set_cookie_headers()
    );
    if html {
        assert!(
            page.content_type().starts_with("text/html"),
            "{context}: {:?}",
            page.content_type()
        );
        assert_eq!(
            heading(page),
            "You do not have access to this page",
            "{context}"
        );
        let mut shown = String::new();
        for (i, part) in detail_text.split('`').enumerate() {
            if i % 2 == 1 {
                shown.push_str(&format!("<code>{part}</code>"));
            } else {
                shown.push_str(part);
            }
        }
        assert_eq!(detail(page), shown, "{context}");
        assert_eq!(
            link_with_text(page, "Home"),
            Some(page.url.join("/").expect("the app's root")),
            "{context}: a way out"
        );
    } else {
        assert!(
            page.content_type().starts_with("application/problem+json"),
            "{context}: {:?}",
            page.content_type()
        );
        let problem = page.json();
        assert_eq!(problem["status"], 403, "{context}: {problem}");
        assert_eq!(
            problem["title"], "You do not have access to this page",
            "{context}: {problem}"
        );
        assert_eq!(problem["detail"], detail_text, "{context}: {problem}");
    }
}

/// Asserts `page` sets no (non-empty) session cookie.
pub(crate) fn assert_no_session_cookie_set(page: &Page, context: &str) {
    assert!(
        page.find_set_cookie(is_session_cookie)
            .is_none_or(|c| c.value().is_empty()),
        "{context}: must not set a session cookie: {:?}",
        page.set_cookie_headers()
    );
}

/// The text of `<p id="detail">` of one of the layer's pages (entities decoded).
pub(crate) fn detail(page: &Page) -> String {
    let re = Regex::new(r#"(?s)<p\b[^>]*\bid="detail"[^>]*>(.*?)</p>"#).expect("valid regex");
    let raw = re
        .captures(&page.body)
        .map(|c| c[1].to_owned())
        .unwrap_or_else(|| panic!("no <p id=\"detail\"> on {page}:\n{}", page.body));
    unescape(&raw)
}

/// The `<h1>` of an HTML page.
pub(crate) fn heading(page: &Page) -> String {
    let re = Regex::new(r"(?s)<h1\b[^>]*>(.*?)</h1>").expect("valid regex");
    re.captures(&page.body)
        .map(|c| unescape(&c[1]))
        .unwrap_or_else(|| panic!("no <h1> on {page}:\n{}", page.body))
}

/// The `href` of the `<a>` whose text (markup stripped) is `text`, resolved against the
/// page's URL.
pub(crate) fn link_with_text(page: &Page, text: &str) -> Option<Url> {
    let re =
        Regex::new(r#"(?is)<a\b[^>]*\bhref\s*=\s*"([^"]*)"[^>]*>(.*?)</a>"#).expect("valid regex");
    let tags = Regex::new(r"<[^>]*>").expect("valid regex");
    re.captures_iter(&page.body)
        .find(|c| unescape(tags.replace_all(&c[2], "").trim()) == text)
        .and_then(|c| page.url.join(&unescape(&c[1])).ok())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The session `store` holds for `browser`'s session cookie on `app`.
pub(crate) async fn session_in(
    store: &MemoryStore<SessionData>,
    app: &App,
    browser: &Browser,
) -> Option<SessionData> {
    let cookie = browser.find_cookie(&app.url("/"), is_session_cookie)?;
    let id = SessionId::parse(&cookie)?;
    store
        .load(&id)
        .await
        .expect("the memory store does not fail")
        .map(|record| record.data.clone())
}

/// The request lines `op` logged so far (`METHOD /path STATUS`), complete: a marker request
/// is sent and waited for (at most 10 s), so every earlier line has been read.
pub(crate) async fn op_log_now(op: &Op) -> String {
    let marker = format!("/log-marker-{}", unique());
    reqwest::Client::new()
        .get(format!("{}{marker}", op.issuer()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {marker} at the provider: {err}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = op.log_tail();
        if log.contains(&marker) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "the provider never logged {marker}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many token requests `op` has answered.
pub(crate) async fn token_requests(op: &Op) -> usize {
    let token_path = op.endpoint("token_endpoint").path().to_owned();
    let needle = format!(" POST {token_path} ");
    op_log_now(op)
        .await
        .lines()
        .filter(|line| line.contains(&needle))
        .count()
}

/// An app with two providers, `alpha` ("Alpha ID", callback `/auth/oidc`) and `beta`
/// ("Beta Login", callback `/auth/oidc/beta`), each its own op.mjs, and [`BACKUP_PATH`] as
/// the backup login.
pub(crate) struct TwoProviders {
    pub(crate) app: App,
    pub(crate) alpha: Op,
    pub(crate) beta: Op,
    pub(crate) store: Arc<MemoryStore<SessionData>>,
}

impl TwoProviders {
    pub(crate) async fn start(accounts: Option<Arc<dyn AccountResolver>>) -> TwoProviders {
        init_tracing();
        let listener = AppListener::bind().await;
        let beta_options = OpOptions {
            redirect_uris: vec![format!("{}/auth/oidc/beta", listener.external_url())],
            // Cookies are shared across ports: keep beta from reading alpha's as its own.
            env: vec![("OP_COOKIE_KEY".into(), "beta-cookie-key".into())],
            ..OpOptions::for_app(&listener)
        };
        let (alpha, beta) = tokio::join!(
            Op::start(OpOptions::for_app(&listener)),
            Op::start(beta_options)
        );
        let provider = |name: &str, slug: &str, op: &Op| {
            ProviderBuilder::new(name)
                .slug(slug)
                .issuer(op.issuer())
                .client_id(op.client_id())
                .client_secret(op.client_secret())
                .scopes(["openid", "profile", "email", "groups"])
                .roles(demo_roles())
        };
        let config = OidcConfig::builder()
            .external_url(listener.external_url())
            .provider(provider("Alpha ID", "alpha", &alpha))
            .provider(provider("Beta Login", "beta", &beta))
            .public_paths(PUBLIC_PATHS)
            .backup_login_path(BACKUP_PATH)
            .build()
            .expect("a valid configuration");
        assert_eq!(
            config.redirect_uris(),
            [
                listener.redirect_uri(),
                format!("{}/auth/oidc/beta", listener.external_url())
            ]
        );
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let mut layer = OidcLayer::new(config).with_store(store.clone());
        if let Some(resolver) = accounts {
            layer = layer.with_account_resolver(resolver);
        }
        let app = App::spawn(app_router(&layer), listener);
        TwoProviders {
            app,
            alpha,
            beta,
            store,
        }
    }

    pub(crate) async fn sessions(&self) -> u64 {
        self.store.len().await
    }
}
