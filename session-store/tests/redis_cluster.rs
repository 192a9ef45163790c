//! [`RedisStore`] (and [`TwoTierStore`] with its change feed) on a Redis Cluster of three
//! masters and three replicas each test starts on free loopback ports (`RedisCluster`): the
//! conformance suite, the multi-instance checks, and a master killed mid-test. Without
//! `redis-server` and `redis-cli` these tests fail; they never skip.
#![cfg(all(feature = "conformance", feature = "redis"))]
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use redis::AsyncCommands as _;
use session_store::conformance::{self, ConformanceData};
use session_store::redis_cluster::RedisCluster;
use session_store::{
    Error, Record, RedisConfig, RedisStore, SessionId, SessionStore, TwoTierConfig, TwoTierStore,
};

type Instance = TwoTierStore<RedisStore<ConformanceData>, ConformanceData>;

/// What a request waits at most (redirections and retries included).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);

fn config(cluster: &RedisCluster) -> RedisConfig {
    RedisConfig::cluster(cluster.urls())
        .key_prefix("app:")
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(RESPONSE_TIMEOUT)
}

fn store(cluster: &RedisCluster) -> RedisStore<ConformanceData> {
    RedisStore::open(config(cluster)).unwrap()
}

/// One instance of an app on the cluster, subscribed to changes.
fn instance(cluster: &RedisCluster, staleness: Duration) -> Instance {
    TwoTierStore::with_changes(
        store(cluster),
        TwoTierConfig::new().max_staleness(staleness),
    )
}

/// An instance whose local tier hears nothing from the others.
fn deaf_instance(cluster: &RedisCluster, staleness: Duration) -> Instance {
    TwoTierStore::new(
        store(cluster),
        TwoTierConfig::new().max_staleness(staleness),
    )
}

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn data(owner: &str) -> ConformanceData {
    ConformanceData::new(owner)
}

fn record_key(id: &SessionId) -> String {
    format!("app:s:{}", id.fingerprint().encode())
}

/// A connection of the test's own to the cluster (not through the store).
async fn raw(cluster: &RedisCluster) -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(cluster.urls())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

