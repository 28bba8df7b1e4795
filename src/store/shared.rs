//! The SQL both backends share. `$1` placeholders, `on conflict` and `returning` work on
//! SQLite and PostgreSQL alike, so one text serves both; what differs (connecting, how an
//! administrative write transaction is serialized, the migrations) lives in `sqlite.rs` and
//! `postgres.rs` as inherent methods that this macro calls:
//!
//! - `async fn begin_admin(&self) -> sqlx::Result<Transaction<'static, DB>>`: a transaction
//!   that holds the audit chain for itself until it ends;
//! - `async fn begin_write(&self) -> sqlx::Result<Transaction<'static, DB>>`: a transaction
//!   that writes without touching the audit chain (bookings);
//! - `async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>>`: this process's
//!   turn to write, held for a booking's transaction (SQLite: one writer at a time, so the
//!   process queues its own writers instead of letting them poll for the file lock);
//! - `async fn migrations_table_exists(&self) -> sqlx::Result<bool>`;
//! - `async fn after_erasure(&self) -> sqlx::Result<()>`: make erased bytes leave the files;
//! - `fn migrator() -> &'static Migrator`.

use crate::domain::audit::AuditEntry;
use chrono::{DateTime, Utc};

/// Parameters per multi-row statement: both backends take many more (SQLite 32,766,
/// PostgreSQL 65,535), and a few thousand rows per statement are all the speed there is.
pub(super) const MAX_BINDS: usize = 16_000;

/// A place taken in a slot: the slot's service, start and end.
pub(super) type Place = (i64, DateTime<Utc>, DateTime<Utc>);

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    tenant: Option<String>,
    subject_ref: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            tenant: r.tenant,
            subject_ref: r.subject_ref,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OpenSlotRow {
    id: i64,
    service_code: String,
    service_name: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    capacity: i64,
    booked: i64,
}

impl From<OpenSlotRow> for super::OpenSlot {
    fn from(r: OpenSlotRow) -> Self {
        super::OpenSlot {
            id: r.id,
            service_code: r.service_code,
            service_name: r.service_name,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            capacity: r.capacity,
            booked: r.booked,
        }
    }
}

pub(super) const OPEN_SLOT_SELECT: &str =
    "select sl.id, s.code as service_code, s.name as service_name,
        sl.starts_at, sl.ends_at, sl.capacity, sl.booked
     from slots sl join services s on s.id = sl.service_id join tenants t on t.id = sl.tenant_id";

/// Compares two hashes without stopping at the first difference, so response times do
/// not tell how much of a guessed code was right.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(super) const REQUEST_SELECT: &str = "select r.id, t.slug as tenant, r.kind, r.subject_ref, r.channel,
        r.received_at, r.due_on, r.extended_due_on, r.extension_reason, r.status, r.outcome, r.closed_at,
        r.created_at
     from requests r left join tenants t on t.id = r.tenant_id";

