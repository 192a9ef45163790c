//! [`PostgresStore`]: session records in PostgreSQL, shared by every instance of an app.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::schema::{Dialect, MIGRATIONS, Statements, latest_version};
use super::store::sql_store;
use super::{
    SqlConfig, Write, backend, connection_broke, expires_at_ms, lock_expiry_ms, now_ms, sweep_every,
};
use crate::codec::{decode, encode};
use crate::{Error, Lease, Record, SessionId, SessionStore};

/// A [`SessionStore`] in PostgreSQL: every instance of an app pointed at the same database (and
/// table prefix) shares the sessions, with no other service to run.
///
/// The tables are in the [module docs](crate::SqlConfig) of [`SqlConfig`]; the store makes them
/// itself ([`migrate`](Self::migrate), versioned, safe to run from several instances at once).
/// Every write is one transaction: `create` writes only a fresh fingerprint, `save` only a
/// live record (a save after a delete or an expiry never brings the session back), and the
/// tag index changes in the same step. Expired rows are never returned and are swept in the
/// background ([`SqlConfig::sweep_interval`]) or by [`sweep`](Self::sweep).
///
/// When PostgreSQL is down, operations fail with [`Error::Backend`] after at most
/// [`SqlConfig::acquire_timeout`], and the pool reconnects by itself once it is back; a
/// statement that finds its connection broken (the server restarted) is retried once on a new
/// one when it is safe to repeat.
///
/// Records are serialized (`T: Serialize + DeserializeOwned`, the encoding of
/// [`RedisStore`](crate::RedisStore)): a `load` is a round trip and a decode. Put a
/// [`TwoTierStore`](crate::TwoTierStore) in front (with [`TwoTierStore::with_changes`](crate::TwoTierStore::with_changes):
/// this store is a [`ChangeFeed`](crate::ChangeFeed) through `LISTEN/NOTIFY`) to serve hot
/// sessions from memory.
///
/// Clones share the pool.
pub struct PostgresStore<T> {
    pub(super) inner: Arc<Inner>,
    _records: PhantomData<fn() -> T>,
}

pub(super) struct Inner {
    pub(super) pool: PgPool,
    sql: Statements,
    /// `create` and `save` in one statement each (see [`OneRoundTrip`]).
    one: OneRoundTrip,
    /// The `NOTIFY` channel of changes: `P` `changes`.
    pub(super) channel: String,
    config: SqlConfig,
}

impl<T> Clone for PostgresStore<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _records: PhantomData,
        }
    }
}

impl<T> fmt::Debug for PostgresStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<T> PostgresStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A store on the database at `url` (`postgres://user:password@host/database`, with
    /// `?sslmode=require` or `verify-full` for TLS) in a pool of its own, with its tables made
    /// or brought up to date ([`migrate`](Self::migrate)): fails when the database cannot be
    /// reached now, or its schema is newer than this version knows.
    ///
    /// Needs a Tokio runtime; starts the background sweep.
    pub async fn connect(url: &str, config: SqlConfig) -> Result<Self, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            // A broken connection shows as an error on its next statement, which is retried
            // once (see `retried`): no test round trip before every statement.
            .test_before_acquire(false)
            .connect_lazy(url)
            .map_err(backend)?;
        let store = Self::from_pool(pool, config)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store on the app's own pool, without contacting the database: call
    /// [`migrate`](Self::migrate) once at start-up before using it. Fails only on an unsafe
    /// [`SqlConfig::table_prefix`].
    ///
    /// Needs a Tokio runtime; starts the background sweep.
    pub fn from_pool(pool: PgPool, config: SqlConfig) -> Result<Self, Error> {
        let prefix = config.checked_prefix()?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                sql: Statements::new(Dialect::Postgres, prefix),
                one: OneRoundTrip::new(prefix),
                channel: format!("{prefix}changes"),
                config: config.clone(),
            }),
            _records: PhantomData,
        };
        if let Some(interval) = config.sweep_interval {
            tokio::spawn(sweep_every(
                interval,
                Arc::downgrade(&store.inner),
                |inner| async move { sweep(&inner).await },
            ));
        }
        Ok(store)
    }
}

