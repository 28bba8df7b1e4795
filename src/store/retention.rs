//! Retention in the store: counting due rows, treating them in keyset-paginated batches
//! (each its own short transaction), the self-check, the one-run-at-a-time lock and the
//! record of runs.
//!
//! The SQL is the same on both backends and lives in `impl_retention!`, which adds inherent
//! methods to a store type (the `Store` trait delegates to them). What differs lives in
//! the two dialect modules below: how the lock is taken (SQLite: a lease row in
//! `job_locks`; PostgreSQL: `pg_try_advisory_lock` on a session held for the run) and how
//! the rows of an access-log rewrite are passed (JSON, unpacked by each database's own
//! function).
//!
//! A batch is found by a read (`id > after … order by id limit N`, no write lock) and then
//! changed in one write transaction bounded to that id range, which repeats every
//! condition, so that the write lock is held only for the change itself. The counts of the
//! run are written in the same transaction, so a killed run's record says exactly what it
//! did.

use crate::domain::policy::{RetainedData, RetentionAction};
use crate::domain::retention::cleared_fields;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// The name of the lock row in `job_locks`.
pub(super) const LOCK_NAME: &str = "retention";

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
    pub(super) lock: RunLock,
}

impl RetentionRun {
    pub(super) fn holder(&self) -> &str {
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

pub(super) enum RunLock {
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
    pub events: Vec<crate::domain::audit::AuditEvent>,
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

/// The SQL of one rule: its table, reference column, and how a row is tied to a person
/// and a booking (for holds and restrictions). Parameters are positional and fixed per
/// statement; see each builder.
pub(super) struct Rows {
    pub data: RetainedData,
    pub action: RetentionAction,
    table: &'static str,
    since: &'static str,
    subject: &'static str,
    booking: Option<&'static str>,
}

impl Rows {
    pub fn of(t: &RetentionTarget) -> Result<Rows, super::StoreError> {
        let since = t
            .data
            .reference_times()
            .iter()
            .copied()
            .find(|s| *s == t.since)
            .ok_or_else(|| {
                super::StoreError::NotFound(format!(
                    "{} has no reference time {:?}",
                    t.data.as_str(),
                    t.since
                ))
            })?;
        if !t.data.actions().contains(&t.action) {
            return Err(super::StoreError::NotFound(format!(
                "{} cannot be {}d",
                t.data.as_str(),
                t.action.as_str()
            )));
        }
        let (table, subject, booking) = match t.data {
            RetainedData::Bookings => ("bookings", "bookings.subject_ref", Some("bookings.id")),
            RetainedData::Consents => (
                "consents",
                "consents.subject_ref",
                Some("consents.booking_id"),
            ),
            RetainedData::Notifications => (
                "notifications",
                "(select pb.subject_ref from bookings pb where pb.id = notifications.booking_id)",
                Some("notifications.booking_id"),
            ),
            RetainedData::AccessLog => (
                "access_log",
                "(select pb.subject_ref from bookings pb where pb.id = access_log.booking_id)",
                Some("access_log.booking_id"),
            ),
            RetainedData::Inbox => ("inbox_messages", "inbox_messages.subject_ref", None),
            RetainedData::Requests => ("requests", "requests.subject_ref", None),
        };
        Ok(Rows {
            data: t.data,
            action: t.action,
            table,
            since,
            subject,
            booking,
        })
    }

    /// Whether anonymizing rewrites values (the access log) rather than clearing them.
    pub fn rewrites_access(&self) -> bool {
        self.data == RetainedData::AccessLog && self.action == RetentionAction::Anonymize
    }

    /// `$1` the tenant id, or null for rows without a tenant.
    fn owner(&self) -> String {
        let t = self.table;
        format!("({t}.tenant_id = $1 or ($1 is null and {t}.tenant_id is null))")
    }

    /// Rows not treated yet: anonymized rows are done; a booking that a hold row refers
    /// to can only be anonymized, so under a delete rule it is done once anonymized.
    fn pending(&self) -> String {
        let t = self.table;
        match (self.data, self.action) {
            (_, RetentionAction::Anonymize) => format!("{t}.anonymized_at is null"),
            (RetainedData::Bookings, RetentionAction::Delete) => format!(
                "({t}.anonymized_at is null or not exists (select 1 from holds hb where hb.booking_id = {t}.id))"
            ),
            (_, RetentionAction::Delete) => "1 = 1".into(),
        }
    }

    /// Whether the row is kept for an active hold on the person at the row's tenant, an
    /// active hold on its booking, or a restriction of the person (at its tenant or at
    /// all). `today` is the placeholder of the run's date. When no hold or restriction
    /// could apply (`guarded` false) the test is left out; the placeholder stays
    /// referenced so that every statement binds the same parameters.
    fn held(&self, guarded: bool, today: &str) -> String {
        if !guarded {
            return format!("({today} is null and 1 = 0)");
        }
        let t = self.table;
        let s = self.subject;
        let mut sql = format!(
            "(exists (select 1 from holds h where h.tenant_id = {t}.tenant_id and h.subject_ref = {s}
                 and h.removed_at is null and (h.until_on is null or h.until_on >= {today}))
              or exists (select 1 from restrictions r where r.subject_ref = {s}
                 and (r.tenant_id is null or r.tenant_id = {t}.tenant_id) and r.lifted_at is null)"
        );
        if let Some(b) = self.booking {
            sql.push_str(&format!(
                "
              or exists (select 1 from holds hk where hk.booking_id = {b}
                 and hk.removed_at is null and (hk.until_on is null or hk.until_on >= {today}))"
            ));
        }
        sql.push(')');
        sql
    }

    /// Whether a row still holds personal data after anonymizing should have removed it.
    fn personal(&self) -> String {
        let t = self.table;
        let mut terms: Vec<String> = cleared_fields(self.data)
            .iter()
            .map(|c| format!("{t}.{c} is not null"))
            .collect();
        if self.data == RetainedData::AccessLog {
            // What `domain::retention::anonymize_access` leaves: a /24 ends in ".0", a /48
            // in "::"; no query in the path; a referrer is an origin without user.
            terms.push(format!(
                "not ({t}.ip like '%.0' or {t}.ip like '%::' or {t}.ip = '')"
            ));
            terms.push(format!("{t}.path like '%?%'"));
            terms.push(format!("{t}.referrer like '%://%/%'"));
            terms.push(format!("{t}.referrer like '%@%'"));
            terms.push(format!(
                "({t}.referrer is not null and {t}.referrer not like '%://%')"
            ));
        }
        format!("({})", terms.join(" or "))
    }

    fn cleared_set(&self) -> String {
        cleared_fields(self.data)
            .iter()
            .map(|c| format!("{c} = null"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `$1` tenant, `$2` cutoff, `$3` today → (due, held, oldest not held).
    pub fn due_sql(&self, guarded: bool) -> String {
        let t = self.table;
        let held = self.held(guarded, "$3");
        format!(
            "select count(*), coalesce(sum(case when {held} then 1 else 0 end), 0),
                    min(case when {held} then null else {t}.{since} end)
             from {t} where {owner} and {t}.{since} <= $2 and {pending}",
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
        )
    }

    /// `$1` tenant, `$2` cutoff, `$3` today → rows due, not held, still personal.
    pub fn resisting_sql(&self, guarded: bool) -> String {
        let t = self.table;
        let resists = match self.action {
            RetentionAction::Delete => self.pending(),
            RetentionAction::Anonymize => self.personal(),
        };
        format!(
            "select count(*) from {t} where {owner} and {t}.{since} <= $2 and not {held} and {resists}",
            since = self.since,
            owner = self.owner(),
            held = self.held(guarded, "$3"),
        )
    }

    fn window_where(&self) -> String {
        format!(
            "{owner} and {t}.{since} <= $2 and {pending} and {t}.id > $3",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
        )
    }

    /// `$1` tenant, `$2` cutoff, `$3` after id, `$4` limit → (rows, highest id).
    pub fn window_sql(&self) -> String {
        format!(
            "select count(*), max(w.id) from (select {t}.id as id from {t} where {cond}
                 order by {t}.id limit $4) w",
            t = self.table,
            cond = self.window_where(),
        )
    }

    /// As `window_sql`, but the rows themselves: (id, ip, path, referrer).
    pub fn access_window_sql(&self) -> String {
        format!(
            "select {t}.id, {t}.ip, {t}.path, {t}.referrer from {t} where {cond}
             order by {t}.id limit $4",
            t = self.table,
            cond = self.window_where(),
        )
    }

    /// The batch's rows that are treated, inside its write transaction, repeating every
    /// condition of the window: `$1` tenant, `$2` cutoff, `$3` after id, `$4` last id of
    /// the window, `$5` today.
    fn treated(&self, guarded: bool) -> String {
        format!(
            "{owner} and {t}.{since} <= $2 and {pending} and {t}.id > $3 and {t}.id <= $4 and not {held}",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
            held = self.held(guarded, "$5"),
        )
    }

    /// `$1` tenant, `$2` cutoff, `$3` after id, `$4` last id of the window, `$5` today →
    /// rows of the batch that are held.
    pub fn held_in_batch_sql(&self) -> String {
        format!(
            "select count(*) from {t} where {owner} and {t}.{since} <= $2 and {pending}
               and {t}.id > $3 and {t}.id <= $4 and {held}",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
            held = self.held(true, "$5"),
        )
    }

    /// `$1`–`$5`, `$6` now.
    pub fn anonymize_sql(&self, guarded: bool) -> String {
        format!(
            "update {t} set {set}, anonymized_at = $6 where {cond}",
            t = self.table,
            set = self.cleared_set(),
            cond = self.treated(guarded),
        )
    }

    /// `$1`–`$5`.
    pub fn delete_sql(&self, guarded: bool) -> String {
        format!(
            "delete from {t} where {cond}",
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// Statements that detach what refers to the batch's rows before they are deleted,
    /// each with what its count means. `$1`–`$5` as `treated`, `$6` now where used.
    pub fn before_delete_sql(&self, guarded: bool) -> Vec<(String, Effect)> {
        let t = self.table;
        let ids = format!("select {t}.id from {t} where {}", self.treated(guarded));
        match self.data {
            // As an erasure does it: the booking's messages and the log rows of its
            // requests go with it, consents lose the link, a place ahead is freed.
            RetainedData::Bookings => vec![
                (format!("delete from notifications where booking_id in ({ids})"), Effect::Dependents),
                (format!("delete from access_log where booking_id in ({ids})"), Effect::Dependents),
                (format!("update consents set booking_id = null where booking_id in ({ids})"), Effect::Detached),
                (
                    format!(
                        "select count(*) from bookings fb where fb.status = 'booked' and fb.appointment_start > $6
                           and fb.id in ({ids})"
                    ),
                    Effect::PlacesToFree,
                ),
                (
                    format!(
                        "update slots set booked = booked - (select count(*) from bookings fb
                             where fb.slot_id = slots.id and fb.status = 'booked' and fb.appointment_start > $6
                               and fb.id in ({ids}))
                         where slots.id in (select fb.slot_id from bookings fb
                             where fb.status = 'booked' and fb.appointment_start > $6 and fb.id in ({ids}))"
                    ),
                    Effect::PlacesFreed,
                ),
            ],
            // The register entry goes; what pointed to it keeps its own content.
            RetainedData::Requests => [
                ("consents", "withdrawal_request_id"),
                ("restrictions", "request_id"),
                ("erasure_ledger", "request_id"),
                ("inbox_messages", "request_id"),
            ]
            .iter()
            .map(|(table, column)| {
                (
                    format!("update {table} set {column} = null where {column} in ({ids})"),
                    Effect::Detached,
                )
            })
            .collect(),
            // A message's reply row (written: no personal data left; pending: not sent any more).
            RetainedData::Inbox => vec![(
                format!("delete from replies where inbox_message_id in ({ids})"),
                Effect::Dependents,
            )],
            _ => Vec::new(),
        }
    }

    /// The notifications of the bookings a batch anonymizes (`$1`–`$5`), deleted first.
    pub fn notifications_of_treated_sql(&self, guarded: bool) -> String {
        format!(
            "delete from notifications where booking_id in (select {t}.id from {t} where {cond})",
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// Bookings under a delete rule that a hold row refers to: anonymized instead
    /// (`$1`–`$6`).
    pub fn anonymize_referenced_bookings_sql(&self, guarded: bool) -> String {
        format!(
            "update bookings set {set}, anonymized_at = $6 where {cond} and bookings.anonymized_at is null
               and exists (select 1 from holds hr where hr.booking_id = bookings.id)",
            set = self.cleared_set(),
            cond = self.treated(guarded),
        )
    }

    /// Bookings under a delete rule that no hold row refers to (`$1`–`$5`).
    pub fn delete_unreferenced_bookings_sql(&self, guarded: bool) -> String {
        format!(
            "delete from bookings where {cond}
               and not exists (select 1 from holds hr where hr.booking_id = bookings.id)",
            cond = self.treated(guarded),
        )
    }

    /// `$1` the rows as JSON, `$2` now, `$3` today; `rows_from` unpacks `$1` as `j`.
    pub fn rewrite_access_sql(&self, guarded: bool, rows_from: &str) -> String {
        format!(
            "update access_log set ip = j.ip, path = j.path, referrer = j.referrer, {set}, anonymized_at = $2
             from {rows_from}
             where access_log.id = j.id and access_log.anonymized_at is null and not {held}",
            set = self.cleared_set(),
            held = self.held(guarded, "$3"),
        )
    }
}

/// What a statement run before a delete does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Deletes rows that belong to the deleted ones (counted).
    Dependents,
    /// Removes references to the deleted rows.
    Detached,
    /// Counts the places that deleting bookings ahead frees (a query; binds `$6`).
    PlacesToFree,
    /// Gives those places back to their slots (binds `$6`).
    PlacesFreed,
}

impl Effect {
    pub fn binds_now(self) -> bool {
        matches!(self, Effect::PlacesToFree | Effect::PlacesFreed)
    }
}

/// `$1` tenant id or null, `$2` today → whether any hold or restriction could keep rows
/// of this owner. When none can, the statements leave the (per-row) test out.
pub(super) const GUARDS_SQL: &str = "select (exists (select 1 from holds where removed_at is null
        and (until_on is null or until_on >= $2) and ($1 is null or tenant_id = $1))
     or exists (select 1 from restrictions where lifted_at is null
        and ($1 is null or tenant_id is null or tenant_id = $1)))";

pub(super) mod sqlite_dialect {
    use super::{LEASE_SECONDS, LOCK_NAME, RunLock};
    use chrono::{DateTime, Utc};
    use sqlx::{Sqlite, SqlitePool, Transaction};

    /// The lock is a lease that expires.
    pub const LEASE: bool = true;

    /// The access-log rows of a rewrite, from the JSON array in `$1`.
    pub const ACCESS_ROWS: &str =
        "(select json_extract(value, '$.id') as id, json_extract(value, '$.ip') as ip,
            json_extract(value, '$.path') as path, json_extract(value, '$.referrer') as referrer
          from json_each($1)) as j";

    /// Takes the lease in one statement: a new row, or the row of a holder whose lease
    /// ran out or whose process is gone (`take_over`). `None` when someone holds it.
    pub async fn take_lock(
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
    pub async fn renew(
        tx: &mut Transaction<'static, Sqlite>,
        lock: &RunLock,
    ) -> crate::store::Result<()> {
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
            Err(crate::store::StoreError::NotFound(
                "the retention lock was lost: this run stalled longer than its lease and another run took over; stopping"
                    .into(),
            ))
        }
    }

    /// A batch rewrites index pages all over the table, and each commit writes them to the
    /// WAL: a larger page cache (8 MB instead of 2 MB; at most the pool's four connections,
    /// so memory stays bounded), together with the store's checkpoints every 256 MB of WAL
    /// (`SqliteStore::connect`), make a batched run much faster (1,000,000 bookings and
    /// 5,000,000 access-log rows, batches of up to 20,000: 73 s with a 64 MB WAL, 64 s with
    /// 256 MB). The cache lasts as long as the connection; the WAL is checkpointed and
    /// truncated when the run ends.
    pub async fn tune(tx: &mut Transaction<'static, Sqlite>) -> sqlx::Result<()> {
        sqlx::query("pragma cache_size = -8192")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The lease row is deleted with the run's end; nothing else to let go.
    pub async fn release(_lock: RunLock) -> sqlx::Result<()> {
        Ok(())
    }
}

pub(super) mod postgres_dialect {
    use super::{LOCK_NAME, RETENTION_LOCK_KEY, RunLock};
    use chrono::{DateTime, Utc};
    use sqlx::{Connection, PgPool, Postgres, Transaction};

    /// The lock lasts as long as its session; the `job_locks` row only names the holder.
    pub const LEASE: bool = false;

    pub const ACCESS_ROWS: &str =
        "jsonb_to_recordset($1::text::jsonb) as j(id bigint, ip text, path text, referrer text)";

    /// Takes the advisory lock on a session of its own, held until the run ends (or its
    /// process dies, which ends the session). The `job_locks` row only says who holds it.
    pub async fn take_lock(
        pool: &PgPool,
        tx: &mut Transaction<'static, Postgres>,
        holder: &str,
        _take_over: Option<&str>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<RunLock>> {
        let mut session = pool.acquire().await?.detach();
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

    /// PostgreSQL needs no tuning per batch.
    pub async fn tune(_tx: &mut Transaction<'static, Postgres>) -> sqlx::Result<()> {
        Ok(())
    }

    /// The session holds the lock; nothing to renew.
    pub async fn renew(
        _tx: &mut Transaction<'static, Postgres>,
        _lock: &RunLock,
    ) -> crate::store::Result<()> {
        Ok(())
    }

    pub async fn release(lock: RunLock) -> sqlx::Result<()> {
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
}

/// Adds the retention methods to a store type (see the module comment). `$dialect` is
/// `sqlite_dialect` or `postgres_dialect`.
macro_rules! impl_retention {
    ($store:ty, $db:ty, $dialect:ident) => {
        impl $store {
            /// `Some(None)`: rows without a tenant; `None`: a tenant the database does not
            /// know (it has no rows).
            async fn retention_owner(&self, tenant: &Option<String>) -> $crate::store::Result<Option<Option<i64>>> {
                match tenant {
                    None => Ok(Some(None)),
                    Some(slug) => Ok(sqlx::query_scalar::<_, i64>("select id from tenants where slug = $1")
                        .bind(slug)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(Some)),
                }
            }

            async fn retention_guarded<'e, E>(executor: E, owner: Option<i64>, today: chrono::NaiveDate) -> sqlx::Result<bool>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query_scalar($crate::store::retention::GUARDS_SQL)
                    .bind(owner)
                    .bind(today)
                    .fetch_one(executor)
                    .await
            }

            async fn retention_due_rows(
                &self,
                target: &$crate::store::RetentionTarget,
            ) -> $crate::store::Result<$crate::store::RetentionDue> {
                let rows = $crate::store::retention::Rows::of(target)?;
                let Some(owner) = self.retention_owner(&target.tenant).await? else {
                    return Ok(Default::default());
                };
                let today = target.now.date_naive();
                let guarded = Self::retention_guarded(&self.pool, owner, today).await?;
                let (due, held, oldest): (i64, i64, Option<chrono::DateTime<chrono::Utc>>) =
                    sqlx::query_as(sqlx::AssertSqlSafe(rows.due_sql(guarded)))
                        .bind(owner)
                        .bind(target.cutoff)
                        .bind(today)
                        .fetch_one(&self.pool)
                        .await?;
                Ok($crate::store::RetentionDue { due: due - held, held, oldest })
            }

            async fn retention_resisting_rows(&self, target: &$crate::store::RetentionTarget) -> $crate::store::Result<i64> {
                let rows = $crate::store::retention::Rows::of(target)?;
                let Some(owner) = self.retention_owner(&target.tenant).await? else {
                    return Ok(0);
                };
                let today = target.now.date_naive();
                let guarded = Self::retention_guarded(&self.pool, owner, today).await?;
                Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(rows.resisting_sql(guarded)))
                    .bind(owner)
                    .bind(target.cutoff)
                    .bind(today)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn retention_lock_and_start(
                &self,
                start: &$crate::store::RetentionStart,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<std::result::Result<$crate::store::RetentionRun, $crate::store::LockHeld>> {
                let token = uuid::Uuid::new_v4().simple().to_string();
                let holder = format!("{} [{}]", start.holder, &token[..8]);
                let mut tx = self.begin_admin().await?;
                let Some(lock) = $crate::store::retention::$dialect::take_lock(&self.pool, &mut tx, &holder, start.take_over.as_deref(), ctx.at).await? else {
                    tx.rollback().await?;
                    let row: Option<(String, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
                        sqlx::query_as("select holder, acquired_at, expires_at from job_locks where name = $1")
                            .bind($crate::store::retention::LOCK_NAME)
                            .fetch_optional(&self.pool)
                            .await?;
                    let lease = $crate::store::retention::$dialect::LEASE;
                    return Ok(Err($crate::store::LockHeld {
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
                    let counts: serde_json::Value = serde_json::from_str(&counts).unwrap_or(serde_json::Value::Null);
                    let event = $crate::domain::audit::AuditEvent::new(
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
                Ok(Ok($crate::store::RetentionRun { id, lock }))
            }

            async fn retention_batch(
                &self,
                run: &$crate::store::RetentionRun,
                target: &$crate::store::RetentionTarget,
                after_id: i64,
                limit: i64,
                record: &$crate::store::RecordProgress<'_>,
            ) -> $crate::store::Result<$crate::store::RetentionBatch> {
                use $crate::domain::policy::{RetainedData, RetentionAction};
                let rows = $crate::store::retention::Rows::of(target)?;
                let Some(owner) = self.retention_owner(&target.tenant).await? else {
                    return Ok(Default::default());
                };
                let today = target.now.date_naive();
                // The window: found by a read, without the write lock.
                let mut access: Vec<(i64, String, String, Option<String>)> = Vec::new();
                let (seen, upper): (i64, Option<i64>) = if rows.rewrites_access() {
                    access = sqlx::query_as(sqlx::AssertSqlSafe(rows.access_window_sql()))
                        .bind(owner)
                        .bind(target.cutoff)
                        .bind(after_id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    (i64::try_from(access.len()).unwrap_or(i64::MAX), access.last().map(|r| r.0))
                } else {
                    sqlx::query_as(sqlx::AssertSqlSafe(rows.window_sql()))
                        .bind(owner)
                        .bind(target.cutoff)
                        .bind(after_id)
                        .bind(limit)
                        .fetch_one(&self.pool)
                        .await?
                };
                let Some(upper) = upper else {
                    return Ok(Default::default());
                };
                let mut batch = $crate::store::RetentionBatch {
                    seen,
                    next_after: (seen >= limit).then_some(upper),
                    ..Default::default()
                };
                // The change: one short transaction over that id range.
                let mut tx = self.begin_write().await?;
                // How long the write lock (SQLite) is held, for `-vv` and the benchmark.
                let started = std::time::Instant::now();
                $crate::store::retention::$dialect::tune(&mut tx).await?;
                $crate::store::retention::$dialect::renew(&mut tx, &run.lock).await?;
                let guarded = Self::retention_guarded(&mut *tx, owner, today).await?;
                let in_range = |sql: String| {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(owner)
                        .bind(target.cutoff)
                        .bind(after_id)
                        .bind(upper)
                        .bind(today)
                };
                if guarded {
                    batch.held = sqlx::query_scalar(sqlx::AssertSqlSafe(rows.held_in_batch_sql()))
                        .bind(owner)
                        .bind(target.cutoff)
                        .bind(after_id)
                        .bind(upper)
                        .bind(today)
                        .fetch_one(&mut *tx)
                        .await?;
                }
                let affected = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                match (rows.data, rows.action) {
                    (RetainedData::AccessLog, RetentionAction::Anonymize) => {
                        let json: Vec<serde_json::Value> = access
                            .iter()
                            .map(|(id, ip, path, referrer)| {
                                let a = $crate::domain::retention::anonymize_access(ip, path, referrer.as_deref());
                                serde_json::json!({ "id": id, "ip": a.ip, "path": a.path, "referrer": a.referrer })
                            })
                            .collect();
                        let sql = rows.rewrite_access_sql(guarded, $crate::store::retention::$dialect::ACCESS_ROWS);
                        batch.anonymized = affected(
                            sqlx::query(sqlx::AssertSqlSafe(sql))
                                .bind(serde_json::Value::Array(json).to_string())
                                .bind(target.now)
                                .bind(today)
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
                                in_range(rows.notifications_of_treated_sql(guarded)).execute(&mut *tx).await?.rows_affected(),
                            );
                        }
                        batch.anonymized = affected(
                            in_range(rows.anonymize_sql(guarded)).bind(target.now).execute(&mut *tx).await?.rows_affected(),
                        );
                    }
                    (data, RetentionAction::Delete) => {
                        use $crate::store::retention::Effect;
                        for (sql, effect) in rows.before_delete_sql(guarded) {
                            if effect == Effect::PlacesToFree {
                                batch.places_freed = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                                    .bind(owner)
                                    .bind(target.cutoff)
                                    .bind(after_id)
                                    .bind(upper)
                                    .bind(today)
                                    .bind(target.now)
                                    .fetch_one(&mut *tx)
                                    .await?;
                                continue;
                            }
                            let q = in_range(sql);
                            let q = if effect.binds_now() { q.bind(target.now) } else { q };
                            let n = affected(q.execute(&mut *tx).await?.rows_affected());
                            if effect == Effect::Dependents {
                                batch.dependents_deleted += n;
                            }
                        }
                        if data == RetainedData::Bookings {
                            batch.anonymized = affected(
                                in_range(rows.anonymize_referenced_bookings_sql(guarded))
                                    .bind(target.now)
                                    .execute(&mut *tx)
                                    .await?
                                    .rows_affected(),
                            );
                            batch.deleted = affected(
                                in_range(rows.delete_unreferenced_bookings_sql(guarded)).execute(&mut *tx).await?.rows_affected(),
                            );
                        } else {
                            batch.deleted =
                                affected(in_range(rows.delete_sql(guarded)).execute(&mut *tx).await?.rows_affected());
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

            async fn retention_finish(
                &self,
                run: $crate::store::RetentionRun,
                finish: &$crate::store::RetentionFinish,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<()> {
                let mut tx = self.begin_admin().await?;
                sqlx::query("update retention_runs set finished_at = $2, status = $3, counts = $4 where id = $1")
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
                    .bind($crate::store::retention::LOCK_NAME)
                    .bind(run.holder())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                $crate::store::retention::$dialect::release(run.lock).await?;
                // Erased bytes must not survive in the WAL either (SQLite).
                self.after_erasure().await?;
                Ok(())
            }

            async fn retention_run_list(&self, limit: i64) -> $crate::store::Result<Vec<$crate::store::RetentionRunRecord>> {
                Ok(sqlx::query_as(
                    "select id, actor, tenant, clock_at, started_at, finished_at, status, counts
                     from retention_runs order by id desc limit $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}
