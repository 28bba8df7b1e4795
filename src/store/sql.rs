//! The one implementation of the store: [`SqlStore`], generic over a [`Dialect`] that says
//! what differs between SQLite and PostgreSQL.
//!
//! The SQL is the same text on both backends (`$1` placeholders, `on conflict`, `returning`
//! work alike), so each area file (`admin.rs`, `booking.rs`, `subjects.rs`, `register.rs`,
//! `intake.rs`, `audit.rs`, `retention.rs`) holds its trait and one generic implementation.
//! What differs — connecting, how a write transaction is serialized, checkpoints, the
//! retention lock, unpacking JSON rows — is a method or constant of `Dialect`, implemented
//! in `sqlite.rs` and `postgres.rs`.
//!
//! Generic sqlx code has to name what it needs of the database: that its connections
//! execute queries and that it encodes and decodes the Rust types bound. Rust does not
//! carry such bounds from a trait to its users, so each area's `impl` block repeats the
//! same `where` clause (see [`SqlDb`]): a few lines per file, and the compiler checks that
//! they agree with what the code binds.

use super::{Backend, Result, StoreError};
use crate::domain::subject::PseudonymKey;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type,
};
use std::future::Future;
use tokio::sync::OnceCell;

/// Parameters per multi-row statement: both backends take many more (SQLite 32,766,
/// PostgreSQL 65,535), and a few thousand rows per statement are all the speed there is.
pub(super) const MAX_BINDS: usize = 16_000;

/// Rows up to which a multi-row statement is kept prepared whatever its size.
const SMALL_STATEMENT_ROWS: usize = 16;

/// Whether a multi-row statement of `rows` rows, out of chunks of at most `full` rows, is
/// kept in the connection's statement cache. Full chunks recur batch after batch and small
/// ones are cheap; the last chunk of a batch has a size of its own nearly every time, and a
/// prepared statement of a few thousand rows holds a few hundred KB in SQLite (its program
/// has opcodes for every value): cached, they filled the cache of 100 statements a
/// connection and most of a `demo` run's memory (80 of 123 MB at 120,000 bookings).
pub(super) fn keep_prepared(rows: usize, full: usize) -> bool {
    rows == full || rows <= SMALL_STATEMENT_ROWS
}

/// What the store's generic code needs of a backend's database type, as far as Rust lets
/// a trait carry it: bounds on the database type and its associated types are implied
/// wherever `D: Dialect` is. Bounds on other types (`i64: Value<D::DB>`, the executor of
/// `&mut Connection`) are not, so each area's `impl` block states those it uses in its
/// `where` clause; the compiler checks that they are enough.
pub(crate) trait SqlDb:
    Database<
        Arguments: IntoArguments<Self>,
        Connection: sqlx::migrate::Migrate,
        QueryResult: RowsAffected,
    > + sqlx::database::HasStatementCache
{
}

impl SqlDb for sqlx::Sqlite {}
impl SqlDb for sqlx::Postgres {}

/// The number of rows a statement changed, which each backend reports in its own type.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A Rust value the store binds and reads back on a backend.
pub(crate) trait Value<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + 'static
{
}

impl<DB: Database, T> Value<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + 'static
{
}

