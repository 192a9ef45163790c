//! The demo for API clients, end to end: its binary started as `cargo run -p axum-demo` starts
//! it (on a free port, with its embedded provider), the `curl` line it prints run as printed
//! (bash, curl and sed, no jq), and `/api/me` answering the CLI client's identity; a person's
//! browser session on the same route; no token, a wrong token: 401 with the Bearer challenge.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};
use serde_json::Value;

/// The line the demo prints for API clients.
fn curl_line(app: &Example) -> String {
    let output = app.output();
    output
        .iter()
        .find_map(|line| {
            line.trim()
                .strip_prefix("TOKEN=$(curl")
                .map(|_| line.trim())
        })
        .unwrap_or_else(|| panic!("the demo printed no curl line:\n{}", output.join("\n")))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_curl_line_calls_api_me_with_a_token() {
    let app = Example::start(env!("CARGO_BIN_EXE_axum-demo"), &[]).await;
    let line = curl_line(&app);
    assert!(
        line.contains(&format!("{}api/me", app.url("/"))),
        "the line calls this demo's /api/me: {line}"
    );
    let run = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&line)
        .output()
        .await
        .unwrap_or_else(|e| panic!("bash (with curl and sed) is needed to run the line: {e}"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{line}\nexit {:?}: {stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let me: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("/api/me answered no JSON ({e}): {stdout}"));
    assert_eq!(me["sub"], "demo-cli", "{me}");
    assert_eq!(me["client_id"], "demo-cli", "{me}");
    assert_eq!(me["machine"], true, "{me}");
    assert_eq!(me["authentication"], "bearer", "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_me_takes_sessions_and_refuses_bad_tokens() {
    let app = Example::start(env!("CARGO_BIN_EXE_axum-demo"), &[]).await;
    let api_me = app.url("/api/me");

    let anonymous = Browser::new().fetch(&api_me).await;
    assert_eq!(anonymous.status, 401, "{anonymous}");
    let challenge = anonymous.headers_all("www-authenticate").join(", ");
    assert!(challenge.contains("Bearer"), "{challenge:?}");

    let forged = Browser::new()
        .fetch_with(
            axum::http::Method::GET,
            &api_me,
            &[("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")],
        )
        .await;
    assert_eq!(forged.status, 401, "{forged}");
    let challenge = forged.headers_all("www-authenticate").join(", ");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{challenge:?}"
    );

    // A person signs in with the browser: the same route answers their session's identity.
    let browser = Browser::new();
    let first = browser.get(app.url("/whoami")).await;
    let at_provider = browser.follow(first).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "bob").await;
    journey.assert_no_server_error();
    let me = browser.fetch(&api_me).await;
    assert_eq!(me.status, 200, "{me}");
    let me = me.json();
    assert_eq!(me["username"], "bob", "{me}");
    assert_eq!(me["machine"], false, "{me}");
    assert_eq!(me["authentication"], "session", "{me}");
}
