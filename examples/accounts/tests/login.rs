//! The example end to end: its binary started as `cargo run -p accounts` starts it (on a free
//! port), a scripted browser signing in through its embedded providers, asserting what the
//! person sees: alice's first sign-in is linked to the account `alice` by her verified email;
//! bob, unknown to the app (no new users admitted), is refused with a page that says so and
//! no session.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_is_linked_to_her_account_and_bob_is_refused() {
    let app = Example::start(env!("CARGO_BIN_EXE_accounts"), &[]).await;

    // Alice: the chooser, Company SSO, her sign-in; back on the linked-accounts page.
    let browser = Browser::new();
    let home = browser.get(app.url("/")).await;
    assert_eq!(home.status, 200, "{home}");
    assert!(
        home.body.contains("You are not signed in."),
        "{}",
        home.body
    );
    let login = home.link("login").expect("a sign-in link");
    let chooser = browser.follow(browser.click(&home, login).await).await;
    let chooser = chooser.last();
    let link = chooser
        .link("provider-company-sso")
        .unwrap_or_else(|| panic!("Company SSO on the chooser:\n{}", chooser.body));
    let at_provider = browser.follow(browser.click(chooser, link).await).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "alice").await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (last.url.path(), last.status.as_u16()),
        ("/linked", 200),
        "{journey}\n{}",
        last.body
    );
    // The account `alice` is the first the example creates: id 1 (`root` is 2).
    let home = browser.get(app.url("/")).await;
    assert!(
        home.body
            .contains("Signed in as <strong>alice</strong> with Company SSO")
            && home
                .body
                .contains("Account id: <code id=\"account\">1</code>"),
        "alice's sign-in is linked to the account alice:\n{}",
        home.body
    );

    // Bob: refused, with a page that says why; not signed in afterwards.
    let browser = Browser::new();
    let chooser = browser.get(app.url("/linked")).await;
    let link = chooser
        .link("provider-company-sso")
        .unwrap_or_else(|| panic!("Company SSO on the chooser:\n{}", chooser.body));
    let at_provider = browser.follow(browser.click(&chooser, link).await).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "bob").await;
    journey.assert_no_server_error();
    let refused = journey.last();
    assert_eq!(refused.status, 403, "{journey}\n{}", refused.body);
    assert!(
        refused.content_type().starts_with("text/html"),
        "{}",
        refused.content_type()
    );
    let home = browser.get(app.url("/")).await;
    assert!(
        home.body.contains("You are not signed in."),
        "bob is not signed in:\n{}",
        home.body
    );
}
