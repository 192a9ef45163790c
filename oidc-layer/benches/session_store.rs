//! The session store on the request path, in one run: loading a hot session from the memory
//! store, from the two-tier store (moka in front of Redis) and from Redis directly, and a
//! session the two-tier store's local tier does not hold (`two_tier_miss`: another instance
//! created it, or the local copy was evicted or went stale), which must go to Redis; the same
//! for PostgreSQL (alone and behind the two tiers) and SQLite; a save (what a refresh
//! writes) in each store; then the ratios, the memory one session costs in the moka store
//! (100,000 `SessionData` records of realistic size, counted by the allocator and by the
//! process's resident memory), and the bytes one session takes in Redis, PostgreSQL and
//! SQLite (10,000 records each).
//!
//!     cargo bench -p oidc-layer --bench session_store
//!
//! Starts its own `redis-server` and PostgreSQL on free loopback ports (see
//! `session_store::redis_server` and `session_store::postgres_server`) and an SQLite file in
//! the temporary directory. Targets: two-tier within 2x of memory; at most 4 KB per session
//! in memory.
//!
//! Also `load` and `save` on one Redis against a Redis Cluster (three masters and three
//! replicas on this machine, `session_store::redis_cluster`), where a save takes two round
//! trips (the tags' index, then the record).

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use criterion::Criterion;
use oidc_layer::{Lease, MemoryStore, Record, SessionData, SessionId, SessionStore};
use session_store::postgres_server::PostgresServer;
use session_store::redis_cluster::RedisCluster;
use session_store::redis_server::RedisServer;
use session_store::{
    Error, PostgresStore, RedisConfig, RedisStore, SqlConfig, SqliteStore, TwoTierConfig,
    TwoTierStore,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// How many records the memory measurement stores.
const RECORDS: usize = 100_000;

/// Token sizes of a session. ID tokens are JWTs everywhere; refresh tokens are JWTs at
/// Keycloak and Entra ID, opaque at Google, Authelia or oidc-provider. The access token is kept
/// only with `expose_access_token` (0: not kept).
#[derive(Clone, Copy)]
struct Profile {
    name: &'static str,
    id_token: usize,
    access_token: usize,
    refresh_token: usize,
}

const JWT_TOKENS: Profile = Profile {
    name: "JWT ID and refresh tokens (Keycloak-like), default configuration",
    id_token: 1_150,
    access_token: 0,
    refresh_token: 750,
};

const JWT_TOKENS_EXPOSED: Profile = Profile {
    name: "the same with expose_access_token (a 1,350-byte JWT access token kept)",
    access_token: 1_350,
    ..JWT_TOKENS
};

const OPAQUE_TOKENS: Profile = Profile {
    name: "JWT ID token, opaque refresh token, default configuration",
    id_token: 1_000,
    access_token: 0,
    refresh_token: 43,
};

/// About `len` characters, unique per `seed`: a JWT's shape (three dot-separated segments of
/// base64url-encoded bytes, as a provider issues them) above 100 characters, an opaque
/// base64url string below.
fn token(len: usize, seed: u64, salt: u64) -> String {
    use base64::Engine as _;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt) | 1;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let bytes = |n: usize, random: &mut dyn FnMut() -> u64| -> Vec<u8> {
        (0..n).map(|_| random().to_le_bytes()[0]).collect()
    };
    let encode = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    if len <= 100 {
        return encode(bytes(len * 3 / 4, &mut random));
    }
    let outer = len / 5 * 3 / 4;
    let middle = (len - 2 - 2 * (len / 5)) * 3 / 4;
    [outer, middle, outer]
        .map(|n| encode(bytes(n, &mut random)))
        .join(".")
}

