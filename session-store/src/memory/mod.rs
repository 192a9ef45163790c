//! [`MemoryStore`]: an in-process [`SessionStore`] on a sharded table of its own, keyed by the
//! ids' random bits, with per-record expiry and a capacity bound.

mod table;
mod tags;

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use crate::id::RandomIdHasher;
use crate::{Error, Lease, Record, SessionId, SessionStore};
use table::{Shard, Slot, secs};
use tags::{TagIndex, distinct};

/// An in-memory [`SessionStore`]: records live in a table in this process, each one removed
/// once its [`Record::expires_at`] passes.
///
/// Records are kept as `Arc<Record<T>>`: loading one is a table lookup and a reference-count
/// increment, with no copy and no serialization. `T` needs no `serde` bound.
///
/// The store is bounded: past its capacity ([`MemoryStore::DEFAULT_MAX_CAPACITY`] for
/// [`MemoryStore::new`]), a record is evicted for each one created: an expired one if there
/// is one at hand, else the least recently used of a sample, which logs that session out.
/// Records do not survive a restart and are not shared between processes.
///
/// The table is laid out for the request path: shards of open-addressed slots that hold the
/// id itself (placed by the id's own random bits, mixed with a key of the table), so a lookup
/// compares ids where it lands and follows one pointer, to the record. Expired records are
/// swept a few slots at a time by creates and saves, and all at once by
/// [`MemoryStore::len`].
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
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    /// A record's shard is given by its hash's top 32 bits (scaled to their number), its slot
    /// in the shard by the low bits.
    shards: Box<[Padded<Mutex<Shard<T>>>]>,
    hasher: RandomIdHasher,
    max_records: u64,
    /// Records held (live or expired, not yet swept), for the capacity bound.
    held: AtomicU64,
    /// Tag -> ids of the records carrying it. Updated under the record's shard lock (shard
    /// first, then the index: never the other way round), at once with the record, so
    /// [`MemoryStore::delete_tagged`] never misses one.
    tags: TagIndex,
    /// Session locks (see [`SessionStore::try_lock`]): held ones, and expired ones not yet
    /// swept.
    locks: Locks,
}

/// A shard on a cache line of its own, so that two threads working in two shards do not
/// contend for one line.
#[repr(align(64))]
struct Padded<S>(S);

#[derive(Default)]
struct Locks(Mutex<HashMap<SessionId, (Lease, Instant)>>);

impl Locks {
    /// How many locks may pile up (expired, never unlocked: their holder was cancelled)
    /// before a sweep; live locks are as many as refreshes in flight.
    const SWEEP_AT: usize = 1024;

    fn map(&self) -> MutexGuard<'_, HashMap<SessionId, (Lease, Instant)>> {
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

impl<T> MemoryStore<T> {
    /// The number of records a [`MemoryStore::new`] store holds before it evicts the least
    /// recently used ones.
    pub const DEFAULT_MAX_CAPACITY: u64 = 1_000_000;

    /// At most this many shards (the machine's threads rarely meet in one of 64).
    const MAX_SHARDS: u64 = 64;

    /// How many shards for `max_records`: each holding 1,024 records or more when the store
    /// is full (so an eviction finds a victim in the shard at hand), and of those counts the
    /// most whose tables, full, take at most 5 % more slots than the fewest. A shard's table
    /// has a power-of-two size and is at most 3/4 full: 64 shards of a million records would
    /// each need 32,768 slots for 15,625 records, 44 shards fill theirs to 69 %.
    fn shard_count(max_records: u64) -> usize {
        let slots = |shards: u64| {
            // A full shard's records, with room for chance (ids spread binomially: 6 standard
            // deviations above the mean).
            let mean = max_records.div_ceil(shards);
            let most = mean + 6 * mean.isqrt() + 1;
            shards.saturating_mul((most * 4).div_ceil(3).next_power_of_two())
        };
        let most = (max_records / 1024).clamp(1, Self::MAX_SHARDS);
        let fewest = (1..=most).map(slots).min().unwrap_or(0);
        // More shards, less contention: the most within 5 % of the fewest slots.
        let chosen = (1..=most)
            .rev()
            .find(|&shards| slots(shards) <= fewest + fewest / 20)
            .unwrap_or(1);
        usize::try_from(chosen).unwrap_or(1)
    }
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

