//! The shared conformance suite, run against [`MemoryStore`].
#![cfg(feature = "conformance")]

use std::sync::Arc;

use session_store::MemoryStore;
use session_store::conformance::{self, ConformanceData};

fn store() -> MemoryStore<ConformanceData> {
    MemoryStore::new()
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite() {
    let store = Arc::new(store());
    conformance::run(&*store).await;
    conformance::concurrent_writers_across_threads(Arc::clone(&store)).await;
    conformance::ids_are_unique_across_threads(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite_through_an_arc() {
    // `Arc<S>` is a store too: that is how the layer holds it.
    conformance::run(&Arc::new(store())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_suite_on_a_small_store() {
    // Far above what the suite keeps alive at once, so no eviction interferes.
    conformance::run(&MemoryStore::with_capacity(10_000)).await;
}

macro_rules! each_check {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $check() {
                conformance::$check(&store()).await;
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
    conformance::concurrent_writers_across_threads(Arc::new(store())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_are_unique_across_threads() {
    conformance::ids_are_unique_across_threads(Arc::new(store())).await;
}
