//! An app published at `{origin}/app` behind a reverse proxy, in both layouts: one that strips
//! the prefix (the app receives `/whoami`) and one that keeps it (`proxy_keeps_prefix`: the
//! app receives `/app/whoami` and the layer answers its routes at `/app/auth/...`). The
//! browser sees the same app either way: the same URLs, redirects without a doubled prefix,
//! the same public and API paths (written relative to the external URL in both).

use super::*;

/// How the proxy passes paths on.
#[derive(Clone, Copy, Debug)]
enum Proxy {
    Strips,
    Keeps,
}

struct Prefixed {
    app: App,
    op: Op,
}

impl Prefixed {
    async fn start(proxy: Proxy) -> Prefixed {
        init_tracing();
        let listener = AppListener::bind().await;
        let external = format!("{}/app", listener.external_url());
        let op = Op::start(OpOptions {
            redirect_uris: vec![format!("{external}/auth/oidc")],
            post_logout_redirect_uris: vec![format!("{external}/auth/logged-out")],
            ..OpOptions::default()
        })
        .await;
        let config = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(&external)
            .proxy_keeps_prefix(matches!(proxy, Proxy::Keeps))
            .public_paths(["/health"])
            .api_paths(["/api/*"])
            .build()
            .expect("a valid configuration");
        let layer = OidcLayer::new(config).with_store(MemoryStore::<SessionData>::new());
        // The app's own routes, written without the prefix; where it is kept, the app mounts
        // them under it (and the layer sees the whole path).
        let routes = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .route("/api/me", get(|id: Identity| async move { Json(id) }));
        let router = match proxy {
            Proxy::Strips => Router::new().nest_service("/app", routes.layer(layer)),
            Proxy::Keeps => Router::new().nest("/app", routes).layer(layer),
        };
        Prefixed {
            app: App::spawn(router, listener),
            op,
        }
    }
}

async fn the_app_behind_the_prefix_works_the_same(proxy: Proxy) {
    let site = Prefixed::start(proxy).await;
    let app = &site.app;
    let browser = Browser::new();

    // Public and API paths as configured (relative to the external URL).
    let health = browser.get(app.url("/app/health")).await;
    assert_eq!(
        (health.status.as_u16(), health.body.as_str()),
        (200, "ok"),
        "{proxy:?}"
    );
    let api = browser.fetch(app.url("/app/api/me")).await;
    assert_eq!(api.status, 401, "{proxy:?}: {api}");
    assert_eq!(
        api.json()["login_url"],
        "/app/auth/login?return_to=%2Fapi%2Fme",
        "{proxy:?}: one prefix in the login URL"
    );

    // A protected page: to the provider and back to the same page, with the identity.
    let journey = log_in_at(&browser, app.url("/app/whoami"), "alice", &site.op).await;
    assert_eq!(journey.last().json()["sub"], "u-1001-alice", "{proxy:?}");
    let callback = journey
        .hops
        .iter()
        .find(|p| p.url.path().ends_with("/auth/oidc"))
        .unwrap_or_else(|| panic!("{proxy:?}: no callback in\n{journey}"));
    assert_eq!(callback.url.path(), "/app/auth/oidc", "{proxy:?}");
    assert_eq!(
        callback.location().map(|l| l.path().to_owned()).as_deref(),
        Some("/app/whoami"),
        "{proxy:?}: back to the page, the prefix not doubled"
    );
    let me = browser.fetch(app.url("/app/api/me")).await;
    assert_eq!(me.status, 200, "{proxy:?}: {me}");

    // The layer's routes live under the prefix only: `/auth/login` outside it is no route of
    // the layer's (the app has none there either).
    let outside = browser.get(app.url("/auth/login")).await;
    assert_eq!(outside.status, 404, "{proxy:?}: {outside}");

    // Logout at `/app/auth/logout`: signed out of the app.
    let form = browser.get(app.url("/app/auth/logout")).await;
    assert_eq!(form.status, 200, "{proxy:?}: {form}");
    let done = browser.submit(&form, "logout", &[]).await;
    assert_eq!(done.status, 303, "{proxy:?}: {done}\n{}", done.body);
    let after = browser.fetch(app.url("/app/api/me")).await;
    assert_eq!(after.status, 401, "{proxy:?}: signed out");

    // A login link the app wrote with its own paths: `return_to` with or without the
    // prefix lands on the same page (a kept prefix is not doubled).
    for return_to in ["/whoami", "/app/whoami"] {
        let fresh = Browser::new();
        let mut login = app.url("/app/auth/login");
        login.query_pairs_mut().append_pair("return_to", return_to);
        let first = fresh.get(login).await;
        let journey = fresh.follow_with(first, AtProvider::log_in("bob")).await;
        journey.assert_no_server_error();
        let expected = match (proxy, return_to) {
            // Behind a stripping proxy the app's paths are `/whoami`: `/app/whoami` would be
            // its own path `/app/whoami` (none here).
            (Proxy::Strips, "/app/whoami") => "/app/app/whoami",
            _ => "/app/whoami",
        };
        assert_eq!(
            journey.last().url.path(),
            expected,
            "{proxy:?}: return_to {return_to}:\n{journey}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_behind_a_proxy_that_strips_the_prefix() {
    the_app_behind_the_prefix_works_the_same(Proxy::Strips).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_behind_a_proxy_that_keeps_the_prefix() {
    the_app_behind_the_prefix_works_the_same(Proxy::Keeps).await;
}
