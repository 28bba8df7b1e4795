//! Retention in the store: counting due rows, treating them in keyset-paginated batches
//! (each its own short transaction), the self-check, the one-run-at-a-time lock and the
//! record of runs.
//!
//! The SQL of a rule is built in `rows.rs` and is the same on both backends. What differs
//! is the backend's `Dialect`: how the lock is taken (SQLite: a lease row in `job_locks`;
//! PostgreSQL: `pg_try_advisory_lock` on a session held for the run) and how the rows of
//! an access-log rewrite are passed (JSON, unpacked by each database's own function).
//!
//! A batch is found by a read (`id > after … order by id limit N`, no write lock) and then
//! changed in one write transaction bounded to that id range, which repeats every
//! condition, so that the write lock is held only for the change itself. The counts of the
//! run are written in the same transaction, so a killed run's record says exactly what it
//! did.

mod rows;

pub(crate) use rows::cleared_set;

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::{AuditContext, Result};
use crate::domain::audit::AuditEvent;
use crate::domain::policy::{RetainedData, RetentionAction};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rows::{Effect, GUARDS_SQL, Param, Rows, Statement};
use serde::Serialize;
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};
use std::fmt;

/// The name of the lock row in `job_locks`.
pub(crate) const LOCK_NAME: &str = "retention";

/// PostgreSQL advisory lock key of retention runs ("dw-reten"); any session holding it is
/// running retention, on whatever host.
pub const RETENTION_LOCK_KEY: i64 = 0x6477_2d72_6574_656e;

/// How long a SQLite lease lasts without being renewed. Every batch renews it, so only a
/// run that died (or hangs) lets it expire; then the next run takes it over.
pub const LEASE_SECONDS: i64 = 300;

/// The rows one retention rule treats.
#[derive(Clone, Debug)]
pub struct RetentionTarget {
    /// The tenant whose rows these are; `None` for rows that belong to no tenant.
    pub tenant: Option<String>,
    pub data: RetainedData,
    pub action: RetentionAction,
    /// One of `data.reference_times()`.
    pub since: String,
    /// Rows whose reference time is at or before this are due.
    pub cutoff: DateTime<Utc>,
    /// The run's clock: marks `anonymized_at`, decides which holds are still in force and
    /// which bookings lie ahead.
    pub now: DateTime<Utc>,
}

/// What `retention plan` shows of one rule.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RetentionDue {
    /// Due rows the run would treat.
    pub due: i64,
    /// Due rows kept because of a hold or an Art. 18 restriction.
    pub held: i64,
    /// The oldest reference time among the rows the run would treat.
    pub oldest: Option<DateTime<Utc>>,
}

/// What one batch did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RetentionBatch {
    /// Due rows in the batch, held ones included.
    pub seen: i64,
    pub held: i64,
    pub anonymized: i64,
    pub deleted: i64,
    /// Notifications and access-log rows deleted with their (deleted) bookings.
    pub dependents_deleted: i64,
    /// Places freed in slots by deleting bookings that lay ahead.
    pub places_freed: i64,
    /// Where the next batch starts; `None` when the rule is done.
    #[serde(skip)]
    pub next_after: Option<i64>,
    /// How long the batch's write transaction took (on SQLite: held the write lock).
    #[serde(skip)]
    pub write_time: std::time::Duration,
}

/// Renders the run's counts (with this batch added) for its `retention_runs` row, which is
/// written in the batch's own transaction.
pub type RecordProgress<'a> = dyn Fn(&RetentionBatch) -> String + Send + Sync + 'a;

#[derive(Clone, Debug)]
pub struct RetentionStart {
    /// `--tenant`, recorded with the run.
    pub tenant: Option<String>,
    pub clock: DateTime<Utc>,
    /// Who runs, for a refused second run's message, e.g. "cron:retention, pid 4711 on web1".
    pub holder: String,
    /// SQLite: a holder whose process is known to be gone; its lease is taken over at once
    /// instead of when it expires.
    pub take_over: Option<String>,
}

/// Another run holds the lock.
#[derive(Clone, Debug, Serialize)]
pub struct LockHeld {
    pub holder: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// SQLite: when the lease runs out unless its run renews it.
    pub expires: Option<DateTime<Utc>>,
}

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.holder {
            Some(h) => write!(f, "held by {h}")?,
            None => write!(f, "held by another session")?,
        }
        if let Some(s) = &self.since {
            write!(f, " since {}", crate::domain::time::format_instant(s))?;
        }
        if let Some(e) = &self.expires {
            write!(
                f,
                "; a run that died frees it at {} at the latest",
                crate::domain::time::format_instant(e)
            )?;
        }
        Ok(())
    }
}

