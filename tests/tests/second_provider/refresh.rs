//! Refresh: django-oidc-provider issues a refresh token with every code exchange (no
//! `offline_access` needed) and rotates it at each refresh. Short access tokens
//! (`OIDC_TOKEN_EXPIRE`) make the layer refresh on the request path.

use std::time::{Duration, Instant};

use super::*;

/// Seconds an access token lives (OIDC_TOKEN_EXPIRE).
const SHORT_TTL: u64 = 2;

/// An app whose provider's access tokens live [`SHORT_TTL`] seconds; the layer hands the
/// token to the app (`/token`) and refreshes only once it has expired (`refresh_margin` 0).
async fn start() -> Env {
    Env::start_custom(
        |mut options| {
            options.token_expire = Some(SHORT_TTL);
            options
        },
        |_, config| {
            config
                .expose_access_token(true)
                .refresh_margin(Duration::ZERO)
        },
    )
    .await
}

/// `fetch('/token')`: asserts a 200 for `sub` and returns the access token the app was given.
async fn access_token(env: &Env, browser: &Browser, sub: &str, context: &str) -> String {
    let page = browser.fetch(env.app.url("/token")).await;
    assert_eq!(
        page.status,
        200,
        "{context}: the session should work: {page}\n{}",
        env.op.log_tail()
    );
    let json = page.json();
    assert_eq!(json["sub"], sub, "{context}: {}", page.body);
    json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: no access token: {}", page.body))
        .to_owned()
}

/// What the provider's userinfo endpoint answers to `token`.
async fn userinfo_status(env: &Env, token: &str) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("build the reqwest client")
        .get(env.op.endpoint("userinfo_endpoint"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo request")
        .status()
        .as_u16()
}

/// Sleeps until `seconds` (and half a second more) after `from`.
async fn sleep_past(from: Instant, seconds: u64) {
    tokio::time::sleep_until(
        (from + Duration::from_secs(seconds) + Duration::from_millis(500)).into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_outlives_its_access_token_through_rotating_refreshes() {
    let env = start().await;
    let browser = Browser::new();
    let sub = env.op.sub("alice");
    env.log_in(&browser, "alice").await;
    let cookie = env.session_cookie(&browser).expect("a session cookie");
    let mut since = Instant::now();
    let first = access_token(&env, &browser, &sub, "after login").await;
    assert_eq!(userinfo_status(&env, &first).await, 200);
    let mut seen = vec![first];
    for round in 1..=2 {
        sleep_past(since, SHORT_TTL).await;
        let context = format!("after expiry #{round}");
        assert_eq!(
            userinfo_status(&env, seen.last().expect("a token")).await,
            401,
            "{context}: the provider no longer takes the expired token"
        );
        let token = access_token(&env, &browser, &sub, &context).await;
        since = Instant::now();
        assert!(!seen.contains(&token), "{context}: a new access token");
        assert_eq!(
            userinfo_status(&env, &token).await,
            200,
            "{context}: the refreshed token works at the provider"
        );
        // Login's exchange plus one refresh per round, each with the refresh token the
        // previous answer rotated in (the provider deletes the old one).
        assert_eq!(
            env.provider_requests("POST /openid/token", 200).await,
            1 + round,
            "{context}\n{}",
            env.op.log_tail()
        );
        seen.push(token);
    }
    assert_eq!(
        env.provider_requests("POST /openid/token", 400).await,
        0,
        "no refused token request\n{}",
        env.op.log_tail()
    );
    // Same session throughout, and the groups (from userinfo) survived the refreshes.
    assert_eq!(
        env.session_cookie(&browser).as_deref(),
        Some(cookie.as_str())
    );
    assert_eq!(env.sessions().await, 1);
    let identity = env.whoami(&browser, "after the refreshes").await;
    assert_eq!(identity["groups"], json!(["admins", "users"]), "{identity}");
    assert_eq!(identity["roles"], json!(["admin"]), "{identity}");
}

/// django-oidc-provider puts the user's `last_login` into `auth_time`, also in refreshed ID
/// tokens; OpenID Connect Core 12.2 wants the time of the original authentication there. So
/// once the same user signs in again anywhere (another browser, another app of the same
/// provider), the first session's next refresh brings an ID token whose `auth_time` is not
/// the login's. The layer refuses it, as 12.2 requires, and that session ends: the user signs
/// in again. The session that signed in last keeps refreshing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_login_elsewhere_makes_the_earlier_sessions_refresh_fail() {
    let env = start().await;
    let sub = env.op.sub("alice");
    let first = Browser::new();
    env.log_in(&first, "alice").await;
    let first_login = Instant::now();
    // auth_time has whole seconds: the second login must be in a later second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = Browser::new();
    env.log_in(&second, "alice").await;
    let second_login = Instant::now();
    assert_eq!(env.sessions().await, 2);

    sleep_past(first_login, SHORT_TTL).await;
    let page = first.fetch(env.app.url("/token")).await;
    assert_eq!(
        page.status,
        401,
        "the earlier session ends at its refresh: {page}\n{}",
        env.op.log_tail()
    );
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        3,
        "the provider granted the refresh (two logins, one refresh); the layer refused its ID token\n{}",
        env.op.log_tail()
    );
    assert_eq!(env.sessions().await, 1, "only the later session is left");

    sleep_past(second_login, SHORT_TTL).await;
    access_token(&env, &second, &sub, "the later session after its refresh").await;
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        4,
        "two logins, the refused refresh, the later session's refresh\n{}",
        env.op.log_tail()
    );

    // The earlier browser signs in again, without a password: the provider's Django session
    // is still there.
    let page = first.get(env.app.url("/token")).await;
    let journey = first.follow_with(page, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert!(
        journey
            .hops
            .iter()
            .all(|page| page.form("login").is_none() && page.form("consent").is_none()),
        "no provider page:\n{journey}"
    );
    assert_eq!(journey.last().json()["sub"], sub, "{journey}");
}

/// Requests arriving together at expiry: one refresh at the provider (which deletes the old
/// refresh token at once: a second redemption would be refused and end the session), and every
/// request gets the one new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_at_expiry_refresh_once() {
    const REQUESTS: usize = 12;
    let env = start().await;
    let browser = Browser::new();
    let sub = env.op.sub("alice");
    env.log_in(&browser, "alice").await;
    let since = Instant::now();
    let first = access_token(&env, &browser, &sub, "after login").await;
    sleep_past(since, SHORT_TTL).await;
    let pages =
        futures_util::future::join_all((0..REQUESTS).map(|_| browser.fetch(env.app.url("/token"))))
            .await;
    let mut tokens = Vec::new();
    for page in pages {
        assert_eq!(page.status, 200, "{page}\n{}", env.op.log_tail());
        tokens.push(page.json()["access_token"].as_str().map(str::to_owned));
    }
    let refreshed = tokens[0].clone().expect("a token");
    assert_ne!(refreshed, first);
    assert!(
        tokens
            .iter()
            .all(|t| t.as_deref() == Some(refreshed.as_str())),
        "every request got the one refreshed token: {tokens:?}"
    );
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        2,
        "the login's exchange and exactly one refresh\n{}",
        env.op.log_tail()
    );
    assert_eq!(env.provider_requests("POST /openid/token", 400).await, 0);
    assert_eq!(env.sessions().await, 1);
}

