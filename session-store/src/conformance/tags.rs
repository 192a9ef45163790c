//! Tags: stored with a record, and `delete_tagged`/`trim_tagged` acting on the tags as last saved.

use std::time::{Duration, SystemTime};

use super::ConformanceData;
use super::support::{in_a_minute, must};
use crate::{Record, SessionId, SessionStore};

/// A unique tag, so checks sharing a store never see each other's records.
fn unique_tag(check: &str, label: &str) -> String {
    let id = SessionId::generate().unwrap_or_else(|e| panic!("{check}: no randomness: {e}"));
    format!("{check}/{label}/{}", &id.encode()[..12])
}

/// Tags are stored with the record and come back with it (also after a save).
pub async fn tags_round_trip<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "tags_round_trip";
    let (a, b) = (unique_tag(CHECK, "a"), unique_tag(CHECK, "b ünï:code"));
    let record = Record::new(ConformanceData::new(CHECK), in_a_minute()).with_tags([&a, &b]);
    let id = must(CHECK, "create", store.create(record).await);
    let loaded = must(CHECK, "load", store.load(&id).await)
        .unwrap_or_else(|| panic!("{CHECK}: a just-created record is missing"));
    assert_eq!(
        loaded.tags,
        [a.clone(), b],
        "{CHECK}: tags changed on the way"
    );
    let saved = must(
        CHECK,
        "save",
        store
            .save(
                &id,
                Record::new(ConformanceData::new(CHECK), in_a_minute()).with_tags([&a]),
            )
            .await,
    );
    assert!(saved, "{CHECK}: save refused");
    let loaded = must(CHECK, "load", store.load(&id).await)
        .unwrap_or_else(|| panic!("{CHECK}: a saved record is missing"));
    assert_eq!(loaded.tags, [a], "{CHECK}: a save did not replace the tags");
}

/// `delete_tagged` deletes every live record with the tag and nothing else, counts what it
/// deleted, and deletes nothing for an unknown tag or a second time.
pub async fn delete_tagged<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "delete_tagged";
    let (shared, other) = (unique_tag(CHECK, "shared"), unique_tag(CHECK, "other"));
    let mut tagged = Vec::new();
    for n in 0..3 {
        let record = Record::new(ConformanceData::new(format!("{CHECK}/{n}")), in_a_minute())
            .with_tags([shared.clone(), unique_tag(CHECK, "own")]);
        tagged.push(must(CHECK, "create", store.create(record).await));
    }
    let untouched = must(
        CHECK,
        "create",
        store
            .create(
                Record::new(
                    ConformanceData::new(format!("{CHECK}/other")),
                    in_a_minute(),
                )
                .with_tags([other.clone()]),
            )
            .await,
    );
    let untagged = must(
        CHECK,
        "create",
        store
            .create(Record::new(
                ConformanceData::new(format!("{CHECK}/none")),
                in_a_minute(),
            ))
            .await,
    );
    let unknown = must(
        CHECK,
        "delete_tagged unknown",
        store.delete_tagged(&unique_tag(CHECK, "unknown")).await,
    );
    assert_eq!(unknown, 0, "{CHECK}: an unknown tag deleted records");

    let deleted = must(CHECK, "delete_tagged", store.delete_tagged(&shared).await);
    assert_eq!(deleted, 3, "{CHECK}: expected 3 records deleted");
    for id in &tagged {
        let loaded = must(CHECK, "load", store.load(id).await);
        assert!(loaded.is_none(), "{CHECK}: a tagged record survived");
        let saved = must(
            CHECK,
            "save",
            store
                .save(id, Record::new(ConformanceData::new(CHECK), in_a_minute()))
                .await,
        );
        assert!(!saved, "{CHECK}: a save resurrected a deleted record");
    }
    for id in [&untouched, &untagged] {
        let loaded = must(CHECK, "load", store.load(id).await);
        assert!(
            loaded.is_some(),
            "{CHECK}: a record without the tag was deleted"
        );
    }
    let again = must(
        CHECK,
        "delete_tagged again",
        store.delete_tagged(&shared).await,
    );
    assert_eq!(again, 0, "{CHECK}: a second delete_tagged deleted records");
    must(CHECK, "cleanup", store.delete_tagged(&other).await);
}

