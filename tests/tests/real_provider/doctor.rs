//! The configuration doctor (`OidcLayer::check`) against the real provider: the client secret
//! is checked without a login (a token request with a dummy code: `invalid_grant` for the
//! right secret, `invalid_client` for a wrong one), and never shows up in the report.

use oidc_layer::doctor::{Level, Report};

use super::*;

/// The doctor's report for an app on a fresh listener whose client authenticates with
/// `secret` at the provider `op` (registered for that app).
async fn report_with_secret(secret: &str) -> (Report, Op) {
    init_tracing();
    let listener = AppListener::bind().await;
    let op = Op::start(OpOptions::for_app(&listener)).await;
    let layer = OidcLayer::new(
        OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(secret)
            .external_url(listener.external_url())
            .scopes(["openid", "profile", "email"])
            .build()
            .expect("a valid configuration"),
    );
    (layer.check().await, op)
}

/// How many token requests the provider answered with `status` (its request log).
async fn token_requests(op: &Op, status: u16) -> usize {
    op.sync_log().await;
    let path = op.endpoint("token_endpoint").path().to_owned();
    op.count_log_lines(&format!("POST {path} {status}"))
}

fn client_secret_findings(report: &Report) -> Vec<(Level, String)> {
    report.providers[0]
        .check("client_secret")
        .map(|f| (f.level, f.message.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_tells_a_right_client_secret_from_a_wrong_one() {
    let right_secret = OpOptions::default().client_secret;
    let (right, op) = report_with_secret(&right_secret).await;
    let found = client_secret_findings(&right);
    assert_eq!(found.len(), 1, "{right}");
    assert_eq!(found[0].0, Level::Ok, "{right}");
    assert!(found[0].1.contains("invalid_grant"), "{right}");
    assert!(right.is_ok(), "{right}\n{}", op.log_tail());
    // The provider saw one token request, refused (400) for its code, not for the client.
    assert_eq!(token_requests(&op, 400).await, 1, "{}", op.log_tail());
    assert_eq!(token_requests(&op, 401).await, 0, "{}", op.log_tail());

    let wrong_secret = "not-the-client-secret";
    let (wrong, op) = report_with_secret(wrong_secret).await;
    let found = client_secret_findings(&wrong);
    assert_eq!(found.len(), 1, "{wrong}");
    assert_eq!(found[0].0, Level::Error, "{wrong}");
    assert!(
        found[0].1.contains("invalid_client") && found[0].1.contains("client secret is wrong"),
        "{wrong}"
    );
    assert!(!wrong.is_ok(), "{wrong}");
    assert_eq!(token_requests(&op, 401).await, 1, "{}", op.log_tail());

    for (report, secret) in [(&right, right_secret.as_str()), (&wrong, wrong_secret)] {
        let text = format!("{report}\n{report:?}");
        assert!(!text.contains(secret), "the secret in the report: {text}");
    }
}
