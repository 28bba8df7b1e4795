//! The office mailbox's messages: recording each with its outcome and effect, the
//! human's decisions, and the replies' outbox.

use super::audit::AuditChain;
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

/// Where the IMAP import stands in one mailbox: the messages up to `last_uid` of this
/// `uid_validity` were processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImapPosition {
    pub uid_validity: u32,
    pub last_uid: u32,
}

#[async_trait]
pub trait IntakeStore: Send + Sync {
    /// Whether a message with this key was recorded already.
    async fn inbox_contains(&self, message_key: &str) -> Result<bool>;

    /// The outcome a message with this key was recorded with, if it was.
    async fn inbox_outcome(&self, message_key: &str) -> Result<Option<InboxOutcome>>;

    /// The outcomes of those of these keys that were recorded, in no particular order.
    async fn inbox_outcomes(&self, message_keys: &[String]) -> Result<Vec<(String, InboxOutcome)>>;

    /// Where the IMAP import stands in a mailbox of an account (`user@host:port`).
    async fn imap_position(&self, account: &str, mailbox: &str) -> Result<Option<ImapPosition>>;

    /// Moves the IMAP import's position in a mailbox forward to `last_uid`; never back
    /// within one UIDVALIDITY. A position of another UIDVALIDITY is replaced, with an audit
    /// entry (the server renumbered the mailbox; the import started again from its first
    /// message). Returns whether anything changed.
    async fn advance_imap_position(
        &self,
        account: &str,
        mailbox: &str,
        position: ImapPosition,
        at: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<bool>;

    /// Records one mailbox message and applies its effect, all in one transaction: a crash
    /// loses nothing and repeats nothing. `reply` renders the answer from the result inside
    /// that transaction; it is stored pending (`IntakeResult::reply`) until `reply_written`.
    /// A known key records and changes nothing.
    async fn record_message(
        &self,
        entry: &InboxEntry,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
    ) -> Result<IntakeResult>;

    /// Records a batch of mailbox messages, each with its effect and its reply as
    /// `record_message` does, all in one transaction: either every message of the batch is
    /// committed or none is (an error rolls the whole batch back). A message whose key is
    /// known already records and changes nothing (`recorded` false); the others see what
    /// the batch's earlier messages did. One result per message, in order.
    ///
    /// What the batch's erasures replaced stays in SQLite's WAL until the caller calls
    /// `purge_replaced` (once for many batches, and at the end of its run).
    async fn record_messages(
        &self,
        items: &[IntakeItem<'_>],
        ctx: &AuditContext,
    ) -> Result<Vec<IntakeResult>>;

    /// Recorded messages with these outcomes, oldest first.
    async fn inbox_items(&self, outcomes: &[InboxOutcome]) -> Result<Vec<InboxItem>>;

    /// Gives a recorded message another outcome (a human's decision) and applies its effect,
    /// with its reply stored pending as `record_message` does.
    async fn resolve_message(
        &self,
        message_key: &str,
        outcome: InboxOutcome,
        subject_ref: Option<&SubjectRef>,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
    ) -> Result<IntakeResult>;

    /// Replies whose file is not written yet (a run stopped after the commit), oldest first.
    async fn pending_replies(&self) -> Result<Vec<PendingReply>>;

    /// Marks a reply written and clears its text and subject reference. The reply is
    /// recorded as disclosed to `disclosed` (the mail server it goes through) while the
    /// person still has a booking at the tenant (not after a withdrawal that erased them).
    async fn reply_written(
        &self,
        id: i64,
        at: DateTime<Utc>,
        disclosed: &[crate::store::DisclosedTo],
    ) -> Result<()>;

    /// [`reply_written`](Self::reply_written) for several replies at once, in one
    /// transaction; their texts stay in SQLite's WAL until the caller calls
    /// `purge_replaced` (once for many batches, and at the end of its run).
    async fn replies_written(
        &self,
        written: &[(i64, &[crate::store::DisclosedTo])],
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// The person's bookings at the tenant that are still booked, with what a reply names
    /// of each: (reference, service name, start), by start. One statement, for the intake
    /// (which needs no more of `subject_data`).
    async fn booked(
        &self,
        subject_ref: &SubjectRef,
        tenant: &str,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>>;

    /// Makes the bytes that erasures replaced and the texts of written replies leave the
    /// database files: on SQLite checkpoints the WAL into the database (whose freed space
    /// `secure_delete` overwrote) and truncates it; nothing to do on PostgreSQL.
    async fn purge_replaced(&self) -> Result<()>;
}

/// What a batch's transaction collects to write once, before its commit: the audit
/// entries (the chain's head held in memory) and the erasure ledger's lines.
pub(super) struct BatchWrites {
    pub(super) chain: AuditChain,
    pub(super) ledger: Vec<super::ledger::LedgerEntry>,
}

/// One message of a batch ([`IntakeStore::record_messages`]).
pub struct IntakeItem<'a> {
    pub entry: &'a InboxEntry,
    pub effect: &'a IntakeEffect,
    pub reply: &'a RenderReply<'a>,
}

#[async_trait]
impl<D: Dialect> IntakeStore for SqlStore<D>
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
    Option<IdentityCheck>: Value<D::DB>,
{
    async fn inbox_contains(&self, message_key: &str) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("select count(*) from inbox_messages where message_key = $1")
                .bind(message_key)
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }

    async fn inbox_outcome(&self, message_key: &str) -> Result<Option<InboxOutcome>> {
        let outcome: Option<String> =
            sqlx::query_scalar("select outcome from inbox_messages where message_key = $1")
                .bind(message_key)
                .fetch_optional(&self.pool)
                .await?;
        outcome
            .map(|o| {
                o.parse()
                    .map_err(|_| StoreError::Invalid(format!("unknown inbox outcome {o:?}")))
            })
            .transpose()
    }

    async fn inbox_outcomes(&self, message_keys: &[String]) -> Result<Vec<(String, InboxOutcome)>> {
        let mut found = Vec::new();
        for chunk in message_keys.chunks(super::sql::MAX_BINDS) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "select message_key, outcome from inbox_messages where message_key in (",
            );
            let mut keys = q.separated(", ");
            for key in chunk {
                keys.push_bind(key.as_str());
            }
            q.push(")");
            let rows: Vec<(String, String)> = q
                .build_query_as()
                .persistent(super::sql::keep_prepared(
                    chunk.len(),
                    super::sql::MAX_BINDS,
                ))
                .fetch_all(&self.pool)
                .await?;
            for (key, outcome) in rows {
                let outcome = outcome.parse().map_err(|_| {
                    StoreError::Invalid(format!("unknown inbox outcome {outcome:?}"))
                })?;
                found.push((key, outcome));
            }
        }
        Ok(found)
    }