/// A started run: its record's id and the lock it holds until it is finished.
pub struct RetentionRun {
    pub id: i64,
    pub(crate) lock: RunLock,
}

impl RetentionRun {
    pub(crate) fn holder(&self) -> &str {
        match &self.lock {
            RunLock::Lease { holder } => holder,
            RunLock::Session { holder, .. } => holder,
        }
    }
}

impl fmt::Debug for RetentionRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetentionRun({}, {})", self.id, self.holder())
    }
}

pub(crate) enum RunLock {
    /// SQLite: the lease row in `job_locks`, renewed by every batch.
    Lease { holder: String },
    /// PostgreSQL: the session holding the advisory lock; the lock ends with it, also
    /// when the process dies.
    Session {
        holder: String,
        session: tokio::sync::Mutex<Option<sqlx::PgConnection>>,
    },
}

/// How a run ends.
#[derive(Clone, Debug)]
pub struct RetentionFinish {
    /// `completed` or `failed`.
    pub status: &'static str,
    /// The run's counts as JSON, stored with its record.
    pub counts: String,
    /// Audit entries of the run (counts only), written with its end.
    pub events: Vec<AuditEvent>,
}

/// One recorded run, for `retention runs`.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RetentionRunRecord {
    pub id: i64,
    pub actor: String,
    pub tenant: Option<String>,
    pub clock_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    /// JSON, as the run wrote it.
    pub counts: String,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Rows of a retention rule that are due now, and of them those kept by a hold or
    /// restriction (`retention plan`).
    async fn retention_due(&self, target: &RetentionTarget) -> Result<RetentionDue>;

    /// Rows of a retention rule that are due, not held, and still hold personal data (the
    /// self-check after a run).
    async fn retention_resisting(&self, target: &RetentionTarget) -> Result<i64>;

    /// Takes the one-run-at-a-time lock and records the run as running (marking runs that
    /// were killed as failed); `Err(LockHeld)` when another run holds the lock.
    async fn start_retention_run(
        &self,
        start: &RetentionStart,
        ctx: &AuditContext,
    ) -> Result<std::result::Result<RetentionRun, LockHeld>>;

    /// Treats the next batch of a rule (ids above `after_id`, at most `limit` due rows) in
    /// one transaction, which also stores the run's counts that `record` renders.
    async fn apply_retention_batch(
        &self,
        run: &RetentionRun,
        target: &RetentionTarget,
        after_id: i64,
        limit: i64,
        record: &RecordProgress<'_>,
    ) -> Result<RetentionBatch>;

    /// Records the run's end with its audit entries and lets go of the lock.
    async fn finish_retention_run(
        &self,
        run: RetentionRun,
        finish: &RetentionFinish,
        ctx: &AuditContext,
    ) -> Result<()>;

    /// Recorded runs, newest first.
    async fn retention_runs(&self, limit: i64) -> Result<Vec<RetentionRunRecord>>;
}

