//! The memory store at scale: memory per session and the hot path's latency with 1 thousand,
//! 100 thousand and 1 million live sessions in `MemoryStore` (the default store, whose default
//! capacity is 1 million). Not a criterion bench: one pass, printed as
//!
//!     sessions N: layer NS ns/request (bare NS, the layer adds NS, of which the store's
//!     lookup NS), RSS MIB MiB (MIB MiB in huge pages)
//!     memory per session: BYTES bytes (...)
//!
//!     cargo bench -p oidc-layer --bench sessions
//!     GLIBC_TUNABLES=glibc.malloc.hugetlb=1 cargo bench -p oidc-layer --bench sessions
//!
//! At a million sessions a request's lookup is two random reads of memory, the table's slot
//! and then the record, in a heap of 2 GB: each misses the caches and, in 4 KiB pages, the
//! TLB. The second command puts the heap in transparent huge pages (glibc 2.35 or later, the
//! kernel's THP in `madvise` or `always` mode), which takes most of the TLB misses away.
//!
//! Every session is a real, independent record: the one a login through the in-process test
//! provider created (alice's claims, a ~1 KB RS256 ID token, a refresh token; no access
//! token, as by default),
//! deep-copied through serde with distinct tags. Each request draws its session at random
//! from all of them (not from a sample), so the store's lookups miss the CPU caches as they
//! would in production. The cookie header is built per request, for the bare service too, so
//! that cost (and the miss on the bench's own list of ids) cancels out of "the layer adds".

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::{MemoryStore, OidcLayer, Record, SessionData, SessionId, SessionStore};
use tower::{Layer, Service, ServiceExt};

#[path = "common/alice.rs"]
mod alice;
#[path = "common/mod.rs"]
mod common;

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const BATCHES: usize = 15;
const BATCH_TIME: Duration = Duration::from_millis(60);

/// Logs alice in through the layer and the test provider; returns the session id.
async fn login<S>(service: &S) -> SessionId
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<oidc_layer::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let pair = common::login(service, "/hello").await;
    let (_, value) = pair.split_once('=').expect("a cookie pair");
    SessionId::parse(value).expect("session id")
}

/// The `field` (in kB) of `/proc/self/FILE`, in bytes (Linux; 0 elsewhere).
fn proc_bytes(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resident memory of this process.
fn rss() -> u64 {
    proc_bytes("status", "VmRSS")
}

/// Memory of this process in transparent huge pages: with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
/// (glibc 2.35 or later) and the kernel's THP in `madvise` or `always` mode, malloc puts the
/// heap in 2 MiB pages.
fn huge_pages() -> u64 {
    proc_bytes("smaps_rollup", "AnonHugePages")
}

/// A small deterministic generator (xorshift), for the session each request uses.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Median ns per request of `service`, each request with a session drawn at random from
/// all of `ids`.
async fn time_requests<S, B>(service: &S, cookie_name: &str, ids: &[SessionId]) -> f64
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
{
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut one = || {
        let id = &ids[random.below(ids.len())];
        let cookie = HeaderValue::from_str(&format!("theme=dark; {cookie_name}={}", id.encode()))
            .expect("header");
        Request::get("/hello")
            .header(header::ACCEPT, "text/html")
            .header(header::USER_AGENT, "Mozilla/5.0")
            .header(header::COOKIE, cookie)
            .body(Full::default())
            .expect("request")
    };
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < BATCH_TIME * 3 {
        let response = service.clone().oneshot(one()).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        warm += 1;
    }
    let per_batch = (warm / 3).max(1);
    let mut means = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let start = Instant::now();
        for _ in 0..per_batch {
            let response = service.clone().oneshot(one()).await.expect("infallible");
            // A real assert (benches build without debug assertions): a request that missed
            // its session would be measured on an easier path.
            assert_eq!(response.status(), StatusCode::OK);
            std::hint::black_box(response);
        }
        means.push(start.elapsed().as_nanos() as f64 / f64::from(per_batch));
    }
    means.sort_by(f64::total_cmp);
    means[BATCHES / 2]
}

/// Median ns of `store.load_now` on a session drawn at random from `ids`, less the cost of
/// drawing it (the same loop with the lookup left out): the store's share of "the layer adds".
fn time_store_lookups(store: &MemoryStore<SessionData>, ids: &[SessionId]) -> f64 {
    let time = |lookup: bool| {
        let mut random = Random(0x2545_F491_4F6C_DD1D);
        let rounds = 200_000;
        let mut means = Vec::with_capacity(BATCHES);
        for _ in 0..BATCHES {
            let start = Instant::now();
            for _ in 0..rounds {
                let id = &ids[random.below(ids.len())];
                if lookup {
                    let record = store.load_now(id).and_then(Result::ok).flatten();
                    assert!(record.is_some(), "a session is missing");
                    std::hint::black_box(record);
                } else {
                    std::hint::black_box(id);
                }
            }
            means.push(start.elapsed().as_nanos() as f64 / f64::from(rounds));
        }
        means.sort_by(f64::total_cmp);
        means[BATCHES / 2]
    };
    time(true) - time(false)
}

