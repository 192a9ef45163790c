//! oidc-layer against a hostile provider: the in-process testkit [`TestProvider`] switched at
//! run time to every [`Tamper`] misbehaviour (forged, expired, not yet valid, stale,
//! mis-addressed, wrongly signed or oversized ID tokens, a wrong or missing RFC 9207 `iss`, a
//! token response of another type, a broken token endpoint), driven by the scripted
//! [`Browser`]. Every test starts its own provider and app on loopback ports.
//!
//! For every variant a login must be refused at the callback with the exact status below, shown
//! as an HTML page to a browser (problem+json to a script) that leaks no code, token or secret;
//! userinfo is never asked, no session cookie is set, nothing is written to the store, an
//! existing session is untouched, and once the provider behaves again the same browser logs in
//! (nothing was poisoned). The variants a correct client accepts at a login (an absurd
//! `expires_in`, no `kid` among several keys) log in; a refresh whose ID token is tampered with
//! ends the session, and changed groups change the roles.
//!
//! The provider signs alice in at once (`auto_login`), so a login is a chain of redirects:
//! app -> provider `/authorize` -> app `/auth/oidc` (the callback) -> the return-to path.
//!
//! Run: `cargo test -p oidc-e2e --test hostile_provider`.

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use oidc_e2e::{
    App, AppListener, Browser, Journey, Page, init_tracing, is_attempt_cookie, is_session_cookie,
    query_param, until_logins_start,
};
use std::time::{Duration, SystemTime};

use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{
    Identity, MemoryStore, OidcConfig, OidcConfigBuilder, OidcLayer, Record, SessionData,
    SessionId, SessionStore as _,
};
use oidc_testkit::{Tamper, TestProvider, TestUser};
use reqwest::StatusCode;
use url::Url;

const CALLBACK: &str = "/auth/oidc";
const ALICE_SUB: &str = "u-1001-alice";

