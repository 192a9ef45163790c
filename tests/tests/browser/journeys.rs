//! Logging in as a person does: the first visit, two tabs, the back button, a reload of the
//! callback, a provider login page used after the attempt expired.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_visit_goes_through_the_provider_and_back_to_the_page_asked_for() {
    let site = Site::start().await;
    let chrome = &site.chrome;

    // The public home page first: not signed in.
    chrome.goto(&site.url("/")).await;
    assert_eq!(chrome.heading().await, "oidc-layer demo");
    assert!(
        chrome.text().await.contains("You are not signed in."),
        "{}",
        chrome.text().await
    );
    chrome.screenshot("demo-home-signed-out").await;

    // A protected page: the provider's login form, then consent, then back on that page.
    chrome.goto(&site.url("/profile?tab=roles")).await;
    site.sign_in_at_provider("alice", Some("first-visit")).await;
    let url = chrome
        .wait_for_url("back on /profile", |u| {
            site.on_app(u) && u.path() == "/profile"
        })
        .await;
    assert_eq!(url.query(), Some("tab=roles"), "the query string survives");
    assert_eq!(site.status().await, 200);
    let name = chrome.wait_for("#name").await.text().await.unwrap();
    assert_eq!(name, "Alice Anders");
    assert_eq!(
        chrome.wait_for("#roles").await.text().await.unwrap(),
        "admin"
    );
    chrome.screenshot("demo-profile").await;
    assert_eq!(site.sessions().await, 1);

    // The other demo pages, signed in.
    chrome.goto(&site.url("/")).await;
    assert!(
        chrome
            .text()
            .await
            .contains("Signed in as Alice Anders (alice@example.test)"),
        "{}",
        chrome.text().await
    );
    chrome.screenshot("demo-home-signed-in").await;
    chrome.goto(&site.url("/admin")).await;
    assert_eq!(chrome.heading().await, "Admin");
    assert!(
        chrome
            .wait_for("#why")
            .await
            .text()
            .await
            .unwrap()
            .contains("admins"),
        "the role explanation names the group"
    );
    chrome.screenshot("demo-admin").await;
    chrome.goto(&site.url("/whoami")).await;
    let text = chrome.text().await;
    assert!(
        text.contains("\"sub\":\"u-1001-alice\"") || text.contains("\"sub\": \"u-1001-alice\""),
        "/whoami shows the identity as JSON:\n{text}"
    );
    chrome.screenshot("demo-whoami").await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_the_role_sees_a_403_page_with_a_way_out() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    site.log_in("/profile", "bob", "Bob Brown").await;
    chrome.goto(&site.url("/admin")).await;
    assert_eq!(site.status().await, 403);
    let heading = chrome.heading().await;
    assert!(!heading.is_empty(), "a heading says what happened");
    let text = chrome.text().await;
    assert!(text.contains("admin"), "it names the missing role:\n{text}");
    chrome.screenshot("error-missing-role").await;
    let links = chrome
        .client()
        .find_all(fantoccini::Locator::Css("a"))
        .await
        .expect("links");
    assert!(!links.is_empty(), "the page offers a way out:\n{text}");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_opened_before_logging_in_both_complete() {
    let site = Site::start().await;
    let chrome = &site.chrome;

    // Tab one and tab two both reach the provider's login page before anyone logs in.
    let one = chrome.tab().await;
    chrome.goto(&site.url("/profile?tab=one")).await;
    chrome.wait_for("form#login").await;
    let two = chrome.new_tab().await;
    chrome.goto(&site.url("/profile?tab=two")).await;
    chrome.wait_for("form#login").await;

    // Log in in tab one: back on /profile?tab=one.
    chrome.switch_to(&one).await;
    site.sign_in_at_provider("alice", None).await;
    site.assert_on("/profile?tab=one", "Alice Anders").await;
    let first = site
        .session_cookie()
        .await
        .expect("a session after tab one");

    // Tab two still shows its (older) login page; logging in there completes too, and brings
    // that tab back to /profile?tab=two.
    chrome.switch_to(&two).await;
    assert!(
        chrome.find("form#login").await.is_some(),
        "tab two still shows the login form"
    );
    site.sign_in_at_provider("alice", None).await;
    site.assert_on("/profile?tab=two", "Alice Anders").await;

    // The second login replaced the first session (no orphan, no fixation): a new cookie,
    // the old one's record gone, one session in the store.
    let second = site
        .session_cookie()
        .await
        .expect("a session after tab two");
    assert_ne!(second, first, "the second login starts a new session");
    assert!(
        !site.has_session(&first).await,
        "the first login's session ended at the second login"
    );
    assert_eq!(
        site.sessions().await,
        1,
        "exactly one session after both logins"
    );

    // Both tabs work with the browser's (one) session.
    chrome.switch_to(&one).await;
    chrome.client().refresh().await.expect("reload tab one");
    site.assert_on("/profile?tab=one", "Alice Anders").await;
    assert_eq!(site.status().await, 200);
    assert_eq!(
        site.session_cookie().await.as_deref(),
        Some(second.as_str())
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_button_and_callback_reload_after_login_keep_the_person_logged_in() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    site.log_in("/profile", "alice", "Alice Anders").await;

    // The back button: whatever the browser shows (the provider's finished interaction page
    // or the app), it is no server error, and the app still knows the person.
    chrome.client().back().await.expect("back");
    let previous = chrome
        .wait_for_url("the previous history entry", |u| {
            !(site.on_app(u) && u.path() == "/profile")
        })
        .await;
    site.assert_no_server_error("after the back button").await;
    // With this provider the entry before is its finished consent page ("Interaction not
    // found", a 400 of the provider's own). Nothing of the app is in between: the callback
    // answered with a redirect and is not in the history.
    assert!(
        !site.on_app(&previous) || previous.path() != "/auth/oidc",
        "the callback is not a history entry: {previous}"
    );
    chrome.screenshot("after-back-button").await;
    chrome.goto(&site.url("/profile")).await;
    site.assert_on("/profile", "Alice Anders").await;

    // Reloading the callback URL (from the history, or a reload on a slow redirect): the
    // attempt is gone and the state used, but the browser has a session: sent home, signed in.
    let callback = site.last_callback();
    chrome.goto(&callback).await;
    let url = chrome
        .wait_for_url("the reloaded callback to land on the app", |u| {
            site.on_app(u) && u.path() != "/auth/oidc"
        })
        .await;
    assert_eq!(
        url.path(),
        "/",
        "a stale callback of a signed-in browser goes home"
    );
    site.assert_no_server_error("callback reload").await;
    assert!(
        chrome.text().await.contains("Signed in as Alice Anders"),
        "{}",
        chrome.text().await
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_login_page_used_after_the_attempt_expired_ends_in_a_fresh_login() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    chrome.goto(&site.url("/profile")).await;
    chrome.wait_for("form#login").await;
    let bookmark = chrome.url().await;

    // Time passes: the attempt cookie expires (the browser drops it after 10 minutes). The
    // provider page shares the host 127.0.0.1 with the app, so its cookies are visible here.
    let attempts: Vec<String> = chrome
        .cookies()
        .await
        .into_iter()
        .map(|c| c.name().to_owned())
        .filter(|n| oidc_e2e::is_attempt_cookie(n))
        .collect();
    assert_eq!(
        attempts.len(),
        1,
        "one login attempt in flight: {attempts:?}"
    );
    for name in &attempts {
        chrome.delete_cookie(name).await;
    }

    // The person signs in on the old page: the app explains and offers a fresh login.
    site.sign_in_at_provider("alice", None).await;
    site.assert_no_server_error("expired attempt").await;
    assert_eq!(site.status().await, 400);
    assert_eq!(chrome.heading().await, "This sign-in link has expired");
    chrome.screenshot("error-sign-in-expired").await;
    assert_eq!(
        site.sessions().await,
        0,
        "nobody is signed in by a stale answer"
    );
    chrome.click("a.button").await;
    // The provider remembers alice now: straight back, signed in.
    site.finish_at_provider(None).await;
    chrome
        .wait_for_url("back on the app", |u| site.on_app(u) && u.path() == "/")
        .await;
    assert!(
        chrome.text().await.contains("Signed in as Alice Anders"),
        "{}",
        chrome.text().await
    );

    // The bookmarked provider page, used much later: the provider says the interaction is
    // gone (its own page, not a server error); the app itself still works.
    chrome.goto(&bookmark).await;
    site.assert_no_server_error("bookmarked provider page")
        .await;
    chrome.screenshot("provider-bookmark-later").await;
    chrome.goto(&site.url("/profile")).await;
    site.assert_on("/profile", "Alice Anders").await;
    site.stop().await;
}
