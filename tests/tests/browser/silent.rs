//! Silent sign-in on the demo's public home page (`silent_login`): a person without a session
//! at the provider sees the home page signed out, after one quiet round trip, and only once per
//! browser session; a person with a session there is signed in on the home page itself. The
//! home page's "Confirm it's you" (`max_age=0`) and "Switch account" (`prompt=login`) links.

use super::*;

/// The callback URLs the browser requested so far.
fn callbacks(site: &Site) -> Vec<String> {
    site.callbacks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_login_on_the_home_page_once_per_browser_session() {
    let site = Site::start_with(Setup {
        config: Box::new(|b| b.silent_login(true)),
        ..Setup::default()
    })
    .await;
    let chrome = &site.chrome;

    // No session at the provider: the home page, signed out, no error on the way.
    chrome.goto(&site.url("/")).await;
    chrome
        .wait_for_url("back on the home page", |u| {
            site.on_app(u) && u.path() == "/"
        })
        .await;
    site.assert_no_server_error("silent sign-in without a provider session")
        .await;
    assert_eq!(chrome.heading().await, "oidc-layer demo");
    assert!(
        chrome.text().await.contains("You are not signed in."),
        "{}",
        chrome.text().await
    );
    let seen = callbacks(&site);
    assert_eq!(seen.len(), 1, "one silent attempt: {seen:?}");
    assert!(seen[0].contains("error=login_required"), "{seen:?}");
    chrome.screenshot("silent-login-signed-out").await;

    // Loop protection: the next visit in this browser session goes nowhere.
    chrome.goto(&site.url("/")).await;
    assert!(chrome.text().await.contains("You are not signed in."));
    assert_eq!(callbacks(&site).len(), 1, "no second silent attempt");

    // Signing in on a protected page makes a session at the provider too.
    site.log_in("/profile", "alice", "Alice Anders").await;
    assert_eq!(callbacks(&site).len(), 2);

    // The app's session ends (as at its max age); the provider's does not. The home page
    // signs the person in without any page at the provider.
    site.end_session_server_side().await;
    chrome.goto(&site.url("/")).await;
    chrome
        .wait_for_url("back on the home page", |u| {
            site.on_app(u) && u.path() == "/"
        })
        .await;
    site.assert_no_server_error("silent sign-in with a provider session")
        .await;
    let shown = chrome
        .wait_for("#name")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(shown, "Alice Anders", "{}", chrome.text().await);
    let seen = callbacks(&site);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[2].contains("code="), "{seen:?}");
    assert_eq!(site.sessions().await, 1);
    chrome.screenshot("silent-login-signed-in").await;

    // "Confirm it's you" (max_age=0): the provider asks for the password again although it
    // has a session, then the profile opens. (The provider counts whole seconds: its sign-in
    // must be at least one second old to be "too old" for max_age=0.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    chrome.click("#step-up").await;
    site.sign_in_at_provider("alice", Some("step-up")).await;
    site.assert_on("/profile", "Alice Anders").await;

    // "Switch account" (prompt=login): the provider asks who signs in; bob does.
    chrome.goto(&site.url("/")).await;
    chrome.click("#switch-account").await;
    site.sign_in_at_provider("bob", None).await;
    site.assert_on("/", "Bob Brown").await;
    assert_eq!(
        site.sessions().await,
        1,
        "each sign-in replaced the browser's session"
    );
    site.stop().await;
}
