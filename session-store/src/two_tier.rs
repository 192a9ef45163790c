//! [`TwoTierStore`]: an in-process tier (moka) in front of a remote [`SessionStore`], so a hot
//! session is served from memory, with a hard bound on how stale what it serves can be.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use moka::sync::Cache;

use crate::id::RandomIdHasher;
use crate::{Error, Fingerprint, Lease, Record, SessionId, SessionStore};

/// Where a [`TwoTierStore`] hears about records changed through other handles (other
/// instances): implemented by [`RedisStore`](crate::RedisStore) with Redis pub/sub.
pub trait ChangeFeed {
    /// Starts telling `sink` about changes, in the background, until the sink is dropped.
    /// Needs a Tokio runtime.
    ///
    /// The feed calls [`Invalidate::invalidate`] for every record saved or deleted anywhere,
    /// and [`Invalidate::invalidate_all`] whenever it may have missed some (e.g. each time it
    /// (re)subscribes).
    fn watch(&self, sink: Weak<dyn Invalidate>);
}

/// The receiving end of a [`ChangeFeed`]: a [`TwoTierStore`]'s local tier.
pub trait Invalidate: Send + Sync {
    /// The record with this fingerprint changed or is gone: stop serving the local copy.
    fn invalidate(&self, fingerprint: &Fingerprint);
    /// Changes may have been missed: stop serving every local copy.
    fn invalidate_all(&self);
}

/// Settings of a [`TwoTierStore`].
#[derive(Debug, Clone)]
pub struct TwoTierConfig {
    max_staleness: Duration,
    capacity: u64,
}

impl TwoTierConfig {
    /// The default staleness bound.
    pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(2);
    /// The default number of records the local tier holds.
    pub const DEFAULT_CAPACITY: u64 = 100_000;

    /// Defaults: 2 s staleness bound, 100,000 records in memory.
    pub fn new() -> Self {
        Self {
            max_staleness: Self::DEFAULT_MAX_STALENESS,
            capacity: Self::DEFAULT_CAPACITY,
        }
    }

    /// The staleness bound: a local copy is served for at most this long after it was read
    /// from (or written to) the remote tier, whatever the change feed says. A session deleted
    /// on another instance stops working here within this bound even when the feed is down
    /// (and at once when it is up).
    #[must_use]
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// How many records the local tier holds at most; past that the least recently used are
    /// dropped (from the local tier only: the session lives on in the remote one).
    #[must_use]
    pub fn capacity(mut self, records: u64) -> Self {
        self.capacity = records;
        self
    }
}

impl Default for TwoTierConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`SessionStore`] that serves hot sessions from an in-process moka cache and keeps the
/// truth in a remote store `R` (usually [`RedisStore`](crate::RedisStore)).
///
/// * `load` answers from memory while the local copy is younger than the staleness bound
///   ([`TwoTierConfig::max_staleness`], default 2 s) and the record has not expired; past half
///   the bound, a hot entry is re-read in the background, so a session in steady use never
///   waits for the network. Otherwise it reads the remote store.
/// * `create`, `save`, `delete` and `delete_tagged` go to the remote store first, then update
///   the local tier; an error from the remote store is returned as is.
/// * With a [`ChangeFeed`] ([`TwoTierStore::with_changes`]), a change made on another instance
///   drops the local copy as soon as the feed delivers it (Redis pub/sub: about a millisecond);
///   a read racing with such a change is not cached.
///
/// **The bound:** whatever the feed does (delayed, down, never configured), a copy is never
/// served more than `max_staleness` after the remote read (or write) it came from was sent.
/// So a session deleted on instance A stops working on instance B within `max_staleness`, and
/// while the remote store is down, sessions in the local tier keep working for at most that
/// long.
///
/// `load_fresh` always reads the remote store.
pub struct TwoTierStore<R, T> {
    inner: Arc<Inner<R, T>>,
}

struct Entry<T> {
    record: Arc<Record<T>>,
    /// When the remote read or write this copy comes from was sent.
    fetched: Instant,
    /// A background re-read is under way.
    refreshing: AtomicBool,
}

struct Inner<R, T> {
    remote: R,
    local: Cache<Fingerprint, Arc<Entry<T>>, RandomIdHasher>,
    max_staleness: Duration,
    /// Counts invalidations heard (each one and each "all").
    changes: AtomicU64,
    /// The `changes` count at which each record was last invalidated (recent ones only).
    recent: Cache<Fingerprint, u64, RandomIdHasher>,
    /// The `changes` count of the last "invalidate all".
    flushed: AtomicU64,
}

/// How long [`Inner::recent`] remembers an invalidation: far longer than any remote read may
/// take (which is bounded by the store's own timeouts); the staleness bound covers the rest.
const RECENT_CHANGES: Duration = Duration::from_secs(60);

