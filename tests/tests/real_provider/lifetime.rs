//! Session lifetime against the real provider: access tokens that expire after a few seconds,
//! refreshed (with rotating refresh tokens) by the layer on the request path, once per session
//! however many requests arrive together, and once per token when tokens live shorter than
//! the refresh margin; a refused refresh ends the session; without a
//! refresh token the session ends with its access token; a provider outage keeps sessions
//! until their access token really expires, and the layer recovers when the provider comes
//! back on the same address; an idle session ends after the idle timeout (at least a minute,
//! so that test takes 70 s) while an active one lives on.
//!
//! Every wait is "until a known expiry has passed", never a bound on how long something took.

use std::time::{Duration, Instant};

use oidc_layer::{OidcConfigBuilder, SessionId, SessionStore};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use super::*;

const ALICE_SUB: &str = "u-1001-alice";
/// The provider's access-token lifetime in most tests here, in seconds.
const SHORT_TTL: u64 = 3;
/// The provider's log line of a successful refresh (see op.mjs `grant.success`).
const REFRESH_GRANT: &str = "grant.success refresh_token";
/// The provider's log line of a refused token request (see op.mjs `grant.error`).
const GRANT_ERROR: &str = "grant.error";

/// An app whose provider issues access tokens for `ttl` seconds, with rotating refresh tokens
/// when `refresh` (else none: `OP_REFRESH=offline_access` and that scope is not requested).
/// The layer exposes the access token (`/token`) and refreshes only once it has expired
/// (`refresh_margin` 0) unless `config` says otherwise.
async fn start(
    ttl: u64,
    refresh: bool,
    config: impl FnOnce(OidcConfigBuilder) -> OidcConfigBuilder,
) -> Env {
    Env::start_custom(
        |_, mut options| {
            options.access_token_ttl = Some(ttl);
            options.env.push(("OP_ROTATE_REFRESH".into(), "1".into()));
            if !refresh {
                options
                    .env
                    .push(("OP_REFRESH".into(), "offline_access".into()));
            }
            options
        },
        |_, builder| {
            config(
                builder
                    .expose_access_token(true)
                    .refresh_margin(Duration::ZERO),
            )
        },
    )
    .await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("build the reqwest client")
}

/// `fetch('/token')`: asserts a 200 for alice and returns the access token the app was given.
async fn access_token(env: &Env, browser: &Browser, context: &str) -> String {
    let page = browser.fetch(env.app.url("/token")).await;
    assert_eq!(
        page.status,
        200,
        "{context}: the session should work: {page}\n{}",
        env.op.log_tail()
    );
    let json = page.json();
    assert_eq!(json["sub"], ALICE_SUB, "{context}: {}", page.body);
    json["access_token"]
        .as_str()
        .unwrap_or_else(|| {
            panic!(
                "{context}: no access token handed to the app: {}",
                page.body
            )
        })
        .to_owned()
}

