//! Identity confirmations: requests that wait for the person to confirm them with a
//! one-time code (by replying, or by the link of the confirmation mail), their expiry, and
//! how a request's identity was established.

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use crate::domain::requests::{
    Channel, IdentityCheck, InboxOutcome, Outcome, RequestKind, RequestStatus,
};
use crate::domain::subject::SubjectRef;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

/// A confirmation as stored, found by its code's hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Confirmation {
    pub id: i64,
    pub tenant: String,
    /// Only while pending.
    pub subject_ref: Option<SubjectRef>,
    pub code_hash: String,
    /// What the request asks for.
    pub asked: InboxOutcome,
    pub channel: Channel,
    pub inbox_message_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `confirmed` or `expired`.
    pub status: String,
}

/// A confirmation request made on the citizen page: the person behind an address on file
/// is asked by mail to confirm what was asked in their name.
#[derive(Clone, Debug)]
pub struct WebConfirmation {
    pub tenant: String,
    pub subject_ref: SubjectRef,
    pub code_hash: String,
    pub asked: InboxOutcome,
    pub received_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The mail for `datenwart send`: recipient (the address on file), subject, text.
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

/// Confirmations that expired in one run, per tenant.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Expired {
    pub total: usize,
    pub per_tenant: Vec<(String, usize)>,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The confirmation whose code has this keyed hash, in whatever state.
    async fn confirmation(&self, code_hash: &str) -> Result<Option<Confirmation>>;

    /// Stores a confirmation request from the citizen page and queues its mail (an e-mail
    /// notification of the person's latest booking at the tenant, so that erasure, Auskunft
    /// and retention treat it with the person's data), in one transaction. False when the
    /// person has no booking there to send it for, or got such a mail from the page within
    /// the last hour that is still pending: nothing is stored.
    async fn request_confirmation(&self, c: &WebConfirmation, ctx: &AuditContext) -> Result<bool>;

    /// Applies a pending confirmation's effect because its link was followed: pending →
    /// confirmed (once, whatever runs beside it; `StoreError::Conflict` when it is not
    /// pending any more or has expired), the effect as the intake applies it, the
    /// original message (if any) gets the effect's outcome — one transaction.
    async fn confirm_by_link(
        &self,
        id: i64,
        entry: &InboxEntry,
        effect: &IntakeEffect,
        ctx: &AuditContext,
    ) -> Result<IntakeResult>;

    /// Expires the confirmations still pending at `now` after their validity: they get
    /// the status `expired`, their messages the outcome `unconfirmed`, nothing else changes.
    async fn expire_confirmations(&self, now: DateTime<Utc>, ctx: &AuditContext)
    -> Result<Expired>;

    /// Records how the identity behind a request was established (a command's
    /// `--identity-checked-by`).
    async fn set_request_identity(
        &self,
        request_id: i64,
        identity: IdentityCheck,
        ctx: &AuditContext,
    ) -> Result<()>;
}

