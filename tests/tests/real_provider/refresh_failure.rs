//! `refresh_failure = "end"` against the real provider: when a refresh is due and the provider
//! cannot be reached, the session ends at that request (not when its access token expires,
//! which is what `keep_until_expiry` does, below; the default, `suspend`, is tested in
//! lifetime.rs): the record is deleted, an API call gets
//! a 401, a page the sign-in (here the page saying the provider is unreachable).

use std::time::{Duration, Instant};

use oidc_layer::RefreshFailure;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_refresh_failure_end_an_unreachable_provider_ends_the_session_at_the_next_upkeep() {
    // Access tokens for TTL s; a refresh is due half-way through (the margin is capped at half
    // the token's lifetime), long before the token expires, so only the policy can end the
    // session.
    const TTL: u64 = 20;
    const MARGIN: u64 = 18;
    let started = Instant::now();
    let mut env = Env::start_custom(
        |_, mut options| {
            options.access_token_ttl = Some(TTL);
            options
        },
        |_, builder| {
            builder
                .expose_access_token(true)
                .refresh_margin(Duration::from_secs(MARGIN))
                .refresh_failure(RefreshFailure::End)
        },
    )
    .await;
    let browser = Browser::new();
    let cookie = env.log_in_alice(&browser).await;
    let other = Browser::new();
    let other_cookie = env.log_in_alice(&other).await;
    assert_eq!(env.sessions().await, 2);

    // The provider goes away; then the refresh falls due.
    env.op.stop().await;
    tokio::time::sleep_until((started + Duration::from_secs(TTL / 2 + 1)).into()).await;

    // An API call: the upkeep tries the refresh, cannot reach the provider, ends the session.
    // The request waits for that at most 500 ms (its access token is still live); on a machine
    // too busy to finish the attempt by then it is served as before, and the ended session
    // shows at a later request. Either way the end must come from the policy, long before the
    // token expires.
    let page = loop {
        let page = browser.fetch(env.app.url("/token")).await;
        assert!(
            started.elapsed() < Duration::from_secs(TTL - 2),
            "the access token may have expired before the check: the test cannot tell the policy apart: {page}"
        );
        if page.status != 200 {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let problem = page.problem(401);
    assert!(problem["login_url"].is_string(), "{}", page.body);
    assert!(!env.has_session(&cookie).await, "deleted from the store");
    assert_eq!(env.sessions().await, 1, "only the other browser's session");

    // The other session ends at its own next request, by navigation this time: its record
    // gone, and instead of the page a new sign-in, which cannot start while the provider is
    // down: the page that says so. As above, a machine too busy to finish the refresh attempt
    // within the live-token wait serves the page once more first.
    let page = loop {
        let page = other.get(env.app.url("/whoami")).await;
        assert!(
            started.elapsed() < Duration::from_secs(TTL - 2),
            "the access token may have expired before the check: {page}"
        );
        if page.status != 200 {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page.status, 503, "a page after the failed refresh: {page}");
    assert!(
        page.body.contains("The sign-in service is unreachable"),
        "{}",
        page.body
    );
    assert!(
        !env.has_session(&other_cookie).await,
        "deleted from the store"
    );
    assert_eq!(env.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keep_until_expiry_an_unreachable_provider_ends_the_session_when_its_token_expires() {
    // The policy before "suspend" became the default: the session goes on while its access
    // token is live (lifetime.rs shows that part) and ends once it has expired.
    const TTL: u64 = 6;
    let mut env = Env::start_custom(
        |_, mut options| {
            options.access_token_ttl = Some(TTL);
            options
        },
        |_, builder| {
            builder
                .expose_access_token(true)
                .refresh_failure(RefreshFailure::KeepUntilExpiry)
        },
    )
    .await;
    let browser = Browser::new();
    let cookie = env.log_in_alice(&browser).await;
    let logged_in = Instant::now();
    env.op.stop().await;
    tokio::time::sleep_until((logged_in + Duration::from_secs(TTL + 1)).into()).await;
    let page = browser.fetch(env.app.url("/token")).await;
    let problem = page.problem(401);
    assert!(problem["login_url"].is_string(), "{}", page.body);
    assert!(!env.has_session(&cookie).await, "deleted from the store");
    assert_eq!(env.sessions().await, 0);
}
