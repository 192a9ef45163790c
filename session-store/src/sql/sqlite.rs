//! [`SqliteStore`]: session records in one SQLite file, for a single instance that must keep
//! its sessions across restarts without running a server.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::schema::{Dialect, MIGRATIONS, Statements, latest_version};
use super::{SqlConfig, backend, expires_at_ms, lock_expiry_ms, now_ms, sweep_every};
use crate::codec::{decode, encode};
use crate::{Error, Lease, Record, SessionId, SessionStore};

/// How long a statement waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`SessionStore`] in one SQLite file: sessions survive a restart of the app, with no
/// server to run. For one instance of an app (several instances share sessions through
/// [`PostgresStore`](crate::PostgresStore) or [`RedisStore`](crate::RedisStore)).
///
/// The tables are those of [`PostgresStore`](crate::PostgresStore) (see [`SqlConfig`]),
/// made by the store ([`migrate`](Self::migrate)). The store opens the file in WAL mode
/// (readers never wait for the writer) with foreign keys on (a record's tags are deleted
/// with it). Writes take turns in the process (one at a time, as SQLite writes anyway), so
/// no transaction of the store ever fails on a lock another one holds; another process
/// writing the same file makes a statement wait up to 5 s.
///
/// Records are serialized as in [`RedisStore`](crate::RedisStore); a `load` is a read of the
/// file (from SQLite's page cache when hot) and a decode, no network.
///
/// Clones share the pool.
pub struct SqliteStore<T> {
    inner: Arc<Inner>,
    _records: PhantomData<fn() -> T>,
}

struct Inner {
    pool: SqlitePool,
    sql: Statements,
    /// Held by every write transaction.
    writer: Mutex<()>,
    config: SqlConfig,
}

