//! The store: all I/O with the database, behind one coarse, domain-shaped [`Store`] trait
//! with a SQLite and a PostgreSQL implementation chosen from the URL.
//!
//! Each write method runs in its own transaction and writes its audit entry in that same
//! transaction, so a change and its audit entry land together or not at all.

mod admin;
mod audit;
mod booking;
mod breaches;
mod bulk;
mod columns;
mod delivery;
mod disclosures;
mod identity;
mod intake;
mod ledger;
mod postgres;
mod register;
mod report;
mod retention;
mod rights;
mod sql;
mod sqlite;
mod subjects;

pub use admin::{AdminStore, SchemaCheck};
pub use audit::AuditStore;
pub use booking::{BookingStore, Receipt};
pub use breaches::{Affected, Breach, BreachStore, NewBreach, Notified};
pub use delivery::{
    Appointment, Attempt, Backlog, Claim, DeliveryStore, FailedNotification, Outgoing,
};
pub use disclosures::{DisclosedTo, DisclosureRecord, DisclosureStore, RecipientNotice};
pub use identity::{Confirmation, Expired, IdentityStore, WebConfirmation};
pub use intake::{ImapPosition, IntakeItem, IntakeStore};
pub use ledger::{LedgerEntry, LedgerFile, RowMarks, default_path as default_ledger_path};
pub use register::RegisterStore;
pub use report::ReportStore;
pub use retention::RetentionStore;
pub use subjects::SubjectStore;

use postgres::PgDialect;
use sql::SqlStore;
use sqlite::SqliteDialect;
pub(crate) use sqlite::disable_memory_statistics;

pub use retention::{
    LEASE_SECONDS, LockHeld, RETENTION_LOCK_KEY, RecordProgress, RetentionBatch, RetentionDue,
    RetentionFinish, RetentionRun, RetentionRunRecord, RetentionStart, RetentionTarget,
};
pub use rights::*;

use crate::domain::audit::AuditEntry;
use crate::domain::booking::Person;
use crate::domain::service::NewService;
use crate::domain::slots::{NewSlot, SlotFate};
use crate::domain::subject::{PseudonymKey, SubjectRef};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://datenwart.db";

/// What callers branch on; everything else is `Database`. Exit codes are chosen from these
/// in `cli::exit_for`, HTTP statuses in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database schema is behind; run `datenwart migrate`")]
    SchemaBehind,
    #[error(
        "database schema has migration {0}, which this datenwart does not know; use a newer datenwart"
    )]
    SchemaAhead(i64),
    /// A tenant that has a policy but is not in the database (`tenants sync` adds it).
    #[error("tenant {0} is not in the database; run `datenwart tenants sync`")]
    UnknownTenant(String),
    /// A row the caller named (a booking, a service, a message) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The row exists but is not in the state the change needs (a request not open).
    #[error("{0}")]
    Conflict(String),
    /// What was asked cannot be done as asked (a retention rule the category does not allow).
    #[error("{0}")]
    Invalid(String),
    /// A long run lost its lock to another run and stopped.
    #[error("{0}")]
    LockLost(String),
    /// The erasure ledger file could not be read or written.
    #[error("{0}")]
    Ledger(String),
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
    pub subject_ref: SubjectRef,
    pub person: Person,
    pub booked_at: DateTime<Utc>,
    /// The consents given with the booking.
    pub consents: Vec<crate::domain::booking::GivenConsent>,
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
    /// For the access-log row of the cancelling request, which belongs to the booking.
    #[serde(skip)]
    pub booking_id: i64,
    pub reference: String,
    pub tenant: String,
    pub starts_at: DateTime<Utc>,
}

/// A citizen's cancel by booking code, for [`BookingStore::cancel_bookings`].
#[derive(Clone, Debug)]
pub struct CancelRequest {
    pub reference: String,
    pub code_hash: String,
    pub at: DateTime<Utc>,
}

