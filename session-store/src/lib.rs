//! An async session store: the [`SessionStore`] trait, the [`SessionId`] type and the
//! [`MemoryStore`] backend (a sharded table of its own, per-record expiry, no serialization on
//! the hot path).
//!
//! The store knows nothing about OpenID Connect: it keeps an opaque record `T` per session id
//! until the record's expiry. Every backend runs the same [`conformance`] suite.
//!
//! For several instances of an app: `RedisStore` (feature `redis`) keeps records in Redis, and
//! `TwoTierStore` (feature `two-tier`, implied by `redis`) serves hot sessions from memory in
//! front of it, with a bounded staleness and pub/sub invalidation. Apps with a database and no
//! Redis: `PostgresStore` (feature `postgres`; `LISTEN/NOTIFY` for the two tiers) or, for a
//! single instance, `SqliteStore` (feature `sqlite`, one file).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use session_store::{MemoryStore, Record, SessionStore};
//!
//! # tokio_test_block_on(async {
//! let store = MemoryStore::<String>::new();
//! let id = store.create(Record::new("alice".to_string(), SystemTime::now() + Duration::from_secs(60))).await?;
//! let record = store.load(&id).await?.expect("just created");
//! assert_eq!(record.data, "alice");
//! store.delete(&id).await?;
//! assert!(store.load(&id).await?.is_none());
//! # Ok::<(), session_store::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
mod codec;
mod id;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "two-tier")]
mod two_tier;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(all(feature = "conformance", feature = "postgres"))]
pub mod postgres_server;
#[cfg(all(feature = "conformance", feature = "redis"))]
pub mod redis_cluster;
#[cfg(all(feature = "conformance", feature = "redis"))]
pub mod redis_server;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub use id::{Fingerprint, SessionId};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_store::{RedisConfig, RedisStore};
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::SqlConfig;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
/// Pieces of the SQL stores shared with oidc-layer's `SqlAccounts`: not a stable API.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[doc(hidden)]
pub use sql::support as sql_support;
/// The sqlx this crate's SQL stores are built on (pools for `from_pool`, queries in tests).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sqlx;
/// The Redis record codec, for the fuzz targets in `fuzz/`: not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::redis_store::{decode_record, encode_record};
}
#[cfg(feature = "two-tier")]
pub use two_tier::{ChangeFeed, Invalidate, TwoTierConfig, TwoTierStore};

/// One stored session: the application's data, the instant it stops being valid, and the tags
/// it can be found (and deleted) by.
///
/// `#[non_exhaustive]`: build one with [`Record::new`] (and [`Record::with_tags`]), so that
/// a field added later breaks no backend.
///
/// Laid out in this order (`repr(C)`): a lookup reads `expires_at` and the start of `data`
/// right after the reference count of the `Arc` it is kept in, on the same cache line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[repr(C)]
pub struct Record<T> {
    /// After this instant the record is gone: `load` returns `None` and backends may drop it.
    pub expires_at: SystemTime,
    /// The application's session data (opaque to the store).
    pub data: T,
    /// Keys that group sessions, for [`SessionStore::delete_tagged`]: e.g. the provider's
    /// session id or the user's subject, so a back-channel logout ends every session of it.
    /// Opaque to the store; a save replaces them.
    pub tags: Vec<String>,
}

impl<T> Record<T> {
    /// A record that expires at `expires_at`, without tags.
    pub fn new(data: T, expires_at: SystemTime) -> Self {
        Self {
            data,
            expires_at,
            tags: Vec::new(),
        }
    }

    /// The same record, findable by `tags` (see [`SessionStore::delete_tagged`]).
    #[must_use]
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the record has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }
}

/// Proof of holding a session's lock (see [`SessionStore::try_lock`]): 128 random bits only
/// the holder knows, so that unlocking a lock that already expired and was taken by someone
/// else releases nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease(String);

