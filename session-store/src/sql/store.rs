//! What [`PostgresStore`](crate::PostgresStore) and [`SqliteStore`](crate::SqliteStore) do,
//! written once: `sql_store!` expands to a store's `migrate`, `sweep`, `pool`, `config` and its
//! whole `SessionStore` impl.
//!
//! A macro and not a generic type: the two stores run the same statements (`schema.rs`) on
//! different sqlx drivers, and sqlx's executor traits, generic over the driver, make every
//! future's `Send` bound unprovable. The differences live in each backend's file, as three
//! methods of its `Inner` (beside `pool`, `sql` and `config`):
//!
//! - `write_turn()`: what a write holds while it runs (SQLite: the in-process writer mutex;
//!   PostgreSQL: nothing, the database orders writers itself);
//! - `notify(tx, fingerprint)`: tell other instances the record changed, when `tx` commits
//!   (PostgreSQL: `NOTIFY`; SQLite: nothing, one process);
//! - `before_migrations(tx)`: run first in the migrations' transaction (PostgreSQL: an
//!   advisory lock, so instances starting at once take turns; SQLite: check foreign keys);
//! - `create_in_one(write)` and `save_in_one(write)`: the write as one statement, one round
//!   trip, where the database can (PostgreSQL, with data-modifying `WITH` queries); `None`
//!   runs the transaction of several statements (SQLite, where a statement costs no network).

macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $dialect:expr) => {
        impl<T> $store<T> {
            /// Makes the store's tables, or brings them up to the newest schema this version
            /// knows; does nothing when they are. Each migration is one transaction, and
            /// several instances starting at once take turns. Fails with
            /// [`Error::Config`](crate::Error::Config) when the database's schema is newer than
            /// this version knows (a newer release migrated it).
            pub async fn migrate(&self) -> Result<(), Error> {
                let inner = &self.inner;
                let prefix = inner.config.checked_prefix()?;
                let _turn = inner.write_turn().await;
                let mut tx = inner.pool.begin().await.map_err(backend)?;
                inner.before_migrations(&mut tx).await?;
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
                    for statement in Statements::migration($dialect, prefix, statements) {
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

            /// Deletes the expired rows (records and locks) now, in batches of
            /// [`SqlConfig::SWEEP_BATCH`]; returns how many records it deleted. The background
            /// sweep ([`SqlConfig::sweep_interval`]) calls it.
            pub async fn sweep(&self) -> Result<u64, Error> {
                sweep(&self.inner).await
            }

            /// The pool the store uses.
            pub fn pool(&self) -> &$pool {
                &self.inner.pool
            }

            /// The configuration this store was opened with.
            pub fn config(&self) -> &SqlConfig {
                &self.inner.config
            }

            /// Runs `operation` once more on another connection when its connection turned
            /// out to be broken (the server restarted). Only for statements that are safe to
            /// repeat.
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

            async fn write_tags(
                &self,
                tx: &mut sqlx::Transaction<'_, $db>,
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

            async fn create_once(
                &self,
                fingerprint: &[u8],
                value: &[u8],
                tags: &[u8],
                record_tags: &[String],
                expires_at: i64,
            ) -> Result<bool, sqlx::Error> {
                let write = Write {
                    fingerprint,
                    value,
                    tags,
                    record_tags,
                    expires_at,
                };
                if let Some(created) = self.inner.create_in_one(&write).await {
                    return created;
                }
                let _turn = self.inner.write_turn().await;
                let mut tx = self.inner.pool.begin().await?;
                let created = sqlx::query(&self.inner.sql.insert)
                    .bind(fingerprint)
                    .bind(value)
                    .bind(tags)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if created == 1 {
                    self.write_tags(&mut tx, fingerprint, record_tags).await?;
                    tx.commit().await?;
                }
                Ok(created == 1)
            }

            async fn save_once(
                &self,
                fingerprint: &[u8],
                value: &[u8],
                tags: &[u8],
                record_tags: &[String],
                expires_at: i64,
            ) -> Result<bool, sqlx::Error> {
                let write = Write {
                    fingerprint,
                    value,
                    tags,
                    record_tags,
                    expires_at,
                };
                if let Some(saved) = self.inner.save_in_one(&write).await {
                    return saved;
                }
                let sql = &self.inner.sql;
                let _turn = self.inner.write_turn().await;
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
                self.inner.notify(&mut tx, fingerprint).await?;
                tx.commit().await?;
                Ok(true)
            }

            /// Deletes the record of `fingerprint`; whether a live one was there.
            async fn delete_once(&self, fingerprint: &[u8]) -> Result<bool, sqlx::Error> {
                let _turn = self.inner.write_turn().await;
                let mut tx = self.inner.pool.begin().await?;
                let deleted: Option<i64> = sqlx::query_scalar(&self.inner.sql.delete)
                    .bind(fingerprint)
                    .fetch_optional(&mut *tx)
                    .await?;
                if deleted.is_some() {
                    self.inner.notify(&mut tx, fingerprint).await?;
                }
                tx.commit().await?;
                Ok(deleted.is_some_and(|expires_at| expires_at > now_ms()))
            }

            async fn delete_tagged_once(&self, tag: &str) -> Result<u64, sqlx::Error> {
                let _turn = self.inner.write_turn().await;
                let mut tx = self.inner.pool.begin().await?;
                let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(&self.inner.sql.delete_tagged)
                    .bind(tag.as_bytes())
                    .fetch_all(&mut *tx)
                    .await?;
                let now = now_ms();
                for (fingerprint, _) in &rows {
                    self.inner.notify(&mut tx, fingerprint).await?;
                }
                tx.commit().await?;
                Ok(rows.iter().filter(|(_, expires_at)| *expires_at > now).count() as u64)
            }

            async fn trim_tagged_once(
                &self,
                tag: &str,
                keep: usize,
                spare: &[u8],
            ) -> Result<u64, sqlx::Error> {
                let sql = &self.inner.sql;
                let now = now_ms();
                let _turn = self.inner.write_turn().await;
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
                    self.inner.notify(&mut tx, fingerprint).await?;
                }
                tx.commit().await?;
                Ok(deleted.len() as u64)
            }
        }

        #[async_trait::async_trait]
        impl<T> SessionStore<T> for $store<T>
        where
            T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
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
                    // Not retried: a create that did reach the database would leave a second,
                    // unreachable row behind. With 256 random bits a collision (`false`) is not
                    // expected to ever happen.
                    let created = self
                        .create_once(fingerprint.as_bytes(), &value, &tags, &record.tags, expires_at)
                        .await
                        .map_err(backend)?;
                    if created {
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
                    // Saving an expired record ends the session: same as deleting it, but
                    // tells whether there was one.
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

            async fn trim_tagged(
                &self,
                tag: &str,
                keep: usize,
                spare: &SessionId,
            ) -> Result<u64, Error> {
                let spare = spare.fingerprint();
                self.retried(|| self.trim_tagged_once(tag, keep, spare.as_bytes()))
                    .await
            }

            async fn list_tagged(
                &self,
                tag: &str,
                limit: usize,
            ) -> Result<Vec<Arc<Record<T>>>, Error> {
                let sql = &self.inner.sql;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows: Vec<(Vec<u8>, Vec<u8>)> = self
                    .retried(|| {
                        sqlx::query_as(&sql.list_tagged)
                            .bind(tag.as_bytes())
                            .bind(now_ms())
                            .bind(limit)
                            .fetch_all(&self.inner.pool)
                    })
                    .await?;
                let now = SystemTime::now();
                let mut records = Vec::with_capacity(rows.len());
                for (value, tags) in rows {
                    let record = decode(&value, Some(&tags))?;
                    // A row lives up to a millisecond longer than its record.
                    if !record.is_expired_at(now) {
                        records.push(Arc::new(record));
                    }
                }
                Ok(records)
            }

            async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
                let lease = Lease::generate()?;
                let fingerprint = id.fingerprint();
                let _turn = self.inner.write_turn().await;
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
                let _turn = self.inner.write_turn().await;
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

        /// Deletes expired records and locks, a batch at a time; how many records it deleted.
        async fn sweep(inner: &Inner) -> Result<u64, Error> {
            let batch = i64::from(SqlConfig::SWEEP_BATCH);
            let mut swept = 0;
            for (statement, counted) in [
                (&inner.sql.sweep_sessions, true),
                (&inner.sql.sweep_locks, false),
            ] {
                loop {
                    let deleted = {
                        let _turn = inner.write_turn().await;
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
    };
}

pub(crate) use sql_store;
