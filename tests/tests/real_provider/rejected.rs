//! Logins that must fail: at the provider, or with a callback that was tampered with, replayed
//! or opened in another browser. None of them may leave a session behind.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_at_the_provider_shows_an_error_page() {
    let env = Env::start().await;
    for at_provider in [
        AtProvider::Cancel,
        AtProvider::LogInThenCancelConsent("alice".into()),
    ] {
        let context = format!("{at_provider:?}");
        let browser = Browser::new();
        let first = browser.get(env.app.url("/whoami")).await;
        let journey = browser.follow_with(first, at_provider).await;
        journey.assert_no_server_error();
        assert!(!journey.truncated, "{context}: redirect loop:\n{journey}");
        let callbacks = journey.hops_to(CALLBACK);
        assert_eq!(
            callbacks.len(),
            1,
            "{context}: exactly one callback hop:\n{journey}"
        );
        assert_eq!(
            query_param(&callbacks[0].url, "error").as_deref(),
            Some("access_denied"),
            "{journey}"
        );
        let last = journey.last();
        assert_eq!(
            last.url.path(),
            CALLBACK,
            "{context}: should stop on the callback's error page:\n{journey}"
        );
        env.assert_rejected_callback(last, &context);
        assert!(
            env.session_cookie(&browser).is_none(),
            "{context}: no session cookie"
        );
        assert_eq!(env.sessions().await, 0, "{context}: nothing in the store");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_error_page_does_not_reflect_markup() {
    let env = Env::start().await;
    let browser = Browser::new();
    let callback = env
        .callback_url(&browser, "/whoami", AtProvider::log_in("alice"))
        .await;
    let mut url = with_query_param(&callback, "code", None);
    url = with_query_param(&url, "error", Some("<img src=x onerror=alert(1)>"));
    url = with_query_param(&url, "error_description", Some("<script>alert(1)</script>"));
    let page = browser.get(&url).await;
    env.assert_rejected_callback(&page, "error with markup");
    assert!(
        !page.body.contains("<script>alert(1)") && !page.body.contains("<img src=x"),
        "the error page reflects provider-supplied markup unescaped:\n{}",
        page.body
    );
    assert_eq!(env.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_missing_callback_parameters_are_rejected() {
    let env = Env::start().await;
    let browser = Browser::new();

    let callback = env
        .callback_url(&browser, "/whoami", AtProvider::log_in("alice"))
        .await;
    let state = query_param(&callback, "state").expect("state on the callback");
    let mut tampered_state = state.clone();
    let last = tampered_state.pop().expect("non-empty state");
    tampered_state.push(if last == 'A' { 'B' } else { 'A' });
    let page = browser
        .get(with_query_param(&callback, "state", Some(&tampered_state)))
        .await;
    env.assert_rejected_callback(&page, "state with its last character changed");

    let callback = env
        .callback_url(&browser, "/whoami", AtProvider::log_in("alice"))
        .await;
    let page = browser
        .get(with_query_param(
            &callback,
            "state",
            Some("not-a-state-we-issued"),
        ))
        .await;
    env.assert_rejected_callback(&page, "foreign state");

    let callback = env
        .callback_url(&browser, "/whoami", AtProvider::log_in("alice"))
        .await;
    let page = browser
        .get(with_query_param(&callback, "state", None))
        .await;
    env.assert_rejected_callback(&page, "missing state");

    let callback = env
        .callback_url(&browser, "/whoami", AtProvider::log_in("alice"))
        .await;
    let page = browser.get(with_query_param(&callback, "code", None)).await;
    env.assert_rejected_callback(&page, "missing code");

    assert!(env.session_cookie(&browser).is_none(), "no session cookie");
    assert_eq!(
        env.sessions().await,
        0,
        "a rejected login leaves nothing in the store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_with_another_issuer_is_rejected() {
    // RFC 9207 mix-up defence: the provider advertises
    // `authorization_response_iss_parameter_supported` and sends `iss` on the callback.
    let env = Env::start().await;
    assert_eq!(
        env.op.discovery()["authorization_response_iss_parameter_supported"],
        true
    );
    let browser = Browser::new();
    let callback = env
        .callback_url(&browser, "/whoami", AtProvider::log_in("alice"))
        .await;
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(env.op.issuer()),
        "{callback}"
    );
    let page = browser
        .get(with_query_param(
            &callback,
            "iss",
            Some("http://127.0.0.1:1"),
        ))
        .await;
    env.assert_rejected_callback(&page, "iss of another issuer");
    assert_eq!(
        env.sessions().await,
        0,
        "a rejected login leaves nothing in the store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_from_another_attempt_is_rejected() {
    // Two attempts in one browser; the callback carries attempt A's state with attempt B's code.
    // Only PKCE (B's code is bound to B's verifier) and nonce checks can catch this.
    let env = Env::start().await;
    let browser = Browser::new();
    let a = env
        .callback_url(&browser, "/tabs/a", AtProvider::log_in("alice"))
        .await;
    let b = env
        .callback_url(&browser, "/tabs/b", AtProvider::log_in("alice"))
        .await;
    let mixed = with_query_param(&a, "code", query_param(&b, "code").as_deref());
    let page = browser.get(&mixed).await;
    env.assert_rejected_callback(&page, "state of attempt A with the code of attempt B");
    assert_eq!(
        env.sessions().await,
        0,
        "a rejected login leaves nothing in the store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_without_the_attempt_cookie_is_rejected() {
    let env = Env::start().await;
    let victim = Browser::new();
    let callback = env
        .callback_url(&victim, "/whoami", AtProvider::log_in("alice"))
        .await;

    // Another browser (an attacker planting a login, or a lost cookie) opens the callback URL.
    let other = Browser::new();
    let page = other.get(&callback).await;
    env.assert_rejected_callback(&page, "callback without the attempt cookie");
    assert!(env.session_cookie(&other).is_none());
    assert_eq!(
        env.sessions().await,
        0,
        "a rejected login leaves nothing in the store"
    );

    // The rejected request must not have burnt the code: the real browser still logs in.
    let page = victim.get(&callback).await;
    assert_eq!(
        page.status, 303,
        "the genuine callback should still succeed: {page}\n{}",
        page.body
    );
    assert_eq!(env.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_callback_creates_no_second_session() {
    let env = Env::start().await;
    let browser = Browser::new();
    let first = browser.get(env.app.url("/whoami")).await;
    let attempt_set_cookie = first
        .set_cookie_headers()
        .into_iter()
        .find(|raw| is_attempt_cookie(raw.split('=').next().unwrap_or("")))
        .unwrap_or_else(|| panic!("no attempt cookie on {first}"));
    let journey = browser.follow(first).await;
    journey.assert_no_server_error();
    let callback = journey
        .hop(CALLBACK)
        .expect("went through the callback")
        .url
        .clone();
    assert_eq!(journey.last().status, 200, "{journey}");
    assert_eq!(env.sessions().await, 1);

    // A copy of the attempt cookie plus the callback URL: the provider refuses the used code.
    let thief = Browser::new();
    thief.add_cookie(&env.app.url(CALLBACK), &attempt_set_cookie);
    assert!(
        thief
            .cookie_names(&env.app.url(CALLBACK))
            .iter()
            .any(|n| is_attempt_cookie(n)),
        "the copied attempt cookie should be sent ({attempt_set_cookie})"
    );
    let page = thief.get(&callback).await;
    env.assert_rejected_callback(
        &page,
        "replayed callback with a copy of the attempt cookie (code already used)",
    );
    assert_eq!(
        env.sessions().await,
        1,
        "no second session from a replayed code"
    );

    // Same browser, same URL (back button, reload): the attempt is spent, so no code exchange
    // happens; the still logged-in user is sent home (not shown an error), and the existing
    // session is neither replaced nor duplicated.
    let session_before = browser.find_cookie(&env.app.url("/"), is_session_cookie);
    let page = browser.get(&callback).await;
    assert_eq!(
        page.status, 303,
        "replayed callback in the same browser: {page}\n{}",
        page.body
    );
    assert_eq!(page.location(), Some(env.app.url("/")), "{page}");
    assert!(
        page.find_set_cookie(is_session_cookie).is_none(),
        "no new session cookie: {page}"
    );
    assert_eq!(
        env.sessions().await,
        1,
        "no second session from a replayed callback"
    );
    assert_eq!(
        browser.find_cookie(&env.app.url("/"), is_session_cookie),
        session_before
    );
    let me = browser.fetch(env.app.url("/whoami")).await;
    assert_eq!(me.status, 200, "the session still works: {me}");
    // The same reload from a browser that is no longer logged in gets a 4xx page, no session.
    let stranger = Browser::new();
    let page = stranger.get(&callback).await;
    env.assert_rejected_callback(&page, "replayed callback without a session");
    assert_eq!(env.sessions().await, 1);
}
