//! [`MemoryStore`]: an in-process [`SessionStore`] on a moka cache with per-record expiry.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use moka::Expiry;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;

use crate::id::RandomIdHasher;
use crate::{Error, Lease, Record, SessionId, SessionStore};

/// An in-memory [`SessionStore`]: records live in a concurrent [`moka`] cache, each one
/// removed when its [`Record::expires_at`] passes.
///
/// Records are kept as `Arc<Record<T>>`: loading one is a cache lookup and a reference-count
/// increment, with no copy and no serialization. `T` needs no `serde` bound.
///
/// The store is bounded: past its capacity ([`MemoryStore::DEFAULT_MAX_CAPACITY`] for
/// [`MemoryStore::new`]), the least recently used records are evicted, which logs those
/// sessions out. Records do not survive a restart and are not shared between processes.
///
/// Clones share the same records.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use session_store::{MemoryStore, Record, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::<u32>::with_capacity(10_000);
/// let id = store.create(Record::new(1, SystemTime::now() + Duration::from_secs(60))).await?;
/// assert!(store.save(&id, Record::new(2, SystemTime::now() + Duration::from_secs(60))).await?);
/// assert_eq!(store.load(&id).await?.map(|record| record.data), Some(2));
/// assert_eq!(store.len().await, 1);
/// # Ok::<(), session_store::Error>(())
/// # });
/// ```
pub struct MemoryStore<T> {
    records: Cache<SessionId, Arc<Record<T>>, RandomIdHasher>,
    /// Tag -> ids of the records carrying it. Touched on create, save and removal only (never
    /// by `load`); an id is added under the record's per-key lock before the record becomes
    /// visible and removed when moka drops the record, so [`MemoryStore::delete_tagged`]
    /// never misses one.
    tags: Arc<TagIndex>,
    /// Session locks (see [`SessionStore::try_lock`]): held ones, and expired ones not yet
    /// swept.
    locks: Arc<Locks>,
}

#[derive(Default)]
struct Locks(Mutex<HashMap<SessionId, (Lease, Instant)>>);

impl Locks {
    /// How many locks may pile up (expired, never unlocked: their holder was cancelled)
    /// before a sweep; live locks are as many as refreshes in flight.
    const SWEEP_AT: usize = 1024;

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, (Lease, Instant)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        let now = Instant::now();
        let mut locks = self.map();
        if locks.get(id).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        if locks.len() >= Self::SWEEP_AT {
            locks.retain(|_, (_, until)| *until > now);
        }
        let lease = Lease::generate()?;
        locks.insert(id.clone(), (lease.clone(), now + ttl));
        Ok(Some(lease))
    }

    fn unlock(&self, id: &SessionId, lease: &Lease) {
        let mut locks = self.map();
        if locks.get(id).is_some_and(|(held, _)| held == lease) {
            locks.remove(id);
        }
    }
}

/// Tag -> ids of the records carrying it, for [`MemoryStore::delete_tagged`].
///
/// Keyed by a keyed hash of the tag (SipHash with a random key per store), not its text: the
/// text is in the record already, and `delete_tagged` checks each candidate record's own tags,
/// so a collision costs a look at one more record, never a wrong delete. A tag (a provider
/// session, a user) names one session most of the time: that id is kept inline. About 70
/// bytes per tag instead of about 300.
#[derive(Default)]
struct TagIndex {
    hasher: RandomState,
    map: Mutex<HashMap<u64, Ids>>,
}

enum Ids {
    One(SessionId),
    Many(HashSet<SessionId>),
}

impl TagIndex {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Ids>> {
        // The map stays consistent even if a holder panicked (every update is one call).
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, tag: &str) -> u64 {
        self.hasher.hash_one(tag)
    }

    fn add(&self, id: &SessionId, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let keys: Vec<u64> = tags.iter().map(|tag| self.key(tag)).collect();
        let mut map = self.map();
        for key in keys {
            match map.entry(key) {
                Entry::Vacant(vacant) => {
                    vacant.insert(Ids::One(id.clone()));
                }
                Entry::Occupied(mut occupied) => match occupied.get_mut() {
                    Ids::One(one) if one == id => {}
                    Ids::One(one) => {
                        let many = HashSet::from([one.clone(), id.clone()]);
                        occupied.insert(Ids::Many(many));
                    }
                    Ids::Many(many) => {
                        many.insert(id.clone());
                    }
                },
            }
        }
    }