/// What differs between the backends. Everything else is [`SqlStore`]'s shared code.
pub(crate) trait Dialect: Send + Sync + Sized + 'static {
    type DB: SqlDb;

    const BACKEND: Backend;

    /// Whether this process's writers take turns at a mutex before they begin (SQLite:
    /// one writer per file; waiting at the file lock means sleeping in growing steps).
    const SERIAL_WRITERS: bool;

    /// Whether the retention lock is a lease that expires (SQLite) rather than a lock
    /// that ends with its session (PostgreSQL).
    const LEASE: bool;

    /// What ends a `select` of rows the transaction is about to claim: PostgreSQL skips rows
    /// another worker holds (`for update … skip locked`); SQLite needs nothing, its
    /// `begin immediate` holds the one write lock. `{alias}` names the claimed table.
    const SKIP_LOCKED: &'static str;

    /// A `from` item that unpacks the JSON array of access-log rows in `:rows` as `j(id, ip,
    /// path, referrer)`.
    const ACCESS_ROWS: &'static str;

    /// Reads the `create index` statement of the index named by `$1` (none: no such index).
    const INDEX_DEFINITION: &'static str;

    fn migrator() -> &'static Migrator;

    fn connect(
        url: &str,
        sessions: super::Sessions,
    ) -> impl Future<Output = sqlx::Result<Pool<Self::DB>>> + Send;

    /// A transaction that holds the audit chain for itself until it ends.
    fn begin_admin(
        pool: &Pool<Self::DB>,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::DB>>> + Send;

    /// A transaction that writes without touching the audit chain (bookings, batches).
    fn begin_write(
        pool: &Pool<Self::DB>,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::DB>>> + Send;

    fn migrations_table_exists(
        pool: &Pool<Self::DB>,
    ) -> impl Future<Output = sqlx::Result<bool>> + Send;

    /// Makes erased bytes leave the database files.
    fn after_erasure(pool: &Pool<Self::DB>) -> impl Future<Output = sqlx::Result<()>> + Send;

    /// Takes the one-run-at-a-time retention lock, writing its `job_locks` row in `tx`;
    /// `None` when another run holds it.
    fn take_retention_lock(
        pool: &Pool<Self::DB>,
        tx: &mut Transaction<'static, Self::DB>,
        holder: &str,
        take_over: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = sqlx::Result<Option<super::retention::RunLock>>> + Send;

    /// Keeps the lock for another batch, inside the batch's transaction; fails with
    /// `LockLost` when another run took it over.
    fn renew_retention_lock(
        tx: &mut Transaction<'static, Self::DB>,
        lock: &super::retention::RunLock,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Settings for a retention batch's connection.
    fn tune_for_batch(
        tx: &mut Transaction<'static, Self::DB>,
    ) -> impl Future<Output = sqlx::Result<()>> + Send;

    fn release_retention_lock(
        lock: super::retention::RunLock,
    ) -> impl Future<Output = sqlx::Result<()>> + Send;

    /// A store of its own for one bulk job's writes (see [`super::BookingStore::bulk_writer`]),
    /// or `None` when the job writes through `store` itself.
    fn bulk_writer(
        store: &SqlStore<Self>,
    ) -> impl Future<Output = sqlx::Result<Option<std::sync::Arc<dyn super::Store>>>> + Send;

    /// After a bulk load: the planner's statistics brought up to date (PostgreSQL), the WAL
    /// copied into the database file and emptied (SQLite: the file alone is then the whole
    /// database, e.g. to copy it).
    fn after_bulk_load(pool: &Pool<Self::DB>) -> impl Future<Output = sqlx::Result<()>> + Send;
}

/// A pooled connection idle at least this long is pinged before it is handed out; one
/// used more recently is not (a round trip per statement on the booking path). A
/// connection the server ended meanwhile (a restart, `pg_terminate_backend`) fails the
/// one statement that finds it so and is then closed; the pool opens a new one.
pub(super) const PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// The pools' `before_acquire`: pings a connection only when it was idle for
/// [`PING_AFTER_IDLE`] (sqlx's `test_before_acquire` pings before every use).
pub(super) fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = sqlx::Result<bool>> + Send + '_>> {
    Box::pin(async move {
        if meta.idle_for >= PING_AFTER_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// The store on one database: a pool, the pseudonym key once read, and (SQLite) the
/// process's turn to write.
pub(crate) struct SqlStore<D: Dialect> {
    pub(super) pool: Pool<D::DB>,
    pub(super) key: OnceCell<PseudonymKey>,
    writer: tokio::sync::Mutex<()>,
    /// The erasure ledger file, when there is one.
    pub(super) ledger: Option<super::LedgerFile>,
    /// Tenant ids by slug, as found. A tenant row is never deleted nor renumbered, so an
    /// id once found stays right for the life of the process; a slug not (yet) found is
    /// asked again next time (`tenants sync` may add it meanwhile).
    tenant_ids: std::sync::RwLock<std::collections::HashMap<String, i64>>,
}

impl<D: Dialect> SqlStore<D> {
    pub async fn connect(
        url: &str,
        ledger: Option<super::LedgerFile>,
        sessions: super::Sessions,
    ) -> sqlx::Result<Self> {
        Ok(Self::with_pool(
            D::connect(url, sessions).await?,
            OnceCell::new(),
            ledger,
        ))
    }

    pub(super) fn with_pool(
        pool: Pool<D::DB>,
        key: OnceCell<PseudonymKey>,
        ledger: Option<super::LedgerFile>,
    ) -> Self {
        Self {
            pool,
            key,
            writer: tokio::sync::Mutex::new(()),
            ledger,
            tenant_ids: Default::default(),
        }
    }

    /// The ledger an erasure writes to; refused (exit 2, before anything changed) when the
    /// database has none: PostgreSQL needs `--ledger PATH` or `DATENWART_LEDGER`.
    pub(super) fn required_ledger(&self) -> super::Result<&super::LedgerFile> {
        self.ledger.as_ref().ok_or_else(|| {
            super::StoreError::Invalid(
                "--ledger: an erasure needs the erasure ledger file, and this database has no default one (PostgreSQL): give --ledger PATH or set DATENWART_LEDGER (see docs/operations.md)".into(),
            )
        })
    }

    pub(super) async fn begin_admin(&self) -> sqlx::Result<Transaction<'static, D::DB>> {
        D::begin_admin(&self.pool).await
    }

    pub(super) async fn begin_write(&self) -> sqlx::Result<Transaction<'static, D::DB>> {
        D::begin_write(&self.pool).await
    }

    /// This process's turn to write, held for a booking's transaction where the backend
    /// has one writer at a time.
    pub(super) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if D::SERIAL_WRITERS {
            Some(self.writer.lock().await)
        } else {
            None
        }
    }

    pub(super) async fn after_erasure(&self) -> sqlx::Result<()> {
        D::after_erasure(&self.pool).await
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    i64: Value<D::DB>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
{
    /// The id of a tenant by slug, remembered for the process (every store method that
    /// names a tenant asks for it; the booking path in every transaction), or `NotFound`
    /// naming the command that adds it. Tenant rows are added only by `sync_tenants`,
    /// which looks none up, so an id remembered is always a committed row's.
    pub(super) async fn known_tenant_id(
        &self,
        tx: &mut Transaction<'static, D::DB>,
        slug: &str,
    ) -> Result<i64> {
        if let Some(&id) = self
            .tenant_ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
        {
            return Ok(id);
        }
        let id = sqlx::query_scalar("select id from tenants where slug = $1")
            .bind(slug)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(slug.to_owned()))?;
        self.tenant_ids
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slug.to_owned(), id);
        Ok(id)
    }
}

/// Compares two hashes without stopping at the first difference, so response times do
/// not tell how much of a guessed code was right.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
