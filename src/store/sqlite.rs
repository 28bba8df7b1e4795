//! SQLite: the embedded default. WAL mode, `secure_delete=on` (erased bytes are
//! overwritten, not left in free pages), foreign keys on.

use super::Store;
use super::retention::{LEASE_SECONDS, LOCK_NAME, RunLock};
use super::sql::{Dialect, SqlStore};
use super::{Backend, Sessions, StoreError};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub(crate) struct SqliteDialect;

impl Dialect for SqliteDialect {
    type DB = Sqlite;

    const BACKEND: Backend = Backend::Sqlite;

    /// This process's writers take turns at a mutex rather than at the file lock, where a
    /// waiting writer sleeps in growing steps (up to 100 ms) and bookings get long tails.
    const SERIAL_WRITERS: bool = true;

    const LEASE: bool = true;

    const SKIP_LOCKED: &'static str = "";

    const ACCESS_ROWS: &'static str =
        "(select json_extract(value, '$.id') as id, json_extract(value, '$.ip') as ip,
            json_extract(value, '$.path') as path, json_extract(value, '$.referrer') as referrer
          from json_each(:rows)) as j";

    const INDEX_DEFINITION: &'static str =
        "select sql from sqlite_master where type = 'index' and name = $1";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn connect(url: &str, sessions: Sessions) -> sqlx::Result<SqlitePool> {
        let options = SqliteConnectOptions::from_str(url)?;
        private_database_file(options.get_filename())?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .pragma("secure_delete", "on")
            // Checkpoint every 256 MB of WAL instead of 4 MB: a page that many transactions
            // rewrite (the indexes of a retention run, a demo load) reaches the database file
            // once per checkpoint, not once per transaction. Erasures checkpoint and truncate
            // the WAL themselves (`after_erasure`), so erased bytes do not wait for it.
            .pragma("wal_autocheckpoint", "65536")
            .busy_timeout(Duration::from_secs(30));
        let connections = match sessions {
            Sessions::One => 1,
            Sessions::Several => 4,
        };
        pool_options(connections).connect_with(options).await
    }

    /// SQLite has one writer at a time; taking the write lock up front (instead of on the
    /// first write) keeps the audit chain's read-then-append from racing another writer.
    async fn begin_admin(pool: &SqlitePool) -> sqlx::Result<Transaction<'static, Sqlite>> {
        pool.begin_with("begin immediate").await
    }

    /// Bookings take the write lock up front too: a deferred transaction that reads and
    /// then writes can fail with SQLITE_BUSY when another writer got in between.
    async fn begin_write(pool: &SqlitePool) -> sqlx::Result<Transaction<'static, Sqlite>> {
        pool.begin_with("begin immediate").await
    }

    async fn migrations_table_exists(pool: &SqlitePool) -> sqlx::Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
        )
        .fetch_one(pool)
        .await?;
        Ok(n == 1)
    }

    /// Copies the WAL into the database and truncates it, so that the pages that held
    /// erased values (overwritten in the database thanks to `secure_delete`) do not
    /// survive in the WAL file either.
    async fn after_erasure(pool: &SqlitePool) -> sqlx::Result<()> {
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn after_bulk_load(pool: &SqlitePool) -> sqlx::Result<()> {
        Self::after_erasure(pool).await
    }

    /// Takes the lease in one statement: a new row, or the row of a holder whose lease
    /// ran out or whose process is gone (`take_over`). `None` when someone holds it.
    async fn take_retention_lock(
        _pool: &SqlitePool,
        tx: &mut Transaction<'static, Sqlite>,
        holder: &str,
        take_over: Option<&str>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<RunLock>> {
        let taken = sqlx::query(
            "insert into job_locks (name, holder, acquired_at, expires_at) values ($1, $2, $3, $4)
             on conflict (name) do update set holder = excluded.holder, acquired_at = excluded.acquired_at,
                 expires_at = excluded.expires_at
             where job_locks.expires_at <= $3 or job_locks.holder = $5",
        )
        .bind(LOCK_NAME)
        .bind(holder)
        .bind(now)
        .bind(now + chrono::Duration::seconds(LEASE_SECONDS))
        .bind(take_over)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok((taken == 1).then(|| RunLock::Lease {
            holder: holder.to_owned(),
        }))
    }

    /// Extends the lease inside a batch's transaction; fails when another run took it
    /// over (this one was stalled longer than the lease).
    async fn renew_retention_lock(
        tx: &mut Transaction<'static, Sqlite>,
        lock: &RunLock,
    ) -> super::Result<()> {
        let RunLock::Lease { holder } = lock else {
            return Ok(());
        };
        let now = crate::domain::time::now();
        let n = sqlx::query("update job_locks set expires_at = $3 where name = $1 and holder = $2")
            .bind(LOCK_NAME)
            .bind(holder)
            .bind(now + chrono::Duration::seconds(LEASE_SECONDS))
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::LockLost(
                "the retention lock was lost: this run stalled longer than its lease and another run took over; stopping"
                    .into(),
            ))
        }
    }

    /// A batch rewrites index pages all over the table, and each commit writes them to the
    /// WAL: a larger page cache (that of [`Dialect::bulk_writer`]'s connection, which a run's
    /// batches go through, so there is one such cache), together with the checkpoints every
    /// 256 MB of WAL (`connect`), make a batched run much faster (1,000,000 bookings and
    /// 5,000,000 access-log rows, batches of up to 20,000: 73 s with a 64 MB WAL, 64 s with
    /// 256 MB). The cache lasts as long as the connection; the WAL is checkpointed and
    /// truncated when the run ends.
    async fn tune_for_batch(tx: &mut Transaction<'static, Sqlite>) -> sqlx::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "pragma cache_size = -{BULK_CACHE_KIB}"
        )))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The lease row is deleted with the run's end; nothing else to let go.
    async fn release_retention_lock(_lock: RunLock) -> sqlx::Result<()> {
        Ok(())
    }

    /// One connection of its own with a larger page cache. The pool's connections take
    /// turns, and in WAL mode a connection drops its whole page cache whenever another one
    /// has written since its last transaction: every batch of a bulk job began with an
    /// empty cache and read the index pages it changes again. One connection keeps them
    /// from one transaction to the next. In-memory databases write through `store`.
    async fn bulk_writer(store: &SqlStore<Self>) -> sqlx::Result<Option<Arc<dyn Store>>> {
        let options = (*store.pool.connect_options()).clone();
        let file = options.get_filename().to_string_lossy();
        if file.is_empty() || file.starts_with(':') || file.starts_with("file:") {
            return Ok(None);
        }
        let pool = pool_options(1)
            .connect_with(options.pragma("cache_size", format!("-{BULK_CACHE_KIB}")))
            .await?;
        Ok(Some(Arc::new(SqlStore::<SqliteDialect>::with_pool(
            pool,
            store.key.clone(),
            store.ledger.clone(),
        ))))
    }
}