/// A logged-in user's session as the layer stores it: identity (with the ID token's claims,
/// roles and groups), the provider's `sid`, and the three tokens.
fn session_data(n: u64, profile: Profile) -> SessionData {
    let now = SystemTime::now();
    let epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let sub = format!("f3a1c2d4-5b6e-4f70-8a9b-{n:012}");
    let sid = format!("2c1f0e4b-8d7a-4c3b-9e5f-{n:012}");
    let iss = "https://id.example.com/realms/home";
    let claims = serde_json::json!({
        "exp": epoch + 300, "iat": epoch, "auth_time": epoch, "jti": token(36, n, 1),
        "iss": iss, "aud": "my-app", "sub": sub, "typ": "ID", "azp": "my-app",
        "nonce": token(43, n, 2), "sid": sid, "at_hash": token(22, n, 3), "acr": "1",
        "email_verified": true, "name": "Alice Example", "preferred_username": "alice",
        "given_name": "Alice", "family_name": "Example", "email": "alice@example.com",
        "groups": ["admins", "users", "media"],
    });
    let json = serde_json::json!({
        "identity": {
            "provider": "default",
            "account": null,
            "sub": sub,
            "iss": iss,
            "username": "alice",
            "name": "Alice Example",
            "email": "alice@example.com",
            "email_verified": true,
            "roles": ["admin"],
            "implied_roles": ["admin", "trusted", "untrusted"],
            "role_explanation": "group admins → admin",
            "groups": ["admins", "users", "media"],
            "claims": claims,
        },
        "sid": sid,
        "id_token": token(profile.id_token, n, 4),
        "access_token": (profile.access_token > 0).then(|| token(profile.access_token, n, 5)),
        "refresh_token": token(profile.refresh_token, n, 6),
        "access_expires_at": now + Duration::from_secs(300),
        "created_at": now,
        "last_seen": now,
    });
    // Through text, as from Redis (the identity keeps its claims as JSON text).
    serde_json::from_str(&json.to_string()).expect("the session data JSON matches SessionData")
}

