//! [`RequireRole`](oidc_layer::RequireRole) on routes: signed-in users without the role get a
//! 403 (a page for a person, problem+json for a script), anonymous requests the usual login
//! challenge, users with the role (directly or through the role order) the page.

use super::site::*;
use super::*;

/// Asserts `page` is RequireRole's refusal for `role`: 403, HTML or problem+json as `html`
/// says, no redirect, no cookie change.
fn assert_forbidden(page: &Page, role: &str, html: bool, context: &str) {
    let detail = format!("This page needs the `{role}` role, which your account does not have.");
    assert_guard_refusal(page, &detail, html, context);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_role_refuses_signed_in_users_without_the_role() {
    let site = Site::builder()
        .configure(|c| c.roles(demo_roles()))
        .start()
        .await;

    // bob is trusted.
    let bob = Browser::new();
    let journey = site.log_in(&bob, "/trusted", "bob").await;
    assert_eq!(journey.last().body, "trusted area");
    let cookie = bob.find_cookie(&site.app.url("/"), is_session_cookie);
    let page = bob.get(site.app.url("/admin")).await;
    assert_forbidden(&page, "admin", true, "bob navigates to /admin");
    let page = bob.fetch(site.app.url("/admin")).await;
    assert_forbidden(&page, "admin", false, "bob fetches /admin");
    let page = bob.get(site.app.url("/reports")).await;
    assert_eq!(
        (page.status.as_u16(), page.body.as_str()),
        (200, "reports"),
        "bob may see the reports: {page}"
    );
    assert_eq!(
        bob.find_cookie(&site.app.url("/"), is_session_cookie),
        cookie,
        "a refusal keeps the session"
    );
    let me = bob.fetch(site.app.url("/whoami")).await;
    assert_eq!(me.status, 200, "bob is still signed in: {me}");

    // carol is untrusted (the default role): /trusted and the public /reports are closed.
    let carol = Browser::new();
    site.log_in(&carol, "/whoami", "carol").await;
    for path in ["/trusted", "/reports"] {
        let page = carol.get(site.app.url(path)).await;
        assert_forbidden(
            &page,
            "trusted",
            true,
            &format!("carol navigates to {path}"),
        );
        let page = carol.fetch(site.app.url(path)).await;
        assert_forbidden(&page, "trusted", false, &format!("carol fetches {path}"));
    }

    // alice is admin, and trusted through the role order.
    let alice = Browser::new();
    let journey = site.log_in(&alice, "/admin", "alice").await;
    assert_eq!(journey.last().body, "admin area");
    for (path, body) in [("/trusted", "trusted area"), ("/reports", "reports")] {
        let page = alice.fetch(site.app.url(path)).await;
        assert_eq!(
            (page.status.as_u16(), page.body.as_str()),
            (200, body),
            "alice {path}: {page}"
        );
    }
    assert_eq!(site.sessions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_role_sends_anonymous_requests_to_log_in() {
    let site = Site::builder()
        .configure(|c| c.roles(demo_roles()))
        .start()
        .await;
    let endpoint = site.op.authorization_endpoint();
    // `/admin` is protected by the layer itself; `/reports` is a public path where only
    // RequireRole stands in the way.
    for path in ["/admin", "/reports"] {
        let browser = Browser::new();
        let page = browser.get(site.app.url(path)).await;
        assert_eq!(page.status, 302, "navigate {path}: {page}\n{}", page.body);
        let location = page.location().expect("a Location");
        assert_eq!(
            (location.origin(), location.path()),
            (endpoint.origin(), endpoint.path()),
            "navigate {path}: to the provider: {location}"
        );
        assert!(
            page.set_cookies()
                .iter()
                .any(|c| is_attempt_cookie(c.name())),
            "navigate {path}: a login attempt starts: {:?}",
            page.set_cookie_headers()
        );

        let page = browser.fetch(site.app.url(path)).await;
        assert_eq!(page.status, 401, "fetch {path}: {page}");
        assert!(page.location().is_none(), "fetch {path}: no redirect");
        assert!(
            page.content_type().starts_with("application/problem+json"),
            "fetch {path}: {:?}",
            page.content_type()
        );
        let login = format!("/auth/login?return_to=%2F{}", &path[1..]);
        assert_eq!(
            page.json()["login_url"],
            login,
            "fetch {path}: {}",
            page.body
        );
    }
    assert_eq!(site.sessions().await, 0);

    // Following the challenge: alice lands on /reports; bob logs in, then is refused /admin.
    let alice = Browser::new();
    let journey = site.log_in(&alice, "/reports", "alice").await;
    assert_eq!(journey.last().body, "reports");
    let bob = Browser::new();
    let first = bob.get(site.app.url("/admin")).await;
    let journey = bob.follow_with(first, AtProvider::log_in("bob")).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(last.url, site.app.url("/admin"), "{journey}");
    assert_forbidden(last, "admin", true, "bob after logging in for /admin");
    assert_eq!(
        site.sessions().await,
        2,
        "bob is signed in, just not an admin"
    );
}
