//! SQLite: the embedded default. WAL mode, `secure_delete=on` (erased bytes are
//! overwritten, not left in free pages), foreign keys on.

use crate::domain::subject::PseudonymKey;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::OnceCell;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    key: OnceCell<PseudonymKey>,
    /// This process's writers take turns here rather than at the file lock, where a
    /// waiting writer sleeps in growing steps (up to 100 ms) and bookings get long tails.
    writer: tokio::sync::Mutex<()>,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> sqlx::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
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
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            key: OnceCell::new(),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// SQLite has one writer at a time; taking the write lock up front (instead of on the
    /// first write) keeps the audit chain's read-then-append from racing another writer.
    async fn begin_admin(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.pool.begin_with("begin immediate").await
    }

    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// Bookings take the write lock up front too: a deferred transaction that reads and
    /// then writes can fail with SQLITE_BUSY when another writer got in between.
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.begin_admin().await
    }

    /// Copies the WAL into the database and truncates it, so that the pages that held
    /// erased values (overwritten in the database thanks to `secure_delete`) do not
    /// survive in the WAL file either.
    async fn after_erasure(&self) -> sqlx::Result<()> {
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn migrations_table_exists(&self) -> sqlx::Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 1)
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

impl_store!(SqliteStore, Sqlite, crate::store::Backend::Sqlite);
impl_retention!(SqliteStore, Sqlite, sqlite_dialect);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_has_wal_secure_delete_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
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
}
