//! [`SqliteStore`]: session records in one SQLite file, for a single instance that must keep
//! its sessions across restarts without running a server.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::schema::{Dialect, MIGRATIONS, Statements, latest_version};
use super::store::sql_store;
use super::{
    SqlConfig, Write, backend, connection_broke, expires_at_ms, lock_expiry_ms, now_ms, sweep_every,
};
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

impl Inner {
    /// Writes take turns in the process: a transaction that reads, then writes, fails with
    /// SQLITE_BUSY when another one wrote in between (a test shows it).
    async fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Nothing to tell: one process uses the file.
    async fn notify(
        &self,
        _tx: &mut Transaction<'_, Sqlite>,
        _fingerprint: &[u8],
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// A record's tags are deleted with it through the foreign key: refuse a pool whose
    /// connections have foreign keys off.
    async fn before_migrations(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<(), Error> {
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **tx)
            .await
            .map_err(backend)?;
        if foreign_keys == 1 {
            Ok(())
        } else {
            Err(Error::Config(
                "the SQLite pool's connections have foreign keys off: open them with `SqliteConnectOptions::foreign_keys(true)`".into(),
            ))
        }
    }
}

impl Inner {
    /// A write is a transaction of several statements: in a file, a statement is cheap.
    async fn create_in_one(&self, _write: &Write<'_>) -> Option<Result<bool, sqlx::Error>> {
        None
    }

    /// As [`create_in_one`](Self::create_in_one).
    async fn save_in_one(&self, _write: &Write<'_>) -> Option<Result<bool, sqlx::Error>> {
        None
    }
}

sql_store!(SqliteStore, Sqlite, SqlitePool, Dialect::Sqlite);
