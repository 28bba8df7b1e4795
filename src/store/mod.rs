//! The store: all I/O with the database, behind one coarse, domain-shaped [`Store`] trait
//! with a SQLite and a PostgreSQL implementation chosen from the URL.
//!
//! Each write method runs in its own transaction and writes its audit entry in that same
//! transaction, so a change and its audit entry land together or not at all.

#[macro_use]
mod shared;
#[macro_use]
mod retention;
mod postgres;
mod rights;
mod sqlite;

pub use retention::{
    LEASE_SECONDS, LockHeld, RETENTION_LOCK_KEY, RecordProgress, RetentionBatch, RetentionDue,
    RetentionFinish, RetentionRun, RetentionRunRecord, RetentionStart, RetentionTarget,
};
pub use rights::*;

use crate::domain::audit::{AuditEntry, AuditEvent};
use crate::domain::booking::Person;
use crate::domain::service::NewService;
use crate::domain::slots::{NewSlot, SlotFate};
use crate::domain::subject::PseudonymKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://datenwart.db";

/// What callers branch on; everything else is `Database`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database schema is behind; run `datenwart migrate`")]
    SchemaBehind,
    #[error(
        "database schema has migration {0}, which this datenwart does not know; use a newer datenwart"
    )]
    SchemaAhead(i64),
    #[error("{0}")]
    NotFound(String),
    #[error("unsupported database URL {0}: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Who acts and when; every audit entry of one command carries the same pair.