fn record(n: u64, profile: Profile) -> Record<SessionData> {
    let data = session_data(n, profile);
    let sub = data.identity().sub().to_owned();
    Record::new(data, SystemTime::now() + Duration::from_secs(3600)).with_tags([
        format!("sub https://id.example.com/realms/home {sub}"),
        format!("sid https://id.example.com/realms/home {n}"),
    ])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

type Remote = RedisStore<SessionData>;

struct Stores {
    memory: MemoryStore<SessionData>,
    two_tier: TwoTierStore<Remote, SessionData>,
    redis: Remote,
    ids: [SessionId; 3],
}

fn stores(rt: &tokio::runtime::Runtime, server: &RedisServer) -> Stores {
    rt.block_on(async {
        let redis = RedisStore::connect(RedisConfig::new(server.url()).key_prefix("bench:"))
            .await
            .expect("the benchmark's redis-server");
        let two_tier = TwoTierStore::with_changes(redis.clone(), TwoTierConfig::new());
        let memory = MemoryStore::new();
        let memory_id = memory.create(record(1, JWT_TOKENS)).await.expect("create");
        let two_tier_id = two_tier
            .create(record(2, JWT_TOKENS))
            .await
            .expect("create");
        let redis_id = redis.create(record(3, JWT_TOKENS)).await.expect("create");
        Stores {
            memory,
            two_tier,
            redis,
            ids: [memory_id, two_tier_id, redis_id],
        }
    })
}

async fn load(store: &impl SessionStore<SessionData>, id: &SessionId) {
    let record = store.load(id).await.expect("load");
    black_box(record.expect("the session exists"));
}

/// A load the local tier cannot answer: the local copy is dropped first, so the record comes
/// from Redis (and is kept locally again).
async fn load_missing_locally(store: &TwoTierStore<Remote, SessionData>, id: &SessionId) {
    store.forget_local(id);
    load(store, id).await;
}

/// The SQL stores, each with one session stored.
struct SqlStores {
    postgres: PostgresStore<SessionData>,
    two_tier: TwoTierStore<PostgresStore<SessionData>, SessionData>,
    sqlite: SqliteStore<SessionData>,
    /// Of `postgres`, `two_tier`, `sqlite`.
    ids: [SessionId; 3],
    sqlite_file: std::path::PathBuf,
}

fn sql_stores(rt: &tokio::runtime::Runtime, server: &PostgresServer) -> SqlStores {
    let sqlite_file =
        std::env::temp_dir().join(format!("oidc-layer-bench-{}.db", std::process::id()));
    rt.block_on(async {
        let config = SqlConfig::new().table_prefix("bench_");
        let postgres = PostgresStore::connect(&server.url(), config.clone())
            .await
            .expect("the benchmark's PostgreSQL");
        let two_tier = TwoTierStore::with_changes(postgres.clone(), TwoTierConfig::new());
        let sqlite = SqliteStore::connect(&format!("sqlite://{}", sqlite_file.display()), config)
            .await
            .expect("an SQLite file in the temporary directory");
        let ids = [
            postgres
                .create(record(4, JWT_TOKENS))
                .await
                .expect("create"),
            two_tier
                .create(record(5, JWT_TOKENS))
                .await
                .expect("create"),
            sqlite.create(record(6, JWT_TOKENS)).await.expect("create"),
        ];
        SqlStores {
            postgres,
            two_tier,
            sqlite,
            ids,
            sqlite_file,
        }
    })
}

impl Drop for SqlStores {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.sqlite_file.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A save of the session's record, as a refresh makes it.
async fn save(store: &impl SessionStore<SessionData>, id: &SessionId, n: u64) {
    let saved = store.save(id, record(n, JWT_TOKENS)).await.expect("save");
    assert!(saved, "the session exists");
}

fn sql_criterion_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, sql: &SqlStores) {
    let [postgres_id, two_tier_id, sqlite_id] = &sql.ids;
    let mut group = c.benchmark_group("session_load");
    group.bench_function("postgres", |b| {
        b.to_async(rt).iter(|| load(&sql.postgres, postgres_id));
    });
    group.bench_function("two_tier_postgres", |b| {
        b.to_async(rt).iter(|| load(&sql.two_tier, two_tier_id));
    });
    group.bench_function("sqlite", |b| {
        b.to_async(rt).iter(|| load(&sql.sqlite, sqlite_id));
    });
    group.finish();
}

fn criterion_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, stores: &Stores) {
    let [memory_id, two_tier_id, redis_id] = &stores.ids;
    let mut group = c.benchmark_group("session_load");
    group.bench_function("memory", |b| {
        b.to_async(rt).iter(|| load(&stores.memory, memory_id));
    });
    group.bench_function("two_tier", |b| {
        b.to_async(rt).iter(|| load(&stores.two_tier, two_tier_id));
    });
    group.bench_function("two_tier_miss", |b| {
        b.to_async(rt)
            .iter(|| load_missing_locally(&stores.two_tier, two_tier_id));
    });
    group.bench_function("redis", |b| {
        b.to_async(rt).iter(|| load(&stores.redis, redis_id));
    });
    group.finish();
}

/// Mean time of one `load()` over `n` of them, best of 5 rounds.
fn mean_time<F: Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    n: u32,
    load: impl Fn() -> F,
) -> Duration {
    (0..5)
        .map(|_| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..n {
                    load().await;
                }
                started.elapsed() / n
            })
        })
        .min()
        .unwrap_or_default()
}

/// Mean time of one load of `id` from `store` over `n` loads, best of 5 rounds.
fn mean_load(
    rt: &tokio::runtime::Runtime,
    store: &impl SessionStore<SessionData>,
    id: &SessionId,
    n: u32,
) -> Duration {
    mean_time(rt, n, || load(store, id))
}

