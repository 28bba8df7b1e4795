//! Finding a person and reading, erasing and rectifying everything stored about them.

use super::retention::cleared_set;
use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use crate::domain::policy::RetainedData;
use crate::domain::requests::{IdentityCheck, Outcome, RequestKind};
use crate::domain::subject::SubjectRef;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

#[async_trait]
pub trait SubjectStore: Send + Sync {
    /// The persons a query finds, per tenant (all tenants when `tenant` is None).
    async fn find_subjects(
        &self,
        query: &SubjectQuery,
        tenant: Option<&str>,
    ) -> Result<Vec<SubjectMatch>>;

    /// Every row about one person at one tenant, by category.
    async fn subject_data(&self, subject_ref: &SubjectRef, tenant: &str) -> Result<TenantData>;

    /// The names, e-mails and phones of every other person the tenant holds, to redact
    /// them from free text shown to this one (Art. 15(4)).
    async fn other_persons(
        &self,
        subject_ref: &SubjectRef,
        tenant: &str,
    ) -> Result<Vec<OtherPerson>>;

    /// Erases a person at each tenant of `scopes` in one transaction (rolled back for a dry
    /// run): future bookings cancelled and their places freed, bookings anonymized or
    /// deleted, their notifications and access-log rows deleted, consents reduced to the
    /// proof of withdrawal, inbox copies anonymized. Holds and restrictions are honoured.
    async fn erase_subject(
        &self,
        subject_ref: &SubjectRef,
        scopes: &[ErasureScope],
        opts: &ErasureOptions,
        ctx: &AuditContext,
    ) -> Result<ErasureReport>;

    /// Rectifies a person's details at each tenant; returns bookings changed per tenant.
    async fn correct_subject(
        &self,
        subject_ref: &SubjectRef,
        tenants: &[String],
        correction: &Correction,
        render: &RenderMessage<'_>,
        ctx: &AuditContext,
    ) -> Result<Vec<(String, usize)>>;
}

