//! What the store hands out and takes in for the data-subject rights: a person's rows by
//! category, erasure reports, corrections, holds, restrictions and the request register.

use crate::domain::requests::{
    Channel, IdentityCheck, InboxOutcome, Outcome, RequestKind, RequestStatus,
};
use crate::domain::subject::SubjectRef;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// How a person is looked up.
#[derive(Clone, Debug)]
pub enum SubjectQuery {
    /// By the keyed hash of the normalized e-mail.
    Ref(SubjectRef),
    /// By phone number, normalized to `+<digits>`.
    Phone(String),
    /// By last name, and first name when given, compared folded
    /// (`domain::text::same_name`: case, accents and umlaut spellings do not matter).
    Name { first: Option<String>, last: String },
    /// By the start of the reference (a `--subject` handle): lower-case hexadecimal only,
    /// checked by `domain::subject::parse_handle`.
    Handle(String),
}

/// A person found at a tenant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SubjectMatch {
    pub tenant: String,
    pub subject_ref: SubjectRef,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct BookingRecord {
    pub reference: String,
    pub service_code: String,
    pub service_name: String,
    pub appointment_start: DateTime<Utc>,
    pub appointment_end: DateTime<Utc>,
    pub status: String,
    pub booked_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub birth_date: Option<NaiveDate>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ConsentRecord {
    pub purpose: String,
    pub text_version: String,
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawal_source: Option<String>,
    pub booking_reference: Option<String>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct NotificationRecord {
    pub booking_reference: Option<String>,
    pub channel: String,
    pub kind: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub send_after: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AccessRecord {
    pub booking_reference: Option<String>,
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
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct InboxRecord {
    pub message_key: String,
    pub received_at: Option<DateTime<Utc>>,
    pub processed_at: DateTime<Utc>,
    pub outcome: InboxOutcome,
    pub sender: Option<String>,
    pub subject: Option<String>,
}

/// One entry of the request register.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Request {
    pub id: i64,
    pub tenant: Option<String>,
    pub kind: RequestKind,
    pub subject_ref: Option<SubjectRef>,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub due_on: NaiveDate,
    pub extended_due_on: Option<NaiveDate>,
    pub extension_reason: Option<String>,
    pub status: RequestStatus,
    pub outcome: Option<Outcome>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The reasons of the decision (a refusal's, an objection's), for the letter; never
    /// printed with the register (they may name people).
    #[serde(skip_serializing)]
    pub close_reason: Option<String>,
    /// How the identity of the person was established (never the proof itself).
    pub identity: Option<IdentityCheck>,
}

/// What a granted objection covers: the ids of the policy's purposes based on Art. 6(1)(e)
/// or (f). `office_copy` and `access_log` are stopped at once by the store.
#[derive(Clone, Debug)]
pub struct ObjectionGrant {
    pub purposes: Vec<String>,
}

/// The purpose whose messages (the office's copy of a booking) a granted objection cancels.
pub use crate::domain::booking::OFFICE_COPY_PURPOSE;
/// The purpose whose rows (the person's access-log rows) a granted objection deletes.
pub const ACCESS_LOG_PURPOSE: &str = "access_log";

/// What deciding a request changed besides the register.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ObjectionEffects {
    /// The objection recorded (granted objections only).
    pub objection: Option<i64>,
    pub office_copies_cancelled: usize,
    pub access_log_deleted: usize,
}

/// A granted objection, as the Auskunft and `send` see it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Objection {
    pub id: i64,
    pub tenant: String,
    pub request_id: Option<i64>,
    /// Comma-separated purpose ids.
    pub purposes: String,
    pub created_at: DateTime<Utc>,
}

impl Request {
    /// The deadline in force: the extended one when there is one.
    pub fn effective_due(&self) -> NaiveDate {
        self.extended_due_on.unwrap_or(self.due_on)
    }
}

/// Everything stored about one person at one tenant.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TenantData {
    pub tenant: String,
    pub bookings: Vec<BookingRecord>,
    pub consents: Vec<ConsentRecord>,
    pub notifications: Vec<NotificationRecord>,
    pub access_log: Vec<AccessRecord>,
    pub requests: Vec<Request>,
    pub inbox: Vec<InboxRecord>,
    /// Replies to the person's messages not yet written to the outbox (after a crash).
    pub replies: Vec<ReplyRecord>,
    /// Legal holds on the person or on their bookings, removed ones too.
    pub holds: Vec<HoldRecord>,
    /// Restrictions of processing (Art. 18), lifted ones too.
    pub restrictions: Vec<RestrictionRecord>,
    /// The actual recipients of the person's data (Art. 15(1)(c)): each disclosure.
    pub recipients: Vec<crate::store::DisclosureRecord>,
}