fn ratios(rt: &tokio::runtime::Runtime, stores: &Stores) {
    let [memory_id, two_tier_id, redis_id] = &stores.ids;
    let memory = mean_load(rt, &stores.memory, memory_id, 200_000);
    // Over more than the staleness bound (2 s): includes the background re-reads.
    let started = Instant::now();
    let mut two_tier = Duration::MAX;
    while started.elapsed() < Duration::from_secs(3) {
        two_tier = two_tier.min(mean_load(rt, &stores.two_tier, two_tier_id, 200_000));
    }
    let redis = mean_load(rt, &stores.redis, redis_id, 5_000);
    let two_tier_miss = mean_time(rt, 5_000, || {
        load_missing_locally(&stores.two_tier, two_tier_id)
    });
    let ns = |d: Duration| d.as_secs_f64() * 1e9;
    println!();
    println!("hot-path load of one session (mean, best of 5 rounds)");
    println!("  memory    {:>10.0} ns", ns(memory));
    println!(
        "  two-tier  {:>10.0} ns  = {:.2}x memory (target <= 2x)",
        ns(two_tier),
        ns(two_tier) / ns(memory)
    );
    println!(
        "  redis     {:>10.0} ns  = {:.1}x memory, {:.1}x two-tier",
        ns(redis),
        ns(redis) / ns(memory),
        ns(redis) / ns(two_tier)
    );
    println!(
        "  two-tier, not in the local tier {:>10.0} ns  = {:.2}x redis",
        ns(two_tier_miss),
        ns(two_tier_miss) / ns(redis)
    );
}

fn sql_ratios(rt: &tokio::runtime::Runtime, stores: &Stores, sql: &SqlStores) {
    let [postgres_id, two_tier_id, sqlite_id] = &sql.ids;
    let [memory_id, _, redis_id] = &stores.ids;
    let ns = |d: Duration| d.as_secs_f64() * 1e9;
    let memory = ns(mean_load(rt, &stores.memory, memory_id, 200_000));
    let started = Instant::now();
    let mut two_tier = Duration::MAX;
    while started.elapsed() < Duration::from_secs(3) {
        two_tier = two_tier.min(mean_load(rt, &sql.two_tier, two_tier_id, 200_000));
    }
    let two_tier = ns(two_tier);
    let postgres = ns(mean_load(rt, &sql.postgres, postgres_id, 5_000));
    let sqlite = ns(mean_load(rt, &sql.sqlite, sqlite_id, 20_000));
    println!();
    println!("hot-path load of one session, SQL stores (mean, best of 5 rounds)");
    println!(
        "  two-tier over PostgreSQL {two_tier:>10.0} ns  = {:.2}x memory",
        two_tier / memory
    );
    println!(
        "  PostgreSQL               {postgres:>10.0} ns  = {:.1}x memory",
        postgres / memory
    );
    println!(
        "  SQLite                   {sqlite:>10.0} ns  = {:.1}x memory",
        sqlite / memory
    );
    println!();
    println!("save of one session (what a refresh writes; mean, best of 5 rounds)");
    let n = std::cell::Cell::new(100_u64);
    let next = || {
        n.set(n.get() + 1);
        n.get()
    };
    let saves: [(&str, Duration); 4] = [
        (
            "memory",
            mean_time(rt, 20_000, || save(&stores.memory, memory_id, next())),
        ),
        (
            "Redis",
            mean_time(rt, 2_000, || save(&stores.redis, redis_id, next())),
        ),
        (
            "PostgreSQL",
            mean_time(rt, 1_000, || save(&sql.postgres, postgres_id, next())),
        ),
        (
            "SQLite",
            mean_time(rt, 2_000, || save(&sql.sqlite, sqlite_id, next())),
        ),
    ];
    for (name, time) in saves {
        println!("  {name:<10} {:>10.0} ns", ns(time));
    }
}