#[derive(Clone, Debug)]
pub struct AuditContext {
    pub actor: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct MigrationReport {
    pub applied: Vec<AppliedMigration>,
    /// All migrations this datenwart knows, applied now or before.
    pub known: usize,
    pub key_created: bool,
}

/// A tenant as the policies describe it.
#[derive(Clone, Debug)]
pub struct TenantRecord {
    pub slug: String,
    pub name: String,
    pub policy_sha256: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TenantSyncReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// In the database but without a policy file: kept, never deleted by a sync.
    pub without_policy: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tenant {
    pub slug: String,
    pub name: String,
    pub policy_sha256: String,
    pub services: i64,
    pub slots: i64,
    pub bookings: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub duration_minutes: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// What to do when a new slot overlaps one the service already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOverlap {
    /// Leave that slot out and open the rest (`slots generate`).
    Skip,
    /// Open nothing at all (`slots import`: the file is wrong).
    Refuse,
}

#[derive(Clone, Debug, Default)]
pub struct SlotAddOutcome {
    /// One fate per candidate, in input order.
    pub fates: Vec<SlotFate>,
    /// False when `OnOverlap::Refuse` met an overlap and nothing was written.
    pub written: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Slot {
    pub id: i64,
    pub service: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i64,
    pub booked: i64,
}

#[derive(Clone, Debug, Default)]
pub struct SlotFilter {
    pub service: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub tenant: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// A slot as the booking path sees it: with its service and whether it can still be booked.
#[derive(Clone, Debug, Serialize)]
pub struct OpenSlot {
    pub id: i64,
    pub service_code: String,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i64,
    pub booked: i64,
}

impl OpenSlot {
    pub fn free(&self) -> i64 {
        self.capacity - self.booked
    }
}

/// A message to queue with a booking.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub channel: &'static str,
    pub kind: &'static str,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub send_after: Option<DateTime<Utc>>,
}

/// One row of the endpoint's access log, with exactly the fields the privacy notices list.
#[derive(Clone, Debug, Default)]
pub struct AccessLogEntry {
    pub tenant: Option<String>,
    pub logged_at: DateTime<Utc>,
    pub utc_offset_minutes: i64,
    pub ip: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub bytes: i64,
    pub referrer: Option<String>,
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub operating_system: Option<String>,
    pub language: Option<String>,
    pub booking_id: Option<i64>,
}

/// Everything one booking writes, in one transaction.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub slot_id: i64,
    pub reference: String,
    pub code_hash: String,
    pub subject_ref: String,
    pub person: Person,
    pub booked_at: DateTime<Utc>,
    /// (purpose, text version)
    pub consents: Vec<(String, String)>,
    pub notifications: Vec<NewNotification>,
    /// The request that made the booking, when it is not logged by the endpoint itself
    /// (bulk loads such as `demo`).
    pub access: Option<AccessLogEntry>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Booked {
    pub booking_id: i64,
    pub reference: String,
    pub slot_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Why the database refused one booking; nothing of it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingRefusal {
    /// No such slot at this tenant.
    SlotNotFound,
    /// The slot has begun or is over.
    SlotInPast,
    /// Every place in the slot is taken.
    SlotFull,
    /// Another booking has this reference (references are random, 50 bits): nothing was
    /// written; book again with a new reference.
    ReferenceTaken,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cancelled {
    pub reference: String,
    pub tenant: String,
    pub starts_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelRefusal {
    NotFound,
    WrongCode,
    AlreadyCancelled,
    InPast,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations and makes the pseudonym key if there is none.
    async fn migrate(&self, ctx: &AuditContext) -> Result<MigrationReport>;

    /// Fails with `SchemaBehind` or `SchemaAhead` unless the schema is exactly current.
    async fn check_schema(&self) -> Result<()>;

    async fn pseudonym_key(&self) -> Result<PseudonymKey>;

    async fn sync_tenants(
        &self,
        tenants: &[TenantRecord],
        ctx: &AuditContext,
    ) -> Result<TenantSyncReport>;

    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    /// Upserts a tenant's services by code, all or nothing.
    async fn import_services(
        &self,
        tenant: &str,
        services: &[NewService],
        ctx: &AuditContext,
    ) -> Result<ServiceImportReport>;

    async fn list_services(&self, tenant: &str) -> Result<Vec<Service>>;

    /// Opens slots (service code, slot) at a tenant; never duplicates a slot, never lets
    /// two slots of one service overlap.
    async fn add_slots(
        &self,
        tenant: &str,
        slots: &[(String, NewSlot)],
        on_overlap: OnOverlap,
        action: &str,
        ctx: &AuditContext,
    ) -> Result<SlotAddOutcome>;

    async fn list_slots(&self, tenant: &str, filter: &SlotFilter) -> Result<Vec<Slot>>;

    /// One slot of a tenant with its service, whatever its state.
    async fn open_slot(&self, tenant: &str, slot_id: i64) -> Result<Option<OpenSlot>>;

    /// Slots of a service with a free place that start after `after` and before `before`.
    async fn free_slots(
        &self,
        tenant: &str,
        service: &str,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OpenSlot>>;

    /// Books each entry in one transaction: the slot's capacity is taken by a conditional
    /// update, so a slot is never overbooked whatever runs at the same time. A refused
    /// entry writes nothing; the others are stored.
    async fn book(
        &self,
        tenant: &str,
        bookings: &[NewBooking],
    ) -> Result<Vec<std::result::Result<Booked, BookingRefusal>>>;

    /// Cancels a booking whose code hash matches, and frees its place.
    async fn cancel_booking(
        &self,
        reference: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Cancelled, CancelRefusal>>;

    /// Appends rows to the access log, all in one transaction.
    async fn log_access(&self, entries: &[AccessLogEntry]) -> Result<()>;

    /// The persons a query finds, per tenant (all tenants when `tenant` is None).
    async fn find_subjects(
        &self,
        query: &SubjectQuery,
        tenant: Option<&str>,
    ) -> Result<Vec<SubjectMatch>>;

    /// Every row about one person at one tenant, by category.
    async fn subject_data(&self, subject_ref: &str, tenant: &str) -> Result<TenantData>;

    /// Erases a person at each tenant of `scopes` in one transaction (rolled back for a dry
    /// run): future bookings cancelled and their places freed, bookings anonymized or
    /// deleted, their notifications and access-log rows deleted, consents reduced to the
    /// proof of withdrawal, inbox copies anonymized. Holds and restrictions are honoured.
    async fn erase_subject(
        &self,
        subject_ref: &str,
        scopes: &[ErasureScope],
        opts: &ErasureOptions,
        ctx: &AuditContext,
    ) -> Result<ErasureReport>;

    /// Rectifies a person's details at each tenant; returns bookings changed per tenant.
    async fn correct_subject(
        &self,
        subject_ref: &str,
        tenants: &[String],
        correction: &Correction,
        ctx: &AuditContext,
    ) -> Result<Vec<(String, usize)>>;

    async fn add_hold(
        &self,
        tenant: &str,
        target: &HoldTarget,
        reason: &str,
        until: Option<chrono::NaiveDate>,
        ctx: &AuditContext,
    ) -> Result<i64>;

    async fn list_holds(&self, tenant: Option<&str>, include_removed: bool) -> Result<Vec<Hold>>;

    /// False when there is no active hold with that id.
    async fn remove_hold(&self, id: i64, ctx: &AuditContext) -> Result<bool>;

    async fn add_restriction(
        &self,
        tenant: Option<&str>,
        subject_ref: &str,
        reason: &str,
        request_id: Option<i64>,
        ctx: &AuditContext,
    ) -> Result<i64>;

    /// Lifts the person's active restrictions (at one tenant, or all); returns how many.
    async fn lift_restrictions(
        &self,
        tenant: Option<&str>,
        subject_ref: &str,
        ctx: &AuditContext,
    ) -> Result<usize>;

    /// The person's active restrictions.
    async fn restrictions(&self, subject_ref: &str) -> Result<Vec<Restriction>>;

    async fn open_request(&self, request: &NewRequest, ctx: &AuditContext) -> Result<i64>;

    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<Request>>;

    async fn request(&self, id: i64) -> Result<Option<Request>>;

    async fn extend_request(
        &self,
        id: i64,
        extended_due_on: chrono::NaiveDate,
        reason: &str,
        ctx: &AuditContext,
    ) -> Result<()>;

    async fn close_request(&self, id: i64, outcome: &str, ctx: &AuditContext) -> Result<()>;

    async fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>>;

    /// Whether a message with this key was recorded already.
    async fn inbox_contains(&self, message_key: &str) -> Result<bool>;

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

    /// Recorded messages with these outcomes, oldest first.
    async fn inbox_items(&self, outcomes: &[&str]) -> Result<Vec<InboxItem>>;

    /// Gives a recorded message another outcome (a human's decision) and applies its effect,
    /// with its reply stored pending as `record_message` does.
    async fn resolve_message(
        &self,
        message_key: &str,
        outcome: &str,
        subject_ref: Option<&str>,
        effect: &IntakeEffect,
        reply: &RenderReply<'_>,
        ctx: &AuditContext,
    ) -> Result<IntakeResult>;

    /// Replies whose file is not written yet (a run stopped after the commit), oldest first.
    async fn pending_replies(&self) -> Result<Vec<PendingReply>>;

    /// Marks a reply written and clears its text and subject reference.
    async fn reply_written(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    /// Writes one audit entry on its own (for changes that are not the store's, such as
    /// files written by an export).
    async fn record_audit(&self, event: AuditEvent, ctx: &AuditContext) -> Result<()>;

    /// Newest first, filtered.
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;

    /// Oldest first, entries with id greater than `after_id`, for verification page by page.
    async fn audit_page(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>>;

    /// Id and hash of the newest entry written, as remembered beside the trail.
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;

    /// Rows of a retention rule that are due now, and of them those kept by a hold or
    /// restriction (`retention plan`).
    async fn retention_due(&self, target: &RetentionTarget) -> Result<RetentionDue>;

    /// Rows of a retention rule that are due, not held, and still hold personal data (the
    /// self-check after a run).
    async fn retention_resisting(&self, target: &RetentionTarget) -> Result<i64>;

    /// Takes the one-run-at-a-time lock and records the run as running (marking runs that
    /// were killed as failed); `Err(LockHeld)` when another run holds the lock.
    async fn start_retention_run(
        &self,
        start: &RetentionStart,
        ctx: &AuditContext,
    ) -> Result<std::result::Result<RetentionRun, LockHeld>>;

    /// Treats the next batch of a rule (ids above `after_id`, at most `limit` due rows) in
    /// one transaction, which also stores the run's counts that `record` renders.
    async fn apply_retention_batch(
        &self,
        run: &RetentionRun,
        target: &RetentionTarget,
        after_id: i64,
        limit: i64,
        record: &RecordProgress<'_>,
    ) -> Result<RetentionBatch>;

    /// Records the run's end with its audit entries and lets go of the lock.
    async fn finish_retention_run(
        &self,
        run: RetentionRun,
        finish: &RetentionFinish,
        ctx: &AuditContext,
    ) -> Result<()>;

    /// Recorded runs, newest first.
    async fn retention_runs(&self, limit: i64) -> Result<Vec<RetentionRunRecord>>;
}

/// Opens the database the URL names (creating a SQLite file if missing).
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://dw:secret@db:5432/x"),
            "postgres://dw:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://dw@db/x"), "postgres://dw@db/x");
        assert_eq!(redact_url("sqlite://datenwart.db"), "sqlite://datenwart.db");
    }
}
