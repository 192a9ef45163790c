//! Session management in the demo app (examples/axum-demo's `/sessions`) against the real
//! provider: an account's browsers listed, "sign out other sessions" and "sign out
//! everywhere" ending them (the other browser's next request is unauthenticated), one session
//! ended by its handle, and what must be refused: a cross-site POST (nothing ends), and a
//! handle of another account's session (nothing ends).

use regex::Regex;

use super::*;

/// The demo app itself behind the layer, its provider and its session store.
struct Demo {
    app: App,
    op: Op,
    store: Arc<MemoryStore<SessionData>>,
}

impl Demo {
    async fn start() -> Demo {
        init_tracing();
        let listener = AppListener::bind().await;
        let op = Op::start(OpOptions::for_app(&listener)).await;
        let config = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(listener.external_url())
            .scopes(["openid", "profile", "email"])
            .public_paths(axum_demo::PUBLIC_PATHS)
            .api_paths(axum_demo::API_PATHS)
            .backup_login_path(axum_demo::BACKUP_LOGIN_PATH)
            .build()
            .expect("a valid configuration");
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = axum_demo::router(&layer, "sessions-suite-admin-password".to_owned());
        let app = App::spawn(router, listener);
        Demo { app, op, store }
    }

    /// A new browser signed in as `user` (through `/sessions`).
    async fn browser_of(&self, user: &str) -> Browser {
        let browser = Browser::new();
        log_in_at(&browser, self.app.url("/sessions"), user, &self.op).await;
        browser
    }

    /// The "Your sessions" page as `browser` sees it (a navigation), after checking it is one.
    async fn sessions_page(&self, browser: &Browser) -> Page {
        let page = browser.get(self.app.url("/sessions")).await;
        assert_eq!(page.status, 200, "the sessions page: {page}\n{}", page.body);
        assert!(
            page.body.contains("<h1>Your sessions</h1>"),
            "{}",
            page.body
        );
        page
    }

    /// Whether `browser`'s session still works (`fetch('/whoami')`).
    async fn signed_in(&self, browser: &Browser) -> bool {
        match browser.fetch(self.app.url("/whoami")).await.status.as_u16() {
            200 => true,
            401 => false,
            other => panic!("/whoami answered {other}"),
        }
    }
}

