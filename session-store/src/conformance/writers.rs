//! Concurrent saves on one record: all accepted, one of them whole at the end.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::ConformanceData;
use super::support::{assert_expiry_close, in_a_minute, must};
use crate::{Record, SessionId, SessionStore};

/// 32 concurrent saves on one id all succeed and leave exactly one of their records, whole.
pub async fn concurrent_writers<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "concurrent_writers";
    let id = must(
        CHECK,
        "create",
        store
            .create(Record::new(
                ConformanceData::new("concurrent_writers/initial"),
                in_a_minute(),
            ))
            .await,
    );
    let candidates = writer_records(CHECK);
    let saves = candidates
        .iter()
        .map(|record| store.save(&id, record.clone()));
    let outcomes = join_all(saves).await;
    for outcome in outcomes {
        let saved = must(CHECK, "save", outcome);
        assert!(
            saved,
            "{CHECK}: a concurrent save on a live record was refused"
        );
    }
    assert_one_writer_won(CHECK, store, &id, &candidates).await;
}

/// [`concurrent_writers`] with each save in its own spawned task, so that on a multi-thread
/// runtime they run in parallel.
pub async fn concurrent_writers_across_threads<S: SessionStore<ConformanceData>>(store: Arc<S>) {
    const CHECK: &str = "concurrent_writers_across_threads";
    let id = must(
        CHECK,
        "create",
        store
            .create(Record::new(
                ConformanceData::new("concurrent_writers/initial"),
                in_a_minute(),
            ))
            .await,
    );
    let candidates = writer_records(CHECK);
    let mut tasks = tokio::task::JoinSet::new();
    for record in candidates.clone() {
        let store = Arc::clone(&store);
        let id = id.clone();
        tasks.spawn(async move { store.save(&id, record).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|err| panic!("{CHECK}: a writer task failed: {err}"));
        let saved = must(CHECK, "save", outcome);
        assert!(
            saved,
            "{CHECK}: a concurrent save on a live record was refused"
        );
    }
    assert_one_writer_won(CHECK, &*store, &id, &candidates).await;
}

/// The 32 records the concurrent writers save, each different in every field.
fn writer_records(check: &str) -> Vec<Record<ConformanceData>> {
    (0..32)
        .map(|writer| {
            Record::new(
                ConformanceData::new(format!("{check}/writer-{writer}")),
                in_a_minute() + Duration::from_secs(writer),
            )
        })
        .collect()
}

async fn assert_one_writer_won<S: SessionStore<ConformanceData>>(
    check: &str,
    store: &S,
    id: &SessionId,
    candidates: &[Record<ConformanceData>],
) {
    let loaded = must(check, "load", store.load(id).await);
    let loaded = loaded.unwrap_or_else(|| panic!("{check}: the record is gone after the saves"));
    let winner = candidates
        .iter()
        .find(|candidate| candidate.data == loaded.data)
        .unwrap_or_else(|| {
            panic!("{check}: the stored record is none of the saved ones (a torn write?)")
        });
    assert_expiry_close(check, loaded.expires_at, winner.expires_at);
}