/// A legal hold as the person's Auskunft shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct HoldRecord {
    /// The booking it is on; none for a hold on the person.
    pub booking_reference: Option<String>,
    pub reason: String,
    pub until_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

/// A restriction (Art. 18) as the person's Auskunft shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RestrictionRecord {
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
}

/// What the store knows of people other than the one asking, to redact them from free
/// text (Art. 15(4)).
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct OtherPerson {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl TenantData {
    pub fn is_empty(&self) -> bool {
        self.bookings.is_empty()
            && self.consents.is_empty()
            && self.notifications.is_empty()
            && self.access_log.is_empty()
            && self.requests.is_empty()
            && self.inbox.is_empty()
            && self.replies.is_empty()
            && self.holds.is_empty()
            && self.restrictions.is_empty()
            && self.recipients.is_empty()
    }

    /// (category, rows) in the order an Auskunft lists them.
    pub fn counts(&self) -> [(&'static str, usize); 10] {
        [
            ("bookings", self.bookings.len()),
            ("consents", self.consents.len()),
            ("notifications", self.notifications.len()),
            ("access_log", self.access_log.len()),
            ("requests", self.requests.len()),
            ("inbox", self.inbox.len()),
            ("replies", self.replies.len()),
            ("holds", self.holds.len()),
            ("restrictions", self.restrictions.len()),
            ("recipients", self.recipients.len()),
        ]
    }
}

/// What happens to bookings that are erased at a tenant (from its retention rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingErasure {
    Anonymize,
    Delete,
}

/// One tenant in an erasure: its slug, what to do with bookings, the request it answers.
#[derive(Clone, Debug)]
pub struct ErasureScope {
    pub tenant: String,
    pub bookings: BookingErasure,
    pub request_id: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct ErasureOptions {
    pub now: DateTime<Utc>,
    /// Run everything, report it, and roll back.
    pub dry_run: bool,
    /// Write a ledger entry (false when replaying the ledger itself).
    pub record_in_ledger: bool,
    /// Audit action, e.g. `subject.erase` or `subject.erase_replay`.
    pub action: &'static str,
    /// Only what existed at an earlier erasure (a replay must not erase what the person
    /// gave again after it).
    pub only_before: Option<Cutoff>,
    /// Close each scope's request (`erased`, or `erased_partly` where something was kept)
    /// in the erasure's transaction: the register says erased exactly when it is, and
    /// nothing is written after the WAL checkpoint that truncates the erased bytes away
    /// (a write then would start a new WAL with a synced header, and the last connection's
    /// close would checkpoint again).
    pub close_requests: bool,
    /// How the operator established the person's identity, recorded on each scope's
    /// request in the erasure's transaction (with `close_requests`, not in a dry run).
    pub identity: Option<IdentityCheck>,
}

/// What existed at an erasure: rows stamped before its second, and rows of its second up
/// to the highest ids then (stamps are whole seconds; ids order the rows within one).
#[derive(Clone, Copy, Debug)]
pub struct Cutoff {
    pub at: DateTime<Utc>,
    pub upto: super::RowMarks,
}

/// One row an erasure changes (or, in a dry run, would change).
#[derive(Clone, Debug, Serialize)]
pub struct RowChange {
    pub tenant: String,
    pub category: &'static str,
    pub id: i64,
    pub action: &'static str,
}

/// Something an erasure left in place, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Kept {
    pub tenant: String,
    pub category: &'static str,
    /// A booking reference, or `all` when the whole person is kept.
    pub what: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ErasureCounts {
    pub bookings_cancelled: usize,
    pub slots_freed: usize,
    pub bookings_anonymized: usize,
    pub bookings_deleted: usize,
    pub notifications_deleted: usize,
    pub access_log_deleted: usize,
    pub consents_reduced: usize,
    pub inbox_anonymized: usize,
    /// Replies to the person not yet written to the outbox.
    pub replies_deleted: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ErasureReport {
    pub dry_run: bool,
    pub counts: Vec<(String, ErasureCounts)>,
    pub kept: Vec<Kept>,
    pub changes: Vec<RowChange>,
}

/// New values for a person's details; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct Correction {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The new e-mail and its subject reference.
    pub email: Option<(String, SubjectRef)>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// Field names, for the audit trail (never the values).
    pub fields: Vec<&'static str>,
    /// The rectification request answered at each tenant: its Art. 19 recipients are
    /// opened in the correction's transaction.
    pub requests: Vec<(String, i64)>,
}

/// A message not yet handed over, with what its booking now says, for re-rendering it
/// after a rectification.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UnsentMessage {
    pub id: i64,
    pub kind: String,
    pub reference: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
}

/// Renders (subject, body) of an unsent message at a tenant from its corrected booking;
/// None leaves the message as it is. Called inside the correction's transaction.
pub type RenderMessage<'a> =
    dyn Fn(&str, &UnsentMessage) -> Option<(Option<String>, String)> + Send + Sync + 'a;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Hold {
    pub id: i64,
    pub tenant: String,
    pub subject_ref: Option<SubjectRef>,
    pub booking_reference: Option<String>,
    pub reason: String,
    pub until_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

/// What a hold is on.
#[derive(Clone, Debug)]
pub enum HoldTarget {
    Subject(SubjectRef),
    Booking(String),
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Restriction {
    pub id: i64,
    pub tenant: Option<String>,
    pub subject_ref: SubjectRef,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
    /// The register entry of the restriction request, where there is one.
    pub request_id: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct NewRequest {
    pub tenant: Option<String>,
    pub kind: RequestKind,
    pub subject_ref: Option<SubjectRef>,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub due_on: NaiveDate,
    /// How the identity of the person was established, when it was.
    pub identity: Option<IdentityCheck>,
}

#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    pub tenant: Option<String>,
    pub status: Option<RequestStatus>,
    /// Only open requests whose deadline in force is on or before this day.
    pub due_on_or_before: Option<NaiveDate>,
    pub subject_ref: Option<SubjectRef>,
    pub kind: Option<RequestKind>,
}

/// One message read from the office mailbox, with the one outcome it got.
#[derive(Clone, Debug)]
pub struct InboxEntry {
    /// Message-ID, or `sha256:<hex>` of the raw message.
    pub message_key: String,
    pub tenant: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub processed_at: DateTime<Utc>,
    pub outcome: InboxOutcome,
    pub subject_ref: Option<SubjectRef>,
    /// Kept only where a human must look (review, unmatched), so they can find the mail.
    pub sender: Option<String>,
    pub subject: Option<String>,
    /// Why it got its outcome, in a few words (what matched, what failed).
    pub reason: Option<String>,
    /// The withdrawal address it reached.
    pub address: Option<String>,
    /// How it reached the office: `email` for the mailbox; `letter`, `phone`, `in_person`
    /// (`withdrawals record`) or `web` (the citizen page) for withdrawals recorded like a mail.
    pub channel: Channel,
    /// How the sender's identity was established, for the request it opens.
    pub identity: Option<IdentityCheck>,
    /// The pending confirmation (`identity_confirmations.id`) it confirms: taken in the
    /// same transaction, once; if it is no longer pending nothing is recorded
    /// (`StoreError::Conflict`).
    pub confirms: Option<i64>,
}

/// What a message does besides being recorded; applied in the same transaction.
#[derive(Clone, Debug)]
pub enum IntakeEffect {
    /// Recorded only.
    Nothing,
    /// An access or erasure request enters the register as open.
    OpenRequest {
        kind: RequestKind,
        due_on: NaiveDate,
    },
    /// Consents end (these purposes); where booking rests on consent the person is erased
    /// at the tenant too (`erase`). A closed `withdrawal` request records it.
    Withdraw {
        purposes: Vec<String>,
        erase: Option<ErasureScope>,
        due_on: NaiveDate,
    },
    /// Nothing yet: what the message asks (`asked`) waits for the person's confirmation
    /// with a one-time code (stored as its keyed hash) until `expires_at`.
    RequestConfirmation {
        asked: InboxOutcome,
        code_hash: String,
        expires_at: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IntakeResult {
    /// False when the message was known already (a duplicate): nothing was done.
    pub recorded: bool,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub reminders_cancelled: usize,
    pub erasure: Option<ErasureReport>,
    /// The reply stored with the message, pending until its file is written.
    #[serde(skip)]
    pub reply: Option<PendingReply>,
}

/// A reply rendered for a message: its file name in the outbox and the `.eml` text.
#[derive(Clone, Debug)]
pub struct NewReply {
    pub file_name: String,
    pub eml: String,
}

/// Renders the reply to a message from what its transaction did, inside that transaction
/// (None: no reply). It must not fail: the message is committed with its reply or not at all.
pub type RenderReply<'a> = dyn Fn(&IntakeResult) -> Option<NewReply> + Send + Sync + 'a;

/// A reply stored in the outbox table whose file is not written yet.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingReply {
    pub id: i64,
    /// The tenant that answers.
    pub tenant: String,
    pub file_name: String,
    pub eml: String,
}

/// A reply to the person that waits to be written to the outbox (an Auskunft lists it).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ReplyRecord {
    pub created_at: DateTime<Utc>,
    pub file_name: String,
    pub eml: String,
}

/// A message the intake recorded, as listed for review.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct InboxItem {
    pub id: i64,
    pub message_key: String,
    pub tenant: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub processed_at: DateTime<Utc>,
    pub outcome: InboxOutcome,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    pub address: Option<String>,
    pub request_id: Option<i64>,
}
