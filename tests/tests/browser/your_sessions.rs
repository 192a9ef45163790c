//! The demo's "Your sessions" page as a person sees it: the account's browsers listed (this
//! one marked), "Sign out other sessions" ending the other browser's session, "Sign out
//! everywhere" ending this one too and landing on the signed-out page.

use oidc_e2e::{AtProvider, Browser};

use super::*;

/// Signs a second, scripted browser in as `user` (through the same provider); returns it.
async fn another_browser(site: &Site, user: &str) -> Browser {
    let browser = Browser::new();
    let first = browser.get(site.url("/whoami")).await;
    let journey = browser.follow_with(first, AtProvider::log_in(user)).await;
    journey.assert_no_server_error();
    assert_eq!(
        journey.last().status,
        200,
        "the other browser signs in:\n{journey}"
    );
    browser
}

/// The sessions the page lists: (device, whether marked as this browser).
async fn listed(site: &Site) -> Vec<(String, bool)> {
    let chrome = &site.chrome;
    chrome.wait_for("ul#sessions").await;
    let items = chrome
        .client()
        .find_all(fantoccini::Locator::Css("ul#sessions li.session"))
        .await
        .expect("find the listed sessions");
    let mut sessions = Vec::new();
    for item in items {
        let device = item
            .find(fantoccini::Locator::Css(".device"))
            .await
            .expect("a device")
            .text()
            .await
            .unwrap_or_default();
        let current = item
            .attr("data-current")
            .await
            .expect("read data-current")
            .is_some_and(|v| v == "true");
        sessions.push((device, current));
    }
    sessions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn your_sessions_lists_the_browsers_and_signs_the_others_out() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    let phone = another_browser(&site, "alice").await;
    let bob = another_browser(&site, "bob").await;
    site.log_in("/sessions", "alice", "Alice Anders").await;
    assert_eq!(chrome.heading().await, "Your sessions");
    site.assert_no_server_error("the sessions page").await;

    // Alice's two browsers (Chromium first: it signed in last and ends last), not Bob's.
    let sessions = listed(&site).await;
    assert_eq!(
        sessions,
        [
            ("Chrome on Linux".to_owned(), true),
            ("A browser on Linux".to_owned(), false)
        ],
        "{}",
        chrome.text().await
    );
    assert_eq!(
        chrome
            .wait_for("#current")
            .await
            .text()
            .await
            .unwrap_or_default(),
        "This browser"
    );
    chrome.screenshot("sessions").await;

    // Sign out other sessions: the phone is signed out, this browser and Bob are not.
    chrome
        .click("form#sign-out-others button[type=submit]")
        .await;
    site.assert_on("/sessions?signed-out=others", "Alice Anders")
        .await;
    assert_eq!(
        chrome
            .wait_for("#notice")
            .await
            .text()
            .await
            .unwrap_or_default(),
        "Your other sessions are signed out."
    );
    assert_eq!(
        listed(&site).await,
        [("Chrome on Linux".to_owned(), true)],
        "{}",
        chrome.text().await
    );
    chrome.screenshot("sessions-others-signed-out").await;
    assert_eq!(phone.fetch(site.url("/whoami")).await.status, 401);
    assert_eq!(bob.fetch(site.url("/whoami")).await.status, 200);

    // Sign out everywhere: this browser too, on the signed-out page.
    chrome
        .click("form#sign-out-everywhere button[type=submit]")
        .await;
    let url = chrome
        .wait_for_url("the signed-out page", |u| u.path() == "/auth/logged-out")
        .await;
    assert!(site.on_app(&url), "{url}");
    assert_eq!(chrome.heading().await, "You are signed out");
    chrome.screenshot("sessions-signed-out-everywhere").await;
    if let Some(cookie) = site.session_cookie().await {
        assert!(
            !site.has_session(&cookie).await,
            "this browser's session is gone"
        );
    }
    assert_eq!(site.sessions().await, 1, "only Bob's session is left");
    assert_eq!(bob.fetch(site.url("/whoami")).await.status, 200);
    site.stop().await;
}
