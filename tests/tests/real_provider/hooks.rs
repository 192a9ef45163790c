//! The after-login hook ([`oidc_layer::AfterLogin`]) and the app's data in the session
//! ([`oidc_layer::AppSession`]) against the real provider: what the hook adds is in the
//! session from its first request and survives token refreshes; a refusal is the hook's
//! message on a 403 page, a failure (error, panic, additions too large) a 503 page, and
//! neither leaves a session; app data is written only when it changes, bounded, and
//! concurrent updates of one session never lose each other's changes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oidc_layer::{AfterLoginError, Login, LoginAdditions, SessionId, SessionStore as _};
use serde_json::Value;

use super::site::*;
use super::*;

/// alice gets the role `beta` and app data naming her groups and her provider; bob is refused
/// (with markup in the message, to see it escaped); carol's hook fails; dave's hook panics;
/// erin's app data is over the limit.
async fn hook(login: Login) -> Result<LoginAdditions, AfterLoginError> {
    let identity = login.identity();
    assert!(!login.access_token().is_empty() && login.id_token().contains('.'));
    match identity.username() {
        "alice" => LoginAdditions::new().role("beta").app_data(&json!({
            "groups": identity.groups(),
            "provider": login.provider(),
            "refresh_token": login.has_refresh_token(),
            "user_agent": login.headers().get("user-agent").is_some(),
        })),
        "bob" => Err(AfterLoginError::refused(
            "<b>Bob</b>, your subscription has lapsed.",
        )),
        "carol" => Err(AfterLoginError::failed("the billing database is down")),
        "dave" => panic!("the hook's own bug"),
        _ => LoginAdditions::new().app_data(&"x".repeat(200)),
    }
}

