//! The citizen's side: services, free slots, booking and cancelling. Shared by the HTTP
//! endpoint and `demo`, so demo data is made exactly the way real bookings are.

use super::Context;
use super::group_commit::GroupCommit;
use crate::domain::booking::{self, BookingForm, FieldErrors, OFFICE_COPY_PURPOSE, ValidBooking};
use crate::domain::office_days::OfficeCalendar;
use crate::domain::policy::Policy;
use crate::domain::slots::local_instant;
use crate::domain::subject::SubjectRef;
// Re-exported: callers (and the withdrawal tests) name it here, beside the booking it describes.
pub use crate::domain::time::appointment_de;
use crate::store::{
    AccessLogEntry, Booked, BookingRefusal, CancelRefusal, Cancelled, NewBooking, NewNotification,
    OpenSlot, Service, Store,
};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// How far ahead free slots are listed when no range is given.
pub const DEFAULT_DAYS_AHEAD: i64 = 28;
const MAX_SLOTS_LISTED: i64 = 500;
/// SMS reminders go out this long before the appointment.
const REMINDER_BEFORE_HOURS: i64 = 24;

/// Why a booking or a listing was not done; the HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    #[error("unknown service {0}")]
    UnknownService(String),
    #[error("invalid booking")]
    Invalid(FieldErrors),
    #[error("booking refused: {0:?}")]
    Refused(BookingRefusal),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for BookingError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// What the citizen gets back: the code appears here once and is never stored.
#[derive(Clone, Debug, Serialize)]
pub struct BookingReceipt {
    pub reference: String,
    pub code: String,
    pub tenant: String,
    pub service_code: String,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The appointment in the tenant's local time, e.g. "Montag, 30.11.2026, 08:20 Uhr".
    pub appointment: String,
    pub sms_reminder: bool,
    #[serde(skip)]
    pub booking_id: i64,
    /// Whether the request's access-log row was committed with the booking.
    #[serde(skip)]
    pub access_logged: bool,
}

pub fn policy<'a>(ctx: &'a Context, tenant: &str) -> Result<&'a Policy, BookingError> {
    ctx.policies
        .get(tenant)
        .ok_or_else(|| BookingError::UnknownTenant(tenant.to_owned()))
}

pub async fn services(ctx: &Context, tenant: &str) -> Result<Vec<Service>, BookingError> {
    policy(ctx, tenant)?;
    Ok(ctx.store.list_services(tenant).await?)
}

