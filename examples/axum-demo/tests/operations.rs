//! The demo's operations routes, end to end: its binary started (embedded provider), a person
//! signs in with the browser, then `/metrics` (Prometheus text) counts the login and
//! `/health/ready` answers 200 with the health report, both without a session.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_login_and_the_demo_is_ready() {
    let app = Example::start(env!("CARGO_BIN_EXE_axum-demo"), &[]).await;

    let browser = Browser::new();
    let first = browser.get(app.url("/whoami")).await;
    let at_provider = browser.follow(first).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "bob").await;
    journey.assert_no_server_error();
    let whoami = browser.fetch(&app.url("/whoami")).await;
    assert_eq!(whoami.status, 200, "signed in: {whoami}");

    // A browser without a session: neither route asks to sign in.
    let anonymous = Browser::new();
    let metrics = anonymous.fetch(&app.url("/metrics")).await;
    assert_eq!(metrics.status, 200, "{metrics}");
    let text = &metrics.body;
    let completed = text
        .lines()
        .find(|l| l.starts_with("oidc_layer_logins_completed_total{"))
        .unwrap_or_else(|| panic!("no login counter in /metrics:\n{text}"));
    assert!(completed.contains("provider=\""), "{completed}");
    assert!(completed.ends_with(" 1"), "{completed}");
    assert!(
        text.contains("# HELP oidc_layer_logins_completed_total"),
        "the metrics are described:\n{text}"
    );
    assert!(
        text.contains("oidc_layer_provider_request_duration_seconds"),
        "{text}"
    );

    let ready = anonymous.fetch(&app.url("/health/ready")).await;
    assert_eq!(ready.status, 200, "{ready}");
    let report = ready.json();
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["store"]["reachable"], true, "{report}");
    assert_eq!(report["providers"][0]["usable"], true, "{report}");
}
