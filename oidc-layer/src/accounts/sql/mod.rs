//! [`SqlAccounts`]: an [`AccountRepository`] in PostgreSQL (feature `postgres`) or SQLite
//! (feature `sqlite`), on sqlx.

mod schema;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};

use super::linking::case_key;
use super::{
    Account, AccountError, AccountRepository, CreateOutcome, LinkOutcome, LinkedIdentity,
    NewAccount,
};
use schema::{Dialect, MIGRATIONS, Statements, latest_version};
use session_store::sql_support::{advisory_key, check_table_prefix, connection_broke, now_ms};

/// How many numbered usernames (`alice-2` … `alice-20`) [`create`](AccountRepository::create)
/// tries after the one the provider sent; then a few with a random suffix (`alice-3f9a0c12`).
const NUMBERED_USERNAMES: u32 = 20;
const RANDOM_USERNAMES: u32 = 5;

/// How long a SQLite statement waits for another process's write lock on the file.
#[cfg(feature = "sqlite")]
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of [`SqlAccounts`].
#[derive(Debug, Clone)]
pub struct SqlAccountsConfig {
    table_prefix: String,
    max_connections: u32,
    acquire_timeout: Duration,
}

impl SqlAccountsConfig {
    /// The default table prefix (the tables are `oidc_layer_accounts`,
    /// `oidc_layer_account_identities` and `oidc_layer_accounts_schema_migrations`).
    pub const DEFAULT_TABLE_PREFIX: &'static str = "oidc_layer_";

    /// Defaults: tables `oidc_layer_*`, at most 5 connections, a sign-in waits at most 3 s for
    /// one (then fails, and the user sees the "try again" page).
    pub fn new() -> Self {
        Self {
            table_prefix: Self::DEFAULT_TABLE_PREFIX.to_owned(),
            max_connections: 5,
            acquire_timeout: Duration::from_secs(3),
        }
    }

    /// The prefix of the table names, for apps that share a database (two apps with their own
    /// prefixes never see each other's accounts): lowercase ASCII letters, digits and `_`,
    /// starting with a letter, at most 32 characters ([`AccountError::Config`] otherwise, when
    /// the repository opens).
    #[must_use]
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }

    /// At most this many connections in the pool [`SqlAccounts::connect`] opens (default 5).
    #[must_use]
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long an operation waits for a connection of the pool [`SqlAccounts::connect`] opens
    /// (default 3 s) before it fails with [`AccountError::Backend`]: when the database is down,
    /// sign-ins fail this fast instead of hanging.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The prefix, checked: it goes into table names and SQL text, so only a safe identifier.
    fn checked_prefix(&self) -> Result<&str, AccountError> {
        check_table_prefix(&self.table_prefix).map_err(AccountError::Config)
    }
}