    /// An empty store holding at most `max_records` records; past that, each create evicts a
    /// record (an expired one, else the least recently used of a sample).
    pub fn with_capacity(max_records: u64) -> Self {
        let shards = (0..Self::shard_count(max_records))
            .map(|_| Padded(Mutex::default()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomIdHasher::new(),
                max_records,
                held: AtomicU64::new(0),
                tags: TagIndex::default(),
                locks: Locks::default(),
            }),
        }
    }

    /// The unexpired record of `id`: the record's own deadline is checked, so an expired
    /// session is never handed out, swept or not.
    fn get(&self, id: &SessionId) -> Option<Arc<Record<T>>> {
        let now = SystemTime::now();
        let hash = self.inner.hash(id);
        let mut shard = self.inner.shard(hash);
        let index = shard.find(hash, id)?;
        let slot = shard.get(index)?;
        if slot.record.is_expired_at(now) {
            return None;
        }
        let record = Arc::clone(&slot.record);
        shard.touch(index, secs(now, false));
        Some(record)
    }

    /// Removes the record `id` if it carries `tag`; whether a live record was removed. Checked
    /// under the shard's lock: the tag index may name a record whose latest save dropped the
    /// tag.
    fn remove_tagged(&self, id: &SessionId, tag: &str) -> bool {
        let now = SystemTime::now();
        let hash = self.inner.hash(id);
        let mut shard = self.inner.shard(hash);
        let Some(index) = shard.find(hash, id) else {
            return false;
        };
        let Some(slot) = shard.get(index) else {
            return false;
        };
        if !slot.record.tags.iter().any(|t| t == tag) {
            return false;
        }
        let live = !slot.record.is_expired_at(now);
        let removed = self.inner.remove(&mut shard, index);
        drop(shard);
        drop(removed);
        live
    }

    /// The records carrying `tag` (as last saved), expired ones included, with their ids.
    fn tagged(&self, tag: &str) -> Vec<(SessionId, Arc<Record<T>>)> {
        let mut found = Vec::new();
        for hash in self.inner.tags.holders(tag) {
            let shard = self.inner.shard(hash);
            found.extend(
                (shard.cluster(hash))
                    .filter(|slot| self.inner.hash(&slot.id) == hash)
                    .filter(|slot| slot.record.tags.iter().any(|t| t == tag))
                    .map(|slot| (slot.id.clone(), Arc::clone(&slot.record))),
            );
        }
        found
    }

    /// The number of live (stored and unexpired) records.
    ///
    /// Sweeps every expired record out of the table first (a walk over all of it), so this is
    /// meant for tests and metrics, not for the request path.
    pub async fn len(&self) -> u64 {
        self.inner.sweep_all();
        let now = SystemTime::now();
        let live: usize = (self.inner.shards.iter())
            .map(|shard| {
                let shard = lock(&shard.0);
                shard
                    .slots()
                    .filter(|slot| !slot.record.is_expired_at(now))
                    .count()
            })
            .sum();
        u64::try_from(live).unwrap_or(u64::MAX)
    }

    /// Whether the store holds no live record (see [`MemoryStore::len`]).
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

fn lock<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    // Every update of a shard leaves it consistent before anything that could panic (an
    // allocation while growing replaces the slots only once the new ones exist).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Inner<T> {
    fn hash(&self, id: &SessionId) -> u64 {
        self.hasher.hash_one(id)
    }