/// Free slots of a service from `from` to `to` (local days, inclusive), never in the past.
pub async fn free_slots(
    ctx: &Context,
    tenant: &str,
    service: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Vec<OpenSlot>, BookingError> {
    let tz = policy(ctx, tenant)?.tenant.zone();
    if !ctx
        .store
        .list_services(tenant)
        .await?
        .iter()
        .any(|s| s.code == service)
    {
        return Err(BookingError::UnknownService(service.to_owned()));
    }
    let today = now.with_timezone(&tz).date_naive();
    let from = from.unwrap_or(today);
    // Checked: a date near chrono's limits must not panic the request.
    let to = to.unwrap_or_else(|| {
        from.checked_add_signed(Duration::days(DEFAULT_DAYS_AHEAD))
            .unwrap_or(NaiveDate::MAX)
    });
    let start_of = |d: NaiveDate| local_instant(tz, d.and_time(NaiveTime::MIN));
    let after = start_of(from).map_or(now, |t| t.max(now));
    let before = to.succ_opt().and_then(start_of).unwrap_or(after);
    let mut calendar = OfficeCalendar::for_policy(policy(ctx, tenant)?);
    Ok(ctx
        .store
        .free_slots(tenant, service, after, before, MAX_SLOTS_LISTED)
        .await?
        .into_iter()
        // Also slots made before the day was added to the policy.
        .filter(|slot| !calendar.is_closed(slot.starts_at.with_timezone(&tz).date_naive()))
        .collect())
}

/// What a citizen is told about a slot on a day the office is closed.
pub const CLOSED_DAY_MESSAGE: &str =
    "An diesem Tag ist die Verwaltung geschlossen. Bitte wählen Sie einen anderen Termin.";

/// Whether `slot` lies on a day the tenant's policy closes the office (a local holiday, a
/// closed day): such a slot is not listed and cannot be booked, whenever it was made.
pub fn on_closed_day(policy: &Policy, starts_at: DateTime<Utc>) -> bool {
    let day = starts_at.with_timezone(&policy.tenant.zone()).date_naive();
    crate::domain::office_days::is_closed(policy, day)
}

/// A slot the citizen may book: it exists and its day is not closed by the policy.
pub async fn bookable_slot(
    ctx: &Context,
    tenant: &str,
    slot_id: i64,
) -> Result<OpenSlot, BookingError> {
    let policy = policy(ctx, tenant)?;
    let slot = ctx
        .store
        .open_slot(tenant, slot_id)
        .await?
        .ok_or(BookingError::Refused(BookingRefusal::SlotNotFound))?;
    if on_closed_day(policy, slot.starts_at) {
        let mut fields = FieldErrors::new();
        fields.insert("slot_id".into(), CLOSED_DAY_MESSAGE.into());
        return Err(BookingError::Invalid(fields));
    }
    Ok(slot)
}

/// A booking prepared for the store, and the code to show the citizen once.
pub struct PreparedBooking {
    pub booking: NewBooking,
    pub code: String,
}

/// Times a booking is tried with a new reference when the store already has the one drawn.
pub const REFERENCE_ATTEMPTS: u32 = 3;

impl PreparedBooking {
    /// Draws a new reference and code for a booking whose reference the store already had
    /// ([`BookingRefusal::ReferenceTaken`]); the notifications name the new reference.
    pub fn renew(&mut self, key: &crate::domain::subject::PseudonymKey) {
        let b = &mut self.booking;
        let old = std::mem::replace(&mut b.reference, booking::new_reference());
        self.code = booking::new_code();
        b.code_hash = booking::code_hash(key, &b.reference, &self.code);
        for n in &mut b.notifications {
            n.body = n.body.replace(&old, &b.reference);
            if let Some(subject) = &mut n.subject {
                *subject = subject.replace(&old, &b.reference);
            }
        }
    }
}

/// Builds everything one booking writes: reference, code hash, consents, notifications.
pub fn prepare(
    policy: &Policy,
    key: &crate::domain::subject::PseudonymKey,
    valid: ValidBooking,
    slot: &OpenSlot,
    booked_at: DateTime<Utc>,
    access: Option<AccessLogEntry>,
) -> PreparedBooking {
    let reference = booking::new_reference();
    let code = booking::new_code();
    let notifications = notifications(policy, &valid, slot, &reference, booked_at);
    PreparedBooking {
        booking: NewBooking {
            slot_id: valid.slot_id,
            code_hash: booking::code_hash(key, &reference, &code),
            reference,
            subject_ref: SubjectRef::for_email(key, &valid.person.email),
            person: valid.person,
            booked_at,
            consents: valid.consents,
            notifications,
            access,
        },
        code,
    }
}

/// What a message about a booking says of it: the person as the booking holds them, the
/// service, the appointment and the reference. Made at booking and again after a
/// rectification (Art. 16), so every copy carries the corrected values.
pub struct MessageFacts<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub phone: Option<&'a str>,
    pub service_name: &'a str,
    pub starts_at: DateTime<Utc>,
    pub reference: &'a str,
}

/// (subject, body) of a message of `kind` about a booking; None for a kind not rendered
/// from the booking alone (a reply).
pub fn message_text(
    policy: &Policy,
    kind: &str,
    f: &MessageFacts<'_>,
) -> Option<(Option<String>, String)> {
    let t = &policy.tenant;
    let when = appointment_de(t.zone(), f.starts_at);
    let (service, reference) = (f.service_name, f.reference);
    match kind {
        "confirmation" => Some((
            Some(format!("Terminbestätigung: {service} am {when}")),
            format!(
                "Guten Tag {} {},\n\nIhr Termin {} ist gebucht:\n\n  {service}\n  {when}\n  Buchungsnummer: {reference}\n\n\
                 Absagen können Sie mit der Buchungsnummer und dem Buchungscode, den Sie bei der Buchung erhalten haben.\n\n\
                 {}\n{}\n",
                f.first_name,
                f.last_name,
                t.bei(),
                t.name,
                t.address
            ),
        )),
        "office_copy" => Some((
            Some(format!("Online-Buchung {reference}: {service} am {when}")),
            format!(
                "Buchung {reference}\nDienstleistung: {service}\nTermin: {when}\nName: {} {}\nE-Mail: {}\nTelefon: {}\n",
                f.first_name,
                f.last_name,
                f.email,
                f.phone.unwrap_or("-")
            ),
        )),
        "sms_reminder" => Some((
            None,
            crate::domain::sms::reminder_text(service, &when, &t.name, reference),
        )),
        "cancellation" => Some(super::closed_days::cancellation_text(policy, f)),
        _ => None,
    }
}