impl Default for SqlAccountsConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The app's accounts and their provider identities in PostgreSQL (feature `postgres`) or
/// SQLite (feature `sqlite`): the [`AccountRepository`] to put behind a
/// [`LinkingResolver`](super::LinkingResolver) when the app has no users table of its own yet,
/// or to read as an example of one.
///
/// ```no_run
/// # async fn run(layer: oidc_layer::OidcLayer) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use oidc_layer::accounts::{LinkingResolver, SqlAccounts, SqlAccountsConfig};
///
/// // `postgres://user:password@host/app` works the same (feature `postgres`).
/// let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://accounts.db".into());
/// let accounts = SqlAccounts::connect(&url, SqlAccountsConfig::new()).await?;
/// // The break-glass login's account, made once (`None` when the username is taken).
/// if accounts.find_by_username("root").await?.is_none() {
///     accounts.add_account("root", None, true).await?;
/// }
/// let resolver = Arc::new(LinkingResolver::new(accounts));
/// let layer = layer.with_account_resolver(resolver.clone());
/// # Ok(()) }
/// ```
///
/// # One type, two databases
///
/// `SqlAccounts` is the same type whichever database the URL names (inside, an enum of the
/// two pools): an app picks its database at run time from its `DATABASE_URL`, and every
/// statement is written once, with the few differences (the id column's type, placeholders)
/// filled in per dialect when the repository opens.
///
/// # Tables
///
/// With the table prefix `P` (default `oidc_layer_`, [`SqlAccountsConfig::table_prefix`]):
///
/// | table | what |
/// |---|---|
/// | `P` `accounts` | `id` (an integer, never reused after a delete: sessions name it), `username` (unique case-insensitively), `email`, `has_local_login`, `link_by_email` (the per-account veto of [`AccountRepository::allows_link_by_email`]), `created_at_ms`; `username_key` and `email_key` are the Unicode lowercase forms the lookups compare, computed in Rust, so both databases compare alike whatever their locale. |
/// | `P` `account_identities` | `(provider, sub)` primary key, `account_id` (deleted with its account), `linked_at_ms`, unique `(account_id, provider)`. |
/// | `P` `accounts_schema_migrations` | the migrations applied, by version. |
///
/// The repository makes the tables itself ([`migrate`](Self::migrate): versioned, each
/// migration one transaction; PostgreSQL instances starting at once take turns under an
/// advisory lock; a schema newer than this version knows is refused with
/// [`AccountError::Config`]).
///
/// # Races
///
/// The two unique constraints of `account_identities` make [`link`](AccountRepository::link)
/// and [`create`](AccountRepository::create) atomic: two first sign-ins of the same person
/// racing on two instances make one account and one link, and the loser gets the winner's
/// account ([`CreateOutcome::SubjectTaken`]). `create` inserts the account (with the first free
/// username: `alice`, `alice-2`, …) and its identity in one transaction, and rolls it back when
/// the identity turns out to be linked already. The database tells which constraint refused a
/// link without naming it: the `(provider, sub)` conflict is the statement's
/// `ON CONFLICT ... DO NOTHING` (no row inserted), so a unique violation can only be the
/// other one (the account has an identity of this provider).
///
/// # Email addresses
///
/// [`find_by_email`](AccountRepository::find_by_email) returns every account with the address,
/// so store only addresses the app trusts: `create` stores what the resolver passes (only a
/// provider-verified email, see [`NewAccount::email`]), and [`add_account`](Self::add_account)
/// what the administrator gives. Addresses compare by their Unicode lowercase form
/// (`ÉLODIE@example.com` is `élodie@example.com`).
///
/// # Connections
///
/// With PostgreSQL down, operations fail with [`AccountError::Backend`] after at most
/// [`SqlAccountsConfig::acquire_timeout`] (the user sees a 503, no session is made), and the
/// pool reconnects by itself; a read that finds its connection broken (the server restarted)
/// is retried once on a new one. SQLite's file is opened in WAL mode (readers never wait for
/// the writer) with foreign keys on; the repository's writes take turns in the process (SQLite
/// writes one at a time anyway), so concurrent sign-ins queue for their turn rather than in
/// SQLite's busy handler; another process writing the same file makes a statement wait up to
/// 5 s.
///
/// Clones share the pool.
#[derive(Clone)]
pub struct SqlAccounts {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    dialect: Dialect,
    sql: Statements,
    /// SQLite only: held by every write.
    writer: Option<Mutex<()>>,
    config: SqlAccountsConfig,
}

enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// Runs `$body` with `$pool` bound to the concrete pool: the statements are the same text for
/// both databases, but sqlx types them per database.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres($p) => $body,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($p) => $body,
        }
    };
}

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Bool(bool),
}

/// `$query` with every [`Arg`] of `$args` bound, in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                Arg::Text(text) => query.bind(text),
                Arg::OptText(text) => query.bind(text),
                Arg::Int(int) => query.bind(int),
                Arg::Bool(flag) => query.bind(flag),
            };
        }
        query
    }};
}

/// One row of an account query: the account, and one of its identities (if it has any).
type AccountRow = (
    i64,
    String,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
);

/// What one attempt at [`AccountRepository::create`] did.
enum Created {
    Account { id: i64, username: String },
    SubjectTaken,
    NoFreeUsername,
}