impl<R, T> Clone for TwoTierStore<R, T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: fmt::Debug, T> fmt::Debug for TwoTierStore<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoTierStore")
            .field("remote", &self.inner.remote)
            .field("max_staleness", &self.inner.max_staleness)
            .field("capacity", &self.inner.local.policy().max_capacity())
            .finish_non_exhaustive()
    }
}

impl<R, T> TwoTierStore<R, T>
where
    R: SessionStore<T>,
    T: Clone + Send + Sync + 'static,
{
    /// A local tier in front of `remote`, without a change feed: changes made on other
    /// instances show here within the staleness bound.
    pub fn new(remote: R, config: TwoTierConfig) -> Self {
        let local = Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.max_staleness)
            .support_invalidation_closures()
            .build_with_hasher(RandomIdHasher::new());
        let recent = Cache::builder()
            .max_capacity(config.capacity.max(1_000))
            .time_to_live(RECENT_CHANGES)
            .build_with_hasher(RandomIdHasher::new());
        Self {
            inner: Arc::new(Inner {
                remote,
                local,
                max_staleness: config.max_staleness,
                changes: AtomicU64::new(0),
                recent,
                flushed: AtomicU64::new(0),
            }),
        }
    }

    /// A local tier in front of `remote`, which also tells it about changes made on other
    /// instances (for Redis: pub/sub), so they show here at once. Needs a Tokio runtime.
    pub fn with_changes(remote: R, config: TwoTierConfig) -> Self
    where
        R: ChangeFeed,
    {
        let store = Self::new(remote, config);
        let sink: Arc<dyn Invalidate> = store.inner.clone();
        store.inner.remote.watch(Arc::downgrade(&sink));
        store
    }

    /// The remote store.
    pub fn remote(&self) -> &R {
        &self.inner.remote
    }

    /// The staleness bound in force.
    pub fn max_staleness(&self) -> Duration {
        self.inner.max_staleness
    }

    /// How many records the local tier holds (including copies too old to be served; runs
    /// the cache's pending maintenance first). For tests and metrics.
    pub fn local_len(&self) -> u64 {
        self.inner.local.run_pending_tasks();
        self.inner.local.entry_count()
    }

    /// Drops the local copy of `id` (the remote record stays).
    pub fn forget_local(&self, id: &SessionId) {
        self.inner.local.invalidate(&id.fingerprint());
    }
}

impl<R, T> Inner<R, T>
where
    R: SessionStore<T>,
    T: Clone + Send + Sync + 'static,
{
    /// Caches `record`, read or written by a request sent at `fetched` when `changes` was
    /// `seen`, unless an invalidation of it was heard since (it may predate that change).
    fn remember(
        &self,
        fingerprint: Fingerprint,
        record: Arc<Record<T>>,
        fetched: Instant,
        seen: u64,
    ) {
        self.local.insert(
            fingerprint,
            Arc::new(Entry {
                record,
                fetched,
                refreshing: AtomicBool::new(false),
            }),
        );
        // Checked after the insert: an invalidation either removed it, or had already
        // recorded itself where this looks.
        if self.changes.load(Ordering::SeqCst) != seen {
            let flushed = self.flushed.load(Ordering::SeqCst) > seen;
            let changed = self.recent.get(&fingerprint).is_some_and(|at| at > seen);
            if flushed || changed {
                self.local.invalidate(&fingerprint);
            }
        }
    }

    /// Reads `id` from the remote store and updates the local tier.
    async fn fetch(
        &self,
        id: &SessionId,
        fingerprint: Fingerprint,
    ) -> Result<Option<Arc<Record<T>>>, Error> {
        let seen = self.changes.load(Ordering::SeqCst);
        let fetched = Instant::now();
        match self.remote.load(id).await? {
            Some(record) => {
                self.remember(fingerprint, Arc::clone(&record), fetched, seen);
                Ok(Some(record))
            }
            None => {
                self.local.invalidate(&fingerprint);
                Ok(None)
            }
        }
    }
}

impl<R, T> Invalidate for Inner<R, T>
where
    R: Send + Sync,
    T: Send + Sync + 'static,
{
    fn invalidate(&self, fingerprint: &Fingerprint) {
        let at = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        self.recent.insert(*fingerprint, at);
        self.local.invalidate(fingerprint);
    }

    fn invalidate_all(&self) {
        let at = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        self.flushed.store(at, Ordering::SeqCst);
        self.local.invalidate_all();
    }
}

