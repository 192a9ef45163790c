//! [`TwoTierStore`] in front of [`RedisStore`], on a `redis-server` each test starts on a free
//! loopback port: the conformance suite, the staleness bound between two instances (with and
//! without the pub/sub feed, and when the subscription is lost), and Redis going down and
//! coming back. Without `redis-server` these tests fail; they never skip.
#![cfg(all(feature = "conformance", feature = "redis"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use session_store::conformance::{self, ConformanceData};
use session_store::redis_server::RedisServer;
use session_store::{
    Error, Record, RedisConfig, RedisStore, SessionId, SessionStore, TwoTierConfig, TwoTierStore,
};

type Store = TwoTierStore<RedisStore<ConformanceData>, ConformanceData>;

/// One instance of an app: its own connections to the shared Redis, its own local tier,
/// subscribed to changes.
fn instance(server: &RedisServer, staleness: Duration) -> Store {
    TwoTierStore::with_changes(
        remote(server),
        TwoTierConfig::new().max_staleness(staleness),
    )
}

/// An instance whose local tier hears nothing from the others (no pub/sub).
fn deaf_instance(server: &RedisServer, staleness: Duration) -> Store {
    TwoTierStore::new(
        remote(server),
        TwoTierConfig::new().max_staleness(staleness),
    )
}

fn remote(server: &RedisServer) -> RedisStore<ConformanceData> {
    RedisStore::open(
        RedisConfig::new(server.url())
            .key_prefix("app:")
            .response_timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(500)),
    )
    .unwrap()
}

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn data(owner: &str) -> ConformanceData {
    ConformanceData::new(owner)
}

