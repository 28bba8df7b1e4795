//! PostgreSQL: for several `serve` processes on several hosts sharing one database.

use crate::domain::subject::PseudonymKey;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::time::Duration;
use tokio::sync::OnceCell;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock key that serializes appends to the audit chain ("dw-audit").
const AUDIT_LOCK: i64 = 0x6477_2d61_7564_6974;

pub struct PgStore {
    pool: PgPool,
    key: OnceCell<PseudonymKey>,
}

impl PgStore {
    pub async fn connect(url: &str) -> sqlx::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            key: OnceCell::new(),
        })
    }

    /// Administrative writes append to the audit chain, which must not fork when two
    /// processes write at once: the transaction-scoped advisory lock orders them.
    async fn begin_admin(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Bookings do not write audit entries, so they need no lock beyond their rows'.
    /// Row locks order PostgreSQL's writers; nobody waits in the process.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }

    /// PostgreSQL reclaims dead tuples with (auto)vacuum; nothing to do per erasure.
    async fn after_erasure(&self) -> sqlx::Result<()> {
        Ok(())
    }

    async fn migrations_table_exists(&self) -> sqlx::Result<bool> {
        sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
            .fetch_one(&self.pool)
            .await
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

impl_store!(PgStore, Postgres, crate::store::Backend::Postgres);
impl_retention!(PgStore, Postgres, postgres_dialect);
