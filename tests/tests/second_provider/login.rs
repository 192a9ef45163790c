//! Login with PKCE through Django's login form and the package's consent page; the identity,
//! groups and roles the app is handed.

use std::time::Duration;

use oidc_e2e::query_param;
use oidc_layer::LoginOptions;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_pkce_gives_the_identity_groups_and_roles() {
    let env = Env::start().await;
    let browser = Browser::new();
    let journey = env.log_in(&browser, "alice").await;

    // The authorization request: code flow, PKCE S256, nonce, state, the groups scope.
    let authorize = env.op.endpoint("authorization_endpoint");
    let request = journey
        .urls()
        .into_iter()
        .find(|u| u.origin() == authorize.origin() && u.path() == authorize.path())
        .unwrap_or_else(|| panic!("no authorization request:\n{journey}"))
        .clone();
    assert_eq!(
        query_param(&request, "response_type").as_deref(),
        Some("code")
    );
    assert_eq!(
        query_param(&request, "code_challenge_method").as_deref(),
        Some("S256"),
        "{request}"
    );
    let challenge = query_param(&request, "code_challenge").expect("a code_challenge");
    assert_eq!(challenge.len(), 43, "base64url of a SHA-256: {challenge}");
    assert!(query_param(&request, "nonce").is_some(), "{request}");
    assert!(query_param(&request, "state").is_some(), "{request}");
    let scope = query_param(&request, "scope").unwrap_or_default();
    assert!(
        scope.split(' ').any(|s| s == "groups"),
        "the custom scope is requested: {scope:?}"
    );
    // Django's own login form and the package's consent page were on the way.
    assert_eq!(
        journey.hops_to("/accounts/login/").len(),
        2,
        "the login form (GET) and its POST:\n{journey}"
    );
    assert!(
        journey
            .hops
            .iter()
            .any(|page| page.form("consent").is_some()),
        "the consent page:\n{journey}"
    );

    // The identity: profile and email from userinfo (the ID token carries none of them),
    // groups from the custom scope, roles mapped from the groups.
    let identity = journey.last().json();
    assert_eq!(identity["iss"], env.op.issuer(), "{identity}");
    assert_eq!(identity["sub"], env.op.sub("alice"), "{identity}");
    assert_eq!(identity["username"], "alice", "{identity}");
    assert_eq!(identity["name"], "Alice Anderson", "{identity}");
    assert_eq!(identity["email"], "alice@example.test", "{identity}");
    assert_eq!(identity["email_verified"], true, "{identity}");
    assert_eq!(identity["groups"], json!(["admins", "users"]), "{identity}");
    assert_eq!(identity["roles"], json!(["admin"]), "{identity}");

    // One code exchange and one userinfo call, both accepted.
    assert_eq!(
        env.provider_requests("POST /openid/token", 200).await,
        1,
        "{}",
        env.op.log_tail()
    );
    assert_eq!(
        env.provider_requests("GET /openid/userinfo", 200).await,
        1,
        "{}",
        env.op.log_tail()
    );
    assert_eq!(env.sessions().await, 1);
    assert!(env.session_cookie(&browser).is_some());
    assert_eq!(
        env.whoami(&browser, "after login").await["sub"],
        env.op.sub("alice")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_gets_their_own_groups_and_roles() {
    let env = Env::start().await;
    let cases = [
        ("alice", json!(["admins", "users"]), json!(["admin"]), true),
        ("bob", json!(["users"]), json!(["trusted"]), false),
        ("carol", json!([]), json!(["untrusted"]), true),
    ];
    for (user, groups, roles, email_verified) in cases {
        let browser = Browser::new();
        let identity = env.log_in(&browser, user).await.last().json();
        assert_eq!(identity["sub"], env.op.sub(user), "{user}: {identity}");
        assert_eq!(identity["username"], user, "{user}: {identity}");
        assert_eq!(identity["groups"], groups, "{user}: {identity}");
        assert_eq!(identity["roles"], roles, "{user}: {identity}");
        assert_eq!(
            identity["email_verified"], email_verified,
            "{user}: {identity}"
        );
    }
    let subs = ["alice", "bob", "carol"].map(|user| env.op.sub(user));
    assert!(
        subs[0] != subs[1] && subs[1] != subs[2] && subs[0] != subs[2],
        "{subs:?}"
    );
    assert_eq!(env.sessions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_skips_the_consent_page_and_the_password() {
    // reuse_consent (the package's default): consent once per user and client; the provider's
    // Django session signs alice in again without her password.
    let env = Env::start().await;
    let browser = Browser::new();
    env.log_in(&browser, "alice").await;
    // A new app session in the same browser: drop the app's cookie, keep the provider's.
    let session = env.cookies.session().to_owned();
    browser.remove_cookie(&env.app.url("/"), &session);
    env.assert_logged_out(&browser, "without the app's cookie")
        .await;
    let first = browser.get(env.app.url("/whoami")).await;
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert_eq!(
        (journey.last().status.as_u16(), journey.last().url.path()),
        (200, "/whoami"),
        "signed in again without any page at the provider:\n{journey}"
    );
    assert!(
        journey
            .hops
            .iter()
            .all(|page| page.form("login").is_none() && page.form("consent").is_none()),
        "{journey}"
    );
    assert_eq!(journey.last().json()["sub"], env.op.sub("alice"));
    assert_eq!(env.sessions().await, 2, "the first session is still stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_login_follows_the_provider_session() {
    // prompt=none: without a Django session the provider answers `login_required` and the
    // public page shows quietly; with one (and consent given) it signs in without a page.
    let env = Env::start_custom(|options| options, |_, config| config.silent_login(true)).await;
    let browser = Browser::new();
    let journey = browser.navigate(env.app.url("/public")).await;
    journey.assert_no_server_error();
    let callback = journey
        .hop(CALLBACK)
        .unwrap_or_else(|| panic!("no silent attempt:\n{journey}"));
    assert_eq!(
        query_param(&callback.url, "error").as_deref(),
        Some("login_required"),
        "{journey}"
    );
    let last = journey.last();
    assert_eq!(
        (last.url.path(), last.body.as_str()),
        ("/public", "anonymous"),
        "{journey}"
    );
    assert_eq!(env.sessions().await, 0);

    // alice signs in (another browser); a browser with only her provider cookies (Django's
    // session: names `djop_*`) then visits the public page.
    let alice = Browser::new();
    env.log_in(&alice, "alice").await;
    let with_provider_session = Browser::new();
    let provider = env.op.login_url();
    for (name, value) in alice.cookies(&provider) {
        if name.starts_with("djop_") {
            with_provider_session.add_cookie(&provider, &format!("{name}={value}; Path=/"));
        }
    }
    let journey = with_provider_session.navigate(env.app.url("/public")).await;
    journey.assert_no_server_error();
    assert!(
        journey
            .hops
            .iter()
            .all(|page| page.form("login").is_none() && page.form("consent").is_none()),
        "no provider page:\n{journey}"
    );
    assert_eq!(
        journey.last().body,
        format!("signed in as {}", env.op.sub("alice")),
        "{journey}"
    );
}

/// Step-up: `max_age` reaches the provider, which compares it with the user's `last_login`
/// and asks for the password again although it has a session; the fresh sign-in's `auth_time`
/// satisfies the layer's check. (`max_age=0` is not reliable here: the package compares whole
/// seconds with `<`, so a login and the authorization request that follows it in the next
/// second send the browser back to the login form.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_with_max_age_makes_the_provider_ask_for_the_password_again() {
    let env = Env::start().await;
    let browser = Browser::new();
    env.log_in(&browser, "alice").await;
    // auth_time has whole seconds: two seconds on, the sign-in is older than one second.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let url = env
        .layer
        .login_url(&LoginOptions::new("/whoami").max_age(Duration::from_secs(1)))
        .expect("valid options");
    let first = browser.get(env.app.url(&url)).await;
    let authorize = first
        .location()
        .unwrap_or_else(|| panic!("no redirect to the provider: {first}"));
    assert_eq!(query_param(&authorize, "max_age").as_deref(), Some("1"));
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    let login_page = journey.last().clone();
    assert!(
        login_page.url.origin() == env.op.origin() && login_page.form("login").is_some(),
        "the provider asks for the password again:\n{journey}"
    );
    let journey = browser
        .follow_with(login_page, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    assert_eq!(
        (journey.last().status.as_u16(), journey.last().url.path()),
        (200, "/whoami"),
        "{journey}\n{}",
        env.op.log_tail()
    );
    assert_eq!(journey.last().json()["sub"], env.op.sub("alice"));
}

/// The issuer has a path (`/openid`); configured with a trailing slash, or as its discovery
/// URL, it still matches the provider's own spelling and logins work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_with_a_path_may_be_configured_with_a_slash_or_as_discovery_url() {
    for spelling in ["/", "/.well-known/openid-configuration"] {
        let env = Env::start_custom(
            |options| options,
            |op, config| config.issuer(format!("{}{spelling}", op.issuer())),
        )
        .await;
        let browser = Browser::new();
        let identity = env.log_in(&browser, "alice").await.last().json();
        assert_eq!(identity["iss"], env.op.issuer(), "{spelling}: {identity}");
        assert_eq!(
            identity["roles"],
            json!(["admin"]),
            "{spelling}: {identity}"
        );
    }
}