async fn run() {
    let (provider, config) = alice::provider_and_config().await;
    let store = MemoryStore::<SessionData>::new();
    let session_cookie = config.cookie_names().session().to_owned();
    let layered = OidcLayer::new(config)
        .with_store(store.clone())
        .layer(tower::service_fn(alice::hello));
    let bare = tower::service_fn(alice::hello);

    let first = login(&layered).await;
    let record = store.load(&first).await.expect("load").expect("session");
    let json = serde_json::to_string(&record.data).expect("serialize");
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let id_token_len = value["id_token"].as_str().map_or(0, str::len);
    let iss = provider.issuer().to_owned();
    println!(
        "session record: {} bytes as JSON, ID token {id_token_len} bytes, {} tags",
        json.len(),
        record.tags.len()
    );

    let base_rss = rss();
    // Every id, for the requests; its memory is left out of "memory per session".
    let mut ids: Vec<SessionId> = Vec::new();
    let mut count = 1usize;
    ids.push(first);
    let mut memory_at = Vec::new();
    for size in SIZES {
        let started = Instant::now();
        while count < size {
            let data: SessionData = serde_json::from_str(&json).expect("deserialize");
            let tags = [
                format!("sub {iss} user-{}", count % 50_000),
                format!("sid {iss} sid-{count}"),
            ];
            let id = store
                .create(Record::new(data, record.expires_at).with_tags(tags))
                .await
                .expect("create");
            count += 1;
            ids.push(id);
        }
        let filled = started.elapsed();
        let now_rss = rss();
        let own = (ids.capacity() * std::mem::size_of::<SessionId>()) as u64;
        memory_at.push((size, now_rss.saturating_sub(own)));
        assert_eq!(ids.len(), size, "one id per session");
        let layer_ns = time_requests(&layered, &session_cookie, &ids).await;
        let bare_ns = time_requests(&bare, &session_cookie, &ids).await;
        let store_ns = time_store_lookups(&store, &ids);
        println!(
            "sessions {size}: layer {layer_ns:.0} ns/request (bare {bare_ns:.0}, the layer adds {:.0}, of which the store's lookup {store_ns:.0}), RSS {:.0} MiB ({:.0} MiB in huge pages), filled in {:.1} s",
            layer_ns - bare_ns,
            now_rss as f64 / 1_048_576.0,
            huge_pages() as f64 / 1_048_576.0,
            filled.as_secs_f64(),
        );
    }
    for (size, at) in &memory_at {
        if *size >= 100_000 {
            let per = at.saturating_sub(base_rss) as f64 / (*size - 1) as f64;
            println!(
                "memory per session at {size}: {per:.0} bytes (RSS growth less the bench's id list / sessions; record {} bytes as JSON)",
                json.len()
            );
        }
    }
    for id in [&ids[0], &ids[ids.len() / 2], &ids[ids.len() - 1]] {
        assert!(
            store.load(id).await.expect("load").is_some(),
            "a session was evicted"
        );
    }
    assert!(
        record.expires_at > SystemTime::now(),
        "the sessions expired during the run"
    );
    provider.shutdown().await;
    // After the memory figures: this allocates.
    let floor: Vec<String> = [1, 64, 2048]
        .iter()
        .map(|&mib| format!("{mib} MiB {:.0} ns", dependent_read_ns(mib)))
        .collect();
    println!(
        "one dependent random read (the floor under a lookup): {}",
        floor.join(", ")
    );
}

/// ns per read of a chain of dependent reads at random cache lines of a `mib` MiB buffer:
/// what one cache (and TLB) miss costs on this machine, the floor under a lookup at scale.
fn dependent_read_ns(mib: usize) -> f64 {
    const LINE: usize = 8; // u64s per 64-byte line
    let lines = mib * 1024 * 1024 / 64;
    let mut order: Vec<usize> = (0..lines).collect();
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    for i in (1..lines).rev() {
        order.swap(i, random.below(i + 1));
    }
    // One cycle through every line, in random order.
    let mut next = vec![0usize; lines * LINE];
    for (i, &line) in order.iter().enumerate() {
        next[line * LINE] = order[(i + 1) % lines] * LINE;
    }
    let steps = 1_000_000;
    let mut at = 0;
    let start = Instant::now();
    for _ in 0..steps {
        at = next[at];
    }
    std::hint::black_box(at);
    start.elapsed().as_nanos() as f64 / steps as f64
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: both just run.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