impl fmt::Debug for SqlAccounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlAccounts")
            .field("dialect", &self.inner.dialect)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SqlAccounts {
    /// The repository on the database at `url`, in a pool of its own, with its tables made or
    /// brought up to date ([`migrate`](Self::migrate)):
    ///
    /// - `postgres://user:password@host/database` (feature `postgres`; `?sslmode=require` or
    ///   `verify-full` for TLS);
    /// - `sqlite://path/to/accounts.db` or `sqlite:accounts.db` (relative to the working
    ///   directory; feature `sqlite`), created when missing.
    ///
    /// Fails with [`AccountError::Config`] on a URL of another kind (or of a feature not
    /// enabled), an unsafe table prefix, or a schema newer than this version knows, and with
    /// [`AccountError::Backend`] when the database cannot be reached now.
    pub async fn connect(url: &str, config: SqlAccountsConfig) -> Result<Self, AccountError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        let accounts = match scheme {
            #[cfg(feature = "postgres")]
            Some("postgres" | "postgresql") => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.acquire_timeout)
                    // A broken connection shows as an error on its next statement, which a read
                    // retries once: no test round trip before every statement.
                    .test_before_acquire(false)
                    .connect_lazy(url)
                    .map_err(AccountError::backend)?;
                Self::from_postgres_pool(pool, config)?
            }
            #[cfg(feature = "sqlite")]
            Some("sqlite") => {
                use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
                use std::str::FromStr as _;
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(AccountError::backend)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(BUSY_TIMEOUT);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(AccountError::backend)?;
                Self::from_sqlite_pool(pool, config)?
            }
            // The URL itself may hold a password: never quoted.
            _ => {
                return Err(AccountError::Config(format!(
                    "the database URL is not one of {}",
                    supported_schemes()
                )));
            }
        };
        accounts.migrate().await?;
        Ok(accounts)
    }

    /// The repository on the app's own PostgreSQL pool, without contacting the database: call
    /// [`migrate`](Self::migrate) once at start-up before using it. Fails only on an unsafe
    /// [`SqlAccountsConfig::table_prefix`].
    #[cfg(feature = "postgres")]
    pub fn from_postgres_pool(
        pool: sqlx::PgPool,
        config: SqlAccountsConfig,
    ) -> Result<Self, AccountError> {
        Self::new(Pool::Postgres(pool), Dialect::Postgres, config)
    }

    /// The repository on the app's own SQLite pool (whose connections must have foreign keys
    /// on, sqlx's default: [`migrate`](Self::migrate) checks), without touching the file: call
    /// `migrate` once at start-up before using it. Fails only on an unsafe
    /// [`SqlAccountsConfig::table_prefix`].
    #[cfg(feature = "sqlite")]
    pub fn from_sqlite_pool(
        pool: sqlx::SqlitePool,
        config: SqlAccountsConfig,
    ) -> Result<Self, AccountError> {
        Self::new(Pool::Sqlite(pool), Dialect::Sqlite, config)
    }

    fn new(pool: Pool, dialect: Dialect, config: SqlAccountsConfig) -> Result<Self, AccountError> {
        let sql = Statements::new(dialect, config.checked_prefix()?);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                dialect,
                sql,
                // SQLite writes one at a time: a burst of sign-ins waits here, in order, rather
                // than polling in SQLite's busy handler, which gives up after BUSY_TIMEOUT.
                // (The transactions write first, so they would stay correct without it.)
                writer: (!dialect.is_postgres()).then(|| Mutex::new(())),
                config,
            }),
        })
    }

    /// Makes the tables, or brings them up to the newest schema this version knows; does
    /// nothing when they are. Each migration is one transaction; PostgreSQL instances starting
    /// at once take turns (an advisory lock). Fails with [`AccountError::Config`] when the
    /// database's schema is newer than this version knows (a newer release migrated it), or a
    /// SQLite pool's connections have foreign keys off.
    pub async fn migrate(&self) -> Result<(), AccountError> {
        let inner = &*self.inner;
        let prefix = inner.config.checked_prefix()?;
        let sql = &inner.sql;
        let _turn = self.write_turn().await;
        let applied = on_pool!(&inner.pool, |pool| {
            let mut tx = pool.begin().await.map_err(AccountError::backend)?;
            if inner.dialect.is_postgres() {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(advisory_key(&format!(
                        "oidc-layer accounts migrations {prefix}"
                    )))
                    .execute(&mut *tx)
                    .await
                    .map_err(AccountError::backend)?;
            } else {
                let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(AccountError::backend)?;
                if foreign_keys != 1 {
                    return Err(AccountError::Config(
                        "the SQLite pool's connections have foreign keys off: open them with `SqliteConnectOptions::foreign_keys(true)`".into(),
                    ));
                }
            }
            sqlx::query(&sql.migrations_table)
                .execute(&mut *tx)
                .await
                .map_err(AccountError::backend)?;
            let applied: i64 = sqlx::query_scalar(&sql.applied_version)
                .fetch_one(&mut *tx)
                .await
                .map_err(AccountError::backend)?;
            if applied > latest_version() {
                return Err(AccountError::Config(format!(
                    "the account tables `{prefix}*` are at schema version {applied}; this version of oidc-layer knows up to {}",
                    latest_version()
                )));
            }
            for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
                for statement in Statements::migration(inner.dialect, prefix, statements) {
                    sqlx::query(&statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(AccountError::backend)?;
                }
                sqlx::query(&sql.record_migration)
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(AccountError::backend)?;
            }
            tx.commit().await.map_err(AccountError::backend)?;
            applied
        });
        if applied < latest_version() {
            tracing::info!(
                from = applied,
                to = latest_version(),
                prefix,
                "account tables migrated"
            );
        }
        Ok(())
    }

    /// Adds an account with no provider identity (as an administrator or the app's own
    /// sign-up would), and returns it; `None` when another account has this username
    /// (compared case-insensitively). `email` is trusted as given: a provider's verified email
    /// may link to this account (see [`find_by_email`](AccountRepository::find_by_email)), so
    /// pass only an address the app has verified or the administrator vouches for.
    pub async fn add_account(
        &self,
        username: &str,
        email: Option<&str>,
        has_local_login: bool,
    ) -> Result<Option<Account>, AccountError> {
        let (username_key, email_key) = (case_key(username), email.map(case_key));
        let args = account_args(
            username,
            &username_key,
            email,
            email_key.as_deref(),
            has_local_login,
        );
        let _turn = self.write_turn().await;
        let id: Option<i64> = on_pool!(&self.inner.pool, |pool| {
            bind_all!(sqlx::query_scalar(&self.inner.sql.insert_account), &args)
                .fetch_optional(pool)
                .await
        })
        .map_err(AccountError::backend)?;
        Ok(id.map(|id| Account {
            id: id.to_string(),
            username: username.to_owned(),
            email: email.map(str::to_owned),
            identities: Vec::new(),
            has_local_login,
        }))
    }

    /// The account with this username (compared case-insensitively).
    pub async fn find_by_username(&self, username: &str) -> Result<Option<Account>, AccountError> {
        let key = case_key(username);
        let accounts = self
            .accounts_where(&self.inner.sql.account_by_username, &[Arg::Text(&key)])
            .await?;
        Ok(accounts.into_iter().next())
    }

    /// Every account, in creation order (with their identities by provider slug).
    pub async fn accounts(&self) -> Result<Vec<Account>, AccountError> {
        self.accounts_where(&self.inner.sql.all_accounts, &[]).await
    }

    /// Deletes the account and its identities; `false` if there was none. Its id is never
    /// given to another account, so sessions that still name it find no account (sign them
    /// out too, e.g. by deleting the sessions tagged with it).
    pub async fn delete_account(&self, account_id: &str) -> Result<bool, AccountError> {
        let Some(id) = parse_id(account_id) else {
            return Ok(false);
        };
        self.write(&self.inner.sql.delete_account, &[Arg::Int(id)])
            .await
            .map(|deleted| deleted > 0)
    }

    /// Records whether the account can sign in without a provider (the app set or removed its
    /// password); `false` if there is no such account. An account with a local login is never
    /// linked by email, and its last identity can be unlinked.
    pub async fn set_local_login(
        &self,
        account_id: &str,
        has_local_login: bool,
    ) -> Result<bool, AccountError> {
        self.set_flag(&self.inner.sql.set_local_login, account_id, has_local_login)
            .await
    }

    /// Allows (the default) or vetoes linking a provider to the account by verified email
    /// ([`AccountRepository::allows_link_by_email`]); `false` if there is no such account.
    /// Vetoed, it can only be linked explicitly, from a signed-in session.
    pub async fn set_link_by_email(
        &self,
        account_id: &str,
        allowed: bool,
    ) -> Result<bool, AccountError> {
        self.set_flag(&self.inner.sql.set_link_by_email, account_id, allowed)
            .await
    }

    /// The configuration this repository was opened with.
    pub fn config(&self) -> &SqlAccountsConfig {
        &self.inner.config
    }

    async fn set_flag(
        &self,
        sql: &str,
        account_id: &str,
        flag: bool,
    ) -> Result<bool, AccountError> {
        let Some(id) = parse_id(account_id) else {
            return Ok(false);
        };
        self.write(sql, &[Arg::Int(id), Arg::Bool(flag)])
            .await
            .map(|updated| updated > 0)
    }

    /// SQLite: the turn that keeps the repository's other writes out until dropped.
    async fn write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.inner.writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        }
    }

    /// Runs one write statement; how many rows it changed.
    async fn write(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, AccountError> {
        let _turn = self.write_turn().await;
        on_pool!(&self.inner.pool, |pool| {
            bind_all!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(AccountError::backend)
    }

    /// The accounts a read statement selects, with their identities.
    async fn accounts_where(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Account>, AccountError> {
        let rows = retried(|| async move {
            on_pool!(&self.inner.pool, |pool| {
                bind_all!(sqlx::query_as::<_, AccountRow>(sql), args)
                    .fetch_all(pool)
                    .await
            })
        })
        .await
        .map_err(AccountError::backend)?;
        Ok(accounts_from_rows(rows))
    }

    /// One attempt at `create`, in one transaction.
    async fn create_once(&self, new: &NewAccount) -> Result<Created, sqlx::Error> {
        let sql = &self.inner.sql;
        let _turn = self.write_turn().await;
        on_pool!(&self.inner.pool, |pool| {
            let mut tx = pool.begin().await?;
            let mut inserted = None;
            let email_key = new.email.as_deref().map(case_key);
            for username in username_candidates(&new.username) {
                let username_key = case_key(&username);
                let args = account_args(
                    &username,
                    &username_key,
                    new.email.as_deref(),
                    email_key.as_deref(),
                    false,
                );
                let id: Option<i64> = bind_all!(sqlx::query_scalar(&sql.insert_account), &args)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(id) = id {
                    inserted = Some((id, username));
                    break;
                }
            }
            let Some((id, username)) = inserted else {
                return Ok(Created::NoFreeUsername);
            };
            let linked = sqlx::query(&sql.insert_identity)
                .bind(&new.provider)
                .bind(&new.sub)
                .bind(id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if linked == 0 {
                // Another sign-in of the same person won: its account stays, ours goes.
                tx.rollback().await?;
                return Ok(Created::SubjectTaken);
            }
            tx.commit().await?;
            Ok(Created::Account { id, username })
        })
    }
}

/// The arguments of `insert_account`, whose `$2` and `$4` are the case keys of `$1` and `$3`.
fn account_args<'a>(
    username: &'a str,
    username_key: &'a str,
    email: Option<&'a str>,
    email_key: Option<&'a str>,
    has_local_login: bool,
) -> [Arg<'a>; 6] {
    [
        Arg::Text(username),
        Arg::Text(username_key),
        Arg::OptText(email),
        Arg::OptText(email_key),
        Arg::Bool(has_local_login),
        Arg::Int(now_ms()),
    ]
}

#[async_trait]
impl AccountRepository for SqlAccounts {
    async fn find_by_identity(
        &self,
        provider: &str,
        sub: &str,
    ) -> Result<Option<Account>, AccountError> {
        let args = [Arg::Text(provider), Arg::Text(sub)];
        let accounts = self
            .accounts_where(&self.inner.sql.account_by_identity, &args)
            .await?;
        Ok(accounts.into_iter().next())
    }

    async fn find_by_email(&self, email: &str) -> Result<Vec<Account>, AccountError> {
        let key = case_key(email);
        self.accounts_where(&self.inner.sql.accounts_by_email, &[Arg::Text(&key)])
            .await
    }

    async fn find(&self, account_id: &str) -> Result<Option<Account>, AccountError> {
        let Some(id) = parse_id(account_id) else {
            return Ok(None);
        };
        let accounts = self
            .accounts_where(&self.inner.sql.account_by_id, &[Arg::Int(id)])
            .await?;
        Ok(accounts.into_iter().next())
    }

    async fn link(
        &self,
        account_id: &str,
        provider: &str,
        sub: &str,
    ) -> Result<LinkOutcome, AccountError> {
        let Some(id) = parse_id(account_id) else {
            return Err(no_such_account(account_id));
        };
        let args = [
            Arg::Text(provider),
            Arg::Text(sub),
            Arg::Int(id),
            Arg::Int(now_ms()),
        ];
        let inserted = {
            let _turn = self.write_turn().await;
            on_pool!(&self.inner.pool, |pool| {
                bind_all!(sqlx::query(&self.inner.sql.insert_identity), &args)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })
        };
        match inserted {
            Ok(0) => Ok(LinkOutcome::SubjectTaken),
            Ok(_) => Ok(LinkOutcome::Linked),
            // `(provider, sub)` conflicts are the statement's `ON CONFLICT DO NOTHING`: this
            // is the other unique constraint, `(account_id, provider)`.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Ok(LinkOutcome::AlreadyLinkedToProvider)
            }
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(no_such_account(account_id))
            }
            Err(e) => Err(AccountError::backend(e)),
        }
    }

    async fn create(&self, new: NewAccount) -> Result<CreateOutcome, AccountError> {
        // A second round only when the winner's identity was unlinked before we could read it.
        for _ in 0..3 {
            match self
                .create_once(&new)
                .await
                .map_err(AccountError::backend)?
            {
                Created::Account { id, username } => {
                    return Ok(CreateOutcome::Created(Account {
                        id: id.to_string(),
                        username,
                        email: new.email,
                        identities: vec![LinkedIdentity {
                            provider: new.provider,
                            sub: new.sub,
                        }],
                        has_local_login: false,
                    }));
                }
                Created::SubjectTaken => {
                    if let Some(winner) = self.find_by_identity(&new.provider, &new.sub).await? {
                        return Ok(CreateOutcome::SubjectTaken(winner));
                    }
                }
                Created::NoFreeUsername => {
                    return Err(AccountError::Inconsistent(format!(
                        "no free username like {:?}",
                        new.username
                    )));
                }
            }
        }
        Err(AccountError::Inconsistent(
            "the identity kept being linked and unlinked while its account was created".into(),
        ))
    }

    async fn unlink(&self, account_id: &str, provider: &str) -> Result<bool, AccountError> {
        let Some(id) = parse_id(account_id) else {
            return Ok(false);
        };
        self.write(
            &self.inner.sql.delete_identity,
            &[Arg::Int(id), Arg::Text(provider)],
        )
        .await
        .map(|deleted| deleted > 0)
    }

    async fn allows_link_by_email(
        &self,
        account: &Account,
        _provider: &str,
    ) -> Result<bool, AccountError> {
        let Some(id) = parse_id(&account.id) else {
            return Ok(false);
        };
        let allowed: Option<bool> = retried(|| async move {
            on_pool!(&self.inner.pool, |pool| {
                sqlx::query_scalar(&self.inner.sql.link_by_email)
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            })
        })
        .await
        .map_err(AccountError::backend)?;
        // An account deleted meanwhile links nothing.
        Ok(allowed.unwrap_or(false))
    }
}

fn supported_schemes() -> &'static str {
    match (cfg!(feature = "postgres"), cfg!(feature = "sqlite")) {
        (true, true) => "postgres://, postgresql:// or sqlite:",
        (true, false) => "postgres:// or postgresql:// (feature `sqlite` is off)",
        _ => "sqlite: (feature `postgres` is off)",
    }
}