/// The bytes one session takes in each shared store: 10,000 records of the default profile.
fn stored_bytes_per_session(
    rt: &tokio::runtime::Runtime,
    redis_server: &RedisServer,
    postgres_server: &PostgresServer,
) {
    const STORED: u64 = 10_000;
    let (redis_bytes, (postgres_bytes, wal_per_save), sqlite_bytes) = rt.block_on(async {
        let redis = RedisStore::<SessionData>::connect(
            RedisConfig::new(redis_server.url()).key_prefix("size:"),
        )
        .await
        .expect("redis");
        let mut ids = Vec::new();
        for n in 0..STORED {
            ids.push(redis.create(record(10_000 + n, JWT_TOKENS)).await.expect("create"));
        }
        // A record's hash, and its two tag sets (one member each: each session is another user).
        let record_key = format!("size:s:{}", ids[0].fingerprint().encode());
        let sub = record(10_000, JWT_TOKENS).tags[0].clone();
        let sid = record(10_000, JWT_TOKENS).tags[1].clone();
        let usage = |key: &str| -> u64 {
            redis_server
                .command(&format!("MEMORY USAGE \"{key}\""))
                .trim_start_matches(':')
                .parse()
                .unwrap_or(0)
        };
        let redis_bytes = usage(&record_key) + usage(&format!("size:t:{sub}")) + usage(&format!("size:t:{sid}"));

        let postgres = PostgresStore::<SessionData>::connect(
            &postgres_server.url(),
            SqlConfig::new().table_prefix("size_"),
        )
        .await
        .expect("postgres");
        let mut postgres_ids = Vec::new();
        for n in 0..STORED {
            let id = postgres.create(record(10_000 + n, JWT_TOKENS)).await.expect("create");
            if n < 1_000 {
                postgres_ids.push(id);
            }
        }
        // Write-ahead log per save (a refresh): what replication and backups carry.
        let before = postgres_server.psql("SELECT pg_current_wal_lsn()");
        for (n, id) in postgres_ids.iter().enumerate() {
            let saved = postgres
                .save(id, record(10_000 + n as u64, JWT_TOKENS))
                .await
                .expect("save");
            assert!(saved);
        }
        let wal: u64 = postgres_server
            .psql(&format!(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{before}')"
            ))
            .parse::<f64>()
            .map_or(0, |bytes| bytes as u64)
            / postgres_ids.len() as u64;
        postgres_server.psql("VACUUM ANALYZE size_sessions");
        postgres_server.psql("VACUUM ANALYZE size_session_tags");
        let total: u64 = postgres_server
            .psql("SELECT pg_total_relation_size('size_sessions') + pg_total_relation_size('size_session_tags')")
            .parse()
            .unwrap_or(0);

        let sqlite_file = std::env::temp_dir().join(format!("oidc-layer-size-{}.db", std::process::id()));
        let sqlite = SqliteStore::<SessionData>::connect(
            &format!("sqlite://{}", sqlite_file.display()),
            SqlConfig::new(),
        )
        .await
        .expect("sqlite");
        let before = std::fs::metadata(&sqlite_file).map_or(0, |m| m.len());
        for n in 0..STORED {
            sqlite.create(record(10_000 + n, JWT_TOKENS)).await.expect("create");
        }
        sqlx_checkpoint(&sqlite).await;
        let after = std::fs::metadata(&sqlite_file).map_or(0, |m| m.len());
        sqlite.pool().close().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut path = sqlite_file.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
        (redis_bytes, (total / STORED, wal), (after - before) / STORED)
    });
    let json = serde_json::to_vec(&record(0, JWT_TOKENS).data).map_or(0, |json| json.len());
    println!();
    println!(
        "bytes per stored session ({}, JSON {json} bytes; {STORED} sessions, tag index included)",
        JWT_TOKENS.name
    );
    println!(
        "  Redis       {redis_bytes:>6} bytes (MEMORY USAGE of the record and its two tag sets)"
    );
    println!(
        "  PostgreSQL  {postgres_bytes:>6} bytes (tables, TOAST and indexes, after VACUUM); {wal_per_save} bytes of WAL per save"
    );
    println!("  SQLite      {sqlite_bytes:>6} bytes (file growth, after a checkpoint)");
}

/// Folds SQLite's write-ahead log into the file, so its size is what the data takes.
async fn sqlx_checkpoint(store: &SqliteStore<SessionData>) {
    session_store::sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .expect("checkpoint");
}

/// A remote tier that keeps nothing: the two-tier store's memory measured alone.
struct Discard;

