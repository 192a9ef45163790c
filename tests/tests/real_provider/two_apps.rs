//! Two apps on one host, each behind its own layer, one provider with a client for each, one
//! browser. Browsers scope cookies by host, not by port or path, so with one fixed cookie name
//! signing in to the second app would overwrite the first one's session cookie. With the
//! default names (derived from each app's client id and external URL) both stay signed in,
//! and logging out of one leaves the other signed in. Two layouts: two ports, and two path
//! prefixes of one origin (a reverse proxy routing `/a` and `/b`; `__Host-` cookies must have
//! `Path=/`, so only the names can keep them apart).

use serde_json::Value;

use super::*;

const CLIENT_B: &str = "app-b";
const SECRET_B: &str = "app-b-secret";

/// Where the two apps live.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// `http://127.0.0.1:{a}` and `http://127.0.0.1:{b}`.
    Ports,
    /// `http://127.0.0.1:{port}/a` and `http://127.0.0.1:{port}/b`.
    Prefixes,
}

/// One app: where browsers reach it and its cookie names.
struct Member {
    external_url: String,
    cookies: CookieNames,
}

impl Member {
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.external_url)).expect("a URL")
    }
}

struct TwoApps {
    a: Member,
    b: Member,
    op: Op,
    _apps: Vec<App>,
}

/// The app of one member: `/whoami` protected, `/` public.
fn router(op: &Op, client: (&str, &str), external_url: &str) -> (Router, CookieNames) {
    let config = OidcConfig::builder()
        .issuer(op.issuer())
        .client_id(client.0)
        .client_secret(client.1)
        .external_url(external_url)
        .public_paths(["/"])
        .build()
        .expect("a valid configuration");
    let cookies = config.cookie_names();
    let router = Router::new()
        .route("/", get(|| async { "home" }))
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(OidcLayer::new(config).with_store(MemoryStore::<SessionData>::new()));
    (router, cookies)
}

impl TwoApps {
    async fn start(layout: Layout) -> TwoApps {
        init_tracing();
        let first = AppListener::bind().await;
        let second = match layout {
            Layout::Ports => Some(AppListener::bind().await),
            Layout::Prefixes => None,
        };
        let (url_a, url_b) = match &second {
            Some(second) => (first.external_url(), second.external_url()),
            None => (
                format!("{}/a", first.external_url()),
                format!("{}/b", first.external_url()),
            ),
        };
        let uris = |base: &str| {
            (
                vec![format!("{base}/auth/oidc")],
                vec![format!("{base}/"), format!("{base}/auth/logged-out")],
            )
        };
        let (redirect_a, logout_a) = uris(&url_a);
        let (redirect_b, logout_b) = uris(&url_b);
        let extra = serde_json::json!([{
            "client_id": CLIENT_B,
            "client_secret": SECRET_B,
            "redirect_uris": redirect_b,
            "post_logout_redirect_uris": logout_b,
        }]);
        let op = Op::start(OpOptions {
            redirect_uris: redirect_a,
            post_logout_redirect_uris: logout_a,
            env: vec![("OP_EXTRA_CLIENTS".into(), extra.to_string())],
            ..OpOptions::default()
        })
        .await;
        let client_a = (op.client_id().to_owned(), op.client_secret().to_owned());
        let (router_a, cookies_a) = router(&op, (&client_a.0, &client_a.1), &url_a);
        let (router_b, cookies_b) = router(&op, (CLIENT_B, SECRET_B), &url_b);
        let apps = match second {
            Some(second) => vec![App::spawn(router_a, first), App::spawn(router_b, second)],
            // The reverse proxy: each app gets every path under its prefix, without the prefix.
            None => vec![App::spawn(
                Router::new()
                    .nest_service("/a", router_a)
                    .nest_service("/b", router_b),
                first,
            )],
        };
        TwoApps {
            a: Member {
                external_url: url_a,
                cookies: cookies_a,
            },
            b: Member {
                external_url: url_b,
                cookies: cookies_b,
            },
            op,
            _apps: apps,
        }
    }
}

/// `fetch('/whoami')` on `member`: alice's `sub`, or `None` when signed out (401).
async fn whoami(browser: &Browser, member: &Member) -> Option<Value> {
    let page = browser.fetch(member.url("/whoami")).await;
    match page.status.as_u16() {
        200 => Some(page.json()["sub"].clone()),
        401 => None,
        _ => panic!("unexpected answer of {}: {page}", member.external_url),
    }
}

async fn signing_in_to_one_app_leaves_the_other_signed_in(layout: Layout) {
    let apps = TwoApps::start(layout).await;
    let (a, b) = (&apps.a, &apps.b);
    let browser = Browser::new();
    log_in_at(&browser, a.url("/whoami"), "alice", &apps.op).await;
    assert_eq!(whoami(&browser, a).await, Some(json!("u-1001-alice")));
    log_in_at(&browser, b.url("/whoami"), "alice", &apps.op).await;
    assert_eq!(
        whoami(&browser, b).await,
        Some(json!("u-1001-alice")),
        "{layout:?}: B"
    );
    assert_eq!(
        whoami(&browser, a).await,
        Some(json!("u-1001-alice")),
        "{layout:?}: A is still signed in after signing in to B"
    );
    assert_ne!(
        a.cookies.session(),
        b.cookies.session(),
        "{layout:?}: each app its own session cookie"
    );
    let names = browser.cookie_names(&a.url("/"));
    for name in [a.cookies.session(), b.cookies.session()] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }

    // Logging out of B (its own logout: the session ends before the browser goes on to the
    // provider) leaves A signed in.
    let form = browser.get(b.url("/auth/logout")).await;
    let page = browser.submit(&form, "logout", &[]).await;
    assert_eq!(
        page.status, 303,
        "{layout:?}: B's logout: {page}\n{}",
        page.body
    );
    assert!(
        page.set_cookies()
            .iter()
            .all(|c| c.name() != a.cookies.session()),
        "{layout:?}: B's logout touches no cookie of A: {:?}",
        page.set_cookie_headers()
    );
    assert_eq!(whoami(&browser, b).await, None, "{layout:?}: B signed out");
    assert_eq!(
        whoami(&browser, a).await,
        Some(json!("u-1001-alice")),
        "{layout:?}: A is still signed in after logging out of B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_two_ports_of_one_host_keep_their_sessions_apart() {
    signing_in_to_one_app_leaves_the_other_signed_in(Layout::Ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_two_path_prefixes_of_one_origin_keep_their_sessions_apart() {
    signing_in_to_one_app_leaves_the_other_signed_in(Layout::Prefixes).await;
}
