//! The test suite every [`SessionStore`] backend must pass (feature `conformance`).
//!
//! A backend's tests call [`run`] with a fresh store, or the checks one by one; each check
//! panics with a message naming it when the store misbehaves. The checks only use the
//! [`SessionStore`] trait, never a backend's internals, and tolerate records left behind by
//! earlier checks, so one store can serve the whole suite.
//!
//! The suite needs a Tokio runtime with the time driver enabled (`#[tokio::test]` has it) and
//! takes about 1.5 s, most of it the [`expiry`](fn@expiry) check waiting for a record to expire. The
//! concurrency checks taking `&S` poll their operations concurrently from one task; the
//! `*_across_threads` variants spawn tasks and are worth running on a multi-thread runtime.
//!
//! ```
//! use session_store::{MemoryStore, conformance};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! conformance::create_then_load(&store).await;
//! conformance::garbage_ids(&store).await;
//! # });
//! ```

mod expiry;
mod ids;
mod locks;
mod records;
mod support;
mod tags;
mod writers;

use serde::{Deserialize, Serialize};

use crate::SessionStore;

pub use expiry::expiry;
pub use ids::{garbage_ids, ids_are_unique, ids_are_unique_across_threads, unknown_ids};
pub use locks::locks;
pub use records::{
    create_then_load, delete, delete_unknown_is_ok, overwrite, save_after_delete_is_refused,
    save_unknown_is_refused,
};
pub use tags::{
    delete_tagged, delete_tagged_follows_saves, list_tagged, tags_round_trip, trim_tagged,
};
pub use writers::{concurrent_writers, concurrent_writers_across_threads};

/// The session data the suite stores: a string and a list, so that serializing backends
/// round-trip something structured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConformanceData {
    /// Who the record belongs to.
    pub owner: String,
    /// A few values derived from the owner, so a torn write shows up as a mismatch.
    pub tags: Vec<String>,
}

impl ConformanceData {
    /// Data labelled `owner`, with tags derived from it (including non-ASCII text).
    pub fn new(owner: impl Into<String>) -> Self {
        let owner = owner.into();
        let tags = (0..8).map(|n| format!("{owner}/tag-{n}/ünïcødé")).collect();
        Self { owner, tags }
    }
}

/// Runs every check that needs only a shared reference, in turn.
///
/// Backends should also run [`concurrent_writers_across_threads`] and
/// [`ids_are_unique_across_threads`], which need an `Arc` of the store.
pub async fn run<S: SessionStore<ConformanceData>>(store: &S) {
    create_then_load(store).await;
    overwrite(store).await;
    save_unknown_is_refused(store).await;
    save_after_delete_is_refused(store).await;
    delete(store).await;
    delete_unknown_is_ok(store).await;
    unknown_ids(store).await;
    garbage_ids(store).await;
    concurrent_writers(store).await;
    ids_are_unique(store).await;
    tags_round_trip(store).await;
    delete_tagged(store).await;
    delete_tagged_follows_saves(store).await;
    trim_tagged(store).await;
    list_tagged(store).await;
    locks(store).await;
    // Last: it sleeps.
    expiry(store).await;
}
