//! Several providers: two op.mjs instances (two issuers) behind one app. The chooser, the
//! per-provider login URL and callback, and the mix-up defence: an answer of one provider
//! delivered to the other's callback is refused before any code is exchanged.

use super::site::*;
use super::*;

const BETA_CALLBACK: &str = "/auth/oidc/beta";

/// Asserts `page` redirects to `op`'s authorization endpoint with `redirect_uri`; returns the
/// authorization request URL.
fn assert_sent_to(page: &Page, op: &Op, redirect_uri: &str, context: &str) -> Url {
    assert_eq!(page.status, 302, "{context}: {page}\n{}", page.body);
    let location = page
        .location()
        .unwrap_or_else(|| panic!("{context}: no Location"));
    let endpoint = op.authorization_endpoint();
    assert_eq!(
        (location.origin(), location.path()),
        (endpoint.origin(), endpoint.path()),
        "{context}: should go to {endpoint}, went to {location}"
    );
    assert_eq!(
        query_param(&location, "redirect_uri").as_deref(),
        Some(redirect_uri),
        "{context}: {location}"
    );
    assert_eq!(
        query_param(&location, "client_id").as_deref(),
        Some("test-client")
    );
    location
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chooser_lists_every_provider_and_each_one_logs_in() {
    let env = TwoProviders::start(None).await;
    let alpha_callback = format!("{}/auth/oidc", env.app.external_url());
    let beta_callback = format!("{}{BETA_CALLBACK}", env.app.external_url());

    // An unauthenticated navigation gets the chooser; no login starts yet.
    let browser = Browser::new();
    let chooser = browser.get(env.app.url("/whoami")).await;
    assert_eq!(chooser.status, 200, "{chooser}\n{}", chooser.body);
    assert!(
        chooser.content_type().starts_with("text/html"),
        "{:?}",
        chooser.content_type()
    );
    assert!(
        chooser.set_cookie_headers().is_empty(),
        "the chooser starts no attempt: {:?}",
        chooser.set_cookie_headers()
    );
    assert_eq!(heading(&chooser), "Sign in");
    assert!(
        chooser
            .body
            .contains("<nav aria-label=\"Sign-in providers\">"),
        "a labelled navigation landmark:\n{}",
        chooser.body
    );
    for (slug, name) in [("alpha", "Alpha ID"), ("beta", "Beta Login")] {
        let href = env
            .app
            .url(&format!("/auth/login?return_to=%2Fwhoami&provider={slug}"));
        assert_eq!(
            chooser.link(&format!("provider-{slug}")),
            Some(href.clone()),
            "{}",
            chooser.body
        );
        assert_eq!(
            link_with_text(&chooser, &format!("Sign in with {name}")),
            Some(href),
            "the link names the provider:\n{}",
            chooser.body
        );
    }
    assert_eq!(
        chooser.link("backup-login"),
        Some(env.app.url(BACKUP_PATH)),
        "{}",
        chooser.body
    );
    let page = browser.fetch(env.app.url("/whoami")).await;
    assert_eq!(page.status, 401, "{page}");
    assert_eq!(
        page.json()["login_url"],
        "/auth/login?return_to=%2Fwhoami",
        "a script is sent to the chooser"
    );
    let page = browser.get(env.app.url("/auth/login")).await;
    assert_eq!(page.status, 200, "{page}");
    assert!(
        page.link("provider-alpha").is_some() && page.link("provider-beta").is_some(),
        "/auth/login without a provider is the chooser:\n{}",
        page.body
    );
    let page = browser
        .get(
            env.app
                .url("/auth/login?provider=gamma&return_to=%2Fwhoami"),
        )
        .await;
    assert_eq!(page.status, 400, "an unknown provider: {page}");
    assert_eq!(heading(&page), "Unknown sign-in provider");

    // Clicking beta goes to beta with beta's callback, and logs in there.
    let beta_link = chooser.link("provider-beta").expect("checked above");
    let first = browser.click(&chooser, beta_link).await;
    assert_sent_to(&first, &env.beta, &beta_callback, "the chooser's beta link");
    let journey = browser.follow(first).await;
    journey.assert_no_server_error();
    let callback = journey
        .hops
        .iter()
        .find(|p| p.url.origin() == env.app.origin() && p.url.path().starts_with("/auth/oidc"))
        .unwrap_or_else(|| panic!("no callback hop:\n{journey}"));
    assert_eq!(callback.url.path(), BETA_CALLBACK, "{journey}");
    assert_eq!(callback.status, 303, "{journey}");
    let last = journey.last();
    assert_eq!(
        (&last.url, last.status.as_u16()),
        (&env.app.url("/whoami"), 200),
        "{journey}\n{}",
        last.body
    );
    let identity = last.json();
    assert_eq!(identity["provider"], "beta", "{identity}");
    assert_eq!(identity["iss"], env.beta.issuer(), "{identity}");
    assert_eq!(identity["sub"], ALICE, "{identity}");
    assert_eq!(identity["roles"], json!(["admin"]), "{identity}");

    // `?provider=alpha` skips the chooser; alpha's callback is `/auth/oidc`.
    let browser = Browser::new();
    let first = browser
        .get(
            env.app
                .url("/auth/login?provider=alpha&return_to=%2Fwhoami"),
        )
        .await;
    assert_sent_to(&first, &env.alpha, &alpha_callback, "?provider=alpha");
    let journey = browser.follow_with(first, AtProvider::log_in("bob")).await;
    journey.assert_no_server_error();
    assert!(journey.hop("/auth/oidc").is_some(), "{journey}");
    assert!(journey.hop(BETA_CALLBACK).is_none(), "{journey}");
    let last = journey.last();
    assert_eq!(last.status, 200, "{journey}\n{}", last.body);
    let identity = last.json();
    assert_eq!(identity["provider"], "alpha", "{identity}");
    assert_eq!(identity["iss"], env.alpha.issuer(), "{identity}");
    assert_eq!(identity["sub"], BOB, "{identity}");
    assert_eq!(identity["roles"], json!(["trusted"]), "{identity}");

    assert_eq!(env.sessions().await, 2);
    assert_eq!(token_requests(&env.alpha).await, 1);
    assert_eq!(token_requests(&env.beta).await, 1);
}

/// Starts a login at provider `slug` (alice) and returns the provider's answer: the callback
/// URL, not requested.
async fn provider_answer(app: &App, op: &Op, browser: &Browser, slug: &str) -> Url {
    let callback = if slug == "alpha" {
        CALLBACK
    } else {
        BETA_CALLBACK
    };
    let start = format!("/auth/login?provider={slug}&return_to=%2Fwhoami");
    callback_url_at(app, op, browser, &start, "alice", callback).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_delivered_to_the_other_providers_callback_is_refused() {
    let env = TwoProviders::start(None).await;
    // 1. Beta's whole answer (code, state, iss) at alpha's callback.
    let browser = Browser::new();
    let answer = provider_answer(&env.app, &env.beta, &browser, "beta").await;
    assert_eq!(
        query_param(&answer, "iss").as_deref(),
        Some(env.beta.issuer()),
        "{answer}"
    );
    let mut at_alpha = answer.clone();
    at_alpha.set_path(CALLBACK);
    let page = browser.get(&at_alpha).await;
    assert_refusal(&page, "beta's answer at alpha's callback");
    assert_eq!(page.status, 400, "{page}");
    assert_eq!(
        detail(&page),
        "The sign-in response arrived for a different identity provider than the one you chose."
    );

    // 2. A login at alpha, answered with beta's code and issuer (the classic mix-up).
    let browser = Browser::new();
    let alpha_cb = provider_answer(&env.app, &env.alpha, &browser, "alpha").await;
    let beta_cb = provider_answer(&env.app, &env.beta, &browser, "beta").await;
    let forged = with_query_param(
        &with_query_param(&alpha_cb, "code", query_param(&beta_cb, "code").as_deref()),
        "iss",
        Some(env.beta.issuer()),
    );
    let page = browser.get(&forged).await;
    assert_refusal(&page, "alpha's state with beta's code and iss");
    assert_eq!(page.status, 400, "{page}");
    assert_eq!(
        detail(&page),
        "The sign-in response came from an unexpected identity provider."
    );

    // 3. The same without `iss`: alpha advertises it, so it must be there.
    let browser3 = Browser::new();
    let alpha_cb3 = provider_answer(&env.app, &env.alpha, &browser3, "alpha").await;
    let beta_cb3 = provider_answer(&env.app, &env.beta, &browser3, "beta").await;
    let forged = with_query_param(
        &with_query_param(
            &alpha_cb3,
            "code",
            query_param(&beta_cb3, "code").as_deref(),
        ),
        "iss",
        None,
    );
    let page = browser3.get(&forged).await;
    assert_refusal(&page, "alpha's state with beta's code, no iss");
    assert_eq!(page.status, 400, "{page}");
    assert_eq!(
        detail(&page),
        "The sign-in response is incomplete (no issuer)."
    );

    assert_eq!(env.sessions().await, 0, "no session from a mixed-up answer");
    assert_eq!(token_requests(&env.alpha).await, 0, "no code sent to alpha");
    assert_eq!(token_requests(&env.beta).await, 0, "no code sent to beta");

    // Beta's code was never exchanged: its genuine callback (case 2's browser still holds the
    // beta attempt) completes the login at beta.
    let page = browser.get(&beta_cb).await;
    assert_eq!(page.status, 303, "{page}\n{}", page.body);
    assert_eq!(page.location(), Some(env.app.url("/whoami")));
    assert_eq!(env.sessions().await, 1);
    assert_eq!(token_requests(&env.beta).await, 1);
    let me = browser.fetch(env.app.url("/whoami")).await;
    assert_eq!(me.json()["provider"], "beta", "{}", me.body);
}
