//! The authorization request: a provider's extra parameters, the login's own (`login_hint`,
//! `prompt`, `max_age` through `OidcLayer::login_url`), `max_age` checked against the ID
//! token's `auth_time`, and silent sign-in (`prompt=none`) on public pages. What the provider
//! saw is read from its own login page (`<pre id="auth-params">`, op.mjs).

use std::time::Duration;

use oidc_layer::{LoginOptions, OidcConfigBuilder, Prompt};

use super::*;

/// An app behind a layer configured by `configure` (on top of the usual provider settings),
/// and its provider started with the extra `op_env`. Routes: `/` and `/public` public
/// (`/public` answers who is signed in, or `anonymous`), `/whoami` protected.
async fn start_with(
    configure: impl FnOnce(OidcConfigBuilder) -> OidcConfigBuilder,
    op_env: &[(&str, &str)],
) -> (Env, OidcLayer) {
    init_tracing();
    let listener = AppListener::bind().await;
    let mut options = OpOptions::for_app(&listener);
    options.env = op_env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let op = Op::start(options).await;
    let builder = OidcConfig::builder()
        .issuer(op.issuer())
        .client_id(op.client_id())
        .client_secret(op.client_secret())
        .external_url(listener.external_url())
        .scopes(["openid", "profile", "email"])
        .public_paths(["/", "/public"]);
    let config = configure(builder).build().expect("a valid configuration");
    let cookies = config.cookie_names();
    let store = Arc::new(MemoryStore::<SessionData>::new());
    let layer = OidcLayer::new(config).with_store(store.clone());
    let router = Router::new()
        .route("/", get(|| async { "home" }))
        .route(
            "/public",
            get(|id: Option<Identity>| async move {
                id.map_or_else(
                    || "anonymous".to_owned(),
                    |id| format!("signed in as {}", id.sub()),
                )
            }),
        )
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(layer.clone());
    let app = App::spawn(router, listener);
    (
        Env {
            app,
            op,
            store,
            cookies,
        },
        layer,
    )
}