/// The confirmation to the citizen, a copy to the office where the policy has that purpose,
/// and an SMS reminder only with the citizen's consent to it.
fn notifications(
    policy: &Policy,
    valid: &ValidBooking,
    slot: &OpenSlot,
    reference: &str,
    booked_at: DateTime<Utc>,
) -> Vec<NewNotification> {
    let p = &valid.person;
    let facts = MessageFacts {
        first_name: &p.first_name,
        last_name: &p.last_name,
        email: &p.email,
        phone: p.phone.as_deref(),
        service_name: &slot.service_name,
        starts_at: slot.starts_at,
        reference,
    };
    let text = |kind| message_text(policy, kind, &facts).expect("a kind about a booking");
    let (subject, body) = text("confirmation");
    let mut out = vec![NewNotification {
        channel: "email",
        kind: "confirmation",
        recipient: p.email.clone(),
        subject,
        body,
        send_after: None,
    }];
    if policy.purpose(OFFICE_COPY_PURPOSE).is_some() {
        let (subject, body) = text("office_copy");
        out.push(NewNotification {
            channel: "email",
            kind: "office_copy",
            recipient: policy.tenant.email.clone(),
            subject,
            body,
            send_after: None,
        });
    }
    if let (true, Some(phone)) = (valid.sms_reminder, &p.phone) {
        let send = (slot.starts_at - Duration::hours(REMINDER_BEFORE_HOURS)).max(booked_at);
        let (subject, body) = text("sms_reminder");
        out.push(NewNotification {
            channel: "sms",
            kind: "sms_reminder",
            recipient: phone.clone(),
            subject,
            body,
            send_after: Some(send),
        });
    }
    out
}

/// Books one slot for a citizen. The slot's capacity is enforced by the store.
pub async fn book(
    ctx: &Context,
    tenant: &str,
    form: &BookingForm,
    now: DateTime<Utc>,
) -> Result<BookingReceipt, BookingError> {
    book_through(ctx, None, tenant, form, now, None).await
}

/// What the store answered one booking, or why the write failed.
pub type BookingWrite = Result<Result<Booked, BookingRefusal>, String>;

/// The group-commit writer of `serve`: bookings that arrive together share a transaction.
pub type BookingWriter = GroupCommit<(String, NewBooking), BookingWrite>;

/// Starts the writer for bookings (see [`GroupCommit`]).
pub fn booking_writer(store: Arc<dyn Store>) -> BookingWriter {
    GroupCommit::start(move |items: Vec<(String, NewBooking)>| {
        let store = store.clone();
        async move { write_bookings(store.as_ref(), items).await }
    })
}