#[async_trait]
impl<D: Dialect> IdentityStore for SqlStore<D>
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
    Option<IdentityCheck>: Value<D::DB>,
    InboxOutcome: Value<D::DB>,
    Channel: Value<D::DB>,
    SubjectRef: Value<D::DB>,
{
    async fn confirmation(&self, code_hash: &str) -> Result<Option<Confirmation>> {
        Ok(sqlx::query_as(
            "select c.id, t.slug as tenant, c.subject_ref, c.code_hash, c.asked, c.channel,
                    c.inbox_message_id, c.received_at, c.expires_at, c.status
             from identity_confirmations c join tenants t on t.id = c.tenant_id
             where c.code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn request_confirmation(&self, c: &WebConfirmation, ctx: &AuditContext) -> Result<bool> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, &c.tenant).await?;
        let booking: Option<i64> = sqlx::query_scalar(
            "select id from bookings where tenant_id = $1 and subject_ref = $2
             order by booked_at desc, id desc limit 1",
        )
        .bind(tenant_id)
        .bind(&c.subject_ref)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(booking) = booking else {
            tx.rollback().await?;
            return Ok(false);
        };
        // One confirmation mail per person and hour from the page, however often it is
        // filled in with their address: the page must not become a way to flood them.
        let recent: i64 = sqlx::query_scalar(
            "select count(*) from identity_confirmations
             where tenant_id = $1 and subject_ref = $2 and channel = 'web' and status = 'pending'
               and created_at > $3",
        )
        .bind(tenant_id)
        .bind(&c.subject_ref)
        .bind(ctx.at - chrono::TimeDelta::hours(1))
        .fetch_one(&mut *tx)
        .await?;
        if recent > 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let id: i64 = sqlx::query_scalar(
            "insert into identity_confirmations (tenant_id, subject_ref, code_hash, asked, channel,
                 received_at, created_at, expires_at, status)
             values ($1, $2, $3, $4, 'web', $5, $6, $7, 'pending') returning id",
        )
        .bind(tenant_id)
        .bind(&c.subject_ref)
        .bind(c.code_hash.as_str())
        .bind(c.asked)
        .bind(c.received_at)
        .bind(ctx.at)
        .bind(c.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        let notification: i64 = sqlx::query_scalar(
            "insert into notifications (tenant_id, booking_id, channel, kind, recipient, subject, body,
                 status, created_at)
             values ($1, $2, 'email', 'reply', $3, $4, $5, 'queued', $6) returning id",
        )
        .bind(tenant_id)
        .bind(booking)
        .bind(c.recipient.as_str())
        .bind(c.subject.as_str())
        .bind(c.body.as_str())
        .bind(ctx.at)
        .fetch_one(&mut *tx)
        .await?;
        let mut event = AuditEvent::new(
            "identity.confirmation_requested",
            serde_json::json!({
                "confirmation": id,
                "asked": c.asked,
                "channel": "web",
                "notification": notification,
                "expires_at": c.expires_at,
            }),
        );
        event.tenant = Some(c.tenant.clone());
        event.subject_ref = Some(c.subject_ref.to_string());
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn confirm_by_link(
        &self,
        id: i64,
        entry: &InboxEntry,
        effect: &IntakeEffect,
        ctx: &AuditContext,
    ) -> Result<IntakeResult> {
        let mut tx = self.begin_admin().await?;
        let by = entry.identity.unwrap_or(IdentityCheck::ConfirmedByLink);
        if !Self::take_confirmation(&mut tx, id, by, entry.processed_at).await? {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "the confirmation was used already or has expired".into(),
            ));
        }
        let tenant_id = match &entry.tenant {
            Some(t) => Some(self.known_tenant_id(&mut tx, t).await?),
            None => None,
        };
        let no_reply = |_: &IntakeResult| None;
        let result = self
            .apply_intake(
                &mut tx, None, tenant_id, entry, effect, &no_reply, ctx, None,
            )
            .await?;
        Self::link_confirmation(&mut tx, id, result.request_id).await?;
        // The message that asked now has the outcome of what it asked.
        sqlx::query(
            "update inbox_messages set outcome = $2, request_id = $3
             where id = (select inbox_message_id from identity_confirmations where id = $1)
               and outcome = 'confirmation_requested'",
        )
        .bind(id)
        .bind(entry.outcome)
        .bind(result.request_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if result.erasure.is_some() {
            self.after_erasure().await?;
        }
        Ok(result)
    }

    async fn expire_confirmations(
        &self,
        now: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<Expired> {
        let mut tx = self.begin_admin().await?;
        let candidates: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
            "select c.id, t.slug, c.inbox_message_id
             from identity_confirmations c join tenants t on t.id = c.tenant_id
             where c.status = 'pending' and c.expires_at <= $1 order by c.id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut rows = Vec::new();
        for row in candidates {
            // Conditional: a confirmation taken beside this run stays confirmed.
            let done = sqlx::query(
                "update identity_confirmations set status = 'expired', decided_at = $2, subject_ref = null
                 where id = $1 and status = 'pending'",
            )
            .bind(row.0)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                rows.push(row);
            }
        }
        let mut expired = Expired::default();
        for (_, tenant, message) in &rows {
            if let Some(message) = message {
                sqlx::query(
                    "update inbox_messages set outcome = 'unconfirmed', subject_ref = null
                     where id = $1 and outcome = 'confirmation_requested'",
                )
                .bind(*message)
                .execute(&mut *tx)
                .await?;
            }
            match expired.per_tenant.iter_mut().find(|(t, _)| t == tenant) {
                Some((_, n)) => *n += 1,
                None => expired.per_tenant.push((tenant.clone(), 1)),
            }
            expired.total += 1;
        }
        expired.per_tenant.sort();
        for (tenant, n) in &expired.per_tenant {
            let ids: Vec<i64> = rows
                .iter()
                .filter(|(_, t, _)| t == tenant)
                .map(|(id, _, _)| *id)
                .collect();
            let mut event = AuditEvent::new(
                "identity.unconfirmed",
                serde_json::json!({ "expired": n, "confirmations": ids }),
            );
            event.tenant = Some(tenant.clone());
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn set_request_identity(
        &self,
        request_id: i64,
        identity: IdentityCheck,
        ctx: &AuditContext,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        Self::set_request_identity_in(&mut tx, request_id, identity, ctx).await?;
        tx.commit().await?;
        Ok(())
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
    Option<SubjectRef>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
    Option<IdentityCheck>: Value<D::DB>,
{
    /// Records how the person's identity was established on a request, with its
    /// `request.identity` audit entry, inside the caller's transaction.
    pub(super) async fn set_request_identity_in(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        request_id: i64,
        identity: IdentityCheck,
        ctx: &AuditContext,
    ) -> Result<()> {
        let event = Self::request_identity_event(tx, request_id, identity).await?;
        Self::append_audit(tx, ctx, &event).await?;
        Ok(())
    }

    /// Records how the person's identity was established on a request inside the caller's
    /// transaction and returns its `request.identity` audit entry, for the caller to append.
    pub(super) async fn request_identity_event(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        request_id: i64,
        identity: IdentityCheck,
    ) -> Result<AuditEvent> {
        let row: Option<(Option<String>, Option<SubjectRef>)> = sqlx::query_as(
            "update requests set identity = $2 where id = $1
             returning (select slug from tenants where id = requests.tenant_id), subject_ref",
        )
        .bind(request_id)
        .bind(Some(identity))
        .fetch_optional(&mut **tx)
        .await?;
        let Some((tenant, subject_ref)) = row else {
            return Err(StoreError::NotFound(format!("no request {request_id}")));
        };
        let mut event = AuditEvent::new(
            "request.identity",
            serde_json::json!({ "request": request_id, "identity": identity }),
        );
        event.tenant = tenant;
        event.subject_ref = subject_ref.as_ref().map(ToString::to_string);
        Ok(event)
    }
}
