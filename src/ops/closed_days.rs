//! Slots on days the policy closes the office (its local holidays and closed days): hidden
//! from listings, and found and removed for the admin — also those made before the day was
//! added to the policy.

use super::Context;
use crate::domain::office_days::{DayOff, OfficeCalendar};
use crate::domain::policy::Policy;
use crate::domain::time::appointment_de;
use crate::store::{
    NewNotification, OfficeCancellation, Slot, SlotBooking, SlotFilter, SlotRemoval,
};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// A tenant's slots as `slots list` shows them: none on a day the policy closes.
pub async fn list_open_slots(
    ctx: &Context,
    tenant: &str,
    filter: &SlotFilter,
) -> Result<Vec<Slot>> {
    let policy = ctx.policies.require(tenant)?;
    let mut calendar = OfficeCalendar::for_policy(policy);
    let tz = policy.tenant.zone();
    Ok(ctx
        .store
        .list_slots(tenant, filter)
        .await?
        .into_iter()
        .filter(|s| !calendar.is_closed(s.starts_at.with_timezone(&tz).date_naive()))
        .collect())
}

/// A slot that lies on a day the policy closes.
#[derive(Clone, Debug, Serialize)]
pub struct ClosedSlot {
    pub id: i64,
    pub service: String,
    pub day: NaiveDate,
    /// `local_holiday` or `closed_day`.
    pub reason: &'static str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i64,
    pub booked: i64,
}

/// The slots from `now` on that lie on a day the tenant's policy closes.
pub async fn closed_slots(
    ctx: &Context,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ClosedSlot>> {
    let policy = ctx.policies.require(tenant)?;
    let mut calendar = OfficeCalendar::for_policy(policy);
    let tz = policy.tenant.zone();
    let filter = SlotFilter {
        service: None,
        from: Some(now),
        to: None,
        limit: i64::MAX,
    };
    Ok(ctx
        .store
        .list_slots(tenant, &filter)
        .await?
        .into_iter()
        .filter_map(|s| {
            let day = s.starts_at.with_timezone(&tz).date_naive();
            if !calendar.is_closed(day) {
                return None;
            }
            let reason = match calendar.day_off(day) {
                Some(DayOff::LocalHoliday) => DayOff::LocalHoliday,
                _ => DayOff::ClosedDay,
            };
            Some(ClosedSlot {
                id: s.id,
                service: s.service,
                day,
                reason: reason.as_str(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                capacity: s.capacity,
                booked: s.booked,
            })
        })
        .collect())
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RemoveClosedReport {
    pub tenant: String,
    /// Slots on closed days found from now on.
    pub found: usize,
    pub slots_deleted: usize,
    pub bookings_cancelled: usize,
    /// Bookings left in place because `--yes` was not given.
    pub bookings_left: usize,
    /// Slots that stay because a booking refers to them (booked, or cancelled and kept
    /// until retention); they are never listed nor bookable.
    pub slots_kept: usize,
}

/// Deletes the free slots from `now` on that lie on days the policy closes; with
/// `cancel_bookings`, first cancels their bookings and queues a notice to each citizen.
/// One store transaction, one audit entry with counts only.
pub async fn remove_closed(
    ctx: &Context,
    tenant: &str,
    cancel_bookings: bool,
    now: DateTime<Utc>,
) -> Result<RemoveClosedReport> {
    let policy = ctx.policies.require(tenant)?;
    let closed = closed_slots(ctx, tenant, now).await?;
    let booked: Vec<i64> = closed
        .iter()
        .filter(|s| s.booked > 0)
        .map(|s| s.id)
        .collect();
    let bookings = if booked.is_empty() {
        Vec::new()
    } else {
        ctx.store.bookings_in_slots(tenant, &booked).await?
    };
    let (cancel, left): (Vec<_>, Vec<_>) = if cancel_bookings {
        // A booking without an e-mail address cannot be told; it is left for the office.
        bookings.iter().partition(|b| b.email.is_some())
    } else {
        (Vec::new(), bookings.iter().collect())
    };
    let removal = SlotRemoval {
        slot_ids: closed.iter().map(|s| s.id).collect(),
        cancel: cancel
            .iter()
            .map(|b| OfficeCancellation {
                booking_id: b.booking_id,
                slot_id: b.slot_id,
                notification: cancellation_notice(policy, b),
            })
            .collect(),
        action: "slots.remove_closed".into(),
    };
    let done = if closed.is_empty() {
        Default::default()
    } else {
        ctx.store
            .remove_slots(tenant, &removal, &ctx.audit())
            .await?
    };
    Ok(RemoveClosedReport {
        tenant: tenant.to_owned(),
        found: closed.len(),
        slots_deleted: done.slots_deleted,
        bookings_cancelled: done.bookings_cancelled,
        bookings_left: left.len() + cancel.len() - done.bookings_cancelled,
        slots_kept: done.slots_kept,
    })
}

/// The e-mail that tells the citizen the office cancelled the appointment.
fn cancellation_notice(policy: &Policy, b: &SlotBooking) -> NewNotification {
    let facts = super::booking::MessageFacts {
        first_name: b.first_name.as_deref().unwrap_or_default(),
        last_name: b.last_name.as_deref().unwrap_or_default(),
        email: b.email.as_deref().unwrap_or_default(),
        phone: None,
        service_name: &b.service_name,
        starts_at: b.starts_at,
        reference: &b.reference,
    };
    let (subject, body) = cancellation_text(policy, &facts);
    NewNotification {
        channel: "email",
        kind: "cancellation",
        recipient: b.email.clone().unwrap_or_default(),
        subject,
        body,
        send_after: None,
    }
}

/// (subject, body) of the cancellation of an appointment on a day the office closed.
pub(super) fn cancellation_text(
    policy: &Policy,
    f: &super::booking::MessageFacts<'_>,
) -> (Option<String>, String) {
    let t = &policy.tenant;
    let when = appointment_de(t.zone(), f.starts_at);
    let name = [f.first_name, f.last_name]
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (
        Some(format!(
            "Absage Ihres Termins: {} am {when}",
            f.service_name
        )),
        format!(
            "Guten Tag {name},\n\nIhren Termin bei {} müssen wir leider absagen, weil die Verwaltung an \
             diesem Tag geschlossen ist:\n\n  {}\n  {when}\n  Buchungsnummer: {}\n\n\
             Bitte buchen Sie einen neuen Termin. Wir bitten um Entschuldigung.\n\n{}\n{}\n",
            t.name, f.service_name, f.reference, t.name, t.address
        ),
    )
}
