//! The demo's after-login hook and app data, end to end: its binary started (embedded
//! provider), bob signs in; the hook gave his session its preferences, the `/preferences`
//! form changes them (same origin only), and they stay for his next requests.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_sets_preferences_and_the_form_changes_them() {
    let app = Example::start(env!("CARGO_BIN_EXE_axum-demo"), &[]).await;

    let browser = Browser::new();
    let first = browser.get(app.url("/preferences")).await;
    let at_provider = browser.follow(first).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "bob").await;
    journey.assert_no_server_error();
    let page = browser.get(app.url("/preferences")).await;
    assert_eq!(page.status, 200, "{page}");
    assert!(
        page.body.contains("You signed in with"),
        "the hook's data: {}",
        page.body
    );
    assert!(
        page.body.contains("Your theme: <strong>light</strong>"),
        "{}",
        page.body
    );

    // Another site's form cannot change them.
    let refused = browser
        .post_form_with(
            app.url("/preferences"),
            &[("theme", "dark")],
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{refused}");
    let bad = browser
        .post_form(app.url("/preferences"), &[("theme", "purple")])
        .await;
    assert_eq!(bad.status, 400, "{bad}");

    let saved = browser
        .post_form(app.url("/preferences"), &[("theme", "dark")])
        .await;
    assert_eq!(saved.status, 303, "{saved}");
    let page = browser.get(app.url("/preferences")).await;
    assert!(
        page.body.contains("Your theme: <strong>dark</strong>"),
        "{}",
        page.body
    );
}
