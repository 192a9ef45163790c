//! The example end to end: its binary started as `cargo run -p two-providers` starts it (on a
//! free port), a scripted browser signing in through each of its embedded providers, asserting
//! what the person sees: the chooser with both providers, each provider's sign-in page, and
//! back on the page asked for as the person of that provider.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provider_of_the_chooser_signs_its_person_in() {
    let mut app = Example::start(env!("CARGO_BIN_EXE_two-providers"), &[]).await;

    // The public home page.
    let browser = Browser::new();
    let home = browser.get(app.url("/")).await;
    assert_eq!(home.status, 200, "{home}");
    assert!(home.body.contains("Who am I?"), "{}", home.body);

    for (provider, user, sub, email) in [
        ("company-sso", "alice", "u-1001-alice", "alice@example.test"),
        ("partner-login", "dana", "p-77-dana", "dana@partner.test"),
    ] {
        let browser = Browser::new();
        // A protected page without a session: the chooser, listing both providers.
        let chooser = browser.get(app.url("/whoami")).await;
        assert_eq!(chooser.status, 200, "the chooser: {chooser}");
        assert!(
            chooser.has_element_id("provider-company-sso")
                && chooser.has_element_id("provider-partner-login"),
            "both providers on the chooser:\n{}",
            chooser.body
        );
        // This provider's button, then its sign-in page.
        let link = chooser
            .link(&format!("provider-{provider}"))
            .unwrap_or_else(|| panic!("no link to {provider}:\n{}", chooser.body));
        let to_provider = browser.follow(browser.click(&chooser, link).await).await;
        let journey = sign_in_at_test_provider(&browser, to_provider.last(), user).await;
        journey.assert_no_server_error();
        let last = journey.last();
        assert_eq!(
            (last.url.path(), last.status.as_u16()),
            ("/whoami", 200),
            "{provider}: back on the page asked for:\n{journey}"
        );
        let identity = last.json();
        assert_eq!(identity["sub"], sub, "{provider}: {}", last.body);
        assert_eq!(identity["provider"], provider, "{provider}: {}", last.body);
        assert_eq!(identity["email"], email, "{provider}: {}", last.body);
    }
    assert!(app.is_running(), "the app is still serving");
}
