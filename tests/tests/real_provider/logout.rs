//! Logout: the form, the same-origin POST, and cross-site POSTs that must be refused.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_deletes_the_session() {
    let env = Env::start().await;
    let browser = Browser::new();
    let old_cookie = env.log_in_alice(&browser).await;
    assert_eq!(env.sessions().await, 1);

    let form_page = browser.get(env.app.url("/auth/logout")).await;
    assert_eq!(form_page.status, 200, "{form_page}");
    assert!(
        form_page.content_type().starts_with("text/html"),
        "{:?}",
        form_page.content_type()
    );
    let form = form_page
        .form("logout")
        .unwrap_or_else(|| panic!("no <form id=\"logout\">:\n{}", form_page.body));
    assert_eq!(form.method, Method::POST);
    assert_eq!(form.action, env.app.url("/auth/logout"));
    assert_eq!(
        env.sessions().await,
        1,
        "GET /auth/logout only shows the form"
    );

    let page = browser.submit(&form_page, "logout", &[]).await;
    assert_eq!(
        page.status, 303,
        "POST /auth/logout from the app's page: {page}\n{}",
        page.body
    );
    let logout_response = page.clone();
    let cleared = page.set_cookie("oidc_session").unwrap_or_else(|| {
        panic!(
            "logout should clear the cookie: {:?}",
            page.set_cookie_headers()
        )
    });
    assert!(
        cleared.value().is_empty()
            || cleared.max_age().is_some_and(|a| a.is_zero())
            || cleared
                .expires_datetime()
                .is_some_and(|t| t < cookie::time::OffsetDateTime::now_utc()),
        "logout should expire the session cookie: {cleared}"
    );
    assert!(
        env.session_cookie(&browser).is_none(),
        "the browser no longer holds a session cookie"
    );
    assert_eq!(
        env.sessions().await,
        0,
        "the session is deleted from the store"
    );

    env.assert_logged_out(&browser, "after logout").await;
    let replay = Browser::new();
    replay.add_cookie(
        &env.app.url("/"),
        &format!("oidc_session={old_cookie}; Path=/"),
    );
    env.assert_logged_out(&replay, "the old session cookie after logout")
        .await;
    let page = browser.get(env.app.url("/whoami")).await;
    env.assert_authorize_redirect(&page, "navigate after logout");
    // Checked last so that a wrong target does not hide the checks above. The default target is
    // the layer's "signed out" page, which (unlike a protected `/`) cannot log the user straight
    // back in through the provider's still-open session.
    assert_eq!(logout_response.status, 303, "{logout_response}");
    assert_eq!(
        logout_response.location(),
        Some(env.app.url("/auth/logged-out")),
        "logout goes to the signed-out page: {logout_response}"
    );
    let signed_out = browser.get(env.app.url("/auth/logged-out")).await;
    assert_eq!(signed_out.status, 200, "{signed_out}");
    assert!(
        signed_out.body.contains("signed out"),
        "{}",
        signed_out.body
    );
    assert_eq!(
        env.sessions().await,
        0,
        "viewing the signed-out page logs nobody in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_logout_is_refused() {
    let env = Env::start().await;
    let browser = Browser::new();
    env.log_in_alice(&browser).await;
    let cases: [(&str, &[(&str, &str)]); 4] = [
        (
            "cross-site form post",
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            "foreign Origin, no Sec-Fetch-Site (older browser)",
            &[("origin", "http://evil.example"), ("sec-fetch-site", "")],
        ),
        (
            "Sec-Fetch-Site: cross-site, no Origin",
            &[("origin", ""), ("sec-fetch-site", "cross-site")],
        ),
        (
            "Origin: null (sandboxed frame), no Sec-Fetch-Site",
            &[("origin", "null"), ("sec-fetch-site", "")],
        ),
    ];
    for (what, headers) in cases {
        let page = browser
            .post_form_with(env.app.url("/auth/logout"), &[], headers)
            .await;
        assert_eq!(
            page.status, 403,
            "{what}: expected 403, got {page}\n{}",
            page.body
        );
        assert_eq!(env.sessions().await, 1, "{what}: the session must survive");
        env.assert_logged_in(&browser, "u-1001-alice", what).await;
    }
}
