//! The register of personal-data breaches (Art. 33(5) DSGVO) and the helper that counts
//! the persons and records a breach may concern. Every change is one conditional
//! transition with its audit entry; the audit names ids and counts, never free text.

use super::sql::{Dialect, RowsAffected, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

/// A breach as the DPO records it.
#[derive(Clone, Debug)]
pub struct NewBreach {
    pub tenant: String,
    pub known_at: DateTime<Utc>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
    pub description: String,
    /// Data categories concerned, e.g. `email`, `phone` (the policy's category names).
    pub data_categories: Vec<String>,
    pub persons_approx: Option<i64>,
    pub records_approx: Option<i64>,
    /// `unlikely`, `risk` or `high` (see `domain::breach::Risk`).
    pub risk: String,
    pub consequences: Option<String>,
    pub measures: Option<String>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Breach {
    pub id: i64,
    pub tenant: String,
    pub known_at: DateTime<Utc>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
    pub description: String,
    /// Comma-separated, as stored.
    pub data_categories: String,
    pub persons_approx: Option<i64>,
    pub records_approx: Option<i64>,
    pub risk: String,
    pub consequences: Option<String>,
    pub measures: Option<String>,
    pub authority_notified_at: Option<DateTime<Utc>>,
    pub authority_reference: Option<String>,
    pub persons_notified_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closing_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Who was notified of a breach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notified {
    /// The supervisory authority (Art. 33), optionally with its reference number.
    Authority,
    /// The persons concerned (Art. 34).
    Persons,
}

/// How many persons and records of one kind of data a breach window concerns.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Affected {
    pub category: &'static str,
    pub persons: i64,
    pub records: i64,
}

const BREACH_SELECT: &str = "select b.id, t.slug as tenant, b.known_at, b.occurred_from,
        b.occurred_to, b.description, b.data_categories, b.persons_approx, b.records_approx,
        b.risk, b.consequences, b.measures, b.authority_notified_at, b.authority_reference,
        b.persons_notified_at, b.closed_at, b.closing_note, b.created_at
     from breaches b join tenants t on t.id = b.tenant_id";

#[async_trait]
pub trait BreachStore: Send + Sync {
    async fn add_breach(&self, breach: &NewBreach, ctx: &AuditContext) -> Result<i64>;

    /// Oldest first; at one tenant or all.
    async fn breaches(&self, tenant: Option<&str>) -> Result<Vec<Breach>>;

    async fn breach(&self, id: i64) -> Result<Option<Breach>>;

    /// Records a notification once: `Conflict` when that party was already notified or the
    /// breach is closed, `NotFound` when there is no such breach.
    async fn mark_breach_notified(
        &self,
        id: i64,
        whom: Notified,
        at: DateTime<Utc>,
        reference: Option<&str>,
        ctx: &AuditContext,
    ) -> Result<()>;

    /// Closes an open breach once, with a note (`Conflict` when closed already).
    async fn close_breach(&self, id: i64, note: &str, ctx: &AuditContext) -> Result<()>;

    /// Persons and records per kind of data at `tenant` that were stored during
    /// `[from, to]`: created by `to` and not yet anonymized at `from` (rows deleted since
    /// are gone and cannot be counted). Persons are distinct pseudonyms; in the access
    /// log, distinct IP addresses.
    async fn count_affected(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Affected>>;
}

#[async_trait]
impl<D: Dialect> BreachStore for SqlStore<D>
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
    async fn add_breach(&self, b: &NewBreach, ctx: &AuditContext) -> Result<i64> {
        let mut tx = self.begin_admin().await?;
        let tenant_id = self.known_tenant_id(&mut tx, &b.tenant).await?;
        let id: i64 = sqlx::query_scalar(
            "insert into breaches (tenant_id, known_at, occurred_from, occurred_to, description,
                 data_categories, persons_approx, records_approx, risk, consequences, measures,
                 created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id",
        )
        .bind(tenant_id)
        .bind(b.known_at)
        .bind(b.occurred_from)
        .bind(b.occurred_to)
        .bind(b.description.clone())
        .bind(b.data_categories.join(","))
        .bind(b.persons_approx)
        .bind(b.records_approx)
        .bind(b.risk.clone())
        .bind(b.consequences.clone())
        .bind(b.measures.clone())
        .bind(ctx.at)
        .fetch_one(&mut *tx)
        .await?;
        let event = AuditEvent::new(
            "breach.add",
            json!({
                "breach_id": id,
                "risk": b.risk,
                "persons_approx": b.persons_approx,
                "records_approx": b.records_approx,
            }),
        )
        .tenant(&b.tenant);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn breaches(&self, tenant: Option<&str>) -> Result<Vec<Breach>> {
        let sql = format!("{BREACH_SELECT} where ($1 is null or t.slug = $1) order by b.id");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map(str::to_owned))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn breach(&self, id: i64) -> Result<Option<Breach>> {
        let sql = format!("{BREACH_SELECT} where b.id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn mark_breach_notified(
        &self,
        id: i64,
        whom: Notified,
        at: DateTime<Utc>,
        reference: Option<&str>,
        ctx: &AuditContext,
    ) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let done = match whom {
            Notified::Authority => {
                sqlx::query(
                    "update breaches set authority_notified_at = $2, authority_reference = $3
                     where id = $1 and authority_notified_at is null and closed_at is null",
                )
                .bind(id)
                .bind(at)
                .bind(reference.map(str::to_owned))
                .execute(&mut *tx)
                .await?
            }
            Notified::Persons => {
                sqlx::query(
                    "update breaches set persons_notified_at = $2
                     where id = $1 and persons_notified_at is null and closed_at is null",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() == 0 {
            return Err(self.breach_refusal(&mut tx, id, "notified").await);
        }
        let who = match whom {
            Notified::Authority => "authority",
            Notified::Persons => "persons",
        };
        let tenant = self.breach_tenant(&mut tx, id).await?;
        let event = AuditEvent::new("breach.notified", json!({ "breach_id": id, "whom": who }))
            .tenant(&tenant);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_breach(&self, id: i64, note: &str, ctx: &AuditContext) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        let done = sqlx::query(
            "update breaches set closed_at = $2, closing_note = $3
             where id = $1 and closed_at is null",
        )
        .bind(id)
        .bind(ctx.at)
        .bind(note.to_owned())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.breach_refusal(&mut tx, id, "closed").await);
        }
        let tenant = self.breach_tenant(&mut tx, id).await?;
        let event = AuditEvent::new("breach.close", json!({ "breach_id": id })).tenant(&tenant);
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn count_affected(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Affected>> {
        const COUNTS: &[(&str, &str)] = &[
            (
                "bookings",
                "select count(distinct b.subject_ref), count(*) from bookings b
                 join tenants t on t.id = b.tenant_id
                 where t.slug = $1 and b.booked_at <= $3
                   and (b.anonymized_at is null or b.anonymized_at >= $2)",
            ),
            (
                "consents",
                "select count(distinct c.subject_ref), count(*) from consents c
                 join tenants t on t.id = c.tenant_id
                 where t.slug = $1 and c.given_at <= $3 and c.subject_ref is not null",
            ),
            (
                "notifications",
                "select count(distinct coalesce(b.subject_ref, n.recipient)), count(*)
                 from notifications n join tenants t on t.id = n.tenant_id
                 left join bookings b on b.id = n.booking_id
                 where t.slug = $1 and n.created_at <= $3 and n.recipient is not null",
            ),
            (
                "access_log",
                "select count(distinct a.ip), count(*) from access_log a
                 join tenants t on t.id = a.tenant_id
                 where t.slug = $1 and a.logged_at between $2 and $3
                   and a.anonymized_at is null",
            ),
        ];
        let mut tx = self.begin_admin().await?;
        self.known_tenant_id(&mut tx, tenant).await?;
        let mut out = Vec::new();
        for (category, sql) in COUNTS {
            let (persons, records): (i64, i64) = sqlx::query_as(*sql)
                .bind(tenant.to_owned())
                .bind(from)
                .bind(to)
                .fetch_one(&mut *tx)
                .await?;
            out.push(Affected {
                category,
                persons,
                records,
            });
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    i64: Value<D::DB>,
    String: Value<D::DB>,
    Option<DateTime<Utc>>: Value<D::DB>,
{
    async fn breach_tenant(
        &self,
        tx: &mut sqlx::Transaction<'static, D::DB>,
        id: i64,
    ) -> Result<String> {
        Ok(sqlx::query_scalar(
            "select t.slug from breaches b join tenants t on t.id = b.tenant_id where b.id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// Why a conditional update of breach `id` changed nothing.
    async fn breach_refusal(
        &self,
        tx: &mut sqlx::Transaction<'static, D::DB>,
        id: i64,
        what: &str,
    ) -> StoreError {
        let closed: std::result::Result<Option<Option<DateTime<Utc>>>, _> =
            sqlx::query_scalar("select closed_at from breaches where id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await;
        match closed {
            Err(e) => e.into(),
            Ok(None) => StoreError::NotFound(format!("no breach with id {id}")),
            Ok(Some(Some(_))) => StoreError::Conflict(format!("breach {id} is closed")),
            Ok(Some(None)) => StoreError::Conflict(format!("breach {id} was {what} already")),
        }
    }
}
