//! Planning: the demo window, the capacity of new slots, each tenant's services and slots,
//! and how the bookings are spread over tenants and free places.

use super::embedded::TenantData;
use super::rng::Rng;
use super::{Context, DAYS_AHEAD, DAYS_BACK, HEADROOM, Refusal, TenantDemo};
use crate::domain::office_days::OfficeCalendar;
use crate::domain::policy::Policy;
use crate::domain::slots::{self, MAX_CAPACITY, SlotPattern};
use crate::ops::seeding::{self, GenerateRequest};
use crate::store::{OpenSlot, SlotFilter};
use anyhow::Result;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use std::collections::HashMap;

/// A tenant's slots in the demo window, ready to book.
pub(super) struct TenantPlan {
    pub(super) slug: String,
    pub(super) from: NaiveDate,
    pub(super) to: NaiveDate,
    pub(super) slots: Vec<OpenSlot>,
}

/// The days of the demo's slots in the tenant's zone: DAYS_BACK before today to DAYS_AHEAD after.
pub(super) fn window(policy: &Policy, now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let today = now.with_timezone(&policy.tenant.zone()).date_naive();
    (
        today - Duration::days(DAYS_BACK),
        today + Duration::days(DAYS_AHEAD),
    )
}

/// Citizens per new slot so that `bookings` fit HEADROOM times over; refused when even the
/// largest capacity cannot hold them.
pub(super) fn capacity_for(
    policy: &Policy,
    tenant: &TenantData,
    bookings: u64,
    now: DateTime<Utc>,
) -> Result<i64, Refusal> {
    let (from, to) = window(policy, now);
    let mut calendar = OfficeCalendar::for_policy(policy);
    let mut slot_count: u64 = 0;
    for service in &tenant.services {
        for (weekdays, times) in &tenant.hours {
            let pattern = SlotPattern {
                from,
                to,
                weekdays: *weekdays,
                times: times.clone(),
                every_minutes: service.duration_minutes,
                duration_minutes: service.duration_minutes,
                capacity: 1,
            };
            slot_count += pattern
                .generate(policy.tenant.zone(), |day| calendar.day_off(day))
                .slots
                .len() as u64;
        }
    }
    if bookings > slot_count * MAX_CAPACITY as u64 {
        return Err(Refusal::InvalidInput(format!(
            "--bookings: {bookings} bookings at {} do not fit into its {slot_count} demo slots \
             of at most {MAX_CAPACITY} citizens each; ask for fewer",
            policy.tenant.slug
        )));
    }
    Ok(((bookings as f64 * HEADROOM) / slot_count.max(1) as f64)
        .ceil()
        .clamp(1.0, MAX_CAPACITY as f64) as i64)
}

/// Imports the tenant's services and opens its slots with `capacity` citizens each.
pub(super) async fn open_tenant(
    ctx: &Context,
    policy: &Policy,
    tenant: &TenantData,
    capacity: i64,
    now: DateTime<Utc>,
) -> Result<(TenantDemo, TenantPlan)> {
    let slug = policy.tenant.slug.clone();
    let tz = policy.tenant.zone();
    let (from, to) = window(policy, now);
    let imported = ctx
        .store
        .import_services(&slug, &tenant.services, &ctx.audit())
        .await?;

    let mut report = TenantDemo {
        tenant: slug.clone(),
        services_created: imported.created,
        services: tenant.services.len(),
        from: Some(from),
        to: Some(to),
        ..Default::default()
    };
    for service in &tenant.services {
        for (weekdays, times) in &tenant.hours {
            let r = seeding::generate_slots(
                ctx,
                &slug,
                &GenerateRequest {
                    service: service.code.clone(),
                    from,
                    to,
                    weekdays: *weekdays,
                    times: times.clone(),
                    every_minutes: None,
                    capacity,
                    include_holidays: false,
                },
            )
            .await?;
            report.slots_created += r.created;
            report.slots_existing += r.existing;
            report.holidays_skipped = report.holidays_skipped.max(r.holidays_skipped);
        }
    }

    let names: HashMap<String, String> = ctx
        .store
        .list_services(&slug)
        .await?
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    let day_start = |d: NaiveDate| slots::local_instant(tz, d.and_time(NaiveTime::MIN));
    let filter = SlotFilter {
        service: None,
        from: day_start(from),
        to: to.succ_opt().and_then(day_start),
        limit: i64::MAX,
    };
    let slots: Vec<OpenSlot> = ctx
        .store
        .list_slots(&slug, &filter)
        .await?
        .into_iter()
        .map(|s| OpenSlot {
            id: s.id,
            service_name: names.get(&s.service).cloned().unwrap_or_default(),
            service_code: s.service,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            capacity: s.capacity,
            booked: s.booked,
        })
        .collect();
    // Slots of an earlier run keep the capacity they were opened with.
    report.capacity = slots.iter().map(|s| s.capacity).max().unwrap_or(capacity);
    Ok((
        report,
        TenantPlan {
            slug,
            from,
            to,
            slots,
        },
    ))
}

/// Splits `total` by the shares, largest remainders first, so the parts add up exactly.
pub(super) fn split_by_share(total: u64, shares: &[u32]) -> Vec<u64> {
    let sum: u64 = shares.iter().map(|&s| u64::from(s)).sum::<u64>().max(1);
    let exact: Vec<u128> = shares
        .iter()
        .map(|&s| u128::from(total) * u128::from(s))
        .collect();
    let mut parts: Vec<u64> = exact.iter().map(|e| (e / u128::from(sum)) as u64).collect();
    let mut rest = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(exact[i] % u128::from(sum)));
    for i in order {
        if rest == 0 {
            break;
        }
        parts[i] += 1;
        rest -= 1;
    }
    parts
}

/// How many of `n` bookings go to each slot: evenly over the free places (systematic
/// sampling with a random start), exactly `n` in all and never more than a slot's free places.
pub(super) fn allocate(free: &[i64], n: u64, rng: &mut Rng) -> Vec<u64> {
    let total: u128 = free.iter().map(|&f| f.max(0) as u128).sum();
    if total == 0 || n == 0 {
        return vec![0; free.len()];
    }
    let n = u128::from(n).min(total);
    let offset = u128::from(rng.below(u64::try_from(total).unwrap_or(u64::MAX)));
    let mut acc: u128 = 0;
    let mut before = offset / total;
    free.iter()
        .map(|&f| {
            acc += f.max(0) as u128 * n;
            let upto = (acc + offset) / total;
            let count = upto - before;
            before = upto;
            count as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::demo::rng::Stream;

    #[test]
    fn bookings_are_spread_over_the_free_places_exactly_and_never_overfill_a_slot() {
        let mut rng = Rng::derive(1, Stream::Allocation, 0);
        let free = [3, 0, 5, 1, 2, 4, 0, 7];
        for n in [0, 1, 5, 11, 22] {
            let counts = allocate(&free, n, &mut rng);
            assert_eq!(counts.iter().sum::<u64>(), n);
            assert!(counts.iter().zip(free).all(|(&c, f)| c <= f as u64));
        }
        assert_eq!(split_by_share(100, &[60, 28, 12]), vec![60, 28, 12]);
        assert_eq!(split_by_share(10, &[60, 28, 12]).iter().sum::<u64>(), 10);
        assert_eq!(split_by_share(1, &[1, 1, 1]).iter().sum::<u64>(), 1);
    }
}
