//! The register: legal holds, restrictions of processing, requests with their deadlines,
//! extensions, decisions and closing, objections, and the erasure ledger as read back.

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use crate::domain::requests::{IdentityCheck, Outcome, RequestKind, RequestStatus};
use crate::domain::subject::SubjectRef;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

pub(super) const REQUEST_SELECT: &str = "select r.id, t.slug as tenant, r.kind, r.subject_ref, r.channel,
        r.received_at, r.due_on, r.extended_due_on, r.extension_reason, r.status, r.outcome, r.closed_at,
        r.created_at, r.close_reason, r.identity
     from requests r left join tenants t on t.id = r.tenant_id";

/// The columns of [`REQUEST_SELECT`] as a statement on `requests` returns them.
const REQUEST_RETURNING: &str = "returning id, (select slug from tenants where id = requests.tenant_id) as tenant,
        kind, subject_ref, channel, received_at, due_on, extended_due_on, extension_reason, status, outcome,
        closed_at, created_at, close_reason, identity";

#[async_trait]
pub trait RegisterStore: Send + Sync {
    async fn add_hold(
        &self,
        tenant: &str,
        target: &HoldTarget,
        reason: &str,
        until: Option<NaiveDate>,
        ctx: &AuditContext,
    ) -> Result<i64>;

    async fn list_holds(&self, tenant: Option<&str>, include_removed: bool) -> Result<Vec<Hold>>;

    /// False when there is no active hold with that id.
    async fn remove_hold(&self, id: i64, ctx: &AuditContext) -> Result<bool>;

    async fn add_restriction(
        &self,
        tenant: Option<&str>,
        subject_ref: &SubjectRef,
        reason: &str,
        request_id: Option<i64>,
        ctx: &AuditContext,
    ) -> Result<i64>;

    /// Lifts the person's active restrictions (at one tenant, or all); returns how many.
    async fn lift_restrictions(
        &self,
        tenant: Option<&str>,
        subject_ref: &SubjectRef,
        ctx: &AuditContext,
    ) -> Result<usize>;

    /// The person's active restrictions.
    async fn restrictions(&self, subject_ref: &SubjectRef) -> Result<Vec<Restriction>>;

    async fn open_request(&self, request: &NewRequest, ctx: &AuditContext) -> Result<i64> {
        let opened = self
            .open_requests(std::slice::from_ref(request), ctx)
            .await?;
        Ok(opened[0].id)
    }

    /// Registers the requests, each with its `request.open` audit entry, in one
    /// transaction (all or none); returns them as the register holds them, in order.
    async fn open_requests(
        &self,
        requests: &[NewRequest],
        ctx: &AuditContext,
    ) -> Result<Vec<Request>>;

    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<Request>>;

    async fn request(&self, id: i64) -> Result<Option<Request>>;

    async fn extend_request(
        &self,
        id: i64,
        extended_due_on: NaiveDate,
        reason: &str,
        ctx: &AuditContext,
    ) -> Result<()>;

    async fn close_request(&self, id: i64, outcome: Outcome, ctx: &AuditContext) -> Result<()>;

    /// Closes the requests an answer was given for, each with its outcome, then records the
    /// answer's audit `events` and, when given, how the person's identity was established
    /// on each of those requests — all in one transaction: the register says answered
    /// exactly when the trail does, and the answer costs one commit. A request no longer
    /// open fails the whole.
    async fn close_answered(
        &self,
        closes: &[(i64, Outcome)],
        events: &[AuditEvent],
        identity: Option<IdentityCheck>,
        ctx: &AuditContext,
    ) -> Result<()>;

    /// Closes an open request with the DPO's decision and its reasons (kept for the letter,
    /// never put in the audit trail); a granted objection also records the objection and
    /// stops what it covers at once — all in one transaction, and only once.
    async fn decide_request(
        &self,
        id: i64,
        outcome: Outcome,
        reason: Option<&str>,
        objection: Option<&ObjectionGrant>,
        ctx: &AuditContext,
    ) -> Result<ObjectionEffects>;

