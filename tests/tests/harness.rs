//! Checks of the harness itself against the real provider, with a stand-in relying party that
//! only echoes the callback's query (no oidc-layer involved): the provider starts, the browser
//! logs in through its forms, cancels, and stops where asked.

use axum::extract::RawQuery;
use axum::routing::get;
use oidc_e2e::{App, AppListener, AtProvider, Browser, Op, OpOptions, query_param};

/// An app whose `/auth/oidc` answers 200 with the raw callback query.
async fn echo_app() -> (AppListener, axum::Router) {
    let listener = AppListener::bind().await;
    let router = axum::Router::new().route(
        "/auth/oidc",
        get(|RawQuery(q): RawQuery| async move { q.unwrap_or_default() }),
    );
    (listener, router)
}

fn authorize_url(op: &Op, listener_redirect: &str, state: &str) -> url::Url {
    let mut url = op.authorization_endpoint();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", op.client_id())
        .append_pair("redirect_uri", listener_redirect)
        .append_pair("scope", "openid profile email")
        .append_pair("state", state)
        .append_pair("nonce", "n-1");
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_starts_and_browser_logs_in() {
    let (listener, router) = echo_app().await;
    let redirect_uri = listener.redirect_uri();
    let op = Op::start(OpOptions {
        require_pkce: false,
        ..OpOptions::for_app(&listener)
    })
    .await;
    let app = App::spawn(router, listener);
    assert!(
        op.issuer().starts_with("http://127.0.0.1:"),
        "{}",
        op.issuer()
    );
    assert_eq!(op.discovery()["issuer"], op.issuer());

    let browser = Browser::new();
    let journey = browser
        .navigate(authorize_url(&op, &redirect_uri, "s-1"))
        .await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(last.url.path(), "/auth/oidc", "{journey}");
    assert_eq!(last.status, 200, "{journey}");
    assert_eq!(last.url.origin(), app.origin());
    assert_eq!(query_param(&last.url, "state").as_deref(), Some("s-1"));
    assert!(query_param(&last.url, "code").is_some(), "{journey}");
    assert!(
        journey.hops.iter().any(|p| p.form("login").is_some()),
        "saw a login page:\n{journey}"
    );
    assert!(
        journey.hops.iter().any(|p| p.form("consent").is_some()),
        "saw a consent page:\n{journey}"
    );
    // The provider -> app redirect is a same-site navigation started by the provider's form.
    assert_eq!(last.sec_fetch_site(), Some("same-site"), "{journey}");
    assert!(
        browser
            .cookie(
                &url::Url::parse(op.issuer()).expect("issuer URL"),
                "op_session"
            )
            .is_some(),
        "provider session cookie kept"
    );

    // Second login: SSO, no pages.
    let journey = browser
        .navigate(authorize_url(&op, &redirect_uri, "s-2"))
        .await;
    assert_eq!(journey.last().url.path(), "/auth/oidc", "{journey}");
    assert!(
        journey.hops.iter().all(|p| p.form("login").is_none()),
        "{journey}"
    );
    assert_eq!(
        query_param(&journey.last().url, "state").as_deref(),
        Some("s-2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_cancels_and_stops_where_asked() {
    let (listener, router) = echo_app().await;
    let redirect_uri = listener.redirect_uri();
    let op = Op::start(OpOptions {
        require_pkce: false,
        ..OpOptions::for_app(&listener)
    })
    .await;
    let _app = App::spawn(router, listener);

    let browser = Browser::new();
    let first = browser
        .get(authorize_url(&op, &redirect_uri, "s-cancel"))
        .await;
    let journey = browser.follow_with(first, AtProvider::Cancel).await;
    let last = journey.last();
    assert_eq!(last.url.path(), "/auth/oidc", "{journey}");
    assert_eq!(
        query_param(&last.url, "error").as_deref(),
        Some("access_denied"),
        "{journey}"
    );
    assert_eq!(query_param(&last.url, "state").as_deref(), Some("s-cancel"));

    let browser = Browser::new();
    let first = browser
        .get(authorize_url(&op, &redirect_uri, "s-stay"))
        .await;
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    assert!(journey.last().form("login").is_some(), "{journey}");
    // ...and resume later from that page, stopping in front of the callback.
    let login_page = journey.last().clone();
    let journey = browser
        .follow_until(login_page, AtProvider::log_in("bob"), |u| {
            u.path() == "/auth/oidc"
        })
        .await;
    let pending = journey
        .pending
        .clone()
        .unwrap_or_else(|| panic!("stopped before the callback:\n{journey}"));
    assert_eq!(query_param(&pending, "state").as_deref(), Some("s-stay"));

    let journey = {
        let first = browser
            .get(authorize_url(&op, &redirect_uri, "s-deny"))
            .await;
        browser
            .follow_with(first, AtProvider::LogInThenCancelConsent("carol".into()))
            .await
    };
    // bob is logged in at the provider and consented: SSO goes straight back, no consent page to cancel.
    assert_eq!(journey.last().url.path(), "/auth/oidc", "{journey}");

    let browser = Browser::new();
    let first = browser
        .get(authorize_url(&op, &redirect_uri, "s-deny"))
        .await;
    let journey = browser
        .follow_with(first, AtProvider::LogInThenCancelConsent("carol".into()))
        .await;
    assert_eq!(
        query_param(&journey.last().url, "error").as_deref(),
        Some("access_denied"),
        "{journey}"
    );
    assert!(
        op.log_tail().contains("GET /auth"),
        "request log:\n{}",
        op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_stops_on_the_error_page() {
    let (listener, router) = echo_app().await;
    let redirect_uri = listener.redirect_uri();
    let op = Op::start(OpOptions {
        require_pkce: false,
        ..OpOptions::for_app(&listener)
    })
    .await;
    let _app = App::spawn(router, listener);
    let browser = Browser::new();
    let first = browser.get(authorize_url(&op, &redirect_uri, "s")).await;
    let journey = browser
        .follow_with(first, AtProvider::log_in("mallory"))
        .await;
    assert_eq!(journey.last().status, 401, "{journey}");
    assert!(journey.last().has_element_id("error"));
}