pub(super) const AUDIT_COLUMNS: &str =
    "id, at, actor, action, tenant, subject_ref, details, prev_hash, hash";

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:expr) => {
        impl $store {
            /// Appends one entry to the hash chain inside the caller's transaction.
            async fn append_audit(
                tx: &mut sqlx::Transaction<'static, $db>,
                ctx: &$crate::store::AuditContext,
                event: &$crate::domain::audit::AuditEvent,
            ) -> sqlx::Result<()> {
                let head: Option<(i64, String)> =
                    sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                        .fetch_optional(&mut **tx)
                        .await?;
                let e = $crate::domain::audit::AuditEntry::chain(head, ctx.at, &ctx.actor, event);
                sqlx::query(
                    "insert into audit_log (id, at, actor, action, tenant, subject_ref, details, prev_hash, hash)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.id)
                .bind(e.at)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.tenant)
                .bind(&e.subject_ref)
                .bind(&e.details)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "insert into audit_head (id, last_id, last_hash) values (1, $1, $2)
                     on conflict (id) do update set last_id = excluded.last_id, last_hash = excluded.last_hash",
                )
                .bind(e.id)
                .bind(&e.hash)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn tenant_id(
                tx: &mut sqlx::Transaction<'static, $db>,
                slug: &str,
            ) -> $crate::store::Result<i64> {
                sqlx::query_scalar("select id from tenants where slug = $1")
                    .bind(slug)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| {
                        $crate::store::StoreError::NotFound(format!(
                            "tenant {slug} is not in the database; run `datenwart tenants sync`"
                        ))
                    })
            }

            /// Appends access-log rows (each with the booking it belongs to) with as few
            /// statements as the parameter limit allows; each row finds its tenant by slug in
            /// the statement itself, so a single row (every request of `serve`) is one statement.
            async fn insert_access_rows(
                tx: &mut sqlx::Transaction<'static, $db>,
                rows: &[(&$crate::store::AccessLogEntry, Option<i64>)],
            ) -> sqlx::Result<()> {
                for chunk in rows.chunks($crate::store::shared::MAX_BINDS / 14) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "insert into access_log (tenant_id, logged_at, utc_offset_minutes, ip, method, path, status, bytes,
                             referrer, browser, browser_version, operating_system, language, booking_id) ",
                    );
                    q.push_values(chunk, |mut r, (e, booking_id)| {
                        r.push("(select id from tenants where slug = ")
                            .push_bind_unseparated(&e.tenant)
                            .push_unseparated(")")
                            .push_bind(e.logged_at)
                            .push_bind(e.utc_offset_minutes)
                            .push_bind(&e.ip)
                            .push_bind(&e.method)
                            .push_bind(&e.path)
                            .push_bind(e.status)
                            .push_bind(e.bytes)
                            .push_bind(&e.referrer)
                            .push_bind(&e.browser)
                            .push_bind(&e.browser_version)
                            .push_bind(&e.operating_system)
                            .push_bind(&e.language)
                            .push_bind(*booking_id);
                    });
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Takes one place in a slot by a conditional update, or says why it cannot.
            async fn take_place(
                tx: &mut sqlx::Transaction<'static, $db>,
                tenant_id: i64,
                b: &$crate::store::NewBooking,
            ) -> sqlx::Result<Result<$crate::store::shared::Place, $crate::store::BookingRefusal>> {
                use $crate::store::BookingRefusal;
                let taken: Option<$crate::store::shared::Place> = sqlx::query_as(
                    "update slots set booked = booked + 1
                     where id = $1 and tenant_id = $2 and booked < capacity and starts_at > $3
                     returning service_id, starts_at, ends_at",
                )
                .bind(b.slot_id)
                .bind(tenant_id)
                .bind(b.booked_at)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(place) = taken {
                    return Ok(Ok(place));
                }
                let slot: Option<chrono::DateTime<chrono::Utc>> =
                    sqlx::query_scalar("select starts_at from slots where id = $1 and tenant_id = $2")
                        .bind(b.slot_id)
                        .bind(tenant_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                Ok(Err(match slot {
                    None => BookingRefusal::SlotNotFound,
                    Some(start) if start <= b.booked_at => BookingRefusal::SlotInPast,
                    Some(_) => BookingRefusal::SlotFull,
                }))
            }

            /// The erasure of `erase_subject`, inside the caller's transaction (also used by
            /// the mailbox intake, whose message and effects commit together).
            async fn erase_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                subject_ref: &str,
                scopes: &[$crate::store::ErasureScope],
                opts: &$crate::store::ErasureOptions,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::ErasureReport> {
                use $crate::store::{BookingErasure, ErasureCounts, Kept, RowChange};
                let now = opts.now;
                let today = now.date_naive();
                let mut report = $crate::store::ErasureReport { dry_run: opts.dry_run, ..Default::default() };
                for scope in scopes {
                    let tenant = scope.tenant.as_str();
                    let tenant_id = Self::tenant_id(tx, tenant).await?;
                    let change = |category: &'static str, id: i64, action: &'static str| RowChange {
                        tenant: tenant.to_owned(),
                        category,
                        id,
                        action,
                    };
                    let holds: Vec<(i64, String, Option<chrono::NaiveDate>)> = sqlx::query_as(
                        "select id, reason, until_on from holds where tenant_id = $1 and subject_ref = $2
                         and removed_at is null and (until_on is null or until_on >= $3) order by id",
                    )
                    .bind(tenant_id)
                    .bind(subject_ref)
                    .bind(today)
                    .fetch_all(&mut **tx)
                    .await?;
                    let restrictions: Vec<(i64, String)> = sqlx::query_as(
                        "select id, reason from restrictions where subject_ref = $1
                         and (tenant_id = $2 or tenant_id is null) and lifted_at is null order by id",
                    )
                    .bind(subject_ref)
                    .bind(tenant_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    if !holds.is_empty() || !restrictions.is_empty() {
                        for (id, reason, until) in holds {
                            let until = until.map(|u| format!(", bis {u}")).unwrap_or_default();
                            report.kept.push(Kept {
                                tenant: tenant.to_owned(),
                                category: "all",
                                what: "all".into(),
                                reason: format!("hold #{id}: {reason}{until}"),
                            });
                        }
                        for (id, reason) in restrictions {
                            report.kept.push(Kept {
                                tenant: tenant.to_owned(),
                                category: "all",
                                what: "all".into(),
                                reason: format!("restriction #{id} (Art. 18): {reason}"),
                            });
                        }
                        continue;
                    }
                    let mut counts = ErasureCounts::default();
                    let bookings: Vec<(i64, String, String, chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
                        "select id, reference, status, appointment_start, slot_id from bookings
                         where tenant_id = $1 and subject_ref = $2 and ($3 is null or booked_at <= $3) order by id",
                    )
                    .bind(tenant_id)
                    .bind(subject_ref)
                    .bind(opts.only_before)
                    .fetch_all(&mut **tx)
                    .await?;
                    for (booking_id, reference, status, starts_at, slot_id) in bookings {
                        let hold: Option<(i64, String)> = sqlx::query_as(
                            "select id, reason from holds where booking_id = $1 and removed_at is null
                             and (until_on is null or until_on >= $2) order by id limit 1",
                        )
                        .bind(booking_id)
                        .bind(today)
                        .fetch_optional(&mut **tx)
                        .await?;
                        if let Some((hold_id, reason)) = hold {
                            report.kept.push(Kept {
                                tenant: tenant.to_owned(),
                                category: "bookings",
                                what: reference,
                                reason: format!("hold #{hold_id}: {reason}"),
                            });
                            continue;
                        }
                        if status == "booked" && starts_at > now {
                            sqlx::query("update bookings set status = 'cancelled', cancelled_at = $2, cancelled_by = 'erasure' where id = $1")
                                .bind(booking_id)
                                .bind(now)
                                .execute(&mut **tx)
                                .await?;
                            sqlx::query("update slots set booked = booked - 1 where id = $1")
                                .bind(slot_id)
                                .execute(&mut **tx)
                                .await?;
                            counts.bookings_cancelled += 1;
                            counts.slots_freed += 1;
                            report.changes.push(change("bookings", booking_id, "cancel"));
                            report.changes.push(change("slots", slot_id, "free_place"));
                        }
                        let ids: Vec<i64> = sqlx::query_scalar("delete from notifications where booking_id = $1 returning id")
                            .bind(booking_id)
                            .fetch_all(&mut **tx)
                            .await?;
                        counts.notifications_deleted += ids.len();
                        report.changes.extend(ids.into_iter().map(|id| change("notifications", id, "delete")));
                        let ids: Vec<i64> = sqlx::query_scalar("delete from access_log where booking_id = $1 returning id")
                            .bind(booking_id)
                            .fetch_all(&mut **tx)
                            .await?;
                        counts.access_log_deleted += ids.len();
                        report.changes.extend(ids.into_iter().map(|id| change("access_log", id, "delete")));
                        let ids: Vec<i64> = sqlx::query_scalar(
                            "update consents set subject_ref = null, booking_id = null,
                                 withdrawn_at = coalesce(withdrawn_at, $2),
                                 withdrawal_source = coalesce(withdrawal_source, 'erasure')
                             where booking_id = $1 returning id",
                        )
                        .bind(booking_id)
                        .bind(now)
                        .fetch_all(&mut **tx)
                        .await?;
                        counts.consents_reduced += ids.len();
                        report.changes.extend(ids.into_iter().map(|id| change("consents", id, "reduce_to_proof")));
                        // A booking a (lifted) hold still points to cannot be deleted; it is anonymized.
                        let referenced: i64 = sqlx::query_scalar("select count(*) from holds where booking_id = $1")
                            .bind(booking_id)
                            .fetch_one(&mut **tx)
                            .await?;
                        if scope.bookings == BookingErasure::Delete && referenced == 0 {
                            sqlx::query("delete from bookings where id = $1").bind(booking_id).execute(&mut **tx).await?;
                            counts.bookings_deleted += 1;
                            report.changes.push(change("bookings", booking_id, "delete"));
                        } else {
                            sqlx::query(
                                "update bookings set subject_ref = null, first_name = null, last_name = null,
                                     email = null, phone = null, address = null, birth_date = null,
                                     code_hash = null, anonymized_at = $2
                                 where id = $1",
                            )
                            .bind(booking_id)
                            .bind(now)
                            .execute(&mut **tx)
                            .await?;
                            counts.bookings_anonymized += 1;
                            report.changes.push(change("bookings", booking_id, "anonymize"));
                        }
                    }
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "update consents set subject_ref = null,
                             withdrawn_at = coalesce(withdrawn_at, $3),
                             withdrawal_source = coalesce(withdrawal_source, 'erasure')
                         where tenant_id = $1 and subject_ref = $2 and booking_id is null
                           and ($4 is null or given_at <= $4) returning id",
                    )
                    .bind(tenant_id)
                    .bind(subject_ref)
                    .bind(now)
                    .bind(opts.only_before)
                    .fetch_all(&mut **tx)
                    .await?;
                    counts.consents_reduced += ids.len();
                    report.changes.extend(ids.into_iter().map(|id| change("consents", id, "reduce_to_proof")));
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "update inbox_messages set sender = null, subject = null, subject_ref = null, anonymized_at = $3
                         where tenant_id = $1 and subject_ref = $2 and ($4 is null or processed_at <= $4) returning id",
                    )
                    .bind(tenant_id)
                    .bind(subject_ref)
                    .bind(now)
                    .bind(opts.only_before)
                    .fetch_all(&mut **tx)
                    .await?;
                    counts.inbox_anonymized += ids.len();
                    report.changes.extend(ids.into_iter().map(|id| change("inbox", id, "anonymize")));
                    // A reply not yet written holds the person's address; it is not sent any more.
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "delete from replies where tenant_id = $1 and subject_ref = $2 and written_at is null
                           and ($3 is null or created_at <= $3) returning id",
                    )
                    .bind(tenant_id)
                    .bind(subject_ref)
                    .bind(opts.only_before)
                    .fetch_all(&mut **tx)
                    .await?;
                    counts.replies_deleted += ids.len();
                    report.changes.extend(ids.into_iter().map(|id| change("replies", id, "delete")));
                    if opts.record_in_ledger {
                        sqlx::query(
                            "insert into erasure_ledger (subject_ref, tenant_id, request_id, erased_at) values ($1, $2, $3, $4)",
                        )
                        .bind(subject_ref)
                        .bind(tenant_id)
                        .bind(scope.request_id)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                    }
                    let event = $crate::domain::audit::AuditEvent::new(
                        opts.action,
                        serde_json::to_value(&counts).unwrap_or_default(),
                    )
                    .tenant(tenant)
                    .subject(subject_ref);
                    Self::append_audit(tx, ctx, &event).await?;
                    report.counts.push((tenant.to_owned(), counts));
                }
                Ok(report)
            }

            /// The effect of one mailbox message, inside its transaction.
            async fn apply_intake(
                tx: &mut sqlx::Transaction<'static, $db>,
                message_id: i64,
                tenant_id: Option<i64>,
                e: &$crate::store::InboxEntry,
                effect: &$crate::store::IntakeEffect,
                reply: &$crate::store::RenderReply<'_>,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::IntakeResult> {
                use $crate::store::IntakeEffect;
                let mut result = $crate::store::IntakeResult { recorded: true, ..Default::default() };
                let received = e.received_at.unwrap_or(e.processed_at);
                let open_request = |kind: &str, due_on: chrono::NaiveDate, closed: Option<&str>| {
                    sqlx::query_scalar::<_, i64>(
                        "insert into requests (tenant_id, kind, subject_ref, channel, received_at, due_on, status,
                             outcome, closed_at, created_at)
                         values ($1, $2, $3, 'email', $4, $5, $6, $7, $8, $9) returning id",
                    )
                    .bind(tenant_id)
                    .bind(kind.to_owned())
                    .bind(e.subject_ref.clone())
                    .bind(received)
                    .bind(due_on)
                    .bind(if closed.is_some() { "closed" } else { "open" })
                    .bind(closed.map(str::to_owned))
                    .bind(closed.map(|_| e.processed_at))
                    .bind(ctx.at)
                };
                match effect {
                    IntakeEffect::Nothing => {}
                    IntakeEffect::OpenRequest { kind, due_on } => {
                        result.request_id = Some(open_request(kind, *due_on, None).fetch_one(&mut **tx).await?);
                    }
                    IntakeEffect::Withdraw { purposes, erase, due_on } => {
                        let outcome = if erase.is_some() { "erased" } else { "answered" };
                        let request_id = open_request("withdrawal", *due_on, Some(outcome)).fetch_one(&mut **tx).await?;
                        result.request_id = Some(request_id);
                        for purpose in purposes {
                            result.consents_withdrawn += sqlx::query(
                                "update consents set withdrawn_at = $4, withdrawal_source = 'email', withdrawal_request_id = $5
                                 where tenant_id = $1 and subject_ref = $2 and purpose = $3 and withdrawn_at is null",
                            )
                            .bind(tenant_id)
                            .bind(&e.subject_ref)
                            .bind(purpose)
                            .bind(e.processed_at)
                            .bind(request_id)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected() as usize;
                        }
                        if purposes.iter().any(|p| p == $crate::domain::booking::SMS_PURPOSE) {
                            result.reminders_cancelled = sqlx::query(
                                "update notifications set status = 'cancelled'
                                 where status = 'queued' and kind = 'sms_reminder'
                                   and booking_id in (select id from bookings where tenant_id = $1 and subject_ref = $2)",
                            )
                            .bind(tenant_id)
                            .bind(&e.subject_ref)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected() as usize;
                        }
                        if let (Some(scope), Some(subject)) = (erase, &e.subject_ref) {
                            let scope = $crate::store::ErasureScope { request_id: Some(request_id), ..scope.clone() };
                            let opts = $crate::store::ErasureOptions {
                                now: e.processed_at,
                                dry_run: false,
                                record_in_ledger: true,
                                action: "subject.erase",
                                only_before: None,
                            };
                            let report = Self::erase_in(tx, subject, std::slice::from_ref(&scope), &opts, ctx).await?;
                            if !report.kept.is_empty() {
                                sqlx::query("update requests set outcome = 'erased_partly' where id = $1")
                                    .bind(request_id)
                                    .execute(&mut **tx)
                                    .await?;
                            }
                            result.erasure = Some(report);
                        }
                    }
                }
                if let Some(request_id) = result.request_id {
                    sqlx::query("update inbox_messages set request_id = $2 where id = $1")
                        .bind(message_id)
                        .bind(request_id)
                        .execute(&mut **tx)
                        .await?;
                }
                // The reply is stored with the message (after its erasure, which must not
                // take the answer to the withdrawal with it); its file is written after commit.
                if let Some(new) = reply(&result) {
                    let id: i64 = sqlx::query_scalar(
                        "insert into replies (tenant_id, inbox_message_id, subject_ref, file_name, eml, created_at)
                         values ($1, $2, $3, $4, $5, $6) returning id",
                    )
                    .bind(tenant_id)
                    .bind(message_id)
                    .bind(&e.subject_ref)
                    .bind(&new.file_name)
                    .bind(&new.eml)
                    .bind(ctx.at)
                    .fetch_one(&mut **tx)
                    .await?;
                    result.reply = Some($crate::store::PendingReply { id, file_name: new.file_name, eml: new.eml });
                }
                let mut event = $crate::domain::audit::AuditEvent::new(
                    "inbox.message",
                    serde_json::json!({
                        "message": message_id,
                        "outcome": e.outcome,
                        "request": result.request_id,
                        "consents_withdrawn": result.consents_withdrawn,
                        "reminders_cancelled": result.reminders_cancelled,
                        "reply": result.reply.as_ref().map(|r| r.id),
                    }),
                );
                event.tenant = e.tenant.clone();
                event.subject_ref = e.subject_ref.clone();
                Self::append_audit(tx, ctx, &event).await?;
                Ok(result)
            }

            async fn applied_versions(&self) -> sqlx::Result<Vec<(i64, bool)>> {
                if !self.migrations_table_exists().await? {
                    return Ok(Vec::new());
                }
                sqlx::query_as("select version, success from _sqlx_migrations order by version")
                    .fetch_all(&self.pool)
                    .await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn migrate(
                &self,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::MigrationReport> {
                let before: std::collections::HashSet<i64> = self
                    .applied_versions()
                    .await?
                    .into_iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(v, _)| v)
                    .collect();
                let migrator = Self::migrator();
                migrator.run(&self.pool).await?;
                let known: Vec<_> = migrator
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .collect();
                let applied: Vec<$crate::store::AppliedMigration> = known
                    .iter()
                    .filter(|m| !before.contains(&m.version))
                    .map(|m| $crate::store::AppliedMigration {
                        version: m.version,
                        description: m.description.to_string(),
                    })
                    .collect();

                let mut tx = self.begin_admin().await?;
                let mut key = vec![0u8; $crate::domain::subject::PseudonymKey::LEN];
                getrandom::fill(&mut key).map_err(|e| sqlx::Error::Protocol(format!("no randomness for the pseudonym key: {e}")))?;
                let key_created = sqlx::query(
                    "insert into installation (id, pseudonym_key, created_at) values (1, $1, $2)
                     on conflict (id) do nothing",
                )
                .bind(&key)
                .bind(ctx.at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !applied.is_empty() || key_created {
                    let versions: Vec<i64> = applied.iter().map(|m| m.version).collect();
                    let event = $crate::domain::audit::AuditEvent::new(
                        "schema.migrate",
                        serde_json::json!({ "applied": versions, "key_created": key_created }),
                    );
                    Self::append_audit(&mut tx, ctx, &event).await?;
                }
                tx.commit().await?;
                Ok($crate::store::MigrationReport { applied, known: known.len(), key_created })
            }

            async fn check_schema(&self) -> $crate::store::Result<()> {
                let applied = self.applied_versions().await?;
                let known: Vec<i64> = Self::migrator()
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .map(|m| m.version)
                    .collect();
                if let Some((v, _)) = applied.iter().find(|(v, _)| !known.contains(v)) {
                    return Err($crate::store::StoreError::SchemaAhead(*v));
                }
                let complete = known.iter().all(|k| applied.iter().any(|(v, ok)| v == k && *ok));
                let has_key: bool = complete
                    && sqlx::query_scalar::<_, i64>("select count(*) from installation")
                        .fetch_one(&self.pool)
                        .await?
                        == 1;
                if !has_key {
                    return Err($crate::store::StoreError::SchemaBehind);
                }
                Ok(())
            }

            async fn pseudonym_key(&self) -> $crate::store::Result<$crate::domain::subject::PseudonymKey> {
                let key = self
                    .key
                    .get_or_try_init(|| async {
                        let bytes: Option<Vec<u8>> =
                            sqlx::query_scalar("select pseudonym_key from installation where id = 1")
                                .fetch_optional(&self.pool)
                                .await?;
                        bytes
                            .map($crate::domain::subject::PseudonymKey::new)
                            .ok_or($crate::store::StoreError::SchemaBehind)
                    })
                    .await?;
                Ok(key.clone())
            }

            async fn sync_tenants(
                &self,
                tenants: &[$crate::store::TenantRecord],
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::TenantSyncReport> {
                let mut tx = self.begin_admin().await?;
                let existing: Vec<(String, String, String)> =
                    sqlx::query_as("select slug, name, policy_sha256 from tenants order by slug")
                        .fetch_all(&mut *tx)
                        .await?;
                let mut report = $crate::store::TenantSyncReport::default();
                for t in tenants {
                    let action = match existing.iter().find(|(slug, _, _)| *slug == t.slug) {
                        None => {
                            sqlx::query(
                                "insert into tenants (slug, name, policy_sha256, created_at, updated_at)
                                 values ($1, $2, $3, $4, $4)",
                            )
                            .bind(&t.slug)
                            .bind(&t.name)
                            .bind(&t.policy_sha256)
                            .bind(ctx.at)
                            .execute(&mut *tx)
                            .await?;
                            report.created.push(t.slug.clone());
                            "tenant.create"
                        }
                        Some((_, name, sha)) if *name == t.name && *sha == t.policy_sha256 => {
                            report.unchanged.push(t.slug.clone());
                            continue;
                        }
                        Some(_) => {
                            sqlx::query(
                                "update tenants set name = $2, policy_sha256 = $3, updated_at = $4 where slug = $1",
                            )
                            .bind(&t.slug)
                            .bind(&t.name)
                            .bind(&t.policy_sha256)
                            .bind(ctx.at)
                            .execute(&mut *tx)
                            .await?;
                            report.updated.push(t.slug.clone());
                            "tenant.update"
                        }
                    };
                    let event = $crate::domain::audit::AuditEvent::new(
                        action,
                        serde_json::json!({ "policy_sha256": t.policy_sha256 }),
                    )
                    .tenant(&t.slug);
                    Self::append_audit(&mut tx, ctx, &event).await?;
                }
                report.without_policy = existing
                    .into_iter()
                    .map(|(slug, _, _)| slug)
                    .filter(|slug| !tenants.iter().any(|t| t.slug == *slug))
                    .collect();
                tx.commit().await?;
                Ok(report)
            }

            async fn list_tenants(&self) -> $crate::store::Result<Vec<$crate::store::Tenant>> {
                let rows: Vec<(String, String, String, i64, i64, i64, chrono::DateTime<chrono::Utc>)> =
                    sqlx::query_as(
                        "select t.slug, t.name, t.policy_sha256,
                                (select count(*) from services s where s.tenant_id = t.id),
                                (select count(*) from slots s where s.tenant_id = t.id),
                                (select count(*) from bookings b where b.tenant_id = t.id),
                                t.updated_at
                         from tenants t order by t.slug",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(slug, name, policy_sha256, services, slots, bookings, updated_at)| {
                        $crate::store::Tenant { slug, name, policy_sha256, services, slots, bookings, updated_at }
                    })
                    .collect())
            }

            async fn import_services(
                &self,
                tenant: &str,
                services: &[$crate::domain::service::NewService],
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::ServiceImportReport> {
                let mut tx = self.begin_admin().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                let mut report = $crate::store::ServiceImportReport::default();
                for s in services {
                    let existing: Option<(String, i64)> = sqlx::query_as(
                        "select name, duration_minutes from services where tenant_id = $1 and code = $2",
                    )
                    .bind(tenant_id)
                    .bind(&s.code)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match existing {
                        None => {
                            sqlx::query(
                                "insert into services (tenant_id, code, name, duration_minutes, created_at, updated_at)
                                 values ($1, $2, $3, $4, $5, $5)",
                            )
                            .bind(tenant_id)
                            .bind(&s.code)
                            .bind(&s.name)
                            .bind(s.duration_minutes)
                            .bind(ctx.at)
                            .execute(&mut *tx)
                            .await?;
                            report.created += 1;
                        }
                        Some((name, minutes)) if name == s.name && minutes == s.duration_minutes => {
                            report.unchanged += 1;
                        }
                        Some(_) => {
                            sqlx::query(
                                "update services set name = $3, duration_minutes = $4, updated_at = $5
                                 where tenant_id = $1 and code = $2",
                            )
                            .bind(tenant_id)
                            .bind(&s.code)
                            .bind(&s.name)
                            .bind(s.duration_minutes)
                            .bind(ctx.at)
                            .execute(&mut *tx)
                            .await?;
                            report.updated += 1;
                        }
                    }
                }
                if report.created + report.updated > 0 {
                    let event = $crate::domain::audit::AuditEvent::new(
                        "services.import",
                        serde_json::json!({
                            "created": report.created,
                            "updated": report.updated,
                            "unchanged": report.unchanged,
                        }),
                    )
                    .tenant(tenant);
                    Self::append_audit(&mut tx, ctx, &event).await?;
                }
                tx.commit().await?;
                Ok(report)
            }

            async fn list_services(&self, tenant: &str) -> $crate::store::Result<Vec<$crate::store::Service>> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "select s.code, s.name, s.duration_minutes from services s
                     join tenants t on t.id = s.tenant_id where t.slug = $1 order by s.code",
                )
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(code, name, duration_minutes)| $crate::store::Service { code, name, duration_minutes })
                    .collect())
            }

            async fn add_slots(
                &self,
                tenant: &str,
                slots: &[(String, $crate::domain::slots::NewSlot)],
                on_overlap: $crate::store::OnOverlap,
                action: &str,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::SlotAddOutcome> {
                use $crate::domain::slots::{plan_slots, SlotFate};
                let mut tx = self.begin_admin().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                let mut fates = vec![SlotFate::Create; slots.len()];
                let mut codes: Vec<&str> = slots.iter().map(|(c, _)| c.as_str()).collect();
                codes.sort_unstable();
                codes.dedup();
                let mut to_create = Vec::new();
                for code in codes {
                    let service_id: i64 =
                        sqlx::query_scalar("select id from services where tenant_id = $1 and code = $2")
                            .bind(tenant_id)
                            .bind(code)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or_else(|| {
                                $crate::store::StoreError::NotFound(format!(
                                    "service {code} is not offered by tenant {tenant}; import it with `datenwart services import`"
                                ))
                            })?;
                    let indices: Vec<usize> =
                        (0..slots.len()).filter(|&i| slots[i].0 == code).collect();
                    let candidates: Vec<_> = indices.iter().map(|&i| slots[i].1.clone()).collect();
                    let lo = candidates.iter().map(|s| s.starts_at).min().expect("one slot per code");
                    let hi = candidates.iter().map(|s| s.ends_at).max().expect("one slot per code");
                    let existing: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
                        sqlx::query_as(
                            "select starts_at, ends_at from slots
                             where service_id = $1 and starts_at < $2 and ends_at > $3",
                        )
                        .bind(service_id)
                        .bind(hi)
                        .bind(lo)
                        .fetch_all(&mut *tx)
                        .await?;
                    for (&i, fate) in indices.iter().zip(plan_slots(&existing, &candidates)) {
                        if fate == SlotFate::Create {
                            to_create.push((service_id, i));
                        }
                        fates[i] = fate;
                    }
                }
                let overlapping = fates.iter().filter(|f| matches!(f, SlotFate::Overlaps(_))).count();
                if overlapping > 0 && on_overlap == $crate::store::OnOverlap::Refuse {
                    tx.rollback().await?;
                    return Ok($crate::store::SlotAddOutcome { fates, written: false });
                }
                for &(service_id, i) in &to_create {
                    let slot = &slots[i].1;
                    sqlx::query(
                        "insert into slots (tenant_id, service_id, starts_at, ends_at, capacity, created_at)
                         values ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(tenant_id)
                    .bind(service_id)
                    .bind(slot.starts_at)
                    .bind(slot.ends_at)
                    .bind(slot.capacity)
                    .bind(ctx.at)
                    .execute(&mut *tx)
                    .await?;
                }
                if !to_create.is_empty() {
                    let event = $crate::domain::audit::AuditEvent::new(
                        action,
                        serde_json::json!({
                            "created": to_create.len(),
                            "existing": fates.iter().filter(|f| **f == SlotFate::Exists).count(),
                            "overlapping": overlapping,
                        }),
                    )
                    .tenant(tenant);
                    Self::append_audit(&mut tx, ctx, &event).await?;
                }
                tx.commit().await?;
                Ok($crate::store::SlotAddOutcome { fates, written: true })
            }

            async fn list_slots(
                &self,
                tenant: &str,
                filter: &$crate::store::SlotFilter,
            ) -> $crate::store::Result<Vec<$crate::store::Slot>> {
                let rows: Vec<(i64, String, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, i64, i64)> =
                    sqlx::query_as(
                        "select sl.id, s.code, sl.starts_at, sl.ends_at, sl.capacity, sl.booked
                         from slots sl
                         join services s on s.id = sl.service_id
                         join tenants t on t.id = sl.tenant_id
                         where t.slug = $1
                           and ($2 is null or s.code = $2)
                           and ($3 is null or sl.starts_at >= $3)
                           and ($4 is null or sl.starts_at < $4)
                         order by sl.starts_at, s.code
                         limit $5",
                    )
                    .bind(tenant)
                    .bind(&filter.service)
                    .bind(filter.from)
                    .bind(filter.to)
                    .bind(filter.limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, service, starts_at, ends_at, capacity, booked)| $crate::store::Slot {
                        id,
                        service,
                        starts_at,
                        ends_at,
                        capacity,
                        booked,
                    })
                    .collect())
            }

            async fn open_slot(
                &self,
                tenant: &str,
                slot_id: i64,
            ) -> $crate::store::Result<Option<$crate::store::OpenSlot>> {
                let sql = format!("{} where t.slug = $1 and sl.id = $2", $crate::store::shared::OPEN_SLOT_SELECT);
                let row: Option<$crate::store::shared::OpenSlotRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .bind(slot_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn free_slots(
                &self,
                tenant: &str,
                service: &str,
                after: chrono::DateTime<chrono::Utc>,
                before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> $crate::store::Result<Vec<$crate::store::OpenSlot>> {
                let sql = format!(
                    "{} where t.slug = $1 and s.code = $2 and sl.starts_at > $3 and sl.starts_at < $4
                       and sl.booked < sl.capacity
                     order by sl.starts_at limit $5",
                    $crate::store::shared::OPEN_SLOT_SELECT
                );
                let rows: Vec<$crate::store::shared::OpenSlotRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .bind(service)
                    .bind(after)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn book(
                &self,
                tenant: &str,
                bookings: &[$crate::store::NewBooking],
            ) -> $crate::store::Result<Vec<Result<$crate::store::Booked, $crate::store::BookingRefusal>>> {
                use $crate::store::BookingRefusal;
                use $crate::store::shared::{MAX_BINDS, Place};
                let _turn = self.write_turn().await;
                let mut tx = self.begin_write().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                let mut outcome: Vec<Option<Result<Place, BookingRefusal>>> = vec![None; bookings.len()];

                // Two entries of one batch with the same reference: only the first can be stored.
                let mut references = std::collections::HashSet::with_capacity(bookings.len());
                for (i, b) in bookings.iter().enumerate() {
                    if !references.insert(b.reference.as_str()) {
                        outcome[i] = Some(Err(BookingRefusal::ReferenceTaken));
                    }
                }

                // Taking the places first and conditionally is what makes overbooking
                // impossible: a concurrent booking of the last place updates no row. A batch
                // takes all its places in a slot with one update when they are all free, else
                // place by place; slots go in the order of their ids, so concurrent batches
                // lock them in the same order.
                let mut by_slot: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
                for (i, b) in bookings.iter().enumerate() {
                    if outcome[i].is_none() {
                        by_slot.entry(b.slot_id).or_default().push(i);
                    }
                }
                for (&slot_id, entries) in &by_slot {
                    if let [_, _, ..] = entries.as_slice() {
                        let latest = entries.iter().map(|&i| bookings[i].booked_at).max();
                        let all: Option<Place> = sqlx::query_as(
                            "update slots set booked = booked + $3
                             where id = $1 and tenant_id = $2 and booked + $3 <= capacity and starts_at > $4
                             returning service_id, starts_at, ends_at",
                        )
                        .bind(slot_id)
                        .bind(tenant_id)
                        .bind(entries.len() as i64)
                        .bind(latest)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(place) = all {
                            for &i in entries {
                                outcome[i] = Some(Ok(place));
                            }
                            continue;
                        }
                    }
                    for &i in entries {
                        outcome[i] = Some(Self::take_place(&mut tx, tenant_id, &bookings[i]).await?);
                    }
                }

                // The bookings, many rows per statement. A reference that exists already is
                // not stored (`on conflict do nothing`): its place is given back and the caller
                // books it again under a new reference.
                let placed: Vec<(usize, Place)> = outcome
                    .iter()
                    .enumerate()
                    .filter_map(|(i, o)| match o {
                        Some(Ok(place)) => Some((i, *place)),
                        _ => None,
                    })
                    .collect();
                let mut ids: std::collections::HashMap<String, i64> = std::collections::HashMap::with_capacity(placed.len());
                for chunk in placed.chunks(MAX_BINDS / 15) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "insert into bookings (tenant_id, slot_id, service_id, reference, code_hash, status,
                             appointment_start, appointment_end, booked_at, subject_ref,
                             first_name, last_name, email, phone, address, birth_date) ",
                    );
                    q.push_values(chunk, |mut r, &(i, (service_id, starts_at, ends_at))| {
                        let b = &bookings[i];
                        let p = &b.person;
                        r.push_bind(tenant_id)
                            .push_bind(b.slot_id)
                            .push_bind(service_id)
                            .push_bind(&b.reference)
                            .push_bind(&b.code_hash)
                            .push("'booked'")
                            .push_bind(starts_at)
                            .push_bind(ends_at)
                            .push_bind(b.booked_at)
                            .push_bind(&b.subject_ref)
                            .push_bind(&p.first_name)
                            .push_bind(&p.last_name)
                            .push_bind(&p.email)
                            .push_bind(&p.phone)
                            .push_bind(&p.address)
                            .push_bind(p.birth_date);
                    });
                    q.push(" on conflict (reference) do nothing returning id, reference");
                    let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    ids.extend(rows.into_iter().map(|(id, reference)| (reference, id)));
                }
                let mut stored: Vec<(usize, i64)> = Vec::with_capacity(placed.len());
                for &(i, _) in &placed {
                    match ids.get(&bookings[i].reference) {
                        Some(&id) => stored.push((i, id)),
                        None => {
                            sqlx::query("update slots set booked = booked - 1 where id = $1")
                                .bind(bookings[i].slot_id)
                                .execute(&mut *tx)
                                .await?;
                            outcome[i] = Some(Err(BookingRefusal::ReferenceTaken));
                        }
                    }
                }

                let consents: Vec<(&$crate::store::NewBooking, i64, &(String, String))> = stored
                    .iter()
                    .flat_map(|&(i, id)| bookings[i].consents.iter().map(move |c| (&bookings[i], id, c)))
                    .collect();
                for chunk in consents.chunks(MAX_BINDS / 6) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "insert into consents (tenant_id, booking_id, subject_ref, purpose, text_version, given_at) ",
                    );
                    q.push_values(chunk, |mut r, &(b, booking_id, (purpose, version))| {
                        r.push_bind(tenant_id)
                            .push_bind(booking_id)
                            .push_bind(&b.subject_ref)
                            .push_bind(purpose)
                            .push_bind(version)
                            .push_bind(b.booked_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }

                let notifications: Vec<(&$crate::store::NewBooking, i64, &$crate::store::NewNotification)> = stored
                    .iter()
                    .flat_map(|&(i, id)| bookings[i].notifications.iter().map(move |n| (&bookings[i], id, n)))
                    .collect();
                for chunk in notifications.chunks(MAX_BINDS / 9) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "insert into notifications (tenant_id, booking_id, channel, kind, recipient, subject, body,
                             status, created_at, send_after) ",
                    );
                    q.push_values(chunk, |mut r, &(b, booking_id, n)| {
                        r.push_bind(tenant_id)
                            .push_bind(booking_id)
                            .push_bind(n.channel)
                            .push_bind(n.kind)
                            .push_bind(&n.recipient)
                            .push_bind(&n.subject)
                            .push_bind(&n.body)
                            .push("'queued'")
                            .push_bind(b.booked_at)
                            .push_bind(n.send_after);
                    });
                    q.build().execute(&mut *tx).await?;
                }

                let access: Vec<(&$crate::store::AccessLogEntry, Option<i64>)> = stored
                    .iter()
                    .filter_map(|&(i, id)| bookings[i].access.as_ref().map(|a| (a, Some(id))))
                    .collect();
                Self::insert_access_rows(&mut tx, &access).await?;
                tx.commit().await?;

                let ids: std::collections::HashMap<usize, i64> = stored.into_iter().collect();
                Ok(outcome
                    .into_iter()
                    .enumerate()
                    .map(|(i, o)| {
                        let (_, starts_at, ends_at) = o.expect("every entry has an outcome")?;
                        Ok($crate::store::Booked {
                            booking_id: ids[&i],
                            reference: bookings[i].reference.clone(),
                            slot_id: bookings[i].slot_id,
                            starts_at,
                            ends_at,
                        })
                    })
                    .collect())
            }

            async fn cancel_booking(
                &self,
                reference: &str,
                code_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::Result<Result<$crate::store::Cancelled, $crate::store::CancelRefusal>> {
                use $crate::store::CancelRefusal;
                let _turn = self.write_turn().await;
                let mut tx = self.begin_write().await?;
                let row: Option<(i64, i64, Option<String>, String, chrono::DateTime<chrono::Utc>, String)> = sqlx::query_as(
                    "select b.id, b.slot_id, b.code_hash, b.status, b.appointment_start, t.slug
                     from bookings b join tenants t on t.id = b.tenant_id where b.reference = $1",
                )
                .bind(reference)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((booking_id, slot_id, stored_hash, status, starts_at, tenant)) = row else {
                    return Ok(Err(CancelRefusal::NotFound));
                };
                let matches = stored_hash
                    .as_deref()
                    .is_some_and(|h| $crate::store::shared::same_secret(h, code_hash));
                if !matches {
                    return Ok(Err(CancelRefusal::WrongCode));
                }
                if status == "cancelled" {
                    return Ok(Err(CancelRefusal::AlreadyCancelled));
                }
                if starts_at <= now {
                    return Ok(Err(CancelRefusal::InPast));
                }
                sqlx::query("update bookings set status = 'cancelled', cancelled_at = $2, cancelled_by = 'citizen' where id = $1")
                    .bind(booking_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("update slots set booked = booked - 1 where id = $1")
                    .bind(slot_id)
                    .execute(&mut *tx)
                    .await?;
                // A reminder for an appointment that will not take place must not go out.
                sqlx::query("update notifications set status = 'cancelled' where booking_id = $1 and status = 'queued'")
                    .bind(booking_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Ok($crate::store::Cancelled { reference: reference.to_owned(), tenant, starts_at }))
            }

            async fn log_access(&self, entries: &[$crate::store::AccessLogEntry]) -> $crate::store::Result<()> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin().await?;
                let rows: Vec<_> = entries.iter().map(|e| (e, e.booking_id)).collect();
                Self::insert_access_rows(&mut tx, &rows).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_subjects(
                &self,
                query: &$crate::store::SubjectQuery,
                tenant: Option<&str>,
            ) -> $crate::store::Result<Vec<$crate::store::SubjectMatch>> {
                use $crate::store::SubjectQuery;
                let mut found: Vec<$crate::store::SubjectMatch> = Vec::new();
                // Every table that carries a subject reference, so a person who only wrote
                // an e-mail or only has a request is found too.
                const BY_REF: &str = "select t.slug, x.subject_ref from (
                        select tenant_id, subject_ref from bookings where subject_ref = $1
                        union select tenant_id, subject_ref from consents where subject_ref = $1
                        union select tenant_id, subject_ref from inbox_messages where subject_ref = $1
                        union select tenant_id, subject_ref from requests where subject_ref = $1
                        union select tenant_id, subject_ref from holds where subject_ref = $1
                    ) x join tenants t on t.id = x.tenant_id
                    where ($2 is null or t.slug = $2)";
                match query {
                    SubjectQuery::Ref(r) => {
                        let rows: Vec<(String, String)> = sqlx::query_as(BY_REF)
                            .bind(r)
                            .bind(tenant)
                            .fetch_all(&self.pool)
                            .await?;
                        found.extend(rows.into_iter().map(|(tenant, subject_ref)| $crate::store::SubjectMatch { tenant, subject_ref }));
                    }
                    SubjectQuery::Phone(phone) => {
                        let rows: Vec<(String, String)> = sqlx::query_as(
                            "select distinct t.slug, b.subject_ref from bookings b join tenants t on t.id = b.tenant_id
                             where b.phone = $1 and b.subject_ref is not null and ($2 is null or t.slug = $2)",
                        )
                        .bind(phone)
                        .bind(tenant)
                        .fetch_all(&self.pool)
                        .await?;
                        found.extend(rows.into_iter().map(|(tenant, subject_ref)| $crate::store::SubjectMatch { tenant, subject_ref }));
                    }
                    SubjectQuery::Name { first, last } => {
                        // Names are stored as typed: look up the usual spellings through the
                        // index, then compare case-insensitively here (SQLite's lower() only
                        // knows ASCII).
                        let last = last.trim();
                        let title: String = last
                            .split(' ')
                            .map(|w| {
                                let mut c = w.chars();
                                c.next().map(|f| f.to_uppercase().chain(c.flat_map(char::to_lowercase)).collect::<String>()).unwrap_or_default()
                            })
                            .collect::<Vec<_>>()
                            .join(" ");
                        let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
                            "select distinct t.slug, b.subject_ref, b.first_name, b.last_name
                             from bookings b join tenants t on t.id = b.tenant_id
                             where b.last_name in ($1, $2, $3, $4) and b.subject_ref is not null
                               and ($5 is null or t.slug = $5)",
                        )
                        .bind(last)
                        .bind(&title)
                        .bind(last.to_lowercase())
                        .bind(last.to_uppercase())
                        .bind(tenant)
                        .fetch_all(&self.pool)
                        .await?;
                        let wanted_last = last.to_lowercase();
                        let wanted_first = first.as_deref().map(|f| f.trim().to_lowercase());
                        for (tenant, subject_ref, f, l) in rows {
                            let last_ok = l.is_some_and(|l| l.to_lowercase() == wanted_last);
                            let first_ok = match (&wanted_first, f) {
                                (None, _) => true,
                                (Some(w), Some(f)) => f.to_lowercase() == *w,
                                (Some(_), None) => false,
                            };
                            if last_ok && first_ok {
                                found.push($crate::store::SubjectMatch { tenant, subject_ref });
                            }
                        }
                    }
                }
                found.sort();
                found.dedup();
                Ok(found)
            }

            async fn subject_data(&self, subject_ref: &str, tenant: &str) -> $crate::store::Result<$crate::store::TenantData> {
                let mut tx = self.pool.begin().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                let bookings = sqlx::query_as(
                    "select b.reference, s.code as service_code, s.name as service_name, b.appointment_start,
                            b.appointment_end, b.status, b.booked_at, b.cancelled_at, b.first_name, b.last_name,
                            b.email, b.phone, b.address, b.birth_date
                     from bookings b join services s on s.id = b.service_id
                     where b.tenant_id = $1 and b.subject_ref = $2 order by b.appointment_start, b.id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                let consents = sqlx::query_as(
                    "select c.purpose, c.text_version, c.given_at, c.withdrawn_at, c.withdrawal_source,
                            b.reference as booking_reference
                     from consents c left join bookings b on b.id = c.booking_id
                     where c.tenant_id = $1 and c.subject_ref = $2 order by c.given_at, c.id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                let notifications = sqlx::query_as(
                    "select b.reference as booking_reference, n.channel, n.kind, n.recipient, n.subject, n.body,
                            n.status, n.created_at, n.send_after, n.sent_at
                     from notifications n join bookings b on b.id = n.booking_id
                     where b.tenant_id = $1 and b.subject_ref = $2 order by n.created_at, n.id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                let access_log = sqlx::query_as(
                    "select b.reference as booking_reference, a.logged_at, a.utc_offset_minutes, a.ip, a.method,
                            a.path, a.status, a.bytes, a.referrer, a.browser, a.browser_version,
                            a.operating_system, a.language
                     from access_log a join bookings b on b.id = a.booking_id
                     where b.tenant_id = $1 and b.subject_ref = $2 order by a.logged_at, a.id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                let requests = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} where r.subject_ref = $2 and (r.tenant_id = $1 or r.tenant_id is null) order by r.id",
                    $crate::store::shared::REQUEST_SELECT
                )))
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                let inbox = sqlx::query_as(
                    "select message_key, received_at, processed_at, outcome, sender, subject
                     from inbox_messages where tenant_id = $1 and subject_ref = $2 order by processed_at, id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                let replies = sqlx::query_as(
                    "select created_at, file_name, eml from replies
                     where tenant_id = $1 and subject_ref = $2 and written_at is null order by id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::store::TenantData {
                    tenant: tenant.to_owned(),
                    bookings,
                    consents,
                    notifications,
                    access_log,
                    requests,
                    inbox,
                    replies,
                })
            }

            async fn erase_subject(
                &self,
                subject_ref: &str,
                scopes: &[$crate::store::ErasureScope],
                opts: &$crate::store::ErasureOptions,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::ErasureReport> {
                let mut tx = self.begin_admin().await?;
                let report = Self::erase_in(&mut tx, subject_ref, scopes, opts, ctx).await?;
                if opts.dry_run {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                    self.after_erasure().await?;
                }
                Ok(report)
            }

            async fn correct_subject(
                &self,
                subject_ref: &str,
                tenants: &[String],
                c: &$crate::store::Correction,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<Vec<(String, usize)>> {
                let mut tx = self.begin_admin().await?;
                let (new_email, new_ref) = match &c.email {
                    Some((email, r)) => (Some(email.as_str()), Some(r.as_str())),
                    None => (None, None),
                };
                let mut out = Vec::new();
                for tenant in tenants {
                    let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                    let changed = sqlx::query(
                        "update bookings set first_name = coalesce($3, first_name), last_name = coalesce($4, last_name),
                             email = coalesce($5, email), phone = coalesce($6, phone), address = coalesce($7, address),
                             birth_date = coalesce($8, birth_date), subject_ref = coalesce($9, subject_ref)
                         where tenant_id = $1 and subject_ref = $2 and anonymized_at is null",
                    )
                    .bind(tenant_id)
                    .bind(subject_ref)
                    .bind(&c.first_name)
                    .bind(&c.last_name)
                    .bind(new_email)
                    .bind(&c.phone)
                    .bind(&c.address)
                    .bind(c.birth_date)
                    .bind(new_ref)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let current_ref = new_ref.unwrap_or(subject_ref);
                    if let Some(new_ref) = new_ref {
                        // The person keeps their history under the new reference.
                        for sql in [
                            "update consents set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                            "update inbox_messages set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                            "update replies set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                            "update holds set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                            "update requests set subject_ref = $3 where (tenant_id = $1 or tenant_id is null) and subject_ref = $2",
                            "update restrictions set subject_ref = $3 where (tenant_id = $1 or tenant_id is null) and subject_ref = $2",
                        ] {
                            sqlx::query(sql).bind(tenant_id).bind(subject_ref).bind(new_ref).execute(&mut *tx).await?;
                        }
                    }
                    // Messages not yet sent go to the corrected address or number.
                    sqlx::query(
                        "update notifications set recipient = coalesce(
                             case when channel = 'email' then $3 else $4 end, recipient)
                         where status = 'queued' and kind <> 'office_copy'
                           and booking_id in (select id from bookings where tenant_id = $1 and subject_ref = $2)",
                    )
                    .bind(tenant_id)
                    .bind(current_ref)
                    .bind(new_email)
                    .bind(&c.phone)
                    .execute(&mut *tx)
                    .await?;
                    let event = $crate::domain::audit::AuditEvent::new(
                        "subject.correct",
                        serde_json::json!({ "fields": c.fields, "bookings": changed, "new_subject_ref": new_ref }),
                    )
                    .tenant(tenant)
                    .subject(subject_ref);
                    Self::append_audit(&mut tx, ctx, &event).await?;
                    out.push((tenant.clone(), usize::try_from(changed).unwrap_or(usize::MAX)));
                }
                tx.commit().await?;
                self.after_erasure().await?;
                Ok(out)
            }

            async fn add_hold(
                &self,
                tenant: &str,
                target: &$crate::store::HoldTarget,
                reason: &str,
                until: Option<chrono::NaiveDate>,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<i64> {
                use $crate::store::HoldTarget;
                let mut tx = self.begin_admin().await?;
                let tenant_id = Self::tenant_id(&mut tx, tenant).await?;
                let (subject, booking, details) = match target {
                    HoldTarget::Subject(r) => (Some(r.clone()), None, serde_json::json!({ "on": "person" })),
                    HoldTarget::Booking(reference) => {
                        let id: i64 = sqlx::query_scalar("select id from bookings where tenant_id = $1 and reference = $2")
                            .bind(tenant_id)
                            .bind(reference)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or_else(|| {
                                $crate::store::StoreError::NotFound(format!("booking {reference} is not a booking of tenant {tenant}"))
                            })?;
                        (None, Some(id), serde_json::json!({ "on": "booking", "booking": reference }))
                    }
                };
                let id: i64 = sqlx::query_scalar(
                    "insert into holds (tenant_id, subject_ref, booking_id, reason, until_on, created_at)
                     values ($1, $2, $3, $4, $5, $6) returning id",
                )
                .bind(tenant_id)
                .bind(&subject)
                .bind(booking)
                .bind(reason)
                .bind(until)
                .bind(ctx.at)
                .fetch_one(&mut *tx)
                .await?;
                let mut event = $crate::domain::audit::AuditEvent::new("hold.add", details).tenant(tenant);
                event.subject_ref = subject;
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn list_holds(&self, tenant: Option<&str>, include_removed: bool) -> $crate::store::Result<Vec<$crate::store::Hold>> {
                Ok(sqlx::query_as(
                    "select h.id, t.slug as tenant, h.subject_ref, b.reference as booking_reference, h.reason,
                            h.until_on, h.created_at, h.removed_at
                     from holds h join tenants t on t.id = h.tenant_id left join bookings b on b.id = h.booking_id
                     where ($1 is null or t.slug = $1) and ($2 or h.removed_at is null) order by h.id",
                )
                .bind(tenant)
                .bind(include_removed)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn remove_hold(&self, id: i64, ctx: &$crate::store::AuditContext) -> $crate::store::Result<bool> {
                let mut tx = self.begin_admin().await?;
                let removed: Option<(String, Option<String>)> = sqlx::query_as(
                    "update holds set removed_at = $2 where id = $1 and removed_at is null
                     returning (select slug from tenants where id = holds.tenant_id), subject_ref",
                )
                .bind(id)
                .bind(ctx.at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((tenant, subject)) = removed else {
                    return Ok(false);
                };
                let mut event = $crate::domain::audit::AuditEvent::new("hold.remove", serde_json::json!({ "hold": id })).tenant(&tenant);
                event.subject_ref = subject;
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn add_restriction(
                &self,
                tenant: Option<&str>,
                subject_ref: &str,
                reason: &str,
                request_id: Option<i64>,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<i64> {
                let mut tx = self.begin_admin().await?;
                let tenant_id = match tenant {
                    Some(t) => Some(Self::tenant_id(&mut tx, t).await?),
                    None => None,
                };
                let id: i64 = sqlx::query_scalar(
                    "insert into restrictions (tenant_id, subject_ref, reason, request_id, created_at)
                     values ($1, $2, $3, $4, $5) returning id",
                )
                .bind(tenant_id)
                .bind(subject_ref)
                .bind(reason)
                .bind(request_id)
                .bind(ctx.at)
                .fetch_one(&mut *tx)
                .await?;
                let mut event = $crate::domain::audit::AuditEvent::new("subject.restrict", serde_json::json!({ "restriction": id }))
                    .subject(subject_ref);
                event.tenant = tenant.map(str::to_owned);
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn lift_restrictions(
                &self,
                tenant: Option<&str>,
                subject_ref: &str,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<usize> {
                let mut tx = self.begin_admin().await?;
                let tenant_id = match tenant {
                    Some(t) => Some(Self::tenant_id(&mut tx, t).await?),
                    None => None,
                };
                let n = sqlx::query(
                    "update restrictions set lifted_at = $3 where subject_ref = $1 and lifted_at is null
                     and ($2 is null or tenant_id = $2)",
                )
                .bind(subject_ref)
                .bind(tenant_id)
                .bind(ctx.at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n > 0 {
                    let mut event = $crate::domain::audit::AuditEvent::new("subject.restrict_lift", serde_json::json!({ "lifted": n }))
                        .subject(subject_ref);
                    event.tenant = tenant.map(str::to_owned);
                    Self::append_audit(&mut tx, ctx, &event).await?;
                }
                tx.commit().await?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }

            async fn restrictions(&self, subject_ref: &str) -> $crate::store::Result<Vec<$crate::store::Restriction>> {
                Ok(sqlx::query_as(
                    "select r.id, t.slug as tenant, r.subject_ref, r.reason, r.created_at, r.lifted_at
                     from restrictions r left join tenants t on t.id = r.tenant_id
                     where r.subject_ref = $1 and r.lifted_at is null order by r.id",
                )
                .bind(subject_ref)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn open_request(&self, r: &$crate::store::NewRequest, ctx: &$crate::store::AuditContext) -> $crate::store::Result<i64> {
                let mut tx = self.begin_admin().await?;
                let tenant_id = match &r.tenant {
                    Some(t) => Some(Self::tenant_id(&mut tx, t).await?),
                    None => None,
                };
                let id: i64 = sqlx::query_scalar(
                    "insert into requests (tenant_id, kind, subject_ref, channel, received_at, due_on, status, created_at)
                     values ($1, $2, $3, $4, $5, $6, 'open', $7) returning id",
                )
                .bind(tenant_id)
                .bind(&r.kind)
                .bind(&r.subject_ref)
                .bind(&r.channel)
                .bind(r.received_at)
                .bind(r.due_on)
                .bind(ctx.at)
                .fetch_one(&mut *tx)
                .await?;
                let mut event = $crate::domain::audit::AuditEvent::new(
                    "request.open",
                    serde_json::json!({ "request": id, "kind": r.kind, "channel": r.channel, "due_on": r.due_on }),
                );
                event.tenant = r.tenant.clone();
                event.subject_ref = r.subject_ref.clone();
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn list_requests(&self, f: &$crate::store::RequestFilter) -> $crate::store::Result<Vec<$crate::store::Request>> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} where ($1 is null or t.slug = $1) and ($2 is null or r.status = $2)
                       and ($3 is null or (r.status = 'open' and coalesce(r.extended_due_on, r.due_on) <= $3))
                       and ($4 is null or r.subject_ref = $4) and ($5 is null or r.kind = $5)
                     order by r.id",
                    $crate::store::shared::REQUEST_SELECT
                )))
                .bind(&f.tenant)
                .bind(&f.status)
                .bind(f.due_on_or_before)
                .bind(&f.subject_ref)
                .bind(&f.kind)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn request(&self, id: i64) -> $crate::store::Result<Option<$crate::store::Request>> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{} where r.id = $1", $crate::store::shared::REQUEST_SELECT)))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn extend_request(
                &self,
                id: i64,
                extended_due_on: chrono::NaiveDate,
                reason: &str,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<()> {
                let mut tx = self.begin_admin().await?;
                let tenant: Option<Option<String>> = sqlx::query_scalar(
                    "update requests set extended_due_on = $2, extension_reason = $3
                     where id = $1 and status = 'open' and extended_due_on is null
                     returning (select slug from tenants where id = requests.tenant_id)",
                )
                .bind(id)
                .bind(extended_due_on)
                .bind(reason)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(tenant) = tenant else {
                    return Err($crate::store::StoreError::NotFound(format!("request {id} is not open or was extended already")));
                };
                let mut event = $crate::domain::audit::AuditEvent::new(
                    "request.extend",
                    serde_json::json!({ "request": id, "extended_due_on": extended_due_on }),
                );
                event.tenant = tenant;
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn close_request(&self, id: i64, outcome: &str, ctx: &$crate::store::AuditContext) -> $crate::store::Result<()> {
                let mut tx = self.begin_admin().await?;
                let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
                    "update requests set status = 'closed', outcome = $2, closed_at = $3
                     where id = $1 and status = 'open'
                     returning (select slug from tenants where id = requests.tenant_id), subject_ref",
                )
                .bind(id)
                .bind(outcome)
                .bind(ctx.at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((tenant, subject)) = row else {
                    return Err($crate::store::StoreError::NotFound(format!("request {id} is not open")));
                };
                let mut event = $crate::domain::audit::AuditEvent::new(
                    "request.close",
                    serde_json::json!({ "request": id, "outcome": outcome }),
                );
                event.tenant = tenant;
                event.subject_ref = subject;
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn erasure_ledger(&self) -> $crate::store::Result<Vec<$crate::store::LedgerEntry>> {
                Ok(sqlx::query_as(
                    "select l.id, l.subject_ref, t.slug as tenant, l.erased_at
                     from erasure_ledger l left join tenants t on t.id = l.tenant_id order by l.id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn inbox_contains(&self, message_key: &str) -> $crate::store::Result<bool> {
                let n: i64 = sqlx::query_scalar("select count(*) from inbox_messages where message_key = $1")
                    .bind(message_key)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n > 0)
            }

            async fn record_message(
                &self,
                e: &$crate::store::InboxEntry,
                effect: &$crate::store::IntakeEffect,
                reply: &$crate::store::RenderReply<'_>,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::IntakeResult> {
                let mut tx = self.begin_admin().await?;
                let tenant_id = match &e.tenant {
                    Some(t) => Some(Self::tenant_id(&mut tx, t).await?),
                    None => None,
                };
                let id: Option<i64> = sqlx::query_scalar(
                    "insert into inbox_messages (message_key, tenant_id, received_at, processed_at, outcome,
                         subject_ref, sender, subject, reason, address)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     on conflict (message_key) do nothing returning id",
                )
                .bind(&e.message_key)
                .bind(tenant_id)
                .bind(e.received_at)
                .bind(e.processed_at)
                .bind(&e.outcome)
                .bind(&e.subject_ref)
                .bind(&e.sender)
                .bind(&e.subject)
                .bind(&e.reason)
                .bind(&e.address)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(id) = id else {
                    tx.rollback().await?;
                    return Ok($crate::store::IntakeResult::default());
                };
                let result = Self::apply_intake(&mut tx, id, tenant_id, e, effect, reply, ctx).await?;
                tx.commit().await?;
                if result.erasure.is_some() {
                    self.after_erasure().await?;
                }
                Ok(result)
            }

            async fn inbox_items(&self, outcomes: &[&str]) -> $crate::store::Result<Vec<$crate::store::InboxItem>> {
                let mut items = Vec::new();
                for outcome in outcomes {
                    let mut rows: Vec<$crate::store::InboxItem> = sqlx::query_as(
                        "select m.id, m.message_key, t.slug as tenant, m.received_at, m.processed_at, m.outcome,
                                m.sender, m.subject, m.reason, m.address, m.request_id
                         from inbox_messages m left join tenants t on t.id = m.tenant_id
                         where m.outcome = $1 order by m.id",
                    )
                    .bind(outcome)
                    .fetch_all(&self.pool)
                    .await?;
                    items.append(&mut rows);
                }
                items.sort_by_key(|i| i.id);
                Ok(items)
            }

            async fn pending_replies(&self) -> $crate::store::Result<Vec<$crate::store::PendingReply>> {
                Ok(sqlx::query_as(
                    "select id, file_name, eml from replies where written_at is null order by id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn reply_written(&self, id: i64, at: chrono::DateTime<chrono::Utc>) -> $crate::store::Result<()> {
                sqlx::query(
                    "update replies set written_at = $2, eml = null, subject_ref = null
                     where id = $1 and written_at is null",
                )
                .bind(id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                // The text held the recipient's address: it must not stay in the WAL either.
                self.after_erasure().await?;
                Ok(())
            }

            async fn resolve_message(
                &self,
                message_key: &str,
                outcome: &str,
                subject_ref: Option<&str>,
                effect: &$crate::store::IntakeEffect,
                reply: &$crate::store::RenderReply<'_>,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<$crate::store::IntakeResult> {
                let mut tx = self.begin_admin().await?;
                let row: Option<(i64, Option<i64>, Option<chrono::DateTime<chrono::Utc>>, chrono::DateTime<chrono::Utc>, Option<String>)> =
                    sqlx::query_as(
                        "select id, tenant_id, received_at, processed_at, address from inbox_messages
                         where message_key = $1 and outcome in ('review', 'unmatched', 'unreadable')",
                    )
                    .bind(message_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((id, tenant_id, received_at, processed_at, address)) = row else {
                    return Err($crate::store::StoreError::NotFound(format!(
                        "no message {message_key} waiting for a decision (review, unmatched or unreadable)"
                    )));
                };
                let tenant: Option<String> = match tenant_id {
                    Some(t) => sqlx::query_scalar("select slug from tenants where id = $1").bind(t).fetch_optional(&mut *tx).await?,
                    None => None,
                };
                // The decision replaces the copy kept for the human.
                sqlx::query("update inbox_messages set outcome = $2, subject_ref = $3, sender = null, subject = null where id = $1")
                    .bind(id)
                    .bind(outcome)
                    .bind(subject_ref)
                    .execute(&mut *tx)
                    .await?;
                let entry = $crate::store::InboxEntry {
                    message_key: message_key.to_owned(),
                    tenant,
                    received_at,
                    processed_at,
                    outcome: outcome.to_owned(),
                    subject_ref: subject_ref.map(str::to_owned),
                    sender: None,
                    subject: None,
                    reason: Some("decided by a person (withdrawals resolve)".into()),
                    address,
                };
                sqlx::query("update inbox_messages set reason = $2 where id = $1")
                    .bind(id)
                    .bind(&entry.reason)
                    .execute(&mut *tx)
                    .await?;
                let result = Self::apply_intake(&mut tx, id, tenant_id, &entry, effect, reply, ctx).await?;
                tx.commit().await?;
                if result.erasure.is_some() {
                    self.after_erasure().await?;
                }
                Ok(result)
            }

            async fn record_audit(
                &self,
                event: $crate::domain::audit::AuditEvent,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<()> {
                let mut tx = self.begin_admin().await?;
                Self::append_audit(&mut tx, ctx, &event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_entries(
                &self,
                filter: &$crate::store::AuditFilter,
            ) -> $crate::store::Result<Vec<$crate::domain::audit::AuditEntry>> {
                let sql = format!(
                    "select {} from audit_log
                     where ($1 is null or tenant = $1)
                       and ($2 is null or action = $2)
                       and ($3 is null or at >= $3)
                     order by id desc limit $4",
                    $crate::store::shared::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::store::shared::AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&filter.tenant)
                    .bind(&filter.action)
                    .bind(filter.since)
                    .bind(filter.limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_page(
                &self,
                after_id: i64,
                limit: i64,
            ) -> $crate::store::Result<Vec<$crate::domain::audit::AuditEntry>> {
                let sql = format!(
                    "select {} from audit_log where id > $1 order by id limit $2",
                    $crate::store::shared::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::store::shared::AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_head(&self) -> $crate::store::Result<Option<(i64, String)>> {
                Ok(sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                    .fetch_optional(&self.pool)
                    .await?)
            }

            // Retention: the SQL is in `store/retention.rs` (`impl_retention!`).
            async fn retention_due(&self, t: &$crate::store::RetentionTarget) -> $crate::store::Result<$crate::store::RetentionDue> {
                self.retention_due_rows(t).await
            }

            async fn retention_resisting(&self, t: &$crate::store::RetentionTarget) -> $crate::store::Result<i64> {
                self.retention_resisting_rows(t).await
            }

            async fn start_retention_run(
                &self,
                start: &$crate::store::RetentionStart,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<std::result::Result<$crate::store::RetentionRun, $crate::store::LockHeld>> {
                self.retention_lock_and_start(start, ctx).await
            }

            async fn apply_retention_batch(
                &self,
                run: &$crate::store::RetentionRun,
                t: &$crate::store::RetentionTarget,
                after_id: i64,
                limit: i64,
                record: &$crate::store::RecordProgress<'_>,
            ) -> $crate::store::Result<$crate::store::RetentionBatch> {
                self.retention_batch(run, t, after_id, limit, record).await
            }

            async fn finish_retention_run(
                &self,
                run: $crate::store::RetentionRun,
                finish: &$crate::store::RetentionFinish,
                ctx: &$crate::store::AuditContext,
            ) -> $crate::store::Result<()> {
                self.retention_finish(run, finish, ctx).await
            }

            async fn retention_runs(&self, limit: i64) -> $crate::store::Result<Vec<$crate::store::RetentionRunRecord>> {
                self.retention_run_list(limit).await
            }
        }
    };
}
