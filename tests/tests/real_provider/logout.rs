//! Logout: the form, the same-origin POST, RP-initiated logout at the provider's end-session
//! endpoint and the return to `/auth/logged-out` (its `state` checked), providers without an
//! end-session endpoint or with a configured logout URL template, and cross-site POSTs that
//! must be refused.

use std::sync::Mutex;

use axum::extract::{Query, Request};
use oidc_layer::{AccessToken, OidcConfigBuilder, SessionId, SessionStore};

use super::*;

impl Env {
    /// [`Env::start`] with changes to the provider's options and to the layer's configuration
    /// (both start from `Env::start`'s). Besides `Env::start`'s routes the app serves `/token`:
    /// `{"sub": ..., "access_token": ...}` from the request's extensions (the token only with
    /// `expose_access_token(true)`).
    pub(super) async fn start_custom(
        op_options: impl FnOnce(&AppListener, OpOptions) -> OpOptions,
        config: impl FnOnce(&Op, OidcConfigBuilder) -> OidcConfigBuilder,
    ) -> Env {
        init_tracing();
        let listener = AppListener::bind().await;
        let options = op_options(&listener, OpOptions::for_app(&listener));
        let op = Op::start(options).await;
        let builder = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(listener.external_url())
            .scopes(["openid", "profile", "email"])
            .public_paths(["/", "/health"]);
        let config = config(&op, builder).build().expect("a valid configuration");
        let cookies = config.cookie_names();
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/health", get(|| async { "ok" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
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

    /// Whether the store still holds the session whose cookie value is `cookie`.
    pub(super) async fn has_session(&self, cookie: &str) -> bool {
        let id = SessionId::parse(cookie).expect("a session cookie value");
        self.store
            .load(&id)
            .await
            .expect("the memory store does not fail")
            .is_some()
    }
}

/// Submits the provider's logout confirmation (`op.logoutForm`) with `logout=yes`, like the
/// "Yes, sign me out" button; returns the provider's answer (a 303).
pub(super) async fn confirm_at_provider(env: &Env, browser: &Browser, confirm: &Page) -> Page {
    assert_eq!(
        confirm.status, 200,
        "the provider's logout confirmation: {confirm}\n{}",
        confirm.body
    );
    assert_eq!(
        confirm.url.origin(),
        env.op.origin(),
        "the confirmation is the provider's page: {confirm}"
    );
    let page = browser
        .submit(confirm, "op.logoutForm", &[("logout", "yes")])
        .await;
    assert_eq!(
        page.status,
        303,
        "confirming the logout at the provider: {page}\n{}\n{}",
        page.body,
        env.op.log_tail()
    );
    page
}

/// The id token's payload (unverified; the provider's own token, for assertions).
fn jwt_payload(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("a JSON payload")
}

/// Asserts `page` removes cookie `name` (empty value, `Max-Age=0` or an expiry in the past).
fn assert_cookie_cleared(page: &Page, name: &str, context: &str) {
    let cleared = page.set_cookie(name).unwrap_or_else(|| {
        panic!(
            "{context}: expected a Set-Cookie removing {name}: {:?}",
            page.set_cookie_headers()
        )
    });
    assert!(
        cleared.value().is_empty()
            || cleared.max_age().is_some_and(|a| a.is_zero())
            || cleared
                .expires_datetime()
                .is_some_and(|t| t < cookie::time::OffsetDateTime::now_utc()),
        "{context}: {name} should be expired: {cleared}"
    );
}

/// Asserts `page` is the layer's "signed out" page.
fn assert_signed_out_page(env: &Env, page: &Page, context: &str) {
    assert_eq!(
        (page.url.origin(), page.url.path()),
        (env.app.origin(), "/auth/logged-out"),
        "{context}: should land on the signed-out page: {page}"
    );
    assert_eq!(page.status, 200, "{context}: {page}\n{}", page.body);
    assert!(
        page.body.contains("signed out"),
        "{context}: not the signed-out page:\n{}",
        page.body
    );
}

/// Logs in, then POSTs the logout form; returns the layer's answer to the POST.
async fn log_in_and_post_logout(env: &Env, browser: &Browser) -> (String, Page) {
    let old_cookie = env.log_in_alice(browser).await;
    assert_eq!(env.sessions().await, 1);
    let form_page = browser.get(env.app.url("/auth/logout")).await;
    assert_eq!(form_page.status, 200, "{form_page}");
    let page = browser.submit(&form_page, "logout", &[]).await;
    assert_eq!(
        page.status, 303,
        "POST /auth/logout from the app's page: {page}\n{}",
        page.body
    );
    (old_cookie, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_deletes_the_session() {
    let env = Env::start().await;
    let browser = Browser::new();
    let old_cookie = env.log_in_alice(&browser).await;
    assert_eq!(env.sessions().await, 1);

    let form_page = browser.get(env.app.url("/auth/logout")).await;
    assert_eq!(form_page.status, 200, "{form_page}");
    assert!(
        form_page.content_type().starts_with("text/html"),
        "{:?}",
        form_page.content_type()
    );
    let form = form_page
        .form("logout")
        .unwrap_or_else(|| panic!("no <form id=\"logout\">:\n{}", form_page.body));
    assert_eq!(form.method, Method::POST);
    assert_eq!(form.action, env.app.url("/auth/logout"));
    assert_eq!(
        env.sessions().await,
        1,
        "GET /auth/logout only shows the form"
    );

    let page = browser.submit(&form_page, "logout", &[]).await;
    assert_eq!(
        page.status, 303,
        "POST /auth/logout from the app's page: {page}\n{}",
        page.body
    );
    let logout_response = page.clone();
    assert_cookie_cleared(&page, env.cookies.session(), "logout");
    assert!(
        env.session_cookie(&browser).is_none(),
        "the browser no longer holds a session cookie"
    );
    assert_eq!(
        env.sessions().await,
        0,
        "the session is deleted from the store before the browser goes to the provider"
    );

    env.assert_logged_out(&browser, "after logout").await;
    let replay = Browser::new();
    replay.add_cookie(
        &env.app.url("/"),
        &format!("{}={old_cookie}; Path=/", env.cookies.session()),
    );
    env.assert_logged_out(&replay, "the old session cookie after logout")
        .await;

    // RP-initiated logout: the browser goes to the provider's end-session endpoint with the
    // ID token as hint, the client id, where to come back, and a state kept in a cookie.
    let location = logout_response
        .location()
        .unwrap_or_else(|| panic!("no Location: {logout_response}"));
    let end_session = env.op.endpoint("end_session_endpoint");
    assert_eq!(
        (location.origin(), location.path()),
        (end_session.origin(), end_session.path()),
        "logout goes to the provider's end_session_endpoint: {logout_response}"
    );
    assert_eq!(
        query_param(&location, "client_id").as_deref(),
        Some(env.op.client_id()),
        "{location}"
    );
    assert_eq!(
        query_param(&location, "post_logout_redirect_uri"),
        Some(env.app.url("/auth/logged-out").to_string()),
        "{location}"
    );
    let hint = query_param(&location, "id_token_hint")
        .unwrap_or_else(|| panic!("no id_token_hint: {location}"));
    let hint = jwt_payload(&hint);
    assert_eq!(
        (&hint["iss"], &hint["sub"], &hint["aud"]),
        (
            &json!(env.op.issuer()),
            &json!("u-1001-alice"),
            &json!(env.op.client_id())
        ),
        "the hint is alice's ID token from this provider: {hint}"
    );
    let state = query_param(&location, "state").unwrap_or_else(|| panic!("no state: {location}"));
    assert!(state.len() >= 16, "an unguessable state: {state:?}");
    let state_cookie = logout_response
        .set_cookie(env.cookies.logout())
        .unwrap_or_else(|| {
            panic!(
                "the logout state goes into a cookie: {:?}",
                logout_response.set_cookie_headers()
            )
        });
    assert_eq!(state_cookie.value(), state, "the cookie holds the state");
    assert_eq!(state_cookie.http_only(), Some(true), "{state_cookie}");
    assert!(
        state_cookie.max_age().is_some_and(|a| !a.is_zero()),
        "a short-lived cookie: {state_cookie}"
    );

    // The provider asks for confirmation; the browser confirms and is sent back.
    let journey = browser.follow_with(logout_response, AtProvider::Stay).await;
    journey.assert_no_server_error();
    let confirm = journey.last().clone();
    assert!(
        confirm.form("op.logoutForm").is_some(),
        "the provider's logout confirmation:\n{journey}\n{}",
        confirm.body
    );
    let back = confirm_at_provider(&env, &browser, &confirm).await;
    let mut expected = env.app.url("/auth/logged-out");
    expected.query_pairs_mut().append_pair("state", &state);
    assert_eq!(
        back.location(),
        Some(expected),
        "the provider sends the browser back with the state: {back}"
    );
    let journey = browser.follow_with(back, AtProvider::Stay).await;
    journey.assert_no_server_error();
    let signed_out = journey.last();
    assert_signed_out_page(&env, signed_out, "back from the provider");
    assert_cookie_cleared(signed_out, env.cookies.logout(), "back from the provider");
    assert_eq!(
        browser.cookie(&env.app.url("/"), env.cookies.logout()),
        None,
        "the logout state is single-use"
    );
    assert_eq!(
        env.sessions().await,
        0,
        "viewing the signed-out page logs nobody in"
    );
    env.assert_logged_out(&browser, "on the signed-out page")
        .await;

    // The provider's session is over too: a new login asks for the password again instead of
    // signing alice straight back in.
    let page = browser.get(env.app.url("/whoami")).await;
    env.assert_authorize_redirect(&page, "navigate after logout");
    let journey = browser.follow_with(page, AtProvider::Stay).await;
    let last = journey.last();
    assert!(
        last.url.origin() == env.op.origin() && last.form("login").is_some(),
        "after logout the provider asks for a login again:\n{journey}"
    );
    assert_eq!(env.sessions().await, 0);
    env.op.sync_log().await;
    assert_eq!(
        env.op.count_log_lines("end_session.success"),
        1,
        "{}",
        env.op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logout_return_checks_its_state() {
    let env = Env::start().await;
    let browser = Browser::new();
    let (_, logout_response) = log_in_and_post_logout(&env, &browser).await;
    let journey = browser.follow_with(logout_response, AtProvider::Stay).await;
    let back = confirm_at_provider(&env, &browser, journey.last()).await;
    let returned = back
        .location()
        .unwrap_or_else(|| panic!("no Location: {back}"));
    assert!(query_param(&returned, "state").is_some(), "{returned}");

    // A state this browser did not leave with (an attacker's link, a mixed-up tab).
    let forged = with_query_param(&returned, "state", Some("not-the-state"));
    let page = browser.get(forged.as_str()).await;
    assert_eq!(
        page.status, 400,
        "a foreign state is refused: {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("text/html"),
        "{:?}",
        page.content_type()
    );
    assert_cookie_cleared(&page, env.cookies.logout(), "foreign state");
    // Whatever the state, the user stays signed out and nobody is signed in.
    assert_eq!(env.sessions().await, 0);
    env.assert_logged_out(&browser, "after a foreign state")
        .await;

    // The right state, but the cookie went with the refused attempt: refused as well.
    let page = browser.get(returned.as_str()).await;
    assert_eq!(
        page.status, 400,
        "the state without its cookie: {page}\n{}",
        page.body
    );

    // Another browser that never logged out cannot complete this one's logout.
    let other = Browser::new();
    let page = other.get(returned.as_str()).await;
    assert_eq!(page.status, 400, "another browser: {page}\n{}", page.body);
    assert_eq!(env.sessions().await, 0);

    // Without a state (a provider that sends none back) the page just says "signed out".
    let page = other.get(env.app.url("/auth/logged-out")).await;
    assert_signed_out_page(&env, &page, "no state");
}

/// An Authelia-like provider: no `end_session_endpoint` in discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_an_end_session_endpoint_lands_on_the_signed_out_page() {
    let env = Env::start_custom(
        |_, mut options| {
            options.env.push(("OP_RP_LOGOUT".into(), "0".into()));
            options
        },
        |_, config| config,
    )
    .await;
    assert!(
        env.op.discovery().get("end_session_endpoint").is_none(),
        "the provider must not advertise an end-session endpoint: {}",
        env.op.discovery()
    );
    let browser = Browser::new();
    let (old_cookie, page) = log_in_and_post_logout(&env, &browser).await;
    assert_cookie_cleared(&page, env.cookies.session(), "logout");
    assert_eq!(
        page.location(),
        Some(env.app.url("/auth/logged-out")),
        "without an end-session endpoint the browser goes straight to the signed-out page"
    );
    assert_eq!(env.sessions().await, 0, "the session is deleted");
    assert!(!env.has_session(&old_cookie).await);

    let journey = browser.follow_with(page, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert_eq!(journey.hops.len(), 2, "one hop, to the app:\n{journey}");
    assert_signed_out_page(&env, journey.last(), "no end-session endpoint");
    // The page does not log the user back in, although the provider's session still exists.
    assert_eq!(env.sessions().await, 0);
    env.assert_logged_out(&browser, "on the signed-out page")
        .await;
    let page = browser.get(env.app.url("/auth/logged-out")).await;
    assert_signed_out_page(&env, &page, "reloading the signed-out page");
    assert_eq!(env.sessions().await, 0);
    env.op.sync_log().await;
    assert_eq!(
        env.op.count_log_lines("/session/end"),
        0,
        "nothing went to the provider: {}",
        env.op.log_tail()
    );
}

/// What the Auth0-like logout handler saw.
#[derive(Default)]
struct SeenLogouts(Mutex<Vec<Vec<(String, String)>>>);

/// A provider whose logout URL is configured as a template (Auth0's `/v2/logout` with
/// `returnTo`): a tiny handler stands in for it and sends the browser to `returnTo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_follows_a_configured_end_session_url_template() {
    let seen = Arc::new(SeenLogouts::default());
    let logout_listener = AppListener::bind().await;
    let logout_base = logout_listener.external_url();
    let handler_seen = seen.clone();
    let logout_app = App::spawn(
        Router::new().route(
            "/v2/logout",
            get(|Query(query): Query<Vec<(String, String)>>| async move {
                let return_to = query
                    .iter()
                    .find(|(k, _)| k == "returnTo")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                handler_seen
                    .0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(query);
                axum::response::Redirect::to(&return_to)
            }),
        ),
        logout_listener,
    );
    let template = format!(
        "{logout_base}/v2/logout?client_id={{clientId}}&returnTo={{postLogoutRedirectUri}}"
    );
    let env = Env::start_custom(
        |_, options| options,
        |_, config| config.end_session_url(template),
    )
    .await;
    let browser = Browser::new();
    let (_, page) = log_in_and_post_logout(&env, &browser).await;
    assert_eq!(env.sessions().await, 0, "the session is deleted");
    let location = page
        .location()
        .unwrap_or_else(|| panic!("no Location: {page}"));
    assert_eq!(
        (location.origin(), location.path()),
        (logout_app.origin(), "/v2/logout"),
        "logout goes to the configured URL, not the discovered endpoint: {page}"
    );
    let journey = browser.follow_with(page, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert_signed_out_page(&env, journey.last(), "back from the template URL");
    let seen = seen.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(
        seen,
        vec![vec![
            ("client_id".to_owned(), env.op.client_id().to_owned()),
            (
                "returnTo".to_owned(),
                env.app.url("/auth/logged-out").to_string()
            ),
        ]],
        "the placeholders are filled, URL-encoded"
    );
    assert_eq!(env.sessions().await, 0);
    env.assert_logged_out(&browser, "after logout").await;
    env.op.sync_log().await;
    assert_eq!(
        env.op.count_log_lines("/session/end"),
        0,
        "the discovered end-session endpoint is not used: {}",
        env.op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_logout_is_refused() {
    let env = Env::start().await;
    let browser = Browser::new();
    env.log_in_alice(&browser).await;
    // The provider runs on the same host (127.0.0.1), on another port: same site, not same origin.
    let op_origin = env.op.origin().ascii_serialization();
    let cases: [(&str, &[(&str, &str)]); 7] = [
        (
            "cross-site form post",
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            "foreign Origin, no Sec-Fetch-Site (older browser)",
            &[("origin", "http://evil.example"), ("sec-fetch-site", "")],
        ),
        (
            "Sec-Fetch-Site: cross-site, no Origin",
            &[("origin", ""), ("sec-fetch-site", "cross-site")],
        ),
        (
            "Origin: null (sandboxed frame), no Sec-Fetch-Site",
            &[("origin", "null"), ("sec-fetch-site", "")],
        ),
        (
            "neither Origin nor Sec-Fetch-Site",
            &[("origin", ""), ("sec-fetch-site", "")],
        ),
        (
            "Sec-Fetch-Site: same-site (another port of this host), no Origin",
            &[("origin", ""), ("sec-fetch-site", "same-site")],
        ),
        (
            "Origin of this host on another port, no Sec-Fetch-Site",
            &[("origin", op_origin.as_str()), ("sec-fetch-site", "")],
        ),
    ];
    for (what, headers) in cases {
        let page = browser
            .post_form_with(env.app.url("/auth/logout"), &[], headers)
            .await;
        assert_eq!(
            page.status, 403,
            "{what}: expected 403, got {page}\n{}",
            page.body
        );
        assert_eq!(env.sessions().await, 1, "{what}: the session must survive");
        env.assert_logged_in(&browser, "u-1001-alice", what).await;
    }
}

/// RP-Initiated Logout 1.0 section 2: the ID token's `login_hint` claim (Entra ID's optional
/// claim) goes to the end-session endpoint as `logout_hint`, so the provider knows whom to
/// sign out without an account picker; an ID token without it sends none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_sends_the_id_tokens_login_hint_as_logout_hint() {
    use super::site::{Site, op_user};
    const HINT: &str = "O.aW50cmEtaGludA.erin+tenant/1=";
    let site = Site::builder()
        .users(json!([
            op_user(
                "erin",
                json!({"sub": "u-3001-erin", "preferred_username": "erin", "login_hint": HINT}),
            ),
            op_user(
                "frank",
                json!({"sub": "u-3002-frank", "preferred_username": "frank"}),
            ),
        ]))
        // Released with the `groups` scope the site asks for, into the ID token.
        .op_env("OP_EXTRA_GROUP_CLAIMS", "login_hint")
        .start()
        .await;
    for (user, hint) in [("erin", Some(HINT)), ("frank", None)] {
        let browser = Browser::new();
        site.log_in(&browser, "/whoami", user).await;
        let form = browser.get(site.app.url("/auth/logout")).await;
        assert_eq!(form.status, 200, "{user}: {form}");
        let page = browser.submit(&form, "logout", &[]).await;
        assert_eq!(page.status, 303, "{user}: {page}\n{}", page.body);
        let location = page
            .location()
            .unwrap_or_else(|| panic!("{user}: no Location: {page}"));
        let end_session = site.op.endpoint("end_session_endpoint");
        assert_eq!(
            (location.origin(), location.path()),
            (end_session.origin(), end_session.path()),
            "{user}: {location}"
        );
        // What the provider put in the ID token decides, not the test's expectation alone.
        let id_token = jwt_payload(
            &query_param(&location, "id_token_hint")
                .unwrap_or_else(|| panic!("{user}: no id_token_hint: {location}")),
        );
        assert_eq!(
            id_token.get("login_hint").and_then(|v| v.as_str()),
            hint,
            "{user}: {id_token}"
        );
        assert_eq!(
            query_param(&location, "logout_hint").as_deref(),
            hint,
            "{user}: {location}"
        );
        // The provider takes the parameter: its logout confirmation, not an error page.
        let confirm = browser.get(location.as_str()).await;
        assert_eq!(
            confirm.status,
            200,
            "{user}: {confirm}\n{}\n{}",
            confirm.body,
            site.op.log_tail()
        );
        assert!(confirm.form("op.logoutForm").is_some(), "{}", confirm.body);
    }
}