fn users() -> Value {
    let user = |name: &str| {
        op_user(
            name,
            json!({ "sub": format!("u-{name}"), "preferred_username": name, "groups": ["users"] }),
        )
    };
    json!([
        user("alice"),
        user("bob"),
        user("carol"),
        user("dave"),
        user("erin")
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_hook_adds_is_in_the_session_and_survives_refreshes() {
    let site = Site::builder()
        .users(users())
        .access_token_ttl(3)
        .configure(|c| c.roles(demo_roles()).refresh_margin(Duration::ZERO))
        .after_login(hook)
        .start()
        .await;
    let alice = Browser::new();
    site.log_in(&alice, "/whoami", "alice").await;
    let check = |when: &'static str| {
        let alice = &alice;
        let site = &site;
        async move {
            let page = alice.fetch(site.app.url("/can/beta")).await;
            assert_eq!(page.json()["has_role"], true, "{when}: {page}");
            let page = alice.fetch(site.app.url("/can/trusted")).await;
            assert_eq!(page.json()["has_role"], true, "{when}: mapped roles kept");
            let page = alice.fetch(site.app.url("/why")).await;
            assert!(
                page.body.contains("added by the app at login: beta"),
                "{when}: {}",
                page.body
            );
            let page = alice.fetch(site.app.url("/app-data")).await;
            assert_eq!(
                page.json()["data"],
                json!({"groups": ["users"], "provider": SLUG, "refresh_token": true, "user_agent": true}),
                "{when}"
            );
        }
    };
    check("after login").await;
    // Past the access token's expiry: the next request refreshes (new ID token, roles decided
    // again) and the hook's role and data are still there.
    for round in 1..=2 {
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        check("after a refresh").await;
        assert!(
            site.op.count_log_lines("grant.success refresh_token") >= round,
            "a refresh happened (round {round}):\n{}",
            site.op.log_tail()
        );
    }
    assert_eq!(site.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_or_failing_hook_leaves_no_session() {
    let site = Site::builder()
        .users(users())
        .configure(|c| c.app_data_max_bytes(100))
        .after_login(hook)
        .start()
        .await;

    let bob = Browser::new();
    let page = site.refused_login(&bob, "/whoami", "bob").await;
    assert_eq!(page.status, 403, "{page}");
    assert!(
        page.body
            .contains("&lt;b&gt;Bob&lt;/b&gt;, your subscription has lapsed."),
        "the hook's message, escaped: {}",
        page.body
    );
    assert!(page.body.contains("Sign in with another account"));

    for (user, never_shown) in [
        ("carol", "billing database"),
        ("dave", "own bug"),
        ("erin", "app_data_max_bytes"),
    ] {
        let browser = Browser::new();
        let first = browser.get(site.app.url("/whoami")).await;
        let journey = browser.follow_with(first, AtProvider::log_in(user)).await;
        let last = journey.last();
        assert_eq!(
            (last.url.path(), last.status.as_u16()),
            (CALLBACK, 503),
            "{user}: the callback answers 503\n{journey}"
        );
        assert!(
            last.body.contains("could not complete your sign-in"),
            "{user}: {}",
            last.body
        );
        assert!(
            !last.body.contains(never_shown),
            "{user}: the hook's error is logged, not shown"
        );
        assert!(
            browser
                .find_cookie(&site.app.url("/"), is_session_cookie)
                .is_none(),
            "{user}: no session cookie"
        );
    }
    assert_eq!(site.sessions().await, 0, "no session was stored");
    // The app still works for everyone else after a panic in the hook.
    let alice = Browser::new();
    site.log_in(&alice, "/whoami", "alice").await;
    assert_eq!(site.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_data_is_written_only_when_it_changes_and_is_bounded() {
    let site = Site::builder()
        .configure(|c| c.app_data_max_bytes(256))
        .start()
        .await;
    let alice = Browser::new();
    site.log_in(&alice, "/whoami", "alice").await;
    let id = SessionId::parse(
        &alice
            .find_cookie(&site.app.url("/"), is_session_cookie)
            .expect("session cookie"),
    )
    .expect("a session id");
    let stored = || async { site.store.load(&id).await.unwrap().expect("the session") };

    let page = alice.fetch(site.app.url("/app-data")).await;
    assert_eq!(page.json()["data"], Value::Null, "none at first");

    let before = stored().await;
    let page = alice
        .post_form(
            site.app.url("/app-data"),
            &[("value", r#"{"theme":"dark"}"#)],
        )
        .await;
    assert_eq!(page.status, 204, "{page}\n{}", page.body);
    let written = stored().await;
    assert!(!Arc::ptr_eq(&before, &written), "a change is written");
    assert_eq!(written.expires_at, before.expires_at, "same lifetime");
    assert_eq!(written.tags, before.tags, "same tags");
    let page = alice.fetch(site.app.url("/app-data")).await;
    assert_eq!(page.json()["data"], json!({"theme": "dark"}));

    // The same value again: nothing is written.
    let page = alice
        .post_form(
            site.app.url("/app-data"),
            &[("value", r#"{"theme":"dark"}"#)],
        )
        .await;
    assert_eq!(page.status, 204);
    assert!(
        Arc::ptr_eq(&written, &stored().await),
        "an unchanged value is not written"
    );
    // Reading is write-free too.
    for _ in 0..3 {
        alice.fetch(site.app.url("/app-data")).await;
        alice.fetch(site.app.url("/whoami")).await;
    }
    assert!(
        Arc::ptr_eq(&written, &stored().await),
        "reads write nothing"
    );

    // Over the limit: 413 problem, the stored value is unchanged.
    let big = serde_json::to_string(&"y".repeat(300)).unwrap();
    let page = alice
        .post_form(site.app.url("/app-data"), &[("value", &big)])
        .await;
    assert_eq!(page.status, 413, "{page}");
    assert!(page.content_type().starts_with("application/problem+json"));
    let page = alice.fetch(site.app.url("/app-data")).await;
    assert_eq!(page.json()["data"], json!({"theme": "dark"}));

    // A counter where the app data is not a number: 500 problem, nothing written.
    let page = alice.post_form(site.app.url("/app-data/count"), &[]).await;
    assert_eq!(page.status, 500, "{page}");
    assert!(Arc::ptr_eq(&written, &stored().await), "nothing written");

    // Concurrent read-modify-writes of one session: none is lost.
    let page = alice
        .post_form(site.app.url("/app-data"), &[("value", "0")])
        .await;
    assert_eq!(page.status, 204);
    let counted = AtomicUsize::new(0);
    let updates = (0..8).map(|_| async {
        let page = alice.post_form(site.app.url("/app-data/count"), &[]).await;
        assert_eq!(page.status, 200, "{page}\n{}", page.body);
        counted.fetch_add(1, Ordering::Relaxed);
    });
    futures_util::future::join_all(updates).await;
    assert_eq!(counted.load(Ordering::Relaxed), 8);
    let page = alice.fetch(site.app.url("/app-data")).await;
    assert_eq!(page.json()["data"], 8, "eight increments, none lost");

    // Another user's session is untouched; a request without a session gets a 401 problem.
    let bob = Browser::new();
    site.log_in(&bob, "/whoami", "bob").await;
    let page = bob.fetch(site.app.url("/app-data")).await;
    assert_eq!(page.json()["data"], Value::Null);
    let anonymous = Browser::new();
    let page = anonymous
        .post_form(site.app.url("/app-data/count"), &[])
        .await;
    assert_ne!(page.status, 200, "no session, no write: {page}");
}