/// The handles of the sessions a page offers to end (the other sessions).
fn end_handles(page: &Page) -> Vec<String> {
    let re = Regex::new(r#"name="handle" value="([A-Za-z0-9_-]{22})""#).expect("a regex");
    re.captures_iter(&page.body)
        .map(|c| c[1].to_owned())
        .collect()
}

/// How many sessions a page lists, and how many are marked as this browser's.
fn listed(page: &Page) -> (usize, usize) {
    (
        page.body.matches(r#"<li class="session""#).count(),
        page.body.matches(r#"data-current="true""#).count(),
    )
}

#[tokio::test]
async fn an_accounts_browsers_are_listed_and_the_others_signed_out() {
    let demo = Demo::start().await;
    let laptop = demo.browser_of("alice").await;
    let phone = demo.browser_of("alice").await;
    let bob = demo.browser_of("bob").await;

    let page = demo.sessions_page(&laptop).await;
    assert_eq!(
        listed(&page),
        (2, 1),
        "alice's two browsers, this one marked:\n{}",
        page.body
    );
    assert!(
        page.body.contains("A browser on Linux"),
        "the scripted browser's summary:\n{}",
        page.body
    );
    assert!(
        !page.body.contains("oidc-e2e"),
        "never the raw User-Agent:\n{}",
        page.body
    );
    let handles = end_handles(&page);
    assert_eq!(handles.len(), 1, "one other session to end:\n{}", page.body);
    let bobs = demo.sessions_page(&bob).await;
    assert_eq!(
        listed(&bobs),
        (1, 1),
        "bob sees only his own:\n{}",
        bobs.body
    );

    // Sign out other sessions, from the laptop's page.
    let answer = laptop.submit(&page, "sign-out-others", &[]).await;
    assert_eq!(answer.status, 303, "{answer}\n{}", answer.body);
    assert_eq!(
        answer.location().map(|u| u.to_string()),
        Some(demo.app.url("/sessions?signed-out=others").to_string())
    );
    assert!(
        !demo.signed_in(&phone).await,
        "the phone's next request is unauthenticated"
    );
    assert!(demo.signed_in(&laptop).await, "the laptop stays signed in");
    assert!(demo.signed_in(&bob).await, "another account is untouched");
    let page = demo.sessions_page(&laptop).await;
    assert_eq!(listed(&page), (1, 1), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<button type="submit" disabled>Sign out other sessions"#),
        "nothing left to sign out:\n{}",
        page.body
    );

    // Sign out everywhere: the laptop too, on the signed-out page.
    let answer = laptop.submit(&page, "sign-out-everywhere", &[]).await;
    assert_eq!(answer.status, 303, "{answer}\n{}", answer.body);
    assert_eq!(
        answer.location().map(|u| u.path().to_owned()).as_deref(),
        Some("/auth/logged-out")
    );
    let landed = laptop.follow(answer).await;
    assert_eq!(landed.last().status, 200, "{landed}");
    assert!(
        landed.last().body.contains("You are signed out"),
        "{}",
        landed.last().body
    );
    assert!(!demo.signed_in(&laptop).await, "the laptop is signed out");
    assert!(demo.signed_in(&bob).await, "another account is untouched");
    assert_eq!(demo.store.len().await, 1, "only bob's session is left");
}

#[tokio::test]
async fn one_session_ends_by_its_handle_only_for_its_own_account() {
    let demo = Demo::start().await;
    let laptop = demo.browser_of("alice").await;
    let phone = demo.browser_of("alice").await;
    let bob = demo.browser_of("bob").await;
    let page = demo.sessions_page(&laptop).await;
    let [phone_handle] = end_handles(&page).try_into().expect("one other session");

    // Bob posts Alice's phone's handle (same origin, his own session): nothing ends.
    let refused = bob
        .post_form(demo.app.url("/sessions/end"), &[("handle", &phone_handle)])
        .await;
    assert_eq!(refused.status, 404, "{refused}\n{}", refused.body);
    // Garbage handles: refused the same way, nothing reaches the store as a tag.
    for garbage in [
        "",
        "not-a-handle",
        "x".repeat(5000).as_str(),
        "aaaaaaaaaaaaaaaaaaaaa\u{e9}",
    ] {
        let answer = laptop
            .post_form(demo.app.url("/sessions/end"), &[("handle", garbage)])
            .await;
        assert_eq!(answer.status, 404, "handle {garbage:?}: {answer}");
    }
    assert!(demo.signed_in(&phone).await, "alice's phone is untouched");
    assert_eq!(demo.store.len().await, 3);

    // Alice ends her phone's session from her laptop's page.
    let form_id = format!("end-{phone_handle}");
    let answer = laptop.submit(&page, &form_id, &[]).await;
    assert_eq!(answer.status, 303, "{answer}\n{}", answer.body);
    assert!(!demo.signed_in(&phone).await, "the phone is signed out");
    assert!(demo.signed_in(&laptop).await);
    assert!(demo.signed_in(&bob).await);
    // Its handle ends nothing a second time.
    let again = laptop.submit(&page, &form_id, &[]).await;
    assert_eq!(again.status, 404, "{again}");
}

#[tokio::test]
async fn cross_site_posts_end_nothing() {
    let demo = Demo::start().await;
    let laptop = demo.browser_of("alice").await;
    let phone = demo.browser_of("alice").await;
    let page = demo.sessions_page(&laptop).await;
    let [phone_handle] = end_handles(&page).try_into().expect("one other session");
    let foreign: &[(&str, &str)] = &[
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    for (path, fields) in [
        ("/sessions/sign-out-others", vec![]),
        ("/sessions/sign-out-everywhere", vec![]),
        ("/sessions/end", vec![("handle", phone_handle.as_str())]),
    ] {
        for headers in [foreign, &[("origin", ""), ("sec-fetch-site", "cross-site")]] {
            let answer = laptop
                .post_form_with(demo.app.url(path), &fields, headers)
                .await;
            assert_eq!(answer.status, 403, "{path} with {headers:?}: {answer}");
        }
    }
    assert!(demo.signed_in(&phone).await, "nothing ended");
    assert!(demo.signed_in(&laptop).await, "nothing ended");
    assert_eq!(demo.store.len().await, 2);
}
