//! Create, load, save and delete of single records.

use std::time::Duration;

use super::ConformanceData;
use super::support::{assert_expiry_close, assert_load_now_agrees, in_a_minute, must, random_id};
use crate::{Record, SessionId, SessionStore};

/// A created record loads back with its data and expiry, under an id that parses back from
/// its encoding.
pub async fn create_then_load<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "create_then_load";
    let expires_at = in_a_minute();
    let data = ConformanceData::new("create_then_load");
    let id = must(
        CHECK,
        "create",
        store.create(Record::new(data.clone(), expires_at)).await,
    );

    let loaded = must(CHECK, "load", store.load(&id).await);
    let loaded = loaded.unwrap_or_else(|| panic!("{CHECK}: a just-created record is missing"));
    assert_eq!(
        loaded.data, data,
        "{CHECK}: loaded data differs from the created data"
    );
    assert_expiry_close(CHECK, loaded.expires_at, expires_at);

    let reparsed = SessionId::parse(&id.encode());
    assert_eq!(
        reparsed.as_ref(),
        Some(&id),
        "{CHECK}: the id does not parse back"
    );
    let by_reparsed_id = must(CHECK, "load by parsed id", store.load(&id).await);
    assert_eq!(
        by_reparsed_id.map(|record| record.data.clone()),
        Some(data.clone()),
        "{CHECK}: loading by the parsed id gives another record"
    );

    assert_load_now_agrees(CHECK, store, &id, Some(&data));

    // Loading does not consume the record.
    let again = must(CHECK, "second load", store.load(&id).await);
    assert_eq!(
        again.map(|record| record.data.clone()),
        Some(data),
        "{CHECK}: a second load gives another result"
    );
}

/// `save` on a live record replaces its data and expiry, and returns `true`.
pub async fn overwrite<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "overwrite";
    let id = must(
        CHECK,
        "create",
        store
            .create(Record::new(
                ConformanceData::new("overwrite/v1"),
                in_a_minute(),
            ))
            .await,
    );
    for version in 2..=3 {
        let data = ConformanceData::new(format!("overwrite/v{version}"));
        let expires_at = in_a_minute() + Duration::from_secs(version);
        let saved = must(
            CHECK,
            "save",
            store.save(&id, Record::new(data.clone(), expires_at)).await,
        );
        assert!(saved, "{CHECK}: saving a live record returned false");
        let loaded = must(CHECK, "load", store.load(&id).await);
        let loaded = loaded.unwrap_or_else(|| panic!("{CHECK}: the saved record is missing"));
        assert_eq!(
            loaded.data, data,
            "{CHECK}: the save did not replace the data"
        );
        assert_expiry_close(CHECK, loaded.expires_at, expires_at);
    }
}

/// `save` on an id that was never created returns `false` and creates nothing.
pub async fn save_unknown_is_refused<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "save_unknown_is_refused";
    let id = random_id(CHECK);
    let saved = must(
        CHECK,
        "save",
        store
            .save(&id, Record::new(ConformanceData::new(CHECK), in_a_minute()))
            .await,
    );
    assert!(!saved, "{CHECK}: saving under an unknown id returned true");
    let loaded = must(CHECK, "load", store.load(&id).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: saving under an unknown id created a record"
    );
}

/// `save` after `delete` returns `false` and does not bring the session back.
pub async fn save_after_delete_is_refused<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "save_after_delete_is_refused";
    let id = must(
        CHECK,
        "create",
        store
            .create(Record::new(ConformanceData::new(CHECK), in_a_minute()))
            .await,
    );
    must(CHECK, "delete", store.delete(&id).await);
    let saved = must(
        CHECK,
        "save",
        store
            .save(
                &id,
                Record::new(ConformanceData::new("resurrected"), in_a_minute()),
            )
            .await,
    );
    assert!(!saved, "{CHECK}: saving a deleted record returned true");
    let loaded = must(CHECK, "load", store.load(&id).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: a save resurrected a deleted record"
    );
}

/// `delete` removes exactly the record it names; deleting twice is fine.
pub async fn delete<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "delete";
    let doomed = must(
        CHECK,
        "create",
        store
            .create(Record::new(
                ConformanceData::new("delete/doomed"),
                in_a_minute(),
            ))
            .await,
    );
    let kept_data = ConformanceData::new("delete/kept");
    let kept = must(
        CHECK,
        "create",
        store
            .create(Record::new(kept_data.clone(), in_a_minute()))
            .await,
    );
    must(CHECK, "delete", store.delete(&doomed).await);
    let loaded = must(CHECK, "load deleted", store.load(&doomed).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: a deleted record is still returned"
    );
    assert_load_now_agrees(CHECK, store, &doomed, None);
    let loaded = must(CHECK, "load kept", store.load(&kept).await);
    assert_eq!(
        loaded.map(|record| record.data.clone()),
        Some(kept_data),
        "{CHECK}: deleting one record changed another"
    );
    must(CHECK, "delete twice", store.delete(&doomed).await);
    let loaded = must(CHECK, "load after second delete", store.load(&doomed).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: a record came back after a second delete"
    );
}

/// Deleting an id that was never created succeeds and creates nothing.
pub async fn delete_unknown_is_ok<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "delete_unknown_is_ok";
    let id = random_id(CHECK);
    must(CHECK, "delete", store.delete(&id).await);
    let loaded = must(CHECK, "load", store.load(&id).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: deleting an unknown id created a record"
    );
}
