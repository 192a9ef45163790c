//! The test suite every [`SessionStore`] backend must pass (feature `conformance`).
//!
//! A backend's tests call [`run`] with a fresh store, or the checks one by one; each check
//! panics with a message naming it when the store misbehaves. The checks only use the
//! [`SessionStore`] trait, never a backend's internals, and tolerate records left behind by
//! earlier checks, so one store can serve the whole suite.
//!
//! The suite needs a Tokio runtime with the time driver enabled (`#[tokio::test]` has it) and
//! takes about 1.5 s, most of it the [`expiry`] check waiting for a record to expire. The
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

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use crate::{Error, Lease, Record, SessionId, SessionStore};

/// How far apart a stored and a loaded expiry may be: backends may keep it with millisecond
/// precision.
const EXPIRY_PRECISION: Duration = Duration::from_millis(1);

/// The lifetime of the records [`expiry`] waits out.
const SHORT_LIFETIME: Duration = Duration::from_secs(1);

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
    locks(store).await;
    // Last: it sleeps.
    expiry(store).await;
}

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

/// Records disappear once their expiry passes: `load` returns `None` and `save` is refused;
/// a save's new expiry replaces the old one; other records are unaffected.
pub async fn expiry<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "expiry";
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
    // Already expired when created: accepted (or not), but never returned.
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

    let loaded = must(CHECK, "load long-lived", store.load(&long).await);
    assert_eq!(
        loaded.map(|record| record.data.clone()),
        Some(long_data),
        "{CHECK}: a long-lived record expired with the short-lived ones"
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

/// A session's lock is held by one lease at a time (also when 32 try at once) until unlocked
/// or expired; a lease that is not the holder's unlocks nothing; sessions lock independently.
pub async fn locks<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "locks";
    const MINUTE: Duration = Duration::from_secs(60);
    let try_lock = |id: &SessionId, ttl: Duration| {
        let id = id.clone();
        async move { must(CHECK, "try_lock", store.try_lock(&id, ttl).await) }
    };
    let unlock = |id: &SessionId, lease: &Lease| {
        let (id, lease) = (id.clone(), lease.clone());
        async move { must(CHECK, "unlock", store.unlock(&id, &lease).await) }
    };
    let id = random_id(CHECK);
    let attempts = join_all((0..32).map(|_| try_lock(&id, MINUTE))).await;
    let mut taken = attempts.into_iter().flatten();
    let lease = taken
        .next()
        .unwrap_or_else(|| panic!("{CHECK}: nobody took a free lock"));
    assert!(
        taken.next().is_none(),
        "{CHECK}: two of 32 concurrent try_lock took the same lock"
    );
    assert!(
        try_lock(&id, MINUTE).await.is_none(),
        "{CHECK}: a held lock was taken again"
    );
    let other = random_id(CHECK);
    let other_lease = try_lock(&other, MINUTE)
        .await
        .unwrap_or_else(|| panic!("{CHECK}: one session's lock blocked another's"));

    unlock(&id, &must(CHECK, "Lease::generate", Lease::generate())).await;
    assert!(
        try_lock(&id, MINUTE).await.is_none(),
        "{CHECK}: a stranger's lease unlocked a held lock"
    );
    unlock(&id, &lease).await;
    let again = try_lock(&id, MINUTE)
        .await
        .unwrap_or_else(|| panic!("{CHECK}: an unlocked lock cannot be taken"));
    assert!(again != lease, "{CHECK}: a lease was handed out twice");

    // Expiry: a lock lives `ttl` at most, and its old lease does not unlock the next holder.
    let brief = random_id(CHECK);
    let old = try_lock(&brief, Duration::from_millis(200))
        .await
        .unwrap_or_else(|| panic!("{CHECK}: nobody took a free lock"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let next = try_lock(&brief, MINUTE)
        .await
        .unwrap_or_else(|| panic!("{CHECK}: an expired lock cannot be taken"));
    unlock(&brief, &old).await;
    assert!(
        try_lock(&brief, MINUTE).await.is_none(),
        "{CHECK}: the lease of an expired lock unlocked the next holder"
    );
    for (id, lease) in [(&id, &again), (&other, &other_lease), (&brief, &next)] {
        unlock(id, lease).await;
    }
}

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

/// [`SessionStore::load_now`], when it answers, answers what `load` does: `expected`.
fn assert_load_now_agrees<S: SessionStore<ConformanceData>>(
    check: &str,
    store: &S,
    id: &SessionId,
    expected: Option<&ConformanceData>,
) {
    if let Some(answer) = store.load_now(id) {
        let loaded = must(check, "load_now", answer);
        assert_eq!(
            loaded.as_ref().map(|record| &record.data),
            expected,
            "{check}: load_now disagrees with load"
        );
    }
}

fn assert_expiry_close(check: &str, loaded: SystemTime, stored: SystemTime) {
    let difference = loaded
        .duration_since(stored)
        .or_else(|_| stored.duration_since(loaded))
        .unwrap_or_default();
    assert!(
        difference <= EXPIRY_PRECISION,
        "{check}: the loaded expiry is {difference:?} away from the stored one"
    );
}

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn random_id(check: &str) -> SessionId {
    must(check, "SessionId::generate", SessionId::generate())
}

/// The value of a store operation that must succeed, or a panic naming the check.
#[track_caller]
fn must<T>(check: &str, operation: &str, result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{check}: {operation} failed: {err}"),
    }
}
