//! `SqlAccounts` on real databases: a SQLite file in a temporary directory, and a throwaway
//! PostgreSQL server per test function (`PostgresServer`, never the machine's own), each
//! check on a fresh database. The same checks run on both, and the repository contract is the
//! one `InMemoryAccounts` runs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Pool, SqlAccounts, SqlAccountsConfig};
use crate::accounts::contract::{self, Admin};
use crate::accounts::{Account, AccountError, AccountRepository, CreateOutcome, NewAccount};

#[async_trait]
impl Admin for SqlAccounts {
    async fn add(&self, username: &str, email: Option<&str>, has_local_login: bool) -> Account {
        self.add_account(username, email, has_local_login)
            .await
            .expect("store")
            .expect("the username is free")
    }
    async fn all(&self) -> Vec<Account> {
        self.accounts().await.expect("store")
    }
    async fn veto_link_by_email(&self, account_id: &str) {
        assert!(
            self.set_link_by_email(account_id, false)
                .await
                .expect("store")
        );
    }
}

/// Generous: 50 racing sign-ins share the pool on a busy machine, and a timeout is not what
/// these tests check.
fn config() -> SqlAccountsConfig {
    SqlAccountsConfig::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(120))
}

async fn open(url: &str) -> SqlAccounts {
    SqlAccounts::connect(url, config())
        .await
        .expect("the database opens")
}

/// Runs one statement on the repository's pool (what another program would do to its tables).
async fn execute(accounts: &SqlAccounts, sql: &str) {
    on_pool!(&accounts.inner.pool, |pool| {
        sqlx::query(sql)
            .execute(pool)
            .await
            .expect("statement runs");
    });
}

/// A database made for one check: `fresh(name)` returns the URL of an empty one.
type Fresh<'a> = &'a dyn Fn(&str) -> String;

async fn contract_checks(fresh: Fresh<'_>) {
    contract::keeps_the_contract(&open(&fresh("contract")).await).await;
    contract::compares_emails_case_insensitively(&open(&fresh("emails")).await).await;
    contract::picks_free_usernames(&open(&fresh("usernames")).await).await;
    contract::honours_the_link_by_email_veto(Arc::new(open(&fresh("veto")).await)).await;
}

async fn race_checks(fresh: Fresh<'_>) {
    contract::settles_racing_first_logins(Arc::new(open(&fresh("races")).await)).await;
}

/// Migrations, table prefixes and the administrator's methods.
async fn schema_checks(fresh: Fresh<'_>) {
    // Migrating again (a restart, a second instance) keeps the accounts.
    let url = fresh("schema");
    let first = open(&url).await;
    let alice = first.add("alice", Some("alice@example.com"), false).await;
    let again = open(&url).await;
    again.migrate().await.expect("migrating twice is harmless");
    assert_eq!(again.accounts().await.expect("store"), vec![alice.clone()]);

    // A newer release migrated the tables: this one refuses them instead of guessing.
    execute(
        &again,
        "INSERT INTO oidc_layer_accounts_schema_migrations (version, applied_at_ms) VALUES (99, 0)",
    )
    .await;
    match SqlAccounts::connect(&url, config()).await {
        Err(AccountError::Config(message)) => {
            assert!(message.contains("schema version 99"), "{message}");
        }
        other => panic!("a newer schema was accepted: {other:?}"),
    }

    // Two apps in one database, each with its own prefix, never see each other's accounts.
    let url = fresh("prefixes");
    let app_a = SqlAccounts::connect(&url, config().table_prefix("app_a_"))
        .await
        .expect("opens");
    let app_b = SqlAccounts::connect(&url, config().table_prefix("app_b_"))
        .await
        .expect("opens");
    app_a.add("alice", Some("alice@example.com"), false).await;
    app_b.add("alice", Some("alice@example.com"), false).await;
    let created = app_a
        .create(NewAccount::new("bob", "google", "g-1"))
        .await
        .expect("store");
    assert!(matches!(created, CreateOutcome::Created(_)));
    assert!(matches!(
        app_b
            .create(NewAccount::new("bob", "google", "g-1"))
            .await
            .expect("store"),
        CreateOutcome::Created(_)
    ));
    assert_eq!(app_a.all().await.len(), 2);
    assert_eq!(app_b.all().await.len(), 2);
    match SqlAccounts::connect(&url, config().table_prefix("App-B; DROP TABLE x")).await {
        Err(AccountError::Config(message)) => assert!(message.contains("table prefix")),
        other => panic!("an unsafe prefix was accepted: {other:?}"),
    }

    // The administrator's side.
    let url = fresh("admin");
    let accounts = open(&url).await;
    let root = accounts.add("root", None, true).await;
    assert_eq!(
        accounts
            .add_account("ROOT", None, false)
            .await
            .expect("store"),
        None,
        "usernames are unique case-insensitively"
    );
    assert_eq!(
        accounts.find_by_username("Root").await.expect("store"),
        Some(root.clone())
    );
    assert!(
        accounts
            .set_local_login(&root.id, false)
            .await
            .expect("store")
    );
    assert!(!accounts.set_local_login("404", true).await.expect("store"));
    let root = accounts
        .find(&root.id)
        .await
        .expect("store")
        .expect("exists");
    assert!(!root.has_local_login);
    accounts
        .link(&root.id, "google", "g-root")
        .await
        .expect("store");
    assert!(accounts.delete_account(&root.id).await.expect("store"));
    assert!(!accounts.delete_account(&root.id).await.expect("store"));
    assert_eq!(
        accounts
            .find_by_identity("google", "g-root")
            .await
            .expect("store"),
        None,
        "its identities went with it"
    );
    // Sessions name accounts by id: a deleted account's id is never handed out again.
    let next = accounts.add("next", None, true).await;
    assert_ne!(next.id, root.id);
    assert_eq!(
        accounts
            .find(&format!("0{}", next.id))
            .await
            .expect("store"),
        None
    );
    assert_eq!(
        accounts
            .link(&root.id, "google", "g-root")
            .await
            .map_err(|e| e.to_string()),
        Err(format!(
            "the account store answered inconsistently: cannot link to account `{}`: it does not exist",
            root.id
        ))
    );
}