impl Inner {
    /// Writes need no turn: PostgreSQL orders concurrent writers itself.
    async fn write_turn(&self) {}

    /// Tells the other instances' [`TwoTierStore`](crate::TwoTierStore)s that the record of
    /// `fingerprint` changed, when `tx` commits.
    async fn notify(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        fingerprint: &[u8],
    ) -> Result<(), sqlx::Error> {
        use base64::Engine as _;
        // What `Fingerprint::encode` makes, from the column's bytes.
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(fingerprint);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    }

    /// Instances starting at once take turns: the first migrates, the others find it done.
    async fn before_migrations(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), Error> {
        let prefix = self.config.checked_prefix()?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(super::support::advisory_key(&format!(
                "session-store migrations {prefix}"
            )))
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// `create` and `save` as one statement each: the record, its tags and (for a save) the
/// `NOTIFY`, in data-modifying `WITH` queries. One round trip instead of a transaction of five
/// (create) or seven (save); as atomic (one statement is one transaction).
#[derive(Debug)]
struct OneRoundTrip {
    /// `(fingerprint, value, tags, expires_at, tag list)` → the number of records created.
    create: String,
    /// `(fingerprint, value, tags, expires_at, now, tag list, channel, payload)` → a row when
    /// a live record was replaced.
    save: String,
}

impl OneRoundTrip {
    fn new(prefix: &str) -> Self {
        let sql = |text: &str| Dialect::Postgres.render(text, prefix);
        Self {
            create: sql("WITH created AS (\
                 INSERT INTO {p}sessions (fingerprint, value, tags, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (fingerprint) DO NOTHING \
                 RETURNING fingerprint), \
                 tagged AS (INSERT INTO {p}session_tags (tag, fingerprint) \
                 SELECT DISTINCT t, c.fingerprint FROM created c \
                 CROSS JOIN unnest($5::bytea[]) AS t \
                 ON CONFLICT (tag, fingerprint) DO NOTHING) \
                 SELECT count(*) FROM created"),
            save: sql("WITH updated AS (\
                 UPDATE {p}sessions SET value = $2, tags = $3, expires_at = $4 \
                 WHERE fingerprint = $1 AND expires_at > $5 RETURNING fingerprint), \
                 dropped AS (DELETE FROM {p}session_tags \
                 WHERE fingerprint IN (SELECT fingerprint FROM updated) AND tag <> ALL($6)), \
                 added AS (INSERT INTO {p}session_tags (tag, fingerprint) \
                 SELECT DISTINCT t, u.fingerprint FROM updated u \
                 CROSS JOIN unnest($6::bytea[]) AS t \
                 ON CONFLICT (tag, fingerprint) DO NOTHING) \
                 SELECT pg_notify($7, $8)::text FROM updated"),
        }
    }
}

impl Inner {
    async fn create_in_one(&self, write: &Write<'_>) -> Option<Result<bool, sqlx::Error>> {
        let created = sqlx::query_scalar::<_, i64>(&self.one.create)
            .bind(write.fingerprint)
            .bind(write.value)
            .bind(write.tags)
            .bind(write.expires_at)
            .bind(tag_list(write.record_tags))
            .fetch_one(&self.pool)
            .await;
        Some(created.map(|n| n == 1))
    }

    async fn save_in_one(&self, write: &Write<'_>) -> Option<Result<bool, sqlx::Error>> {
        use base64::Engine as _;
        let saved = sqlx::query(&self.one.save)
            .bind(write.fingerprint)
            .bind(write.value)
            .bind(write.tags)
            .bind(write.expires_at)
            .bind(now_ms())
            .bind(tag_list(write.record_tags))
            .bind(&self.channel)
            .bind(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(write.fingerprint))
            .fetch_all(&self.pool)
            .await;
        Some(saved.map(|rows| rows.len() == 1))
    }
}

/// The tags as the `bytea[]` the one-statement writes take.
fn tag_list(tags: &[String]) -> Vec<&[u8]> {
    tags.iter().map(String::as_bytes).collect()
}

sql_store!(PostgresStore, Postgres, PgPool, Dialect::Postgres);