/// Writes the bookings that waited together, one transaction per tenant. The store refuses
/// a booking (its slot full, its reference taken) without failing the others; should the
/// whole transaction fail, each booking is tried alone, so one bad booking never costs its
/// neighbours theirs.
async fn write_bookings(store: &dyn Store, items: Vec<(String, NewBooking)>) -> Vec<BookingWrite> {
    let mut outcomes: Vec<Option<BookingWrite>> = (0..items.len()).map(|_| None).collect();
    let mut tenants: Vec<(String, Vec<usize>, Vec<NewBooking>)> = Vec::new();
    for (i, (tenant, booking)) in items.into_iter().enumerate() {
        match tenants.iter_mut().find(|(t, _, _)| *t == tenant) {
            Some((_, at, bookings)) => {
                at.push(i);
                bookings.push(booking);
            }
            None => tenants.push((tenant, vec![i], vec![booking])),
        }
    }
    for (tenant, at, bookings) in tenants {
        match store.book(&tenant, &bookings).await {
            Ok(results) => {
                for (i, result) in at.into_iter().zip(results) {
                    outcomes[i] = Some(Ok(result));
                }
            }
            Err(e) if bookings.len() == 1 => outcomes[at[0]] = Some(Err(format!("{e:#}"))),
            Err(e) => {
                tracing::warn!(
                    "a group of {} bookings failed ({e}); writing each alone",
                    bookings.len()
                );
                for (i, booking) in at.into_iter().zip(&bookings) {
                    let alone = store.book(&tenant, std::slice::from_ref(booking)).await;
                    outcomes[i] = Some(match alone {
                        Ok(mut results) => Ok(results.remove(0)),
                        Err(e) => Err(format!("{e:#}")),
                    });
                }
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("no outcome for a booking".into())))
        .collect()
}

/// The access-log row of the request that makes a booking, given the receipt it answers
/// with (the row records the response's size). The row is committed in the booking's own
/// transaction, and only when the booking is stored.
pub type AccessRow<'a> = &'a (dyn Fn(&BookingReceipt) -> AccessLogEntry + Sync);

/// [`book`], writing through `writer` when `serve` has one, and with the request's
/// access-log row when `access` is given.
pub async fn book_through(
    ctx: &Context,
    writer: Option<&BookingWriter>,
    tenant: &str,
    form: &BookingForm,
    now: DateTime<Utc>,
    access: Option<AccessRow<'_>>,
) -> Result<BookingReceipt, BookingError> {
    let policy = policy(ctx, tenant)?;
    let tz = policy.tenant.zone();
    let valid = booking::validate(policy, form, now.with_timezone(&tz).date_naive())
        .map_err(BookingError::Invalid)?;
    let slot = bookable_slot(ctx, tenant, valid.slot_id).await?;
    let key = ctx.store.pseudonym_key().await?;
    let sms_reminder = valid.sms_reminder;
    let mut prepared = prepare(policy, &key, valid, &slot, now, None);
    let receipt = |prepared: &PreparedBooking, starts_at, ends_at, booking_id| BookingReceipt {
        reference: prepared.booking.reference.clone(),
        code: prepared.code.clone(),
        tenant: tenant.to_owned(),
        service_code: slot.service_code.clone(),
        service_name: slot.service_name.clone(),
        starts_at,
        ends_at,
        appointment: appointment_de(tz, starts_at),
        sms_reminder,
        booking_id,
        access_logged: false,
    };
    let mut attempts = 1;
    let booked: Booked = loop {
        // The receipt as it will be once stored (the slot's times, which the write
        // returns again), so the row can record the size of the answer.
        prepared.booking.access =
            access.map(|row| row(&receipt(&prepared, slot.starts_at, slot.ends_at, 0)));
        let result = match writer {
            Some(writer) => writer
                .submit((tenant.to_owned(), prepared.booking.clone()))
                .await
                .map_err(anyhow::Error::new)?
                .map_err(anyhow::Error::msg)?,
            None => ctx
                .store
                .book(tenant, std::slice::from_ref(&prepared.booking))
                .await?
                .into_iter()
                .next()
                .expect("one result per booking"),
        };
        match result {
            Err(BookingRefusal::ReferenceTaken) if attempts < REFERENCE_ATTEMPTS => {
                prepared.renew(&key);
                attempts += 1;
            }
            other => break other.map_err(BookingError::Refused)?,
        }
    };
    Ok(BookingReceipt {
        access_logged: prepared.booking.access.is_some(),
        ..receipt(
            &prepared,
            booked.starts_at,
            booked.ends_at,
            booked.booking_id,
        )
    })
}

/// Cancels a booking with its code; the place becomes free again.
pub async fn cancel(
    ctx: &Context,
    reference: &str,
    code: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Cancelled, CancelRefusal>> {
    let reference = booking::normalize_reference(reference);
    let reference = reference.as_str();
    if reference.is_empty() || reference.len() > 40 || code.trim().is_empty() || code.len() > 40 {
        return Ok(Err(CancelRefusal::NotFound));
    }
    let key = ctx.store.pseudonym_key().await?;
    let hash = booking::code_hash(&key, reference, code);
    Ok(ctx.store.cancel_booking(reference, &hash, now).await?)
}

/// How long the confirmation page of a booking can be opened (its URL's token).
pub const RECEIPT_VALID_FOR: Duration = Duration::hours(1);

/// The token of the confirmation page for a booking just made: stored as its keyed hash,
/// with the code sealed so that only the token's holder can read it, once.
pub async fn issue_receipt(
    ctx: &Context,
    receipt: &BookingReceipt,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let key = ctx.store.pseudonym_key().await?;
    let token = booking::new_receipt_token();
    ctx.store
        .save_receipt(
            &booking::receipt_token_hash(&key, &token),
            receipt.booking_id,
            &booking::seal_code(&key, &token, &receipt.code),
            now + RECEIPT_VALID_FOR,
            now,
        )
        .await?;
    Ok(token)
}

/// What the confirmation page shows: the booking of a valid token, with its code on the
/// first view only (checked against the stored hash, so a wrong unsealing never shows).
pub struct ShownReceipt {
    pub receipt: crate::store::Receipt,
    pub code: Option<String>,
}

pub async fn open_receipt(
    ctx: &Context,
    token: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<ShownReceipt>> {
    if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let key = ctx.store.pseudonym_key().await?;
    let Some(receipt) = ctx
        .store
        .open_receipt(&booking::receipt_token_hash(&key, token), true, now)
        .await?
    else {
        return Ok(None);
    };
    let code = receipt.sealed_code.as_deref().and_then(|sealed| {
        let code = booking::unseal_code(&key, token, sealed);
        let stored = receipt.code_hash.as_deref()?;
        let hash = booking::code_hash(&key, &receipt.reference, &code);
        // Not a guess being checked (the token already admitted the caller): a plain
        // comparison is enough to catch a code the stored hash does not confirm.
        (stored == hash).then_some(code)
    });
    Ok(Some(ShownReceipt { receipt, code }))
}

/// The booking of a valid confirmation token without its code (for the calendar file).
pub async fn peek_receipt(
    ctx: &Context,
    token: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<crate::store::Receipt>> {
    if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let key = ctx.store.pseudonym_key().await?;
    Ok(ctx
        .store
        .open_receipt(&booking::receipt_token_hash(&key, token), false, now)
        .await?)
}
