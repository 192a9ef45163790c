//! The SQL stores: [`PostgresStore`](crate::PostgresStore) (feature `postgres`) and
//! [`SqliteStore`](crate::SqliteStore) (feature `sqlite`), on sqlx.
//!
//! Beside the stores: [`SqlConfig`] (here), `schema` (the tables, their versioned migrations and
//! every statement, in both dialects, written once), `store` (what both stores do, written
//! once as a macro each store's file expands with its own three hooks) and, for PostgreSQL,
//! `feed` (the `ChangeFeed` over `LISTEN/NOTIFY`).
//!
//! # Tables
//!
//! With the table prefix `P` (default `oidc_layer_`):
//!
//! | table | what |
//! |---|---|
//! | `P` `sessions` | one row a record: `fingerprint` (the id's SHA-256, primary key), `value` (the record, encoded as in Redis: format byte + JSON with the exact expiry), `tags` (JSON array), `expires_at` (milliseconds since the epoch, rounded up; indexed for the sweep). |
//! | `P` `session_tags` | `(tag, fingerprint)`, primary key in that order (finding a tag's sessions is an index range), deleted with their session (`ON DELETE CASCADE`). |
//! | `P` `session_locks` | `fingerprint`, `lease`, `expires_at`: the locks of [`SessionStore::try_lock`](crate::SessionStore::try_lock). |
//! | `P` `schema_migrations` | the migrations applied, by version. |
//!
//! Rows hold the session id's fingerprint, never the id: reading the database gives nobody a
//! session. A row whose `expires_at` has passed is never returned, and the sweep deletes it.

#[cfg(feature = "postgres")]
mod feed;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
pub mod support;

pub(crate) use support::{connection_broke, now_ms};

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::Error;

/// Settings of a [`PostgresStore`](crate::PostgresStore) or [`SqliteStore`](crate::SqliteStore).
#[derive(Debug, Clone)]
pub struct SqlConfig {
    pub(crate) table_prefix: String,
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
}

impl SqlConfig {
    /// The default table prefix.
    pub const DEFAULT_TABLE_PREFIX: &'static str = "oidc_layer_";
    /// The default interval of the background sweep of expired rows.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(300);
    /// How many rows one sweep statement deletes at most: a sweep never holds long locks.
    pub const SWEEP_BATCH: u32 = 1000;

    /// Defaults: tables `oidc_layer_*`, a sweep every 5 minutes, at most 10 connections, a
    /// request waits at most 3 s for one (then fails, and the user sees the "try again" page).
    pub fn new() -> Self {
        Self {
            table_prefix: Self::DEFAULT_TABLE_PREFIX.to_owned(),
            sweep_interval: Some(Self::DEFAULT_SWEEP_INTERVAL),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }

    /// The prefix of the store's table names (and of its `NOTIFY` channel), for apps whose
    /// own tables share the database: lowercase ASCII letters, digits and `_`, starting with a
    /// letter, at most 32 characters ([`Error::Config`] otherwise, when the store opens).
    #[must_use]
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }

    /// How often a background task deletes expired rows (sessions and locks), in batches of
    /// [`SWEEP_BATCH`](Self::SWEEP_BATCH); `None` turns it off (call `sweep()` yourself, e.g.
    /// from a cron job). Expired rows are never returned either way: the sweep only keeps the
    /// tables small.
    #[must_use]
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// At most this many connections in the pool the store opens (default 10; ignored by
    /// `from_pool`, whose pool is the app's).
    #[must_use]
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a request waits for a connection of the pool the store opens (default 3 s)
    /// before it fails with [`Error::Backend`]: when the database is down, requests fail this
    /// fast instead of hanging.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The prefix, checked: it goes into table names and SQL text, so only a safe identifier.
    pub(crate) fn checked_prefix(&self) -> Result<&str, Error> {
        support::check_table_prefix(&self.table_prefix).map_err(Error::Config)
    }
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A record to write: its row's columns and its tags.
#[cfg_attr(
    not(feature = "postgres"),
    expect(
        dead_code,
        reason = "read only by PostgreSQL's one-statement writes; SQLite runs the transaction"
    )
)]
pub(crate) struct Write<'a> {
    pub(crate) fingerprint: &'a [u8],
    /// The encoded record.
    pub(crate) value: &'a [u8],
    /// The tags, encoded (the row's `tags` column).
    pub(crate) tags: &'a [u8],
    /// The tags, one `session_tags` row each.
    pub(crate) record_tags: &'a [String],
    pub(crate) expires_at: i64,
}

/// The `expires_at` column of a record expiring at `at`: rounded up to the millisecond.
pub(crate) fn expires_at_ms(at: SystemTime) -> i64 {
    i64::try_from(crate::codec::expire_at_ms(at)).unwrap_or(i64::MAX)
}

/// The `expires_at` column of a lock taken now for `ttl` (at least a millisecond).
pub(crate) fn lock_expiry_ms(ttl: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1))
}

/// The background sweep of a store: every `interval`, until the store is dropped.
pub(crate) async fn sweep_every<I, F, Fut>(interval: Duration, inner: Weak<I>, sweep: F)
where
    F: Fn(Arc<I>) -> Fut,
    Fut: Future<Output = Result<u64, Error>>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        match sweep(inner).await {
            Ok(0) => {}
            Ok(swept) => tracing::debug!(swept, "expired sessions swept"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired sessions failed; next time"),
        }
    }
}

pub(crate) fn backend(e: sqlx::Error) -> Error {
    Error::Backend(Box::new(e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn only_safe_identifiers_make_table_prefixes() {
        for good in ["oidc_layer_", "a", "app1_sessions_"] {
            assert!(SqlConfig::new().table_prefix(good).checked_prefix().is_ok());
        }
        for bad in [
            "",
            "1abc",
            "_x",
            "Oidc",
            "a-b",
            "a;drop table x;--",
            "a\"b",
            "été",
            "abcdefghijklmnopqrstuvwxyz_0123456",
        ] {
            assert!(
                matches!(
                    SqlConfig::new().table_prefix(bad).checked_prefix(),
                    Err(Error::Config(_))
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn expiry_columns_round_up_and_live_means_later_than_now() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 1);
        assert_eq!(expires_at_ms(at), 1_700_000_000_001);
        let exact = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        assert_eq!(expires_at_ms(exact), 1_700_000_000_000);
        assert!(lock_expiry_ms(Duration::ZERO) > now_ms());
    }
}
