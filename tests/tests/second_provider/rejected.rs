//! Logins that must fail against django-oidc-provider, leaving no session behind.

use oidc_e2e::{query_param, with_query_param};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_refused_at_the_token_endpoint() {
    let env = Env::start_custom(
        |options| options,
        |_, config| config.client_secret("wrong-secret"),
    )
    .await;
    let browser = Browser::new();
    let callback = env
        .callback_url(&browser, AtProvider::log_in("alice"))
        .await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    let page = browser.get(callback).await;
    env.assert_rejected_callback(&page, "a wrong client secret");
    // django-oidc-provider answers a wrong secret with 400 invalid_client (RFC 6749 5.2 asks
    // for 401 when the client authenticated with HTTP Basic); either way the code is spent.
    assert_eq!(
        env.provider_requests("POST /openid/token", 400).await,
        1,
        "{}",
        env.op.log_tail()
    );
    assert_eq!(env.op.count_log_lines("[Token] Invalid client secret"), 1);
    assert_eq!(env.sessions().await, 0);
    env.assert_logged_out(&browser, "after the refused exchange")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_missing_callback_parameters_are_rejected() {
    let env = Env::start().await;
    let browser = Browser::new();

    let callback = env
        .callback_url(&browser, AtProvider::log_in("alice"))
        .await;
    let state = query_param(&callback, "state").expect("state on the callback");
    let mut tampered = state.clone();
    let last = tampered.pop().expect("non-empty state");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let page = browser
        .get(with_query_param(&callback, "state", Some(&tampered)))
        .await;
    env.assert_rejected_callback(&page, "state with its last character changed");

    let callback = env
        .callback_url(&browser, AtProvider::log_in("alice"))
        .await;
    let page = browser
        .get(with_query_param(&callback, "state", None))
        .await;
    env.assert_rejected_callback(&page, "missing state");

    let callback = env
        .callback_url(&browser, AtProvider::log_in("alice"))
        .await;
    let page = browser
        .get(with_query_param(
            &callback,
            "code",
            Some("0123456789abcdef0123456789abcdef"),
        ))
        .await;
    env.assert_rejected_callback(&page, "a code the provider never issued");

    assert!(env.session_cookie(&browser).is_none(), "no session cookie");
    assert_eq!(
        env.sessions().await,
        0,
        "a rejected login leaves nothing in the store"
    );
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        0,
        "no code was redeemed\n{}",
        env.op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_consent_shows_an_error_page() {
    let env = Env::start().await;
    let browser = Browser::new();
    let first = browser.get(env.app.url("/whoami")).await;
    // Stay on the consent page after logging in (the first login of alice at this client).
    let journey = browser
        .follow_until(first, AtProvider::log_in("alice"), |u| {
            u.path() == "/openid/authorize" && u.query().is_none()
        })
        .await;
    let consent = journey
        .hops
        .iter()
        .rev()
        .find(|page| page.form("decline").is_some())
        .unwrap_or_else(|| panic!("no consent page:\n{journey}"))
        .clone();
    let declined = browser.submit(&consent, "decline", &[]).await;
    let location = declined
        .location()
        .unwrap_or_else(|| panic!("no redirect after declining: {declined}"));
    assert_eq!(location.path(), CALLBACK, "{declined}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied"),
        "{location}"
    );
    let journey = browser.follow_with(declined, AtProvider::Stay).await;
    let last = journey.last();
    assert_eq!(last.url.path(), CALLBACK, "{journey}");
    env.assert_rejected_callback(last, "declined consent");
    assert_eq!(env.sessions().await, 0);
}

/// RFC 6749 2.3.1: with `client_secret_basic` the client id and secret are form-urlencoded
/// before they are joined and base64-encoded. The layer does that (and picks basic, as the
/// provider lists both methods); django-oidc-provider 0.9.0 compares the decoded string with
/// the stored secret without undoing the encoding, so a secret with characters the encoding
/// changes (`+`, `/`, `=`, `:`...) never matches. Its own generated secrets are hex: those work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_form_encoding_changes_is_refused_by_this_provider() {
    let env = Env::start_custom(
        |mut options| {
            options.client_secret = "test+secret/with=specials".into();
            options
        },
        |_, config| config,
    )
    .await;
    let browser = Browser::new();
    let callback = env
        .callback_url(&browser, AtProvider::log_in("alice"))
        .await;
    let page = browser.get(callback).await;
    env.assert_rejected_callback(&page, "a secret changed by form-encoding");
    assert_eq!(
        env.provider_requests("POST /openid/token", 400).await,
        1,
        "{}",
        env.op.log_tail()
    );
    assert_eq!(env.op.count_log_lines("[Token] Invalid client secret"), 1);
    assert_eq!(env.sessions().await, 0);
}

/// The package's discovery document lists HS256 next to RS256, and a client set to HS256 gets
/// ID tokens signed with its client secret. The layer never accepts HMAC-signed ID tokens
/// (the secret is shared, so such a token proves nothing the provider alone could sign).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hs256_id_token_is_refused() {
    let env = Env::start_custom(
        |mut options| {
            options.jwt_alg = "HS256".into();
            options
        },
        |_, config| config,
    )
    .await;
    let algs = &env.op.discovery()["id_token_signing_alg_values_supported"];
    assert!(
        algs.as_array().is_some_and(|a| a.contains(&json!("HS256"))),
        "{algs}"
    );
    let browser = Browser::new();
    let callback = env
        .callback_url(&browser, AtProvider::log_in("alice"))
        .await;
    let page = browser.get(callback).await;
    env.assert_rejected_callback(&page, "an HS256 ID token");
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        1,
        "the provider issued the tokens; the layer refused the ID token\n{}",
        env.op.log_tail()
    );
    assert_eq!(env.sessions().await, 0);
}