#[async_trait]
impl<R, T> SessionStore<T> for TwoTierStore<R, T>
where
    R: SessionStore<T>,
    T: Clone + Send + Sync + 'static,
{
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error> {
        let inner = &self.inner;
        let seen = inner.changes.load(Ordering::SeqCst);
        let fetched = Instant::now();
        let local = Arc::new(record.clone());
        let id = inner.remote.create(record).await?;
        inner.remember(id.fingerprint(), local, fetched, seen);
        Ok(id)
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        match self.local_hit(id) {
            Some(record) => Ok(Some(record)),
            None => self.inner.fetch(id, id.fingerprint()).await,
        }
    }

    /// A fresh local copy, when there is one (a hit costs no round trip).
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Arc<Record<T>>>, Error>> {
        self.local_hit(id).map(|record| Ok(Some(record)))
    }

    async fn load_fresh(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        self.inner.fetch(id, id.fingerprint()).await
    }

    async fn save(&self, id: &SessionId, record: Record<T>) -> Result<bool, Error> {
        let inner = &self.inner;
        let fingerprint = id.fingerprint();
        let seen = inner.changes.load(Ordering::SeqCst);
        let fetched = Instant::now();
        let local = Arc::new(record.clone());
        match inner.remote.save(id, record).await {
            Ok(true) => {
                inner.remember(fingerprint, local, fetched, seen);
                Ok(true)
            }
            outcome => {
                inner.local.invalidate(&fingerprint);
                outcome
            }
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let fingerprint = id.fingerprint();
        self.inner.local.invalidate(&fingerprint);
        let outcome = self.inner.remote.delete(id).await;
        // Again: a read that raced with the delete may have cached the record meanwhile.
        self.inner.invalidate(&fingerprint);
        outcome
    }

    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        let outcome = self.inner.remote.delete_tagged(tag).await;
        self.forget_tagged(tag);
        outcome
    }

    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        let outcome = self.inner.remote.trim_tagged(tag, keep, spare).await;
        // Which records went is the remote tier's business: drop the local copies of them
        // all (they are read again on their next request), unless nothing was deleted.
        if !matches!(outcome, Ok(0)) {
            self.forget_tagged(tag);
        }
        outcome
    }

    /// The remote tier's records: a listing is not served from (nor kept in) memory.
    async fn list_tagged(&self, tag: &str, limit: usize) -> Result<Vec<Arc<Record<T>>>, Error> {
        self.inner.remote.list_tagged(tag, limit).await
    }

    /// The remote store's lock: the one every instance sees.
    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        self.inner.remote.try_lock(id, ttl).await
    }

    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        self.inner.remote.unlock(id, lease).await
    }
}