/// The status a login through a provider misbehaving as `tamper` must end with.
///
/// Everything the provider sends that fails verification is the request's fault as far as the
/// browser is concerned: `400`. The two provider faults follow the layer's own taxonomy
/// (`provider::ProviderError`): a token endpoint answering a server error is `Unavailable`
/// (`503`, "try again in a moment", like a discovery document answering 5xx), and a `200` whose
/// body is not a token response is an unusable answer from the gateway's upstream (`502`).
/// Never `500`.
fn expected_status(tamper: Tamper) -> StatusCode {
    match tamper {
        Tamper::TokenEndpointError => StatusCode::SERVICE_UNAVAILABLE,
        Tamper::GarbageTokenResponse => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Variants the layer must refuse before redeeming the code: an authorization response with a
/// wrong or missing `iss` may come from a mix-up attack, so the code must not be sent to the
/// token endpoint (RFC 9207 section 2.4).
fn refused_before_token_request(tamper: Tamper) -> bool {
    matches!(
        tamper,
        Tamper::WrongIssInCallback | Tamper::MissingIssInCallback
    )
}

/// One app behind the layer, its hostile provider and its session store.
struct Env {
    app: App,
    provider: TestProvider,
    store: Arc<MemoryStore<SessionData>>,
    /// The app's layer, to reload its configuration.
    layer: OidcLayer,
}

/// The app's settings for `provider` (its default slug is `127-0-0-1`, derived from the
/// issuer's host: the same for every testkit provider).
fn base_config(provider: &TestProvider, external_url: String) -> OidcConfigBuilder {
    OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url(external_url)
        .public_paths(["/"])
}

impl Env {
    /// Binds the app's port, starts the testkit provider with `{app}/auth/oidc` as its only
    /// redirect URI (signing alice in without a page), then the layer with the provider's
    /// issuer. Routes: `/` public, `/whoami` (the identity as JSON) protected.
    async fn start() -> Env {
        Self::start_with(|config| config).await
    }

    /// [`Env::start`] with more settings.
    async fn start_with(configure: impl FnOnce(OidcConfigBuilder) -> OidcConfigBuilder) -> Env {
        Env::start_with_ttl(None, configure).await
    }

    /// [`Env::start_with`], the provider issuing access tokens for `ttl` when given.
    async fn start_with_ttl(
        ttl: Option<Duration>,
        configure: impl FnOnce(OidcConfigBuilder) -> OidcConfigBuilder,
    ) -> Env {
        init_tracing();
        let listener = AppListener::bind().await;
        let mut provider = TestProvider::builder()
            .redirect_uris([listener.redirect_uri()])
            .auto_login("alice");
        if let Some(ttl) = ttl {
            provider = provider.access_token_ttl(ttl);
        }
        let provider = provider.start().await.expect("start the testkit provider");
        let config = configure(base_config(&provider, listener.external_url()))
            .build()
            .expect("a valid configuration");
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .layer(layer.clone());
        let app = App::spawn(router, listener);
        Env {
            app,
            provider,
            store,
            layer,
        }
    }

    /// Live sessions in the store.
    async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    fn session_cookie(&self, browser: &Browser) -> Option<String> {
        browser.find_cookie(&self.app.url("/"), is_session_cookie)
    }

    /// `/auth/login?return_to=...`.
    fn login_url(&self, return_to: &str) -> Url {
        let mut url = self.app.url("/auth/login");
        url.query_pairs_mut().append_pair("return_to", return_to);
        url
    }

    /// Navigates to `start` and walks the redirects through the provider; checks the walk went
    /// through the provider's authorization endpoint and the app's callback exactly once.
    async fn attempt(&self, browser: &Browser, start: Url, context: &str) -> Journey {
        let journey = browser.navigate(start).await;
        assert!(!journey.truncated, "{context}: redirect loop:\n{journey}");
        assert_eq!(
            journey.hops_to(CALLBACK).len(),
            1,
            "{context}: the login should reach the callback exactly once:\n{journey}"
        );
        journey
    }

    /// Logs `browser` in as alice through `/whoami` with the provider behaving; returns the
    /// session cookie's value.
    async fn log_in(&self, browser: &Browser, context: &str) -> String {
        let journey = self
            .attempt(browser, self.app.url("/whoami"), context)
            .await;
        journey.assert_no_server_error();
        let last = journey.last();
        assert_eq!(
            (last.url.path(), last.status),
            ("/whoami", StatusCode::OK),
            "{context}: the login should end with a 200 on /whoami:\n{journey}\n{}",
            last.body
        );
        assert_eq!(last.json()["sub"], ALICE_SUB, "{context}: {}", last.body);
        self.session_cookie(browser)
            .unwrap_or_else(|| panic!("{context}: no session cookie after the login:\n{journey}"))
    }

    /// The stored session of `browser`, if any.
    async fn stored_session(&self, browser: &Browser) -> Option<Arc<Record<SessionData>>> {
        let cookie = self.session_cookie(browser)?;
        let id = SessionId::parse(&cookie).expect("a well-formed session cookie");
        self.store
            .load(&id)
            .await
            .expect("the memory store answers")
    }

    /// Starts a login at `/whoami` and walks it to the provider and back, stopping in front of
    /// the app's callback: the journey and the callback URL.
    async fn walk_to_callback(&self, browser: &Browser, context: &str) -> (Journey, Url) {
        let first = browser.get(self.app.url("/whoami")).await;
        let app_origin = self.app.origin();
        let journey = browser
            .follow_until(first, oidc_e2e::AtProvider::Stay, |u| {
                u.origin() == app_origin && u.path() == CALLBACK
            })
            .await;
        let callback = journey
            .pending
            .clone()
            .unwrap_or_else(|| panic!("{context}: never reached the callback:\n{journey}"));
        (journey, callback)
    }

    /// Logs `browser` in up to and including the callback (alice, the provider behaving), but
    /// sends no request with the new session yet: the next one is the session's first upkeep.
    async fn log_in_without_upkeep(&self, browser: &Browser, context: &str) {
        let (_, callback) = self.walk_to_callback(browser, context).await;
        let page = browser.get(&callback).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{context}: the login should succeed: {page}\n{}",
            page.body
        );
        assert!(
            self.stored_session(browser).await.is_some(),
            "{context}: a session after the login"
        );
    }

    /// `fetch('/whoami')` answers 200 with alice's identity.
    async fn assert_logged_in_as_alice(&self, browser: &Browser, context: &str) {
        let page = browser.fetch(self.app.url("/whoami")).await;
        assert_eq!(
            page.status, 200,
            "{context}: the session should work: {page}"
        );
        assert_eq!(page.json()["sub"], ALICE_SUB, "{context}: {}", page.body);
    }
}

/// Values that must never appear in an error page: the authorization code, the attempt's
/// state and nonce, the client secret, and any JWT (`eyJ` starts every base64url JSON object).
fn secrets_of(env: &Env, journey: &Journey, callback: &Url) -> Vec<(&'static str, String)> {
    let mut secrets = vec![
        ("an eyJ JWT fragment", "eyJ".to_owned()),
        ("the client secret", env.provider.client_secret().to_owned()),
    ];
    for name in ["code", "state"] {
        if let Some(value) = query_param(callback, name) {
            secrets.push((name, value));
        }
    }
    let authorize = journey
        .hops
        .iter()
        .filter_map(Page::location)
        .find(|l| l.path() == "/authorize")
        .unwrap_or_else(|| panic!("never went to the provider's /authorize:\n{journey}"));
    if let Some(nonce) = query_param(&authorize, "nonce") {
        secrets.push(("nonce", nonce));
    }
    secrets
}

/// Asserts `page` (the callback's answer) refuses the login: never a 500, `content_type`
/// prefix, no secret in the body, no session cookie set. The exact status of
/// [`expected_status`] is checked by the caller at the end (so that one wrong status does not
/// hide the other checks of a variant): this returns the mismatch, if any.
#[must_use = "the status mismatch must be reported"]
fn assert_refused(
    page: &Page,
    tamper: Tamper,
    content_type: &str,
    secrets: &[(&'static str, String)],
    context: &str,
) -> Option<String> {
    assert!(
        page.status.is_client_error()
            || page.status == StatusCode::BAD_GATEWAY
            || page.status == StatusCode::SERVICE_UNAVAILABLE,
        "{context}: a refused login answers 4xx (502/503 for a provider fault), never another \
status (a hostile provider must never cause a 500): {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with(content_type),
        "{context}: expected {content_type}, got Content-Type {:?}: {page}",
        page.content_type()
    );
    for (what, value) in secrets {
        assert!(
            !page.body.contains(value.as_str()),
            "{context}: the error page contains {what} ({value:.20}...):\n{}",
            page.body
        );
    }
    assert!(
        page.find_set_cookie(is_session_cookie)
            .is_none_or(|c| c.value().is_empty()),
        "{context}: a refused login must not set a session cookie: {:?}",
        page.set_cookie_headers()
    );
    let expected = expected_status(tamper);
    (page.status != expected).then(|| {
        format!(
            "{context}: status {} (expected {expected}) for a login through a provider \
misbehaving as Tamper::{tamper:?}: {page}",
            page.status
        )
    })
}

/// Panics with `mismatch` (from [`assert_refused`]) once every other check has passed.
fn fail_on_status_mismatch(mismatch: Option<String>) {
    if let Some(message) = mismatch {
        panic!("{message}\n(every other check of this variant passed)");
    }
}

/// Runs `check` for every [`Tamper`] variant but `None`, each in its own task, and fails with
/// the list of the variants whose check panicked (all of them are run).
async fn for_every_tamper<F, Fut>(check: F)
where
    F: Fn(Tamper) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let variants: Vec<Tamper> = Tamper::ALL
        .iter()
        .copied()
        .filter(|t| t.refused_at_login())
        .collect();
    assert!(
        variants.len() >= 24,
        "Tamper::ALL lost variants: {variants:?}"
    );
    let mut failures = Vec::new();
    for &tamper in &variants {
        if let Err(err) = tokio::spawn(check(tamper)).await {
            let message = match err.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "(non-text panic)".to_owned()),
                Err(err) => err.to_string(),
            };
            failures.push(format!("--- Tamper::{tamper:?} ---\n{message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Tamper variants failed:\n\n{}",
        failures.len(),
        variants.len(),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_untampered_provider_logs_in() {
    // The baseline every other test relies on: Tamper::None is a working provider.
    let env = Env::start().await;
    assert_eq!(env.provider.tamper(), Tamper::None);
    let browser = Browser::new();
    env.log_in(&browser, "Tamper::None").await;
    assert_eq!(env.provider.token_requests(), 1);
    assert_eq!(env.sessions().await, 1);
    env.assert_logged_in_as_alice(&browser, "Tamper::None")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tampered_login_is_refused_and_poisons_nothing() {
    for_every_tamper(|tamper| async move {
        let context = format!("Tamper::{tamper:?}");
        let env = Env::start().await;
        let browser = Browser::new();
        env.provider.set_tamper(tamper);

        let journey = env
            .attempt(&browser, env.app.url("/whoami"), &context)
            .await;
        let last = journey.last();
        assert_eq!(
            last.url.path(),
            CALLBACK,
            "{context}: the login must stop on the callback's error page (ACCEPTED by the \
layer if it went on to /whoami):\n{journey}\n{}",
            last.body
        );
        let secrets = secrets_of(&env, &journey, &last.url);
        let mismatch = assert_refused(last, tamper, "text/html", &secrets, &context);
        let expected_token_requests = usize::from(!refused_before_token_request(tamper));
        assert_eq!(
            env.provider.token_requests(),
            expected_token_requests,
            "{context}: token endpoint requests"
        );
        assert_eq!(
            env.provider.userinfo_requests(),
            0,
            "{context}: the access token of a refused answer must never be used"
        );
        assert_eq!(
            env.session_cookie(&browser),
            None,
            "{context}: no session cookie in the browser"
        );
        assert!(
            !browser
                .cookie_names(&env.app.url(CALLBACK))
                .iter()
                .any(|n| is_attempt_cookie(n)),
            "{context}: the refused attempt's cookie should be removed: {:?}",
            browser.cookie_names(&env.app.url(CALLBACK))
        );
        assert_eq!(
            env.sessions().await,
            0,
            "{context}: the store must stay empty"
        );
        let page = browser.fetch(env.app.url("/whoami")).await;
        assert_eq!(page.status, 401, "{context}: not logged in: {page}");

        // The provider behaves again: the same browser logs in (nothing was poisoned: no
        // cached bad key, no burnt state, no half-written session).
        env.provider.set_tamper(Tamper::None);
        let context = format!("{context}, then Tamper::None");
        // A provider that failed (a 5xx) gets a few seconds before logins go to it again.
        until_logins_start(&browser, &env.app).await;
        env.log_in(&browser, &context).await;
        assert_eq!(env.sessions().await, 1, "{context}: exactly one session");
        env.assert_logged_in_as_alice(&browser, &context).await;
        fail_on_status_mismatch(mismatch);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_login_leaves_an_existing_session_alone() {
    for_every_tamper(|tamper| async move {
        let context = format!("Tamper::{tamper:?} with a session");
        let env = Env::start().await;
        let browser = Browser::new();
        let session = env.log_in(&browser, "first login, Tamper::None").await;
        assert_eq!(env.sessions().await, 1);

        env.provider.set_tamper(tamper);
        let journey = env
            .attempt(&browser, env.login_url("/whoami"), &context)
            .await;
        let last = journey.last();
        assert_eq!(
            last.url.path(),
            CALLBACK,
            "{context}: the second login must stop on the callback's error page (ACCEPTED by \
the layer if it went on to /whoami):\n{journey}\n{}",
            last.body
        );
        let secrets = secrets_of(&env, &journey, &last.url);
        let mismatch = assert_refused(last, tamper, "text/html", &secrets, &context);
        assert_eq!(
            env.session_cookie(&browser).as_deref(),
            Some(session.as_str()),
            "{context}: the first session's cookie must be kept as it was"
        );
        env.assert_logged_in_as_alice(&browser, &context).await;
        assert_eq!(
            env.sessions().await,
            1,
            "{context}: still exactly the first session in the store"
        );
        fail_on_status_mismatch(mismatch);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_callback_answers_problem_json_to_scripts() {
    for_every_tamper(|tamper| async move {
        let context = format!("Tamper::{tamper:?}, callback by fetch()");
        let env = Env::start().await;
        let browser = Browser::new();
        env.provider.set_tamper(tamper);
        let (journey, callback) = env.walk_to_callback(&browser, &context).await;

        let page = browser.fetch(&callback).await;
        let secrets = secrets_of(&env, &journey, &callback);
        let mismatch = assert_refused(
            &page,
            tamper,
            "application/problem+json",
            &secrets,
            &context,
        );
        let problem = page.json();
        assert_eq!(
            problem["status"],
            page.status.as_u16(),
            "{context}: the problem's status member: {}",
            page.body
        );
        assert!(
            problem["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{context}: a problem has a title: {}",
            page.body
        );
        if let Some(login_url) = problem.get("login_url") {
            let login_url = login_url.as_str().unwrap_or_default();
            assert!(
                login_url.starts_with("/auth/login?"),
                "{context}: login_url should be the app's login route: {}",
                page.body
            );
        }
        assert_eq!(env.session_cookie(&browser), None, "{context}");
        assert_eq!(
            env.sessions().await,
            0,
            "{context}: the store must stay empty"
        );
        fail_on_status_mismatch(mismatch);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_answers_a_client_must_cope_with_log_in() {
    // An `expires_in` of u64::MAX (clamped, never an overflow) and an ID token without `kid`
    // while two RSA keys are published (each is tried).
    for tamper in [Tamper::HugeExpiresIn, Tamper::NoKidSeveralKeys] {
        let context = format!("Tamper::{tamper:?}");
        let env = Env::start().await;
        env.provider.set_tamper(tamper);
        let browser = Browser::new();
        env.log_in(&browser, &context).await;
        assert_eq!(env.sessions().await, 1, "{context}");
        env.assert_logged_in_as_alice(&browser, &context).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_audiences_and_other_algorithms_only_when_configured() {
    // Zitadel adds its project id to `aud`: accepted once it is a trusted audience.
    let env = Env::start_with(|c| c.trusted_audiences(["testkit-project"])).await;
    env.provider.set_tamper(Tamper::ExtraAudience);
    env.log_in(&Browser::new(), "trusted extra audience").await;

    // A client pinned to ES256 takes the ES256 token and refuses the provider's RS256 ones.
    let env = Env::start_with(|c| c.id_token_signing_algs(["ES256"])).await;
    env.provider.set_tamper(Tamper::Es256Signed);
    env.log_in(&Browser::new(), "ES256 pinned, ES256 token")
        .await;
    env.provider.set_tamper(Tamper::None);
    let browser = Browser::new();
    let journey = env
        .attempt(
            &browser,
            env.app.url("/whoami"),
            "ES256 pinned, RS256 token",
        )
        .await;
    assert_eq!(
        journey.last().status,
        StatusCode::BAD_REQUEST,
        "an RS256 token for a client pinned to ES256:\n{journey}"
    );
    assert_eq!(env.sessions().await, 1, "only the ES256 login's session");
}

/// The access-token lifetime of [`refreshing_env`]'s provider.
const REFRESHING_TTL: Duration = Duration::from_secs(2);

/// An app whose sessions are due for a refresh as early as can be (the margin exceeds the
/// provider's access-token lifetime, so it is capped at half of it: see [`until_due`]), asking
/// for the `groups` scope, with `admins` mapped to the role `admin`.
async fn refreshing_env() -> Env {
    Env::start_with_ttl(Some(REFRESHING_TTL), |c| {
        c.refresh_margin(Duration::from_secs(3600))
            .scopes(["openid", "profile", "groups"])
            .roles(RoleMapConfig::new().rule("admins", "admin"))
    })
    .await
}

/// Waits until a session of [`refreshing_env`] that just logged in is due for its refresh:
/// past half its access token's lifetime, with the token still live.
async fn until_due() {
    tokio::time::sleep(REFRESHING_TTL / 2 + Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_id_token_is_validated_like_the_first_and_keeps_the_login() {
    for tamper in [
        Tamper::WrongIssuer,
        Tamper::BadSignature,
        Tamper::OtherSubject,
        Tamper::ChangedAuthTime,
        Tamper::ExtraAudience,
        Tamper::Es256Signed,
        Tamper::StaleIssuedAt,
        Tamper::NotYetValid,
    ] {
        let context = format!("refresh with Tamper::{tamper:?}");
        let env = refreshing_env().await;
        let browser = Browser::new();
        env.log_in_without_upkeep(&browser, &context).await;
        until_due().await;
        env.provider.set_tamper(tamper);
        let page = browser.fetch(env.app.url("/whoami")).await;
        assert_eq!(
            page.status, 401,
            "{context}: the session must end: {page}\n{}",
            page.body
        );
        assert_eq!(env.provider.token_requests(), 2, "{context}: one refresh");
        assert_eq!(
            env.provider.userinfo_requests(),
            1,
            "{context}: userinfo only at the login, never for the refused refresh"
        );
        assert_eq!(env.sessions().await, 0, "{context}: the session is deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_decides_the_roles_again() {
    let env = refreshing_env().await;
    let browser = Browser::new();
    env.log_in_without_upkeep(&browser, "login").await;
    let stored = env.stored_session(&browser).await.expect("a session");
    assert!(
        stored.data.identity().has_role("admin"),
        "alice is an admin at login"
    );

    // alice leaves `admins` at the provider: the refresh (ID token and userinfo) says so.
    let alice = TestUser::alice().claim("groups", ["users"]);
    assert!(env.provider.update_user(alice));
    until_due().await;
    let page = browser.fetch(env.app.url("/whoami")).await;
    assert_eq!(page.status, 200, "{page}\n{}", page.body);
    assert_eq!(env.provider.token_requests(), 2, "one refresh");
    let stored = env
        .stored_session(&browser)
        .await
        .expect("the session stays");
    assert!(
        !stored.data.identity().has_role("admin"),
        "the refreshed groups no longer give admin: {:?}",
        stored.data.identity().roles()
    );
    assert_eq!(stored.data.identity().groups(), ["users"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_with_an_absurd_expires_in_keeps_the_rotated_refresh_token() {
    let env = refreshing_env().await;
    let browser = Browser::new();
    env.log_in_without_upkeep(&browser, "login").await;
    let stored_refresh_token = |record: &Record<SessionData>| {
        serde_json::to_value(&record.data).expect("session data serializes")["refresh_token"]
            .clone()
    };
    let before = stored_refresh_token(&env.stored_session(&browser).await.expect("a session"));

    env.provider.set_tamper(Tamper::HugeExpiresIn);
    until_due().await;
    let page = browser.fetch(env.app.url("/whoami")).await;
    assert_eq!(page.status, 200, "{page}\n{}", page.body);
    assert_eq!(env.provider.token_requests(), 2, "one refresh");
    let after = env
        .stored_session(&browser)
        .await
        .expect("the session stays");
    assert_ne!(
        stored_refresh_token(&after),
        before,
        "the provider rotated the refresh token: the new one must be stored"
    );
    assert!(
        after.expires_at < SystemTime::now() + Duration::from_secs(367 * 24 * 3600),
        "the session's deadline comes from a clamped lifetime"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slug_pointed_at_another_issuer_gets_no_refresh_token_and_no_id_token_hint() {
    // The session's provider slug is reloaded to point at another issuer: neither its refresh
    // token nor its ID token (as `id_token_hint`) may go there.
    let env = refreshing_env().await;
    let other = TestProvider::builder()
        .redirect_uris([env.app.url(CALLBACK).to_string()])
        .auto_login("alice")
        .start()
        .await
        .expect("start another provider");
    let elsewhere = || {
        base_config(&other, env.app.external_url())
            .refresh_margin(Duration::from_secs(3600))
            .build()
            .expect("a valid configuration")
    };

    let browser = Browser::new();
    env.log_in_without_upkeep(&browser, "refresh").await;
    env.layer.reload(elsewhere());
    until_due().await;
    let page = browser.fetch(env.app.url("/whoami")).await;
    assert_eq!(page.status, 401, "the session ends: {page}\n{}", page.body);
    assert_eq!(
        other.token_requests(),
        0,
        "no refresh token to the other issuer"
    );
    assert_eq!(
        env.provider.token_requests(),
        1,
        "only the login's code exchange"
    );
    assert_eq!(env.sessions().await, 0);

    // Logout: the layer signs the browser out here, and does not send it to the other
    // issuer's end-session endpoint with this session's ID token.
    env.layer.reload(
        base_config(&env.provider, env.app.external_url())
            .build()
            .expect("a valid configuration"),
    );
    let browser = Browser::new();
    env.log_in(&browser, "logout").await;
    env.layer.reload(elsewhere());
    let confirm = browser.get(env.app.url("/auth/logout")).await;
    let page = browser.submit(&confirm, "logout", &[]).await;
    let location = page
        .location()
        .unwrap_or_else(|| panic!("logout redirects: {page}\n{}", page.body));
    assert_eq!(
        location.origin(),
        env.app.origin(),
        "logout stays on the app, no id_token_hint to {}: {location}",
        other.issuer()
    );
    assert_eq!(env.sessions().await, 0);
}