/// Waits until `id` no longer loads on `store` (at most `within`).
async fn gone_within(store: &Instance, id: &SessionId, within: Duration, context: &str) {
    let started = Instant::now();
    while store.load(id).await.unwrap().is_some() {
        assert!(
            started.elapsed() < within,
            "{context}: the session still loads after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `store`'s subscription is up: a record it caches is dropped when another
/// instance deletes it.
async fn wait_subscribed(cluster: &RedisCluster, store: &Instance) {
    let other = deaf_instance(cluster, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(15);
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
async fn the_conformance_suite_passes_on_a_cluster_and_sessions_spread_over_every_master() {
    let cluster = RedisCluster::start();
    let store = Arc::new(store(&cluster));
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(Arc::clone(&store)).await;

    // No hash tag funnels the sessions (or one user's sessions) into one slot: 30 sessions of
    // one user land on every master.
    let mut masters = HashSet::new();
    let mut ids = Vec::new();
    for n in 0..30 {
        let id = store
            .create(
                Record::new(data(&format!("spread {n}")), in_a_minute()).with_tags(["sub alice"]),
            )
            .await
            .unwrap();
        masters.insert(cluster.master_of(record_key(&id).as_bytes()));
        ids.push(id);
    }
    assert_eq!(masters.len(), 3, "the sessions went to {masters:?} only");
    assert_eq!(
        store.trim_tagged("sub alice", 10, &ids[0]).await.unwrap(),
        20
    );
    assert_eq!(store.delete_tagged("sub alice").await.unwrap(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tag_index_tolerates_a_record_written_after_its_tag() {
    // A create adds the session to its tags' sets, then writes the record (another slot, so
    // another step). A delete_tagged between the two steps must leave the member, so that a
    // later delete_tagged finds the record.
    let cluster = RedisCluster::start();
    let store = store(&cluster);
    let mut redis = raw(&cluster).await;
    let id = SessionId::generate().unwrap();
    let fingerprint = id.fingerprint().encode();
    let expire_at = (SystemTime::now() + Duration::from_secs(60))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    // Step one of a create: the tag's set.
    let _: i64 = redis
        .zadd("app:t:sid 1", &fingerprint, expire_at.as_millis() as f64)
        .await
        .unwrap();
    assert_eq!(store.delete_tagged("sid 1").await.unwrap(), 0);
    // Step two: the record (in the store's encoding: format byte 1, then JSON).
    let value = format!(
        "\u{1}{{\"e\":{},\"d\":{}}}",
        expire_at.as_nanos(),
        serde_json_value(&data("late"))
    );
    let _: () = redis
        .hset_multiple(
            record_key(&id),
            &[("v", value.as_str()), ("t", r#"["sid 1"]"#)],
        )
        .await
        .unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data, data("late"));
    assert_eq!(
        store.delete_tagged("sid 1").await.unwrap(),
        1,
        "delete_tagged lost a record whose tag was indexed before it was written"
    );
    assert!(store.load(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_that_extends_a_session_keeps_it_in_its_tags_index() {
    // Members leave a tag's index when their score (the record's expiry) passes: a save that
    // extends the session must raise it, or the session would escape delete_tagged.
    let cluster = RedisCluster::start();
    let store = store(&cluster);
    let soon = SystemTime::now() + Duration::from_millis(300);
    let extended = store
        .create(Record::new(data("extended"), soon).with_tags(["sub bob"]))
        .await
        .unwrap();
    assert!(
        store
            .save(
                &extended,
                Record::new(data("extended"), in_a_minute()).with_tags(["sub bob"])
            )
            .await
            .unwrap()
    );
    let expired = store
        .create(Record::new(data("expired"), soon).with_tags(["sub bob"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.load(&expired).await.unwrap().is_none());
    // This create prunes the members whose score has passed.
    let other = store
        .create(Record::new(data("other"), in_a_minute()).with_tags(["sub bob"]))
        .await
        .unwrap();
    let mut redis = raw(&cluster).await;
    let members: Vec<String> = redis.zrange("app:t:sub bob", 0, -1).await.unwrap();
    assert_eq!(
        members.len(),
        2,
        "the expired session was not pruned: {members:?}"
    );
    assert_eq!(store.delete_tagged("sub bob").await.unwrap(), 2);
    assert!(store.load(&extended).await.unwrap().is_none());
    assert!(store.load(&other).await.unwrap().is_none());
}

fn serde_json_value(data: &ConformanceData) -> String {
    let tags: Vec<String> = data.tags.iter().map(|tag| format!("\"{tag}\"")).collect();
    format!(
        "{{\"owner\":\"{}\",\"tags\":[{}]}}",
        data.owner,
        tags.join(",")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tier_instances_share_sessions_on_a_cluster() {
    let cluster = RedisCluster::start();
    // The whole suite through the local tier, with the feed.
    let store = Arc::new(instance(&cluster, Duration::from_secs(2)));
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;

    // A delete, a save and a delete_tagged on A show on B at once (far within the bound).
    let (a, b) = (
        instance(&cluster, Duration::from_secs(60)),
        instance(&cluster, Duration::from_secs(60)),
    );
    wait_subscribed(&cluster, &b).await;
    let id = a
        .create(Record::new(data("x"), in_a_minute()).with_tags(["sid 1"]))
        .await
        .unwrap();
    assert!(b.load(&id).await.unwrap().is_some());
    a.delete(&id).await.unwrap();
    gone_within(&b, &id, Duration::from_secs(1), "delete").await;

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

    let tagged = a
        .create(Record::new(data("t"), in_a_minute()).with_tags(["sid 2"]))
        .await
        .unwrap();
    assert!(b.load(&tagged).await.unwrap().is_some());
    assert_eq!(a.delete_tagged("sid 2").await.unwrap(), 1);
    gone_within(&b, &tagged, Duration::from_secs(1), "delete_tagged").await;

    // load_fresh reads around a deaf instance's local tier.
    let deaf = deaf_instance(&cluster, Duration::from_secs(60));
    assert_eq!(deaf.load(&id).await.unwrap().unwrap().data, data("v2"));
    assert!(
        a.save(&id, Record::new(data("v3"), in_a_minute()))
            .await
            .unwrap()
    );
    assert_eq!(
        deaf.load(&id).await.unwrap().unwrap().data,
        data("v2"),
        "stale, deaf"
    );
    assert_eq!(
        deaf.load_fresh(&id).await.unwrap().unwrap().data,
        data("v3")
    );

    // A session lock taken on one instance holds on the other.
    let lease = a
        .try_lock(&id, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a free lock");
    assert!(
        b.try_lock(&id, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    a.unlock(&id, &lease).await.unwrap();
    let lease = b
        .try_lock(&id, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    b.unlock(&id, &lease).await.unwrap();

    // Every subscription dies (on whichever node): B falls back to the bound, then
    // resubscribes by itself.
    let bound = Duration::from_secs(1);
    let (a, b) = (instance(&cluster, bound), instance(&cluster, bound));
    wait_subscribed(&cluster, &b).await;
    let id = a
        .create(Record::new(data("x"), in_a_minute()))
        .await
        .unwrap();
    let fetched = Instant::now();
    assert!(b.load(&id).await.unwrap().is_some());
    for port in cluster.running_ports() {
        let killed = cluster.command(port, "CLIENT KILL TYPE pubsub");
        assert!(killed.starts_with(':'), "{killed}");
    }
    a.delete(&id).await.unwrap();
    gone_within(
        &b,
        &id,
        bound + Duration::from_millis(100),
        "subscription lost",
    )
    .await;
    assert!(fetched.elapsed() <= bound + Duration::from_millis(100));
    wait_subscribed(&cluster, &b).await;
}

/// What one operation during the failover window returned.
#[derive(Default, Debug)]
struct Outcomes {
    ok: u64,
    backend_errors: u64,
    /// The longest any one operation took (succeeded or failed).
    slowest: Duration,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_killed_mid_test_is_failed_over_and_sessions_keep_working() {
    let mut cluster = RedisCluster::start();
    let store = Arc::new(store(&cluster));
    // An instance subscribed through the first node listed, which is a master: the victim.
    let victim = cluster.running_ports()[0];
    assert!(
        cluster.masters().contains(&victim),
        "the first node is no master"
    );
    let watcher = instance(&cluster, Duration::from_secs(60));
    wait_subscribed(&cluster, &watcher).await;

    // 300 sessions over 10 users: about a third on the victim.
    let mut sessions = Vec::new();
    for n in 0..300 {
        let user = format!("sub {}", n % 10);
        let id = store
            .create(Record::new(data(&format!("s{n} v0")), in_a_minute()).with_tags([user]))
            .await
            .unwrap();
        sessions.push((n, id));
    }
    let on_victim: Vec<(usize, SessionId)> = sessions
        .iter()
        .filter(|(_, id)| cluster.master_of(record_key(id).as_bytes()) == victim)
        .cloned()
        .collect();
    assert!(
        on_victim.len() > 30,
        "only {} sessions on the victim",
        on_victim.len()
    );
    // A session on the victim that the watcher caches and that outlives delete_tagged("sub 0").
    let cached = on_victim
        .iter()
        .find(|(n, _)| n % 10 != 0)
        .map(|(_, id)| id.clone())
        .unwrap();
    assert!(watcher.load(&cached).await.unwrap().is_some());

    // Writers keep saving the victim's sessions (and creating new ones) through the kill,
    // remembering every write Redis acknowledged; readers check they never see wrong data.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for chunk in on_victim.chunks(on_victim.len().div_ceil(4)) {
        let (store, stop, chunk) = (Arc::clone(&store), Arc::clone(&stop), chunk.to_vec());
        writers.spawn(async move {
            let mut acknowledged: HashMap<SessionId, ConformanceData> = HashMap::new();
            let mut created = Vec::new();
            let mut outcomes = Outcomes::default();
            let mut version = 0u64;
            while !stop.load(Ordering::Relaxed) {
                version += 1;
                for (n, id) in &chunk {
                    let written = data(&format!("s{n} v{version}"));
                    let record = Record::new(written.clone(), in_a_minute())
                        .with_tags([format!("sub {}", n % 10)]);
                    let started = Instant::now();
                    let saved = store.save(id, record).await;
                    outcomes.slowest = outcomes.slowest.max(started.elapsed());
                    match saved {
                        Ok(true) => {
                            outcomes.ok += 1;
                            acknowledged.insert(id.clone(), written);
                        }
                        Ok(false) => panic!("a save of a live session was refused"),
                        Err(Error::Backend(_)) => outcomes.backend_errors += 1,
                        Err(e) => panic!("not a backend error: {e}"),
                    }
                    let started = Instant::now();
                    let loaded = store.load(id).await;
                    outcomes.slowest = outcomes.slowest.max(started.elapsed());
                    match loaded {
                        Ok(Some(record)) => {
                            let owner = &record.data.owner;
                            assert!(owner.starts_with(&format!("s{n} v")), "wrong data {owner}");
                            outcomes.ok += 1;
                        }
                        Ok(None) => panic!("a live session did not load"),
                        Err(Error::Backend(_)) => outcomes.backend_errors += 1,
                        Err(e) => panic!("not a backend error: {e}"),
                    }
                }
                let started = Instant::now();
                let made = store.create(Record::new(data("new"), in_a_minute())).await;
                outcomes.slowest = outcomes.slowest.max(started.elapsed());
                match made {
                    Ok(id) => {
                        outcomes.ok += 1;
                        created.push(id);
                    }
                    Err(Error::Backend(_)) => outcomes.backend_errors += 1,
                    Err(e) => panic!("not a backend error: {e}"),
                }
            }
            (acknowledged, created, outcomes)
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    cluster.kill(victim);
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_failed_over(victim);
        cluster
    })
    .await
    .unwrap();
    let failed_over_after = killed_at.elapsed();
    // Writes keep going a little on the new master, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = HashMap::new();
    let mut created = Vec::new();
    let mut outcomes = Outcomes::default();
    while let Some(joined) = writers.join_next().await {
        let (acked, made, counted) = joined.unwrap();
        acknowledged.extend(acked);
        created.extend(made);
        outcomes.ok += counted.ok;
        outcomes.backend_errors += counted.backend_errors;
        outcomes.slowest = outcomes.slowest.max(counted.slowest);
    }
    eprintln!(
        "failover: the replica took over {failed_over_after:?} after the kill; meanwhile {} operations succeeded and {} failed with Error::Backend; the slowest took {:?} (response timeout {:?})",
        outcomes.ok, outcomes.backend_errors, outcomes.slowest, RESPONSE_TIMEOUT
    );
    assert!(outcomes.ok > 0);

    // After the failover, every session is there, with its last acknowledged write (what a
    // failover may lose, counted: writes acknowledged by the dead master but not replicated).
    let new_master = cluster.master_of(record_key(&on_victim[0].1).as_bytes());
    assert_ne!(new_master, victim);
    let mut lost_saves = 0;
    for (n, id) in &sessions {
        let record = store.load(id).await.unwrap();
        let record = record.unwrap_or_else(|| panic!("session {n} is gone after the failover"));
        let expected = acknowledged
            .get(id)
            .cloned()
            .unwrap_or_else(|| data(&format!("s{n} v0")));
        if record.data != expected {
            lost_saves += 1;
        }
    }
    let mut lost_creates = 0;
    for id in &created {
        if store.load(id).await.unwrap().is_none() {
            lost_creates += 1;
        }
    }
    eprintln!(
        "failover lost {lost_saves} of {} sessions' last acknowledged save and {lost_creates} of {} acknowledged creates",
        acknowledged.len(),
        created.len()
    );

    // Everything works again: loads, saves, creates, delete_tagged, locks.
    let (n, id) = &on_victim[0];
    let record = Record::new(data(&format!("s{n} after")), in_a_minute())
        .with_tags([format!("sub {}", n % 10)]);
    assert!(store.save(id, record).await.unwrap());
    assert_eq!(
        store.load(id).await.unwrap().unwrap().data,
        data(&format!("s{n} after"))
    );
    let fresh = store
        .create(Record::new(data("after"), in_a_minute()).with_tags(["sub 0"]))
        .await
        .unwrap();
    let lease = store
        .try_lock(&fresh, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    store.unlock(&fresh, &lease).await.unwrap();
    // User 0's sessions: 30 created at first, and the new one.
    assert_eq!(store.delete_tagged("sub 0").await.unwrap(), 31);
    for (n, id) in &sessions {
        assert_eq!(
            store.load(id).await.unwrap().is_some(),
            n % 10 != 0,
            "session {n}"
        );
    }

    // The watcher's subscription was on the killed node: it moved to another one, and
    // changes show at once again.
    wait_subscribed(&cluster, &watcher).await;
    assert!(watcher.load(&cached).await.unwrap().is_some());
    store.delete(&cached).await.unwrap();
    gone_within(
        &watcher,
        &cached,
        Duration::from_secs(1),
        "after the failover",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_configurations_fail_cleanly() {
    // No node at all: refused when opening.
    assert!(matches!(
        RedisStore::<ConformanceData>::open(RedisConfig::cluster(Vec::<String>::new())),
        Err(Error::Backend(_))
    ));
    assert!(matches!(
        RedisStore::<ConformanceData>::open(RedisConfig::cluster(["http://127.0.0.1/"])),
        Err(Error::Backend(_))
    ));
    // Nodes that do not answer: every operation is a backend error, and the password is
    // never shown.
    let store = RedisStore::<ConformanceData>::open(
        RedisConfig::cluster([
            "redis://:cluster-secret@127.0.0.1:1",
            "redis://:cluster-secret@127.0.0.1:2",
        ])
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    assert!(!format!("{store:?}").contains("cluster-secret"));
    assert!(store.config().is_cluster());
    assert!(matches!(store.ping().await, Err(Error::Backend(_))));
    let id = SessionId::generate().unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Backend(_))));
    assert!(matches!(
        store
            .create(Record::new(data("x"), in_a_minute()).with_tags(["t"]))
            .await,
        Err(Error::Backend(_))
    ));
    assert!(matches!(
        store.delete_tagged("t").await,
        Err(Error::Backend(_))
    ));
}