impl<R, T> TwoTierStore<R, T>
where
    R: SessionStore<T>,
    T: Clone + Send + Sync + 'static,
{
    /// Drops the local copies of every record carrying `tag`. Rare (a back-channel logout, a
    /// login past the sessions-per-user cap): a scan of the local tier is fine. Other
    /// instances hear of each deleted record from the change feed (or see it gone within the
    /// bound).
    fn forget_tagged(&self, tag: &str) {
        let tag = tag.to_owned();
        if let Err(e) = self
            .inner
            .local
            .invalidate_entries_if(move |_, entry| entry.record.tags.contains(&tag))
        {
            // Only when invalidation closures are not enabled, which `new` does.
            debug_assert!(false, "{e}");
            self.inner.invalidate_all();
        }
    }

    /// The local copy of `id`, if it is within the staleness bound and unexpired; past half the
    /// bound, a re-read starts in the background.
    fn local_hit(&self, id: &SessionId) -> Option<Arc<Record<T>>> {
        let inner = &self.inner;
        let fingerprint = id.fingerprint();
        let entry = inner.local.get(&fingerprint)?;
        let age = entry.fetched.elapsed();
        if age >= inner.max_staleness || entry.record.is_expired_at(SystemTime::now()) {
            return None;
        }
        if age >= inner.max_staleness / 2 {
            self.refresh_ahead(id, fingerprint, &entry);
        }
        Some(Arc::clone(&entry.record))
    }

    /// Re-reads a hot entry in the background (once at a time), so the next request finds a
    /// fresh copy instead of waiting for the remote store.
    fn refresh_ahead(&self, id: &SessionId, fingerprint: Fingerprint, entry: &Entry<T>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if entry.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let id = id.clone();
        runtime.spawn(async move {
            // An error leaves the entry to age out at the bound.
            let _ = inner.fetch(&id, fingerprint).await;
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn in_a_minute() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    fn store(staleness: Duration) -> (TwoTierStore<MemoryStore<u32>, u32>, MemoryStore<u32>) {
        let remote = MemoryStore::new();
        let two = TwoTierStore::new(
            remote.clone(),
            TwoTierConfig::new().max_staleness(staleness),
        );
        (two, remote)
    }

    #[tokio::test]
    async fn hot_sessions_come_from_memory_within_the_bound() {
        let (two, remote) = store(Duration::from_millis(400));
        let id = two.create(Record::new(1, in_a_minute())).await.unwrap();
        // Changed behind the local tier's back (another instance, no change feed).
        assert!(
            remote
                .save(&id, Record::new(2, in_a_minute()))
                .await
                .unwrap()
        );
        assert_eq!(
            two.load(&id).await.unwrap().unwrap().data,
            1,
            "served locally"
        );
        assert_eq!(two.load_fresh(&id).await.unwrap().unwrap().data, 2);
        assert_eq!(two.load(&id).await.unwrap().unwrap().data, 2, "refreshed");
        remote.delete(&id).await.unwrap();
        assert!(
            two.load(&id).await.unwrap().is_some(),
            "still within the bound"
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(two.load(&id).await.unwrap().is_none(), "past the bound");
    }

    #[tokio::test]
    async fn invalidations_drop_local_copies_at_once() {
        let (two, remote) = store(Duration::from_secs(60));
        let a = two.create(Record::new(1, in_a_minute())).await.unwrap();
        let b = two.create(Record::new(2, in_a_minute())).await.unwrap();
        remote.delete(&a).await.unwrap();
        remote.delete(&b).await.unwrap();
        assert!(two.load(&a).await.unwrap().is_some());
        two.inner.invalidate(&a.fingerprint());
        assert!(two.load(&a).await.unwrap().is_none());
        assert!(two.load(&b).await.unwrap().is_some());
        two.inner.invalidate_all();
        assert!(two.load(&b).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_read_racing_with_an_invalidation_is_not_cached() {
        let (two, remote) = store(Duration::from_secs(60));
        let id = remote.create(Record::new(1, in_a_minute())).await.unwrap();
        let fingerprint = id.fingerprint();
        // As if the record was read, then changed and announced before the read returned.
        let seen = two.inner.changes.load(Ordering::SeqCst);
        let fetched = Instant::now();
        let read = remote.load(&id).await.unwrap().unwrap();
        remote
            .save(&id, Record::new(2, in_a_minute()))
            .await
            .unwrap();
        two.inner.invalidate(&fingerprint);
        two.inner.remember(fingerprint, read, fetched, seen);
        assert_eq!(two.load(&id).await.unwrap().unwrap().data, 2);
        // Same after a flush.
        let seen = two.inner.changes.load(Ordering::SeqCst);
        let read = remote.load(&id).await.unwrap().unwrap();
        remote
            .save(&id, Record::new(3, in_a_minute()))
            .await
            .unwrap();
        two.inner.invalidate_all();
        two.inner.remember(fingerprint, read, Instant::now(), seen);
        assert_eq!(two.load(&id).await.unwrap().unwrap().data, 3);
        // An unrelated invalidation does not stop caching.
        let seen = two.inner.changes.load(Ordering::SeqCst);
        let read = remote.load(&id).await.unwrap().unwrap();
        two.inner
            .invalidate(&SessionId::generate().unwrap().fingerprint());
        two.inner.remember(fingerprint, read, Instant::now(), seen);
        remote
            .save(&id, Record::new(4, in_a_minute()))
            .await
            .unwrap();
        assert_eq!(two.load(&id).await.unwrap().unwrap().data, 3, "cached");
    }

    #[tokio::test]
    async fn hot_entries_are_refreshed_in_the_background() {
        let (two, remote) = store(Duration::from_millis(400));
        let id = two.create(Record::new(1, in_a_minute())).await.unwrap();
        remote
            .save(&id, Record::new(2, in_a_minute()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Past half the bound: served locally, and re-read behind the scenes.
        assert_eq!(two.load(&id).await.unwrap().unwrap().data, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(two.load(&id).await.unwrap().unwrap().data, 2);
    }

    #[tokio::test]
    async fn deletes_and_refused_saves_drop_the_local_copy() {
        let (two, remote) = store(Duration::from_secs(60));
        let id = two
            .create(Record::new(1, in_a_minute()).with_tags(["t"]))
            .await
            .unwrap();
        let other = two.create(Record::new(2, in_a_minute())).await.unwrap();
        remote.delete(&other).await.unwrap();
        assert!(
            !two.save(&other, Record::new(3, in_a_minute()))
                .await
                .unwrap()
        );
        assert!(two.load(&other).await.unwrap().is_none());
        assert_eq!(two.delete_tagged("t").await.unwrap(), 1);
        assert!(two.load(&id).await.unwrap().is_none());
        let id = two.create(Record::new(1, in_a_minute())).await.unwrap();
        two.delete(&id).await.unwrap();
        assert!(two.load(&id).await.unwrap().is_none());
        assert_eq!(two.local_len(), 0);
    }

    #[tokio::test]
    async fn expired_records_are_never_served() {
        let (two, _remote) = store(Duration::from_secs(60));
        let soon = SystemTime::now() + Duration::from_millis(100);
        let id = two.create(Record::new(1, soon)).await.unwrap();
        assert!(two.load(&id).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(two.load(&id).await.unwrap().is_none());
    }
}