/// `delete_tagged` uses the tags as last saved: a tag a save removed no longer deletes the
/// record, a tag a save added does.
pub async fn delete_tagged_follows_saves<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "delete_tagged_follows_saves";
    let (old, new) = (unique_tag(CHECK, "old"), unique_tag(CHECK, "new"));
    let id = must(
        CHECK,
        "create",
        store
            .create(Record::new(ConformanceData::new(CHECK), in_a_minute()).with_tags([&old]))
            .await,
    );
    let saved = must(
        CHECK,
        "save",
        store
            .save(
                &id,
                Record::new(ConformanceData::new(CHECK), in_a_minute()).with_tags([&new]),
            )
            .await,
    );
    assert!(saved, "{CHECK}: save refused");
    let by_old = must(CHECK, "delete_tagged old", store.delete_tagged(&old).await);
    assert_eq!(
        by_old, 0,
        "{CHECK}: a tag removed by a save still deletes the record"
    );
    assert!(
        must(CHECK, "load", store.load(&id).await).is_some(),
        "{CHECK}: the record was deleted by a tag it no longer has"
    );
    let by_new = must(CHECK, "delete_tagged new", store.delete_tagged(&new).await);
    assert_eq!(
        by_new, 1,
        "{CHECK}: a tag added by a save does not delete the record"
    );
    assert!(
        must(CHECK, "load", store.load(&id).await).is_none(),
        "{CHECK}: the record survived delete_tagged"
    );
}

/// `trim_tagged` keeps the spared record and the others carrying the tag that expire last,
/// `keep` in all, deletes the rest (and counts them), and touches no record without the tag;
/// a tag a save removed no longer counts. Trimming again deletes nothing.
pub async fn trim_tagged<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "trim_tagged";
    let (user, other) = (unique_tag(CHECK, "user"), unique_tag(CHECK, "other"));
    let create = |n: u64, tags: Vec<String>| {
        // Record `n` expires `n` minutes from now: the higher, the later.
        let expires_at = SystemTime::now() + Duration::from_secs(60 * (n + 1));
        let record =
            Record::new(ConformanceData::new(format!("{CHECK}/{n}")), expires_at).with_tags(tags);
        async move { must(CHECK, "create", store.create(record).await) }
    };
    let mut by_expiry = Vec::new();
    for n in 0..5 {
        by_expiry.push(create(n, vec![user.clone(), unique_tag(CHECK, "own")]).await);
    }
    // The newest session expires first of all (its lifetime follows a short token) and is
    // spared anyway.
    let spare = create(0, vec![user.clone()]).await;
    let untouched = create(0, vec![other.clone()]).await;
    // Once tagged, no longer: it does not count, and stays.
    let moved = create(9, vec![user.clone()]).await;
    let resaved = Record::new(ConformanceData::new(CHECK), in_a_minute()).with_tags([&other]);
    assert!(
        must(CHECK, "save", store.save(&moved, resaved).await),
        "{CHECK}: save refused"
    );

    let deleted = must(
        CHECK,
        "trim_tagged",
        store.trim_tagged(&user, 3, &spare).await,
    );
    assert_eq!(
        deleted, 3,
        "{CHECK}: 5 + the spared one, trimmed to 3: expected 3 deleted"
    );
    let live = |id: SessionId| async move { must(CHECK, "load", store.load(&id).await).is_some() };
    for (n, id) in by_expiry.iter().enumerate() {
        // The two that expire last stay with the spared one.
        assert_eq!(
            live(id.clone()).await,
            n >= 3,
            "{CHECK}: record {n} of 0..5 (by expiry) kept or deleted wrongly"
        );
    }
    assert!(
        live(spare.clone()).await,
        "{CHECK}: the spared record was deleted"
    );
    assert!(
        live(untouched).await,
        "{CHECK}: a record without the tag was deleted"
    );
    assert!(
        live(moved).await,
        "{CHECK}: a record whose save dropped the tag was deleted"
    );
    let again = must(
        CHECK,
        "trim_tagged again",
        store.trim_tagged(&user, 3, &spare).await,
    );
    assert_eq!(again, 0, "{CHECK}: trimming again deleted records");
    let unknown = must(
        CHECK,
        "trim_tagged unknown",
        store
            .trim_tagged(&unique_tag(CHECK, "unknown"), 0, &spare)
            .await,
    );
    assert_eq!(unknown, 0, "{CHECK}: an unknown tag deleted records");
    must(CHECK, "cleanup", store.delete_tagged(&user).await);
    must(CHECK, "cleanup", store.delete_tagged(&other).await);
}