/// django-oidc-provider 0.9.0 checks neither `is_active` at its token endpoint nor at userinfo:
/// a user an administrator deactivated keeps refreshing, and the app's session goes on until
/// it ends by itself (`session_max_age`). The provider's own Django session ends (a new login
/// is refused). To end the app sessions too, delete the user's tokens at the provider when
/// deactivating (`Token.objects.filter(user=user).delete()`: the next refresh is then
/// refused and the session ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_keeps_refreshing_at_this_provider() {
    let env = start().await;
    let browser = Browser::new();
    let sub = env.op.sub("bob");
    env.log_in(&browser, "bob").await;
    let since = Instant::now();
    let first = access_token(&env, &browser, &sub, "after login").await;
    assert_eq!(
        env.op.manage(&["deactivate", "bob"]).await.trim(),
        "deactivated bob"
    );

    sleep_past(since, SHORT_TTL).await;
    let token = access_token(&env, &browser, &sub, "after bob was deactivated").await;
    assert_ne!(token, first, "refreshed for a deactivated user");
    assert_eq!(userinfo_status(&env, &token).await, 200);
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        2,
        "{}",
        env.op.log_tail()
    );

    // A new login as bob is refused by Django's login form.
    let other = Browser::new();
    let first = other.get(env.app.url("/whoami")).await;
    let journey = other.follow_with(first, AtProvider::log_in("bob")).await;
    let last = journey.last();
    assert!(
        last.url.origin() == env.op.origin() && last.has_element_id("error"),
        "Django refuses the deactivated user's password:\n{journey}"
    );
    assert_eq!(env.sessions().await, 1, "only the session from before");

    // Deleting the user's tokens at the provider ends the app's session at its next refresh.
    let said = env
        .op
        .manage(&["deactivate", "bob", "--delete-tokens"])
        .await;
    assert!(said.contains("deleted 1 token(s)"), "{said}");
    let since = Instant::now();
    sleep_past(since, SHORT_TTL).await;
    let page = browser.fetch(env.app.url("/token")).await;
    assert_eq!(
        page.status,
        401,
        "the refused refresh ends the session: {page}\n{}",
        env.op.log_tail()
    );
    assert_eq!(env.provider_requests("POST /openid/token", 400).await, 1);
    assert_eq!(env.sessions().await, 0);
}
