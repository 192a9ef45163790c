//! Session ids: unknown and malformed ones find nothing, concurrent creates get distinct ones.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::future::join_all;

use super::ConformanceData;
use super::support::{assert_load_now_agrees, in_a_minute, must, random_id};
use crate::{Record, SessionId, SessionStore};

/// Random ids that were never created load as `None`, as do ids that differ from a live
/// one by a single character.
pub async fn unknown_ids<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "unknown_ids";
    for _ in 0..100 {
        let id = random_id(CHECK);
        let loaded = must(CHECK, "load", store.load(&id).await);
        assert!(
            loaded.is_none(),
            "{CHECK}: a never-created id loaded a record"
        );
        assert_load_now_agrees(CHECK, store, &id, None);
    }

    let live = must(
        CHECK,
        "create",
        store
            .create(Record::new(ConformanceData::new(CHECK), in_a_minute()))
            .await,
    );
    let encoded = live.encode();
    for position in [0, 21, 41] {
        let mut chars: Vec<char> = encoded.chars().collect();
        chars[position] = if chars[position] == 'A' { 'B' } else { 'A' };
        let near_miss: String = chars.into_iter().collect();
        let id = SessionId::parse(&near_miss)
            .unwrap_or_else(|| panic!("{CHECK}: a one-character change made the id unparsable"));
        let loaded = must(CHECK, "load near miss", store.load(&id).await);
        assert!(
            loaded.is_none(),
            "{CHECK}: an id one character away from a live one loaded a record"
        );
    }
}

/// Malformed ids never parse (and never panic), and the parseable-but-unlikely ones (all
/// zeros, all ones) find no record.
pub async fn garbage_ids<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "garbage_ids";
    let valid = random_id(CHECK).encode();
    let garbage: Vec<String> = vec![
        String::new(),
        "=".to_string(),
        valid[..42].to_string(),
        valid[..10].to_string(),
        format!("{valid}A"),
        format!("{valid}{valid}"),
        format!("{valid}="),
        format!("{}=", &valid[..42]),
        format!("{}==", &valid[..41]),
        format!(" {}", &valid[..42]),
        format!("{}\n", &valid[..42]),
        format!("{}\0", &valid[..42]),
        format!("{}+", &valid[..42]),
        format!("{}/", &valid[..42]),
        format!("{}.", &valid[..42]),
        // Non-zero trailing bits: not the canonical encoding of any id.
        format!("{}_", &valid[..42]),
        format!("{}B", &valid[..42]),
        "../..".to_string(),
        "../".repeat(14) + ".",
        "%2e%2e%2f".repeat(5),
        "é".repeat(21) + "A",
        "💥".repeat(11),
        "ＡＢＣ".to_string(),
        "\u{0}".repeat(43),
        "A".repeat(10 * 1024),
        "💥".repeat(10 * 1024 / 4),
    ];
    for input in &garbage {
        let parsed = SessionId::parse(input);
        assert!(
            parsed.is_none(),
            "{CHECK}: {:?}… ({} bytes) parsed as an id",
            input.chars().take(20).collect::<String>(),
            input.len()
        );
    }

    // Valid encodings that are very unlikely to have been generated.
    for input in ["A".repeat(43), format!("{}8", "_".repeat(42))] {
        let id = SessionId::parse(&input)
            .unwrap_or_else(|| panic!("{CHECK}: the canonical encoding {input} did not parse"));
        let loaded = must(CHECK, "load", store.load(&id).await);
        assert!(loaded.is_none(), "{CHECK}: {input} loaded a record");
        let saved = must(
            CHECK,
            "save",
            store
                .save(&id, Record::new(ConformanceData::new(CHECK), in_a_minute()))
                .await,
        );
        assert!(!saved, "{CHECK}: saving under {input} was accepted");
    }
}

/// 200 concurrent creates give 200 distinct ids, each loading its own record.
pub async fn ids_are_unique<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "ids_are_unique";
    let records = creator_records(CHECK);
    let creates = records.iter().map(|record| store.create(record.clone()));
    let ids = join_all(creates)
        .await
        .into_iter()
        .map(|outcome| must(CHECK, "create", outcome))
        .collect::<Vec<_>>();
    assert_each_id_loads_its_record(CHECK, store, &ids, &records).await;
}

/// [`ids_are_unique`] with each create in its own spawned task, so that on a multi-thread
/// runtime they run in parallel.
pub async fn ids_are_unique_across_threads<S: SessionStore<ConformanceData>>(store: Arc<S>) {
    const CHECK: &str = "ids_are_unique_across_threads";
    let records = creator_records(CHECK);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, record) in records.iter().cloned().enumerate() {
        let store = Arc::clone(&store);
        tasks.spawn(async move { (index, store.create(record).await) });
    }
    let mut ids: Vec<Option<SessionId>> = vec![None; records.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, outcome) =
            joined.unwrap_or_else(|err| panic!("{CHECK}: a creator task failed: {err}"));
        ids[index] = Some(must(CHECK, "create", outcome));
    }
    let ids = ids
        .into_iter()
        .map(|id| id.unwrap_or_else(|| panic!("{CHECK}: a creator task never reported")))
        .collect::<Vec<_>>();
    assert_each_id_loads_its_record(CHECK, &*store, &ids, &records).await;
}

/// The 200 records the concurrent creators store.
fn creator_records(check: &str) -> Vec<Record<ConformanceData>> {
    (0..200)
        .map(|creator| {
            Record::new(
                ConformanceData::new(format!("{check}/creator-{creator}")),
                in_a_minute(),
            )
        })
        .collect()
}

async fn assert_each_id_loads_its_record<S: SessionStore<ConformanceData>>(
    check: &str,
    store: &S,
    ids: &[SessionId],
    records: &[Record<ConformanceData>],
) {
    let distinct: HashSet<&SessionId> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "{check}: concurrent creates returned the same id twice"
    );
    let encodings: HashSet<String> = ids.iter().map(SessionId::encode).collect();
    assert_eq!(
        encodings.len(),
        ids.len(),
        "{check}: two ids share an encoding"
    );
    for (id, record) in ids.iter().zip(records) {
        let loaded = must(check, "load", store.load(id).await);
        assert_eq!(
            loaded.map(|loaded| loaded.data.clone()),
            Some(record.data.clone()),
            "{check}: an id does not load the record it was created with"
        );
    }
}
