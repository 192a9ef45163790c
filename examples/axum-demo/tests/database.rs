//! The demo with `DATABASE_URL=sqlite://...`, end to end: its binary started as `cargo run -p
//! axum-demo` starts it, a person signs in, the demo is stopped and started again on the same
//! file (and cookie key), and the person is still signed in, with the same identity.

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};

/// A test-only cookie key (base64 of 32 bytes), the same for both runs.
const COOKIE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_sqlite_database_a_session_survives_a_restart_of_the_demo() {
    let dir = std::env::temp_dir().join(format!("axum-demo-sqlite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let url = format!("sqlite://{}", dir.join("sessions.db").display());
    // The same address both times: cookie names are derived from the app's URL.
    let port = free_port();
    let port_text = port.to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("OIDC_COOKIE_KEY", COOKIE_KEY),
        ("PORT", port_text.as_str()),
    ];

    let browser = Browser::new();
    let before = {
        let app = Example::start(env!("CARGO_BIN_EXE_axum-demo"), &env).await;
        assert!(
            app.output()
                .iter()
                .any(|line| line.contains("sessions in the SQLite file")),
            "the demo says where sessions live:\n{}",
            app.output().join("\n")
        );
        let first = browser.get(app.url("/whoami")).await;
        let at_provider = browser.follow(first).await;
        let journey = sign_in_at_test_provider(&browser, at_provider.last(), "carol").await;
        journey.assert_no_server_error();
        let me = browser.fetch(&app.url("/api/me")).await;
        assert_eq!(me.status, 200, "{me}");
        me.json()
        // The demo stops here (killed on drop).
    };
    assert_eq!(before["username"], "carol", "{before}");

    // The killed process lets go of its port.
    while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let app = Example::start(env!("CARGO_BIN_EXE_axum-demo"), &env).await;
    // The new process finds the browser's session in the file.
    let after = browser.fetch(&app.url("/api/me")).await;
    assert_eq!(
        after.status, 200,
        "still signed in after the restart: {after}\n{}",
        after.body
    );
    let after = after.json();
    assert_eq!(after["username"], "carol", "{after}");
    assert_eq!(after["sub"], before["sub"], "{after}");

    // A stranger is not let in by the file.
    assert_eq!(Browser::new().fetch(&app.url("/api/me")).await.status, 401);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
