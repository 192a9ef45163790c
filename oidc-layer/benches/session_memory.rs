//! Where a session's memory goes in the memory store: the record of a real login (the one
//! `benches/sessions.rs` fills the store with), field by field, and what the store adds per
//! record (its table slot, the tag index). Not a criterion bench: counts, printed once.
//!
//!     cargo bench -p oidc-layer --bench session_memory
//!
//! Bytes are counted by a global allocator: "requested" is what the code asked for, "chunks"
//! about what glibc's malloc takes for it (each block's 8-byte header and rounding up to 16,
//! estimated as 16 bytes a block: the part of resident memory the allocator cannot avoid). A field's cost is
//! the difference between the full record and the record decoded from JSON without it.

use std::alloc::System;
use std::sync::Arc;

use oidc_layer::{MemoryStore, OidcLayer, Record, SessionData, SessionId, SessionStore};
use serde_json::Value;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tower::Layer;

#[path = "common/alice.rs"]
mod alice;
#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live bytes requested, chunk bytes, blocks.
#[derive(Clone, Copy, Debug)]
struct Heap {
    requested: f64,
    chunks: f64,
    blocks: f64,
}

impl Heap {
    fn now() -> [i64; 3] {
        let stats = GLOBAL.stats();
        let live = |a: usize, b: usize| a as i64 - b as i64;
        let requested = live(stats.bytes_allocated, stats.bytes_deallocated);
        let blocks = live(stats.allocations, stats.deallocations);
        // glibc adds an 8-byte header and rounds up to 16: about 16 bytes a block on average.
        [requested, requested + 16 * blocks, blocks]
    }

    /// What `fill` keeps, per one of `n` items.
    fn per(n: usize, fill: impl FnOnce()) -> Self {
        let before = Self::now();
        fill();
        let after = Self::now();
        let per = |i: usize| (after[i] - before[i]) as f64 / n as f64;
        Self {
            requested: per(0),
            chunks: per(1),
            blocks: per(2),
        }
    }

    fn minus(self, other: Self) -> Self {
        Self {
            requested: self.requested - other.requested,
            chunks: self.chunks - other.chunks,
            blocks: self.blocks - other.blocks,
        }
    }
}

const N: usize = 20_000;
/// Records in the store measurements (the default capacity is 1M: the table is sized by the
/// records held, its shards by the capacity).
const STORED: usize = 100_000;

fn decode_all(json: &str) -> Heap {
    let mut kept: Vec<SessionData> = Vec::with_capacity(N);
    let heap = Heap::per(N, || {
        for _ in 0..N {
            kept.push(serde_json::from_str(json).expect("a session record"));
        }
    });
    drop(kept);
    heap
}

fn without(value: &Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut value = value.clone();
    edit(value.as_object_mut().expect("an object"));
    value.to_string()
}

fn row(name: &str, heap: Heap) {
    println!(
        "  {name:<44} {:>7.0} {:>7.0} {:>6.2}",
        heap.requested, heap.chunks, heap.blocks
    );
}

