//! What the DPO's annual report needs beyond the register: mailbox outcomes and the
//! counts of the retention runs of a period. Counts only; no row names a person.

use super::sql::{Dialect, SqlStore, Value};
use super::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Executor};

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Mail processed in `[from, to)` per outcome, at one tenant or all (mail without a
    /// tenant counts only for all).
    async fn inbox_outcome_counts(
        &self,
        tenant: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>>;

    /// The `counts` JSON of every completed retention run started in `[from, to)`.
    async fn retention_run_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<String>>;
}

#[async_trait]
impl<D: Dialect> ReportStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    i64: Value<D::DB>,
    String: Value<D::DB>,
    DateTime<Utc>: Value<D::DB>,
    Option<String>: Value<D::DB>,
{
    async fn inbox_outcome_counts(
        &self,
        tenant: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "select m.outcome, count(*) from inbox_messages m
             left join tenants t on t.id = m.tenant_id
             where m.processed_at >= $2 and m.processed_at < $3
               and ($1 is null or t.slug = $1)
             group by m.outcome order by m.outcome",
        )
        .bind(tenant.map(str::to_owned))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn retention_run_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "select counts from retention_runs
             where status = 'completed' and started_at >= $1 and started_at < $2 order by id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }
}
