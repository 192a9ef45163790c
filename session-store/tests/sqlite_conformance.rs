//! The shared conformance suite, and SQLite-specific checks, run against [`SqliteStore`] on a
//! database file in a temporary directory of each test.
#![cfg(all(feature = "conformance", feature = "sqlite"))]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use session_store::conformance::{self, ConformanceData};
use session_store::{Error, Record, SessionStore, SqlConfig, SqliteStore, sqlx};

type Store = SqliteStore<ConformanceData>;

/// A fresh directory for one test's database file, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "session-store-sqlite-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("sessions.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn store(url: &str) -> Store {
    SqliteStore::connect(url, SqlConfig::new()).await.unwrap()
}

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn data(owner: &str) -> ConformanceData {
    ConformanceData::new(owner)
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite() {
    let dir = TempDir::new();
    let store = Arc::new(store(&dir.url()).await);
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_survive_a_restart_of_the_app() {
    let dir = TempDir::new();
    let (id, locked) = {
        let before = store(&dir.url()).await;
        let id = before
            .create(Record::new(data("kept"), in_a_minute()).with_tags(["sub kept"]))
            .await
            .unwrap();
        let locked = before
            .try_lock(&id, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        before.pool().close().await;
        (id, locked)
    };
    let after = store(&dir.url()).await;
    assert_eq!(after.load(&id).await.unwrap().unwrap().data, data("kept"));
    // The lock too: a refresh in flight when the app stopped is not run twice.
    assert!(
        after
            .try_lock(&id, Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );
    after.unlock(&id, &locked).await.unwrap();
    assert_eq!(after.delete_tagged("sub kept").await.unwrap(), 1);
    assert!(after.load(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_rows_are_swept_on_demand_and_a_newer_schema_is_refused() {
    let dir = TempDir::new();
    let store =
        SqliteStore::<ConformanceData>::connect(&dir.url(), SqlConfig::new().sweep_interval(None))
            .await
            .unwrap();
    let soon = SystemTime::now() + Duration::from_millis(100);
    for n in 0..3 {
        store
            .create(Record::new(data(&format!("short {n}")), soon).with_tags(["t"]))
            .await
            .unwrap();
    }
    let keeper = store
        .create(Record::new(data("long"), in_a_minute()).with_tags(["t"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.sweep().await.unwrap(), 3);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_layer_session_tags")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "the swept records' tags went with them");
    assert!(store.load(&keeper).await.unwrap().is_some());

    sqlx::query("INSERT INTO oidc_layer_schema_migrations VALUES (99, 0)")
        .execute(store.pool())
        .await
        .unwrap();
    let refused = SqliteStore::<ConformanceData>::connect(&dir.url(), SqlConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Config(message) if message.contains("99")),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_without_foreign_keys_is_refused() {
    use std::str::FromStr as _;
    let dir = TempDir::new();
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&dir.url())
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(false);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let store = SqliteStore::<ConformanceData>::from_pool(pool, SqlConfig::new()).unwrap();
    assert!(matches!(store.migrate().await, Err(Error::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sign_ins_of_one_user_all_succeed_and_the_cap_holds() {
    // Each sign-in creates a session and trims the user's others to the cap (as the layer's
    // `max_sessions_per_user` does): reads then writes in one transaction, which SQLite
    // refuses to run side by side (SQLITE_BUSY) unless the store takes turns.
    let dir = TempDir::new();
    let store = Arc::new(store(&dir.url()).await);
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for round in 0..20 {
                    let id = store
                        .create(
                            Record::new(data(&format!("{n}/{round}")), in_a_minute())
                                .with_tags(["sub alice"]),
                        )
                        .await
                        .unwrap();
                    store.trim_tagged("sub alice", 3, &id).await.unwrap();
                    store.load(&id).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_layer_session_tags")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(rows <= 3, "{rows} sessions of one user kept, the cap is 3");
}