/// What the provider's userinfo endpoint answers to `token`.
async fn userinfo_status(env: &Env, token: &str) -> StatusCode {
    http()
        .get(env.op.endpoint("userinfo_endpoint"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo request")
        .status()
}

/// Revokes `access_token` at the provider's revocation endpoint (client credentials). The
/// provider then revokes every token of that grant, refresh tokens included.
async fn revoke(env: &Env, access_token: &str) {
    let response = http()
        .post(env.op.endpoint("revocation_endpoint"))
        .basic_auth(env.op.client_id(), Some(env.op.client_secret()))
        .form(&[("token", access_token), ("token_type_hint", "access_token")])
        .send()
        .await
        .expect("revocation request");
    assert_eq!(response.status(), 200, "revocation: {response:?}");
    assert_eq!(
        userinfo_status(env, access_token).await,
        401,
        "the revoked access token is dead at the provider"
    );
}

/// Successful refresh grants at the provider so far.
async fn refresh_grants(env: &Env) -> usize {
    env.op.sync_log().await;
    env.op.count_log_lines(REFRESH_GRANT)
}

/// `count` requests, one after another, are all handed `expected` as the access token.
async fn assert_token_stays(
    env: &Env,
    browser: &Browser,
    expected: &str,
    count: usize,
    when: &str,
) {
    for i in 0..count {
        let context = format!("request {i} {when}");
        let token = access_token(env, browser, &context).await;
        assert_eq!(token, expected, "{context}: the same token");
    }
}

/// Sleeps until `seconds` (and half a second more) after `from`.
async fn sleep_past(from: Instant, seconds: u64) {
    tokio::time::sleep_until(
        (from + Duration::from_secs(seconds) + Duration::from_millis(500)).into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_outlives_its_access_token_through_refreshes() {
    let env = start(SHORT_TTL, true, |c| c).await;
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    let cookie = env.session_cookie(&browser).expect("a session cookie");
    let logged_in = Instant::now();
    let first = access_token(&env, &browser, "after login").await;
    assert_eq!(userinfo_status(&env, &first).await, 200);
    assert_eq!(refresh_grants(&env).await, 0, "no refresh before expiry");

    // Each expiry is passed in turn: the app keeps the session and gets a new, working token.
    let mut previous = first.clone();
    let mut seen = vec![first];
    let mut since = logged_in;
    for round in 1..=3 {
        sleep_past(since, SHORT_TTL).await;
        let context = format!("after expiry #{round}");
        let token = access_token(&env, &browser, &context).await;
        since = Instant::now();
        assert_ne!(
            token, previous,
            "{context}: the app should be handed a refreshed access token"
        );
        assert!(!seen.contains(&token), "{context}: a new token");
        assert_eq!(
            userinfo_status(&env, &token).await,
            200,
            "{context}: the refreshed token works at the provider"
        );
        assert_eq!(
            refresh_grants(&env).await,
            round,
            "{context}: one refresh per expiry\n{}",
            env.op.log_tail()
        );
        previous = token.clone();
        seen.push(token);
    }
    assert_eq!(
        env.op.count_log_lines(GRANT_ERROR),
        0,
        "{}",
        env.op.log_tail()
    );
    // The same session throughout: same cookie, one record, navigations work too.
    assert_eq!(
        env.session_cookie(&browser).as_deref(),
        Some(cookie.as_str())
    );
    assert_eq!(env.sessions().await, 1);
    let page = browser.get(env.app.url("/whoami")).await;
    assert_eq!(page.status, 200, "{page}");
    assert_eq!(page.json()["sub"], ALICE_SUB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_at_expiry_refresh_once() {
    const REQUESTS: usize = 50;
    let env = Arc::new(start(SHORT_TTL, true, |c| c).await);
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    let logged_in = Instant::now();
    let first = access_token(&env, &browser, "after login").await;
    sleep_past(logged_in, SHORT_TTL).await;

    // Every request of the session arrives at once, after the access token expired.
    let mut requests = JoinSet::new();
    for i in 0..REQUESTS {
        let (env, browser) = (env.clone(), browser.clone());
        requests.spawn(async move {
            let page = browser.fetch(env.app.url(&format!("/token?i={i}"))).await;
            (i, page)
        });
    }
    let mut tokens = Vec::new();
    while let Some(joined) = requests.join_next().await {
        let (i, page) = joined.expect("request task");
        assert_eq!(
            page.status, 200,
            "request {i} at expiry must not be logged out: {page}"
        );
        let json = page.json();
        assert_eq!(json["sub"], ALICE_SUB, "request {i}: {}", page.body);
        tokens.push(json["access_token"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(tokens.len(), REQUESTS);
    let refreshed = &tokens[0];
    assert_ne!(refreshed, &first, "the requests got a refreshed token");
    assert!(
        tokens.iter().all(|t| t == refreshed),
        "every request got the one refreshed token: {} distinct",
        tokens
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    assert_eq!(
        refresh_grants(&env).await,
        1,
        "{REQUESTS} concurrent requests: exactly one refresh at the provider\n{}",
        env.op.log_tail()
    );
    assert_eq!(
        env.op.count_log_lines(GRANT_ERROR),
        0,
        "no request redeemed a spent (rotated) refresh token\n{}",
        env.op.log_tail()
    );
    assert_eq!(env.sessions().await, 1);
    assert_eq!(access_token(&env, &browser, "afterwards").await, *refreshed);
}

/// Tokens that live shorter than the refresh margin (20 s against the default 60 s; providers
/// issuing 60-s tokens meet the default margin the same way): the effective margin is half the
/// token's lifetime. No refresh right after login, none while requests keep coming in the
/// token's first half, then exactly one for 40 requests arriving together, and the refreshed
/// token is not due again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_shorter_than_the_margin_is_refreshed_once_half_way() {
    const TTL: u64 = 20;
    const REQUESTS: usize = 40;
    let env = Arc::new(start(TTL, true, |c| c.refresh_margin(Duration::from_secs(60))).await);
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    // The token was issued during the login, so it is due by TTL / 2 after this.
    let logged_in = Instant::now();
    let first = access_token(&env, &browser, "right after login").await;
    assert_token_stays(&env, &browser, &first, REQUESTS, "after login").await;
    assert_eq!(
        refresh_grants(&env).await,
        0,
        "no refresh in the token's first half\n{}",
        env.op.log_tail()
    );

    // Half-way: every request of the session arrives at once.
    sleep_past(logged_in, TTL / 2).await;
    let mut requests = JoinSet::new();
    for i in 0..REQUESTS {
        let (env, browser) = (env.clone(), browser.clone());
        requests.spawn(async move {
            let page = browser.fetch(env.app.url(&format!("/token?i={i}"))).await;
            (i, page)
        });
    }
    let mut tokens = std::collections::BTreeSet::new();
    while let Some(joined) = requests.join_next().await {
        let (i, page) = joined.expect("request task");
        assert_eq!(page.status, 200, "request {i} half-way: {page}");
        tokens.insert(
            page.json()["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(tokens.len(), 1, "one refreshed token for all: {tokens:?}");
    let refreshed = tokens.pop_first().unwrap_or_default();
    assert_ne!(refreshed, first, "the requests got a refreshed token");
    assert_eq!(
        refresh_grants(&env).await,
        1,
        "{REQUESTS} requests half-way: exactly one refresh\n{}",
        env.op.log_tail()
    );

    // The refreshed token lives TTL again: not due at the next requests.
    assert_token_stays(&env, &browser, &refreshed, REQUESTS, "after the refresh").await;
    assert_eq!(
        refresh_grants(&env).await,
        1,
        "no refresh right after a refresh\n{}",
        env.op.log_tail()
    );
    assert_eq!(
        env.op.count_log_lines(GRANT_ERROR),
        0,
        "{}",
        env.op.log_tail()
    );
    assert_eq!(env.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_ends_the_session() {
    let env = start(SHORT_TTL, true, |c| c).await;
    // Two browsers of alice (two provider sessions, two grants): one navigates, one fetches.
    let person = Browser::new();
    let script = Browser::new();
    env.log_in(&person, "/tabs/inbox", "alice").await;
    env.log_in(&script, "/whoami", "alice").await;
    let logged_in = Instant::now();
    let person_cookie = env.session_cookie(&person).expect("a session cookie");
    let script_cookie = env.session_cookie(&script).expect("a session cookie");
    assert_eq!(env.sessions().await, 2);
    for browser in [&person, &script] {
        let token = access_token(&env, browser, "before revocation").await;
        revoke(&env, &token).await;
    }
    // Until the access token expires the layer does not ask the provider.
    sleep_past(logged_in, SHORT_TTL).await;

    // A script: 401, and the session is gone from the store.
    let page = script.fetch(env.app.url("/whoami")).await;
    assert_eq!(
        page.status,
        401,
        "the refresh is refused: the session ends: {page}\n{}",
        env.op.log_tail()
    );
    assert!(
        page.content_type().starts_with("application/problem+json"),
        "{:?}",
        page.content_type()
    );
    assert!(
        !env.has_session(&script_cookie).await,
        "deleted from the store"
    );

    // A person: sent to log in again (the provider still has a session: no password asked)
    // and brought back to the page they asked for, with a new session.
    let page = person.get(env.app.url("/tabs/inbox?x=1")).await;
    env.assert_authorize_redirect(&page, "navigation after a refused refresh");
    assert!(
        !env.has_session(&person_cookie).await,
        "deleted from the store"
    );
    assert_eq!(env.sessions().await, 0, "both sessions ended");
    let journey = person.follow_with(page, AtProvider::log_in("alice")).await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (last.url.clone(), last.status),
        (env.app.url("/tabs/inbox?x=1"), StatusCode::OK),
        "back to the same page:\n{journey}"
    );
    assert_eq!(last.json()["identity"]["sub"], ALICE_SUB, "{}", last.body);
    let new_cookie = env.session_cookie(&person).expect("a new session cookie");
    assert_ne!(new_cookie, person_cookie, "a new session");
    assert_eq!(env.sessions().await, 1);
    env.op.sync_log().await;
    assert_eq!(
        env.op.count_log_lines(REFRESH_GRANT),
        0,
        "{}",
        env.op.log_tail()
    );
    assert!(
        env.op.count_log_lines("grant.error invalid_grant") >= 2,
        "both refreshes were refused by the provider:\n{}",
        env.op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_refresh_token_the_session_ends_with_its_access_token() {
    let env = start(SHORT_TTL, false, |c| c).await;
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    let logged_in = Instant::now();
    let cookie = env.session_cookie(&browser).expect("a session cookie");
    let id = SessionId::parse(&cookie).expect("a session id");
    let record = env
        .store
        .load(&id)
        .await
        .expect("store")
        .expect("the session record");
    assert!(
        record.expires_at <= std::time::SystemTime::now() + Duration::from_secs(SHORT_TTL),
        "the record ends with the access token, not after the maximum age"
    );

    sleep_past(logged_in, SHORT_TTL).await;
    env.assert_logged_out(&browser, "after the access token expired")
        .await;
    assert_eq!(env.sessions().await, 0, "the store holds no live session");
    let page = browser.get(env.app.url("/whoami")).await;
    env.assert_authorize_redirect(&page, "navigation after expiry");
    assert_eq!(
        refresh_grants(&env).await,
        0,
        "there was nothing to refresh with"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_refresh_token_a_session_may_outlive_its_access_token_when_configured() {
    let env = start(SHORT_TTL, false, |c| c.session_follows_token(false)).await;
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    let logged_in = Instant::now();
    let first = access_token(&env, &browser, "after login").await;
    sleep_past(logged_in, SHORT_TTL).await;
    let token = access_token(&env, &browser, "after the access token expired").await;
    assert_eq!(
        token, first,
        "nothing to refresh with: the app keeps the (expired) token"
    );
    assert_eq!(env.sessions().await, 1);
    assert_eq!(refresh_grants(&env).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_suspends_sessions_once_their_access_token_expires() {
    // Refresh is due MARGIN s before expiry: from TTL - MARGIN s after login on, each request
    // (at most every few seconds) tries it. (A margin is at most half the token's lifetime.)
    // The windows are wide (15 s to the first check, 5 s to the last) so that a slow machine
    // fails the checks below only when it stalls for seconds: they assert, never skip.
    const TTL: u64 = 30;
    const MARGIN: u64 = 15;
    // The access token expires TTL after its token request, so never before TTL after this.
    let started = Instant::now();
    let before_expiry =
        || started.elapsed() + Duration::from_millis(200) < Duration::from_secs(TTL);
    let mut env = start(TTL, true, |c| c.refresh_margin(Duration::from_secs(MARGIN))).await;
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    let logged_in = Instant::now();
    let cookie = env.session_cookie(&browser).expect("a session cookie");
    let first = access_token(&env, &browser, "after login").await;

    // A second person gets as far as the callback (holding a code) before the outage.
    let late = Browser::new();
    let page = late.get(env.app.url("/whoami")).await;
    let app_origin = env.app.origin();
    let journey = late
        .follow_until(page, AtProvider::log_in("bob"), |u| {
            u.origin() == app_origin && u.path() == CALLBACK
        })
        .await;
    let late_callback = journey
        .pending
        .clone()
        .unwrap_or_else(|| panic!("never reached the callback:\n{journey}"));

    // The provider goes away.
    let issuer = env.op.issuer().to_owned();
    let port = env.op.port();
    env.op.stop().await;

    // Refresh due, provider unreachable, access token still valid: the session goes on with
    // the token it has. Asserted only when the answer came before the token can have expired
    // (a machine stalled for seconds cannot tell).
    sleep_past(logged_in, TTL - MARGIN).await;
    let page = browser.fetch(env.app.url("/token")).await;
    assert!(
        before_expiry(),
        "the machine stalled until the access token expired: the check below cannot tell"
    );
    assert_eq!(page.status, 200, "provider down, token still valid: {page}");
    assert_eq!(
        page.json()["access_token"],
        first.as_str(),
        "the same token"
    );

    // A login cannot complete: the code cannot be redeemed. 503 page, nothing stored.
    let page = late.get(&late_callback).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "callback while the provider is down: {page}\n{}",
        page.body
    );
    assert!(
        page.content_type().starts_with("text/html"),
        "{:?}",
        page.content_type()
    );
    assert!(
        page.find_set_cookie(is_session_cookie).is_none(),
        "{:?}",
        page.set_cookie_headers()
    );
    assert_eq!(env.session_cookie(&late), None);
    assert_eq!(env.sessions().await, 1, "only alice's session");

    // Shortly before the expiry the session still works...
    tokio::time::sleep_until((started + Duration::from_secs(TTL - 5)).into()).await;
    let page = browser.fetch(env.app.url("/token")).await;
    assert!(
        before_expiry(),
        "the machine stalled until the access token expired: the check below cannot tell"
    );
    assert_eq!(page.status, 200, "provider down, token still valid: {page}");
    // ...and once the access token has expired nothing reaches the app on it: a 503 with
    // Retry-After while the provider is down (`refresh_failure = "suspend"`, the default), the
    // session kept for when the provider is back.
    sleep_past(logged_in, TTL).await;
    let page = browser.fetch(env.app.url("/token")).await;
    let problem = page.problem(503);
    assert_eq!(
        problem["title"], "Sign-in provider unreachable",
        "{}",
        page.body
    );
    assert_eq!(page.header("retry-after"), Some("5"), "{page}");
    let page = browser.get(env.app.url("/token")).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a navigation: {page}"
    );
    assert!(page.content_type().starts_with("text/html"), "{page}");
    assert!(!page.body.contains(first.as_str()), "no token on the page");
    assert!(env.has_session(&cookie).await, "the session is kept");
    assert_eq!(env.sessions().await, 1);

    // The provider comes back on the same address (all its state lost); the app is not
    // restarted: logins work again.
    env.op = Op::start(OpOptions {
        redirect_uris: vec![env.app.url(CALLBACK).to_string()],
        access_token_ttl: Some(TTL),
        env: vec![("OP_PORT".into(), port.to_string())],
        ..OpOptions::default()
    })
    .await;
    assert_eq!(env.op.issuer(), issuer, "the same issuer");
    // alice's refresh token died with the provider's state: the provider refuses it
    // (`invalid_grant`), which ends the session: 401, deleted. (Retried while the layer still
    // waits out its back-off after the outage: 503 meanwhile.)
    let waited = Instant::now();
    let page = loop {
        let page = browser.fetch(env.app.url("/token")).await;
        if page.status != StatusCode::SERVICE_UNAVAILABLE
            || waited.elapsed() > Duration::from_secs(20)
        {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        page.status, 401,
        "the refresh refused, the session ends: {page}"
    );
    assert!(!env.has_session(&cookie).await, "deleted from the store");
    assert_eq!(env.sessions().await, 0);
    // The layer gives a provider that just failed a few seconds before logins go to it again.
    oidc_e2e::until_logins_start(&browser, &env.app).await;
    env.log_in(&browser, "/whoami", "alice").await;
    assert_eq!(env.sessions().await, 1);
    let page = late.get(env.app.url("/whoami")).await;
    let journey = late.follow_with(page, AtProvider::log_in("bob")).await;
    journey.assert_no_server_error();
    assert_eq!(
        (journey.last().url.path(), journey.last().status),
        ("/whoami", StatusCode::OK),
        "{journey}"
    );
    assert_eq!(journey.last().json()["sub"], "u-1002-bob");
    assert_eq!(env.sessions().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_after_the_idle_timeout_and_an_active_one_lives_on() {
    const IDLE: Duration = Duration::from_secs(60);
    // Long-lived access tokens: only the idle timeout can end these sessions.
    let env = start(3600, true, |c| c.session_idle_timeout(IDLE)).await;
    let active = Browser::new();
    env.log_in_alice(&active).await;
    let idle = Browser::new();
    let idle_cookie = env.log_in_alice(&idle).await;
    let idle_since = Instant::now();

    let keep_active = async {
        // A request every 10 s is activity (written at most every tenth of the timeout).
        while idle_since.elapsed() < IDLE + Duration::from_secs(10) {
            env.assert_logged_in(&active, ALICE_SUB, "the active session")
                .await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    };
    let check_idle = async {
        tokio::time::sleep(IDLE / 2).await;
        assert!(
            env.has_session(&idle_cookie).await,
            "half-way through the timeout"
        );
        tokio::time::sleep(
            (idle_since + IDLE + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
        )
        .await;
        let page = idle.fetch(env.app.url("/whoami")).await;
        assert_eq!(page.status, 401, "an API call after {IDLE:?} idle: {page}");
        assert!(
            !env.has_session(&idle_cookie).await,
            "the idle session's record is gone"
        );
        let page = idle.get(env.app.url("/whoami")).await;
        env.assert_authorize_redirect(&page, &format!("a page after {IDLE:?} idle"));
    };
    tokio::join!(keep_active, check_idle);
    // Past the timeout since its login, the active session still works.
    env.assert_logged_in(&active, ALICE_SUB, "the active session after the timeout")
        .await;
}