#[async_trait]
impl<D: Dialect> RetentionStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    async fn retention_due(&self, target: &RetentionTarget) -> Result<RetentionDue> {
        if target.data == RetainedData::ErasureLedger {
            let due = self.ledger_due(target)?;
            return Ok(RetentionDue {
                due: i64::try_from(due.len()).unwrap_or(i64::MAX),
                held: 0,
                oldest: due.iter().map(|e| e.erased_at).min(),
            });
        }
        let rows = Rows::of(target)?;
        let Some(owner) = self.retention_owner(&target.tenant).await? else {
            return Ok(Default::default());
        };
        let today = target.now.date_naive();
        let guarded = Self::retention_guarded(&self.pool, owner, today).await?;
        let v = Values::of(owner, target);
        let (sql, args) = v.bind::<D::DB>(&rows.due_sql(guarded))?;
        let (due, held, oldest): (i64, i64, Option<DateTime<Utc>>) =
            sqlx::query_as_with(sql, args).fetch_one(&self.pool).await?;
        Ok(RetentionDue {
            due: due - held,
            held,
            oldest,
        })
    }

    async fn retention_resisting(&self, target: &RetentionTarget) -> Result<i64> {
        if target.data == RetainedData::ErasureLedger {
            return Ok(i64::try_from(self.ledger_due(target)?.len()).unwrap_or(i64::MAX));
        }
        let rows = Rows::of(target)?;
        let Some(owner) = self.retention_owner(&target.tenant).await? else {
            return Ok(0);
        };
        let today = target.now.date_naive();
        let guarded = Self::retention_guarded(&self.pool, owner, today).await?;
        let (sql, args) = Values::of(owner, target).bind::<D::DB>(&rows.resisting_sql(guarded))?;
        Ok(sqlx::query_scalar_with(sql, args)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn start_retention_run(
        &self,
        start: &RetentionStart,
        ctx: &AuditContext,
    ) -> Result<std::result::Result<RetentionRun, LockHeld>> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let holder = format!("{} [{}]", start.holder, &token[..8]);
        let mut tx = self.begin_admin().await?;
        let Some(lock) = D::take_retention_lock(
            &self.pool,
            &mut tx,
            &holder,
            start.take_over.as_deref(),
            ctx.at,
        )
        .await?
        else {
            tx.rollback().await?;
            let row: Option<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                "select holder, acquired_at, expires_at from job_locks where name = $1",
            )
            .bind(LOCK_NAME)
            .fetch_optional(&self.pool)
            .await?;
            let lease = D::LEASE;
            return Ok(Err(LockHeld {
                holder: row.as_ref().map(|r| r.0.clone()),
                since: row.as_ref().map(|r| r.1),
                expires: row.as_ref().filter(|_| lease).map(|r| r.2),
            }));
        };
        // Holding the lock, no other run is alive: a run still marked running was
        // killed. Its record keeps the counts of the batches it committed.
        let stale: Vec<(i64, String)> = sqlx::query_as(
            "update retention_runs set status = 'failed' where status = 'running' returning id, counts",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id, counts) in stale {
            let counts: serde_json::Value =
                serde_json::from_str(&counts).unwrap_or(serde_json::Value::Null);
            let event = AuditEvent::new(
                "retention.interrupted",
                serde_json::json!({ "run": id, "counts": counts }),
            );
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        let id: i64 = sqlx::query_scalar(
            "insert into retention_runs (actor, tenant, clock_at, started_at, status, counts)
             values ($1, $2, $3, $4, 'running', '{}') returning id",
        )
        .bind(&ctx.actor)
        .bind(&start.tenant)
        .bind(start.clock)
        .bind(ctx.at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(RetentionRun { id, lock }))
    }

    async fn apply_retention_batch(
        &self,
        run: &RetentionRun,
        target: &RetentionTarget,
        after_id: i64,
        limit: i64,
        record: &RecordProgress<'_>,
    ) -> Result<RetentionBatch> {
        if target.data == RetainedData::ErasureLedger {
            // The run holds its lock; the file's own lock keeps erasures appending meanwhile
            // out of the rewrite.
            let n = match &self.ledger {
                Some(ledger) => ledger.retain(|e| !Self::ledger_entry_due(target, e))?,
                None => 0,
            };
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            return Ok(RetentionBatch {
                seen: n,
                deleted: n,
                ..Default::default()
            });
        }
        let rows = Rows::of(target)?;
        let Some(owner) = self.retention_owner(&target.tenant).await? else {
            return Ok(Default::default());
        };
        let today = target.now.date_naive();
        let mut v = Values {
            after: after_id,
            limit,
            ..Values::of(owner, target)
        };
        // The window: found by a read, without the write lock.
        let mut access: Vec<(i64, String, String, Option<String>)> = Vec::new();
        let (seen, upper): (i64, Option<i64>) = if rows.rewrites_access() {
            let (sql, args) = v.bind::<D::DB>(&rows.access_window_sql())?;
            access = sqlx::query_as_with(sql, args).fetch_all(&self.pool).await?;
            (
                i64::try_from(access.len()).unwrap_or(i64::MAX),
                access.last().map(|r| r.0),
            )
        } else {
            let (sql, args) = v.bind::<D::DB>(&rows.window_sql())?;
            sqlx::query_as_with(sql, args).fetch_one(&self.pool).await?
        };
        let Some(upper) = upper else {
            return Ok(Default::default());
        };
        v.upper = upper;
        let mut batch = RetentionBatch {
            seen,
            next_after: (seen >= limit).then_some(upper),
            ..Default::default()
        };
        // The change: one short transaction over that id range.
        let mut tx = self.begin_write().await?;
        // How long the write lock (SQLite) is held, for `-vv` and the benchmark.
        let started = std::time::Instant::now();
        D::tune_for_batch(&mut tx).await?;
        D::renew_retention_lock(&mut tx, &run.lock).await?;
        let guarded = Self::retention_guarded(&mut *tx, owner, today).await?;
        // Every statement of the batch, with the values its parameters name.
        let in_range = |sql: String| -> sqlx::Result<_> {
            let (sql, args) = v.bind::<D::DB>(&sql)?;
            Ok(sqlx::query_with(sql, args))
        };
        if guarded {
            let (sql, args) = v.bind::<D::DB>(&rows.held_in_batch_sql())?;
            batch.held = sqlx::query_scalar_with(sql, args)
                .fetch_one(&mut *tx)
                .await?;
        }
        let affected = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match (rows.data, rows.action) {
            (RetainedData::AccessLog, RetentionAction::Anonymize) => {
                let json: Vec<serde_json::Value> = access
                    .iter()
                    .map(|(id, ip, path, referrer)| {
                        let a = crate::domain::retention::anonymize_access(ip, path, referrer.as_deref());
                        serde_json::json!({ "id": id, "ip": a.ip, "path": a.path, "referrer": a.referrer })
                    })
                    .collect();
                let rewrite = Values {
                    rows: Some(serde_json::Value::Array(json).to_string()),
                    ..v.clone()
                };
                let (sql, args) =
                    rewrite.bind::<D::DB>(&rows.rewrite_access_sql(guarded, D::ACCESS_ROWS))?;
                batch.anonymized = affected(
                    sqlx::query_with(sql, args)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                );
            }
            (data, RetentionAction::Anonymize) => {
                if data == RetainedData::Bookings {
                    // The booking's notifications name the person and are of no use
                    // once the appointment is long over; one never sent (there is no
                    // sender at a tenant whose rule counts from `sent_at`) would
                    // otherwise keep the name and address for good.
                    batch.dependents_deleted += affected(
                        in_range(rows.notifications_of_treated_sql(guarded))?
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                    );
                    // Before the bookings: once anonymized, the batch no longer finds them.
                    in_range(rows.consents_of_treated_sql(guarded))?
                        .execute(&mut *tx)
                        .await?;
                }
                batch.anonymized = affected(
                    in_range(rows.anonymize_sql(guarded))?
                        .execute(&mut *tx)
                        .await?
                        .rows_affected(),
                );
            }
            (data, RetentionAction::Delete) => {
                if data == RetainedData::Bookings {
                    // Bookings ahead are cancelled first, by a conditional update: one that a
                    // citizen or an erasure cancelled at the same moment is not freed twice.
                    let (sql, args) = v.bind::<D::DB>(&rows.cancel_ahead_sql(guarded))?;
                    let slots: Vec<i64> = sqlx::query_scalar_with(sql, args)
                        .fetch_all(&mut *tx)
                        .await?;
                    for slot in &slots {
                        sqlx::query("update slots set booked = booked - 1 where id = $1")
                            .bind(slot)
                            .execute(&mut *tx)
                            .await?;
                    }
                    batch.places_freed = i64::try_from(slots.len()).unwrap_or(i64::MAX);
                }
                for (sql, effect) in rows.before_delete_sql(guarded) {
                    let n = affected(in_range(sql)?.execute(&mut *tx).await?.rows_affected());
                    if effect == Effect::Dependents {
                        batch.dependents_deleted += n;
                    }
                }
                if data == RetainedData::Bookings {
                    batch.anonymized = affected(
                        in_range(rows.anonymize_referenced_bookings_sql(guarded))?
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                    );
                    batch.deleted = affected(
                        in_range(rows.delete_unreferenced_bookings_sql(guarded))?
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                    );
                } else {
                    batch.deleted = affected(
                        in_range(rows.delete_sql(guarded))?
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                    );
                }
            }
        }
        sqlx::query("update retention_runs set counts = $2 where id = $1")
            .bind(run.id)
            .bind(record(&batch))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        batch.write_time = started.elapsed();
        tracing::debug!(
            data = rows.data.as_str(),
            tenant = target.tenant.as_deref().unwrap_or("-"),
            rows = batch.seen,
            write_ms = batch.write_time.as_secs_f64() * 1000.0,
            "retention batch committed"
        );
        Ok(batch)
    }

    async fn finish_retention_run(
        &self,
        run: RetentionRun,
        finish: &RetentionFinish,
        ctx: &AuditContext,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        sqlx::query(
            "update retention_runs set finished_at = $2, status = $3, counts = $4 where id = $1",
        )
        .bind(run.id)
        .bind(ctx.at)
        .bind(finish.status)
        .bind(&finish.counts)
        .execute(&mut *tx)
        .await?;
        for event in &finish.events {
            Self::append_audit(&mut tx, ctx, event).await?;
        }
        sqlx::query("delete from job_locks where name = $1 and holder = $2")
            .bind(LOCK_NAME)
            .bind(run.holder())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        D::release_retention_lock(run.lock).await?;
        // Erased bytes must not survive in the WAL either (SQLite).
        self.after_erasure().await?;
        Ok(())
    }

    async fn retention_runs(&self, limit: i64) -> Result<Vec<RetentionRunRecord>> {
        Ok(sqlx::query_as(
            "select id, actor, tenant, clock_at, started_at, finished_at, status, counts
             from retention_runs order by id desc limit $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    /// `Some(None)`: rows without a tenant; `None`: a tenant the database does not
    /// know (it has no rows).
    pub(super) async fn retention_owner(
        &self,
        tenant: &Option<String>,
    ) -> Result<Option<Option<i64>>> {
        match tenant {
            None => Ok(Some(None)),
            Some(slug) => Ok(sqlx::query_scalar::<_, i64>(
                "select id from tenants where slug = $1",
            )
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?
            .map(Some)),
        }
    }

    pub(super) async fn retention_guarded<'e, E>(
        executor: E,
        owner: Option<i64>,
        today: NaiveDate,
    ) -> sqlx::Result<bool>
    where
        E: sqlx::Executor<'e, Database = D::DB>,
    {
        let v = Values {
            tenant: owner,
            today,
            ..Values::default()
        };
        let (sql, args) = v.bind::<D::DB>(GUARDS_SQL)?;
        sqlx::query_scalar_with(sql, args).fetch_one(executor).await
    }
}

/// The values of a retention statement's named parameters ([`Param`]).
#[derive(Clone, Debug, Default)]
struct Values {
    tenant: Option<i64>,
    cutoff: DateTime<Utc>,
    today: NaiveDate,
    now: DateTime<Utc>,
    after: i64,
    upper: i64,
    limit: i64,
    rows: Option<String>,
}

impl Values {
    fn of(owner: Option<i64>, target: &RetentionTarget) -> Values {
        Values {
            tenant: owner,
            cutoff: target.cutoff,
            today: target.now.date_naive(),
            now: target.now,
            ..Values::default()
        }
    }

    /// The statement numbered for the database, and its arguments in that order.
    fn bind<DB>(&self, named: &str) -> sqlx::Result<(sqlx::AssertSqlSafe<String>, DB::Arguments)>
    where
        DB: Database,
        i64: Value<DB>,
        String: Value<DB>,
        DateTime<Utc>: Value<DB>,
        NaiveDate: Value<DB>,
        Option<i64>: Value<DB>,
    {
        use sqlx::Arguments as _;
        let statement = Statement::new(named);
        let mut args = DB::Arguments::default();
        let added = statement.params.iter().try_for_each(|p| match p {
            Param::Tenant => args.add(self.tenant),
            Param::Cutoff => args.add(self.cutoff),
            Param::Today => args.add(self.today),
            Param::Now => args.add(self.now),
            Param::After => args.add(self.after),
            Param::Upper => args.add(self.upper),
            Param::Limit => args.add(self.limit),
            Param::Rows => args.add(self.rows.clone().unwrap_or_default()),
        });
        added.map_err(sqlx::Error::Encode)?;
        Ok((sqlx::AssertSqlSafe(statement.sql), args))
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Whether a ledger line falls under a rule: its tenant's, erased at or before the cutoff.
    fn ledger_entry_due(target: &RetentionTarget, e: &super::LedgerEntry) -> bool {
        e.tenant == target.tenant && e.erased_at <= target.cutoff
    }

    /// The ledger lines a rule would remove; none when this database has no ledger file.
    fn ledger_due(&self, target: &RetentionTarget) -> Result<Vec<super::LedgerEntry>> {
        Ok(match &self.ledger {
            Some(ledger) => ledger
                .read()?
                .into_iter()
                .filter(|e| Self::ledger_entry_due(target, e))
                .collect(),
            None => Vec::new(),
        })
    }
}
