//! The SQL stores' tables and statements, written once for both dialects.
//!
//! Statements are written with PostgreSQL's `$n` placeholders and `{p}` for the table prefix;
//! [`Dialect::render`] turns them into the dialect's text (SQLite numbers them `?n`). Every
//! statement is built once, when the store opens.

/// Which database a statement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

impl Dialect {
    /// `sql` for this dialect and table prefix: `{p}` is the prefix, `{bytes}` and `{int}` the
    /// column types, `{all}` an unbounded `LIMIT`, `$n` a placeholder.
    pub(crate) fn render(self, sql: &str, prefix: &str) -> String {
        let (bytes, int, all, placeholder) = match self {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => ("BYTEA", "BIGINT", "ALL", "$"),
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => ("BLOB", "INTEGER", "-1", "?"),
        };
        sql.replace("{p}", prefix)
            .replace("{bytes}", bytes)
            .replace("{int}", int)
            .replace("{all}", all)
            .replace('$', placeholder)
    }
}

/// The bookkeeping table of [`MIGRATIONS`], created before them.
pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS {p}schema_migrations \
     (version {int} PRIMARY KEY, applied_at_ms {int} NOT NULL)";

/// The schema, version by version: a migration is never edited once released, only followed
/// by a new one. Each runs in one transaction with its row in `{p}schema_migrations`.
pub(crate) const MIGRATIONS: &[(i64, &[&str])] = &[(
    1,
    &[
        "CREATE TABLE {p}sessions (fingerprint {bytes} PRIMARY KEY, value {bytes} NOT NULL, \
         tags {bytes} NOT NULL, expires_at {int} NOT NULL)",
        "CREATE INDEX {p}sessions_expires_at ON {p}sessions (expires_at)",
        // Tags are bytes, not text: a subject is whatever the provider sent (PostgreSQL text
        // cannot hold a NUL, SQLite text would compare by collation).
        "CREATE TABLE {p}session_tags (tag {bytes} NOT NULL, fingerprint {bytes} NOT NULL \
         REFERENCES {p}sessions (fingerprint) ON DELETE CASCADE, PRIMARY KEY (tag, fingerprint))",
        "CREATE INDEX {p}session_tags_fingerprint ON {p}session_tags (fingerprint)",
        "CREATE TABLE {p}session_locks (fingerprint {bytes} PRIMARY KEY, lease TEXT NOT NULL, \
         expires_at {int} NOT NULL)",
        "CREATE INDEX {p}session_locks_expires_at ON {p}session_locks (expires_at)",
    ],
)];

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

/// Every statement the stores run, rendered for one dialect and prefix.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) migrations_table: String,
    pub(crate) applied_version: String,
    pub(crate) record_migration: String,
    /// `(fingerprint, now)` → `value, tags` of the live record.
    pub(crate) load: String,
    /// `(fingerprint, value, tags, expires_at)`; no row when the fingerprint exists.
    pub(crate) insert: String,
    /// `(tag, fingerprint)`.
    pub(crate) insert_tag: String,
    /// `(fingerprint, value, tags, expires_at, now)`: replaces a live record only.
    pub(crate) update: String,
    /// `(fingerprint)`: the tags of a record, before they are written anew.
    pub(crate) delete_tags_of: String,
    /// `(fingerprint)` → `expires_at` of the record deleted.
    pub(crate) delete: String,
    /// `(tag)` → `fingerprint, expires_at` of every record deleted.
    pub(crate) delete_tagged: String,
    /// `(tag, spare, now)` → how many live records tagged `tag` are `spare` (0 or 1).
    pub(crate) spare_tagged: String,
    /// `(tag, spare, now, keep)` → `fingerprint` of the live records tagged `tag` deleted
    /// after the first `keep` by expiry (latest first), `spare` excluded.
    pub(crate) trim_tagged: String,
    /// `(tag, now, limit)` → `value, tags` of the live records tagged `tag`, the `limit` that
    /// expire last, latest first.
    pub(crate) list_tagged: String,
    /// `(fingerprint, lease, expires_at, now)`: one row when the lock was free (or expired)
    /// and is now taken.
    pub(crate) try_lock: String,
    /// `(fingerprint, lease)`.
    pub(crate) unlock: String,
    /// `(now, batch)` → one batch of expired records deleted.
    pub(crate) sweep_sessions: String,
    /// `(now, batch)` → one batch of expired locks deleted.
    pub(crate) sweep_locks: String,
}