#[async_trait]
impl SessionStore<SessionData> for Discard {
    async fn create(&self, _record: Record<SessionData>) -> Result<SessionId, Error> {
        SessionId::generate()
    }
    async fn load(&self, _id: &SessionId) -> Result<Option<Arc<Record<SessionData>>>, Error> {
        Ok(None)
    }
    async fn save(&self, _id: &SessionId, _record: Record<SessionData>) -> Result<bool, Error> {
        Ok(false)
    }
    async fn delete(&self, _id: &SessionId) -> Result<(), Error> {
        Ok(())
    }
    async fn delete_tagged(&self, _tag: &str) -> Result<u64, Error> {
        Ok(0)
    }
    async fn trim_tagged(
        &self,
        _tag: &str,
        _keep: usize,
        _spare: &SessionId,
    ) -> Result<u64, Error> {
        Ok(0)
    }
    async fn list_tagged(
        &self,
        _tag: &str,
        _limit: usize,
    ) -> Result<Vec<Arc<Record<SessionData>>>, Error> {
        Ok(Vec::new())
    }
    async fn try_lock(&self, _id: &SessionId, _ttl: Duration) -> Result<Option<Lease>, Error> {
        Lease::generate().map(Some)
    }
    async fn unlock(&self, _id: &SessionId, _lease: &Lease) -> Result<(), Error> {
        Ok(())
    }
}

/// Resident memory of this process, from `/proc/self/statm` (0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn memory_per_session(rt: &tokio::runtime::Runtime) {
    println!();
    println!(
        "memory per session, {RECORDS} records (heap: bytes requested and kept, counted by the allocator; RSS: resident growth, 0 when the allocator reused memory freed earlier)"
    );
    for profile in [JWT_TOKENS, JWT_TOKENS_EXPOSED, OPAQUE_TOKENS] {
        let sample = serde_json::to_vec(&session_data(0, profile)).map_or(0, |json| json.len());
        // The records alone, in a Vec: what any in-process store keeps at least.
        let mut records = Vec::with_capacity(RECORDS);
        let (record_heap, _) = measure(|| {
            for n in 0..RECORDS as u64 {
                records.push(record(n, profile));
            }
        });
        drop(records);
        // The moka store the layer uses by default.
        let store = MemoryStore::<SessionData>::with_capacity(RECORDS as u64 * 2);
        let (heap, rss) = measure(|| {
            rt.block_on(async {
                for n in 0..RECORDS as u64 {
                    store.create(record(n, profile)).await.expect("create");
                }
                assert_eq!(store.len().await, RECORDS as u64);
            });
        });
        println!(
            "  {} (data serializes to {sample} bytes of JSON):",
            profile.name
        );
        println!("    the record alone      {record_heap:>6} bytes/session (heap)");
        println!(
            "    memory store          {:>6} bytes/session (heap), {:>6} (RSS)  target <= 4096",
            heap, rss
        );
        drop(store);
        // The two-tier store's local tier alone (its remote keeps nothing).
        let two_tier = TwoTierStore::new(
            Discard,
            TwoTierConfig::new()
                .capacity(RECORDS as u64 * 2)
                .max_staleness(Duration::from_secs(3600)),
        );
        let (heap, rss) = measure(|| {
            rt.block_on(async {
                for n in 0..RECORDS as u64 {
                    two_tier.create(record(n, profile)).await.expect("create");
                }
            });
            assert_eq!(two_tier.local_len(), RECORDS as u64);
        });
        println!(
            "    two-tier local tier   {:>6} bytes/session (heap), {:>6} (RSS)",
            heap, rss
        );
    }
}