    fn remove(&self, id: &SessionId, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let keys: Vec<u64> = tags.iter().map(|tag| self.key(tag)).collect();
        let mut map = self.map();
        for key in keys {
            let Entry::Occupied(mut occupied) = map.entry(key) else {
                continue;
            };
            match occupied.get_mut() {
                Ids::One(one) if one == id => {
                    occupied.remove();
                }
                Ids::One(_) => {}
                Ids::Many(many) => {
                    many.remove(id);
                    if many.len() <= 1 {
                        match many.iter().next().cloned() {
                            Some(last) => {
                                occupied.insert(Ids::One(last));
                            }
                            None => {
                                occupied.remove();
                            }
                        }
                    }
                }
            }
        }
    }

    fn ids(&self, tag: &str) -> Vec<SessionId> {
        let key = self.key(tag);
        match self.map().get(&key) {
            Some(Ids::One(one)) => vec![one.clone()],
            Some(Ids::Many(many)) => many.iter().cloned().collect(),
            None => Vec::new(),
        }
    }
}

impl<T> MemoryStore<T> {
    /// The number of records a [`MemoryStore::new`] store holds before it evicts the least
    /// recently used ones.
    pub const DEFAULT_MAX_CAPACITY: u64 = 1_000_000;
}

impl<T> MemoryStore<T>
where
    T: Send + Sync + 'static,
{
    /// An empty store holding at most [`MemoryStore::DEFAULT_MAX_CAPACITY`] (1,000,000)
    /// records.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_MAX_CAPACITY)
    }

    /// An empty store holding at most `max_records` records; past that, the least recently
    /// used records are evicted.
    pub fn with_capacity(max_records: u64) -> Self {
        let tags = Arc::new(TagIndex::default());
        let index = Arc::clone(&tags);
        let records = Cache::builder()
            .max_capacity(max_records)
            .expire_after(UntilRecordExpires)
            .eviction_listener(
                move |id: Arc<SessionId>, record: Arc<Record<T>>, cause: RemovalCause| {
                    // A save replaces the record under the same id: its tags were re-indexed
                    // by the save, and stale ones are re-checked by `delete_tagged`.
                    if cause != RemovalCause::Replaced {
                        index.remove(&id, &record.tags);
                    }
                },
            )
            .build_with_hasher(RandomIdHasher::new());
        Self {
            records,
            tags,
            locks: Arc::default(),
        }
    }

    /// The unexpired record of `id`. moka's expiry is approximate (it runs on maintenance
    /// ticks): the record's own deadline is checked, so an expired session is never handed out.
    fn get(&self, id: &SessionId) -> Option<Arc<Record<T>>> {
        let now = SystemTime::now();
        self.records
            .get(id)
            .filter(|record| !record.is_expired_at(now))
    }

    /// Removes the record `id` if it carries `tag`; whether a live record was removed. Checked
    /// under moka's per-key lock: the tag index may name a record whose latest save dropped
    /// the tag.
    fn remove_tagged(&self, id: &SessionId, tag: &str) -> bool {
        let now = SystemTime::now();
        let mut live = false;
        let outcome = self
            .records
            .entry_by_ref(id)
            .and_compute_with(|existing| match existing {
                Some(entry) if entry.value().tags.iter().any(|t| t == tag) => {
                    live = !entry.value().is_expired_at(now);
                    Op::Remove
                }
                _ => Op::Nop,
            });
        live && matches!(outcome, CompResult::Removed(_))
    }

    /// The number of live (stored and unexpired) records.
    ///
    /// Runs the cache's pending maintenance first and then walks every record, so this is
    /// meant for tests and metrics, not for the request path.
    pub async fn len(&self) -> u64 {
        self.records.run_pending_tasks();
        let now = SystemTime::now();
        let live = self
            .records
            .iter()
            .filter(|(_, record)| !record.is_expired_at(now))
            .count();
        u64::try_from(live).unwrap_or(u64::MAX)
    }

    /// Whether the store holds no live record (see [`MemoryStore::len`]).
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

impl<T> Default for MemoryStore<T>
where
    T: Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for MemoryStore<T> {
    fn clone(&self) -> Self {
        Self {
            records: self.records.clone(),
            tags: Arc::clone(&self.tags),
            locks: Arc::clone(&self.locks),
        }
    }
}

impl<T> fmt::Debug for MemoryStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither ids nor records: both are secrets.
        f.debug_struct("MemoryStore")
            .field("max_capacity", &self.records.policy().max_capacity())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<T> SessionStore<T> for MemoryStore<T>