impl Lease {
    /// A fresh lease from the operating system's random number generator.
    pub fn generate() -> Result<Self, Error> {
        use base64::Engine as _;
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|err| Error::Random(err.to_string()))?;
        Ok(Self(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// The lease as text (22 characters of base64url), for backends that store it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lease(..)")
    }
}

/// Why a store operation failed. Never contains session data or a full session id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system's random number generator failed.
    #[error("the random number generator failed: {0}")]
    Random(String),
    /// The backend (network, server, ...) failed; the operation may succeed when retried.
    #[error("session backend unavailable: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store's configuration is invalid (e.g. an unsafe SQL table prefix), or the
    /// database's schema is newer than this version of the store knows.
    #[error("session store misconfigured: {0}")]
    Config(String),
    /// A record could not be encoded or decoded by a backend that serializes.
    #[error("session record could not be encoded or decoded: {0}")]
    Codec(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The async store of session records, keyed by [`SessionId`].
///
/// Implementations must be safe to share between tasks and must pass the
/// [`conformance`] suite. A record whose `expires_at` has passed is never returned.
#[async_trait]
pub trait SessionStore<T>: Send + Sync + 'static
where
    T: Send + Sync + 'static,
{
    /// Stores `record` under a fresh random id and returns that id. Never overwrites
    /// an existing record.
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error>;

    /// The record stored under `id`, or `None` when the id is unknown, deleted or expired.
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error>;

    /// [`load`](Self::load) when the answer needs no waiting: `Some(answer)` from memory (a
    /// [`MemoryStore`], a [`TwoTierStore`]'s fresh local copy), `None`
    /// when it takes `load` (a round trip). Callers on the request path try it first: a hit
    /// then costs no boxed future. When `Some`, it must be what `load` would answer.
    ///
    /// The default is `None`: right for every store that cannot answer from memory.
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Arc<Record<T>>>, Error>> {
        let _ = id;
        None
    }

    /// Like [`load`](Self::load), but straight from the authoritative tier: a store that
    /// caches (a [`TwoTierStore`] may answer `load` with a copy up to its
    /// staleness bound old) reads its remote tier. For decisions that must see what another
    /// instance just wrote, e.g. before and after a refresh with rotating refresh tokens.
    ///
    /// The default calls `load`: right for every store that does not cache.
    async fn load_fresh(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        self.load(id).await
    }

    /// Replaces the record stored under `id`. Returns `false` and writes nothing when the id is
    /// unknown, deleted or expired (a save never resurrects a session that was logged out).
    async fn save(&self, id: &SessionId, record: Record<T>) -> Result<bool, Error>;

    /// Deletes the record stored under `id`; deleting an unknown id is not an error.
    async fn delete(&self, id: &SessionId) -> Result<(), Error>;

    /// Deletes every record whose [`Record::tags`] contain `tag` (as last saved) and returns how
    /// many live records it deleted. Records without the tag are untouched; an unknown tag
    /// deletes nothing.
    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error>;

    /// Bounds how many live records carry `tag` (as last saved): keeps `spare` (if it carries
    /// the tag) and, of the others, those that expire last, `keep` records in all, and deletes
    /// the rest; returns how many live records it deleted. For a cap on sessions per user:
    /// tag each session with its user, and after creating one, trim to the cap sparing it;
    /// the sessions ending first (the oldest, or with an idle timeout the least recently used)
    /// go. Records without the tag are untouched; `spare` is never deleted.
    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error>;

    /// The live records carrying `tag` (as last saved), those that expire last first, at most
    /// `limit` of them: for a page listing a user's sessions (tag each session with its user).
    /// Expired records are never returned; an unknown tag gives an empty list.
    ///
    /// The records come without their ids (a store keys them by the id's fingerprint and
    /// never knows the id): to act on one of them, give each record a tag of its own and
    /// [`delete_tagged`](Self::delete_tagged) it. The work grows with the records carrying the
    /// tag, as for `delete_tagged`; a store that caches reads its authoritative tier.
    async fn list_tagged(&self, tag: &str, limit: usize) -> Result<Vec<Arc<Record<T>>>, Error>;

    /// Takes the lock of session `id` for at most `ttl`: `Some(lease)` when taken, `None` when
    /// someone holds it. Every process sharing the store sees the same lock, so work on a
    /// session that must not run twice at once runs in one instance: redeeming a rotating
    /// refresh token, which a provider that detects reuse would otherwise take for a stolen
    /// token (revoking the whole grant).
    ///
    /// The lock is independent of the record (it needs none). It ends at
    /// [`unlock`](Self::unlock) or after `ttl`, whichever comes first, so a holder that died
    /// blocks the others for at most `ttl`.
    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error>;

    /// Releases the lock of `id` if `lease` still holds it; does nothing otherwise (the lock
    /// expired, and perhaps someone else took it).
    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error>;
}

#[async_trait]
impl<T, S> SessionStore<T> for Arc<S>
where
    T: Send + Sync + 'static,
    S: SessionStore<T> + ?Sized,
{
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error> {
        (**self).create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        (**self).load(id).await
    }
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Arc<Record<T>>>, Error>> {
        (**self).load_now(id)
    }
    async fn load_fresh(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        (**self).load_fresh(id).await
    }
    async fn save(&self, id: &SessionId, record: Record<T>) -> Result<bool, Error> {
        (**self).save(id, record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        (**self).delete(id).await
    }
    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        (**self).delete_tagged(tag).await
    }
    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        (**self).trim_tagged(tag, keep, spare).await
    }
    async fn list_tagged(&self, tag: &str, limit: usize) -> Result<Vec<Arc<Record<T>>>, Error> {
        (**self).list_tagged(tag, limit).await
    }
    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        (**self).try_lock(id, ttl).await
    }
    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        (**self).unlock(id, lease).await
    }
}

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
