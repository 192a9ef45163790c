//! [`PostgresStore`]: session records in PostgreSQL, shared by every instance of an app.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _, Transaction};

use super::schema::{Dialect, MIGRATIONS, Statements, latest_version};
use super::{
    SqlConfig, backend, connection_broke, expires_at_ms, lock_expiry_ms, now_ms, sweep_every,
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

impl<T> PostgresStore<T> {
    /// Makes the store's tables, or brings them up to the newest schema this version knows;
    /// does nothing when they are. Several instances starting at once take turns (an
    /// advisory lock), and each migration is one transaction. Fails with [`Error::Config`] when
    /// the database's schema is newer than this version knows (a newer release migrated it).
    pub async fn migrate(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let prefix = inner.config.checked_prefix()?;
        let mut tx = inner.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(advisory_key(prefix))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
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
            for statement in Statements::migration(Dialect::Postgres, prefix, statements) {
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
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &SqlConfig {
        &self.inner.config
    }

    /// Runs `operation` once more on another connection when its connection turned out to be
    /// broken (the server restarted). Only for statements that are safe to repeat.
    async fn retried<R, F, Fut>(&self, mut operation: F) -> Result<R, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, sqlx::Error>>,
    {
        match operation().await {
            Err(e) if connection_broke(&e) => operation().await.map_err(backend),
            outcome => outcome.map_err(backend),
        }
    }

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
            .bind(&self.inner.channel)
            .bind(payload)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    }

    async fn write_tags(
        &self,
        tx: &mut Transaction<'_, Postgres>,
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

    async fn save_once(
        &self,
        fingerprint: &[u8],
        value: &[u8],
        tags: &[u8],
        record_tags: &[String],
        expires_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let sql = &self.inner.sql;
        let mut tx = self.inner.pool.begin().await?;
        let updated = sqlx::query(&sql.update)
            .bind(fingerprint)
            .bind(value)
            .bind(tags)
            .bind(expires_at)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query(&sql.delete_tags_of)
            .bind(fingerprint)
            .execute(&mut *tx)
            .await?;
        self.write_tags(&mut tx, fingerprint, record_tags).await?;
        self.notify(&mut tx, fingerprint).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes the record of `fingerprint`; whether a live one was there.
    async fn delete_once(&self, fingerprint: &[u8]) -> Result<bool, sqlx::Error> {
        let mut tx = self.inner.pool.begin().await?;
        let deleted: Option<i64> = sqlx::query_scalar(&self.inner.sql.delete)
            .bind(fingerprint)
            .fetch_optional(&mut *tx)
            .await?;
        if deleted.is_some() {
            self.notify(&mut tx, fingerprint).await?;
        }
        tx.commit().await?;
        Ok(deleted.is_some_and(|expires_at| expires_at > now_ms()))
    }

    async fn delete_tagged_once(&self, tag: &str) -> Result<u64, sqlx::Error> {
        let mut tx = self.inner.pool.begin().await?;
        let rows = sqlx::query(&self.inner.sql.delete_tagged)
            .bind(tag.as_bytes())
            .fetch_all(&mut *tx)
            .await?;
        let now = now_ms();
        let mut live = 0;
        for row in &rows {
            let fingerprint: Vec<u8> = row.try_get(0)?;
            let expires_at: i64 = row.try_get(1)?;
            live += u64::from(expires_at > now);
            self.notify(&mut tx, &fingerprint).await?;
        }
        tx.commit().await?;
        Ok(live)
    }

    async fn trim_tagged_once(
        &self,
        tag: &str,
        keep: usize,
        spare: &[u8],
    ) -> Result<u64, sqlx::Error> {
        let sql = &self.inner.sql;
        let now = now_ms();
        let mut tx = self.inner.pool.begin().await?;
        let spared: i64 = sqlx::query_scalar(&sql.spare_tagged)
            .bind(tag.as_bytes())
            .bind(spare)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let keep_others = i64::try_from(keep)
            .unwrap_or(i64::MAX)
            .saturating_sub(spared)
            .max(0);
        let deleted: Vec<Vec<u8>> = sqlx::query_scalar(&sql.trim_tagged)
            .bind(tag.as_bytes())
            .bind(spare)
            .bind(now)
            .bind(keep_others)
            .fetch_all(&mut *tx)
            .await?;
        for fingerprint in &deleted {
            self.notify(&mut tx, fingerprint).await?;
        }
        tx.commit().await?;
        Ok(deleted.len() as u64)
    }
}

#[async_trait]
impl<T> SessionStore<T> for PostgresStore<T>
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
            // Not retried: a create that did reach the database would leave a second,
            // unreachable row behind.
            let mut tx = self.inner.pool.begin().await.map_err(backend)?;
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
        let sql = &self.inner.sql;
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .retried(|| {
                sqlx::query_as(&sql.load)
                    .bind(fingerprint.as_bytes().as_slice())
                    .bind(now_ms())
                    .fetch_optional(&self.inner.pool)
            })
            .await?;
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
            return self.retried(|| self.delete_once(fingerprint)).await;
        }
        let (value, tags) = encode(&record)?;
        let expires_at = expires_at_ms(record.expires_at);
        self.retried(|| self.save_once(fingerprint, &value, &tags, &record.tags, expires_at))
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let fingerprint = id.fingerprint();
        self.retried(|| self.delete_once(fingerprint.as_bytes()))
            .await
            .map(|_| ())
    }

    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        self.retried(|| self.delete_tagged_once(tag)).await
    }

    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        let spare = spare.fingerprint();
        self.retried(|| self.trim_tagged_once(tag, keep, spare.as_bytes()))
            .await
    }

    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        let lease = Lease::generate()?;
        let fingerprint = id.fingerprint();
        // Not retried: a lock taken by a statement whose answer was lost would look held.
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
        let sql = &self.inner.sql;
        self.retried(|| {
            sqlx::query(&sql.unlock)
                .bind(fingerprint.as_bytes().as_slice())
                .bind(lease.as_str())
                .execute(&self.inner.pool)
        })
        .await
        .map(|_| ())
    }
}

/// The key of the advisory lock migrations take: from the prefix, so two apps with their own
/// prefixes in one database do not wait for each other.
fn advisory_key(prefix: &str) -> i64 {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(format!("session-store migrations {prefix}"));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

async fn sweep(inner: &Inner) -> Result<u64, Error> {
    let batch = i64::from(SqlConfig::SWEEP_BATCH);
    let mut swept = 0;
    for (statement, counted) in [
        (&inner.sql.sweep_sessions, true),
        (&inner.sql.sweep_locks, false),
    ] {
        loop {
            let deleted = sqlx::query(statement)
                .bind(now_ms())
                .bind(batch)
                .execute(&inner.pool)
                .await
                .map_err(backend)?
                .rows_affected();
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