impl<T> Clone for SqliteStore<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _records: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SqliteStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<T> SqliteStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A store in the file at `url` (`sqlite://path/to/sessions.db`, or `sqlite:sessions.db`
    /// relative to the working directory), created when missing, with its tables made or
    /// brought up to date ([`migrate`](Self::migrate)).
    ///
    /// Needs a Tokio runtime; starts the background sweep.
    pub async fn connect(url: &str, config: SqlConfig) -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(backend)?;
        let store = Self::from_pool(pool, config)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store on the app's own pool (whose connections must have foreign keys on, sqlx's
    /// default: [`migrate`](Self::migrate) checks), without touching the file: call
    /// `migrate` once at start-up before using it. Fails only on an unsafe
    /// [`SqlConfig::table_prefix`].
    ///
    /// Needs a Tokio runtime; starts the background sweep.
    pub fn from_pool(pool: SqlitePool, config: SqlConfig) -> Result<Self, Error> {
        let prefix = config.checked_prefix()?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                sql: Statements::new(Dialect::Sqlite, prefix),
                writer: Mutex::new(()),
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

impl<T> SqliteStore<T> {
    /// Makes the store's tables, or brings them up to the newest schema this version knows;
    /// does nothing when they are. Each migration is one transaction. Fails with
    /// [`Error::Config`] when the file's schema is newer than this version knows, or the
    /// pool's connections have foreign keys off.
    pub async fn migrate(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let prefix = inner.config.checked_prefix()?;
        let (_turn, mut tx) = self.begin_write().await.map_err(backend)?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if foreign_keys != 1 {
            return Err(Error::Config(
                "the SQLite pool's connections have foreign keys off: open them with `SqliteConnectOptions::foreign_keys(true)`".into(),
            ));
        }
        sqlx::query(&inner.sql.migrations_table)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let applied: i64 = sqlx::query_scalar(&inner.sql.applied_version)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if applied > latest_version() {
            return Err(Error::Config(format!(
                "the session tables `{prefix}*` are at schema version {applied}; this version of session-store knows up to {}",
                latest_version()
            )));
        }
        for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            for statement in Statements::migration(Dialect::Sqlite, prefix, statements) {
                sqlx::query(&statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            sqlx::query(&inner.sql.record_migration)
                .bind(version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tracing::info!(version, prefix, "session tables migrated");
        }
        tx.commit().await.map_err(backend)
    }

    /// Deletes the expired rows (records and locks) now, in batches; returns how many
    /// records it deleted. The background sweep calls it.
    pub async fn sweep(&self) -> Result<u64, Error> {
        sweep(&self.inner).await
    }

    /// The pool the store uses.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &SqlConfig {
        &self.inner.config
    }

    /// A write transaction, and the turn that keeps the store's other writes out until both
    /// are dropped.
    async fn begin_write(
        &self,
    ) -> Result<(MutexGuard<'_, ()>, Transaction<'static, Sqlite>), sqlx::Error> {
        let turn = self.inner.writer.lock().await;
        let tx = self.inner.pool.begin().await?;
        Ok((turn, tx))
    }

    async fn write_tags(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        fingerprint: &[u8],
        tags: &[String],
    ) -> Result<(), sqlx::Error> {
        for tag in tags {
            sqlx::query(&self.inner.sql.insert_tag)
                .bind(tag.as_bytes())
                .bind(fingerprint)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Deletes the record of `fingerprint`; whether a live one was there.
    async fn delete_existing(&self, fingerprint: &[u8]) -> Result<bool, sqlx::Error> {
        let _turn = self.inner.writer.lock().await;
        let deleted: Option<i64> = sqlx::query_scalar(&self.inner.sql.delete)
            .bind(fingerprint)
            .fetch_optional(&self.inner.pool)
            .await?;
        Ok(deleted.is_some_and(|expires_at| expires_at > now_ms()))
    }
}

#[async_trait]
impl<T> SessionStore<T> for SqliteStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error> {
        let (value, tags) = encode(&record)?;
        let expires_at = expires_at_ms(record.expires_at);
        loop {
            let id = SessionId::generate()?;
            if record.is_expired_at(SystemTime::now()) {
                // Accepted, never returned: nothing to write.
                return Ok(id);
            }
            let fingerprint = id.fingerprint();
            let fingerprint = fingerprint.as_bytes().as_slice();
            let (_turn, mut tx) = self.begin_write().await.map_err(backend)?;
            let created = sqlx::query(&self.inner.sql.insert)
                .bind(fingerprint)
                .bind(&value)
                .bind(&tags)
                .bind(expires_at)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
            // With 256 random bits a collision (0) is not expected to ever happen.
            if created == 1 {
                self.write_tags(&mut tx, fingerprint, &record.tags)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                return Ok(id);
            }
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        let fingerprint = id.fingerprint();
        let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(&self.inner.sql.load)
            .bind(fingerprint.as_bytes().as_slice())
            .bind(now_ms())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(backend)?;
        let Some((value, tags)) = row else {
            return Ok(None);
        };
        let record = decode(&value, Some(&tags))?;
        // The row lives up to a millisecond longer than the record.
        Ok((!record.is_expired_at(SystemTime::now())).then(|| Arc::new(record)))
    }

    async fn save(&self, id: &SessionId, record: Record<T>) -> Result<bool, Error> {
        let fingerprint = id.fingerprint();
        let fingerprint = fingerprint.as_bytes().as_slice();
        if record.is_expired_at(SystemTime::now()) {
            // Saving an expired record ends the session: same as deleting it, but tells
            // whether there was one.
            return self.delete_existing(fingerprint).await.map_err(backend);
        }
        let (value, tags) = encode(&record)?;
        let sql = &self.inner.sql;
        let (_turn, mut tx) = self.begin_write().await.map_err(backend)?;
        let updated = sqlx::query(&sql.update)
            .bind(fingerprint)
            .bind(&value)
            .bind(&tags)
            .bind(expires_at_ms(record.expires_at))
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query(&sql.delete_tags_of)
            .bind(fingerprint)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        self.write_tags(&mut tx, fingerprint, &record.tags)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let fingerprint = id.fingerprint();
        self.delete_existing(fingerprint.as_bytes())
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        let _turn = self.inner.writer.lock().await;
        let rows = sqlx::query(&self.inner.sql.delete_tagged)
            .bind(tag.as_bytes())
            .fetch_all(&self.inner.pool)
            .await
            .map_err(backend)?;
        let now = now_ms();
        let mut live = 0;
        for row in &rows {
            let expires_at: i64 = row.try_get(1).map_err(backend)?;
            live += u64::from(expires_at > now);
        }
        Ok(live)
    }

    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        let spare = spare.fingerprint();
        let spare = spare.as_bytes().as_slice();
        let sql = &self.inner.sql;
        let now = now_ms();
        let (_turn, mut tx) = self.begin_write().await.map_err(backend)?;
        let spared: i64 = sqlx::query_scalar(&sql.spare_tagged)
            .bind(tag.as_bytes())
            .bind(spare)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let keep_others = i64::try_from(keep)
            .unwrap_or(i64::MAX)
            .saturating_sub(spared)
            .max(0);
        let deleted = sqlx::query(&sql.trim_tagged)
            .bind(tag.as_bytes())
            .bind(spare)
            .bind(now)
            .bind(keep_others)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .len();
        tx.commit().await.map_err(backend)?;
        Ok(deleted as u64)
    }

    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        let lease = Lease::generate()?;
        let fingerprint = id.fingerprint();
        let _turn = self.inner.writer.lock().await;
        let taken = sqlx::query(&self.inner.sql.try_lock)
            .bind(fingerprint.as_bytes().as_slice())
            .bind(lease.as_str())
            .bind(lock_expiry_ms(ttl))
            .bind(now_ms())
            .execute(&self.inner.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok((taken == 1).then_some(lease))
    }

    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        let fingerprint = id.fingerprint();
        let _turn = self.inner.writer.lock().await;
        sqlx::query(&self.inner.sql.unlock)
            .bind(fingerprint.as_bytes().as_slice())
            .bind(lease.as_str())
            .execute(&self.inner.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

async fn sweep(inner: &Inner) -> Result<u64, Error> {
    let batch = i64::from(SqlConfig::SWEEP_BATCH);
    let mut swept = 0;
    for (statement, counted) in [
        (&inner.sql.sweep_sessions, true),
        (&inner.sql.sweep_locks, false),
    ] {
        loop {
            let deleted = {
                let _turn = inner.writer.lock().await;
                sqlx::query(statement)
                    .bind(now_ms())
                    .bind(batch)
                    .execute(&inner.pool)
                    .await
                    .map_err(backend)?
                    .rows_affected()
            };
            if counted {
                swept += deleted;
            }
            if deleted < SqlConfig::SWEEP_BATCH.into() {
                break;
            }
        }
    }
    Ok(swept)
}
