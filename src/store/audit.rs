//! The audit trail: entries appended to the hash chain inside the transaction of the change
//! they record (one at a time, or many chained in memory and written together), and read
//! back filtered.

use super::sql::{Dialect, SqlStore, Value};
use super::*;
use crate::domain::audit::AuditEvent;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Database, Executor};

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    tenant: Option<String>,
    subject_ref: Option<String>,
    subject_salt: Option<String>,
    subject_commit: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

/// The audit chain's head held in memory by a transaction that appends many entries (a
/// batch of messages): entries are appended here and written together by
/// `flush_audit_chain`, which must run before anything else in the transaction appends
/// through `append_audit` (it reads the head row) and before the commit.
pub(super) struct AuditChain {
    head: Option<(i64, String)>,
    pending: Vec<AuditEntry>,
}

impl AuditChain {
    pub(super) fn append(&mut self, ctx: &AuditContext, event: &AuditEvent) {
        let e = AuditEntry::chain_salted(
            self.head.clone(),
            ctx.at,
            &ctx.actor,
            event,
            subject_salt(event),
        );
        self.head = Some((e.id, e.hash.clone()));
        self.pending.push(e);
    }
}

/// A fresh salt per entry about a person: the commitment links to the person only while
/// the salt is kept.
fn subject_salt(event: &AuditEvent) -> Option<String> {
    event.subject_ref.as_ref().map(|_| {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the system's random source");
        hex::encode(bytes)
    })
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
            subject_salt: r.subject_salt,
            subject_commit: r.subject_commit,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub(super) const AUDIT_COLUMNS: &str = "id, at, actor, action, tenant, subject_ref, subject_salt, subject_commit, details, prev_hash, hash";

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Writes one audit entry on its own (for changes that are not the store's, such as
    /// files written by an export).
    async fn record_audit(&self, event: AuditEvent, ctx: &AuditContext) -> Result<()>;

    /// Newest first, filtered.
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;

    /// Oldest first, entries with id greater than `after_id`, for verification page by page.
    async fn audit_page(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>>;

    /// Id and hash of the newest entry written, as remembered beside the trail.
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;
}

#[async_trait]
impl<D: Dialect> AuditStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'r> &'r str: ColumnIndex<<D::DB as Database>::Row>,
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
    async fn record_audit(&self, event: AuditEvent, ctx: &AuditContext) -> Result<()> {
        let mut tx = self.begin_admin().await?;
        Self::append_audit(&mut tx, ctx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_entries(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<crate::domain::audit::AuditEntry>> {
        let sql = format!(
            "select {} from audit_log
             where ($1 is null or tenant = $1)
               and ($2 is null or action = $2)
               and ($3 is null or at >= $3)
             order by id desc limit $4",
            AUDIT_COLUMNS
        );
        let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
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
    ) -> Result<Vec<crate::domain::audit::AuditEntry>> {
        let sql = format!(
            "select {} from audit_log where id > $1 order by id limit $2",
            AUDIT_COLUMNS
        );
        let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
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
    /// The chain's head, for a transaction that appends many entries ([`AuditChain`]).
    pub(super) async fn audit_chain(
        tx: &mut sqlx::Transaction<'static, D::DB>,
    ) -> sqlx::Result<AuditChain> {
        let head: Option<(i64, String)> =
            sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                .fetch_optional(&mut **tx)
                .await?;
        Ok(AuditChain {
            head,
            pending: Vec::new(),
        })
    }

    /// Writes the entries a [`AuditChain`] holds, many per statement, and the head once.
    pub(super) async fn flush_audit_chain(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        chain: &mut AuditChain,
    ) -> sqlx::Result<()> {
        if chain.pending.is_empty() {
            return Ok(());
        }
        for chunk in chain.pending.chunks(super::sql::MAX_BINDS / 11) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into audit_log (id, at, actor, action, tenant, subject_ref, subject_salt,
                     subject_commit, details, prev_hash, hash) ",
            );
            q.push_values(chunk, |mut r, e| {
                r.push_bind(e.id)
                    .push_bind(e.at)
                    .push_bind(e.actor.clone())
                    .push_bind(e.action.clone())
                    .push_bind(e.tenant.clone())
                    .push_bind(e.subject_ref.clone())
                    .push_bind(e.subject_salt.clone())
                    .push_bind(e.subject_commit.clone())
                    .push_bind(e.details.clone())
                    .push_bind(e.prev_hash.clone())
                    .push_bind(e.hash.clone());
            });
            q.build().execute(&mut **tx).await?;
        }
        let (id, hash) = chain.head.clone().expect("entries were appended");
        sqlx::query(
            "insert into audit_head (id, last_id, last_hash) values (1, $1, $2)
             on conflict (id) do update set last_id = excluded.last_id, last_hash = excluded.last_hash",
        )
        .bind(id)
        .bind(hash)
        .execute(&mut **tx)
        .await?;
        chain.pending.clear();
        Ok(())
    }

    /// Appends one entry to the hash chain inside the caller's transaction.
    pub(super) async fn append_audit(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        ctx: &AuditContext,
        event: &AuditEvent,
    ) -> sqlx::Result<()> {
        let head: Option<(i64, String)> =
            sqlx::query_as("select last_id, last_hash from audit_head where id = 1")
                .fetch_optional(&mut **tx)
                .await?;
        let e = crate::domain::audit::AuditEntry::chain_salted(
            head,
            ctx.at,
            &ctx.actor,
            event,
            subject_salt(event),
        );
        sqlx::query(
            "insert into audit_log (id, at, actor, action, tenant, subject_ref, subject_salt,
                 subject_commit, details, prev_hash, hash)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(e.id)
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.tenant)
        .bind(&e.subject_ref)
        .bind(&e.subject_salt)
        .bind(&e.subject_commit)
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
}
