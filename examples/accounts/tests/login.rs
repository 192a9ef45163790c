//! The example end to end: its binary started as `cargo run -p accounts` starts it (on a free
//! port), a scripted browser signing in through its embedded providers, asserting what the
//! person sees: alice's first sign-in is linked to the account `alice` by her verified email;
//! bob, unknown to the app (no new users admitted), is refused with a page that says so and
//! no session. The accounts are in a SQLite file of the test's own (`DATABASE_URL`), which
//! keeps them across a restart, or in a throwaway PostgreSQL server.

use std::path::PathBuf;

use oidc_e2e::{Browser, Example, sign_in_at_test_provider};
use session_store::postgres_server::PostgresServer;

/// A temporary directory for the example's SQLite file, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("accounts-example-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        Self(dir)
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}/accounts.db", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(database_url: &str) -> Example {
    Example::start(
        env!("CARGO_BIN_EXE_accounts"),
        &[("DATABASE_URL", database_url)],
    )
    .await
}

/// Alice signs in at Company SSO (from the chooser) and lands on her linked-accounts page;
/// returns the browser, signed in.
async fn alice_signs_in(app: &Example) -> Browser {
    let browser = Browser::new();
    let home = browser.get(app.url("/")).await;
    assert_eq!(home.status, 200, "{home}");
    assert!(
        home.body.contains("You are not signed in."),
        "{}",
        home.body
    );
    let login = home.link("login").expect("a sign-in link");
    let chooser = browser.follow(browser.click(&home, login).await).await;
    let chooser = chooser.last();
    let link = chooser
        .link("provider-company-sso")
        .unwrap_or_else(|| panic!("Company SSO on the chooser:\n{}", chooser.body));
    let at_provider = browser.follow(browser.click(chooser, link).await).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "alice").await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (last.url.path(), last.status.as_u16()),
        ("/linked", 200),
        "{journey}\n{}",
        last.body
    );
    browser
}

/// What the home page says once alice is signed in to the account `alice`: the first the
/// example creates, id 1 (`root` is 2).
async fn assert_signed_in_as_alice(app: &Example, browser: &Browser) {
    let home = browser.get(app.url("/")).await;
    assert!(
        home.body
            .contains("Signed in as <strong>alice</strong> with Company SSO")
            && home
                .body
                .contains("Account id: <code id=\"account\">1</code>"),
        "alice's sign-in is linked to the account alice:\n{}",
        home.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_is_linked_to_her_account_and_bob_is_refused() {
    let dir = TempDir::new("login");
    let app = start(&dir.database_url()).await;

    let browser = alice_signs_in(&app).await;
    assert_signed_in_as_alice(&app, &browser).await;

    // Bob: refused, with a page that says why; not signed in afterwards.
    let browser = Browser::new();
    let chooser = browser.get(app.url("/linked")).await;
    let link = chooser
        .link("provider-company-sso")
        .unwrap_or_else(|| panic!("Company SSO on the chooser:\n{}", chooser.body));
    let at_provider = browser.follow(browser.click(&chooser, link).await).await;
    let journey = sign_in_at_test_provider(&browser, at_provider.last(), "bob").await;
    journey.assert_no_server_error();
    let refused = journey.last();
    assert_eq!(refused.status, 403, "{journey}\n{}", refused.body);
    assert!(
        refused.content_type().starts_with("text/html"),
        "{}",
        refused.content_type()
    );
    let home = browser.get(app.url("/")).await;
    assert!(
        home.body.contains("You are not signed in."),
        "bob is not signed in:\n{}",
        home.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_links_survive_a_restart_in_the_sqlite_file() {
    let dir = TempDir::new("restart");
    let app = start(&dir.database_url()).await;
    let browser = alice_signs_in(&app).await;
    assert_signed_in_as_alice(&app, &browser).await;
    let said = |app: &Example, what: &str| app.output().iter().any(|line| line.contains(what));
    assert!(said(&app, "account tables migrated"), "{:?}", app.output());
    assert!(said(&app, "provider identity linked by verified email"));
    drop(app);

    // The same file: the tables are there, the seed accounts are not made twice (alice is
    // still 1), and alice's Company SSO identity is still linked to her account: she signs in
    // by her subject, without matching her email again.
    let app = start(&dir.database_url()).await;
    let browser = alice_signs_in(&app).await;
    assert_signed_in_as_alice(&app, &browser).await;
    assert!(!said(&app, "account tables migrated"), "{:?}", app.output());
    assert!(
        !said(&app, "linked by verified email"),
        "{:?}",
        app.output()
    );
    let linked = browser.get(app.url("/linked")).await;
    assert!(
        linked.body.contains("<code>u-1001-alice</code>"),
        "Company SSO is linked:\n{}",
        linked.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_runs_on_postgresql() {
    let server = PostgresServer::start();
    let url = server.create_database("accounts");
    let app = start(&url).await;
    let browser = alice_signs_in(&app).await;
    assert_signed_in_as_alice(&app, &browser).await;
}