#[tokio::test]
async fn a_url_of_no_supported_database_is_a_configuration_error() {
    for url in ["mysql://u:secret@host/db", "accounts.db", ""] {
        match SqlAccounts::connect(url, config()).await {
            Err(AccountError::Config(message)) => {
                assert!(!message.contains("secret"), "{message}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "oidc-layer-accounts-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temporary directory");
            Self(dir)
        }

        fn url(&self, name: &str) -> String {
            format!("sqlite://{}/{name}.db", self.0.display())
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn sqlite_keeps_the_contract() {
        let dir = TempDir::new();
        contract_checks(&|name| dir.url(name)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_settles_racing_first_logins() {
        let dir = TempDir::new();
        race_checks(&|name| dir.url(name)).await;
    }

    #[tokio::test]
    async fn sqlite_migrations_prefixes_and_administration() {
        let dir = TempDir::new();
        schema_checks(&|name| dir.url(name)).await;
    }

    #[tokio::test]
    async fn sqlite_refuses_a_pool_without_foreign_keys() {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
        let dir = TempDir::new();
        let options = SqliteConnectOptions::new()
            .filename(dir.0.join("no-fk.db"))
            .create_if_missing(true)
            .foreign_keys(false);
        let pool = SqlitePool::connect_with(options).await.expect("opens");
        let accounts = SqlAccounts::from_sqlite_pool(pool, config()).expect("a safe prefix");
        assert!(matches!(accounts.inner.pool, Pool::Sqlite(_)));
        match accounts.migrate().await {
            Err(AccountError::Config(message)) => assert!(message.contains("foreign keys off")),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use session_store::postgres_server::PostgresServer;

    use super::*;

    fn fresh(server: &PostgresServer) -> impl Fn(&str) -> String + '_ {
        |name| server.create_database(name)
    }

    #[tokio::test]
    async fn postgres_keeps_the_contract() {
        let server = PostgresServer::start();
        contract_checks(&fresh(&server)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_settles_racing_first_logins() {
        let server = PostgresServer::start();
        race_checks(&fresh(&server)).await;
    }

    #[tokio::test]
    async fn postgres_migrations_prefixes_and_administration() {
        let server = PostgresServer::start();
        schema_checks(&fresh(&server)).await;
        // Instances starting at once take turns migrating (the advisory lock): all succeed.
        let url = server.create_database("concurrent");
        let opening: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { SqlAccounts::connect(&url, config()).await })
            })
            .collect();
        for task in opening {
            task.await.expect("task finished").expect("migrated");
        }
        let accounts = open(&url).await;
        assert!(matches!(accounts.inner.pool, Pool::Postgres(_)));
        assert!(accounts.accounts().await.expect("store").is_empty());
    }
}
