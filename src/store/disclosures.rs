//! Disclosures and Art. 19: who received a person's data (recorded when a message is handed
//! to the mail server or SMS provider), and the recipients to be told of a rectification,
//! erasure or restriction, opened in the transaction of that change and marked told by the DPO.

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

/// One recipient a message is handed to, from the tenant's policy (`recipient.receives`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosedTo {
    /// The recipient's name as the policy writes it.
    pub recipient: String,
    /// `processor`, `internal` or `third_party`.
    pub role: &'static str,
    /// The categories of data the message carries (from the policy's purpose).
    pub categories: Vec<String>,
}

/// A disclosure of the person's data, as an Auskunft lists it: no address, no text.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct DisclosureRecord {
    pub recipient: String,
    pub recipient_role: String,
    /// Comma-separated category names.
    pub categories: String,
    /// The kind of message (`confirmation`, `office_copy`, `sms_reminder`, …).
    pub kind: String,
    pub disclosed_at: DateTime<Utc>,
}

/// A recipient to be told of a rectification, erasure or restriction (Art. 19).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RecipientNotice {
    pub id: i64,
    pub request_id: i64,
    pub tenant: String,
    pub recipient: String,
    pub recipient_role: String,
    pub created_at: DateTime<Utc>,
    pub told_on: Option<NaiveDate>,
    pub told_by: Option<String>,
}

#[async_trait]
pub trait DisclosureStore: Send + Sync {
    /// The Art. 19 recipients of one request, in the order they were opened.
    async fn recipient_notices(&self, request_id: i64) -> Result<Vec<RecipientNotice>>;

    /// Marks one recipient told on `told_on`, once; false when it was told already (or
    /// does not exist). Audited as `request.told` in the same transaction.
    async fn mark_told(
        &self,
        notice_id: i64,
        told_on: NaiveDate,
        ctx: &AuditContext,
    ) -> Result<bool>;

    /// (request id, recipients not yet told) for every request that has such recipients.
    async fn untold_by_request(&self) -> Result<Vec<(i64, i64)>>;
}

#[async_trait]
impl<D: Dialect> DisclosureStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    bool: Value<D::DB>,
    String: Value<D::DB>,
    NaiveDate: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<NaiveDate>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    async fn recipient_notices(&self, request_id: i64) -> Result<Vec<RecipientNotice>> {
        Ok(sqlx::query_as(
            "select n.id, n.request_id, t.slug as tenant, n.recipient, n.recipient_role, n.created_at,
                    n.told_on, n.told_by
             from recipient_notices n join tenants t on t.id = n.tenant_id
             where n.request_id = $1 order by n.id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn mark_told(
        &self,
        notice_id: i64,
        told_on: NaiveDate,
        ctx: &AuditContext,
    ) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
        // Conditional: of two DPOs marking the same recipient, one does.
        let done: Option<(i64, String, Option<String>)> = sqlx::query_as(
            "update recipient_notices set told_on = $2, told_by = $3
             where id = $1 and told_on is null
             returning request_id, (select slug from tenants where id = recipient_notices.tenant_id),
                       (select subject_ref from requests where id = recipient_notices.request_id)",
        )
        .bind(notice_id)
        .bind(told_on)
        .bind(ctx.actor.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((request_id, tenant, subject)) = done else {
            return Ok(false);
        };
        let mut event = AuditEvent::new(
            "request.told",
            serde_json::json!({ "request": request_id, "notice": notice_id, "told_on": told_on }),
        )
        .tenant(&tenant);
        event.subject_ref = subject;
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn untold_by_request(&self) -> Result<Vec<(i64, i64)>> {
        Ok(sqlx::query_as(
            "select request_id, count(*) from recipient_notices where told_on is null
             group by request_id order by request_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    Option<i64>: Value<D::DB>,
{
    /// Records that notification `notification_id` (just handed over) disclosed its
    /// person's data to each of `to`, inside the caller's transaction. A message about no
    /// person (a booking anonymized meanwhile) records nothing.
    pub(super) async fn record_disclosures_in(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        notification_id: i64,
        to: &[DisclosedTo],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let about: Option<(i64, Option<String>, String)> = sqlx::query_as(
            "select n.tenant_id, b.subject_ref, n.kind from notifications n
             left join bookings b on b.id = n.booking_id where n.id = $1",
        )
        .bind(notification_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((tenant_id, Some(subject_ref), kind)) = about else {
            return Ok(());
        };
        for d in to {
            sqlx::query(
                "insert into disclosures (tenant_id, subject_ref, recipient, recipient_role,
                     categories, kind, notification_id, disclosed_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(tenant_id)
            .bind(subject_ref.as_str())
            .bind(d.recipient.as_str())
            .bind(d.role)
            .bind(d.categories.join(","))
            .bind(kind.as_str())
            .bind(notification_id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Opens the Art. 19 notices of `request_id`: one per recipient that received the
    /// person's data at the tenant (every tenant when `tenant_id` is None), inside the
    /// caller's transaction. Returns how many were opened.
    pub(super) async fn open_notices_in(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        request_id: i64,
        tenant_id: Option<i64>,
        subject_ref: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let recipients: Vec<(i64, String, String)> = sqlx::query_as(
            "select tenant_id, recipient, min(recipient_role) from disclosures
             where subject_ref = $1 and ($2 is null or tenant_id = $2)
             group by tenant_id, recipient order by tenant_id, recipient",
        )
        .bind(subject_ref)
        .bind(tenant_id)
        .fetch_all(&mut **tx)
        .await?;
        let mut opened = 0;
        for (tenant_id, recipient, role) in recipients {
            opened += sqlx::query(
                "insert into recipient_notices (request_id, tenant_id, recipient, recipient_role, created_at)
                 values ($1, $2, $3, $4, $5)
                 on conflict (request_id, tenant_id, recipient) do nothing",
            )
            .bind(request_id)
            .bind(tenant_id)
            .bind(recipient)
            .bind(role)
            .bind(at)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
        Ok(opened)
    }
}