    /// The person's granted objections, oldest first.
    async fn objections(&self, subject_ref: &SubjectRef) -> Result<Vec<Objection>>;

    /// Removes a request this command opened and could not answer (the Auskunft could not
    /// be written): the register keeps only what was done; the audit trail keeps both
    /// entries. Only an open request, once.
    async fn discard_request(&self, id: i64, ctx: &AuditContext) -> Result<()>;

    /// The erasure ledger file's entries, oldest first.
    async fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>>;

    /// Refuses (before anything changes) when an erasure would have no ledger to write.
    fn check_erasure_ledger(&self) -> Result<()>;
}

#[async_trait]
impl<D: Dialect> RegisterStore for SqlStore<D>
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
    Option<RequestStatus>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
    Option<NaiveDate>: Value<D::DB>,
    Option<IdentityCheck>: Value<D::DB>,
{
    async fn add_hold(
        &self,
        tenant: &str,
        target: &HoldTarget,
        reason: &str,
        until: Option<NaiveDate>,
        ctx: &AuditContext,
    ) -> Result<i64> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, tenant).await?;
        let (subject, booking, details) = match target {
            HoldTarget::Subject(r) => {
                (Some(r.clone()), None, serde_json::json!({ "on": "person" }))
            }
            HoldTarget::Booking(reference) => {
                let id: i64 = sqlx::query_scalar(
                    "select id from bookings where tenant_id = $1 and reference = $2",
                )
                .bind(tenant_id)
                .bind(reference)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "booking {reference} is not a booking of tenant {tenant}"
                    ))
                })?;
                (
                    None,
                    Some(id),
                    serde_json::json!({ "on": "booking", "booking": reference }),
                )
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
        let mut event = AuditEvent::new("hold.add", details).tenant(tenant);
        event.subject_ref = subject.as_ref().map(ToString::to_string);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn list_holds(&self, tenant: Option<&str>, include_removed: bool) -> Result<Vec<Hold>> {
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

    async fn remove_hold(&self, id: i64, ctx: &AuditContext) -> Result<bool> {
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
        let mut event =
            AuditEvent::new("hold.remove", serde_json::json!({ "hold": id })).tenant(&tenant);
        event.subject_ref = subject;
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_restriction(
        &self,
        tenant: Option<&str>,
        subject_ref: &SubjectRef,
        reason: &str,
        request_id: Option<i64>,
        ctx: &AuditContext,
    ) -> Result<i64> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = match tenant {
            Some(t) => Some(self.known_tenant_id(&mut tx, t).await?),
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
        // Art. 19: whoever received the person's data is to be told of the restriction.
        let to_tell = match request_id {
            Some(r) => {
                Self::open_notices_in(&mut tx, r, tenant_id, subject_ref.as_str(), ctx.at).await?
            }
            None => 0,
        };
        let mut event = AuditEvent::new(
            "subject.restrict",
            serde_json::json!({ "restriction": id, "recipients_to_tell": to_tell }),
        )
        .subject(subject_ref);
        event.tenant = tenant.map(str::to_owned);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn lift_restrictions(
        &self,
        tenant: Option<&str>,
        subject_ref: &SubjectRef,
        ctx: &AuditContext,
    ) -> Result<usize> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = match tenant {
            Some(t) => Some(self.known_tenant_id(&mut tx, t).await?),
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
            let mut event =
                AuditEvent::new("subject.restrict_lift", serde_json::json!({ "lifted": n }))
                    .subject(subject_ref);
            event.tenant = tenant.map(str::to_owned);
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn restrictions(&self, subject_ref: &SubjectRef) -> Result<Vec<Restriction>> {
        Ok(sqlx::query_as(
            "select r.id, t.slug as tenant, r.subject_ref, r.reason, r.created_at, r.lifted_at, r.request_id
             from restrictions r left join tenants t on t.id = r.tenant_id
             where r.subject_ref = $1 and r.lifted_at is null order by r.id",
        )
        .bind(subject_ref)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn open_requests(
        &self,
        requests: &[NewRequest],
        ctx: &AuditContext,
    ) -> Result<Vec<Request>> {
        let mut tx = self.begin_admin().await?;
        let mut chain = Self::audit_chain(&mut tx).await?;
        let mut opened = Vec::with_capacity(requests.len());
        for r in requests {
            let tenant_id = match &r.tenant {
                Some(t) => Some(self.known_tenant_id(&mut tx, t).await?),
                None => None,
            };
            let request: Request = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "insert into requests (tenant_id, kind, subject_ref, channel, received_at, due_on, status,
                     created_at, identity)
                 values ($1, $2, $3, $4, $5, $6, 'open', $7, $8) {REQUEST_RETURNING}"
            )))
            .bind(tenant_id)
            .bind(r.kind)
            .bind(&r.subject_ref)
            .bind(r.channel)
            .bind(r.received_at)
            .bind(r.due_on)
            .bind(ctx.at)
            .bind(r.identity)
            .fetch_one(&mut *tx)
            .await?;
            let mut event = AuditEvent::new(
                "request.open",
                serde_json::json!({ "request": request.id, "kind": r.kind, "channel": r.channel,
                                    "due_on": r.due_on, "identity": r.identity }),
            );
            event.tenant = r.tenant.clone();
            event.subject_ref = r.subject_ref.as_ref().map(ToString::to_string);
            chain.append(ctx, &event);
            opened.push(request);
        }
        Self::flush_audit_chain(&mut tx, &mut chain).await?;
        tx.commit().await?;
        Ok(opened)
    }

    async fn list_requests(&self, f: &RequestFilter) -> Result<Vec<Request>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} where ($1 is null or t.slug = $1) and ($2 is null or r.status = $2)
               and ($3 is null or (r.status = 'open' and coalesce(r.extended_due_on, r.due_on) <= $3))
               and ($4 is null or r.subject_ref = $4) and ($5 is null or r.kind = $5)
             order by r.id",
            REQUEST_SELECT
        )))
        .bind(&f.tenant)
        .bind(f.status)
        .bind(f.due_on_or_before)
        .bind(&f.subject_ref)
        .bind(f.kind)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn request(&self, id: i64) -> Result<Option<Request>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} where r.id = $1",
            REQUEST_SELECT
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn extend_request(
        &self,
        id: i64,
        extended_due_on: NaiveDate,
        reason: &str,
        ctx: &AuditContext,
    ) -> Result<()> {
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
            return Err(StoreError::Conflict(format!(
                "request {id} is not open or was extended already"
            )));
        };
        let mut event = AuditEvent::new(
            "request.extend",
            serde_json::json!({ "request": id, "extended_due_on": extended_due_on }),
        );
        event.tenant = tenant;
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_request(&self, id: i64, outcome: Outcome, ctx: &AuditContext) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        Self::close_request_in(&mut tx, id, outcome, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_answered(
        &self,
        closes: &[(i64, Outcome)],
        events: &[AuditEvent],
        identity: Option<IdentityCheck>,
        ctx: &AuditContext,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        // The entries are chained in memory and written together: a statement or two
        // instead of three per entry.
        let mut chain = Self::audit_chain(&mut tx).await?;
        for &(id, outcome) in closes {
            let event = Self::close_request_event(&mut tx, id, outcome, ctx.at).await?;
            chain.append(ctx, &event);
        }
        for event in events {
            chain.append(ctx, event);
        }
        if let Some(check) = identity {
            for &(id, _) in closes {
                let event = Self::request_identity_event(&mut tx, id, check).await?;
                chain.append(ctx, &event);
            }
        }
        Self::flush_audit_chain(&mut tx, &mut chain).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn decide_request(
        &self,
        id: i64,
        outcome: Outcome,
        reason: Option<&str>,
        objection: Option<&ObjectionGrant>,
        ctx: &AuditContext,
    ) -> Result<ObjectionEffects> {
        let mut tx = self.begin_admin().await?;
        // Conditional: whatever runs beside it, a request is decided once; an objection
        // is granted only while it is an open objection.
        let row: Option<(Option<i64>, Option<String>, Option<SubjectRef>, Option<RequestKind>)> =
            sqlx::query_as(
                "update requests set status = 'closed', outcome = $2, closed_at = $3, close_reason = $4
                 where id = $1 and status = 'open'
                 returning tenant_id, (select slug from tenants where id = requests.tenant_id), subject_ref, kind",
            )
            .bind(id)
            .bind(outcome)
            .bind(ctx.at)
            .bind(reason)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((tenant_id, tenant, subject, kind)) = row else {
            return Err(StoreError::Conflict(format!("request {id} is not open")));
        };
        let mut effects = ObjectionEffects::default();
        if let Some(grant) = objection {
            let (Some(tenant_id), Some(subject), Some(RequestKind::Objection)) =
                (tenant_id, subject.as_ref(), kind)
            else {
                return Err(StoreError::Invalid(format!(
                    "request {id}: only an objection of a known person at one tenant can be granted"
                )));
            };
            effects.objection = Some(
                sqlx::query_scalar(
                    "insert into objections (tenant_id, subject_ref, request_id, purposes, created_at)
                     values ($1, $2, $3, $4, $5) returning id",
                )
                .bind(tenant_id)
                .bind(subject)
                .bind(id)
                .bind(grant.purposes.join(","))
                .bind(ctx.at)
                .fetch_one(&mut *tx)
                .await?,
            );
            if grant.purposes.iter().any(|p| p == OFFICE_COPY_PURPOSE) {
                effects.office_copies_cancelled = sqlx::query(
                    "update notifications set status = 'cancelled'
                     where status = 'queued' and kind = 'office_copy' and tenant_id = $1
                       and booking_id in (select id from bookings where tenant_id = $1 and subject_ref = $2)",
                )
                .bind(tenant_id)
                .bind(subject)
                .execute(&mut *tx)
                .await?
                .rows_affected() as usize;
            }
            if grant.purposes.iter().any(|p| p == ACCESS_LOG_PURPOSE) {
                effects.access_log_deleted = sqlx::query(
                    "delete from access_log where tenant_id = $1
                       and booking_id in (select id from bookings where tenant_id = $1 and subject_ref = $2)",
                )
                .bind(tenant_id)
                .bind(subject)
                .execute(&mut *tx)
                .await?
                .rows_affected() as usize;
            }
        }
        let mut event = AuditEvent::new(
            "request.close",
            serde_json::json!({
                "request": id,
                "outcome": outcome,
                "objection": effects.objection,
                "office_copies_cancelled": effects.office_copies_cancelled,
                "access_log_deleted": effects.access_log_deleted,
            }),
        );
        event.tenant = tenant;
        event.subject_ref = subject.as_ref().map(ToString::to_string);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        if effects.access_log_deleted > 0 {
            self.after_erasure().await?;
        }
        Ok(effects)
    }

    async fn objections(&self, subject_ref: &SubjectRef) -> Result<Vec<Objection>> {
        Ok(sqlx::query_as(
            "select o.id, t.slug as tenant, o.request_id, o.purposes, o.created_at
             from objections o join tenants t on t.id = o.tenant_id
             where o.subject_ref = $1 order by o.id",
        )
        .bind(subject_ref)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn discard_request(&self, id: i64, ctx: &AuditContext) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let row: Option<(Option<String>, Option<SubjectRef>)> = sqlx::query_as(
            "delete from requests where id = $1 and status = 'open'
             returning (select slug from tenants where id = requests.tenant_id), subject_ref",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((tenant, subject)) = row else {
            return Err(StoreError::Conflict(format!("request {id} is not open")));
        };
        let mut event = AuditEvent::new("request.discard", serde_json::json!({ "request": id }));
        event.tenant = tenant;
        event.subject_ref = subject.as_ref().map(ToString::to_string);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>> {
        self.required_ledger()?.read()
    }

    fn check_erasure_ledger(&self) -> Result<()> {
        self.required_ledger().map(|_| ())
    }
}