/// Turns SQLite's memory statistics off for this process. With them on (the bundled
/// library's default) every allocation SQLite makes takes one global mutex and updates the
/// counters; nothing here reads them, and a bulk job allocates all the time (`demo` at
/// 300,000 bookings: 49.0 s against 45.5 s without). SQLite accepts the setting only before
/// it is initialized and while no other thread uses it, so the binary calls this first thing
/// in `main`, before any thread or connection exists; a later call is refused by SQLite and
/// changes nothing. The library's users (the tests) run with the statistics on.
pub(crate) fn disable_memory_statistics() {
    // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. Called before SQLite is initialized
    // and before any other thread exists (see above); once initialized, SQLite returns
    // SQLITE_MISUSE without changing anything.
    unsafe {
        libsqlite3_sys::sqlite3_config(
            libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS,
            0 as std::os::raw::c_int,
        );
    }
}

/// The pool of `max` connections to one file.
fn pool_options(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        // No hop to the connection's thread before every statement only to ping it;
        // one idle a while is still checked (see the PostgreSQL pool).
        .test_before_acquire(false)
        .before_acquire(super::sql::ping_if_idle)
        // A statement that fails inside a transaction (a full disk, an I/O error) can
        // make SQLite roll the transaction back by itself; the driver still counts it
        // open, its rollback then fails, and every later `begin` on that connection
        // would fail too. Such a connection is closed instead of going back to the
        // pool, so the process recovers once the cause is gone. The ping lets a
        // rollback queued by a dropped transaction run first.
        .after_release(|conn, _meta| {
            Box::pin(async move {
                if conn.is_in_transaction() {
                    conn.ping().await?;
                }
                Ok(!conn.is_in_transaction())
            })
        })
}

/// The page cache of a bulk job's one connection, in KiB (SQLite's default is 2 MB).
/// `demo --bookings 1000000` must stay under 150 MB and a retention run under 100 MB.
const BULK_CACHE_KIB: i64 = 32_768;

/// The database holds every citizen's data: a new file is made readable by its owner only
/// (SQLite gives its `-wal` and `-shm` files the same mode), and an existing one that
/// others may read is reported.
fn private_database_file(path: &std::path::Path) -> sqlx::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.as_os_str().is_empty() || path.to_str().is_some_and(|p| p.starts_with(':')) {
        return Ok(()); // in memory
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "the database file {} can be read or written by other users (mode {:o}); \
                     it holds personal data: chmod 600 it and its -wal and -shm files",
                    path.display(),
                    mode & 0o777
                );
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_has_wal_secure_delete_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let pool = SqliteDialect::connect(&url, Sessions::Several)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("pragma journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let secure: i64 = sqlx::query_scalar("pragma secure_delete")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let fks: i64 = sqlx::query_scalar("pragma foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!((mode.as_str(), secure, fks), ("wal", 1, 1));
    }

    #[tokio::test]
    async fn a_new_database_and_its_wal_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let pool =
            SqliteDialect::connect(&format!("sqlite://{}", path.display()), Sessions::Several)
                .await
                .unwrap();
        sqlx::query("create table t (x text)")
            .execute(&pool)
            .await
            .unwrap();
        for name in ["t.db", "t.db-wal", "t.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
        }
    }
}
