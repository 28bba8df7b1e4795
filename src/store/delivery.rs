//! Delivery of queued notifications (`datenwart send`): claiming messages for one worker,
//! and recording what became of each.
//!
//! A message goes `queued` → `claimed` → `sent`, or back to `queued` with a later
//! `next_attempt_at`, or to `failed` for good. Each step is a conditional update: of two
//! workers only one claims a message (PostgreSQL: `for update skip locked`; SQLite: the
//! write lock taken at `begin immediate`), and only a claim's owner records its failure.

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::delivery::{Channel, ErrorClass};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};
use std::collections::BTreeMap;

/// What a worker asks for.
#[derive(Clone, Debug)]
pub struct Claim {
    /// The messages of this channel only.
    pub channel: Channel,
    /// Who claims (stored in `claimed_by`): one id per run.
    pub worker: String,
    pub now: DateTime<Utc>,
    /// The end of the lease.
    pub until: DateTime<Utc>,
    pub limit: i64,
    /// Tenants whose messages may be claimed, with the domain of their sender address,
    /// which ends the Message-ID drawn at the first claim.
    pub sender_domains: BTreeMap<String, String>,
}

/// The booking a message is about, for the calendar entry and the cancel link.
#[derive(Clone, Debug)]
pub struct Appointment {
    pub reference: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub service_name: String,
    pub cancelled: bool,
}

/// One claimed message (e-mail or SMS), ready to be sent.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: i64,
    pub tenant: String,
    pub kind: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// `<…@domain>`, the same for every attempt.
    pub message_id: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub appointment: Option<Appointment>,
}

/// What became of one attempt.
#[derive(Clone, Debug)]
pub enum Attempt {
    /// The server accepted the message; `reply` is its answer (for an SMS, the gateway's
    /// id of the message; stored in `smtp_reply` all the same). `disclosed` are the
    /// recipients the message was handed to (Art. 15(1)(c), 19), recorded with the mark.
    Sent {
        reply: String,
        disclosed: Vec<DisclosedTo>,
    },
    /// Failed; tried again at `next`, or failed for good when `None`.
    Failed {
        class: ErrorClass,
        next: Option<DateTime<Utc>>,
    },
    /// Not sent and never to be: a confirmation of an appointment that was cancelled or
    /// has begun. The message becomes `cancelled`.
    Dropped,
}

/// A message failed for good, for `send --list-failed`: no address, no text.
#[derive(Clone, Debug, Serialize)]
pub struct FailedNotification {
    pub id: i64,
    pub tenant: String,
    pub kind: String,
    pub booking: Option<String>,
    pub attempts: i64,
    pub error_class: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What waits to be sent, as counts (the run's report): e-mail, and SMS apart.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Backlog {
    /// E-mail due now and not held.
    pub due: i64,
    /// E-mail due, but the person's processing is restricted (Art. 18): not sent while it
    /// lasts.
    pub held: i64,
    /// E-mail waiting for its `send_after` or its next attempt.
    pub waiting: i64,
    /// SMS due now and not held.
    pub sms_due: i64,
    /// SMS due but held (Art. 18).
    pub sms_held: i64,
    /// SMS waiting for their time (reminders: 24 hours before the appointment) or their
    /// next attempt.
    pub sms_waiting: i64,
    /// Every SMS queued, due or not (what waits when no SMS gateway is configured).
    pub sms_queued: i64,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claims up to `limit` due messages of the claim's channel for one worker: queued ones whose `send_after` and
    /// `next_attempt_at` have come, and claimed ones whose lease is over. A message of a
    /// person with an active restriction is not claimed. The Message-ID is drawn at the
    /// first claim and kept for every later one.
    async fn claim_notifications(&self, claim: &Claim) -> Result<Vec<Outgoing>>;

    /// Records an attempt. `Sent` marks a claimed message sent whoever claimed it (the
    /// server took it); a failure is recorded only while `worker` still holds the claim.
    /// False when the message changed meanwhile (erased, or taken over and done).
    async fn record_attempt(
        &self,
        worker: &str,
        id: i64,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(self
            .record_attempts(worker, &[(id, attempt.clone())], now)
            .await?
            .remove(0))
    }

    /// Records several attempts in one transaction, each as [`record_attempt`] does; one
    /// answer per attempt. All or none: a failure records none of them (the messages keep
    /// their claims, which run out, and go again with their Message-IDs).
    async fn record_attempts(
        &self,
        worker: &str,
        attempts: &[(i64, Attempt)],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>>;

    /// Gives back what `worker` claimed and did not try; returns how many.
    async fn release_claims(&self, worker: &str) -> Result<u64>;

    /// The messages failed for good, newest first.
    async fn failed_notifications(&self, limit: i64) -> Result<Vec<FailedNotification>>;

    /// What waits to be sent at `now`.
    async fn delivery_backlog(&self, now: DateTime<Utc>) -> Result<Backlog>;
}

/// The condition under which the person a message is about may not be written to: an
/// active restriction (Art. 18) at the message's tenant or at all. `n` is the message.
const RESTRICTED: &str =
    "exists (select 1 from bookings rb join restrictions r on r.subject_ref = rb.subject_ref
        where rb.id = n.booking_id and r.lifted_at is null
          and (r.tenant_id = n.tenant_id or r.tenant_id is null))";

/// Queued and due at `$1`, or claimed by a worker whose lease ended before `$1`.
const DUE: &str = "((n.status = 'queued' and (n.send_after is null or n.send_after <= $1)
          and (n.next_attempt_at is null or n.next_attempt_at <= $1))
      or (n.status = 'claimed' and n.claimed_until <= $1))";

