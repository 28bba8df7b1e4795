//! One way to make a person with bookings: the form a citizen fills in, the booking made
//! through `ops::booking` as `serve` makes it (with its consents and notifications), and the
//! access-log row of the request that made it. And the checks that the person's name,
//! e-mail and phone stay where they belong.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use datenwart::domain::booking::BookingForm;
use datenwart::domain::subject::SubjectRef;
use datenwart::ops::Context;
use datenwart::ops::booking::{self, BookingReceipt};
use datenwart::store::{AccessLogEntry, AuditFilter, SlotFilter};

/// A citizen as the booking form knows them.
#[derive(Clone, Copy, Debug)]
pub struct Citizen {
    pub first: &'static str,
    pub last: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
}

impl Citizen {
    /// The form they fill in for `slot`: consent given, no SMS reminder, nothing optional.
    pub fn form(&self, slot: i64) -> BookingForm {
        BookingForm {
            slot_id: Some(slot),
            first_name: Some(self.first.into()),
            last_name: Some(self.last.into()),
            email: Some(self.email.into()),
            phone: Some(self.phone.into()),
            consent: true,
            sms_reminder: false,
            ..Default::default()
        }
    }

    /// What identifies them and must not appear where only a pseudonym may, in lower case:
    /// first name, last name, e-mail, the phone number as typed and its digits without the
    /// leading zero (as in `+49 171 …`).
    pub fn personal_data(&self) -> [String; 5] {
        let digits: String = self.phone.chars().filter(char::is_ascii_digit).collect();
        [
            self.first.to_lowercase(),
            self.last.to_lowercase(),
            self.email.trim().to_lowercase(),
            self.phone.to_owned(),
            digits.trim_start_matches('0').to_owned(),
        ]
    }
}

/// The access-log row `serve` writes for the request that booked `slot` at `tenant` at
/// `at`: `POST /t/{tenant}/buchen/{slot}`, 201, from 198.51.100.23. [`book`] links it to the
/// booking; a test that needs more fields sets them with `..booking_request(…)`.
pub fn booking_request(tenant: &str, slot: i64, at: DateTime<Utc>) -> AccessLogEntry {
    AccessLogEntry {
        tenant: Some(tenant.into()),
        logged_at: at,
        ip: "198.51.100.23".into(),
        method: "POST".into(),
        path: format!("/t/{tenant}/buchen/{slot}"),
        status: 201,
        ..Default::default()
    }
}

/// Books `form` at `tenant` at the instant `at`, and logs `request` (if any) as the request
/// that made the booking.
pub async fn book(
    ctx: &Context,
    tenant: &str,
    form: &BookingForm,
    at: DateTime<Utc>,
    request: Option<AccessLogEntry>,
) -> BookingReceipt {
    let receipt = booking::book(ctx, tenant, form, at)
        .await
        .unwrap_or_else(|e| panic!("booking at {tenant}: {e:#}"));
    if let Some(entry) = request {
        let entry = AccessLogEntry {
            booking_id: Some(receipt.booking_id),
            ..entry
        };
        ctx.store.log_access(&[entry]).await.unwrap();
    }
    receipt
}

/// The first slot of the service PA at `tenant` that lies after `from` and has a free place.
pub async fn first_free_slot(ctx: &Context, tenant: &str, from: DateTime<Utc>) -> i64 {
    booking::free_slots(ctx, tenant, "PA", None, None, from)
        .await
        .unwrap()
        .first()
        .unwrap_or_else(|| panic!("no free slot of PA at {tenant}"))
        .id
}

/// Books a past and a future appointment of PA at `tenant`, each in the first slot with a
/// free place: the past one `booked_ago` before now, the future one now (whole seconds).
/// `form` gives the form for a slot; with `logged`, each booking gets the access-log row of
/// its request ([`booking_request`]). Returns (past, future).
pub async fn book_past_and_future(
    ctx: &Context,
    tenant: &str,
    form: impl Fn(i64) -> BookingForm,
    booked_ago: Duration,
    logged: bool,
) -> (BookingReceipt, BookingReceipt) {
    let filter = SlotFilter {
        service: Some("PA".into()),
        limit: 1000,
        ..Default::default()
    };
    let slots = ctx.store.list_slots(tenant, &filter).await.unwrap();
    let now = Utc::now();
    let free = |past: bool| {
        slots
            .iter()
            .find(|s| (s.starts_at < now) == past && s.booked < s.capacity)
            .unwrap_or_else(|| panic!("no free slot of PA at {tenant} (past: {past})"))
            .id
    };
    let mut made = Vec::new();
    for (slot, at) in [(free(true), now - booked_ago), (free(false), now)] {
        let at = at.trunc_subsecs(0);
        let request = logged.then(|| booking_request(tenant, slot, at));
        made.push(book(ctx, tenant, &form(slot), at, request).await);
    }
    let future = made.pop().unwrap();
    (made.pop().unwrap(), future)
}

/// The pseudonymous reference of the person with this e-mail, as the store keeps it.
pub async fn subject_ref(ctx: &Context, email: &str) -> SubjectRef {
    let key = ctx.store.pseudonym_key().await.unwrap();
    SubjectRef::for_email(&key, email)
}

/// Fails if any entry of the audit trail (any tenant or none) names one of `people` by
/// name, e-mail or phone, in its actor, subject reference or details. Returns how many
/// entries it read.
pub async fn assert_audit_trail_names_nobody(ctx: &Context, people: &[Citizen]) -> usize {
    let filter = AuditFilter {
        limit: 1_000_000,
        ..Default::default()
    };
    let entries = ctx.store.audit_entries(&filter).await.unwrap();
    for e in &entries {
        let text = format!(
            "{}\n{}\n{}",
            e.actor,
            e.subject_ref.as_deref().unwrap_or(""),
            e.details
        )
        .to_lowercase();
        for p in people {
            for data in p.personal_data() {
                assert!(
                    !text.contains(&data),
                    "audit entry {} ({}) names {data:?}: {text}",
                    e.id,
                    e.action
                );
            }
        }
    }
    entries.len()
}
