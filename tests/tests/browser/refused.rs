//! People the app's policy refuses: each sees a page that says why and offers a way out that
//! really lets them try another account (the provider asks for the password again).

use oidc_layer::accounts::{InMemoryAccounts, LinkingResolver};

use super::*;

/// Signs `user` in at the provider from `/profile` and asserts the refusal page: a 403 with
/// `title`, a detail containing `why`, no session. Saves a screenshot as `shot`. Then follows
/// the page's way out and asserts it leads to the provider's login form (not the same refusal
/// again), where alice gets in.
async fn assert_refused(site: &Site, user: &str, title: &str, why: &str, shot: &str) {
    let chrome = &site.chrome;
    chrome.goto(&site.url("/profile")).await;
    site.sign_in_at_provider(user, None).await;
    site.assert_no_server_error(shot).await;
    assert_eq!(site.status().await, 403, "{}", chrome.text().await);
    assert_eq!(chrome.heading().await, title);
    let detail = chrome
        .wait_for("#detail")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        detail.contains(why),
        "the page says why ({why:?}): {detail}"
    );
    chrome.screenshot(shot).await;
    assert_eq!(site.sessions().await, 0, "{user} is not signed in");

    // The way out: "Sign in with another account" asks the provider for a login again.
    let way_out = chrome.wait_for(".actions a").await;
    assert_eq!(
        way_out.text().await.expect("the link's text"),
        "Sign in with another account"
    );
    way_out.click().await.expect("click the way out");
    chrome.wait_for("form#login").await;
    site.sign_in_at_provider("alice", None).await;
    site.assert_on("/profile", "Alice Anders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_claim_that_is_false_is_explained() {
    let site = Site::start_with(Setup {
        provider: Box::new(|p| p.required_claims(["is_admin"])),
        ..Setup::default()
    })
    .await;
    assert_refused(
        &site,
        "bob",
        "Access denied",
        "its is_admin claim is not true",
        "error-required-claim",
    )
    .await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_no_group_maps_to_is_refused_with_deny() {
    let site = Site::start_with(Setup {
        provider: Box::new(|p| p.roles(axum_demo::role_map().deny_unmatched())),
        ..Setup::default()
    })
    .await;
    assert_refused(
        &site,
        "carol",
        "No access to this app",
        "None of your groups gives you a role",
        "error-no-role",
    )
    .await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_is_refused_when_new_users_are_not_allowed() {
    let accounts = InMemoryAccounts::new();
    // Alice's account exists (linked at her first verified sign-in); carol has none.
    accounts.add_account("alice", Some("alice@example.test"), false);
    let resolver: Arc<dyn AccountResolver> = Arc::new(LinkingResolver::new(accounts));
    let site = Site::start_with(Setup {
        provider: Box::new(|p| p.allow_new_users(false).link_by_verified_email(true)),
        resolver: Some(resolver),
        ..Setup::default()
    })
    .await;
    assert_refused(
        &site,
        "carol",
        "Sign-in refused",
        "New users are not allowed",
        "error-new-user",
    )
    .await;
    site.stop().await;
}