where
    T: Send + Sync + 'static,
{
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error> {
        let record = Arc::new(record);
        loop {
            let id = SessionId::generate()?;
            let candidate = Arc::clone(&record);
            // Insert only if the id is vacant, under moka's per-key lock, so two creates can
            // never share an id (with 256 random bits a retry is not expected to ever happen).
            let outcome =
                self.records
                    .entry_by_ref(&id)
                    .and_compute_with(|existing| match existing {
                        Some(_) => Op::Nop,
                        None => {
                            self.tags.add(&id, &candidate.tags);
                            Op::Put(candidate)
                        }
                    });
            if let CompResult::Inserted(_) = outcome {
                return Ok(id);
            }
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        Ok(self.get(id))
    }

    /// Always answers: the records are in memory.
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Arc<Record<T>>>, Error>> {
        Some(Ok(self.get(id)))
    }

    async fn save(&self, id: &SessionId, record: Record<T>) -> Result<bool, Error> {
        let record = Arc::new(record);
        // Under moka's per-key lock (shared with `create` and `delete`), so a concurrent
        // delete either happens before (and the save writes nothing) or after.
        let outcome = self.records.entry_by_ref(id).and_compute_with(|existing| {
            let now = SystemTime::now();
            match existing {
                Some(entry) if !entry.value().is_expired_at(now) => {
                    let dropped: Vec<String> = (entry.value().tags.iter())
                        .filter(|t| !record.tags.contains(t))
                        .cloned()
                        .collect();
                    self.tags.remove(id, &dropped);
                    self.tags.add(id, &record.tags);
                    Op::Put(record)
                }
                // Expired but not yet evicted: drop it now rather than leave it around.
                Some(_) => Op::Remove,
                None => Op::Nop,
            }
        });
        Ok(matches!(outcome, CompResult::ReplacedWith(_)))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        // Not `invalidate`: it does not take the per-key lock `and_compute_with` holds, so a
        // save that had already read the record could write it back after the delete.
        self.records
            .entry_by_ref(id)
            .and_compute_with(|_| Op::Remove);
        Ok(())
    }

    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        let ids = self.tags.ids(tag);
        let deleted = ids.iter().filter(|id| self.remove_tagged(id, tag)).count();
        Ok(deleted as u64)
    }

    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        // The others carrying the tag, latest expiry first.
        let mut others: Vec<(SystemTime, SessionId)> = self
            .tags
            .ids(tag)
            .into_iter()
            .filter(|id| id != spare)
            .filter_map(|id| {
                let record = self.get(&id)?;
                record
                    .tags
                    .iter()
                    .any(|t| t == tag)
                    .then_some((record.expires_at, id))
            })
            .collect();
        others.sort_by_key(|(expires_at, _)| std::cmp::Reverse(*expires_at));
        let spared = self
            .get(spare)
            .is_some_and(|record| record.tags.iter().any(|t| t == tag));
        let keep_others = keep.saturating_sub(usize::from(spared));
        let deleted = (others.iter().skip(keep_others))
            .filter(|(_, id)| self.remove_tagged(id, tag))
            .count();
        Ok(deleted as u64)
    }

    async fn list_tagged(&self, tag: &str, limit: usize) -> Result<Vec<Arc<Record<T>>>, Error> {
        // `get` skips expired records; the index may name a record whose save dropped the tag.
        let mut records: Vec<Arc<Record<T>>> = (self.tags.ids(tag).iter())
            .filter_map(|id| self.get(id))
            .filter(|record| record.tags.iter().any(|t| t == tag))
            .collect();
        records.sort_by_key(|record| std::cmp::Reverse(record.expires_at));
        records.truncate(limit);
        Ok(records)
    }

    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        self.locks.try_lock(id, ttl)
    }

    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        self.locks.unlock(id, lease);
        Ok(())
    }
}

/// Tells moka to drop each record when its [`Record::expires_at`] passes.
struct UntilRecordExpires;

