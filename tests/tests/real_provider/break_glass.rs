//! Break glass: the provider is down (its issuer points at a closed port), and the app's own
//! backup login (`backup_login_path`) still lets an administrator in.

use super::site::*;
use super::*;

/// A loopback port nothing listens on: bound to pick a free port, then released.
fn closed_port_issuer() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_login_works_while_the_provider_is_down() {
    init_tracing();
    let listener = AppListener::bind().await;
    let config = OidcConfig::builder()
        .issuer(closed_port_issuer())
        .client_id("test-client")
        .client_secret("test-secret")
        .external_url(listener.external_url())
        .roles(demo_roles())
        .public_paths(PUBLIC_PATHS)
        // Not listed in the public paths: the layer must keep it reachable by itself.
        .backup_login_path(BACKUP_PATH)
        .build()
        .expect("a valid configuration");
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
