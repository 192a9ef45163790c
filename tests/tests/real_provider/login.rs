//! Logging in: the identity, the cookies, the return-to path, several tabs, non-browser clients.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_happy_path() {
    let env = Env::start().await;
    let browser = Browser::new();

    let first = browser.get(env.app.url("/whoami")).await;
    let authorize = env.assert_authorize_redirect(&first, "unauthenticated GET /whoami");
    let param = |name: &str| query_param(&authorize, name);
    assert_eq!(
        param("response_type").as_deref(),
        Some("code"),
        "{authorize}"
    );
    assert_eq!(
        param("client_id").as_deref(),
        Some("test-client"),
        "{authorize}"
    );
    assert_eq!(
        param("redirect_uri"),
        Some(format!("{}/auth/oidc", env.app.external_url())),
        "{authorize}"
    );
    assert_eq!(
        param("code_challenge_method").as_deref(),
        Some("S256"),
        "{authorize}"
    );
    let challenge = param("code_challenge").unwrap_or_default();
    assert!(
        challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "code_challenge should be a base64url SHA-256: {challenge:?}"
    );
    assert!(
        param("state").is_some_and(|s| s.len() >= 16),
        "state missing or short: {authorize}"
    );
    assert!(
        param("nonce").is_some_and(|s| s.len() >= 16),
        "nonce missing or short: {authorize}"
    );
    let scope = param("scope").unwrap_or_default();
    for wanted in ["openid", "profile", "email"] {
        assert!(
            scope.split(' ').any(|s| s == wanted),
            "scope {scope:?} lacks {wanted}"
        );
    }
    let attempt = first
        .set_cookies()
        .into_iter()
        .find(|c| is_attempt_cookie(c.name()))
        .unwrap_or_else(|| panic!("no attempt cookie set: {:?}", first.set_cookie_headers()));
    assert_eq!(
        attempt.http_only(),
        Some(true),
        "attempt cookie must be HttpOnly: {attempt}"
    );
    assert!(
        first.find_set_cookie(is_session_cookie).is_none(),
        "no session before login"
    );

    let journey = browser.follow(first).await;
    journey.assert_no_server_error();
    let callback = journey
        .hop(CALLBACK)
        .unwrap_or_else(|| panic!("never reached the callback:\n{journey}"));
    assert_eq!(
        callback.status, 303,
        "callback should 303 to the return-to path:\n{journey}\n{}",
        callback.body
    );
    assert_eq!(
        callback.location(),
        Some(env.app.url("/whoami")),
        "return-to:\n{journey}"
    );
    assert!(
        callback
            .header("cache-control")
            .is_some_and(|v| v.contains("no-store")),
        "callback Cache-Control: {:?}",
        callback.header("cache-control")
    );
    assert_eq!(
        callback.header("referrer-policy"),
        Some("no-referrer"),
        "callback Referrer-Policy"
    );
    let session = callback
        .find_set_cookie(is_session_cookie)
        .unwrap_or_else(|| {
            panic!(
                "callback sets no session cookie: {:?}",
                callback.set_cookie_headers()
            )
        });
    assert_eq!(
        session.http_only(),
        Some(true),
        "session cookie must be HttpOnly: {session}"
    );
    assert_eq!(
        session.same_site(),
        Some(SameSite::Lax),
        "session cookie must be SameSite=Lax: {session}"
    );
    assert_eq!(
        session.path(),
        Some("/"),
        "session cookie must cover the whole app (Path=/): {session}"
    );
    assert!(
        !session.value().is_empty() && !session.value().contains("alice"),
        "opaque session cookie: {session}"
    );

    let last = journey.last();
    assert_eq!(last.url, env.app.url("/whoami"), "{journey}");
    assert_eq!(last.status, 200, "{journey}\n{}", last.body);
    let identity = last.json();
    assert_eq!(identity["sub"], "u-1001-alice", "{identity}");
    assert_eq!(identity["iss"], env.op.issuer(), "{identity}");
    assert_eq!(identity["username"], "alice", "{identity}");
    assert_eq!(identity["email"], "alice@example.test", "{identity}");
    assert_eq!(identity["email_verified"], true, "{identity}");
    assert_eq!(identity["name"], "Alice Anders", "{identity}");

    assert_eq!(env.sessions().await, 1, "one session in the store");
    env.assert_logged_in(&browser, "u-1001-alice", "fetch after login")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_cookie_is_cleared_after_login() {
    let env = Env::start().await;
    let browser = Browser::new();
    env.log_in(&browser, "/whoami", "alice").await;
    let left: Vec<String> = browser
        .cookie_names(&env.app.url(CALLBACK))
        .into_iter()
        .filter(|n| is_attempt_cookie(n))
        .collect();
    assert!(
        left.is_empty(),
        "the finished attempt's cookie should be removed by the callback, still sent: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_gets_their_own_identity_and_session() {
    let env = Env::start().await;
    let (bob, carol) = (Browser::new(), Browser::new());
    let journey = env.log_in(&bob, "/whoami", "bob").await;
    let identity = journey.last().json();
    assert_eq!(identity["sub"], "u-1002-bob", "{identity}");
    assert_eq!(identity["username"], "bob", "{identity}");
    assert_eq!(identity["email_verified"], false, "{identity}");
    env.log_in(&carol, "/whoami", "carol").await;
    assert_eq!(env.sessions().await, 2);
    env.assert_logged_in(&bob, "u-1002-bob", "bob after carol logged in")
        .await;
    env.assert_logged_in(&carol, "u-1003-carol", "carol").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_paths_need_no_login() {
    let env = Env::start().await;
    let browser = Browser::new();
    for path in ["/", "/health"] {
        let page = browser.get(env.app.url(path)).await;
        assert_eq!(page.status, 200, "navigate {path}: {page}");
        let page = browser.fetch(env.app.url(path)).await;
        assert_eq!(page.status, 200, "fetch {path}: {page}");
        assert!(
            page.set_cookies()
                .iter()
                .all(|c| !is_attempt_cookie(c.name())),
            "no login attempt on {path}"
        );
    }
    assert_eq!(env.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_to_keeps_the_query_string() {
    let env = Env::start().await;
    let browser = Browser::new();
    let journey = env.log_in(&browser, "/whoami?x=1&y=a%20b", "alice").await;
    let callback = journey.hop(CALLBACK).expect("went through the callback");
    assert_eq!(
        callback.location(),
        Some(env.app.url("/whoami?x=1&y=a%20b")),
        "{journey}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_endpoint_honours_return_to() {
    let env = Env::start().await;
    let browser = Browser::new();
    let first = browser.get(login_url(&env.app, "/whoami")).await;
    env.assert_authorize_redirect(&first, "GET /auth/login?return_to=/whoami");
    let journey = browser.follow(first).await;
    journey.assert_no_server_error();
    assert_eq!(journey.last().url, env.app.url("/whoami"), "{journey}");
    assert_eq!(journey.last().status, 200, "{journey}");
    assert_eq!(journey.last().json()["sub"], "u-1001-alice");

    // Without return_to: somewhere on the app.
    let browser = Browser::new();
    let journey = browser.navigate(env.app.url("/auth/login")).await;
    journey.assert_no_server_error();
    assert_stays_on_site(&env, &journey, "GET /auth/login without return_to");
    assert_eq!(journey.last().status, 200, "{journey}");
    assert_eq!(env.sessions().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_return_to_never_leaves_the_site() {
    let env = Env::start().await;
    let hostile = [
        "//evil.example",
        "//evil.example/path",
        "https://evil.example",
        "http://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/%5Cevil.example",
        "/%2F%2Fevil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "///evil.example",
        "https:evil.example",
    ];
    // A fresh browser per value: the whole login runs with the hostile return-to.
    for value in hostile {
        let context = format!("/auth/login?return_to={value:?}");
        let browser = Browser::new();
        let first = browser.get(login_url(&env.app, value)).await;
        assert!(!first.status.is_server_error(), "{context}: {first}");
        if first.status.is_client_error() {
            continue; // refusing the login outright is fine too
        }
        let journey = browser.follow(first).await;
        journey.assert_no_server_error();
        assert_stays_on_site(&env, &journey, &context);
    }
    // The protected path itself may look like a scheme-relative URL.
    for path in [
        "//evil.example",
        "//evil.example/x",
        "/%5Cevil.example",
        "/%2F%2Fevil.example",
    ] {
        let context = format!("GET {path}");
        let browser = Browser::new();
        let journey = browser.navigate(env.app.url(path)).await;
        journey.assert_no_server_error();
        assert_stays_on_site(&env, &journey, &context);
    }
    // Already logged in: /auth/login may redirect straight to the return-to; still on site.
    let browser = Browser::new();
    env.log_in_alice(&browser).await;
    for value in hostile {
        let context = format!("logged in, /auth/login?return_to={value:?}");
        let first = browser.get(login_url(&env.app, value)).await;
        assert!(!first.status.is_server_error(), "{context}: {first}");
        let journey = browser.follow(first).await;
        journey.assert_no_server_error();
        if journey.hops.len() > 1 || journey.last().is_redirect() {
            assert_stays_on_site(&env, &journey, &context);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_log_in_independently() {
    let env = Env::start().await;
    for order in ["first tab first", "second tab first"] {
        let browser = Browser::new();
        // Both tabs reach the provider's login page before either logs in.
        let tab_a = browser
            .follow_with(browser.get(env.app.url("/tabs/a")).await, AtProvider::Stay)
            .await;
        let tab_b = browser
            .follow_with(browser.get(env.app.url("/tabs/b")).await, AtProvider::Stay)
            .await;
        for (name, tab) in [("a", &tab_a), ("b", &tab_b)] {
            env.assert_authorize_redirect(&tab.hops[0], &format!("{order}: tab {name}"));
            assert!(
                tab.last().form("login").is_some(),
                "{order}: tab {name} should wait on the login page:\n{tab}"
            );
        }
        let attempts = browser
            .cookie_names(&env.app.url(CALLBACK))
            .into_iter()
            .filter(|n| is_attempt_cookie(n))
            .count();
        assert_eq!(
            attempts, 2,
            "{order}: each tab keeps its own attempt cookie"
        );

        let finish = if order == "first tab first" {
            [("a", tab_a), ("b", tab_b)]
        } else {
            [("b", tab_b), ("a", tab_a)]
        };
        for (name, tab) in finish {
            let journey = browser.follow(tab.last().clone()).await;
            journey.assert_no_server_error();
            let last = journey.last();
            assert_eq!(
                last.url,
                env.app.url(&format!("/tabs/{name}")),
                "{order}: tab {name} should land on its own path:\n{journey}"
            );
            assert_eq!(
                last.status, 200,
                "{order}: tab {name}:\n{journey}\n{}",
                last.body
            );
            assert_eq!(last.json()["tab"], name);
            assert_eq!(last.json()["identity"]["sub"], "u-1001-alice");
        }
        env.assert_logged_in(&browser, "u-1001-alice", order).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_without_session_gets_401_problem_json() {
    let env = Env::start().await;
    let browser = Browser::new();
    let url = env.app.url("/whoami");
    let raw = |pairs: &[(&'static str, &'static str)]| {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(*k, HeaderValue::from_static(v));
        }
        headers
    };
    let cases = [
        ("fetch()", browser.fetch(&url).await),
        (
            "fetch() POST",
            browser.fetch_with(Method::POST, &url, &[]).await,
        ),
        (
            "XHR with Accept: text/html",
            browser
                .raw(
                    Method::GET,
                    &url,
                    raw(&[
                        ("accept", "text/html"),
                        ("x-requested-with", "XMLHttpRequest"),
                    ]),
                )
                .await,
        ),
        (
            "curl-like Accept: */*",
            browser
                .raw(Method::GET, &url, raw(&[("accept", "*/*")]))
                .await,
        ),
        (
            "API client Accept: application/json",
            browser
                .raw(Method::GET, &url, raw(&[("accept", "application/json")]))
                .await,
        ),
        (
            "no headers at all",
            browser.raw(Method::GET, &url, HeaderMap::new()).await,
        ),
    ];
    let mut login_url = None;
    for (what, page) in &cases {
        assert_eq!(page.status, 401, "{what}: expected 401, got {page}");
        assert!(
            page.header("location").is_none(),
            "{what}: must not redirect: {page}"
        );
        assert!(
            page.header("www-authenticate").is_some(),
            "{what}: WWW-Authenticate missing: {:?}",
            page.headers
        );
        let problem = page.problem(401);
        let found = problem["login_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no login_url in {problem}"));
        login_url.get_or_insert_with(|| found.to_string());
    }
    // The login_url is usable: a browser sent there logs in and comes back to the app.
    let login_url = env
        .app
        .url("/")
        .join(&login_url.expect("at least one case"))
        .expect("login_url resolves");
    assert_eq!(
        login_url.origin(),
        env.app.origin(),
        "login_url should point at the app: {login_url}"
    );
    let journey = Browser::new().navigate(&login_url).await;
    journey.assert_no_server_error();
    assert_stays_on_site(&env, &journey, "following login_url");
    assert_eq!(journey.last().status, 200, "{journey}");
    assert_eq!(env.sessions().await, 1);
}
