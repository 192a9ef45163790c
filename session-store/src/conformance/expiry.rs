//! Records expire: gone from `load`, refused by `save`, and a save's expiry replaces the old one.

use std::time::{Duration, SystemTime};

use super::ConformanceData;
use super::support::{assert_load_now_agrees, in_a_minute, must};
use crate::{Record, SessionId, SessionStore};

/// The lifetime of the records [`expiry`](fn@expiry) waits out.
const SHORT_LIFETIME: Duration = Duration::from_secs(1);

const CHECK: &str = "expiry";

/// Records disappear once their expiry passes: `load` returns `None` and `save` is refused;
/// a save's new expiry replaces the old one; other records are unaffected.
pub async fn expiry<S: SessionStore<ConformanceData>>(store: &S) {
    let soon = SystemTime::now() + SHORT_LIFETIME;
    let short = must(
        CHECK,
        "create short-lived",
        store
            .create(Record::new(ConformanceData::new("expiry/short"), soon))
            .await,
    );
    let long_data = ConformanceData::new("expiry/long");
    let long = must(
        CHECK,
        "create long-lived",
        store
            .create(Record::new(long_data.clone(), in_a_minute()))
            .await,
    );
    // Created with a long expiry, then saved with a short one: the save's expiry wins.
    let shortened = must(
        CHECK,
        "create to shorten",
        store
            .create(Record::new(
                ConformanceData::new("expiry/shortened"),
                in_a_minute(),
            ))
            .await,
    );
    let saved = must(
        CHECK,
        "save with a shorter expiry",
        store
            .save(
                &shortened,
                Record::new(ConformanceData::new("expiry/shortened"), soon),
            )
            .await,
    );
    assert!(saved, "{CHECK}: saving a live record was refused");
    created_expired_is_never_returned(store).await;

    for (name, id) in [("short-lived", &short), ("shortened", &shortened)] {
        let loaded = must(CHECK, "load before expiry", store.load(id).await);
        assert!(
            loaded.is_some(),
            "{CHECK}: the {name} record is missing before its expiry (is the machine that slow?)"
        );
    }

    let wake = soon + Duration::from_millis(150);
    tokio::time::sleep(wake.duration_since(SystemTime::now()).unwrap_or_default()).await;

    for (name, id) in [("short-lived", &short), ("shortened", &shortened)] {
        assert_expired(store, name, id).await;
    }

    let loaded = must(CHECK, "load long-lived", store.load(&long).await);
    assert_eq!(
        loaded.map(|record| record.data.clone()),
        Some(long_data),
        "{CHECK}: a long-lived record expired with the short-lived ones"
    );
}

/// A record created already expired is accepted (or not), but never returned.
async fn created_expired_is_never_returned<S: SessionStore<ConformanceData>>(store: &S) {
    let dead = store
        .create(Record::new(
            ConformanceData::new("expiry/dead"),
            SystemTime::now() - Duration::from_secs(1),
        ))
        .await;
    if let Ok(dead) = dead {
        let loaded = must(CHECK, "load already-expired", store.load(&dead).await);
        assert!(
            loaded.is_none(),
            "{CHECK}: a record created already expired was returned"
        );
    }
}

/// The expired record `id` (the `name` one) is gone: `load_now` and `load` do not return it,
/// a save is refused and does not bring it back.
async fn assert_expired<S: SessionStore<ConformanceData>>(store: &S, name: &str, id: &SessionId) {
    // Before `load`: a copy a store keeps in memory must not outlive the record either.
    assert_load_now_agrees(CHECK, store, id, None);
    let loaded = must(CHECK, "load after expiry", store.load(id).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: the {name} record is still returned after its expiry"
    );
    let saved = must(
        CHECK,
        "save after expiry",
        store
            .save(
                id,
                Record::new(ConformanceData::new("expiry/revived"), in_a_minute()),
            )
            .await,
    );
    assert!(
        !saved,
        "{CHECK}: saving the expired {name} record was accepted"
    );
    let loaded = must(CHECK, "load after refused save", store.load(id).await);
    assert!(
        loaded.is_none(),
        "{CHECK}: a refused save brought the expired {name} record back"
    );
}
