//! The shared conformance suite, and Redis-specific checks, run against [`RedisStore`] on a
//! `redis-server` each test starts on a free loopback port (never the machine's shared one).
//! Without `redis-server` these tests fail (see `RedisServer::start`); they never skip.
#![cfg(all(feature = "conformance", feature = "redis"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands as _;
use session_store::conformance::{self, ConformanceData};
use session_store::redis_server::RedisServer;
use session_store::{Error, Record, RedisConfig, RedisStore, SessionId, SessionStore};

fn store(server: &RedisServer) -> RedisStore<ConformanceData> {
    store_with_prefix(server, "test:")
}

fn store_with_prefix(server: &RedisServer, prefix: &str) -> RedisStore<ConformanceData> {
    RedisStore::open(RedisConfig::new(server.url()).key_prefix(prefix)).unwrap()
}

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
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
    let server = RedisServer::start();
    let store = Arc::new(store(&server));
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

macro_rules! each_check {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $check() {
                let server = RedisServer::start();
                conformance::$check(&store(&server)).await;
            }
        )*
    };
}

each_check!(
    create_then_load,
    expiry,
    overwrite,
    save_unknown_is_refused,
    save_after_delete_is_refused,
    delete,
    delete_unknown_is_ok,
    unknown_ids,
    garbage_ids,
    concurrent_writers,
    ids_are_unique,
    tags_round_trip,
    delete_tagged,
    delete_tagged_follows_saves,
    trim_tagged,
    list_tagged,
    locks,
);

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_across_threads() {
    let server = RedisServer::start();
    conformance::concurrent_writers_across_threads(Arc::new(store(&server))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_are_unique_across_threads() {
    let server = RedisServer::start();
    conformance::ids_are_unique_across_threads(Arc::new(store(&server))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_name_fingerprints_never_ids_and_expire_with_the_record() {
    let server = RedisServer::start();
    let store = store(&server);
    let expires_at = in_a_minute();
    let id = store
        .create(Record::new(data("keys"), expires_at).with_tags(["sub x"]))
        .await
        .unwrap();
    let mut redis = raw(&server).await;
    let mut keys: Vec<String> = redis.keys("*").await.unwrap();
    keys.sort();
    let record_key = format!("test:s:{}", id.fingerprint().encode());
    assert_eq!(keys, [record_key.clone(), "test:t:sub x".to_owned()]);
    assert!(
        keys.iter().all(|key| !key.contains(&id.encode())),
        "a key holds the session id"
    );
    // PEXPIREAT from the record's expiry (rounded up to the millisecond)...
    let expire_ms: i64 = redis::cmd("PEXPIRETIME")
        .arg(&record_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let expected = expires_at.duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let expected = i64::try_from(expected.div_ceil(1_000_000)).unwrap();
    assert_eq!(expire_ms, expected);
    // ...and the tag's set expires with it.
    let set_expire_ms: i64 = redis::cmd("PEXPIRETIME")
        .arg("test:t:sub x")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(set_expire_ms, expected);
    // The value starts with the format byte, then JSON.
    let value: Vec<u8> = redis.hget(&record_key, "v").await.unwrap();
    assert_eq!(value[0], 1, "format byte");
    assert!(value[1..].starts_with(b"{\"e\":"), "{value:?}");
    // A save moves the expiry.
    let later = in_a_minute() + Duration::from_secs(600);
    assert!(
        store
            .save(&id, Record::new(data("keys"), later))
            .await
            .unwrap()
    );
    let expire_ms: i64 = redis::cmd("PEXPIRETIME")
        .arg(&record_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        expire_ms > expected + 500_000,
        "the save moved the key's expiry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tag_index_does_not_leak() {
    let server = RedisServer::start();
    let store = store(&server);
    let mut redis = raw(&server).await;
    let connection = redis.clone();
    let members = |tag: &'static str| {
        let mut redis = connection.clone();
        async move {
            let members: Vec<String> = redis.smembers(format!("test:t:{tag}")).await.unwrap();
            members.len()
        }
    };
    // Deleted records leave their tags' sets; empty sets are gone.
    let id = store
        .create(Record::new(data("leak"), in_a_minute()).with_tags(["a", "b"]))
        .await
        .unwrap();
    store.delete(&id).await.unwrap();
    let keys: Vec<String> = redis.keys("test:*").await.unwrap();
    assert!(keys.is_empty(), "left behind: {keys:?}");
    // A save that drops a tag leaves that tag's set.
    let id = store
        .create(Record::new(data("leak"), in_a_minute()).with_tags(["a", "b"]))
        .await
        .unwrap();
    store
        .save(
            &id,
            Record::new(data("leak"), in_a_minute()).with_tags(["b"]),
        )
        .await
        .unwrap();
    assert_eq!(members("a").await, 0);
    assert_eq!(members("b").await, 1);
    store.delete_tagged("b").await.unwrap();
    let keys: Vec<String> = redis.keys("test:*").await.unwrap();
    assert!(keys.is_empty(), "left behind: {keys:?}");
    // Expired records: their sets expire with the longest-lived one...
    let soon = SystemTime::now() + Duration::from_millis(300);
    for _ in 0..3 {
        store
            .create(Record::new(data("leak"), soon).with_tags(["c"]))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let keys: Vec<String> = redis.keys("test:*").await.unwrap();
    assert!(keys.is_empty(), "left behind after expiry: {keys:?}");
    // ...and a tag in constant use (a user logging in every day) sheds the members whose
    // record is gone: every add prunes up to 8 of them.
    let live = store
        .create(Record::new(data("leak"), in_a_minute()).with_tags(["busy"]))
        .await
        .unwrap();
    for _ in 0..20 {
        store
            .create(Record::new(data("leak"), soon_ms(50)).with_tags(["busy"]))
            .await
            .unwrap();
    }
    assert_eq!(members("busy").await, 21);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        store
            .save(
                &live,
                Record::new(data("leak"), in_a_minute()).with_tags(["busy"]),
            )
            .await
            .unwrap();
    }
    assert_eq!(members("busy").await, 1, "dead members left in the set");
    assert_eq!(store.delete_tagged("busy").await.unwrap(), 1);
    let keys: Vec<String> = redis.keys("test:*").await.unwrap();
    assert!(keys.is_empty(), "left behind: {keys:?}");
}

fn soon_ms(ms: u64) -> SystemTime {
    SystemTime::now() + Duration::from_millis(ms)
}

#[tokio::test(flavor = "multi_thread")]
async fn prefixes_keep_apps_apart() {
    let server = RedisServer::start();
    let one = store_with_prefix(&server, "one:");
    let two = store_with_prefix(&server, "two:");
    let id = one
        .create(Record::new(data("one"), in_a_minute()).with_tags(["shared"]))
        .await
        .unwrap();
    assert!(two.load(&id).await.unwrap().is_none());
    assert!(
        !two.save(&id, Record::new(data("two"), in_a_minute()))
            .await
            .unwrap()
    );
    assert_eq!(two.delete_tagged("shared").await.unwrap(), 0);
    two.delete(&id).await.unwrap();
    assert!(one.load(&id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn records_of_another_format_are_an_error_not_a_panic() {
    let server = RedisServer::start();
    let store = store(&server);
    let id = store
        .create(Record::new(data("format"), in_a_minute()))
        .await
        .unwrap();
    let mut redis = raw(&server).await;
    let key = format!("test:s:{}", id.fingerprint().encode());
    redis
        .hset::<_, _, _, ()>(&key, "v", b"\x02future")
        .await
        .unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Codec(_))));
    redis
        .hset::<_, _, _, ()>(&key, "v", b"\x01{not json")
        .await
        .unwrap();
    assert!(matches!(store.load(&id).await, Err(Error::Codec(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_fails_cleanly_and_recovers_by_itself() {
    let mut server = RedisServer::start();
    let store = store(&server);
    let id = store
        .create(Record::new(data("down"), in_a_minute()))
        .await
        .unwrap();
    server.stop();
    let started = Instant::now();
    let other = SessionId::generate().unwrap();
    assert!(matches!(
        store.create(Record::new(data("down"), in_a_minute())).await,
        Err(Error::Backend(_))
    ));
    assert!(matches!(store.load(&id).await, Err(Error::Backend(_))));
    assert!(matches!(
        store
            .save(&id, Record::new(data("down"), in_a_minute()))
            .await,
        Err(Error::Backend(_))
    ));
    assert!(matches!(store.delete(&other).await, Err(Error::Backend(_))));
    assert!(matches!(
        store.delete_tagged("x").await,
        Err(Error::Backend(_))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failing took {:?}",
        started.elapsed()
    );
    server.restart();
    // Same port, empty server: the store reconnects by itself (the scripts are loaded again).
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        match store
            .create(Record::new(data("back"), in_a_minute()).with_tags(["t"]))
            .await
        {
            Ok(id) => break id,
            Err(e) => {
                assert!(Instant::now() < deadline, "never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(store.load(&id).await.unwrap().unwrap().data, data("back"));
    assert_eq!(store.delete_tagged("t").await.unwrap(), 1);
}

/// A throwaway PKI: a CA, a certificate for 127.0.0.1 and a client certificate it signed.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    };
    // Distinct subjects: with rcgen's default one everywhere, a leaf looks self-signed.
    let named = |common_name: &str| {
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = named("session-store test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name = named(&names[0]);
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &ca).unwrap();
        (certificate.pem(), key.serialize_pem())
    };
    Pki {
        server: leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: leaf(vec!["sessions".into()], ExtendedKeyUsagePurpose::ClientAuth),
        ca: ca.pem(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rediss_with_a_private_ca_and_a_client_certificate() {
    let pki = pki();
    let server = RedisServer::start_tls(&session_store::redis_server::ServerTls {
        certificate_pem: pki.server.0.clone(),
        key_pem: pki.server.1.clone(),
        client_ca_pem: pki.ca.clone(),
    });
    let url = server.tls_url().unwrap();
    let config = || {
        RedisConfig::new(url.clone())
            .key_prefix("tls:")
            .connect_timeout(Duration::from_secs(1))
    };

    // Trusting the private CA and presenting a client certificate: the whole suite, over TLS.
    let store = RedisStore::<ConformanceData>::connect(
        config()
            .tls_root_certificates(pki.ca.clone())
            .tls_client_certificate(pki.client.0.clone(), pki.client.1.clone()),
    )
    .await
    .unwrap();
    conformance::run(&store).await;
    let debug = format!("{:?}", store.config());
    assert!(
        debug.contains("tls_client_certificate: true") && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );

    // The change feed subscribes over TLS too.
    let _watching = session_store::TwoTierStore::with_changes(
        store.clone(),
        session_store::TwoTierConfig::new(),
    );
    let mut plain = raw(&server).await;
    let started = Instant::now();
    loop {
        let subscribers: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("tls:changes")
            .query_async(&mut plain)
            .await
            .unwrap();
        if subscribers.first().is_some_and(|(_, n)| *n == 1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no TLS subscription to the change feed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The system's roots do not know the private CA; Redis wants a client certificate.
    let without_ca = RedisStore::<ConformanceData>::connect(
        config().tls_client_certificate(pki.client.0.clone(), pki.client.1.clone()),
    )
    .await;
    assert!(matches!(without_ca, Err(Error::Backend(_))));
    let without_client_certificate =
        RedisStore::<ConformanceData>::connect(config().tls_root_certificates(pki.ca.clone()))
            .await;
    assert!(matches!(without_client_certificate, Err(Error::Backend(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_urls_are_refused_and_passwords_never_shown() {
    let store = RedisStore::<ConformanceData>::open(
        RedisConfig::new("rediss://:password@127.0.0.1:1/3")
            .connect_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    assert!(!format!("{store:?}").contains("password"));
    assert!(matches!(store.ping().await, Err(Error::Backend(_))));
    assert!(matches!(
        RedisStore::<ConformanceData>::open(RedisConfig::new("http://127.0.0.1/")),
        Err(Error::Backend(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_acl_users_and_database_numbers_in_the_url_are_used() {
    let server = RedisServer::start();
    let port = server.port();
    assert_eq!(
        server.command("ACL SETUSER sessions on >user-pass ~* &* +@all"),
        "+OK"
    );
    assert_eq!(server.command("CONFIG SET requirepass s3cret"), "+OK");
    let connect = |url: String| async move {
        RedisStore::<ConformanceData>::connect(RedisConfig::new(url).key_prefix("auth:")).await
    };

    // The default user's password, database 3.
    let store = connect(format!("redis://:s3cret@127.0.0.1:{port}/3"))
        .await
        .unwrap();
    conformance::run(&store).await;
    let count_keys = |db: u8| async move {
        let mut raw = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{port}/{db}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = raw.keys("auth:*").await.unwrap();
        keys.len()
    };
    assert!(count_keys(3).await > 0, "the records are in database 3");
    assert_eq!(count_keys(0).await, 0, "nothing in database 0");

    // An ACL user (Redis 6+).
    let store = connect(format!("redis://sessions:user-pass@127.0.0.1:{port}/1"))
        .await
        .unwrap();
    conformance::create_then_load(&store).await;

    // A wrong password is a clear backend error, which does not repeat the password.
    let Err(error) = connect(format!("redis://:wrong-pass@127.0.0.1:{port}/")).await else {
        panic!("a wrong password connected");
    };
    assert!(matches!(error, Error::Backend(_)), "{error}");
    assert!(!error.to_string().contains("wrong-pass"), "{error}");
    // Without a password at all: the same.
    let Err(error) = connect(format!("redis://127.0.0.1:{port}/")).await else {
        panic!("no password connected");
    };
    assert!(matches!(error, Error::Backend(_)), "{error}");
}
