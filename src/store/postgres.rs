//! PostgreSQL: for several `serve` processes on several hosts sharing one database.

use super::retention::{LOCK_NAME, RETENTION_LOCK_KEY, RunLock};
use super::sql::Dialect;
use super::{Backend, Sessions};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};
use std::time::Duration;

/// How long the first connection may take before the command gives up with the cause.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a command waits for a pooled connection (the first one: a session to start).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock key that serializes appends to the audit chain ("dw-audit").
const AUDIT_LOCK: i64 = 0x6477_2d61_7564_6974;

pub(crate) struct PgDialect;

impl Dialect for PgDialect {
    type DB = Postgres;

    const BACKEND: Backend = Backend::Postgres;

    /// Row locks order PostgreSQL's writers; nobody waits in the process.
    const SERIAL_WRITERS: bool = false;

    /// The lock lasts as long as its session; the `job_locks` row only names the holder.
    const LEASE: bool = false;

    const SKIP_LOCKED: &'static str = " for update of {alias} skip locked";

    const ACCESS_ROWS: &'static str =
        "jsonb_to_recordset(:rows::text::jsonb) as j(id bigint, ip text, path text, referrer text)";

    const INDEX_DEFINITION: &'static str =
        "select indexdef from pg_indexes where schemaname = current_schema() and indexname = $1";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn connect(url: &str, sessions: Sessions) -> sqlx::Result<PgPool> {
        let options: sqlx::postgres::PgConnectOptions = url.parse()?;
        // The pool retries a refused or unreachable server until its acquire timeout and
        // then says only "pool timed out": reaching the server's socket first reports the
        // cause ("Connection refused", no answer) at once. Only the socket: a PostgreSQL
        // session of its own for this would cost a backend start (and a TLS handshake)
        // on every command. A bad password or database comes from the pool's own first
        // connection, which the command then uses.
        tokio::time::timeout(CONNECT_TIMEOUT, reach(&options))
            .await
            .map_err(|_| timed_out("the server did not answer", CONNECT_TIMEOUT))??;
        let connections = match sessions {
            Sessions::One => 1,
            Sessions::Several => 8,
        };
        PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A round trip before every statement only to see that a connection used a
            // moment ago is alive cost a booking two of its ten; one idle a while is still
            // checked (a restarted server, a firewall that forgot the connection).
            .test_before_acquire(false)
            .before_acquire(super::sql::ping_if_idle)
            .connect_with(options)
            .await
            .map_err(|e| match e {
                // The socket answered, the session did not start.
                sqlx::Error::PoolTimedOut => timed_out(
                    "the server accepted the connection but started no session",
                    ACQUIRE_TIMEOUT,
                ),
                e => e,
            })
    }

    /// Administrative writes append to the audit chain, which must not fork when two
    /// processes write at once: the transaction-scoped advisory lock orders them.
    async fn begin_admin(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
        let mut tx = pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Bookings do not write audit entries, so they need no lock beyond their rows'.
    async fn begin_write(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
        pool.begin().await
    }

    async fn migrations_table_exists(pool: &PgPool) -> sqlx::Result<bool> {
        sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
            .fetch_one(pool)
            .await
    }

    /// PostgreSQL reclaims dead tuples with (auto)vacuum; nothing to do per erasure.
    async fn after_erasure(_pool: &PgPool) -> sqlx::Result<()> {
        Ok(())
    }

    /// Without statistics the planner guesses, and guesses badly on a table just filled
    /// with a million rows (a citizen's cancel took a bitmap plan over all notifications:
    /// about 125 ms instead of one index lookup) until autovacuum gets to it.
    async fn after_bulk_load(pool: &PgPool) -> sqlx::Result<()> {
        sqlx::query("analyze").execute(pool).await?;
        Ok(())
    }

    /// Takes the advisory lock on a session of its own, held until the run ends (or its
    /// process dies, which ends the session). The `job_locks` row only says who holds it.
    async fn take_retention_lock(
        pool: &PgPool,
        tx: &mut Transaction<'static, Postgres>,
        holder: &str,
        _take_over: Option<&str>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<RunLock>> {
        // A session of its own beside `tx`, not from the pool (a command's pool has only
        // the one connection `tx` holds), given as long to start as the pool's.
        let options = pool.connect_options();
        let mut session =
            tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
                .await
                .map_err(|_| {
                    timed_out(
                        "the server started no session for the retention lock",
                        ACQUIRE_TIMEOUT,
                    )
                })??;
        let got: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
            .bind(RETENTION_LOCK_KEY)
            .fetch_one(&mut session)
            .await?;
        if !got {
            session.close().await?;
            return Ok(None);
        }
        sqlx::query(
            "insert into job_locks (name, holder, acquired_at, expires_at) values ($1, $2, $3, $3)
             on conflict (name) do update set holder = excluded.holder, acquired_at = excluded.acquired_at,
                 expires_at = excluded.expires_at",
        )
        .bind(LOCK_NAME)
        .bind(holder)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(Some(RunLock::Session {
            holder: holder.to_owned(),
            session: tokio::sync::Mutex::new(Some(session)),
        }))
    }

    /// The session holds the lock; nothing to renew.
    async fn renew_retention_lock(
        _tx: &mut Transaction<'static, Postgres>,
        _lock: &RunLock,
    ) -> super::Result<()> {
        Ok(())
    }

    /// PostgreSQL needs no tuning per batch.
    async fn tune_for_batch(_tx: &mut Transaction<'static, Postgres>) -> sqlx::Result<()> {
        Ok(())
    }

    async fn release_retention_lock(lock: RunLock) -> sqlx::Result<()> {
        if let RunLock::Session { session, .. } = lock
            && let Some(mut s) = session.into_inner()
        {
            sqlx::query("select pg_advisory_unlock($1)")
                .bind(RETENTION_LOCK_KEY)
                .execute(&mut s)
                .await?;
            s.close().await?;
        }
        Ok(())
    }

    /// Several connections write at once on PostgreSQL; a job's own pool would gain nothing.
    async fn bulk_writer(
        _store: &super::sql::SqlStore<Self>,
    ) -> sqlx::Result<Option<std::sync::Arc<dyn super::Store>>> {
        Ok(None)
    }
}

/// "`what` within N seconds", as the I/O error a timeout is.
fn timed_out(what: &str, limit: Duration) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} within {} seconds", limit.as_secs()),
    ))
}

/// Opens and closes a connection to the server's socket (TCP, or the Unix socket of a
/// `host=/path` URL), without starting a PostgreSQL session.
async fn reach(options: &sqlx::postgres::PgConnectOptions) -> sqlx::Result<()> {
    let folder = options
        .get_socket()
        .map(|p| p.display().to_string())
        .or_else(|| {
            let host = options.get_host();
            host.starts_with('/').then(|| host.to_owned())
        });
    match folder {
        Some(folder) => {
            let path = format!("{folder}/.s.PGSQL.{}", options.get_port());
            tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))?;
        }
        None => {
            tokio::net::TcpStream::connect((options.get_host(), options.get_port())).await?;
        }
    }
    Ok(())
}