/// The authorization parameters the provider's login or consent page says it received.
fn params_seen_by_provider(page: &Page) -> serde_json::Value {
    let start = page
        .body
        .find("<pre id=\"auth-params\">")
        .unwrap_or_else(|| {
            panic!(
                "not a provider page showing its parameters: {page}\n{}",
                page.body
            )
        });
    let rest = &page.body[start + "<pre id=\"auth-params\">".len()..];
    let end = rest.find("</pre>").expect("the <pre> ends");
    let json = rest[..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Why the provider shows its login or consent page (`<p id="prompt-reasons">`, op.mjs).
fn reasons_of_provider(page: &Page) -> String {
    let start = page
        .body
        .find("<p id=\"prompt-reasons\">")
        .unwrap_or_else(|| panic!("no prompt reasons: {}", page.body));
    let rest = &page.body[start + "<p id=\"prompt-reasons\">".len()..];
    rest[..rest.find("</p>").expect("the <p> ends")].to_owned()
}

/// The silent sign-in marker cookie of this app.
fn silent_marker(env: &Env) -> String {
    format!("{}-silent", env.cookies.session())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_and_login_options_arrive_at_the_provider() {
    let (env, layer) = start_with(
        |b| {
            b.extra_auth_params([
                ("audience", "https://api.example.test/v1?x=1&y=2"),
                ("ui_locales", "de-CH fr"),
                ("acr_values", "urn:example:pwd"),
            ])
        },
        &[],
    )
    .await;
    let browser = Browser::new();
    let url = layer
        .login_url(
            &LoginOptions::new("/whoami")
                .login_hint("bob")
                .prompt(Prompt::Login),
        )
        .expect("valid options");
    assert_eq!(
        url,
        "/auth/login?return_to=%2Fwhoami&login_hint=bob&prompt=login"
    );
    let first = browser.get(env.app.url(&url)).await;
    let authorize = env.assert_authorize_redirect(&first, "login_url with a hint");
    assert_eq!(
        query_param(&authorize, "audience").as_deref(),
        Some("https://api.example.test/v1?x=1&y=2")
    );
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    let login_page = journey.last();
    assert!(
        login_page.form("login").is_some(),
        "the provider's login form:\n{journey}"
    );
    let seen = params_seen_by_provider(login_page);
    assert_eq!(
        seen,
        json!({
            "audience": "https://api.example.test/v1?x=1&y=2",
            "ui_locales": "de-CH fr",
            "acr_values": "urn:example:pwd",
            "login_hint": "bob",
            "prompt": "login",
        }),
        "what the provider received"
    );
    // The provider put the hint into its form; bob signs in and lands where the link said.
    assert!(
        login_page.body.contains("value=\"bob\""),
        "{}",
        login_page.body
    );
    let journey = browser
        .follow_with(login_page.clone(), AtProvider::log_in("bob"))
        .await;
    journey.assert_no_server_error();
    assert_eq!(journey.last().url, env.app.url("/whoami"), "{journey}");
    env.assert_logged_in(&browser, "u-1002-bob", "after the hinted login")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_login_parameters_get_400_and_never_reach_the_provider() {
    let (env, layer) = start_with(|b| b, &[]).await;
    let browser = Browser::new();
    for query in [
        "prompt=create",
        "prompt=login%20consent",
        "prompt=",
        "login_hint=a%0Ab",
        "max_age=-1",
        "max_age=soon",
    ] {
        let page = browser
            .get(
                env.app
                    .url(&format!("/auth/login?return_to=/whoami&{query}")),
            )
            .await;
        assert_eq!(page.status, 400, "{query}: {page}");
        assert!(page.content_type().starts_with("text/html"), "{query}");
        assert!(
            page.find_set_cookie(is_attempt_cookie).is_none(),
            "{query}: no attempt"
        );
    }
    assert_eq!(
        layer.login_url(&LoginOptions::new("/").provider("nope")),
        Err(oidc_layer::LoginUrlError::UnknownProvider("nope".into()))
    );
    assert_eq!(
        layer.login_url(&LoginOptions::new("https://evil.example/")),
        Err(oidc_layer::LoginUrlError::ReturnTo)
    );
    env.op.sync_log().await;
    assert_eq!(
        env.op.count_log_lines("GET /auth "),
        0,
        "{}",
        env.op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_with_max_age_zero_makes_the_provider_authenticate_again() {
    let (env, layer) = start_with(|b| b.max_age(Duration::from_secs(3600)), &[]).await;
    let browser = Browser::new();
    // The provider's max_age goes with every login; alice signs in and is accepted.
    let first = browser.get(env.app.url("/whoami")).await;
    let authorize = env.assert_authorize_redirect(&first, "first login");
    assert_eq!(query_param(&authorize, "max_age").as_deref(), Some("3600"));
    let journey = browser
        .follow_with(first, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    assert_eq!(journey.last().status, 200, "{journey}");
    env.assert_logged_in(&browser, "u-1001-alice", "after the first login")
        .await;

    // Step-up: max_age=0 (shorter than the provider's) reaches the provider, which asks for
    // the password again although it has a session; the fresh sign-in is accepted. (The
    // provider counts whole seconds: its sign-in must be at least one second old.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let url = layer
        .login_url(&LoginOptions::new("/whoami").max_age(Duration::ZERO))
        .expect("valid options");
    let first = browser.get(env.app.url(&url)).await;
    let authorize = env.assert_authorize_redirect(&first, "step-up");
    assert_eq!(query_param(&authorize, "max_age").as_deref(), Some("0"));
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    let login_page = journey.last().clone();
    assert!(
        login_page.form("login").is_some(),
        "the provider asks again:\n{journey}"
    );
    // The provider's own reason for asking is the max_age it received, not a missing session:
    // the layer sent no prompt, and max_age=0 counts as prompt=login (Core 3.1.2.1).
    assert_eq!(query_param(&authorize, "prompt"), None);
    let reasons = reasons_of_provider(&login_page);
    assert!(
        reasons
            .split(' ')
            .any(|r| r == "max_age" || r == "login_prompt"),
        "{reasons:?}"
    );
    assert!(
        !reasons.split(' ').any(|r| r == "no_session"),
        "{reasons:?}"
    );
    let journey = browser
        .follow_with(login_page, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    assert_eq!(journey.last().url, env.app.url("/whoami"), "{journey}");
    assert_eq!(journey.last().status, 200, "{journey}");
    assert_eq!(
        env.sessions().await,
        1,
        "the step-up's session replaced the first one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_ignores_max_age_is_refused_with_a_page() {
    // This provider drops max_age and reuses its session's sign-in (and always sends
    // auth_time); no clock leeway, so one second of age is too old for max_age=0.
    let (env, layer) = start_with(
        |b| b.clock_leeway(Duration::ZERO),
        &[("OP_IGNORE_MAX_AGE", "1")],
    )
    .await;
    let browser = Browser::new();
    let cookie = env.log_in_alice(&browser).await;
    assert_eq!(env.sessions().await, 1);
    // auth_time is in whole seconds: two seconds on, the sign-in is at least a second old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let url = layer
        .login_url(&LoginOptions::new("/whoami").max_age(Duration::ZERO))
        .expect("valid options");
    let first = browser.get(env.app.url(&url)).await;
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert!(
        journey.hop(CALLBACK).is_some(),
        "straight back without a page:\n{journey}"
    );
    assert_eq!(last.status, 403, "{journey}\n{}", last.body);
    env.assert_rejected_callback(last, "stale auth_time");
    assert!(
        last.body.contains("A recent sign-in is required"),
        "{}",
        last.body
    );
    assert!(
        last.body.contains("reused an older sign-in"),
        "{}",
        last.body
    );
    // The session the browser had is left as it was; no new one.
    assert_eq!(
        env.session_cookie(&browser).as_deref(),
        Some(cookie.as_str())
    );
    assert_eq!(env.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_login_without_a_provider_session_returns_quietly_once() {
    let (env, _layer) = start_with(|b| b.silent_login(true), &[]).await;
    let browser = Browser::new();
    let first = browser.get(env.app.url("/public?page=2")).await;
    let authorize = env.assert_authorize_redirect(&first, "first visit of a public page");
    assert_eq!(query_param(&authorize, "prompt").as_deref(), Some("none"));
    let marker = first
        .set_cookie(&silent_marker(&env))
        .unwrap_or_else(|| panic!("the marker is set: {:?}", first.set_cookie_headers()));
    assert_eq!(marker.max_age(), None, "a browser-session cookie: {marker}");
    assert_eq!(marker.expires(), None, "a browser-session cookie: {marker}");
    assert_eq!(marker.http_only(), Some(true));

    let journey = browser.follow_with(first, AtProvider::Stay).await;
    journey.assert_no_server_error();
    let callback = journey.hop(CALLBACK).unwrap_or_else(|| panic!("{journey}"));
    assert_eq!(
        query_param(&callback.url, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(
        callback.status, 303,
        "no error page: {callback}\n{}",
        callback.body
    );
    assert!(
        callback
            .find_set_cookie(is_attempt_cookie)
            .is_some_and(|c| c.value().is_empty()),
        "the attempt is removed"
    );
    let last = journey.last();
    assert_eq!(last.url, env.app.url("/public?page=2"), "{journey}");
    assert_eq!(
        (last.status.as_u16(), last.body.as_str()),
        (200, "anonymous")
    );
    assert!(env.session_cookie(&browser).is_none());
    assert_eq!(env.sessions().await, 0);

    // Loop protection: the same browser session is not sent again, on any public page.
    for path in ["/public", "/"] {
        let page = browser.get(env.app.url(path)).await;
        assert_eq!(page.status, 200, "{path}: {page}");
    }
    // Programs and other methods never are, even without the marker.
    let fresh = Browser::new();
    assert_eq!(fresh.fetch(env.app.url("/public")).await.status, 200);
    let post = fresh.post_form(env.app.url("/public"), &[]).await;
    assert_ne!(post.status, 302, "{post}");
    // Protected pages still go to the provider the usual way (no prompt=none).
    let protected = browser.get(env.app.url("/whoami")).await;
    let authorize = env.assert_authorize_redirect(&protected, "protected page");
    assert_eq!(query_param(&authorize, "prompt"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_login_with_a_provider_session_signs_in_on_the_public_page() {
    let (env, _layer) = start_with(|b| b.silent_login(true), &[]).await;
    let browser = Browser::new();
    // A session at the provider (and consent given): alice signed in once; then the app's
    // session ends (as it does at its max age) while the provider's goes on.
    let cookie = env.log_in_alice(&browser).await;
    let id = oidc_layer::SessionId::parse(&cookie).expect("a session id");
    oidc_layer::SessionStore::delete(&*env.store, &id)
        .await
        .expect("delete");
    browser.remove_cookie(&env.app.url("/"), env.cookies.session());

    let first = browser.get(env.app.url("/public")).await;
    let authorize = env.assert_authorize_redirect(&first, "public page after the session ended");
    assert_eq!(query_param(&authorize, "prompt").as_deref(), Some("none"));
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert!(
        journey
            .hops
            .iter()
            .all(|p| p.form("login").is_none() && p.form("consent").is_none()),
        "no provider page: {journey}"
    );
    let callback = journey.hop(CALLBACK).unwrap_or_else(|| panic!("{journey}"));
    assert!(
        callback.find_set_cookie(is_session_cookie).is_some(),
        "signed in: {callback}"
    );
    // Signed in: the marker goes, so a later end of this session may try again.
    assert!(
        callback
            .set_cookie(&silent_marker(&env))
            .is_some_and(|c| c.value().is_empty()),
        "{:?}",
        callback.set_cookie_headers()
    );
    let last = journey.last();
    assert_eq!(last.url, env.app.url("/public"), "{journey}");
    assert_eq!(last.body, "signed in as u-1001-alice");
    assert_eq!(env.sessions().await, 1);

    // Signing out sets the marker: the public page does not sign the user straight back in.
    let form_page = browser.get(env.app.url("/auth/logout")).await;
    let page = browser.submit(&form_page, "logout", &[]).await;
    let marker = page
        .set_cookie(&silent_marker(&env))
        .unwrap_or_else(|| panic!("logout sets the marker: {:?}", page.set_cookie_headers()));
    assert_eq!(marker.value(), "1");
    let after = browser.get(env.app.url("/public")).await;
    assert_eq!(
        (after.status.as_u16(), after.body.as_str()),
        (200, "anonymous"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_silent_sign_in_returns_to_the_page_without_an_error() {
    // bob's email is not verified: his sign-ins are refused after the code exchange.
    let (env, _layer) = start_with(
        |b| b.silent_login(true).required_claims(["email_verified"]),
        &[],
    )
    .await;
    let browser = Browser::new();
    // bob signs in at the provider through a protected page and is refused (a 403 page: he
    // asked to sign in); the provider keeps his session.
    let first = browser.get(env.app.url("/whoami")).await;
    let journey = browser.follow_with(first, AtProvider::log_in("bob")).await;
    assert_eq!(journey.last().status, 403, "{journey}");
    assert_eq!(env.sessions().await, 0);

    // The silent attempt on a public page is refused the same way, but nobody asked for it:
    // back on the page, anonymous, no error page.
    let first = browser.get(env.app.url("/public")).await;
    let authorize = env.assert_authorize_redirect(&first, "silent attempt");
    assert_eq!(query_param(&authorize, "prompt").as_deref(), Some("none"));
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    journey.assert_no_server_error();
    let callback = journey.hop(CALLBACK).unwrap_or_else(|| panic!("{journey}"));
    assert!(
        query_param(&callback.url, "code").is_some(),
        "the provider signed bob in: {journey}"
    );
    assert_eq!(callback.status, 303, "{callback}\n{}", callback.body);
    let last = journey.last();
    assert_eq!(last.url, env.app.url("/public"), "{journey}");
    assert_eq!(
        (last.status.as_u16(), last.body.as_str()),
        (200, "anonymous")
    );
    assert_eq!(env.sessions().await, 0);
}