#[derive(sqlx::FromRow)]
struct OutgoingRow {
    id: i64,
    tenant: String,
    kind: String,
    recipient: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    message_id: String,
    attempts: i64,
    reference: Option<String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    booking_status: Option<String>,
    service_name: Option<String>,
}

impl From<OutgoingRow> for Outgoing {
    fn from(r: OutgoingRow) -> Self {
        let appointment = match (r.reference, r.starts_at, r.ends_at) {
            (Some(reference), Some(starts_at), Some(ends_at)) => Some(Appointment {
                reference,
                starts_at,
                ends_at,
                service_name: r.service_name.unwrap_or_default(),
                cancelled: r.booking_status.as_deref() == Some("cancelled"),
            }),
            _ => None,
        };
        Outgoing {
            id: r.id,
            tenant: r.tenant,
            kind: r.kind,
            recipient: r.recipient,
            subject: r.subject,
            body: r.body,
            message_id: r.message_id,
            attempts: r.attempts,
            appointment,
        }
    }
}

#[derive(sqlx::FromRow)]
struct FailedRow {
    id: i64,
    tenant: String,
    kind: String,
    booking: Option<String>,
    attempts: i64,
    error_class: Option<String>,
    created_at: DateTime<Utc>,
}

#[async_trait]
impl<D: Dialect> DeliveryStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::DB> + Type<D::DB>,
    i64: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    Option<i64>: Value<D::DB>,
    Option<String>: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    async fn claim_notifications(&self, claim: &Claim) -> Result<Vec<Outgoing>> {
        if claim.sender_domains.is_empty() || claim.limit <= 0 {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        // Rows another worker is claiming right now are skipped, not waited for.
        let lock = D::SKIP_LOCKED.replace("{alias}", "n");
        let slugs: Vec<String> = (0..claim.sender_domains.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "select n.id, t.slug from notifications n join tenants t on t.id = n.tenant_id
             where n.channel = ${} and {DUE} and t.slug in ({}) and not {RESTRICTED}
             order by n.id limit $2{lock}",
            slugs.len() + 3,
            slugs.join(", ")
        );
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(claim.now)
            .bind(claim.limit);
        for slug in claim.sender_domains.keys() {
            q = q.bind(slug.as_str());
        }
        q = q.bind(claim.channel.as_str());
        let candidates: Vec<(i64, String)> = q.fetch_all(&mut *tx).await?;

        let mut claimed_ids: Vec<i64> = Vec::with_capacity(candidates.len());
        for (id, tenant) in candidates {
            let message_id = format!(
                "<{}@{}>",
                uuid::Uuid::new_v4().simple(),
                claim.sender_domains[&tenant]
            );
            // Conditional: the message is still due (not erased, cancelled or claimed by
            // a worker whose lease holds) — whatever ran beside this transaction.
            let sql = format!(
                "update notifications as n set status = 'claimed', claimed_by = $2, claimed_until = $3,
                     attempts = attempts + 1, message_id = coalesce(message_id, $4)
                 where id = $5 and {DUE} returning id"
            );
            let done: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(claim.now)
                .bind(claim.worker.as_str())
                .bind(claim.until)
                .bind(message_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            claimed_ids.extend(done);
        }
        let mut claimed: Vec<Outgoing> = Vec::with_capacity(claimed_ids.len());
        if !claimed_ids.is_empty() {
            let marks: Vec<String> = (1..=claimed_ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "select n.id, t.slug as tenant, n.kind, n.recipient, n.subject, n.body,
                        n.message_id, n.attempts, b.reference, b.appointment_start as starts_at,
                        b.appointment_end as ends_at, b.status as booking_status,
                        s.name as service_name
                 from notifications n join tenants t on t.id = n.tenant_id
                 left join bookings b on b.id = n.booking_id
                 left join services s on s.id = b.service_id
                 where n.id in ({}) order by n.id",
                marks.join(", ")
            );
            let mut q = sqlx::query_as::<_, OutgoingRow>(sqlx::AssertSqlSafe(sql));
            for id in &claimed_ids {
                q = q.bind(*id);
            }
            claimed.extend(q.fetch_all(&mut *tx).await?.into_iter().map(Outgoing::from));
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn record_attempts(
        &self,
        worker: &str,
        attempts: &[(i64, Attempt)],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let mut done = Vec::with_capacity(attempts.len());
        for (id, attempt) in attempts {
            let id = *id;
            let changed = match attempt {
            Attempt::Sent { reply, .. } => sqlx::query(
                "update notifications set status = 'sent', sent_at = $2, smtp_reply = $3,
                     claimed_by = null, claimed_until = null, next_attempt_at = null,
                     last_error_class = null
                 where id = $1 and status = 'claimed'",
            )
            .bind(id)
            .bind(now)
            .bind(reply.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Attempt::Failed { class, next } => sqlx::query(
                "update notifications set
                     status = case when $3 is null then 'failed' else 'queued' end,
                     next_attempt_at = $3, last_error_class = $4,
                     claimed_by = null, claimed_until = null
                 where id = $1 and status = 'claimed' and claimed_by = $2",
            )
            .bind(id)
            .bind(worker)
            .bind(*next)
            .bind(class.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Attempt::Dropped => sqlx::query(
                "update notifications set status = 'cancelled', claimed_by = null, claimed_until = null
                 where id = $1 and status = 'claimed' and claimed_by = $2",
            )
            .bind(id)
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
            // The disclosure is recorded with the mark that the message went out, once.
            if let (Attempt::Sent { disclosed, .. }, 1) = (attempt, changed) {
                Self::record_disclosures_in(&mut tx, id, disclosed, now).await?;
            }
            done.push(changed == 1);
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn release_claims(&self, worker: &str) -> Result<u64> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        // Not tried: the attempt counted at the claim is given back.
        let n = sqlx::query(
            "update notifications set status = 'queued', claimed_by = null, claimed_until = null,
                 attempts = attempts - 1
             where status = 'claimed' and claimed_by = $1",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn failed_notifications(&self, limit: i64) -> Result<Vec<FailedNotification>> {
        let rows: Vec<FailedRow> = sqlx::query_as(
            "select n.id, t.slug as tenant, n.kind, b.reference as booking, n.attempts,
                    n.last_error_class as error_class, n.created_at
             from notifications n join tenants t on t.id = n.tenant_id
             left join bookings b on b.id = n.booking_id
             where n.status = 'failed' order by n.id desc limit $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| FailedNotification {
                id: r.id,
                tenant: r.tenant,
                kind: r.kind,
                booking: r.booking,
                attempts: r.attempts,
                error_class: r.error_class,
                created_at: r.created_at,
            })
            .collect())
    }

    async fn delivery_backlog(&self, now: DateTime<Utc>) -> Result<Backlog> {
        let count = |channel: &str, when: &str| {
            format!(
                "coalesce(sum(case when n.channel = '{channel}' and {when} then 1 else 0 end), 0)"
            )
        };
        let mut columns = Vec::new();
        for channel in ["email", "sms"] {
            columns.push(count(channel, &format!("{DUE} and not {RESTRICTED}")));
            columns.push(count(channel, &format!("{DUE} and {RESTRICTED}")));
            columns.push(count(
                channel,
                &format!("n.status = 'queued' and not {DUE}"),
            ));
        }
        columns.push(count("sms", "n.status = 'queued'"));
        let sql = format!(
            "select {} from notifications n where n.status in ('queued', 'claimed')",
            columns.join(", ")
        );
        let (due, held, waiting, sms_due, sms_held, sms_waiting, sms_queued): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(Backlog {
            due,
            held,
            waiting,
            sms_due,
            sms_held,
            sms_waiting,
            sms_queued,
        })
    }
}