async fn run() {
    let (provider, config) = alice::provider_and_config().await;
    let store = MemoryStore::<SessionData>::new();
    let layered = OidcLayer::new(config)
        .with_store(store.clone())
        .layer(tower::service_fn(alice::hello));
    let pair = common::login(&layered, "/hello").await;
    let (_, value) = pair.split_once('=').expect("a cookie pair");
    let first = SessionId::parse(value).expect("session id");
    let record = store.load(&first).await.expect("load").expect("session");
    let json = serde_json::to_string(&record.data).expect("serialize");
    let value: Value = serde_json::from_str(&json).expect("json");
    let iss = provider.issuer().to_owned();
    let text_len = |v: &Value| v.as_str().map_or(0, str::len);
    println!(
        "record: {} bytes as JSON; ID token {} bytes, refresh token {} bytes, claims {} bytes of JSON, {} tags ({} bytes)",
        json.len(),
        text_len(&value["id_token"]),
        text_len(&value["refresh_token"]),
        value["identity"]["claims"].to_string().len(),
        record.tags.len(),
        record.tags.iter().map(String::len).sum::<usize>(),
    );
    println!(
        "inline sizes: SessionData {} bytes, Record<SessionData> {} bytes, SessionId {} bytes",
        std::mem::size_of::<SessionData>(),
        std::mem::size_of::<Record<SessionData>>(),
        std::mem::size_of::<SessionId>(),
    );
    println!();
    println!(
        "  {:<44} {:>7} {:>7} {:>6}",
        "per session (heap)", "request", "chunks", "blocks"
    );
    let full = decode_all(&json);
    row("SessionData, decoded (heap only)", full);
    let parts: [(&str, String); 6] = [
        (
            "- ID token: header and signature",
            without(&value, |m| {
                m.insert("id_token".into(), Value::Null);
            }),
        ),
        (
            "- refresh token",
            without(&value, |m| {
                m.insert("refresh_token".into(), Value::Null);
            }),
        ),
        (
            // Removing the claims alone would leave the ID token keeping its payload.
            "- its payload: the raw claims (kept once)",
            without(&value, |m| {
                m.insert("id_token".into(), Value::Null);
                m["identity"]["claims"] = serde_json::json!({});
            }),
        ),
        (
            "- identity: groups, roles",
            without(&value, |m| {
                for key in ["groups", "roles", "implied_roles"] {
                    m["identity"][key] = serde_json::json!([]);
                }
            }),
        ),
        (
            "- identity: strings (provider..email, role why)",
            without(&value, |m| {
                let identity = m["identity"].as_object_mut().expect("identity");
                for key in ["name", "email", "account", "role_explanation"] {
                    identity.insert(key.into(), Value::Null);
                }
                for key in ["provider", "sub", "iss", "username"] {
                    identity.insert(key.into(), Value::String(String::new()));
                }
            }),
        ),
        (
            "- handle, device",
            without(&value, |m| {
                m.remove("handle");
                m.remove("device");
            }),
        ),
    ];
    let mut rest = full;
    let mut id_token = None;
    for (name, json) in &parts {
        let mut cost = full.minus(decode_all(json));
        if name.starts_with("- ID token") {
            id_token = Some(cost);
        }
        if name.starts_with("- its payload") {
            // Measured with the header and signature gone too: less what they cost.
            cost = cost.minus(id_token.expect("the ID token's row comes first"));
        }
        rest = rest.minus(cost);
        row(name, cost);
    }
    row("- the rest (the identity's Arc, claims' box...)", rest);

    let tags = |n: usize| {
        [
            format!("sub {iss} user-{}", n % 50_000),
            format!("sid {iss} sid-{n}"),
        ]
    };
    let data = |_: usize| serde_json::from_str::<SessionData>(&json).expect("record");
    let mut records: Vec<Arc<Record<SessionData>>> = Vec::with_capacity(N);
    let arc_record = Heap::per(N, || {
        for n in 0..N {
            records.push(Arc::new(
                Record::new(data(n), record.expires_at).with_tags(tags(n)),
            ));
        }
    });
    drop(records);
    row("Arc<Record> with 2 tags (data included)", arc_record);
    row("  of which Arc, Record, tags", arc_record.minus(full));

    println!();
    println!("  what the store adds to a record's heap, {STORED} records, default capacity (1M):");
    for (name, tagged) in [
        ("MemoryStore: Arc<Record>, table slot, tag index", true),
        ("MemoryStore, records without tags", false),
    ] {
        let store = MemoryStore::<SessionData>::new();
        let mut prepared: Vec<Record<SessionData>> = (0..STORED)
            .map(|n| {
                let plain = Record::new(data(n), record.expires_at);
                if tagged {
                    plain.with_tags(tags(n))
                } else {
                    plain
                }
            })
            .collect();
        // The records' own heap moves into the store as it is: what grows is the store's.
        let before = Heap::now();
        for plain in prepared.drain(..) {
            store.create(plain).await.expect("create");
        }
        assert_eq!(store.len().await, STORED as u64);
        let after = Heap::now();
        let per = |i: usize| (after[i] - before[i]) as f64 / STORED as f64;
        row(
            name,
            Heap {
                requested: per(0),
                chunks: per(1),
                blocks: per(2),
            },
        );
        drop(store);
    }
    provider.shutdown().await;
}

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
