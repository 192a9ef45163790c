//! Break glass: the provider is down (its issuer points at a closed port), and the app's own
//! backup login (`backup_login_path`) still lets an administrator in, and throttles guesses.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use oidc_layer::{BreakGlassError, BreakGlassGuard, LocalUser, password_matches};

use super::site::*;
use super::*;

/// A loopback port nothing listens on: bound to pick a free port, then released.
fn closed_port_issuer() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    drop(listener);
    format!("http://{addr}")
}

/// The configuration of an app whose provider is down, with its backup login at `backup_path`.
fn provider_down(listener: &AppListener, backup_path: &str) -> OidcConfig {
    OidcConfig::builder()
        .issuer(closed_port_issuer())
        .client_id("test-client")
        .client_secret("test-secret")
        .external_url(listener.external_url())
        .roles(demo_roles())
        .public_paths(PUBLIC_PATHS)
        .backup_login_path(backup_path)
        .build()
        .expect("a valid configuration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_login_works_while_the_provider_is_down() {
    init_tracing();
    let listener = AppListener::bind().await;
    // Not listed in the public paths: the layer must keep it reachable by itself.
    let config = provider_down(&listener, BACKUP_PATH);
    assert!(!PUBLIC_PATHS.contains(&BACKUP_PATH));
    let store = Arc::new(MemoryStore::<SessionData>::new());
    let layer = OidcLayer::new(config).with_store(store.clone());
    let app = App::spawn(app_router(&layer), listener);
    let backup = app.url(BACKUP_PATH);

    // A protected page: the provider is unreachable, and the 503 page offers the backup login.
    let browser = Browser::new();
    let page = browser.get(app.url("/whoami")).await;
    assert_eq!(page.status, 503, "{page}\n{}", page.body);
    assert!(
        page.content_type().starts_with("text/html"),
        "{:?}",
        page.content_type()
    );
    assert_eq!(heading(&page), "The sign-in service is unreachable");
    assert_eq!(
        link_with_text(&page, "Administrator sign-in"),
        Some(backup.clone()),
        "the 503 page offers the backup login:\n{}",
        page.body
    );
    assert_eq!(
        link_with_text(&page, "Try again"),
        Some(app.url("/auth/login?return_to=%2Fwhoami"))
    );

    // Pages that are not about the provider failing do not offer it (here: a sign-in link this
    // browser never started).
    let page = browser
        .get(app.url("/auth/oidc?state=not-ours&code=x"))
        .await;
    assert_eq!(page.status, 400, "{page}\n{}", page.body);
    assert_eq!(
        link_with_text(&page, "Administrator sign-in"),
        None,
        "{}",
        page.body
    );

    // The backup login page itself is reachable without a session and without the provider.
    let form = browser.click(&page, backup.clone()).await;
    assert_eq!(
        form.status, 200,
        "the backup login page is public: {form}\n{}",
        form.body
    );
    assert!(form.form("local-login").is_some(), "{}", form.body);

    // `/auth/login?backup=1` leads there too.
    let page = browser.get(app.url("/auth/login?backup=1")).await;
    assert_eq!(page.status, 303, "{page}\n{}", page.body);
    assert_eq!(page.location(), Some(backup.clone()));
    let journey = browser.follow(page).await;
    assert_eq!(
        (&journey.last().url, journey.last().status.as_u16()),
        (&backup, 200),
        "{journey}"
    );
    assert_eq!(
        store.len().await,
        0,
        "looking at the backup login stores nothing"
    );

    // The administrator signs in there and reaches the admin page, provider still down.
    let page = browser
        .submit(&form, "local-login", &[("password", LOCAL_PASSWORD)])
        .await;
    assert_eq!(page.status, 303, "{page}\n{}", page.body);
    assert_eq!(page.location(), Some(app.url("/admin")));
    let journey = browser.follow(page).await;
    let last = journey.last();
    assert_eq!(
        (&last.url, last.status.as_u16(), last.body.as_str()),
        (&app.url("/admin"), 200, "admin area"),
        "{journey}"
    );
    let me = browser.fetch(app.url("/whoami")).await;
    assert_eq!(me.status, 200, "{me}");
    let me = me.json();
    assert_eq!(me["provider"], "local", "{me}");
    assert_eq!(me["username"], "root", "{me}");
    assert_eq!(me["roles"], json!(["admin"]), "{me}");
    // The role order of the provider applies to the local administrator too.
    let page = browser.fetch(app.url("/trusted")).await;
    assert_eq!(page.status, 200, "{page}");
    assert_eq!(store.len().await, 1);
}

/// The throttled backup login of [`the_backup_login_throttles_password_guesses`].
const GUARDED_PATH: &str = "/login/guarded";

/// An app whose backup login at [`GUARDED_PATH`] checks [`LOCAL_PASSWORD`] the way the README
/// shows: same-origin posts only, through a [`BreakGlassGuard`], compared in constant time.
fn guarded_backup_login(layer: &OidcLayer, guard: Arc<BreakGlassGuard>) -> Router {
    use axum::http::{HeaderMap as RequestHeaders, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::post;

    let handler_layer = layer.clone();
    Router::new()
        .route(
            GUARDED_PATH,
            post(move |headers: RequestHeaders, body: String| {
                let (layer, guard) = (handler_layer.clone(), guard.clone());
                async move {
                    if !layer.is_same_origin(&headers) {
                        return StatusCode::FORBIDDEN.into_response();
                    }
                    let password = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "password")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    // The app is served without connection info: every client is one address.
                    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
                    let checked = guard
                        .check(client, async {
                            password_matches(&password, LOCAL_PASSWORD)
                        })
                        .await;
                    match checked {
                        Ok(()) => {}
                        Err(BreakGlassError::Throttled { retry_after }) => {
                            let seconds = retry_after.as_secs().max(1).to_string();
                            return (
                                StatusCode::TOO_MANY_REQUESTS,
                                [(header::RETRY_AFTER, seconds)],
                            )
                                .into_response();
                        }
                        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
                    }
                    let user = LocalUser {
                        username: "root".into(),
                        roles: vec!["admin".into()],
                        ..LocalUser::default()
                    };
                    match layer.sign_in_local(&headers, user).await {
                        Ok(cookie) => (
                            StatusCode::SEE_OTHER,
                            [(header::SET_COOKIE, cookie)],
                            [(header::LOCATION, "/admin")],
                        )
                            .into_response(),
                        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            }),
        )
        .merge(app_router(layer))
        .layer(layer.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_login_throttles_password_guesses() {
    init_tracing();
    let listener = AppListener::bind().await;
    let config = provider_down(&listener, GUARDED_PATH);
    let store = Arc::new(MemoryStore::<SessionData>::new());
    let layer = OidcLayer::new(config).with_store(store.clone());
    let guard = Arc::new(BreakGlassGuard::new().per_address(3, Duration::from_secs(600)));
    let app = App::spawn(guarded_backup_login(&layer, guard), listener);
    let url = app.url(GUARDED_PATH);

    // The right password signs in (and, in this browser, replaces nothing).
    let admin = Browser::new();
    let page = admin.post_form(&url, &[("password", LOCAL_PASSWORD)]).await;
    assert_eq!(page.status, 303, "{page}\n{}", page.body);
    assert_eq!(store.len().await, 1);

    // A cross-site post is refused before the password is looked at, and not counted.
    let guesser = Browser::new();
    let page = guesser
        .post_form_with(
            &url,
            &[("password", "guess")],
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(page.status, 403, "{page}");

    // Three wrong guesses, then even the right password is refused unchecked.
    for n in 1..=3 {
        let page = guesser
            .post_form(&url, &[("password", &format!("guess-{n}"))])
            .await;
        assert_eq!(page.status, 401, "guess {n}: {page}");
    }
    let page = guesser
        .post_form(&url, &[("password", LOCAL_PASSWORD)])
        .await;
    assert_eq!(page.status, 429, "{page}\n{}", page.body);
    let retry_after: u64 = page
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(
        (1..=600).contains(&retry_after),
        "within the window: {retry_after}"
    );
    assert_no_session_cookie_set(&page, "the throttled sign-in");
    assert_eq!(store.len().await, 1, "only the administrator's session");
}
