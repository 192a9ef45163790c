//! The session cookie's scope in a real browser: `SameSite=Strict` (the app on a site other
//! than the provider's, so the provider's redirect to the callback is cross-site, as in
//! production) and `Domain` (two apps on subdomains of `example.test`, one session).

use oidc_layer::CookieSameSite;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_strict_cookies_a_login_from_the_provider_lands_signed_in() {
    let site = Site::start_with(Setup {
        app_host: Some("app.example.test"),
        config: Box::new(|c| c.cookie_same_site(CookieSameSite::Strict)),
        ..Setup::default()
    })
    .await;
    let chrome = &site.chrome;

    // The provider (127.0.0.1) is another site than the app (app.example.test): its redirect
    // to the callback is cross-site, and so is the rest of that redirect chain.
    chrome.goto(&site.url("/profile?tab=roles")).await;
    site.sign_in_at_provider("alice", None).await;
    // Lands on the page asked for, signed in: the session cookie set by the callback came
    // along (a plain redirect would have arrived without it, and back to the provider).
    site.assert_on("/profile?tab=roles", "Alice Anders").await;
    assert_eq!(site.sessions().await, 1, "one login, no loop");
    assert_eq!(
        site.callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len(),
        1,
        "one callback"
    );
    let session = site
        .chrome
        .cookies()
        .await
        .into_iter()
        .find(|c| oidc_e2e::is_session_cookie(c.name()))
        .expect("a session cookie");
    assert_eq!(
        session.same_site(),
        Some(cookie::SameSite::Strict),
        "{session}"
    );
    chrome.screenshot("strict-cookie-signed-in").await;

    // Same-site navigations carry it: another page of the app, signed in.
    chrome.goto(&site.url("/")).await;
    assert!(
        chrome.text().await.contains("Signed in as Alice Anders"),
        "{}",
        chrome.text().await
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_subdomains_share_the_session_of_the_domain_cookie() {
    let store = Arc::new(MemoryStore::<SessionData>::new());
    let shared = |c: OidcConfigBuilder| c.cookie_name("example_sso").cookie_domain("example.test");
    let site = Site::start_with(Setup {
        app_host: Some("a.example.test"),
        config: Box::new(shared),
        store: Some(store.clone()),
        ..Setup::default()
    })
    .await;
    let chrome = &site.chrome;

    // App B: the demo again, at b.example.test, with the same provider client and store.
    let listener = AppListener::bind().await;
    let base_b = format!("http://b.example.test:{}", listener.addr().port());
    let config = shared(
        OidcConfig::builder()
            .external_url(&base_b)
            .allow_insecure_http(true)
            .public_paths(axum_demo::PUBLIC_PATHS)
            .api_paths(axum_demo::API_PATHS),
    )
    .provider(
        ProviderBuilder::new("Alpha ID")
            .slug("alpha")
            .issuer(site.op.issuer())
            .client_id(site.op.client_id())
            .client_secret(site.op.client_secret())
            .scopes(["openid", "profile", "email", "groups"])
            .roles(axum_demo::role_map()),
    )
    .build()
    .expect("a valid configuration");
    let layer = OidcLayer::new(config).with_store(store.clone());
    let _app_b = App::spawn(demo_router(&layer, Callbacks::default()), listener);

    site.log_in("/profile", "alice", "Alice Anders").await;
    let session = chrome
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name() == "example_sso")
        .expect("the shared session cookie");
    assert_eq!(
        session.domain().map(|d| d.trim_start_matches('.')),
        Some("example.test"),
        "{session}"
    );

    // B knows alice at once: no provider page in between.
    let profile_b = Url::parse(&format!("{base_b}/profile")).expect("a URL");
    chrome.goto(&profile_b).await;
    let url = chrome.url().await;
    assert_eq!(url.origin(), profile_b.origin(), "stayed on B: {url}");
    assert_eq!(
        chrome
            .wait_for("#name")
            .await
            .text()
            .await
            .unwrap_or_default(),
        "Alice Anders"
    );
    chrome.screenshot("domain-cookie-second-app").await;
    assert_eq!(store.len().await, 1, "one session for both apps");
    site.stop().await;
}