/// Waits (at most `within`) until `id` no longer loads on `store`; returns how long it took.
async fn gone_within(store: &Store, id: &SessionId, within: Duration, context: &str) -> Duration {
    let started = Instant::now();
    loop {
        if store.load(id).await.unwrap().is_none() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{context}: the session still loads after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the instance's subscription is up: a record it caches is dropped when another
/// instance deletes it.
async fn wait_subscribed(server: &RedisServer, store: &Store) {
    let other = deaf_instance(server, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let id = other
            .create(Record::new(data("probe"), in_a_minute()))
            .await
            .unwrap();
        assert!(store.load(&id).await.unwrap().is_some());
        other.delete(&id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if store.load(&id).await.unwrap().is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "never subscribed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite() {
    let server = RedisServer::start();
    let store = Arc::new(instance(&server, Duration::from_secs(2)));
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite_without_the_feed() {
    let server = RedisServer::start();
    let store = Arc::new(deaf_instance(&server, Duration::from_secs(2)));
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_on_one_instance_shows_on_the_other_at_once() {
    let server = RedisServer::start();
    // A staleness bound far above what the test waits: only pub/sub can explain the result.
    let (a, b) = (
        instance(&server, Duration::from_secs(60)),
        instance(&server, Duration::from_secs(60)),
    );
    wait_subscribed(&server, &b).await;
    let id = a
        .create(Record::new(data("x"), in_a_minute()).with_tags(["sid 1"]))
        .await
        .unwrap();
    assert!(b.load(&id).await.unwrap().is_some());
    a.delete(&id).await.unwrap();
    let took = gone_within(&b, &id, Duration::from_secs(1), "delete").await;
    eprintln!("a delete on A showed on B after {took:?}");

    // A save shows too.
    let id = a
        .create(Record::new(data("v1"), in_a_minute()))
        .await
        .unwrap();
    assert_eq!(b.load(&id).await.unwrap().unwrap().data, data("v1"));
    assert!(
        a.save(&id, Record::new(data("v2"), in_a_minute()))
            .await
            .unwrap()
    );
    let started = Instant::now();
    while b.load(&id).await.unwrap().unwrap().data != data("v2") {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the save never showed on B"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // And a back-channel logout (delete_tagged) on A.
    let tagged = a
        .create(Record::new(data("t"), in_a_minute()).with_tags(["sid 2"]))
        .await
        .unwrap();
    assert!(b.load(&tagged).await.unwrap().is_some());
    assert_eq!(a.delete_tagged("sid 2").await.unwrap(), 1);
    gone_within(&b, &tagged, Duration::from_secs(1), "delete_tagged").await;
    assert!(a.load(&tagged).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_feed_a_delete_shows_within_the_staleness_bound() {
    let server = RedisServer::start();
    let bound = Duration::from_millis(800);
    let a = instance(&server, bound);
    let b = deaf_instance(&server, bound);
    let id = a
        .create(Record::new(data("x"), in_a_minute()))
        .await
        .unwrap();
    let fetched = Instant::now();
    assert!(b.load(&id).await.unwrap().is_some());
    a.delete(&id).await.unwrap();
    // B serves its copy (that is the point of the local tier)...
    assert!(
        b.load(&id).await.unwrap().is_some(),
        "B should still serve its local copy"
    );
    // ...but never past the bound.
    gone_within(&b, &id, bound + Duration::from_millis(100), "no feed").await;
    assert!(fetched.elapsed() <= bound + Duration::from_millis(100));
    assert!(
        fetched.elapsed() >= bound / 2,
        "gone before half the bound: was the copy not served locally?"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_subscription_falls_back_to_the_bound_and_comes_back() {
    let server = RedisServer::start();
    let bound = Duration::from_secs(1);
    let a = instance(&server, bound);
    let b = instance(&server, bound);
    wait_subscribed(&server, &b).await;
    let id = a
        .create(Record::new(data("x"), in_a_minute()))
        .await
        .unwrap();
    let fetched = Instant::now();
    assert!(b.load(&id).await.unwrap().is_some());
    // Every subscription connection dies; the delete is published while nobody listens.
    let killed = server.command("CLIENT KILL TYPE pubsub");
    assert!(killed.starts_with(':'), "{killed}");
    a.delete(&id).await.unwrap();
    gone_within(
        &b,
        &id,
        bound + Duration::from_millis(100),
        "subscription lost",
    )
    .await;
    assert!(fetched.elapsed() <= bound + Duration::from_millis(100));
    // The subscription comes back by itself, and with it immediate invalidation.
    wait_subscribed(&server, &b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_keeps_local_sessions_for_the_bound_then_recovers() {
    let mut server = RedisServer::start();
    let bound = Duration::from_millis(1500);
    let a = instance(&server, bound);
    let b = instance(&server, bound);
    wait_subscribed(&server, &b).await;
    let id = a
        .create(Record::new(data("x"), in_a_minute()))
        .await
        .unwrap();
    let fetched = Instant::now();
    assert!(a.load(&id).await.unwrap().is_some());

    server.stop();
    // Sessions in the local tier keep working...
    assert_eq!(a.load(&id).await.unwrap().unwrap().data, data("x"));
    // ...new sessions cannot be created, and nothing reads around the local tier...
    assert!(matches!(
        a.create(Record::new(data("y"), in_a_minute())).await,
        Err(Error::Backend(_))
    ));
    assert!(matches!(a.load_fresh(&id).await, Err(Error::Backend(_))));
    // ...a session that was never local fails (the layer answers 503)...
    assert!(matches!(b.load(&id).await, Err(Error::Backend(_))));
    // ...and past the bound, the local copy is not trusted any more.
    let wait =
        (fetched + bound + Duration::from_millis(50)).saturating_duration_since(Instant::now());
    tokio::time::sleep(wait).await;
    assert!(matches!(a.load(&id).await, Err(Error::Backend(_))));

    // Redis comes back (empty: no persistence): both instances recover by themselves.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        match a.create(Record::new(data("back"), in_a_minute())).await {
            Ok(id) => break id,
            Err(e) => {
                assert!(Instant::now() < deadline, "never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(b.load(&id).await.unwrap().is_some());
    wait_subscribed(&server, &b).await;
    wait_subscribed(&server, &a).await;
    b.delete(&id).await.unwrap();
    gone_within(&a, &id, Duration::from_millis(500), "after recovery").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn load_fresh_reads_around_the_local_tier() {
    let server = RedisServer::start();
    let a = instance(&server, Duration::from_secs(60));
    let b = deaf_instance(&server, Duration::from_secs(60));
    let id = a
        .create(Record::new(data("v1"), in_a_minute()))
        .await
        .unwrap();
    assert_eq!(b.load(&id).await.unwrap().unwrap().data, data("v1"));
    assert!(
        a.save(&id, Record::new(data("v2"), in_a_minute()))
            .await
            .unwrap()
    );
    assert_eq!(
        b.load(&id).await.unwrap().unwrap().data,
        data("v1"),
        "stale, deaf"
    );
    assert_eq!(b.load_fresh(&id).await.unwrap().unwrap().data, data("v2"));
    assert_eq!(
        b.load(&id).await.unwrap().unwrap().data,
        data("v2"),
        "updated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_store_stops_its_subscription() {
    let server = RedisServer::start();
    let store = instance(&server, Duration::from_secs(2));
    wait_subscribed(&server, &store).await;
    let count = || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        use std::io::{Read, Write};
        stream.write_all(b"PUBSUB NUMSUB app:changes\r\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buffer = [0u8; 256];
        let n = stream.read(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..n]).to_string()
    };
    assert!(count().ends_with(":1\r\n"), "{:?}", count());
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !count().ends_with(":0\r\n") {
        assert!(Instant::now() < deadline, "still subscribed: {:?}", count());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_lock_taken_on_one_instance_holds_on_the_other() {
    let server = RedisServer::start();
    let (a, b) = (
        instance(&server, Duration::from_secs(60)),
        instance(&server, Duration::from_secs(60)),
    );
    let id = a
        .create(Record::new(data("locked"), in_a_minute()))
        .await
        .unwrap();
    let lease = a
        .try_lock(&id, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a free lock");
    assert!(
        b.try_lock(&id, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "B took the lock A holds"
    );
    a.unlock(&id, &lease).await.unwrap();
    let lease = b
        .try_lock(&id, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("A released the lock");
    b.unlock(&id, &lease).await.unwrap();
}
