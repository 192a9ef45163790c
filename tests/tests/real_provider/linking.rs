//! Linking a provider identity to the account of a signed-in user: `POST /auth/link` from the
//! app's own pages, or [`OidcLayer::start_link`] from the app's handler. The identity gets
//! linked, the browser returns where it started, and nobody else is signed in.

use oidc_layer::accounts::{
    Account, AccountRepository, InMemoryAccounts, LinkOutcome, LinkedIdentity, LinkingResolver,
};

use super::site::*;
use super::*;

fn linked(provider: &str, sub: &str) -> LinkedIdentity {
    LinkedIdentity {
        provider: provider.into(),
        sub: sub.into(),
    }
}

/// Signs `browser` in with the app's own login as account `account`; returns the session
/// cookie after checking `/settings` shows the local identity.
async fn sign_in_locally(app: &App, browser: &Browser, account: &str) -> String {
    let page = browser
        .post_form(
            app.url("/local-login"),
            &[("account", account), ("password", LOCAL_PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 303, "local sign-in: {page}\n{}", page.body);
    assert_eq!(page.location(), Some(app.url("/settings")));
    let cookie = browser
        .find_cookie(&app.url("/"), is_session_cookie)
        .expect("the local sign-in sets the session cookie");
    assert_local(app, browser, account, "after the local sign-in").await;
    cookie
}

/// `/settings` shows the local identity of `account`.
async fn assert_local(app: &App, browser: &Browser, account: &str, context: &str) {
    let me = browser.fetch(app.url("/settings")).await;
    assert_eq!(me.status, 200, "{context}: {me}");
    let me = me.json();
    assert_eq!(me["provider"], "local", "{context}: {me}");
    assert_eq!(me["account"], account, "{context}: {me}");
    assert_eq!(me["sub"], format!("local:{account}"), "{context}: {me}");
}

/// The `/auth/link` URL for provider `slug`, back to `/settings`.
fn link_url(app: &App, slug: &str) -> Url {
    app.url(&format!("/auth/link?provider={slug}&return_to=%2Fsettings"))
}

/// Asserts the callback of a link: back to `/settings`, the attempt cookie removed, no session
/// cookie set.
fn assert_link_callback(journey: &Journey, app: &App, callback: &str) {
    let hop = journey
        .hop(callback)
        .unwrap_or_else(|| panic!("never reached {callback}:\n{journey}"));
    assert_eq!(hop.status, 303, "{journey}\n{}", hop.body);
    assert_eq!(hop.location(), Some(app.url("/settings")), "{journey}");
    assert_no_session_cookie_set(hop, "the link's callback");
    assert!(
        hop.set_cookies()
            .iter()
            .any(|c| is_attempt_cookie(c.name()) && c.value().is_empty()),
        "the attempt cookie is removed: {:?}",
        hop.set_cookie_headers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locally_signed_in_user_links_a_provider_identity() {
    let accounts = InMemoryAccounts::new();
    let root = accounts.add_account("root", None, true);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .start()
        .await;
    let browser = Browser::new();
    let cookie = sign_in_locally(&site.app, &browser, &root.id).await;
    assert_eq!(site.sessions().await, 1);

    let start = browser.post_form(link_url(&site.app, SLUG), &[]).await;
    assert_eq!(start.status, 302, "{start}\n{}", start.body);
    let location = start.location().expect("a Location");
    let endpoint = site.op.authorization_endpoint();
    assert_eq!(
        (location.origin(), location.path()),
        (endpoint.origin(), endpoint.path()),
        "{location}"
    );
    assert_eq!(
        query_param(&location, "redirect_uri"),
        Some(format!("{}{CALLBACK}", site.app.external_url()))
    );
    assert_no_session_cookie_set(&start, "starting a link");
    let journey = browser
        .follow_with(start, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    assert_link_callback(&journey, &site.app, CALLBACK);
    let last = journey.last();
    assert_eq!(
        (&last.url, last.status.as_u16()),
        (&site.app.url("/settings"), 200),
        "{journey}\n{}",
        last.body
    );

    // Nobody else signed in: same cookie, same local identity, one session.
    assert_eq!(
        browser.find_cookie(&site.app.url("/"), is_session_cookie),
        Some(cookie)
    );
    assert_local(&site.app, &browser, &root.id, "after linking").await;
    assert_eq!(site.sessions().await, 1);
    assert_eq!(
        accounts.accounts(),
        [Account {
            identities: vec![linked(SLUG, ALICE)],
            ..root.clone()
        }]
    );

    // From now on alice's provider login is root's account.
    let me = site.identity_of(&Browser::new(), "alice").await;
    assert_eq!(me["account"], root.id, "{me}");
    assert_eq!(me["username"], "root", "{me}");
    assert_eq!(me["provider"], SLUG, "{me}");
    assert_eq!(accounts.accounts().len(), 1);
    assert_eq!(site.sessions().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_needs_a_same_origin_post_from_a_signed_in_user() {
    let accounts = InMemoryAccounts::new();
    let root = accounts.add_account("root", None, true);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .start()
        .await;
    let browser = Browser::new();
    let cookie = sign_in_locally(&site.app, &browser, &root.id).await;
    let url = link_url(&site.app, SLUG);
    let op_origin = site.op.origin().ascii_serialization();

    let cases: [(&str, &[(&str, &str)]); 7] = [
        (
            "cross-site form post",
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            "foreign Origin, no Sec-Fetch-Site",
            &[("origin", "http://evil.example"), ("sec-fetch-site", "")],
        ),
        (
            "Sec-Fetch-Site: cross-site, no Origin",
            &[("origin", ""), ("sec-fetch-site", "cross-site")],
        ),
        (
            "same-site (another port of this host)",
            &[
                ("origin", op_origin.as_str()),
                ("sec-fetch-site", "same-site"),
            ],
        ),
        (
            "neither Origin nor Sec-Fetch-Site",
            &[("origin", ""), ("sec-fetch-site", "")],
        ),
        (
            "Sec-Fetch-Site: same-site, no Origin",
            &[("origin", ""), ("sec-fetch-site", "same-site")],
        ),
        (
            "Origin of this host on another port, no Sec-Fetch-Site",
            &[("origin", op_origin.as_str()), ("sec-fetch-site", "")],
        ),
    ];
    for (what, headers) in cases {
        let page = browser.post_form_with(&url, &[], headers).await;
        assert_eq!(page.status, 403, "{what}: {page}\n{}", page.body);
        assert_eq!(heading(&page), "Linking refused", "{what}");
        assert_eq!(site.sessions().await, 1, "{what}: the session must survive");
        assert!(page.location().is_none(), "{what}: no redirect");
        assert!(
            page.set_cookie_headers().is_empty(),
            "{what}: no attempt starts: {:?}",
            page.set_cookie_headers()
        );
    }

    let page = browser.get(&url).await;
    assert_eq!(page.status, 405, "GET /auth/link: {page}");
    assert_eq!(page.header("allow"), Some("POST"));

    let page = browser
        .post_form(link_url(&site.app, "no-such-provider"), &[])
        .await;
    assert_eq!(page.status, 400, "an unknown provider: {page}");

    let anonymous = Browser::new();
    let page = anonymous.post_form(&url, &[]).await;
    assert_eq!(page.status, 401, "anonymous: {page}\n{}", page.body);
    assert_eq!(heading(&page), "Sign in first");
    assert!(page.location().is_none(), "anonymous: no redirect");
    assert!(
        page.set_cookie_headers().is_empty(),
        "anonymous: no attempt starts: {:?}",
        page.set_cookie_headers()
    );

    assert_eq!(
        accounts.accounts(),
        std::slice::from_ref(&root),
        "nothing linked"
    );
    assert_eq!(site.sessions().await, 1);
    assert_eq!(
        browser.find_cookie(&site.app.url("/"), is_session_cookie),
        Some(cookie)
    );
    assert_local(&site.app, &browser, &root.id, "after the refused links").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_a_subject_of_another_account_is_refused() {
    let accounts = InMemoryAccounts::new();
    let root = accounts.add_account("root", None, true);
    let other = accounts.add_account("alice-elsewhere", None, false);
    assert_eq!(
        accounts.link(&other.id, SLUG, ALICE).await.expect("link"),
        LinkOutcome::Linked
    );
    let before = accounts.accounts();
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .start()
        .await;
    let browser = Browser::new();
    let cookie = sign_in_locally(&site.app, &browser, &root.id).await;

    let start = browser.post_form(link_url(&site.app, SLUG), &[]).await;
    assert_eq!(start.status, 302, "{start}\n{}", start.body);
    let journey = browser
        .follow_with(start, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(last.url.path(), CALLBACK, "{journey}");
    assert_refusal(last, "linking alice's identity owned by another account");
    assert_eq!(last.status, 403, "{last}");
    assert_eq!(heading(last), "Account not linked");
    assert_eq!(
        detail(last),
        "This 127.0.0.1 account is already linked to another user."
    );

    assert_eq!(accounts.accounts(), before, "nothing changed");
    assert_eq!(site.sessions().await, 1, "nobody signed in");
    assert_eq!(
        browser.find_cookie(&site.app.url("/"), is_session_cookie),
        Some(cookie)
    );
    assert_local(&site.app, &browser, &root.id, "after the refused link").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_link_from_the_apps_handler_links_the_account() {
    // The user proves who they are to the app itself (a password), not with a session of the
    // layer; the app's handler calls `OidcLayer::start_link`.
    let accounts = InMemoryAccounts::new();
    let root = accounts.add_account("root", None, true);
    let site = Site::builder()
        .accounts(LinkingResolver::new(accounts.clone()))
        .start()
        .await;
    let browser = Browser::new();
    let start = browser
        .post_form(
            site.app.url("/link-from-app"),
            &[
                ("account", root.id.as_str()),
                ("password", LOCAL_PASSWORD),
                ("provider", SLUG),
            ],
        )
        .await;
    assert_eq!(start.status, 302, "{start}\n{}", start.body);
    let settings = site.app.url("/settings");
    let journey = browser
        .follow_until(start, AtProvider::log_in("bob"), |u| *u == settings)
        .await;
    journey.assert_no_server_error();
    assert_eq!(journey.pending.as_ref(), Some(&settings), "{journey}");
    assert_link_callback(&journey, &site.app, CALLBACK);
    assert!(
        browser.find_cookie(&settings, is_session_cookie).is_none(),
        "linking signs nobody in"
    );
    assert_eq!(site.sessions().await, 0);
    assert_eq!(
        accounts.accounts(),
        [Account {
            identities: vec![linked(SLUG, BOB)],
            ..root.clone()
        }]
    );
    // bob's unverified email never linked anything, but the explicit link did.
    let me = site.identity_of(&Browser::new(), "bob").await;
    assert_eq!(me["account"], root.id, "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_user_links_a_second_provider() {
    let accounts = InMemoryAccounts::new();
    let env = TwoProviders::start(Some(Arc::new(LinkingResolver::new(accounts.clone())))).await;

    // alice signs in with alpha: a new account.
    let browser = Browser::new();
    let journey = log_in_via(
        &env.app,
        &env.alpha,
        &browser,
        "/auth/login?provider=alpha&return_to=%2Fwhoami",
        "alice",
        "/whoami",
    )
    .await;
    let me = journey.last().json();
    assert_eq!(me["provider"], "alpha", "{me}");
    let account = me["account"].as_str().expect("an account").to_owned();
    let cookie = browser.find_cookie(&env.app.url("/"), is_session_cookie);

    // She links her beta identity (carol there: another person at beta, as far as emails go).
    let start = browser.post_form(link_url(&env.app, "beta"), &[]).await;
    assert_eq!(start.status, 302, "{start}\n{}", start.body);
    let location = start.location().expect("a Location");
    assert_eq!(location.origin(), env.beta.origin(), "{location}");
    assert_eq!(
        query_param(&location, "redirect_uri"),
        Some(format!("{}/auth/oidc/beta", env.app.external_url()))
    );
    let journey = browser
        .follow_with(start, AtProvider::log_in("carol"))
        .await;
    journey.assert_no_server_error();
    assert_link_callback(&journey, &env.app, "/auth/oidc/beta");
    let last = journey.last();
    assert_eq!(last.status, 200, "{journey}\n{}", last.body);
    assert_eq!(
        last.json()["provider"],
        "alpha",
        "still alice's alpha session"
    );
    assert_eq!(
        browser.find_cookie(&env.app.url("/"), is_session_cookie),
        cookie
    );
    assert_eq!(env.sessions().await, 1);
    let all = accounts.accounts();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0].identities,
        [linked("alpha", ALICE), linked("beta", CAROL)]
    );

    // carol at beta now signs in to alice's account.
    let journey = log_in_via(
        &env.app,
        &env.beta,
        &Browser::new(),
        "/auth/login?provider=beta&return_to=%2Fwhoami",
        "carol",
        "/whoami",
    )
    .await;
    let me = journey.last().json();
    assert_eq!(me["provider"], "beta", "{me}");
    assert_eq!(me["sub"], CAROL, "{me}");
    assert_eq!(me["account"], account, "{me}");
    assert_eq!(me["username"], "alice", "the account's username: {me}");
    assert_eq!(accounts.accounts().len(), 1);
    assert_eq!(env.sessions().await, 2);
}
