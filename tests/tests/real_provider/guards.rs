//! [`RequireClaim`](oidc_layer::RequireClaim) and [`RequireIdentity`](oidc_layer::RequireIdentity)
//! on routes, with the real provider's claims: alice and carol have `email_verified: true`,
//! bob `false`; only alice is in the group `admins`. A user whose claims do not match gets a
//! 403 (a page for a person, problem+json for a script) naming the claim, never its value;
//! anonymous requests get the usual login challenge.

use super::site::*;
use super::*;

const UNVERIFIED: &str =
    "This page needs your account's `email_verified` claim to match, and it does not.";
const NOT_ADMINS: &str = "This page needs your account's `groups` claim to match, and it does not.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_claim_admits_users_whose_claims_match() {
    let site = Site::builder()
        .configure(|c| c.api_paths(["/api/*"]))
        .start()
        .await;

    // alice: verified and in `admins`.
    let alice = Browser::new();
    let journey = site.log_in(&alice, "/verified", "alice").await;
    assert_eq!(journey.last().body, "verified area");
    for (path, body) in [
        ("/api/verified", "verified api"),
        ("/api/admins", "admins api"),
    ] {
        let page = alice.fetch(site.app.url(path)).await;
        assert_eq!(
            (page.status.as_u16(), page.body.as_str()),
            (200, body),
            "alice {path}: {page}"
        );
    }

    // bob: `email_verified` is false, and he is only in `users`.
    let bob = Browser::new();
    site.log_in(&bob, "/whoami", "bob").await;
    let cookie = bob.find_cookie(&site.app.url("/"), is_session_cookie);
    let page = bob.get(site.app.url("/verified")).await;
    assert_guard_refusal(&page, UNVERIFIED, true, "bob navigates to /verified");
    let page = bob.fetch(site.app.url("/verified")).await;
    assert_guard_refusal(&page, UNVERIFIED, false, "bob fetches /verified");
    let page = bob.fetch(site.app.url("/api/verified")).await;
    assert_guard_refusal(&page, UNVERIFIED, false, "bob fetches /api/verified");
    let page = bob.fetch(site.app.url("/api/admins")).await;
    assert_guard_refusal(&page, NOT_ADMINS, false, "bob fetches /api/admins");
    assert!(
        !page.body.contains("users"),
        "the problem does not list bob's groups: {}",
        page.body
    );
    assert_eq!(
        bob.find_cookie(&site.app.url("/"), is_session_cookie),
        cookie,
        "a refusal keeps the session"
    );
    let me = bob.fetch(site.app.url("/whoami")).await;
    assert_eq!(me.status, 200, "bob is still signed in: {me}");

    // carol: verified, in no group.
    let carol = Browser::new();
    let journey = site.log_in(&carol, "/verified", "carol").await;
    assert_eq!(journey.last().body, "verified area");
    let page = carol.fetch(site.app.url("/api/admins")).await;
    assert_guard_refusal(&page, NOT_ADMINS, false, "carol fetches /api/admins");
    let page = carol.fetch(site.app.url("/api/verified")).await;
    assert_eq!(
        (page.status.as_u16(), page.body.as_str()),
        (200, "verified api"),
        "carol /api/verified: {page}"
    );
    assert_eq!(site.sessions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_identity_refuses_with_its_reason() {
    let site = Site::builder().start().await;
    let carol = Browser::new();
    let journey = site.log_in(&carol, "/carol", "carol").await;
    assert_eq!(journey.last().body, "carol's page");

    let alice = Browser::new();
    site.log_in(&alice, "/whoami", "alice").await;
    let page = alice.get(site.app.url("/carol")).await;
    assert_guard_refusal(
        &page,
        "This page is for Carol.",
        true,
        "alice navigates to /carol",
    );
    let page = alice.fetch(site.app.url("/carol")).await;
    assert_guard_refusal(
        &page,
        "This page is for Carol.",
        false,
        "alice fetches /carol",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_guards_send_anonymous_requests_to_log_in() {
    let site = Site::builder()
        .configure(|c| c.api_paths(["/api/*"]))
        .start()
        .await;
    let endpoint = site.op.authorization_endpoint();
    let browser = Browser::new();
    for path in ["/verified", "/carol"] {
        let page = browser.get(site.app.url(path)).await;
        assert_eq!(page.status, 302, "navigate {path}: {page}\n{}", page.body);
        let location = page.location().expect("a Location");
        assert_eq!(
            (location.origin(), location.path()),
            (endpoint.origin(), endpoint.path()),
            "navigate {path}: to the provider: {location}"
        );
    }
    // An API path answers 401 even to a navigation (a page for it), never a redirect.
    let page = browser.get(site.app.url("/api/verified")).await;
    assert_eq!(
        page.status, 401,
        "navigate /api/verified: {page}\n{}",
        page.body
    );
    assert!(page.location().is_none(), "no redirect: {page}");
    let page = browser.fetch(site.app.url("/api/admins")).await;
    assert_eq!(page.status, 401, "fetch /api/admins: {page}\n{}", page.body);
    assert!(page.location().is_none(), "no redirect: {page}");
    assert!(
        page.content_type().starts_with("application/problem+json"),
        "{:?}",
        page.content_type()
    );
    assert_eq!(site.sessions().await, 0);

    // Following the challenge: bob logs in, then is refused /verified.
    let first = browser.get(site.app.url("/verified")).await;
    let journey = browser.follow_with(first, AtProvider::log_in("bob")).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(last.url, site.app.url("/verified"), "{journey}");
    assert_guard_refusal(last, UNVERIFIED, true, "bob after logging in for /verified");
    assert_eq!(
        site.sessions().await,
        1,
        "bob is signed in, just not verified"
    );
}
