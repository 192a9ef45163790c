//! The cookies of an app configured for https, as the layer sends them: the attempt cookie of a
//! login and the session cookie of its callback carry the app's own `__Host-` names and every
//! flag (`Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`, `Max-Age`).
//!
//! The test serves the app over plain http on loopback (no certificate needed: the layer
//! decides on the configured external URL, never on the request), so the scripted browser's
//! jar is bypassed: the attempt cookie goes back in a `Cookie` header of its own.

use std::time::Duration;

use super::*;

/// Asserts `cookie` is named `name` (or starts with it, for `prefix`) and has every flag of a
/// `__Host-` cookie, with `Max-Age` `max_age`.
fn assert_host_cookie(cookie: &cookie::Cookie<'_>, name: &str, prefix: bool, max_age: Duration) {
    let named = if prefix {
        cookie.name().starts_with(name)
    } else {
        cookie.name() == name
    };
    assert!(named, "{cookie} should be named {name}");
    assert!(cookie.name().starts_with("__Host-"), "{cookie}");
    assert_eq!(cookie.secure(), Some(true), "Secure: {cookie}");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly: {cookie}");
    assert_eq!(
        cookie.same_site(),
        Some(SameSite::Lax),
        "SameSite: {cookie}"
    );
    assert_eq!(cookie.path(), Some("/"), "Path: {cookie}");
    assert_eq!(cookie.domain(), None, "no Domain: {cookie}");
    assert_eq!(
        cookie.max_age().map(|a| a.whole_seconds()),
        Some(i64::try_from(max_age.as_secs()).expect("seconds")),
        "Max-Age: {cookie}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_app_sends_host_cookies_with_every_flag() {
    init_tracing();
    let listener = AppListener::bind().await;
    let plain = listener.external_url();
    let external = plain.replacen("http://", "https://", 1);
    let op = Op::start(OpOptions {
        redirect_uris: vec![format!("{external}{CALLBACK}")],
        ..OpOptions::default()
    })
    .await;
    let config = OidcConfig::builder()
        .issuer(op.issuer())
        .client_id(op.client_id())
        .client_secret(op.client_secret())
        .external_url(&external)
        .build()
        .expect("a valid configuration");
    assert!(config.secure_cookies());
    let names = config.cookie_names();
    let router = Router::new()
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(OidcLayer::new(config).with_store(MemoryStore::<SessionData>::new()));
    let app = App::spawn(router, listener);

    // The login: a 302 to the provider with the attempt cookie.
    let browser = Browser::new();
    let page = browser.get(app.url("/whoami")).await;
    assert_eq!(page.status, 302, "{page}");
    let attempts: Vec<_> = page
        .set_cookies()
        .into_iter()
        .filter(|c| c.name().starts_with(names.attempt_prefix()))
        .collect();
    assert_eq!(attempts.len(), 1, "{:?}", page.set_cookie_headers());
    let attempt = &attempts[0];
    assert_host_cookie(
        attempt,
        names.attempt_prefix(),
        true,
        Duration::from_secs(600),
    );

    // The provider signs alice in and sends the browser to the https callback.
    let journey = browser
        .follow_until(page, AtProvider::log_in("alice"), |u| u.path() == CALLBACK)
        .await;
    let callback = journey
        .pending
        .clone()
        .unwrap_or_else(|| panic!("never reached the callback:\n{journey}"));
    assert_eq!(callback.scheme(), "https", "{callback}");
    let mut headers = HeaderMap::new();
    let pair = format!("{}={}", attempt.name(), attempt.value());
    headers.insert("cookie", HeaderValue::from_str(&pair).expect("a header"));
    headers.insert("accept", HeaderValue::from_static("text/html"));
    let over_http = format!(
        "{plain}{}?{}",
        callback.path(),
        callback.query().unwrap_or("")
    );
    let page = browser.raw(Method::GET, over_http, headers).await;
    assert_eq!(page.status, 303, "the callback: {page}\n{}", page.body);
    let session = page
        .set_cookie(names.session())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", page.set_cookie_headers()));
    assert_host_cookie(
        &session,
        names.session(),
        false,
        Duration::from_secs(12 * 3600),
    );
    let removed = page
        .set_cookie(attempt.name())
        .unwrap_or_else(|| panic!("the attempt is removed: {:?}", page.set_cookie_headers()));
    assert_eq!(removed.value(), "");
    assert_eq!(
        removed.max_age().map(|a| a.whole_seconds()),
        Some(0),
        "{removed}"
    );
}