/// Heap bytes kept and resident growth per record while `fill` runs.
fn measure(fill: impl FnOnce()) -> (i64, i64) {
    let rss_before = rss_bytes();
    let region = Region::new(GLOBAL);
    fill();
    let change = region.change();
    let rss_after = rss_bytes();
    // stats_alloc already counts a realloc's growth (or shrink) in bytes_allocated (or
    // bytes_deallocated); bytes_reallocated is the same change again.
    let kept = i64::try_from(change.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(change.bytes_deallocated).unwrap_or(i64::MAX);
    let records = i64::try_from(RECORDS).unwrap_or(i64::MAX);
    let rss = i64::try_from(rss_after).unwrap_or(0) - i64::try_from(rss_before).unwrap_or(0);
    (kept / records, rss / records)
}

/// The same session in one Redis and in a Redis Cluster.
struct ClusterStores {
    redis: Remote,
    cluster: Remote,
    /// In `redis`, in `cluster`.
    ids: [SessionId; 2],
}

fn cluster_stores(
    rt: &tokio::runtime::Runtime,
    server: &RedisServer,
) -> (RedisCluster, ClusterStores) {
    let cluster = RedisCluster::start();
    let stores = rt.block_on(async {
        let redis = RedisStore::connect(RedisConfig::new(server.url()).key_prefix("bench-one:"))
            .await
            .expect("the benchmark's redis-server");
        let on_cluster =
            RedisStore::connect(RedisConfig::cluster(cluster.urls()).key_prefix("bench:"))
                .await
                .expect("the benchmark's cluster");
        let record = record(4, JWT_TOKENS);
        let ids = [
            redis.create(record.clone()).await.expect("create"),
            on_cluster.create(record).await.expect("create"),
        ];
        ClusterStores {
            redis,
            cluster: on_cluster,
            ids,
        }
    });
    (cluster, stores)
}

fn cluster_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, stores: &ClusterStores) {
    let [redis_id, cluster_id] = &stores.ids;
    let mut group = c.benchmark_group("redis_vs_cluster");
    group.bench_function("load_redis", |b| {
        b.to_async(rt).iter(|| load(&stores.redis, redis_id));
    });
    group.bench_function("load_cluster", |b| {
        b.to_async(rt).iter(|| load(&stores.cluster, cluster_id));
    });
    group.bench_function("save_redis", |b| {
        b.to_async(rt).iter(|| save(&stores.redis, redis_id, 4));
    });
    group.bench_function("save_cluster", |b| {
        b.to_async(rt).iter(|| save(&stores.cluster, cluster_id, 4));
    });
    group.finish();
}

fn cluster_ratios(rt: &tokio::runtime::Runtime, stores: &ClusterStores) {
    let [redis_id, cluster_id] = &stores.ids;
    let load_redis = mean_load(rt, &stores.redis, redis_id, 5_000);
    let load_cluster = mean_load(rt, &stores.cluster, cluster_id, 5_000);
    let save_redis = mean_time(rt, 5_000, || save(&stores.redis, redis_id, 4));
    let save_cluster = mean_time(rt, 5_000, || save(&stores.cluster, cluster_id, 4));
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    println!(
        "one Redis vs a Redis Cluster (3 masters + 3 replicas on this machine; mean, best of 5 rounds)"
    );
    println!(
        "  load  {:>8.1} us vs {:>8.1} us  = {:.2}x",
        us(load_redis),
        us(load_cluster),
        us(load_cluster) / us(load_redis)
    );
    println!(
        "  save  {:>8.1} us vs {:>8.1} us  = {:.2}x (two tags: their index, then the record)",
        us(save_redis),
        us(save_cluster),
        us(save_cluster) / us(save_redis)
    );
}

fn main() {
    let rt = runtime();
    let server = RedisServer::start();
    let stores = stores(&rt, &server);
    let postgres_server = PostgresServer::start();
    let sql = sql_stores(&rt, &postgres_server);
    let (_cluster, cluster_stores) = cluster_stores(&rt, &server);
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &rt, &stores);
    sql_criterion_benches(&mut criterion, &rt, &sql);
    cluster_benches(&mut criterion, &rt, &cluster_stores);
    // `cargo test --benches` runs each benchmark once: skip the long measurements there.
    if std::env::args().any(|arg| arg == "--bench") {
        ratios(&rt, &stores);
        sql_ratios(&rt, &stores, &sql);
        cluster_ratios(&rt, &cluster_stores);
        stored_bytes_per_session(&rt, &server, &postgres_server);
        memory_per_session(&rt);
    }
    criterion.final_summary();
}