/// The booking whose code was given, as the withdrawal page needs it.
#[derive(Clone, Debug)]
pub struct CodeHolder {
    pub booking_id: i64,
    pub tenant: String,
    pub starts_at: DateTime<Utc>,
    pub subject_ref: Option<SubjectRef>,
    pub email: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelRefusal {
    NotFound,
    WrongCode,
    AlreadyCancelled,
    InPast,
    /// Too many wrong codes for this booking: cancelling it by code is refused for a while.
    Locked,
}

/// The whole store: one trait per area, implemented once by [`sql::SqlStore`] for both
/// backends. Callers hold an `Arc<dyn Store>` and bring the area traits into scope with
/// `use crate::store::prelude::*`.
pub trait Store:
    AdminStore
    + BookingStore
    + SubjectStore
    + RegisterStore
    + IntakeStore
    + AuditStore
    + RetentionStore
    + DeliveryStore
    + BreachStore
    + ReportStore
    + DisclosureStore
    + IdentityStore
{
}

impl<T> Store for T where
    T: AdminStore
        + BookingStore
        + SubjectStore
        + RegisterStore
        + IntakeStore
        + AuditStore
        + RetentionStore
        + DeliveryStore
        + BreachStore
        + ReportStore
        + DisclosureStore
        + IdentityStore
{
}

/// The area traits, for calling the store's methods.
pub mod prelude {
    pub use super::{
        AdminStore, AuditStore, BookingStore, BreachStore, DeliveryStore, DisclosureStore,
        IdentityStore, IntakeStore, RegisterStore, ReportStore, RetentionStore, Store,
        SubjectStore,
    };
}

/// How many database sessions a process works with at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sessions {
    /// One, for a command that does one thing after another. The driver hands a connection
    /// back to its pool in a task of its own (after a ping); a command's next statement,
    /// coming before that task ran, found no idle connection and opened another — on
    /// PostgreSQL a backend start and a first parse of every statement again, on SQLite a
    /// file opened with a cold cache. With one, the next statement waits for that ping.
    One,
    /// Several: `serve` answers clients side by side, `demo` writes batches side by side.
    Several,
}

/// Opens the database the URL names (creating a SQLite file if missing), for several
/// sessions at once.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with_ledger(url, None, Sessions::Several).await
}

/// Opens the store with its erasure ledger: the file named, else the default beside a
/// SQLite file ([`default_ledger_path`]); PostgreSQL has none unless one is named.
pub async fn open_with_ledger(
    url: &str,
    ledger: Option<PathBuf>,
    sessions: Sessions,
) -> Result<Arc<dyn Store>> {
    let ledger = ledger
        .or_else(|| default_ledger_path(url))
        .map(LedgerFile::new);
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqlStore::<SqliteDialect>::connect(url, ledger, sessions).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            SqlStore::<PgDialect>::connect(url, ledger, sessions).await?,
        ))
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

/// A booking still booked in a slot that is to go, with what a notice to the citizen needs.
#[derive(Clone, Debug)]
pub struct SlotBooking {
    pub booking_id: i64,
    pub slot_id: i64,
    pub reference: String,
    pub starts_at: DateTime<Utc>,
    pub service_name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// A booking the office cancels, with the notice queued to the citizen.
#[derive(Clone, Debug)]
pub struct OfficeCancellation {
    pub booking_id: i64,
    pub slot_id: i64,
    pub notification: NewNotification,
}

/// Slots to delete and bookings in them to cancel first, under one audit action.
#[derive(Clone, Debug)]
pub struct SlotRemoval {
    pub slot_ids: Vec<i64>,
    pub cancel: Vec<OfficeCancellation>,
    pub action: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SlotRemovalReport {
    pub slots_deleted: usize,
    /// Slots still referred to by a booking (booked, or cancelled and kept until retention).
    pub slots_kept: usize,
    pub bookings_cancelled: usize,
}
