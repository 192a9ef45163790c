//! Garbage in: cookies and callback queries no browser should send; never a 5xx, never a
//! session, and an existing session survives them.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_session_cookies_mean_no_session() {
    let env = Env::start().await;
    let whoami = env.app.url("/whoami");
    let big = "A".repeat(10 * 1024);
    let well_formed_unknown_id = "A".repeat(43);
    let values = [
        "garbage",
        big.as_str(),
        well_formed_unknown_id.as_str(),
        "v1.AAAA.BBBB",
        "%00%FF%FE",
        "\"quoted\"",
        "==",
    ];
    for value in values {
        let session = env.cookies.session();
        let context = format!("{session}={}", value.chars().take(40).collect::<String>());
        let browser = Browser::new();
        browser.add_cookie(&whoami, &format!("{session}={value}; Path=/"));
        assert!(
            browser.find_cookie(&whoami, is_session_cookie).is_some(),
            "{context}: the jar should send it"
        );
        let page = browser.get(&whoami).await;
        env.assert_authorize_redirect(&page, &format!("navigate with {context}"));
        let page = browser.fetch(&whoami).await;
        assert_eq!(page.status, 401, "fetch with {context}: {page}");
    }
    // Bytes that are not UTF-8, bypassing the jar.
    let (session, attempt) = (env.cookies.session(), env.cookies.attempt_prefix());
    for raw in [
        [session.as_bytes(), b"=\xff\xfe\x80"].concat(),
        [
            session.as_bytes(),
            b"=\xc3\x28; ",
            attempt.as_bytes(),
            b"x=\xff",
        ]
        .concat(),
        b"\xff\xff=\xff".to_vec(),
    ] {
        let context = format!("Cookie: {}", String::from_utf8_lossy(&raw));
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_bytes(&raw).expect("obs-text is a valid header value"),
        );
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let page = Browser::new()
            .raw(Method::GET, &whoami, headers.clone())
            .await;
        assert_eq!(page.status, 401, "{context}: {page}");
        headers.insert("accept", HeaderValue::from_static("text/html"));
        headers.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        let page = Browser::new().raw(Method::GET, &whoami, headers).await;
        env.assert_authorize_redirect(&page, &context);
    }
    assert_eq!(env.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_cookies_next_to_a_session_do_not_break_it() {
    let env = Env::start().await;
    let whoami = env.app.url("/whoami");
    let browser = Browser::new();
    env.log_in_alice(&browser).await;
    browser.add_cookie(&whoami, &format!("junk={}; Path=/", "A".repeat(10 * 1024)));
    let attempt = env.cookies.attempt_prefix();
    browser.add_cookie(&whoami, &format!("{attempt}AAAAAAAA=garbage; Path=/"));
    browser.add_cookie(&whoami, &format!("{attempt}=; Path=/"));
    env.assert_logged_in(
        &browser,
        "u-1001-alice",
        "session + 10 KB junk cookie + garbage attempt cookies",
    )
    .await;
    let page = browser.get(&whoami).await;
    assert_eq!(page.status, 200, "navigate with junk cookies: {page}");
    // A callback that matches no attempt (garbage attempt cookies in the jar) changes nothing.
    let page = browser
        .get(env.app.url("/auth/oidc?code=x&state=AAAAAAAA"))
        .await;
    assert_refused_or_redirected(&env, &page, "callback with garbage attempt cookies");
    env.assert_logged_in(&browser, "u-1001-alice", "after the garbage callback")
        .await;
    assert_eq!(env.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_cookies_next_to_a_session_do_not_break_it() {
    // Browsers send every cookie of the host in one Cookie header; another app on the same host
    // (cookies ignore ports) can set cookies whose bytes are not UTF-8. If that hides the session
    // cookie, the user can never stay logged in (and the attempt cookie is hidden too).
    let env = Env::start().await;
    let whoami = env.app.url("/whoami");
    let browser = Browser::new();
    let session = env.log_in_alice(&browser).await;
    let mut raw = b"weird=\xff\xfe; ".to_vec();
    raw.extend_from_slice(format!("{}={session}", env.cookies.session()).as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert(
        "cookie",
        HeaderValue::from_bytes(&raw).expect("valid header bytes"),
    );
    headers.insert("accept", HeaderValue::from_static("application/json"));
    let page = browser.raw(Method::GET, &whoami, headers).await;
    assert_eq!(
        page.status,
        200,
        "Cookie: weird=<0xff 0xfe>; {}=<valid>: {page}",
        env.cookies.session()
    );
    assert_eq!(env.sessions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_callback_queries_never_5xx_and_create_nothing() {
    let env = Env::start().await;
    let long_state = format!("?code=x&state={}", "A".repeat(10_000));
    let queries = [
        "",
        "?",
        "?code=&state=",
        "?code=abc",
        "?state=abc",
        "?code=abc&state=abc",
        "?code=%FF%FE&state=%C3%28",
        "?code=a&code=b&state=x&state=y",
        "?error=access_denied",
        "?error=server_error&error_description=%3Cscript%3E",
        long_state.as_str(),
        "?%zz=%%&&&===",
        "?code=x&state=x&iss=https%3A%2F%2Fevil.example",
        "?response=eyJhbGciOiJub25lIn0.e30.",
        "?code[]=x&state[]=y",
        "?code=x%00y&state=%00",
    ];
    let logged_in = Browser::new();
    env.log_in_alice(&logged_in).await;
    let fresh = Browser::new();
    for query in queries {
        let url = env.app.url(&format!("{CALLBACK}{query}"));
        let shown: String = query.chars().take(60).collect();
        // Without a session the contract's "callback failure" applies: a 4xx page.
        let page = fresh.get(&url).await;
        env.assert_rejected_callback(&page, &format!("fresh browser: GET {CALLBACK}{shown}"));
        let page = fresh.fetch(&url).await;
        assert!(
            page.status.is_client_error(),
            "fresh browser: fetch {CALLBACK}{shown}: {page}"
        );
        // With a session: refused or sent somewhere on the site; the session is untouched.
        let page = logged_in.get(&url).await;
        assert_refused_or_redirected(
            &env,
            &page,
            &format!("logged-in browser: GET {CALLBACK}{shown}"),
        );
        let page = logged_in.fetch(&url).await;
        assert_refused_or_redirected(
            &env,
            &page,
            &format!("logged-in browser: fetch {CALLBACK}{shown}"),
        );
    }
    let page = fresh
        .post_form(env.app.url(CALLBACK), &[("code", "x"), ("state", "y")])
        .await;
    assert!(page.status.is_client_error(), "POST {CALLBACK}: {page}");
    env.assert_logged_in(&logged_in, "u-1001-alice", "after garbage callbacks")
        .await;
    assert!(env.session_cookie(&fresh).is_none());
    assert_eq!(
        env.sessions().await,
        1,
        "only the logged-in browser's session"
    );
}

/// A 4xx, or a redirect that stays on the app or the provider; never a 5xx, never a new
/// session cookie.
fn assert_refused_or_redirected(env: &Env, page: &Page, context: &str) {
    assert!(
        !page.status.is_server_error(),
        "{context}: {page}\n{}",
        page.body
    );
    if page.is_redirect() {
        let location = page
            .location()
            .unwrap_or_else(|| panic!("{context}: redirect without a usable Location: {page}"));
        assert!(
            [env.app.origin(), env.op.origin()].contains(&location.origin()),
            "{context}: redirect off-site: {page}"
        );
    } else {
        assert!(
            page.status.is_client_error(),
            "{context}: expected a 4xx or a redirect, got {page}"
        );
    }
    assert!(
        page.find_set_cookie(is_session_cookie)
            .is_none_or(|c| c.value().is_empty()),
        "{context}: must not set a session cookie: {:?}",
        page.set_cookie_headers()
    );
}
