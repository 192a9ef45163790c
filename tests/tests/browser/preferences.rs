//! The demo's `/preferences` page as a person sees it: the after-login hook gave the new
//! session its preferences (the provider it signed in with, the light theme), and choosing
//! another theme in the form keeps it in the session (app data) for the next pages.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_theme_chosen_on_the_preferences_page_stays_in_the_session() {
    let site = Site::start().await;
    let chrome = &site.chrome;
    site.log_in("/preferences", "alice", "Alice Anders").await;
    assert_eq!(chrome.heading().await, "Preferences");
    site.assert_no_server_error("the preferences page").await;
    let text = |css: &'static str| async move {
        chrome.wait_for(css).await.text().await.unwrap_or_default()
    };
    assert_eq!(text("#signed-in-with code").await, "alpha");
    assert_eq!(text("#theme-now").await, "Your theme: light");
    let cookie = site.session_cookie().await.expect("a session cookie");

    chrome.click("#theme option[value=dark]").await;
    chrome.click_to_next_page("#save").await;
    site.assert_on("/preferences", "Alice Anders").await;
    assert_eq!(text("#theme-now").await, "Your theme: dark");
    chrome.screenshot("preferences").await;

    // Still the same session, and the choice is there on the next visit.
    assert_eq!(
        site.session_cookie().await.as_deref(),
        Some(cookie.as_str())
    );
    chrome.goto(&site.url("/")).await;
    chrome.goto(&site.url("/preferences")).await;
    assert_eq!(text("#theme-now").await, "Your theme: dark");
    assert_eq!(site.sessions().await, 1);
    site.stop().await;
}
