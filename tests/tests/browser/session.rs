//! A session's end as a person sees it: `fetch()` after the session expired or was logged out
//! in another tab, the sign-out button with provider logout, and the cookies the browser holds.

use super::*;

/// Clicks "Check my session" on /profile and waits for the result; returns
/// `(status, content type, login_url)` as the page's script saw them.
async fn check_session(site: &Site) -> (String, String, Option<String>) {
    let chrome = &site.chrome;
    chrome.click("#check").await;
    let result = chrome.wait_for("#result[data-status]").await;
    let status = result
        .attr("data-status")
        .await
        .expect("read data-status")
        .unwrap_or_default();
    let content_type = result
        .attr("data-content-type")
        .await
        .expect("read data-content-type")
        .unwrap_or_default();
    let login_url = result
        .attr("data-login-url")
        .await
        .expect("read data-login-url");
    (status, content_type, login_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_after_the_session_ended_gets_401_json_and_the_page_leads_to_login() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    site.log_in("/profile", "alice", "Alice Anders").await;

    let (status, _, _) = check_session(&site).await;
    assert_eq!(status, "200", "{}", chrome.text().await);

    // The session expires (deleted from the store) while the page is open.
    site.end_session_server_side().await;

    let (status, content_type, login_url) = check_session(&site).await;
    assert_eq!(
        status,
        "401",
        "fetch() gets a 401, not a redirect it cannot follow (no CORS error): {}",
        chrome.text().await
    );
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(
        login_url.as_deref(),
        Some("/auth/login?return_to=%2Fapi%2Fme"),
        "the answer tells the page where to log in"
    );
    // fetch() of a protected page (not an API path) behaves the same in a real browser: the
    // layer sees Sec-Fetch-Mode: cors and answers 401 instead of redirecting cross-origin.
    let answer = chrome
        .run_async(
            "const done = arguments[arguments.length - 1];\
             fetch('/profile').then(async r => done({status: r.status, type: r.headers.get('content-type'), body: await r.json()}))\
             .catch(e => done({error: String(e)}));",
        )
        .await;
    assert_eq!(answer["status"], 401, "{answer}");
    assert_eq!(
        answer["body"]["login_url"],
        "/auth/login?return_to=%2Fprofile"
    );
    chrome.screenshot("demo-session-ended").await;

    // The page's "Sign in again" link (the login_url, back to this page) logs in again.
    chrome.click("#sign-in-again").await;
    site.finish_at_provider(None).await;
    site.assert_on("/profile", "Alice Anders").await;
    let (status, _, _) = check_session(&site).await;
    assert_eq!(status, "200");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_in_another_tab_ends_the_session_for_fetch_in_this_one() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    site.log_in("/profile", "alice", "Alice Anders").await;
    let profile_tab = chrome.tab().await;

    let other = chrome.new_tab().await;
    chrome.goto(&site.url("/auth/logout")).await;
    chrome.click("form#logout button[type=submit]").await;
    // The provider asks whether to sign out there too; the person says no.
    chrome.wait_for("button[name=logout]").await;
    chrome.click("button:not([name=logout])").await;
    chrome
        .wait_for_url("the signed-out page", |u| {
            site.on_app(u) && u.path() == "/auth/logged-out"
        })
        .await;
    assert_eq!(chrome.heading().await, "You are signed out");
    let _ = other;

    chrome.switch_to(&profile_tab).await;
    let (status, _, login_url) = check_session(&site).await;
    assert_eq!(status, "401", "{}", chrome.text().await);
    assert!(login_url.is_some());
    assert!(
        chrome.find("#ended:not([hidden])").await.is_some(),
        "the page says the session ended"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_with_provider_logout_asks_for_the_password_next_time() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    site.log_in("/profile", "alice", "Alice Anders").await;

    // The app's "Sign out" button (a POST from the home page).
    chrome.goto(&site.url("/")).await;
    chrome.click("#logout").await;
    // RP-initiated logout: the provider's confirmation page.
    chrome.wait_for("button[name=logout]").await;
    assert!(!site.on_app(&chrome.url().await), "on the provider's page");
    assert!(
        chrome.text().await.contains("Do you want to sign-out"),
        "{}",
        chrome.text().await
    );
    chrome.screenshot("provider-logout-confirm").await;
    // The logout state cookie (same host as the provider's page) has the same flags.
    let cookies = chrome.cookies().await;
    let state = cookies
        .iter()
        .find(|c| oidc_e2e::is_logout_cookie(c.name()))
        .unwrap_or_else(|| panic!("the logout state cookie: {cookies:?}"));
    assert_eq!(state.http_only(), Some(true), "{state}");
    assert_eq!(state.same_site(), Some(cookie::SameSite::Lax), "{state}");
    assert_eq!(
        site.sessions().await,
        0,
        "the app's session is already gone"
    );
    chrome.click("button[name=logout]").await;
    chrome
        .wait_for_url("back on the signed-out page", |u| {
            site.on_app(u) && u.path() == "/auth/logged-out"
        })
        .await;
    assert_eq!(site.status().await, 200);
    assert_eq!(chrome.heading().await, "You are signed out");
    chrome.screenshot("signed-out").await;
    assert!(
        chrome.cookies().await.iter().all(
            |c| !oidc_e2e::is_session_cookie(c.name()) && !oidc_e2e::is_logout_cookie(c.name())
        ),
        "no session or logout-state cookie is left: {:?}",
        chrome.cookies().await
    );

    // The signed-out page does not log back in by itself; its button starts a login that asks
    // for the password again (the provider's session ended too).
    assert!(site.on_app(&chrome.url().await));
    chrome.click("#login").await;
    chrome.wait_for("form#login").await;
    site.sign_in_at_provider("alice", None).await;
    chrome
        .wait_for_url("home", |u| site.on_app(u) && u.path() == "/")
        .await;
    assert!(
        chrome.text().await.contains("Signed in as Alice Anders"),
        "{}",
        chrome.text().await
    );

    // The confirm page at /auth/logout (what a link to "Sign out" shows).
    chrome.goto(&site.url("/auth/logout")).await;
    assert_eq!(chrome.heading().await, "Sign out?");
    chrome.screenshot("logout-confirm").await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_in_the_browser_have_the_promised_flags_and_stay_small() {
    let site = Site::start().await;
    let chrome = &site.chrome;

    // During the login: the attempt cookie, seen from the provider's page (same host).
    chrome.goto(&site.url("/profile")).await;
    chrome.wait_for("form#login").await;
    let during = chrome.cookies().await;
    let attempt = during
        .iter()
        .find(|c| oidc_e2e::is_attempt_cookie(c.name()))
        .unwrap_or_else(|| panic!("an attempt cookie during the login: {during:?}"));
    site.sign_in_at_provider("alice", None).await;
    site.assert_on("/profile", "Alice Anders").await;
    let after = chrome.cookies().await;
    let session = after
        .iter()
        .find(|c| oidc_e2e::is_session_cookie(c.name()))
        .unwrap_or_else(|| panic!("a session cookie after the login: {after:?}"));
    assert!(
        after.iter().all(|c| !oidc_e2e::is_attempt_cookie(c.name())),
        "the attempt cookie is removed after the login: {after:?}"
    );

    for cookie in [attempt, session] {
        assert_eq!(cookie.http_only(), Some(true), "{cookie}: HttpOnly");
        assert_eq!(
            cookie.same_site(),
            Some(cookie::SameSite::Lax),
            "{cookie}: SameSite=Lax"
        );
        assert_eq!(cookie.path(), Some("/"), "{cookie}");
        // On http (loopback) the cookies are not Secure and have no `__Host-` prefix: browsers
        // refuse both without https. The https names are unit-tested in oidc-layer's
        // cookies.rs (`flags`) and attempt.rs (`roundtrip_and_tamper`).
        assert_ne!(cookie.secure(), Some(true), "{cookie}");
        assert!(!cookie.name().starts_with("__Host-"), "{cookie}");
    }
    // Scripts cannot read them.
    let visible = chrome
        .client()
        .execute("return document.cookie;", vec![])
        .await
        .expect("document.cookie");
    assert!(
        !visible.as_str().unwrap_or("").contains("oidc_"),
        "HttpOnly cookies are invisible to scripts: {visible}"
    );
    // No cookie of the app or the provider (same host) comes near the 4 KB browsers allow.
    for cookie in during.iter().chain(&after) {
        let size = cookie.name().len() + cookie.value().len();
        assert!(size < 4096, "{} is {size} bytes", cookie.name());
    }
    site.stop().await;
}