#[async_trait]
impl<D: Dialect> SubjectStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    for<'q> Option<&'q str>: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<SubjectRef>: Value<D::DB>,
    Option<RequestKind>: Value<D::DB>,
    Option<Outcome>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
    Option<NaiveDate>: Value<D::DB>,
    Option<IdentityCheck>: Value<D::DB>,
{
    async fn find_subjects(
        &self,
        query: &SubjectQuery,
        tenant: Option<&str>,
    ) -> Result<Vec<SubjectMatch>> {
        let mut found: Vec<SubjectMatch> = Vec::new();
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
                let rows: Vec<(String, SubjectRef)> = sqlx::query_as(BY_REF)
                    .bind(r)
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await?;
                found.extend(rows.into_iter().map(|(tenant, subject_ref)| SubjectMatch {
                    tenant,
                    subject_ref,
                }));
            }
            SubjectQuery::Phone(phone) => {
                let rows: Vec<(String, SubjectRef)> = sqlx::query_as(
                    "select distinct t.slug, b.subject_ref from bookings b join tenants t on t.id = b.tenant_id
                     where b.phone = $1 and b.subject_ref is not null and ($2 is null or t.slug = $2)",
                )
                .bind(phone)
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
                found.extend(rows.into_iter().map(|(tenant, subject_ref)| SubjectMatch {
                    tenant,
                    subject_ref,
                }));
            }
            SubjectQuery::Handle(prefix) => {
                // Only hex digits reach here (parse_handle), so the pattern holds no
                // wildcard but the trailing one; the reference columns are indexed.
                debug_assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()));
                let pattern = format!("{prefix}%");
                let rows: Vec<(String, SubjectRef)> = sqlx::query_as(
                    "select t.slug, x.subject_ref from (
                        select tenant_id, subject_ref from bookings where subject_ref like $1
                        union select tenant_id, subject_ref from consents where subject_ref like $1
                        union select tenant_id, subject_ref from inbox_messages where subject_ref like $1
                        union select tenant_id, subject_ref from requests where subject_ref like $1
                        union select tenant_id, subject_ref from holds where subject_ref like $1
                    ) x join tenants t on t.id = x.tenant_id
                    where ($2 is null or t.slug = $2)",
                )
                .bind(&pattern)
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
                found.extend(rows.into_iter().map(|(tenant, subject_ref)| SubjectMatch {
                    tenant,
                    subject_ref,
                }));
            }
            SubjectQuery::Name { first, last } => {
                // Names are stored as typed, and a fold that both backends compute alike
                // (accents, ß, ł, umlaut spellings) is not SQL: the distinct names are read
                // and compared folded here, so no spelling is missed. One pass over the
                // bookings that still carry a name.
                use crate::domain::text::same_name;
                let rows: Vec<(String, SubjectRef, Option<String>, Option<String>)> =
                    sqlx::query_as(
                        "select distinct t.slug, b.subject_ref, b.first_name, b.last_name
                     from bookings b join tenants t on t.id = b.tenant_id
                     where b.last_name is not null and b.subject_ref is not null
                       and ($1 is null or t.slug = $1)",
                    )
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await?;
                for (tenant, subject_ref, f, l) in rows {
                    let last_ok = l.is_some_and(|l| same_name(&l, last));
                    let first_ok = match (first, f) {
                        (None, _) => true,
                        (Some(w), Some(f)) => same_name(&f, w),
                        (Some(_), None) => false,
                    };
                    if last_ok && first_ok {
                        found.push(SubjectMatch {
                            tenant,
                            subject_ref,
                        });
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn subject_data(&self, subject_ref: &SubjectRef, tenant: &str) -> Result<TenantData> {
        let mut tx = self.pool.begin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
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
            super::register::REQUEST_SELECT
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
        let holds = sqlx::query_as(
            "select b.reference as booking_reference, h.reason, h.until_on, h.created_at, h.removed_at
             from holds h left join bookings b on b.id = h.booking_id
             where h.tenant_id = $1 and (h.subject_ref = $2 or b.subject_ref = $2) order by h.id",
        )
        .bind(tenant_id)
        .bind(subject_ref)
        .fetch_all(&mut *tx)
        .await?;
        let restrictions = sqlx::query_as(
            "select reason, created_at, lifted_at from restrictions
             where subject_ref = $2 and (tenant_id = $1 or tenant_id is null) order by id",
        )
        .bind(tenant_id)
        .bind(subject_ref)
        .fetch_all(&mut *tx)
        .await?;
        let recipients = sqlx::query_as(
            "select recipient, recipient_role, categories, kind, disclosed_at from disclosures
             where tenant_id = $1 and subject_ref = $2 order by disclosed_at, id",
        )
        .bind(tenant_id)
        .bind(subject_ref)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TenantData {
            tenant: tenant.to_owned(),
            bookings,
            consents,
            notifications,
            access_log,
            requests,
            inbox,
            replies,
            holds,
            restrictions,
            recipients,
        })
    }

    async fn other_persons(
        &self,
        subject_ref: &SubjectRef,
        tenant: &str,
    ) -> Result<Vec<OtherPerson>> {
        let mut tx = self.pool.begin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
        let rows = sqlx::query_as(
            "select distinct first_name, last_name, email, phone from bookings
             where tenant_id = $1 and subject_ref is not null and subject_ref <> $2",
        )
        .bind(tenant_id)
        .bind(subject_ref)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn erase_subject(
        &self,
        subject_ref: &SubjectRef,
        scopes: &[ErasureScope],
        opts: &ErasureOptions,
        ctx: &AuditContext,
    ) -> Result<ErasureReport> {
        if opts.record_in_ledger && !opts.dry_run {
            self.required_ledger()?;
        }
        let mut tx = self.begin_admin().await?;
        let report = self
            .erase_in(&mut tx, subject_ref, scopes, opts, ctx, None)
            .await?;
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
        subject_ref: &SubjectRef,
        tenants: &[String],
        c: &Correction,
        render: &RenderMessage<'_>,
        ctx: &AuditContext,
    ) -> Result<Vec<(String, usize)>> {
        let mut tx = self.begin_admin().await?;
        let (new_email, new_ref) = match &c.email {
            Some((email, r)) => (Some(email.as_str()), Some(r.as_str())),
            None => (None, None),
        };
        let mut out = Vec::new();
        for tenant in tenants {
            let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
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
            let current_ref = new_ref.unwrap_or(subject_ref.as_str());
            if let Some(new_ref) = new_ref {
                // The person keeps their history under the new reference.
                for sql in [
                    "update consents set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                    "update inbox_messages set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                    "update replies set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                    "update holds set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                    "update requests set subject_ref = $3 where (tenant_id = $1 or tenant_id is null) and subject_ref = $2",
                    "update restrictions set subject_ref = $3 where (tenant_id = $1 or tenant_id is null) and subject_ref = $2",
                    "update disclosures set subject_ref = $3 where tenant_id = $1 and subject_ref = $2",
                ] {
                    sqlx::query(sql)
                        .bind(tenant_id)
                        .bind(subject_ref)
                        .bind(new_ref)
                        .execute(&mut *tx)
                        .await?;
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
            // Every copy not yet handed over says what the booking now says (Art. 16): the
            // confirmation, the office copy, the reminder are rendered again from it.
            // Claimed ones are being sent right now, sent ones record what went out.
            let unsent: Vec<UnsentMessage> = sqlx::query_as(
                "select n.id, n.kind, b.reference, b.first_name, b.last_name, b.email, b.phone,
                        s.name as service_name, b.appointment_start as starts_at
                 from notifications n join bookings b on b.id = n.booking_id
                 join services s on s.id = b.service_id
                 where b.tenant_id = $1 and b.subject_ref = $2
                   and n.status in ('queued', 'failed', 'cancelled') order by n.id",
            )
            .bind(tenant_id)
            .bind(current_ref)
            .fetch_all(&mut *tx)
            .await?;
            let mut rendered = 0u64;
            for m in &unsent {
                if let Some((subject, body)) = render(tenant, m) {
                    rendered += sqlx::query(
                        "update notifications set subject = $2, body = $3
                         where id = $1 and status in ('queued', 'failed', 'cancelled')",
                    )
                    .bind(m.id)
                    .bind(subject)
                    .bind(body)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
            }
            let mut to_tell = 0;
            for (_, request_id) in c.requests.iter().filter(|(t, _)| t == tenant) {
                to_tell += Self::open_notices_in(
                    &mut tx,
                    *request_id,
                    Some(tenant_id),
                    current_ref,
                    ctx.at,
                )
                .await?;
            }
            let event = AuditEvent::new(
                "subject.correct",
                serde_json::json!({ "fields": c.fields, "bookings": changed, "new_subject_ref": new_ref,
                                    "messages_rendered": rendered, "recipients_to_tell": to_tell }),
            )
            .tenant(tenant)
            .subject(subject_ref);
            Self::append_audit(&mut tx, ctx, &event).await?;
            out.push((
                tenant.clone(),
                usize::try_from(changed).unwrap_or(usize::MAX),
            ));
        }
        tx.commit().await?;
        self.after_erasure().await?;
        Ok(out)
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<SubjectRef>: Value<D::DB>,
    Option<RequestKind>: Value<D::DB>,
    Option<Outcome>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
    Option<IdentityCheck>: Value<D::DB>,
{
    /// The erasure of `erase_subject`, inside the caller's transaction (also used by
    /// the mailbox intake, whose message and effects commit together).
    pub(super) async fn erase_in(
        &self,
        tx: &mut sqlx::Transaction<'static, D::DB>,
        subject_ref: &SubjectRef,
        scopes: &[ErasureScope],
        opts: &ErasureOptions,
        ctx: &AuditContext,
        batch: Option<&mut super::intake::BatchWrites>,
    ) -> Result<ErasureReport> {
        // The audit entries are chained in memory: a batch's chain, else one of the
        // erasure's own, written below in two statements instead of three per entry.
        let mut own_chain = None;
        let (chain, batch_ledger) = match batch {
            Some(b) => (&mut b.chain, Some(&mut b.ledger)),
            None => (own_chain.insert(Self::audit_chain(tx).await?), None),
        };
        let now = opts.now;
        let today = now.date_naive();
        let ledger = (opts.record_in_ledger && !opts.dry_run)
            .then(|| self.required_ledger())
            .transpose()?;
        // What exists now, for the ledger: taken before anything is deleted, so that every
        // row of this second the erasure saw is at or below its mark.
        let upto = match ledger {
            Some(_) => Self::row_marks(tx).await?,
            None => RowMarks::default(),
        };
        let mut entries = Vec::new();
        let (cut_at, cut) = match &opts.only_before {
            Some(c) => (Some(c.at), c.upto),
            None => (None, RowMarks::default()),
        };
        let cut_id = |mark: i64| opts.only_before.map(|_| mark);
        let mut report = ErasureReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        for scope in scopes {
            let tenant = scope.tenant.as_str();
            let tenant_id = self.known_tenant_id(tx, tenant).await?;
            let change = |category: &'static str, id: i64, action: &'static str| RowChange {
                tenant: tenant.to_owned(),
                category,
                id,
                action,
            };
            let holds: Vec<(i64, String, Option<NaiveDate>)> = sqlx::query_as(
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
            let bookings: Vec<(i64, String, String, DateTime<Utc>, i64)> = sqlx::query_as(
                "select id, reference, status, appointment_start, slot_id from bookings
                 where tenant_id = $1 and subject_ref = $2
                   and ($3 is null or booked_at < $3 or (booked_at = $3 and id <= $4)) order by id",
            )
            .bind(tenant_id)
            .bind(subject_ref)
            .bind(cut_at)
            .bind(cut_id(cut.bookings))
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
                // Conditional, so that a citizen's cancel at the same moment and this
                // erasure free the place once between them.
                let cancelled = status == "booked"
                    && starts_at > now
                    && sqlx::query(
                        "update bookings set status = 'cancelled', cancelled_at = $2,
                             cancelled_by = 'erasure'
                         where id = $1 and status = 'booked'",
                    )
                    .bind(booking_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
                        == 1;
                if cancelled {
                    sqlx::query("update slots set booked = booked - 1 where id = $1")
                        .bind(slot_id)
                        .execute(&mut **tx)
                        .await?;
                    counts.bookings_cancelled += 1;
                    counts.slots_freed += 1;
                    report
                        .changes
                        .push(change("bookings", booking_id, "cancel"));
                    report.changes.push(change("slots", slot_id, "free_place"));
                }
                let ids: Vec<i64> = sqlx::query_scalar(
                    "delete from notifications where booking_id = $1 returning id",
                )
                .bind(booking_id)
                .fetch_all(&mut **tx)
                .await?;
                counts.notifications_deleted += ids.len();
                report.changes.extend(
                    ids.into_iter()
                        .map(|id| change("notifications", id, "delete")),
                );
                let ids: Vec<i64> =
                    sqlx::query_scalar("delete from access_log where booking_id = $1 returning id")
                        .bind(booking_id)
                        .fetch_all(&mut **tx)
                        .await?;
                counts.access_log_deleted += ids.len();
                report
                    .changes
                    .extend(ids.into_iter().map(|id| change("access_log", id, "delete")));
                let ids: Vec<i64> = sqlx::query_scalar(
                    "update consents set subject_ref = null, booking_id = null, anonymized_at = $2,
                         withdrawn_at = coalesce(withdrawn_at, $2),
                         withdrawal_source = coalesce(withdrawal_source, 'erasure')
                     where booking_id = $1 returning id",
                )
                .bind(booking_id)
                .bind(now)
                .fetch_all(&mut **tx)
                .await?;
                counts.consents_reduced += ids.len();
                report.changes.extend(
                    ids.into_iter()
                        .map(|id| change("consents", id, "reduce_to_proof")),
                );
                // A booking a (lifted) hold still points to cannot be deleted; it is anonymized.
                let referenced: i64 =
                    sqlx::query_scalar("select count(*) from holds where booking_id = $1")
                        .bind(booking_id)
                        .fetch_one(&mut **tx)
                        .await?;
                if scope.bookings == BookingErasure::Delete && referenced == 0 {
                    sqlx::query("delete from bookings where id = $1")
                        .bind(booking_id)
                        .execute(&mut **tx)
                        .await?;
                    counts.bookings_deleted += 1;
                    report
                        .changes
                        .push(change("bookings", booking_id, "delete"));
                } else {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "update bookings set {}, anonymized_at = $2 where id = $1",
                        cleared_set(RetainedData::Bookings)
                    )))
                    .bind(booking_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    counts.bookings_anonymized += 1;
                    report
                        .changes
                        .push(change("bookings", booking_id, "anonymize"));
                }
            }
            let ids: Vec<i64> = sqlx::query_scalar(
                "update consents set subject_ref = null, anonymized_at = $3,
                     withdrawn_at = coalesce(withdrawn_at, $3),
                     withdrawal_source = coalesce(withdrawal_source, 'erasure')
                 where tenant_id = $1 and subject_ref = $2 and booking_id is null
                   and ($4 is null or given_at < $4 or (given_at = $4 and id <= $5)) returning id",
            )
            .bind(tenant_id)
            .bind(subject_ref)
            .bind(now)
            .bind(cut_at)
            .bind(cut_id(cut.consents))
            .fetch_all(&mut **tx)
            .await?;
            counts.consents_reduced += ids.len();
            report.changes.extend(
                ids.into_iter()
                    .map(|id| change("consents", id, "reduce_to_proof")),
            );
            let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "update inbox_messages set {}, anonymized_at = $3
                 where tenant_id = $1 and subject_ref = $2
                   and ($4 is null or processed_at < $4 or (processed_at = $4 and id <= $5))
                 returning id",
                cleared_set(RetainedData::Inbox)
            )))
            .bind(tenant_id)
            .bind(subject_ref)
            .bind(now)
            .bind(cut_at)
            .bind(cut_id(cut.inbox))
            .fetch_all(&mut **tx)
            .await?;
            counts.inbox_anonymized += ids.len();
            report
                .changes
                .extend(ids.into_iter().map(|id| change("inbox", id, "anonymize")));
            // A reply not yet written holds the person's address; it is not sent any more.
            let ids: Vec<i64> = sqlx::query_scalar(
                "delete from replies where tenant_id = $1 and subject_ref = $2 and written_at is null
                   and ($3 is null or created_at < $3 or (created_at = $3 and id <= $4)) returning id",
            )
            .bind(tenant_id)
            .bind(subject_ref)
            .bind(cut_at)
            .bind(cut_id(cut.replies))
            .fetch_all(&mut **tx)
            .await?;
            counts.replies_deleted += ids.len();
            report
                .changes
                .extend(ids.into_iter().map(|id| change("replies", id, "delete")));
            // A confirmation request still pending for the person ends unconfirmed: nothing
            // it asked is done any more, and it keeps no reference to the person.
            let ids: Vec<(i64, Option<i64>)> = sqlx::query_as(
                "update identity_confirmations set status = 'expired', decided_at = $3, subject_ref = null
                 where tenant_id = $1 and subject_ref = $2 and status = 'pending'
                 returning id, inbox_message_id",
            )
            .bind(tenant_id)
            .bind(subject_ref)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
            for (id, message) in ids {
                if let Some(message) = message {
                    sqlx::query(
                        "update inbox_messages set outcome = 'unconfirmed'
                         where id = $1 and outcome = 'confirmation_requested'",
                    )
                    .bind(message)
                    .execute(&mut **tx)
                    .await?;
                }
                report
                    .changes
                    .push(change("identity_confirmations", id, "expire"));
            }
            // Art. 19: whoever received the person's data is to be told of the erasure;
            // the record of what they received goes with the rest.
            if let Some(request_id) = scope.request_id {
                Self::open_notices_in(tx, request_id, Some(tenant_id), subject_ref.as_str(), now)
                    .await?;
            }
            let ids: Vec<i64> = sqlx::query_scalar(
                "delete from disclosures where tenant_id = $1 and subject_ref = $2
                   and ($3 is null or disclosed_at <= $3) returning id",
            )
            .bind(tenant_id)
            .bind(subject_ref)
            .bind(cut_at)
            .fetch_all(&mut **tx)
            .await?;
            report.changes.extend(
                ids.into_iter()
                    .map(|id| change("disclosures", id, "delete")),
            );
            if ledger.is_some() {
                entries.push(LedgerEntry {
                    subject_ref: subject_ref.clone(),
                    tenant: Some(tenant.to_owned()),
                    request_id: scope.request_id,
                    erased_at: now,
                    upto,
                });
            }
            let event = AuditEvent::new(
                opts.action,
                serde_json::to_value(&counts).unwrap_or_default(),
            )
            .tenant(tenant)
            .subject(subject_ref);
            chain.append(ctx, &event);
            report.counts.push((tenant.to_owned(), counts));
        }
        // The requests answered, closed before the ledger line is written: a request that
        // is no longer open fails the erasure while nothing is in the ledger yet.
        if opts.close_requests && !opts.dry_run {
            let mut closed = Vec::new();
            for scope in scopes {
                // A request made without a tenant answers for every tenant: closed once,
                // partly erased when any of its tenants kept something.
                if let Some(id) = scope.request_id.filter(|id| !closed.contains(id)) {
                    closed.push(id);
                    let partly = scopes
                        .iter()
                        .filter(|s| s.request_id == Some(id))
                        .any(|s| report.kept.iter().any(|k| k.tenant == s.tenant));
                    let outcome = if partly {
                        Outcome::ErasedPartly
                    } else {
                        Outcome::Erased
                    };
                    if let Some(check) = opts.identity {
                        let event = Self::request_identity_event(tx, id, check).await?;
                        chain.append(ctx, &event);
                    }
                    let event = Self::close_request_event(tx, id, outcome, ctx.at).await?;
                    chain.append(ctx, &event);
                }
            }
        }
        // Written and synced before the caller commits: a crash in between leaves an entry
        // whose replay erases what the crash kept. In a batch the caller appends the
        // batch's entries together, right before its commit.
        if let Some(own) = own_chain.as_mut() {
            Self::flush_audit_chain(tx, own).await?;
        }
        match (ledger, batch_ledger) {
            (Some(_), Some(batch_ledger)) => batch_ledger.append(&mut entries),
            (Some(ledger), None) => ledger.append(&entries)?,
            (None, _) => {}
        }
        Ok(report)
    }

    /// Closes an open request with `outcome` inside the caller's transaction, with its
    /// `request.close` audit entry (`close_request` runs it in a transaction of its own).
    pub(super) async fn close_request_in(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        id: i64,
        outcome: Outcome,
        ctx: &AuditContext,
    ) -> Result<()> {
        let event = Self::close_request_event(tx, id, outcome, ctx.at).await?;
        Self::append_audit(tx, ctx, &event).await?;
        Ok(())
    }

    /// Closes an open request with `outcome` inside the caller's transaction and returns
    /// its `request.close` audit entry, for the caller to append.
    pub(super) async fn close_request_event(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        id: i64,
        outcome: Outcome,
        at: DateTime<Utc>,
    ) -> Result<AuditEvent> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "update requests set status = 'closed', outcome = $2, closed_at = $3
             where id = $1 and status = 'open'
             returning (select slug from tenants where id = requests.tenant_id), subject_ref",
        )
        .bind(id)
        .bind(Some(outcome))
        .bind(at)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((tenant, subject)) = row else {
            return Err(StoreError::Conflict(format!("request {id} is not open")));
        };
        let mut event = AuditEvent::new(
            "request.close",
            serde_json::json!({ "request": id, "outcome": outcome }),
        );
        event.tenant = tenant;
        event.subject_ref = subject;
        Ok(event)
    }

    /// The highest id of each table an erasure reaches by time.
    async fn row_marks(tx: &mut sqlx::Transaction<'static, D::DB>) -> Result<RowMarks> {
        let (bookings, consents, inbox, replies): (i64, i64, i64, i64) = sqlx::query_as(
            "select (select coalesce(max(id), 0) from bookings),
                    (select coalesce(max(id), 0) from consents),
                    (select coalesce(max(id), 0) from inbox_messages),
                    (select coalesce(max(id), 0) from replies)",
        )
        .fetch_one(&mut **tx)
        .await?;
        Ok(RowMarks {
            bookings,
            consents,
            inbox,
            replies,
        })
    }
}