/// The account id as the tables hold it: only the canonical decimal form (`"01"` names no
/// account), so one account has one id string.
fn parse_id(account_id: &str) -> Option<i64> {
    account_id
        .parse::<i64>()
        .ok()
        .filter(|id| id.to_string() == account_id)
}

fn no_such_account(account_id: &str) -> AccountError {
    AccountError::Inconsistent(format!(
        "cannot link to account `{account_id}`: it does not exist"
    ))
}

/// `wanted`, `wanted-2` … `wanted-20`, then a few `wanted-<8 random hex digits>`.
fn username_candidates(wanted: &str) -> impl Iterator<Item = String> + '_ {
    let numbered = (1..=NUMBERED_USERNAMES).map(move |n| match n {
        1 => wanted.to_owned(),
        n => format!("{wanted}-{n}"),
    });
    let random = (0..RANDOM_USERNAMES).filter_map(move |_| {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).ok()?;
        Some(format!("{wanted}-{:08x}", u32::from_be_bytes(bytes)))
    });
    numbered.chain(random)
}

/// Groups the rows of an account query (ordered by account id) into accounts.
fn accounts_from_rows(rows: Vec<AccountRow>) -> Vec<Account> {
    let mut accounts: Vec<Account> = Vec::new();
    for (id, username, email, has_local_login, provider, sub) in rows {
        let id = id.to_string();
        if accounts.last().is_none_or(|last| last.id != id) {
            accounts.push(Account {
                id,
                username,
                email,
                identities: Vec::new(),
                has_local_login,
            });
        }
        if let (Some(account), Some(provider), Some(sub)) = (accounts.last_mut(), provider, sub) {
            account.identities.push(LinkedIdentity { provider, sub });
        }
    }
    accounts
}

/// Runs `operation` once more on another connection when its connection turned out to be
/// broken (the server restarted). Only for statements that are safe to repeat.
async fn retried<R, F, Fut>(mut operation: F) -> Result<R, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, sqlx::Error>>,
{
    match operation().await {
        Err(e) if connection_broke(&e) => operation().await,
        outcome => outcome,
    }
}

// Last: the tests use the macros above.
#[cfg(test)]
mod tests;