/// `list_tagged` gives the live records carrying the tag (as last saved) with their data and
/// tags, those that expire last first, at most `limit`; nothing for an unknown tag, an expired
/// record or a record whose save dropped the tag; and nothing once they are deleted.
pub async fn list_tagged<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "list_tagged";
    let (user, other) = (unique_tag(CHECK, "user"), unique_tag(CHECK, "other"));
    let create = |n: u64, expires_at: SystemTime, tags: Vec<String>| {
        let record =
            Record::new(ConformanceData::new(format!("{CHECK}/{n}")), expires_at).with_tags(tags);
        async move { must(CHECK, "create", store.create(record).await) }
    };
    // Record `n` expires `n + 1` minutes from now: the higher, the later.
    let minutes = |n: u64| SystemTime::now() + Duration::from_secs(60 * (n + 1));
    for n in [2, 0, 3, 1] {
        create(n, minutes(n), vec![unique_tag(CHECK, "own"), user.clone()]).await;
    }
    create(7, minutes(7), vec![other.clone()]).await;
    create(
        8,
        SystemTime::now() - Duration::from_secs(1),
        vec![user.clone()],
    )
    .await;
    // Once tagged, no longer: not listed.
    let moved = create(9, minutes(9), vec![user.clone()]).await;
    let resaved = Record::new(ConformanceData::new(CHECK), in_a_minute()).with_tags([&other]);
    assert!(
        must(CHECK, "save", store.save(&moved, resaved).await),
        "{CHECK}: save refused"
    );

    let owners = |records: &[std::sync::Arc<Record<ConformanceData>>]| -> Vec<String> {
        records.iter().map(|r| r.data.owner.clone()).collect()
    };
    let all = must(CHECK, "list_tagged", store.list_tagged(&user, 100).await);
    assert_eq!(
        owners(&all),
        [3, 2, 1, 0].map(|n| format!("{CHECK}/{n}")),
        "{CHECK}: expected the 4 live records carrying the tag, latest expiry first"
    );
    for record in &all {
        assert_eq!(
            record.data,
            ConformanceData::new(record.data.owner.clone()),
            "{CHECK}: the data changed on the way"
        );
        assert!(
            record.tags.contains(&user) && record.tags.len() == 2,
            "{CHECK}: the tags changed on the way: {:?}",
            record.tags
        );
    }
    let two = must(CHECK, "list_tagged 2", store.list_tagged(&user, 2).await);
    assert_eq!(
        owners(&two),
        [3, 2].map(|n| format!("{CHECK}/{n}")),
        "{CHECK}: a limit of 2 must give the 2 that expire last"
    );
    let none = must(CHECK, "list_tagged 0", store.list_tagged(&user, 0).await);
    assert!(none.is_empty(), "{CHECK}: a limit of 0 listed records");
    let unknown = must(
        CHECK,
        "list_tagged unknown",
        store.list_tagged(&unique_tag(CHECK, "unknown"), 100).await,
    );
    assert!(unknown.is_empty(), "{CHECK}: an unknown tag listed records");
    let others = must(
        CHECK,
        "list_tagged other",
        store.list_tagged(&other, 100).await,
    );
    assert_eq!(
        owners(&others),
        [format!("{CHECK}/7"), CHECK.to_owned()],
        "{CHECK}: the other tag lists its own records, the re-tagged one included"
    );

    must(CHECK, "delete_tagged", store.delete_tagged(&user).await);
    let after = must(
        CHECK,
        "list_tagged after",
        store.list_tagged(&user, 100).await,
    );
    assert!(
        after.is_empty(),
        "{CHECK}: deleted records are still listed"
    );
    must(CHECK, "cleanup", store.delete_tagged(&other).await);
}