    async fn imap_position(&self, account: &str, mailbox: &str) -> Result<Option<ImapPosition>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "select uid_validity, last_uid from imap_mailboxes where account = $1 and mailbox = $2",
        )
        .bind(account)
        .bind(mailbox)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(v, l)| ImapPosition {
            uid_validity: u32::try_from(v).unwrap_or_default(),
            last_uid: u32::try_from(l).unwrap_or_default(),
        }))
    }

    async fn advance_imap_position(
        &self,
        account: &str,
        mailbox: &str,
        position: ImapPosition,
        at: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let before: Option<(i64,)> = sqlx::query_as(
            "select uid_validity from imap_mailboxes where account = $1 and mailbox = $2",
        )
        .bind(account)
        .bind(mailbox)
        .fetch_optional(&mut *tx)
        .await?;
        // Conditional: forward within one UIDVALIDITY, or a new UIDVALIDITY.
        let changed = sqlx::query(
            "insert into imap_mailboxes (account, mailbox, uid_validity, last_uid, updated_at)
             values ($1, $2, $3, $4, $5)
             on conflict (account, mailbox) do update
                 set uid_validity = excluded.uid_validity, last_uid = excluded.last_uid,
                     updated_at = excluded.updated_at
                 where imap_mailboxes.uid_validity <> excluded.uid_validity
                    or imap_mailboxes.last_uid < excluded.last_uid",
        )
        .bind(account)
        .bind(mailbox)
        .bind(i64::from(position.uid_validity))
        .bind(i64::from(position.last_uid))
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let renumbered = before.is_some_and(|(v,)| v != i64::from(position.uid_validity));
        if renumbered {
            let event = AuditEvent::new(
                "inbox.imap_uidvalidity_changed",
                serde_json::json!({
                    "mailbox": mailbox,
                    "old_uid_validity": before.map(|(v,)| v),
                    "uid_validity": position.uid_validity,
                }),
            );
            Self::append_audit(&mut tx, ctx, &event).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn record_message(
        &self,
        e: &InboxEntry,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
    ) -> Result<IntakeResult> {
        let item = IntakeItem {
            entry: e,
            effect,
            reply,
        };
        let mut results = self
            .record_batch(std::slice::from_ref(&item), ctx, true)
            .await?;
        Ok(results.pop().unwrap_or_default())
    }

    async fn record_messages(
        &self,
        items: &[IntakeItem<'_>],
        ctx: &AuditContext,
    ) -> Result<Vec<IntakeResult>> {
        self.record_batch(items, ctx, false).await
    }

    async fn inbox_items(&self, outcomes: &[InboxOutcome]) -> Result<Vec<InboxItem>> {
        let mut items = Vec::new();
        for outcome in outcomes {
            let mut rows: Vec<InboxItem> = sqlx::query_as(
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

    async fn resolve_message(
        &self,
        message_key: &str,
        outcome: InboxOutcome,
        subject_ref: Option<&SubjectRef>,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
    ) -> Result<IntakeResult> {
        if matches!(effect, IntakeEffect::Withdraw { erase: Some(_), .. }) {
            self.required_ledger()?;
        }
        let mut tx = self.begin_admin().await?;
        let row: Option<(
            i64,
            Option<i64>,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
            Option<String>,
        )> = sqlx::query_as(
            "select id, tenant_id, received_at, processed_at, address from inbox_messages
                 where message_key = $1 and outcome in ('review', 'unmatched', 'unreadable')",
        )
        .bind(message_key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, tenant_id, received_at, processed_at, address)) = row else {
            return Err(StoreError::NotFound(format!(
                "no message {message_key} waiting for a decision (review, unmatched or unreadable)"
            )));
        };
        let tenant: Option<String> = match tenant_id {
            Some(t) => {
                sqlx::query_scalar("select slug from tenants where id = $1")
                    .bind(t)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        };
        // The decision replaces the copy kept for the human.
        sqlx::query("update inbox_messages set outcome = $2, subject_ref = $3, sender = null, subject = null where id = $1")
            .bind(id)
            .bind(outcome)
            .bind(subject_ref.cloned())
            .execute(&mut *tx)
            .await?;
        let entry = InboxEntry {
            message_key: message_key.to_owned(),
            tenant,
            received_at,
            processed_at,
            outcome,
            subject_ref: subject_ref.cloned(),
            sender: None,
            subject: None,
            reason: Some("decided by a person (withdrawals resolve)".into()),
            address,
            channel: Channel::Email,
            identity: None,
            confirms: None,
        };
        sqlx::query("update inbox_messages set reason = $2 where id = $1")
            .bind(id)
            .bind(&entry.reason)
            .execute(&mut *tx)
            .await?;
        let result = self
            .apply_intake(
                &mut tx,
                Some(id),
                tenant_id,
                &entry,
                effect,
                reply,
                ctx,
                None,
            )
            .await?;
        tx.commit().await?;
        if result.erasure.is_some() {
            self.after_erasure().await?;
        }
        Ok(result)
    }

    async fn pending_replies(&self) -> Result<Vec<PendingReply>> {
        Ok(sqlx::query_as(
            "select r.id, t.slug as tenant, r.file_name, r.eml from replies r
             join tenants t on t.id = r.tenant_id where r.written_at is null order by r.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn reply_written(
        &self,
        id: i64,
        at: DateTime<Utc>,
        disclosed: &[crate::store::DisclosedTo],
    ) -> Result<()> {
        self.replies_written(&[(id, disclosed)], at).await?;
        // The text held the recipient's address: it must not stay in the WAL either.
        self.after_erasure().await?;
        Ok(())
    }

    async fn booked(
        &self,
        subject_ref: &SubjectRef,
        tenant: &str,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        Ok(sqlx::query_as(
            "select b.reference, s.name, b.appointment_start
             from bookings b join services s on s.id = b.service_id
             join tenants t on t.id = b.tenant_id
             where t.slug = $1 and b.subject_ref = $2 and b.status = 'booked'
             order by b.appointment_start, b.id",
        )
        .bind(tenant)
        .bind(Some(subject_ref.clone()))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn purge_replaced(&self) -> Result<()> {
        self.after_erasure().await?;
        Ok(())
    }

    async fn replies_written(
        &self,
        written: &[(i64, &[crate::store::DisclosedTo])],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if written.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // Whole batches per statement: which replies are about a person who still has a
        // booking at the tenant (recorded as disclosed), then the marks (conditional: a
        // reply is marked once), then the disclosures of those marked now.
        let chunk_rows = super::sql::MAX_BINDS - 1;
        let mut about: std::collections::HashMap<i64, (i64, String)> =
            std::collections::HashMap::new();
        let mut marked: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for chunk in written.chunks(chunk_rows) {
            let persistent = super::sql::keep_prepared(chunk.len(), chunk_rows);
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "select r.id, r.tenant_id, r.subject_ref from replies r
                 where r.written_at is null and r.subject_ref is not null
                   and exists (select 1 from bookings b where b.tenant_id = r.tenant_id
                               and b.subject_ref = r.subject_ref)
                   and r.id in (",
            );
            let mut ids = q.separated(", ");
            for &(id, _) in chunk {
                ids.push_bind(id);
            }
            q.push(")");
            let rows: Vec<(i64, i64, String)> = q
                .build_query_as()
                .persistent(persistent)
                .fetch_all(&mut *tx)
                .await?;
            about.extend(rows.into_iter().map(|(id, t, s)| (id, (t, s))));
            let mut q = sqlx::QueryBuilder::<D::DB>::new("update replies set written_at = ");
            q.push_bind(at);
            q.push(", eml = null, subject_ref = null where written_at is null and id in (");
            let mut ids = q.separated(", ");
            for &(id, _) in chunk {
                ids.push_bind(id);
            }
            q.push(") returning id");
            let ids: Vec<(i64,)> = q
                .build_query_as()
                .persistent(persistent)
                .fetch_all(&mut *tx)
                .await?;
            marked.extend(ids.into_iter().map(|(id,)| id));
        }
        let mut disclosures = Vec::new();
        for &(id, disclosed) in written {
            if let (Some((tenant_id, subject_ref)), true) = (about.get(&id), marked.contains(&id)) {
                for d in disclosed {
                    disclosures.push((*tenant_id, subject_ref.as_str(), d));
                }
            }
        }
        let chunk_rows = super::sql::MAX_BINDS / 6;
        for chunk in disclosures.chunks(chunk_rows) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into disclosures (tenant_id, subject_ref, recipient, recipient_role,
                     categories, kind, notification_id, disclosed_at) ",
            );
            q.push_values(chunk, |mut r, (tenant_id, subject_ref, d)| {
                r.push_bind(*tenant_id)
                    .push_bind(*subject_ref)
                    .push_bind(d.recipient.as_str())
                    .push_bind(d.role)
                    .push_bind(d.categories.join(","))
                    .push_unseparated(", 'reply', null, ")
                    .push_bind_unseparated(at);
            });
            q.build()
                .persistent(super::sql::keep_prepared(chunk.len(), chunk_rows))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
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
    /// See `IntakeStore::record_messages`; `purge`: an erasure's replaced bytes are purged
    /// here (`purge_replaced`), not by the caller.
    async fn record_batch(
        &self,
        items: &[IntakeItem<'_>],
        ctx: &AuditContext,
        purge: bool,
    ) -> Result<Vec<IntakeResult>> {
        if items
            .iter()
            .any(|i| matches!(i.effect, IntakeEffect::Withdraw { erase: Some(_), .. }))
        {
            self.required_ledger()?;
        }
        let mut tx = self.begin_admin().await?;
        let mut batch = BatchWrites {
            chain: Self::audit_chain(&mut tx).await?,
            ledger: Vec::new(),
        };
        // Each slug is looked up once for the process (`known_tenant_id`).
        let mut tenant_of = Vec::with_capacity(items.len());
        for item in items {
            tenant_of.push(match &item.entry.tenant {
                Some(t) => Some(self.known_tenant_id(&mut tx, t).await?),
                None => None,
            });
        }
        // A message without an effect (most of a mailbox: questions, mail to other
        // addresses) is only its row and its audit entry: the rows of a run of such
        // messages are inserted by one statement, in order, and each then goes on as
        // `record_in` would with its row.
        let plain = |item: &IntakeItem<'_>| {
            matches!(item.effect, IntakeEffect::Nothing) && item.entry.confirms.is_none()
        };
        let mut results = Vec::with_capacity(items.len());
        let mut at = 0;
        while at < items.len() {
            let run = items[at..].iter().take_while(|i| plain(i)).count();
            if run > 1 {
                let rows: Vec<(Option<i64>, &InboxEntry)> = items[at..at + run]
                    .iter()
                    .zip(&tenant_of[at..at + run])
                    .map(|(item, tenant_id)| (*tenant_id, item.entry))
                    .collect();
                let ids = Self::insert_messages(&mut tx, &rows).await?;
                for (item, tenant_id) in items[at..at + run].iter().zip(&tenant_of[at..]) {
                    let Some(&id) = ids.get(item.entry.message_key.as_str()) else {
                        // Known already (another run recorded it in between).
                        results.push(IntakeResult::default());
                        continue;
                    };
                    let result = self
                        .apply_intake(
                            &mut tx,
                            Some(id),
                            *tenant_id,
                            item.entry,
                            item.effect,
                            item.reply,
                            ctx,
                            Some(&mut batch),
                        )
                        .await?;
                    results.push(result);
                }
                at += run;
                continue;
            }
            let item = &items[at];
            let result = self
                .record_in(
                    &mut tx,
                    tenant_of[at],
                    item.entry,
                    item.effect,
                    item.reply,
                    ctx,
                    &mut batch,
                )
                .await?;
            results.push(result);
            at += 1;
        }
        if results.iter().any(|r| r.recorded) {
            Self::flush_audit_chain(&mut tx, &mut batch.chain).await?;
            // The batch's erasures in the ledger, in one write synced before the commit: a
            // crash in between leaves entries whose replay erases what the crash kept. A
            // batch the database refused before this point wrote none.
            if let Some(ledger) = self.ledger.as_ref() {
                ledger.append(&batch.ledger)?;
            }
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        if purge && results.iter().any(|r| r.erasure.is_some()) {
            self.after_erasure().await?;
        }
        Ok(results)
    }

    /// The rows of many messages, in order, by as few statements as the binds allow; a
    /// known key gets no row. The ids of the new rows by key.
    async fn insert_messages(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        rows: &[(Option<i64>, &InboxEntry)],
    ) -> Result<std::collections::HashMap<String, i64>> {
        let chunk_rows = super::sql::MAX_BINDS / 10;
        let mut ids = std::collections::HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(chunk_rows) {
            let mut q = sqlx::QueryBuilder::<D::DB>::new(
                "insert into inbox_messages (message_key, tenant_id, received_at, processed_at,
                     outcome, subject_ref, sender, subject, reason, address) ",
            );
            q.push_values(chunk, |mut r, (tenant_id, e)| {
                r.push_bind(e.message_key.as_str())
                    .push_bind(*tenant_id)
                    .push_bind(e.received_at)
                    .push_bind(e.processed_at)
                    .push_bind(e.outcome)
                    .push_bind(e.subject_ref.clone())
                    .push_bind(e.sender.clone())
                    .push_bind(e.subject.clone())
                    .push_bind(e.reason.clone())
                    .push_bind(e.address.clone());
            });
            q.push(" on conflict (message_key) do nothing returning id, message_key");
            let inserted: Vec<(i64, String)> = q
                .build_query_as()
                .persistent(super::sql::keep_prepared(chunk.len(), chunk_rows))
                .fetch_all(&mut **tx)
                .await?;
            ids.extend(inserted.into_iter().map(|(id, key)| (key, id)));
        }
        Ok(ids)
    }

    /// One message inside a batch's transaction: its row (nothing more when its key is
    /// known: `recorded` false), the confirmation it takes, its effect and its reply.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_in(
        &self,
        tx: &mut sqlx::Transaction<'static, D::DB>,
        tenant_id: Option<i64>,
        e: &InboxEntry,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
        batch: &mut BatchWrites,
    ) -> Result<IntakeResult> {
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
        .bind(e.outcome)
        .bind(&e.subject_ref)
        .bind(&e.sender)
        .bind(&e.subject)
        .bind(&e.reason)
        .bind(&e.address)
        .fetch_optional(&mut **tx)
        .await?;
        // Known already (another run recorded it in between): nothing is written.
        let Some(id) = id else {
            return Ok(IntakeResult::default());
        };
        if let Some(confirmation) = e.confirms {
            let by = e.identity.unwrap_or(IdentityCheck::ConfirmedByMail);
            if !Self::take_confirmation(tx, confirmation, by, e.processed_at).await? {
                return Err(StoreError::Conflict(
                    "the confirmation code was used already or has expired".into(),
                ));
            }
        }
        let result = self
            .apply_intake(tx, Some(id), tenant_id, e, effect, reply, ctx, Some(batch))
            .await?;
        if let Some(confirmation) = e.confirms {
            Self::link_confirmation(tx, confirmation, result.request_id).await?;
        }
        Ok(result)
    }

    /// Takes a pending confirmation (pending → confirmed, `by` how), conditionally: false
    /// when it is not pending any more or has expired, and then nothing changed.
    pub(super) async fn take_confirmation(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        id: i64,
        by: IdentityCheck,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let taken: Option<i64> = sqlx::query_scalar(
            "update identity_confirmations
             set status = 'confirmed', decided_at = $2, confirmed_by = $3, subject_ref = null
             where id = $1 and status = 'pending' and expires_at > $2 returning id",
        )
        .bind(id)
        .bind(now)
        .bind(Some(by))
        .fetch_optional(&mut **tx)
        .await?;
        Ok(taken.is_some())
    }

    /// Notes the request a confirmation's effect opened.
    pub(super) async fn link_confirmation(
        tx: &mut sqlx::Transaction<'static, D::DB>,
        id: i64,
        request_id: Option<i64>,
    ) -> Result<()> {
        sqlx::query("update identity_confirmations set request_id = $2 where id = $1")
            .bind(id)
            .bind(request_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The effect of one mailbox message (or of a confirmed request, without a message of
    /// its own: `message_id` none), inside its transaction.
    // The message, its effect, its reply, and where an erasure it makes is recorded: each a
    // separate input of the one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_intake(
        &self,
        tx: &mut sqlx::Transaction<'static, D::DB>,
        message_id: Option<i64>,
        tenant_id: Option<i64>,
        e: &InboxEntry,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
        mut batch: Option<&mut BatchWrites>,
    ) -> Result<IntakeResult> {
        let mut result = IntakeResult {
            recorded: true,
            ..Default::default()
        };
        let received = e.received_at.unwrap_or(e.processed_at);
        let open_request = |kind: RequestKind, due_on: NaiveDate, closed: Option<Outcome>| {
            sqlx::query_scalar::<_, i64>(
                "insert into requests (tenant_id, kind, subject_ref, channel, received_at, due_on, status,
                     outcome, closed_at, created_at, identity)
                 values ($1, $2, $3, $10, $4, $5, $6, $7, $8, $9, $11) returning id",
            )
            .bind(tenant_id)
            .bind(kind)
            .bind(e.subject_ref.clone())
            .bind(received)
            .bind(due_on)
            .bind(if closed.is_some() {
                RequestStatus::Closed
            } else {
                RequestStatus::Open
            })
            .bind(closed)
            .bind(closed.map(|_| e.processed_at))
            .bind(ctx.at)
            .bind(e.channel)
            .bind(e.identity)
        };
        match effect {
            IntakeEffect::Nothing => {}
            IntakeEffect::RequestConfirmation {
                asked,
                code_hash,
                expires_at,
            } => {
                sqlx::query(
                    "insert into identity_confirmations (tenant_id, subject_ref, code_hash, asked, channel,
                         inbox_message_id, received_at, created_at, expires_at, status)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')",
                )
                .bind(tenant_id)
                .bind(&e.subject_ref)
                .bind(code_hash.as_str())
                .bind(*asked)
                .bind(e.channel)
                .bind(message_id)
                .bind(received)
                .bind(e.processed_at)
                .bind(*expires_at)
                .execute(&mut **tx)
                .await?;
            }
            IntakeEffect::OpenRequest { kind, due_on } => {
                result.request_id = Some(
                    open_request(*kind, *due_on, None)
                        .fetch_one(&mut **tx)
                        .await?,
                );
            }
            IntakeEffect::Withdraw {
                purposes,
                erase,
                due_on,
            } => {
                let outcome = if erase.is_some() {
                    Outcome::Erased
                } else {
                    Outcome::Answered
                };
                let request_id = open_request(RequestKind::Withdrawal, *due_on, Some(outcome))
                    .fetch_one(&mut **tx)
                    .await?;
                result.request_id = Some(request_id);
                for purpose in purposes {
                    result.consents_withdrawn += sqlx::query(
                        "update consents set withdrawn_at = $4, withdrawal_source = $6, withdrawal_request_id = $5
                         where tenant_id = $1 and subject_ref = $2 and purpose = $3 and withdrawn_at is null",
                    )
                    .bind(tenant_id)
                    .bind(&e.subject_ref)
                    .bind(purpose)
                    .bind(e.processed_at)
                    .bind(request_id)
                    .bind(e.channel)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected() as usize;
                }
                if purposes
                    .iter()
                    .any(|p| p == crate::domain::booking::SMS_PURPOSE)
                {
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
                    let scope = ErasureScope {
                        request_id: Some(request_id),
                        ..scope.clone()
                    };
                    let opts = ErasureOptions {
                        now: e.processed_at,
                        dry_run: false,
                        record_in_ledger: true,
                        action: "subject.erase",
                        only_before: None,
                        // The intake closes the request with the message it answers.
                        close_requests: false,
                        identity: None,
                    };
                    let report = self
                        .erase_in(
                            tx,
                            subject,
                            std::slice::from_ref(&scope),
                            &opts,
                            ctx,
                            batch.as_deref_mut(),
                        )
                        .await?;
                    let partly = Outcome::of_erasure(report.kept.is_empty());
                    if partly != outcome {
                        sqlx::query("update requests set outcome = $2 where id = $1")
                            .bind(request_id)
                            .bind(partly)
                            .execute(&mut **tx)
                            .await?;
                    }
                    result.erasure = Some(report);
                }
            }
        }
        if let (Some(request_id), Some(message_id)) = (result.request_id, message_id) {
            sqlx::query("update inbox_messages set request_id = $2 where id = $1")
                .bind(message_id)
                .bind(request_id)
                .execute(&mut **tx)
                .await?;
        }
        // The reply is stored with the message (after its erasure, which must not
        // take the answer to the withdrawal with it); its file is written after commit.
        if let (Some(new), Some(message_id)) = (reply(&result), message_id) {
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
            // Every caller looked the tenant's id up by this slug.
            let tenant: String = match &e.tenant {
                Some(slug) => slug.clone(),
                None => {
                    sqlx::query_scalar("select slug from tenants where id = $1")
                        .bind(tenant_id)
                        .fetch_one(&mut **tx)
                        .await?
                }
            };
            result.reply = Some(PendingReply {
                id,
                tenant,
                file_name: new.file_name,
                eml: new.eml,
            });
        }
        let mut event = AuditEvent::new(
            if message_id.is_some() {
                "inbox.message"
            } else {
                "identity.confirmed"
            },
            serde_json::json!({
                "message": message_id,
                "outcome": e.outcome,
                "identity": e.identity,
                "request": result.request_id,
                "consents_withdrawn": result.consents_withdrawn,
                "reminders_cancelled": result.reminders_cancelled,
                "reply": result.reply.as_ref().map(|r| r.id),
            }),
        );
        event.tenant = e.tenant.clone();
        event.subject_ref = e.subject_ref.as_ref().map(ToString::to_string);
        match batch {
            Some(batch) => batch.chain.append(ctx, &event),
            None => Self::append_audit(tx, ctx, &event).await?,
        }
        Ok(result)
    }
}