impl UntilRecordExpires {
    /// Time left until `record` expires, zero when it already has.
    fn time_left<T>(record: &Record<T>) -> Duration {
        record
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

impl<T> Expiry<SessionId, Arc<Record<T>>> for UntilRecordExpires {
    fn expire_after_create(
        &self,
        _id: &SessionId,
        record: &Arc<Record<T>>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Self::time_left(record))
    }

    fn expire_after_update(
        &self,
        _id: &SessionId,
        record: &Arc<Record<T>>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        // A save carries a new expiry (sliding sessions, refreshed tokens): use it, not the
        // old one.
        Some(Self::time_left(record))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn in_secs(secs: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn clones_share_records() {
        let store = MemoryStore::<u8>::new();
        let clone = store.clone();
        let id = store.create(Record::new(1, in_secs(60))).await.unwrap();
        assert_eq!(clone.load(&id).await.unwrap().unwrap().data, 1);
        clone.delete(&id).await.unwrap();
        assert!(store.load(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn len_counts_live_records_only() {
        let store = MemoryStore::<u8>::default();
        assert!(store.is_empty().await);
        let live = store.create(Record::new(1, in_secs(60))).await.unwrap();
        store.create(Record::new(2, in_secs(60))).await.unwrap();
        // Created already expired: accepted, never returned, not counted.
        let dead = store
            .create(Record::new(3, SystemTime::now() - Duration::from_secs(1)))
            .await
            .unwrap();
        assert!(store.load(&dead).await.unwrap().is_none());
        assert_eq!(store.len().await, 2);
        store.delete(&live).await.unwrap();
        assert_eq!(store.len().await, 1);
    }

    #[tokio::test]
    async fn save_on_an_expired_record_writes_nothing() {
        let store = MemoryStore::<u8>::new();
        let id = store
            .create(Record::new(1, SystemTime::now() - Duration::from_secs(1)))
            .await
            .unwrap();
        assert!(!store.save(&id, Record::new(2, in_secs(60))).await.unwrap());
        assert!(store.load(&id).await.unwrap().is_none());
        assert_eq!(store.len().await, 0);
    }

    #[tokio::test]
    async fn save_moves_the_expiry() {
        let store = MemoryStore::<u8>::new();
        let id = store.create(Record::new(1, in_secs(60))).await.unwrap();
        let soon = SystemTime::now() + Duration::from_millis(300);
        assert!(store.save(&id, Record::new(2, soon)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(store.load(&id).await.unwrap().is_none());
        assert_eq!(store.len().await, 0);
        // Dropped from memory too, not just hidden by `load`'s own check.
        assert_eventually_holds(&store, 0).await;
    }

    #[tokio::test]
    async fn expired_records_are_dropped_from_memory() {
        let store = MemoryStore::<u8>::new();
        let soon = SystemTime::now() + Duration::from_millis(300);
        for n in 0..10 {
            store.create(Record::new(n, soon)).await.unwrap();
        }
        store.create(Record::new(10, in_secs(60))).await.unwrap();
        store.records.run_pending_tasks();
        assert_eq!(store.records.entry_count(), 11);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eventually_holds(&store, 1).await;
    }

    /// Waits for moka to evict expired records: its timer wheel has about one-second buckets.
    async fn assert_eventually_holds<T: Send + Sync + 'static>(store: &MemoryStore<T>, count: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            store.records.run_pending_tasks();
            let held = store.records.entry_count();
            if held == count {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the cache still holds {held} records, expected {count}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn the_tag_index_forgets_removed_records() {
        let store = MemoryStore::<u8>::new();
        let soon = SystemTime::now() + Duration::from_millis(200);
        store
            .create(Record::new(1, soon).with_tags(["sid:a", "sub:x"]))
            .await
            .unwrap();
        let deleted = store
            .create(Record::new(2, in_secs(60)).with_tags(["sid:b"]))
            .await
            .unwrap();
        let saved = store
            .create(Record::new(3, in_secs(60)).with_tags(["sid:c"]))
            .await
            .unwrap();
        store.delete(&deleted).await.unwrap();
        store
            .save(&saved, Record::new(4, in_secs(60)).with_tags(["sid:d"]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eventually_holds(&store, 1).await;
        let keys: Vec<u64> = store.tags.map().keys().copied().collect();
        assert_eq!(
            keys,
            [store.tags.key("sid:d")],
            "index entries of removed records must go"
        );
    }

    #[test]
    fn the_tag_index_keeps_one_id_inline_and_many_in_a_set() {
        let index = TagIndex::default();
        let ids: Vec<SessionId> = (0..3).map(|_| SessionId::generate().unwrap()).collect();
        let tag = ["sub x".to_owned()];
        for id in &ids {
            index.add(id, &tag);
            index.add(id, &tag);
        }
        let mut found = index.ids("sub x");
        found.sort_by_key(SessionId::encode);
        let mut expected = ids.clone();
        expected.sort_by_key(SessionId::encode);
        assert_eq!(found, expected);
        index.remove(&ids[0], &tag);
        index.remove(&ids[1], &tag);
        assert!(
            matches!(index.map().get(&index.key("sub x")), Some(Ids::One(one)) if *one == ids[2])
        );
        index.remove(&ids[0], &tag);
        assert_eq!(index.ids("sub x"), [ids[2].clone()]);
        index.remove(&ids[2], &tag);
        assert!(index.ids("sub x").is_empty() && index.map().is_empty());
    }

    #[tokio::test]
    async fn capacity_bounds_the_store() {
        let store = MemoryStore::<u32>::with_capacity(10);
        for n in 0..100 {
            store.create(Record::new(n, in_secs(60))).await.unwrap();
        }
        assert!(store.len().await <= 10);
    }

    #[test]
    fn debug_shows_no_records() {
        let store = MemoryStore::<&str>::with_capacity(5);
        assert_eq!(
            format!("{store:?}"),
            "MemoryStore { max_capacity: Some(5), .. }"
        );
    }
}
