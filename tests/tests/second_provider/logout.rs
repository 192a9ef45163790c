//! RP-initiated logout at django-oidc-provider's end-session endpoint: it takes the ID token
//! hint's `aud` as the client, accepts a registered `post_logout_redirect_uri` as is, logs the
//! user out of Django without a confirmation page and sends the browser back with the `state`.

use oidc_e2e::{is_logout_cookie, query_param};

use super::*;

/// Logs alice in, then POSTs the app's logout form; returns the layer's answer (a 303).
async fn log_in_and_post_logout(env: &Env, browser: &Browser) -> Page {
    env.log_in(browser, "alice").await;
    assert_eq!(env.sessions().await, 1);
    let form_page = browser.get(env.app.url("/auth/logout")).await;
    assert_eq!(form_page.status, 200, "{form_page}");
    let page = browser.submit(&form_page, "logout", &[]).await;
    assert_eq!(
        page.status, 303,
        "POST /auth/logout from the app's page: {page}\n{}",
        page.body
    );
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_app_session_and_the_provider_session() {
    let env = Env::start().await;
    let browser = Browser::new();
    let logout = log_in_and_post_logout(&env, &browser).await;
    assert_eq!(
        env.sessions().await,
        0,
        "the session is deleted before the browser goes to the provider"
    );

    let location = logout
        .location()
        .unwrap_or_else(|| panic!("no Location: {logout}"));
    let end_session = env.op.endpoint("end_session_endpoint");
    assert_eq!(
        (location.origin(), location.path()),
        (end_session.origin(), end_session.path()),
        "logout goes to the provider's end_session_endpoint: {logout}"
    );
    let post_logout = env.app.url("/auth/logged-out");
    assert_eq!(
        query_param(&location, "post_logout_redirect_uri"),
        Some(post_logout.to_string()),
        "{location}"
    );
    let hint = query_param(&location, "id_token_hint")
        .unwrap_or_else(|| panic!("no id_token_hint: {location}"));
    let hint = jwt_payload(&hint);
    assert_eq!(
        (&hint["iss"], &hint["sub"], &hint["aud"]),
        (
            &json!(env.op.issuer()),
            &json!(env.op.sub("alice")),
            &json!(env.op.client_id())
        ),
        "the hint is alice's ID token from this provider (its aud names the client): {hint}"
    );
    let state = query_param(&location, "state").unwrap_or_else(|| panic!("no state: {location}"));

    // No confirmation page: the provider logs alice out and sends the browser straight back.
    let at_provider = browser.click(&logout, location).await;
    let mut expected = post_logout.clone();
    expected.query_pairs_mut().append_pair("state", &state);
    assert_eq!(
        at_provider.location(),
        Some(expected),
        "back to the app with the state: {at_provider}\n{}",
        env.op.log_tail()
    );
    let journey = browser.follow_with(at_provider, AtProvider::Stay).await;
    journey.assert_no_server_error();
    let signed_out = journey.last();
    assert_eq!(
        (signed_out.status.as_u16(), signed_out.url.path()),
        (200, "/auth/logged-out"),
        "the signed-out page: {journey}"
    );
    assert!(
        signed_out.body.contains("signed out"),
        "{}",
        signed_out.body
    );
    assert_eq!(
        browser.find_cookie(&env.app.url("/"), is_logout_cookie),
        None,
        "the logout state is single-use"
    );
    env.assert_logged_out(&browser, "after logout").await;

    // The provider's session is over too: a new login shows Django's login form again.
    let first = browser.get(env.app.url("/whoami")).await;
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    let last = journey.last();
    assert!(
        last.url.origin() == env.op.origin() && last.form("login").is_some(),
        "after logout the provider asks for the password again:\n{journey}"
    );
    assert_eq!(env.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_return_with_a_tampered_state_is_refused() {
    let env = Env::start().await;
    let browser = Browser::new();
    let logout = log_in_and_post_logout(&env, &browser).await;
    let location = logout.location().expect("a Location");
    let at_provider = browser.click(&logout, location).await;
    let back = at_provider
        .location()
        .unwrap_or_else(|| panic!("no Location: {at_provider}"));
    let state = query_param(&back, "state").expect("the state comes back");
    let tampered = oidc_e2e::with_query_param(&back, "state", Some(&format!("{state}x")));
    let page = browser.get(tampered).await;
    assert_eq!(
        page.status, 400,
        "a state this browser did not leave with is refused: {page}\n{}",
        page.body
    );
    env.assert_logged_out(&browser, "after a tampered logout return")
        .await;
    assert_eq!(env.sessions().await, 0);
}
