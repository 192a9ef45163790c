//! The session cookie's scope: `cookie_domain` (one session for two apps on subdomains of one
//! domain, sharing the store: single sign-on, single logout) and `cookie_same_site = strict`
//! (the callback lands through a page of the app's own origin). The scripted browser keeps
//! `Domain` cookies as browsers do but does not enforce `SameSite`; what a browser does with
//! `Strict` is the Chromium suite's (tests/tests/browser/cookies.rs).

use std::sync::Arc;

use oidc_layer::CookieSameSite;

use super::*;

const DOMAIN: &str = "example.test";

/// One app at `http://{host}.example.test:{port}`.
struct Subdomain {
    external_url: String,
    addr: std::net::SocketAddr,
}

impl Subdomain {
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.external_url)).expect("a URL")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_subdomains_share_one_session_through_the_domain_cookie() {
    init_tracing();
    let (first, second) = (AppListener::bind().await, AppListener::bind().await);
    let member = |host: &str, listener: &AppListener| Subdomain {
        external_url: format!("http://{host}.{DOMAIN}:{}", listener.addr().port()),
        addr: listener.addr(),
    };
    let (a, b) = (member("a", &first), member("b", &second));
    // One client for both apps: either may refresh the session's tokens.
    let op = Op::start(OpOptions {
        redirect_uris: vec![
            format!("{}/auth/oidc", a.external_url),
            format!("{}/auth/oidc", b.external_url),
        ],
        post_logout_redirect_uris: vec![
            format!("{}/auth/logged-out", a.external_url),
            format!("{}/auth/logged-out", b.external_url),
        ],
        ..OpOptions::default()
    })
    .await;
    let store = Arc::new(MemoryStore::<SessionData>::new());
    let app = |member: &Subdomain| {
        let config = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(&member.external_url)
            // Not loopback by name: the test serves plain http on purpose.
            .allow_insecure_http(true)
            .cookie_name("example_sso")
            .cookie_domain(DOMAIN)
            .build()
            .expect("a valid configuration");
        let names = config.cookie_names();
        let router = Router::new()
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .layer(OidcLayer::new(config).with_store(store.clone()));
        (router, names)
    };
    let (router_a, names) = app(&a);
    let (router_b, names_b) = app(&b);
    assert_eq!(names, names_b, "both apps name their cookies alike");
    let _apps = [App::spawn(router_a, first), App::spawn(router_b, second)];
    let browser = Browser::resolving(&[
        (&format!("a.{DOMAIN}"), a.addr),
        (&format!("b.{DOMAIN}"), b.addr),
    ]);

    let journey = log_in_at(&browser, a.url("/whoami"), "alice", &op).await;
    let callback = journey
        .hops
        .iter()
        .find(|p| p.url.path() == CALLBACK)
        .unwrap_or_else(|| panic!("no callback in\n{journey}"));
    let session = callback
        .set_cookie(names.session())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", callback.set_cookie_headers()));
    assert_eq!(session.domain(), Some(DOMAIN), "{session}");
    assert_eq!(session.same_site(), Some(SameSite::Lax), "{session}");
    assert_eq!(session.path(), Some("/"), "{session}");
    // The login-attempt cookie stays A's own.
    let removed = callback
        .find_set_cookie(|n| n.starts_with(names.attempt_prefix()))
        .expect("the attempt cookie is removed");
    assert_eq!(removed.domain(), None, "{removed}");

    // B: signed in as alice without a login of its own.
    let on_b = browser.fetch(b.url("/whoami")).await;
    assert_eq!(on_b.status, 200, "single sign-on on B: {on_b}");
    assert_eq!(on_b.json()["sub"], "u-1001-alice");
    assert_eq!(store.len().await, 1, "one session for both apps");

    // Logging out of B ends the session on A too (one session), and the removal carries the
    // Domain (a host-only removal would leave the domain cookie in the browser).
    let form = browser.get(b.url("/auth/logout")).await;
    let done = browser.submit(&form, "logout", &[]).await;
    assert_eq!(done.status, 303, "{done}\n{}", done.body);
    let removal = done
        .set_cookie(names.session())
        .unwrap_or_else(|| panic!("no removal: {:?}", done.set_cookie_headers()));
    assert_eq!(
        (removal.value(), removal.domain()),
        ("", Some(DOMAIN)),
        "{removal}"
    );
    for member in [&a, &b] {
        let page = browser.fetch(member.url("/whoami")).await;
        assert_eq!(
            page.status, 401,
            "{}: signed out: {page}",
            member.external_url
        );
    }
    assert_eq!(store.len().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_strict_cookies_the_callback_lands_through_a_page_of_the_app() {
    init_tracing();
    let listener = AppListener::bind().await;
    let op = Op::start(OpOptions::for_app(&listener)).await;
    let config = OidcConfig::builder()
        .issuer(op.issuer())
        .client_id(op.client_id())
        .client_secret(op.client_secret())
        .external_url(listener.external_url())
        .cookie_same_site(CookieSameSite::Strict)
        .build()
        .expect("a valid configuration");
    let names = config.cookie_names();
    let router = Router::new()
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(OidcLayer::new(config).with_store(MemoryStore::<SessionData>::new()));
    let app = App::spawn(router, listener);
    let browser = Browser::new();

    let first = browser.get(app.url("/whoami?tab=1&x=%22")).await;
    let attempt = first
        .find_set_cookie(|n| n.starts_with(names.attempt_prefix()))
        .expect("an attempt cookie");
    assert_eq!(
        attempt.same_site(),
        Some(SameSite::Lax),
        "the attempt must come back on the provider's redirect: {attempt}"
    );
    let journey = browser
        .follow_with(first, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    let landing = journey.last();
    assert_eq!(landing.url.path(), CALLBACK, "{journey}");
    assert_eq!(landing.status, 200, "a page, not a redirect: {landing}");
    assert!(landing.content_type().starts_with("text/html"));
    let session = landing
        .set_cookie(names.session())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", landing.set_cookie_headers()));
    assert_eq!(session.same_site(), Some(SameSite::Strict), "{session}");
    assert!(
        landing
            .body
            .contains(r#"<meta http-equiv="refresh" content="0;url=/whoami?tab=1&amp;x=%22">"#),
        "{}",
        landing.body
    );
    // The page's link (what the refresh does): a navigation of the app's own page.
    let next = landing.link("continue").expect("a continue link");
    assert_eq!(next.as_str(), app.url("/whoami?tab=1&x=%22").as_str());
    let page = browser.click(landing, next).await;
    assert_eq!(page.status, 200, "{page}");
    assert_eq!(page.json()["sub"], "u-1001-alice");
}