    fn shard_index(&self, hash: u64) -> usize {
        // The top 32 bits scaled to the number of shards (the slot takes the low bits).
        (((hash >> 32) * self.shards.len() as u64) >> 32) as usize
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<T>> {
        lock(&self.shards[self.shard_index(hash)].0)
    }

    /// Removes the slot at `index` of `shard` and its ids from the tag index; the removed
    /// record is returned to be dropped once the lock is released.
    fn remove(&self, shard: &mut Shard<T>, index: usize) -> Option<Arc<Record<T>>> {
        let slot = shard.remove(index, |id| self.hash(id))?;
        self.forget(&slot);
        Some(slot.record)
    }

    fn forget(&self, slot: &Slot<T>) {
        self.held.fetch_sub(1, Ordering::Relaxed);
        self.tags
            .remove(self.hash(&slot.id), &distinct(&slot.record.tags));
    }

    /// A few slots' worth of sweeping in `shard`.
    fn sweep_some(&self, shard: &mut Shard<T>, now: u32) -> Vec<Arc<Record<T>>> {
        self.sweep(shard, now, false)
    }

    fn sweep_all(&self) {
        let now = secs(SystemTime::now(), false);
        for shard in &self.shards {
            // Dropped once the shard's lock (a temporary of the statement) is released.
            let removed = self.sweep(&mut lock(&shard.0), now, true);
            drop(removed);
        }
    }

    /// Removes the expired records of `shard` among the next few slots (`all`: every slot)
    /// from it and the tag index; returns them, to be dropped once the lock is released.
    fn sweep(&self, shard: &mut Shard<T>, now: u32, all: bool) -> Vec<Arc<Record<T>>> {
        let mut removed = Vec::new();
        shard.sweep(
            now,
            all,
            |id| self.hash(id),
            |slot| {
                self.forget(&slot);
                removed.push(slot.record);
            },
        );
        removed
    }

    /// Evicts one record other than `keep`, from the shard of `hash` first.
    fn evict(&self, hash: u64, keep: &SessionId) {
        let now = secs(SystemTime::now(), false);
        let first = self.shard_index(hash);
        for step in 0..self.shards.len() {
            let at = (first + step) % self.shards.len();
            let mut shard = lock(&self.shards[at].0);
            if let Some(index) = shard.victim(hash.rotate_left(17), now, keep) {
                let removed = self.remove(&mut shard, index);
                drop(shard);
                drop(removed);
                return;
            }
        }
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
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for MemoryStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither ids nor records: both are secrets.
        f.debug_struct("MemoryStore")
            .field("max_capacity", &Some(self.inner.max_records))
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
        let inner = &*self.inner;
        loop {
            let id = SessionId::generate()?;
            let hash = inner.hash(&id);
            let now = secs(SystemTime::now(), false);
            let mut shard = inner.shard(hash);
            // Insert only if the id is vacant, under the shard's lock, so two creates can
            // never share an id (with 256 random bits a retry is not expected to ever happen).
            if shard.find(hash, &id).is_some() {
                continue;
            }
            let swept = inner.sweep_some(&mut shard, now);
            inner.tags.add(hash, &distinct(&record.tags));
            shard.insert(hash, Slot::new(id.clone(), record, now), |id| {
                inner.hash(id)
            });
            drop(shard);
            drop(swept);
            if inner.held.fetch_add(1, Ordering::Relaxed) >= inner.max_records {
                inner.evict(hash, &id);
            }
            return Ok(id);
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
        let inner = &*self.inner;
        let now = SystemTime::now();
        let hash = inner.hash(id);
        // Under the shard's lock (shared with `create` and `delete`), so a concurrent delete
        // either happens before (and the save writes nothing) or after.
        let mut shard = inner.shard(hash);
        let Some(index) = shard.find(hash, id) else {
            return Ok(false);
        };
        let Some(old) = shard.get(index).map(|slot| Arc::clone(&slot.record)) else {
            return Ok(false);
        };
        if old.is_expired_at(now) {
            // Expired but not yet swept: drop it now rather than leave it around.
            let removed = inner.remove(&mut shard, index);
            drop(shard);
            drop(removed);
            return Ok(false);
        }
        let (old_tags, new_tags) = (distinct(&old.tags), distinct(&record.tags));
        let dropped: Vec<&str> = (old_tags.iter())
            .filter(|t| !new_tags.contains(t))
            .copied()
            .collect();
        let added: Vec<&str> = (new_tags.iter())
            .filter(|t| !old_tags.contains(t))
            .copied()
            .collect();
        inner.tags.remove(hash, &dropped);
        inner.tags.add(hash, &added);
        let replaced = shard.replace(index, record, secs(now, false));
        let swept = inner.sweep_some(&mut shard, secs(now, false));
        drop(shard);
        drop((old, replaced, swept));
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let hash = self.inner.hash(id);
        let mut shard = self.inner.shard(hash);
        let removed = shard
            .find(hash, id)
            .and_then(|index| self.inner.remove(&mut shard, index));
        drop(shard);
        drop(removed);
        Ok(())
    }

    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        let tagged = self.tagged(tag);
        let deleted = (tagged.iter())
            .filter(|(id, _)| self.remove_tagged(id, tag))
            .count();
        Ok(deleted as u64)
    }

    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        let now = SystemTime::now();
        let mut spared = false;
        // The others carrying the tag, latest expiry first.
        let mut others: Vec<(SystemTime, SessionId)> = Vec::new();
        for (id, record) in self.tagged(tag) {
            if record.is_expired_at(now) {
                continue;
            }
            if id == *spare {
                spared = true;
            } else {
                others.push((record.expires_at, id));
            }
        }
        others.sort_by_key(|(expires_at, _)| std::cmp::Reverse(*expires_at));
        let keep_others = keep.saturating_sub(usize::from(spared));
        let deleted = (others.iter().skip(keep_others))
            .filter(|(_, id)| self.remove_tagged(id, tag))
            .count();
        Ok(deleted as u64)
    }