impl Statements {
    pub(crate) fn new(dialect: Dialect, prefix: &str) -> Self {
        let sql = |text: &str| dialect.render(text, prefix);
        Self {
            migrations_table: sql(MIGRATIONS_TABLE),
            applied_version: sql("SELECT COALESCE(MAX(version), 0) FROM {p}schema_migrations"),
            record_migration: sql(
                "INSERT INTO {p}schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
            ),
            load: sql(
                "SELECT value, tags FROM {p}sessions WHERE fingerprint = $1 AND expires_at > $2",
            ),
            insert: sql(
                "INSERT INTO {p}sessions (fingerprint, value, tags, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (fingerprint) DO NOTHING",
            ),
            insert_tag: sql(
                "INSERT INTO {p}session_tags (tag, fingerprint) VALUES ($1, $2) \
                 ON CONFLICT (tag, fingerprint) DO NOTHING",
            ),
            update: sql(
                "UPDATE {p}sessions SET value = $2, tags = $3, expires_at = $4 \
                 WHERE fingerprint = $1 AND expires_at > $5",
            ),
            delete_tags_of: sql("DELETE FROM {p}session_tags WHERE fingerprint = $1"),
            delete: sql("DELETE FROM {p}sessions WHERE fingerprint = $1 RETURNING expires_at"),
            delete_tagged: sql("DELETE FROM {p}sessions WHERE fingerprint IN \
                 (SELECT fingerprint FROM {p}session_tags WHERE tag = $1) \
                 RETURNING fingerprint, expires_at"),
            spare_tagged: sql("SELECT COUNT(*) FROM {p}session_tags t \
                 JOIN {p}sessions s ON s.fingerprint = t.fingerprint \
                 WHERE t.tag = $1 AND t.fingerprint = $2 AND s.expires_at > $3"),
            trim_tagged: sql("DELETE FROM {p}sessions WHERE fingerprint IN \
                 (SELECT s.fingerprint FROM {p}session_tags t \
                 JOIN {p}sessions s ON s.fingerprint = t.fingerprint \
                 WHERE t.tag = $1 AND t.fingerprint <> $2 AND s.expires_at > $3 \
                 ORDER BY s.expires_at DESC, s.fingerprint LIMIT {all} OFFSET $4) \
                 RETURNING fingerprint"),
            list_tagged: sql("SELECT s.value, s.tags FROM {p}session_tags t \
                 JOIN {p}sessions s ON s.fingerprint = t.fingerprint \
                 WHERE t.tag = $1 AND s.expires_at > $2 \
                 ORDER BY s.expires_at DESC, s.fingerprint LIMIT $3"),
            try_lock: sql(
                "INSERT INTO {p}session_locks (fingerprint, lease, expires_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (fingerprint) DO UPDATE \
                 SET lease = excluded.lease, expires_at = excluded.expires_at \
                 WHERE {p}session_locks.expires_at <= $4",
            ),
            unlock: sql("DELETE FROM {p}session_locks WHERE fingerprint = $1 AND lease = $2"),
            sweep_sessions: sql("DELETE FROM {p}sessions WHERE fingerprint IN \
                 (SELECT fingerprint FROM {p}sessions WHERE expires_at <= $1 LIMIT $2)"),
            sweep_locks: sql("DELETE FROM {p}session_locks WHERE fingerprint IN \
                 (SELECT fingerprint FROM {p}session_locks WHERE expires_at <= $1 LIMIT $2)"),
        }
    }

    /// The statements of migration `version`, rendered.
    pub(crate) fn migration(dialect: Dialect, prefix: &str, statements: &[&str]) -> Vec<String> {
        statements
            .iter()
            .map(|text| dialect.render(text, prefix))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_only_grow() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|(version, _)| *version).collect();
        assert!(versions.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(versions.first(), Some(&1));
        assert_eq!(latest_version(), *versions.last().unwrap_or(&0));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_numbers_its_placeholders() {
        let statements = Statements::new(Dialect::Sqlite, "x_");
        assert_eq!(
            statements.unlock,
            "DELETE FROM x_session_locks WHERE fingerprint = ?1 AND lease = ?2"
        );
        assert!(statements.trim_tagged.contains("LIMIT -1 OFFSET ?4"));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_keeps_dollar_placeholders() {
        let statements = Statements::new(Dialect::Postgres, "x_");
        assert!(statements.trim_tagged.contains("LIMIT ALL OFFSET $4"));
        assert!(
            statements
                .load
                .starts_with("SELECT value, tags FROM x_sessions")
        );
    }
}
