//! Small pieces the SQL stores use, shared with oidc-layer's `SqlAccounts` (its tables live in
//! the same kind of database, under the same rules). Re-exported as `session_store::sql_support`
//! (hidden from the docs: not a stable API).

use std::time::{SystemTime, UNIX_EPOCH};

/// `prefix` when it is safe in table names and SQL text: 1 to 32 lowercase ASCII letters,
/// digits and `_`, starting with a letter; otherwise the message saying so.
pub fn check_table_prefix(prefix: &str) -> Result<&str, String> {
    let safe = (1..=32).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if safe {
        Ok(prefix)
    } else {
        Err(format!(
            "table prefix {prefix:?}: use 1 to 32 lowercase ASCII letters, digits and _, starting with a letter"
        ))
    }
}

/// Milliseconds since the epoch, rounded down.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether `e` says the connection broke (the server restarted, the network blipped): the
/// pool drops that connection, and an idempotent statement is worth one retry on another.
pub fn connection_broke(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server went away under us.
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// The key of a PostgreSQL advisory lock named `name` (the first 8 bytes of its SHA-256):
/// migrations lock by their tables' prefix, so two apps with their own prefixes in one
/// database do not wait for each other.
pub fn advisory_key(name: &str) -> i64 {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(name);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}
