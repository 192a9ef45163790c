//! The shared conformance suite, and PostgreSQL-specific checks, run against [`PostgresStore`]
//! (alone and behind a [`TwoTierStore`]) on a PostgreSQL server each test makes with `initdb`
//! on a free loopback port (never the machine's shared one). Without PostgreSQL's programs
//! these tests fail (see `PostgresServer::start`); they never skip.
#![cfg(all(feature = "conformance", feature = "postgres"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_store::conformance::{self, ConformanceData};
use session_store::postgres_server::PostgresServer;
use session_store::{
    Error, PostgresStore, Record, SessionId, SessionStore, SqlConfig, TwoTierConfig, TwoTierStore,
};

type Store = PostgresStore<ConformanceData>;

async fn store(url: &str) -> Store {
    store_with(url, SqlConfig::new()).await
}

async fn store_with(url: &str, config: SqlConfig) -> Store {
    PostgresStore::connect(url, config.acquire_timeout(Duration::from_millis(500)))
        .await
        .unwrap()
}

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn data(owner: &str) -> ConformanceData {
    ConformanceData::new(owner)
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite() {
    let server = PostgresServer::start();
    let store = Arc::new(store(&server.url()).await);
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite_behind_the_local_tier() {
    let server = PostgresServer::start();
    let remote = store(&server.url()).await;
    let store = Arc::new(TwoTierStore::with_changes(remote, TwoTierConfig::new()));
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_hold_fingerprints_never_ids_and_the_schema_is_versioned() {
    let server = PostgresServer::start();
    let store = store(&server.url()).await;
    let id = store
        .create(Record::new(data("rows"), in_a_minute()).with_tags(["sub x", "sid\0y"]))
        .await
        .unwrap();
    let fingerprint = hex(id.fingerprint().as_bytes());
    assert_eq!(
        server.psql("SELECT encode(fingerprint, 'hex') FROM oidc_layer_sessions"),
        fingerprint
    );
    let everything = server.psql(
        "SELECT string_agg(encode(fingerprint, 'escape') || encode(value, 'escape') || encode(tags, 'escape'), '') FROM oidc_layer_sessions",
    );
    assert!(
        !everything.contains(&id.encode()),
        "a row holds the session id"
    );
    // A tag is bytes: even a NUL (PostgreSQL text cannot hold one) finds its session.
    assert_eq!(
        server.psql("SELECT count(*) FROM oidc_layer_session_tags"),
        "2"
    );
    assert_eq!(store.delete_tagged("sid\0y").await.unwrap(), 1);
    assert_eq!(
        server.psql("SELECT count(*) FROM oidc_layer_session_tags"),
        "0"
    );
    assert_eq!(
        server.psql("SELECT string_agg(version::text, ',') FROM oidc_layer_schema_migrations"),
        "1"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_at_once_migrate_once_and_a_newer_schema_is_refused() {
    let server = PostgresServer::start();
    let url = server.url();
    let stores = futures_util::future::join_all((0..6).map(|_| store(&url))).await;
    let id = stores[0]
        .create(Record::new(data("m"), in_a_minute()))
        .await
        .unwrap();
    assert!(stores[5].load(&id).await.unwrap().is_some());
    assert_eq!(
        server.psql("SELECT count(*) FROM oidc_layer_schema_migrations"),
        "1"
    );
    // Again: nothing to do.
    stores[1].migrate().await.unwrap();
    // A newer release migrated the tables: this one refuses to write into what it does not
    // know, and says why.
    server.psql("INSERT INTO oidc_layer_schema_migrations VALUES (99, 0)");
    let refused = PostgresStore::<ConformanceData>::connect(&url, SqlConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Config(message) if message.contains("99")),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_with_their_own_prefixes_share_a_database_apart() {
    let server = PostgresServer::start();
    let url = server.url();
    let one = store_with(&url, SqlConfig::new().table_prefix("one_")).await;
    let two = store_with(&url, SqlConfig::new().table_prefix("two_")).await;
    let id = one
        .create(Record::new(data("one"), in_a_minute()).with_tags(["sub"]))
        .await
        .unwrap();
    assert!(two.load(&id).await.unwrap().is_none());
    assert_eq!(two.delete_tagged("sub").await.unwrap(), 0);
    assert!(one.load(&id).await.unwrap().is_some());
    // An unsafe prefix never reaches SQL.
    let pool = one.pool().clone();
    assert!(matches!(
        PostgresStore::<ConformanceData>::from_pool(
            pool,
            SqlConfig::new().table_prefix("x; DROP TABLE one_sessions; --")
        ),
        Err(Error::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_deletes_expired_rows_in_the_background_and_on_demand() {
    let server = PostgresServer::start();
    let url = server.url();
    let manual = store_with(&url, SqlConfig::new().sweep_interval(None)).await;
    let soon = SystemTime::now() + Duration::from_millis(300);
    for n in 0..5 {
        manual
            .create(Record::new(data(&format!("short {n}")), soon).with_tags(["t"]))
            .await
            .unwrap();
    }
    let keeper = manual
        .create(Record::new(data("long"), in_a_minute()).with_tags(["t"]))
        .await
        .unwrap();
    let lock = manual
        .try_lock(&keeper, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(lock.is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired rows are never returned, swept or not...
    assert_eq!(server.psql("SELECT count(*) FROM oidc_layer_sessions"), "6");
    assert_eq!(manual.sweep().await.unwrap(), 5);
    assert_eq!(server.psql("SELECT count(*) FROM oidc_layer_sessions"), "1");
    assert_eq!(
        server.psql("SELECT count(*) FROM oidc_layer_session_tags"),
        "1"
    );
    assert_eq!(
        server.psql("SELECT count(*) FROM oidc_layer_session_locks"),
        "0"
    );
    assert!(manual.load(&keeper).await.unwrap().is_some());

    // ...and a store with a sweep interval does it by itself.
    let swept = store_with(
        &url,
        SqlConfig::new().sweep_interval(Some(Duration::from_millis(100))),
    )
    .await;
    swept
        .create(Record::new(
            data("short"),
            SystemTime::now() + Duration::from_millis(50),
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.psql("SELECT count(*) FROM oidc_layer_sessions") != "1" {
        assert!(Instant::now() < deadline, "the background sweep never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most `within`) until `id` no longer loads on `store`.
async fn gone_within<S: SessionStore<ConformanceData>>(
    store: &S,
    id: &SessionId,
    within: Duration,
    context: &str,
) {
    let started = Instant::now();
    while store.load(id).await.unwrap().is_some() {
        assert!(
            started.elapsed() < within,
            "{context}: the session still loads after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `instance`'s feed is listening: a record it caches is dropped when another
/// instance deletes it.
async fn wait_listening<S: SessionStore<ConformanceData>>(other: &Store, instance: &S) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let id = other
            .create(Record::new(data("probe"), in_a_minute()))
            .await
            .unwrap();
        assert!(instance.load(&id).await.unwrap().is_some());
        other.delete(&id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if instance.load(&id).await.unwrap().is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "never listening");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_on_one_instance_shows_on_the_other_at_once_through_notify() {
    let server = PostgresServer::start();
    let url = server.url();
    // A staleness bound far above what the test waits: only NOTIFY can explain the result.
    let bound = Duration::from_secs(60);
    let a =
        TwoTierStore::with_changes(store(&url).await, TwoTierConfig::new().max_staleness(bound));
    let b =
        TwoTierStore::with_changes(store(&url).await, TwoTierConfig::new().max_staleness(bound));
    wait_listening(a.remote(), &b).await;
    let id = a
        .create(Record::new(data("shared"), in_a_minute()).with_tags(["sub alice"]))
        .await
        .unwrap();
    assert_eq!(b.load(&id).await.unwrap().unwrap().data, data("shared"));
    // A save on one instance replaces the other's local copy...
    a.save(
        &id,
        Record::new(data("saved"), in_a_minute()).with_tags(["sub alice"]),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while b.load(&id).await.unwrap().unwrap().data != data("saved") {
        assert!(Instant::now() < deadline, "the save never reached b");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...and a back-channel logout (by tag) on one ends it on the other.
    assert_eq!(a.delete_tagged("sub alice").await.unwrap(), 1);
    gone_within(&b, &id, Duration::from_secs(2), "delete_tagged").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_down_fails_fast_keeps_local_sessions_for_the_bound_then_recovers() {
    let mut server = PostgresServer::start();
    let url = server.url();
    let bound = Duration::from_millis(1500);
    let a =
        TwoTierStore::with_changes(store(&url).await, TwoTierConfig::new().max_staleness(bound));
    let b =
        TwoTierStore::with_changes(store(&url).await, TwoTierConfig::new().max_staleness(bound));
    wait_listening(b.remote(), &a).await;
    wait_listening(a.remote(), &b).await;
    let id = a
        .create(Record::new(data("x"), in_a_minute()).with_tags(["sub x"]))
        .await
        .unwrap();
    let fetched = Instant::now();
    assert!(a.load(&id).await.unwrap().is_some());

    server.stop();
    // Sessions in the local tier keep working...
    assert_eq!(a.load(&id).await.unwrap().unwrap().data, data("x"));
    // ...new sessions cannot be created, nothing reads around the local tier, and a session
    // that was never local fails (the layer answers 503): each an error after at most the
    // pool's acquire timeout, not a hang...
    assert!(matches!(
        a.create(Record::new(data("y"), in_a_minute())).await,
        Err(Error::Backend(_))
    ));
    assert!(matches!(a.load_fresh(&id).await, Err(Error::Backend(_))));
    assert!(matches!(b.load(&id).await, Err(Error::Backend(_))));
    // ...and past the bound, the local copy is not trusted any more.
    let wait =
        (fetched + bound + Duration::from_millis(50)).saturating_duration_since(Instant::now());
    tokio::time::sleep(wait).await;
    assert!(matches!(a.load(&id).await, Err(Error::Backend(_))));

    // PostgreSQL comes back, with its data: both instances recover by themselves, the
    // session is still there, and the feed listens again.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match b.load(&id).await {
            Ok(Some(record)) => {
                assert_eq!(record.data, data("x"));
                break;
            }
            Ok(None) => panic!("the session was lost across the restart"),
            Err(e) => {
                assert!(Instant::now() < deadline, "never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    wait_listening(b.remote(), &a).await;
    assert!(a.load(&id).await.unwrap().is_some());
    b.remote().delete(&id).await.unwrap();
    gone_within(&a, &id, Duration::from_millis(500), "after recovery").await;
}