    async fn list_tagged(&self, tag: &str, limit: usize) -> Result<Vec<Arc<Record<T>>>, Error> {
        let now = SystemTime::now();
        let mut records: Vec<Arc<Record<T>>> = (self.tagged(tag).into_iter())
            .map(|(_, record)| record)
            .filter(|record| !record.is_expired_at(now))
            .collect();
        records.sort_by_key(|record| std::cmp::Reverse(record.expires_at));
        records.truncate(limit);
        Ok(records)
    }

    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        self.inner.locks.try_lock(id, ttl)
    }

    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        self.inner.locks.unlock(id, lease);
        Ok(())
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
        assert_eq!(store.inner.held.load(Ordering::Relaxed), 11);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eventually_holds(&store, 1).await;
    }

    /// Waits for the sweep (run by `len`) to drop expired records: the table keeps expiries
    /// in whole seconds.
    async fn assert_eventually_holds<T: Send + Sync + 'static>(store: &MemoryStore<T>, count: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            store.len().await;
            let held = store.inner.held.load(Ordering::Relaxed);
            let in_shards: usize = (store.inner.shards.iter())
                .map(|shard| lock(&shard.0).len())
                .sum();
            assert_eq!(held, in_shards as u64, "the count of held records drifted");
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
        let keys: Vec<u64> = store.inner.tags.map().keys().copied().collect();
        assert_eq!(
            keys,
            [store.inner.tags.key("sid:d")],
            "index entries of removed records must go"
        );
    }

    #[test]
    fn shard_counts_keep_full_tables_compact() {
        assert_eq!(MemoryStore::<u8>::shard_count(10), 1);
        // The default capacity: 64 shards would take 2.1 slots a record when full.
        assert_eq!(MemoryStore::<u8>::shard_count(1_000_000), 44);
        for max in [1_000, 50_000, 1_000_000, 3_000_000, 10_000_000] {
            let shards = MemoryStore::<u8>::shard_count(max) as u64;
            assert!((1..=64).contains(&shards), "{max}: {shards}");
            assert!(shards == 1 || max / shards >= 1024, "{max}: {shards}");
        }
        // Full, 44 tables of 32,768 slots: 1.44 slots a record (64 of them: 2.1).
        let shards = MemoryStore::<u8>::shard_count(1_000_000) as u64;
        assert!(shards * 32_768 < 1_500_000);
    }

    #[tokio::test]
    async fn capacity_bounds_the_store() {
        let store = MemoryStore::<u32>::with_capacity(10);
        for n in 0..100 {
            let id = store.create(Record::new(n, in_secs(60))).await.unwrap();
            // A new session is never the one evicted for it.
            assert_eq!(store.load(&id).await.unwrap().unwrap().data, n);
        }
        assert_eq!(store.len().await, 10);
    }

    #[tokio::test]
    async fn eviction_takes_an_expired_record_before_a_live_one() {
        let store = MemoryStore::<u32>::with_capacity(3);
        let dead = store
            .create(Record::new(0, SystemTime::now() - Duration::from_secs(5)))
            .await
            .unwrap();
        let mut live = Vec::new();
        for n in 1..=3 {
            live.push(store.create(Record::new(n, in_secs(60))).await.unwrap());
        }
        assert!(store.load(&dead).await.unwrap().is_none());
        for id in &live {
            assert!(
                store.load(id).await.unwrap().is_some(),
                "a live record was evicted"
            );
        }
        assert_eq!(store.inner.held.load(Ordering::Relaxed), 3);
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
