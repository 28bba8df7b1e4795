//! `demo`: a database a new user can explore at once — the policies' tenants with Bürgerbüro
//! services, slots around today and realistic fake bookings made through the booking path.
//!
//! Every booking is a form validated against the tenant's policy and prepared by
//! [`super::booking::prepare`], exactly as the endpoint does it, then handed to the store in
//! batches. The fake people come from a seeded generator of our own, so a seed gives the same
//! people on every machine; e-mail addresses use only reserved example domains (RFC 2606).

use super::booking::{PreparedBooking, REFERENCE_ATTEMPTS, prepare};
use super::seeding::{self, GenerateRequest};
use super::{Context, Refusal};
use crate::domain::audit::AuditEvent;
use crate::domain::booking::{self, BookingForm, FormFields};
use crate::domain::holidays::HolidayCalendar;
use crate::domain::policy::Policy;
use crate::domain::service::{NewService, parse_service};
use crate::domain::slots::{self, MAX_CAPACITY, SlotPattern, TimeRange, WeekdaySet};
use crate::domain::subject::PseudonymKey;
use crate::store::{AccessLogEntry, BookingRefusal, NewBooking, OpenSlot, SlotFilter, Store};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The seed used when none is given: the same people on every fresh demo database.
pub const DEFAULT_SEED: u64 = 20_261_121;
/// Slots are opened this many days before today (past appointments for retention) …
pub const DAYS_BACK: i64 = 90;
/// … and this many days after it (future appointments to book, cancel and erase).
pub const DAYS_AHEAD: i64 = 30;
/// At most this many page views per booking.
pub const MAX_PAGE_VIEWS: u32 = 20;
/// Bookings per call of [`Store::book`]: one transaction each.
const BATCH: usize = 2_000;
/// Slots get room for this many times the bookings planned, so a second demo run of the
/// same size still fits and citizens find free places in `serve`.
const HEADROOM: f64 = 2.5;
/// Share of bookings made by someone who booked before (possibly at another tenant).
const REPEAT_SHARE: f64 = 0.05;
/// Share of bookings the citizen cancels later with the booking code.
const CANCEL_SHARE: f64 = 0.04;
/// Shares of people who give the voluntary details where the form asks for them.
const ADDRESS_SHARE: f64 = 0.6;
const BIRTH_DATE_SHARE: f64 = 0.5;
const SMS_SHARE: f64 = 0.4;
/// The site the fake browsers came from, for referrers (a reserved name).
const SITE: &str = "https://termine.example";
/// E-mail domains: reserved for examples (RFC 2606), so no demo mail can reach anyone.
pub const EMAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "post.example",
    "web.example",
];
/// German mobile prefixes (as typed, with the trunk 0).
const MOBILE_PREFIXES: &[&str] = &[
    "0151", "0152", "0157", "0160", "0162", "0170", "0171", "0172", "0175", "0176", "0177", "0179",
];

/// What `demo` is asked for.
#[derive(Clone, Debug)]
pub struct DemoRequest {
    pub bookings: u64,
    /// Access-log rows of page views per booking, besides the booking's own request.
    pub page_views: u32,
    pub seed: u64,
}

/// Where a long run stands; the CLI draws a progress bar from it.
pub trait Progress: Send + Sync {
    /// A new phase of `total` steps.
    fn phase(&self, name: &str, total: u64);
    fn advance(&self, steps: u64);
}

/// No progress shown (tests, scripts).
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TenantDemo {
    pub tenant: String,
    pub services_created: usize,
    pub services: usize,
    /// First and last day of the slots (the tenant's local dates).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub slots_created: usize,
    pub slots_existing: usize,
    pub holidays_skipped: usize,
    /// Citizens per newly opened slot.
    pub capacity: i64,
    pub bookings: u64,
    /// Bookings whose appointment has begun (`past`) or lies ahead (`future`).
    pub past: u64,
    pub future: u64,
    pub cancelled: u64,
    pub sms_reminders: u64,
    pub consents: u64,
    pub notifications: u64,
    /// Rows of the booking requests and of the page views before them.
    pub access_log: u64,
    /// Refused by the store (a slot filled up meanwhile, e.g. by a running `serve`).
    pub refused: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DemoTotals {
    pub services_created: usize,
    pub slots_created: usize,
    pub bookings: u64,
    pub past: u64,
    pub future: u64,
    pub cancelled: u64,
    pub consents: u64,
    pub notifications: u64,
    pub access_log: u64,
    pub refused: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    pub seed: u64,
    pub bookings_requested: u64,
    pub page_views_per_booking: u32,
    pub migrations_applied: usize,
    pub tenants_created: usize,
    /// Bookings the database held before this run; the demo adds to them.
    pub bookings_before: i64,
    pub tenants: Vec<TenantDemo>,
    pub totals: DemoTotals,
    /// Distinct fake people who booked in this run.
    pub persons: u64,
    pub persons_with_several_bookings: u64,
    pub persons_at_several_tenants: u64,
    pub seconds: f64,
}

/// Builds the demo database: migrates, syncs the tenants, imports services, opens slots and
/// books `req.bookings` fake citizens. On a database with bookings it adds more into the free
/// places; when they do not fit it refuses before booking anything.
pub async fn run(ctx: &Context, req: &DemoRequest, progress: &dyn Progress) -> Result<DemoReport> {
    let started = std::time::Instant::now();
    if req.page_views > MAX_PAGE_VIEWS {
        return Err(Refusal::InvalidInput(format!(
            "--page-views {}: at most {MAX_PAGE_VIEWS}",
            req.page_views
        ))
        .into());
    }
    let data = DemoData::embedded();
    let migration = super::migrate(ctx).await?;
    let synced = seeding::sync_tenants(ctx).await?;
    let bookings_before: i64 = ctx
        .store
        .list_tenants()
        .await?
        .iter()
        .map(|t| t.bookings)
        .sum();
    let now = crate::domain::time::now();
    let key = ctx.store.pseudonym_key().await?;

    let policies: Vec<&Policy> = ctx.policies.entries.iter().map(|e| &e.policy).collect();
    let demo_tenants: Vec<TenantData> = policies
        .iter()
        .map(|p| data.for_tenant(&p.tenant.slug, &p.tenant.address))
        .collect();
    let planned = split_by_share(
        req.bookings,
        &demo_tenants.iter().map(|t| t.share).collect::<Vec<_>>(),
    );

    let capacities = policies
        .iter()
        .zip(&demo_tenants)
        .zip(&planned)
        .map(|((policy, tenant), &n)| capacity_for(policy, tenant, n, now))
        .collect::<Result<Vec<_>, _>>()?;

    progress.phase("services and slots", policies.len() as u64);
    let mut reports = Vec::new();
    let mut plans = Vec::new();
    for ((policy, tenant), &capacity) in policies.iter().zip(&demo_tenants).zip(&capacities) {
        let (report, plan) = open_tenant(ctx, policy, tenant, capacity, now).await?;
        reports.push(report);
        plans.push(plan);
        progress.advance(1);
    }
    for (plan, &n) in plans.iter().zip(&planned) {
        let free: i64 = plan.slots.iter().map(|s| s.free()).sum();
        if (free as u64) < n {
            return Err(Refusal::InvalidInput(format!(
                "--bookings {}: tenant {} has {free} free places from {} to {} but {n} of the bookings go there \
                 (slots of earlier demo runs keep their capacity); use a fresh database or fewer bookings",
                req.bookings, plan.slug, plan.from, plan.to
            ))
            .into());
        }
    }

    tracing::info!(
        "demo: services and slots ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    progress.phase("bookings", req.bookings);
    let mut people = Customers::new(req.seed);
    let mut writer = Writer::new(ctx.store.clone(), key.clone());
    let mut booking_index: u64 = 0;
    for (t, (plan, &n)) in plans.iter().zip(&planned).enumerate() {
        let policy = policies[t];
        let tz = policy.tenant.zone();
        let mut rng = Rng::derive(req.seed, Stream::Allocation, t as u64);
        let counts = allocate(
            &plan.slots.iter().map(|s| s.free()).collect::<Vec<_>>(),
            n,
            &mut rng,
        );
        let citizens = Citizens {
            data: &data,
            seed: req.seed,
            key: &key,
            now,
            page_views: req.page_views,
            policy,
            fields: FormFields::of(policy),
            tz,
            today: now.with_timezone(&tz).date_naive(),
        };
        let mut batch = Batch::new(t, &plan.slug);
        for (slot, &count) in plan.slots.iter().zip(&counts) {
            for _ in 0..count {
                let (person_id, home) = people.next(t);
                let person = FakePerson::new(&data, req.seed, person_id, &demo_tenants[home]);
                citizens.book(&mut batch, slot, person_id, &person, booking_index)?;
                booking_index += 1;
                if batch.bookings.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Batch::new(t, &plan.slug));
                    writer
                        .send(full, &mut reports, &mut people, progress)
                        .await?;
                }
            }
        }
        if !batch.bookings.is_empty() {
            writer
                .send(batch, &mut reports, &mut people, progress)
                .await?;
        }
    }
    writer.finish(&mut reports, &mut people, progress).await?;
    tracing::info!(
        "demo: {} bookings written after {:.1} s",
        req.bookings,
        started.elapsed().as_secs_f64()
    );

    let audit = ctx.audit();
    for r in &reports {
        let event = AuditEvent::new(
            "demo.bookings",
            serde_json::json!({
                "bookings": r.bookings,
                "cancelled": r.cancelled,
                "access_log": r.access_log,
                "seed": req.seed,
            }),
        )
        .tenant(&r.tenant);
        ctx.store.record_audit(event, &audit).await?;
    }

    let mut totals = DemoTotals::default();
    for r in &reports {
        totals.services_created += r.services_created;
        totals.slots_created += r.slots_created;
        totals.bookings += r.bookings;
        totals.past += r.past;
        totals.future += r.future;
        totals.cancelled += r.cancelled;
        totals.consents += r.consents;
        totals.notifications += r.notifications;
        totals.access_log += r.access_log;
        totals.refused += r.refused;
    }
    let (persons, several, at_several_tenants) = people.counts();
    Ok(DemoReport {
        seed: req.seed,
        bookings_requested: req.bookings,
        page_views_per_booking: req.page_views,
        migrations_applied: migration.applied.len(),
        tenants_created: synced.created.len(),
        bookings_before,
        tenants: reports,
        totals,
        persons,
        persons_with_several_bookings: several,
        persons_at_several_tenants: at_several_tenants,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Makes the bookings of one tenant the way the endpoint does: the form as the citizen
/// fills it in, validated against the policy and prepared by [`prepare`].
struct Citizens<'a> {
    data: &'a DemoData,
    seed: u64,
    key: &'a crate::domain::subject::PseudonymKey,
    now: DateTime<Utc>,
    page_views: u32,
    policy: &'a Policy,
    fields: FormFields,
    tz: Tz,
    today: NaiveDate,
}

impl Citizens<'_> {
    /// Adds the booking number `index` of this run, by `person` in `slot`, to the batch.
    fn book(
        &self,
        batch: &mut Batch,
        slot: &OpenSlot,
        person_id: u32,
        person: &FakePerson,
        index: u64,
    ) -> Result<()> {
        let slug = &self.policy.tenant.slug;
        let mut rng = Rng::derive(self.seed, Stream::Booking, index);
        let form = person.form(slot.id, &self.fields, &mut rng);
        let mut visit = Visit::new(rng, self.data, person, slot, self.now);
        let valid = booking::validate(self.policy, &form, self.today).map_err(|errors| {
            // Field names only: the values are (fake) personal data.
            anyhow::anyhow!(
                "demo data does not fit the policy of {slug}: {}",
                errors.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let sms = valid.sms_reminder;
        let consents = valid.consents.len() as u64;
        let access = visit.booking_request(slug, self.tz, slot);
        let prepared = prepare(
            self.policy,
            self.key,
            valid,
            slot,
            visit.booked_at,
            Some(access),
        );
        batch.page_views.extend(visit.page_views(
            slug,
            self.tz,
            slot,
            self.policy,
            self.page_views,
        ));
        batch.meta.push(Meta {
            person: person_id,
            consents,
            notifications: prepared.booking.notifications.len() as u64,
            sms,
            future: slot.starts_at > self.now,
            cancel_at: visit.cancel_at,
            code: prepared.code,
        });
        batch.bookings.push(prepared.booking);
        Ok(())
    }
}

/// A tenant's slots in the demo window, ready to book.
struct TenantPlan {
    slug: String,
    from: NaiveDate,
    to: NaiveDate,
    slots: Vec<OpenSlot>,
}

/// The days of the demo's slots in the tenant's zone: DAYS_BACK before today to DAYS_AHEAD after.
fn window(policy: &Policy, now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let today = now.with_timezone(&policy.tenant.zone()).date_naive();
    (
        today - Duration::days(DAYS_BACK),
        today + Duration::days(DAYS_AHEAD),
    )
}

/// Citizens per new slot so that `bookings` fit HEADROOM times over; refused when even the
/// largest capacity cannot hold them.
fn capacity_for(
    policy: &Policy,
    tenant: &TenantData,
    bookings: u64,
    now: DateTime<Utc>,
) -> Result<i64, Refusal> {
    let (from, to) = window(policy, now);
    let mut calendar = HolidayCalendar::new(&policy.tenant.region)
        .map_err(|e| Refusal::InvalidInput(e.to_string()))?;
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
                .generate(policy.tenant.zone(), Some(&mut calendar))
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
async fn open_tenant(
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
fn split_by_share(total: u64, shares: &[u32]) -> Vec<u64> {
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
fn allocate(free: &[i64], n: u64, rng: &mut Rng) -> Vec<u64> {
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

// ---------------------------------------------------------------------------------------
// Writing: batches go to the store while the next one is prepared.

struct Meta {
    person: u32,
    consents: u64,
    notifications: u64,
    sms: bool,
    future: bool,
    cancel_at: Option<DateTime<Utc>>,
    /// The booking code the citizen got (to book again under a new reference).
    code: String,
}

struct Batch {
    tenant: usize,
    slug: String,
    bookings: Vec<NewBooking>,
    meta: Vec<Meta>,
    page_views: Vec<AccessLogEntry>,
}

impl Batch {
    fn new(tenant: usize, slug: &str) -> Self {
        Self {
            tenant,
            slug: slug.to_owned(),
            bookings: Vec::with_capacity(BATCH),
            meta: Vec::with_capacity(BATCH),
            page_views: Vec::new(),
        }
    }
}

struct Written {
    batch: Batch,
    booked: Vec<bool>,
    cancelled: Vec<bool>,
}

/// Books a batch in one transaction, logs its page views, then cancels what the citizens
/// cancel — with the code hash, as `DELETE /api/v1/bookings/{reference}` does.
async fn write(store: Arc<dyn Store>, key: PseudonymKey, mut batch: Batch) -> Result<Written> {
    let mut results = store
        .book(&batch.slug, &batch.bookings)
        .await
        .with_context(|| format!("booking demo citizens at {}", batch.slug))?;
    // A reference drawn twice (50 random bits, so about once in a few million bookings):
    // those citizens book again under new references, as the endpoint does.
    for _ in 1..REFERENCE_ATTEMPTS {
        let again: Vec<usize> = (0..results.len())
            .filter(|&i| matches!(results[i], Err(BookingRefusal::ReferenceTaken)))
            .collect();
        if again.is_empty() {
            break;
        }
        for &i in &again {
            let mut p = PreparedBooking {
                booking: batch.bookings[i].clone(),
                code: std::mem::take(&mut batch.meta[i].code),
            };
            p.renew(&key);
            batch.bookings[i] = p.booking;
            batch.meta[i].code = p.code;
        }
        let retry: Vec<NewBooking> = again.iter().map(|&i| batch.bookings[i].clone()).collect();
        let retried = store
            .book(&batch.slug, &retry)
            .await
            .with_context(|| format!("booking demo citizens at {}", batch.slug))?;
        for (&i, r) in again.iter().zip(retried) {
            results[i] = r;
        }
    }
    if !batch.page_views.is_empty() {
        store
            .log_access(&batch.page_views)
            .await
            .context("logging the demo page views")?;
    }
    let booked: Vec<bool> = results.iter().map(Result::is_ok).collect();
    let mut cancelled = vec![false; booked.len()];
    for (i, b) in batch.bookings.iter().enumerate() {
        if let (true, Some(at)) = (booked[i], batch.meta[i].cancel_at) {
            cancelled[i] = store
                .cancel_booking(&b.reference, &b.code_hash, at)
                .await
                .context("cancelling a demo booking")?
                .is_ok();
        }
    }
    // The rows are written; keep only what the report counts.
    batch.bookings = Vec::new();
    Ok(Written {
        batch,
        booked,
        cancelled,
    })
}

/// Keeps a few batches in flight: the store writes one while the next is prepared. SQLite
/// has one writer anyway; PostgreSQL writes several at once.
struct Writer {
    store: Arc<dyn Store>,
    key: PseudonymKey,
    in_flight: VecDeque<tokio::task::JoinHandle<Result<Written>>>,
    max_in_flight: usize,
}

impl Writer {
    fn new(store: Arc<dyn Store>, key: PseudonymKey) -> Self {
        let max_in_flight = match store.backend() {
            crate::store::Backend::Sqlite => 1,
            crate::store::Backend::Postgres => 4,
        };
        Self {
            store,
            key,
            in_flight: VecDeque::new(),
            max_in_flight,
        }
    }

    async fn send(
        &mut self,
        batch: Batch,
        reports: &mut [TenantDemo],
        people: &mut Customers,
        progress: &dyn Progress,
    ) -> Result<()> {
        while self.in_flight.len() >= self.max_in_flight {
            self.collect_one(reports, people, progress).await?;
        }
        self.in_flight.push_back(tokio::spawn(write(
            self.store.clone(),
            self.key.clone(),
            batch,
        )));
        Ok(())
    }

    async fn finish(
        &mut self,
        reports: &mut [TenantDemo],
        people: &mut Customers,
        progress: &dyn Progress,
    ) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.collect_one(reports, people, progress).await?;
        }
        Ok(())
    }

    async fn collect_one(
        &mut self,
        reports: &mut [TenantDemo],
        people: &mut Customers,
        progress: &dyn Progress,
    ) -> Result<()> {
        let Some(handle) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let written = match handle.await.context("a demo writer task failed")? {
            Ok(w) => w,
            Err(e) => {
                for h in self.in_flight.drain(..) {
                    h.abort();
                }
                return Err(e);
            }
        };
        let r = &mut reports[written.batch.tenant];
        r.access_log += written.batch.page_views.len() as u64;
        for ((m, &ok), &cancelled) in written
            .batch
            .meta
            .iter()
            .zip(&written.booked)
            .zip(&written.cancelled)
        {
            if !ok {
                r.refused += 1;
                continue;
            }
            people.booked(m.person, written.batch.tenant);
            r.bookings += 1;
            if m.future {
                r.future += 1;
            } else {
                r.past += 1;
            }
            r.cancelled += u64::from(cancelled);
            r.sms_reminders += u64::from(m.sms);
            r.consents += m.consents;
            r.notifications += m.notifications;
            r.access_log += 1;
        }
        progress.advance(written.booked.len() as u64);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Randomness: splitmix64, small and the same everywhere, so a seed gives the same people.

#[derive(Clone, Copy)]
enum Stream {
    Person = 1,
    Customers = 2,
    Booking = 3,
    Allocation = 4,
}

#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// An independent generator for one item (a person, a booking) of one stream.
    fn derive(seed: u64, stream: Stream, index: u64) -> Self {
        let mut r = Rng(seed ^ (stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let base = r.next();
        Rng(base ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (lo < hi).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// The index of an item drawn by weight.
    fn weighted<T>(&mut self, items: &[(u32, T)]) -> usize {
        let total: u64 = items.iter().map(|(w, _)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (i, (w, _)) in items.iter().enumerate() {
            if x < u64::from(*w) {
                return i;
            }
            x -= u64::from(*w);
        }
        items.len() - 1
    }
}

// ---------------------------------------------------------------------------------------
// The embedded data.

const FIRST_NAMES: &str = include_str!("demo_data/first_names.txt");
const LAST_NAMES: &str = include_str!("demo_data/last_names.txt");
const SERVICES: &str = include_str!("demo_data/services.csv");
const TENANTS: &str = include_str!("demo_data/tenants.csv");
const STREETS: &str = include_str!("demo_data/streets.csv");
const BROWSERS: &str = include_str!("demo_data/browsers.csv");
const LANGUAGES: &str = include_str!("demo_data/languages.csv");

type Hours = Vec<(WeekdaySet, Vec<TimeRange>)>;

#[derive(Clone, Debug)]
struct Browser {
    name: String,
    version: String,
    os: String,
}

struct DemoData {
    first_names: Vec<&'static str>,
    last_names: Vec<&'static str>,
    /// (tenant or "*", row) for each file.
    services: Vec<(String, NewService)>,
    tenants: Vec<(String, u32, Hours)>,
    streets: Vec<(String, String, String, String)>,
    browsers: Vec<(u32, Browser)>,
    languages: Vec<(u32, String)>,
}

/// What one tenant gets: its share of the bookings, office hours, services and streets.
struct TenantData {
    share: u32,
    hours: Hours,
    services: Vec<NewService>,
    /// (postcode, town, street)
    streets: Vec<(String, String, String)>,
}

fn lines(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn csv_rows(text: &'static str) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("embedded demo CSV is well-formed (unit-tested)"))
        .collect()
}

fn parse_hours(text: &str) -> Result<Hours, String> {
    text.split(';')
        .map(|block| {
            let (days, times) = block
                .trim()
                .split_once(' ')
                .ok_or_else(|| format!("\"{block}\" is not \"WEEKDAYS TIMES\""))?;
            Ok((days.parse()?, slots::parse_time_ranges(times)?))
        })
        .collect()
}

impl DemoData {
    /// The data shipped in the binary; a unit test proves it parses.
    fn embedded() -> Self {
        let services = csv_rows(SERVICES)
            .iter()
            .map(|r| {
                let s = parse_service(&r[1], &r[2], &r[3])
                    .expect("embedded demo services are valid (unit-tested)");
                (r[0].to_owned(), s)
            })
            .collect();
        let tenants = csv_rows(TENANTS)
            .iter()
            .map(|r| {
                (
                    r[0].to_owned(),
                    r[1].parse().expect("embedded share is a number"),
                    parse_hours(&r[2]).expect("embedded office hours are valid (unit-tested)"),
                )
            })
            .collect();
        let streets = csv_rows(STREETS)
            .iter()
            .map(|r| {
                (
                    r[0].to_owned(),
                    r[1].to_owned(),
                    r[2].to_owned(),
                    r[3].to_owned(),
                )
            })
            .collect();
        let browsers = csv_rows(BROWSERS)
            .iter()
            .map(|r| {
                (
                    r[0].parse().expect("embedded weight is a number"),
                    Browser {
                        name: r[1].to_owned(),
                        version: r[2].to_owned(),
                        os: r[3].to_owned(),
                    },
                )
            })
            .collect();
        let languages = csv_rows(LANGUAGES)
            .iter()
            .map(|r| {
                (
                    r[0].parse().expect("embedded weight is a number"),
                    r[1].to_owned(),
                )
            })
            .collect();
        Self {
            first_names: lines(FIRST_NAMES),
            last_names: lines(LAST_NAMES),
            services,
            tenants,
            streets,
            browsers,
            languages,
        }
    }

    /// The rows of `slug`, or of `*` for a tenant the demo data does not know.
    fn for_tenant(&self, slug: &str, tenant_address: &str) -> TenantData {
        // A file that does not list the tenant gives it the rows of "*".
        let of = |listed: bool| if listed { slug } else { "*" };
        let k = of(self.tenants.iter().any(|(t, _, _)| t == slug));
        let (_, share, hours) = self
            .tenants
            .iter()
            .find(|(t, _, _)| t == k)
            .expect("the demo tenants have a \"*\" row");
        let k = of(self.services.iter().any(|(t, _)| t == slug));
        let services = self
            .services
            .iter()
            .filter(|(t, _)| t == k)
            .map(|(_, s)| s.clone())
            .collect();
        let own: Vec<_> = self.streets.iter().filter(|s| s.0 == slug).collect();
        let streets = if own.is_empty() {
            // Streets of nowhere in particular, in the tenant's own postcode and town.
            match postcode_and_town(tenant_address) {
                Some((code, town)) => self
                    .streets
                    .iter()
                    .filter(|s| s.0 == "*")
                    .map(|s| (code.clone(), town.clone(), s.3.clone()))
                    .collect(),
                None => Vec::new(),
            }
        } else {
            own.into_iter()
                .map(|s| (s.1.clone(), s.2.clone(), s.3.clone()))
                .collect()
        };
        TenantData {
            share: *share,
            hours: hours.clone(),
            services,
            streets,
        }
    }
}

/// "45739 Oer-Erkenschwick" from "Rathausplatz 1, 45739 Oer-Erkenschwick".
fn postcode_and_town(address: &str) -> Option<(String, String)> {
    let last = address.rsplit(',').next()?.trim();
    let (code, town) = last.split_once(' ')?;
    (code.len() == 5 && code.chars().all(|c| c.is_ascii_digit()) && !town.trim().is_empty())
        .then(|| (code.to_owned(), town.trim().to_owned()))
}

// ---------------------------------------------------------------------------------------
// The fake people.

/// One fake citizen, the same for the same seed and number.
struct FakePerson {
    first_name: &'static str,
    last_name: &'static str,
    email: String,
    /// As the person types it; the booking path normalizes it.
    mobile: String,
    address: Option<String>,
    birth_date: NaiveDate,
    gives_address: bool,
    gives_birth_date: bool,
    wants_sms: bool,
    browser: usize,
    language: usize,
}

/// E-mail local parts are made of a-z, '.', '-' and '_': umlauts and ß spelled out.
fn ascii_for_email(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'a'..='z' | '-' => out.push(c),
            'á' | 'à' | 'â' | 'ą' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' | 'ę' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' | 'ı' => out.push('i'),
            'ó' | 'ò' | 'ô' => out.push('o'),
            'ú' | 'ù' | 'û' => out.push('u'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ş' | 'ś' | 'š' => out.push('s'),
            'ğ' => out.push('g'),
            'ł' => out.push('l'),
            'ń' => out.push('n'),
            'ż' | 'ź' | 'ž' => out.push('z'),
            'đ' => out.push('d'),
            _ => {}
        }
    }
    out
}

impl FakePerson {
    fn new(data: &DemoData, seed: u64, id: u32, home: &TenantData) -> Self {
        let mut rng = Rng::derive(seed, Stream::Person, u64::from(id));
        let first_name = *rng.pick(&data.first_names);
        let last_name = *rng.pick(&data.last_names);
        let (f, l) = (ascii_for_email(first_name), ascii_for_email(last_name));
        let local = match rng.below(6) {
            0 | 1 => format!("{f}.{l}"),
            2 => format!("{}.{l}", &f[..1.min(f.len())]),
            3 => format!("{f}{l}"),
            4 => format!("{l}.{f}"),
            _ => format!("{f}_{l}"),
        };
        // The number makes every address unique: the local part before it has no digits.
        let domain = rng.pick(EMAIL_DOMAINS);
        let email = format!("{local}{}@{domain}", u64::from(id) + 1);
        let prefix = rng.pick(MOBILE_PREFIXES);
        let digits = if rng.chance(0.5) { 7 } else { 8 };
        let number: String = (0..digits)
            .map(|i| {
                let d = if i == 0 {
                    rng.between(1, 10)
                } else {
                    rng.between(0, 10)
                };
                char::from(b'0' + d as u8)
            })
            .collect();
        let mobile = match rng.below(5) {
            0 => format!("{prefix} {number}"),
            1 => format!("{prefix}/{number}"),
            2 => format!("{prefix}-{number}"),
            3 => format!("+49 {} {number}", &prefix[1..]),
            _ => format!("{prefix}{number}"),
        };
        let address = (!home.streets.is_empty()).then(|| {
            let (code, town, street) = rng.pick(&home.streets);
            let letter = match rng.below(12) {
                0 => "a",
                1 => "b",
                _ => "",
            };
            format!("{street} {}{letter}, {code} {town}", rng.between(1, 120))
        });
        let first = NaiveDate::from_ymd_opt(1940, 1, 1).expect("valid date");
        let last = NaiveDate::from_ymd_opt(2006, 12, 31).expect("valid date");
        let birth_date = first + Duration::days(rng.between(0, (last - first).num_days() + 1));
        Self {
            first_name,
            last_name,
            email,
            mobile,
            address,
            birth_date,
            gives_address: rng.chance(ADDRESS_SHARE),
            gives_birth_date: rng.chance(BIRTH_DATE_SHARE),
            wants_sms: rng.chance(SMS_SHARE),
            browser: rng.weighted(&data.browsers),
            language: rng.weighted(&data.languages),
        }
    }

    /// The form as this person fills it in: what the policy asks for, the voluntary
    /// details as the person likes, the consent box ticked.
    fn form(&self, slot_id: i64, fields: &FormFields, rng: &mut Rng) -> BookingForm {
        BookingForm {
            slot_id: Some(slot_id),
            first_name: Some(self.first_name.to_owned()),
            last_name: Some(self.last_name.to_owned()),
            // Some type their address with a capital letter; it is one person all the same.
            email: Some(if rng.chance(0.1) {
                let mut e = self.email.clone();
                e[..1].make_ascii_uppercase();
                e
            } else {
                self.email.clone()
            }),
            phone: fields.phone.then(|| self.mobile.clone()),
            address: (fields.address && self.gives_address)
                .then(|| self.address.clone())
                .flatten(),
            birth_date: (fields.birth_date && self.gives_birth_date)
                .then(|| self.birth_date.format("%Y-%m-%d").to_string()),
            consent: true,
            sms_reminder: fields.sms_reminder && fields.phone && self.wants_sms,
        }
    }
}

/// Who books next: mostly someone new, sometimes someone who booked before (maybe at
/// another tenant). Remembers where each person booked, for the report.
struct Customers {
    rng: Rng,
    /// Per person: the tenant of the first booking, bookings made, tenants booked at (bits).
    home: Vec<u16>,
    bookings: Vec<u8>,
    tenants: Vec<u64>,
}

impl Customers {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::derive(seed, Stream::Customers, 0),
            home: Vec::new(),
            bookings: Vec::new(),
            tenants: Vec::new(),
        }
    }

    /// The person who books next at `tenant`, and the tenant whose area that person lives in.
    fn next(&mut self, tenant: usize) -> (u32, usize) {
        let repeat = self.rng.chance(REPEAT_SHARE);
        let pick = self.rng.below(self.home.len().max(1) as u64) as usize;
        let id = if repeat && !self.home.is_empty() {
            pick
        } else {
            self.home.push(tenant as u16);
            self.bookings.push(0);
            self.tenants.push(0);
            self.home.len() - 1
        };
        let person = u32::try_from(id).expect("fewer than 4 billion demo people");
        (person, usize::from(self.home[id]))
    }

    fn booked(&mut self, person: u32, tenant: usize) {
        let i = person as usize;
        self.bookings[i] = self.bookings[i].saturating_add(1);
        self.tenants[i] |= 1 << (tenant % 64);
    }

    /// (persons who booked, of them with several bookings, of them at several tenants)
    fn counts(&self) -> (u64, u64, u64) {
        let persons = self.bookings.iter().filter(|&&b| b > 0).count() as u64;
        let several = self.bookings.iter().filter(|&&b| b > 1).count() as u64;
        let tenants = self.tenants.iter().filter(|t| t.count_ones() > 1).count() as u64;
        (persons, several, tenants)
    }
}

// ---------------------------------------------------------------------------------------
// The visit: the pages a citizen opens before booking, and the booking request itself,
// as the endpoint's access log records them.

/// The offset of the tenant's zone to UTC at an instant, in minutes (60 or 120 in Germany).
fn offset_minutes(tz: Tz, at: DateTime<Utc>) -> i64 {
    i64::from(at.with_timezone(&tz).offset().fix().local_minus_utc() / 60)
}

/// One request of a visit, as the access log sees it.
struct Request {
    at: DateTime<Utc>,
    method: &'static str,
    path: String,
    status: i64,
    bytes: i64,
    referrer: Option<String>,
}

/// One citizen's visit to the booking pages: when, from which address, with which browser.
struct Visit {
    rng: Rng,
    booked_at: DateTime<Utc>,
    /// When the citizen cancels the booking again, if at all.
    cancel_at: Option<DateTime<Utc>>,
    ip: String,
    browser: Browser,
    language: String,
}

impl Visit {
    fn new(
        mut rng: Rng,
        data: &DemoData,
        person: &FakePerson,
        slot: &OpenSlot,
        now: DateTime<Utc>,
    ) -> Self {
        // Booked up to three weeks ahead; never in the future, never after the slot began.
        let hi = (slot.starts_at - Duration::minutes(30)).min(now);
        let lo = (slot.starts_at - Duration::days(21)).min(hi - Duration::days(7));
        let booked_at = lo + Duration::seconds(rng.between(0, (hi - lo).num_seconds() + 1));
        let cancel_by = (slot.starts_at - Duration::minutes(5)).min(now);
        let cancel_at = (rng.chance(CANCEL_SHARE) && cancel_by > booked_at).then(|| {
            booked_at + Duration::seconds(rng.between(1, (cancel_by - booked_at).num_seconds() + 1))
        });
        // Documentation address ranges only (RFC 5737, RFC 3849): no real client's address.
        let ip = if rng.chance(0.2) {
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                rng.below(0x1_0000),
                rng.below(0x1_0000),
                rng.between(1, 0x1_0000)
            )
        } else {
            let net = *rng.pick(&["192.0.2", "198.51.100", "203.0.113"]);
            format!("{net}.{}", rng.between(1, 255))
        };
        Self {
            rng,
            booked_at,
            cancel_at,
            ip,
            browser: data.browsers[person.browser].1.clone(),
            language: data.languages[person.language].1.clone(),
        }
    }

    fn entry(&self, slug: &str, tz: Tz, request: Request) -> AccessLogEntry {
        AccessLogEntry {
            tenant: Some(slug.to_owned()),
            logged_at: request.at,
            utc_offset_minutes: offset_minutes(tz, request.at),
            ip: self.ip.clone(),
            method: request.method.to_owned(),
            path: request.path,
            status: request.status,
            bytes: request.bytes,
            referrer: request.referrer,
            browser: Some(self.browser.name.clone()),
            browser_version: Some(self.browser.version.clone()),
            operating_system: Some(self.browser.os.clone()),
            language: Some(self.language.clone()),
            booking_id: None,
        }
    }

    /// The form's POST that made the booking (the store links it to the booking).
    fn booking_request(&mut self, slug: &str, tz: Tz, slot: &OpenSlot) -> AccessLogEntry {
        let path = format!("/t/{slug}/buchen/{}", slot.id);
        let request = Request {
            at: self.booked_at,
            method: "POST",
            referrer: Some(format!("{SITE}{path}")),
            path,
            status: 201,
            bytes: self.rng.between(3_200, 4_600),
        };
        self.entry(slug, tz, request)
    }

    /// `count` pages opened before the booking: with few, the form and the slot list;
    /// with more, the tenant's page, the privacy notice and other weeks of the slot list.
    fn page_views(
        &mut self,
        slug: &str,
        tz: Tz,
        slot: &OpenSlot,
        policy: &Policy,
        count: u32,
    ) -> Vec<AccessLogEntry> {
        let list = format!("/t/{slug}/termine?service={}", slot.service_code);
        // (priority, path, bytes from, bytes to), in the order of a visit.
        let mut pages: Vec<(u32, String, i64, i64)> = vec![
            (2, format!("/t/{slug}"), 2_400, 3_600),
            (1, list.clone(), 6_000, 24_000),
            (3, format!("/t/{slug}/datenschutz"), 9_000, 11_000),
        ];
        let local_start = slot.starts_at.with_timezone(&tz).date_naive();
        for week in 1..=count.saturating_sub(4) {
            let day = local_start - Duration::weeks(i64::from(week));
            pages.push((
                3 + week,
                format!("{list}&from={}", day.format("%Y-%m-%d")),
                6_000,
                24_000,
            ));
        }
        pages.push((0, format!("/t/{slug}/buchen/{}", slot.id), 5_200, 7_400));
        let mut chosen: Vec<u32> = pages.iter().map(|p| p.0).collect();
        chosen.sort_unstable();
        chosen.truncate(count as usize);
        pages.retain(|p| chosen.contains(&p.0));

        let mut at = self.booked_at;
        let mut times = Vec::with_capacity(pages.len());
        for _ in &pages {
            at -= Duration::seconds(self.rng.between(20, 300));
            times.push(at);
        }
        times.reverse();
        let mut referrer = policy.tenant.website.clone();
        let mut out = Vec::with_capacity(pages.len());
        for ((_, path, lo, hi), at) in pages.into_iter().zip(times) {
            let next_referrer = Some(format!("{SITE}{path}"));
            let request = Request {
                at,
                method: "GET",
                path,
                status: 200,
                bytes: self.rng.between(lo, hi),
                referrer,
            };
            out.push(self.entry(slug, tz, request));
            referrer = next_referrer;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::parse_policy;
    use std::collections::HashSet;

    fn policy(file: &str) -> Policy {
        let path = format!("{}/policies/{file}", env!("CARGO_MANIFEST_DIR"));
        parse_policy(file, &std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn shipped() -> Vec<Policy> {
        [
            "oer-erkenschwick.toml",
            "recklinghausen.toml",
            "westendorf.toml",
        ]
        .iter()
        .map(|f| policy(f))
        .collect()
    }

    fn instant(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn slot(starts_at: &str) -> OpenSlot {
        let starts_at = instant(starts_at);
        OpenSlot {
            id: 7,
            service_code: "PA".into(),
            service_name: "Personalausweis beantragen".into(),
            starts_at,
            ends_at: starts_at + Duration::minutes(20),
            capacity: 3,
            booked: 0,
        }
    }

    #[test]
    fn the_embedded_data_is_complete_and_every_tenant_has_services_hours_and_streets() {
        let data = DemoData::embedded();
        assert!(data.first_names.len() >= 200 && data.last_names.len() >= 200);
        for names in [&data.first_names, &data.last_names] {
            let distinct: HashSet<_> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "a name appears twice");
            assert!(names.iter().all(|n| !n.chars().any(|c| c.is_ascii_digit())));
        }
        assert!(data.last_names.iter().any(|n| n.contains('ß')));
        assert!(data.last_names.iter().any(|n| n.contains('ü')));
        for p in shipped() {
            let t = data.for_tenant(&p.tenant.slug, &p.tenant.address);
            assert!(t.services.len() >= 5, "{}", p.tenant.slug);
            assert!(!t.hours.is_empty() && !t.streets.is_empty() && t.share > 0);
        }
        let other = data.for_tenant("musterstadt", "Markt 1, 12345 Musterstadt");
        assert_eq!(other.services.len(), 5);
        assert!(
            other
                .streets
                .iter()
                .all(|s| s.0 == "12345" && s.1 == "Musterstadt")
        );
    }

    #[test]
    fn fake_people_pass_the_booking_validation_of_every_shipped_policy() {
        let data = DemoData::embedded();
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let policies = shipped();
        let tenants: Vec<TenantData> = policies
            .iter()
            .map(|p| data.for_tenant(&p.tenant.slug, &p.tenant.address))
            .collect();
        let mut emails = HashSet::new();
        let mut with_address = 0;
        let mut with_sms = 0;
        for id in 0..3_000u32 {
            let home = id as usize % tenants.len();
            let person = FakePerson::new(&data, DEFAULT_SEED, id, &tenants[home]);
            assert!(emails.insert(person.email.clone()), "e-mails are unique");
            let domain = person.email.rsplit_once('@').unwrap().1;
            assert!(EMAIL_DOMAINS.contains(&domain));
            assert!(
                (1940..=2006).contains(&chrono::Datelike::year(&person.birth_date)),
                "birth year"
            );
            for p in &policies {
                let mut rng = Rng::derive(1, Stream::Booking, u64::from(id));
                let form = person.form(9, &FormFields::of(p), &mut rng);
                let valid = booking::validate(p, &form, today)
                    .unwrap_or_else(|e| panic!("{} refuses person {id}: {e:?}", p.tenant.slug));
                with_address += usize::from(valid.person.address.is_some());
                with_sms += usize::from(valid.sms_reminder);
                assert!(valid.person.phone.as_deref().unwrap().starts_with("+491"));
            }
        }
        assert!(with_address > 1_000 && with_sms > 1_000);
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_another_seed_others() {
        let data = DemoData::embedded();
        let home = data.for_tenant("westendorf", "");
        let a = FakePerson::new(&data, 5, 42, &home);
        let b = FakePerson::new(&data, 5, 42, &home);
        let c = FakePerson::new(&data, 6, 42, &home);
        assert_eq!(
            (a.first_name, a.last_name, &a.email, &a.mobile, &a.address),
            (b.first_name, b.last_name, &b.email, &b.mobile, &b.address)
        );
        assert_ne!(a.email, c.email);
    }

    #[test]
    fn e_mail_local_parts_spell_out_umlauts_and_drop_what_is_not_a_letter() {
        assert_eq!(
            ascii_for_email("Müller-Lüdenscheidt"),
            "mueller-luedenscheidt"
        );
        assert_eq!(ascii_for_email("Strauß"), "strauss");
        assert_eq!(ascii_for_email("Yılmaz"), "yilmaz");
        assert_eq!(ascii_for_email("Wiśniewski"), "wisniewski");
        assert_eq!(ascii_for_email("René"), "rene");
    }

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

    #[test]
    fn a_visit_books_before_the_slot_begins_and_never_in_the_future() {
        let data = DemoData::embedded();
        let home = data.for_tenant("recklinghausen", "");
        let person = FakePerson::new(&data, 1, 1, &home);
        let now = instant("2026-11-21T10:00:00Z");
        let tz = chrono_tz::Europe::Berlin;
        let p = policy("recklinghausen.toml");
        for (i, start) in [
            "2026-09-01T08:00:00Z",
            "2026-11-21T09:45:00Z",
            "2026-11-21T10:10:00Z",
            "2026-12-20T08:00:00Z",
        ]
        .iter()
        .enumerate()
        {
            let slot = slot(start);
            for k in 0..200u64 {
                let rng = Rng::derive(3, Stream::Booking, i as u64 * 1000 + k);
                let mut visit = Visit::new(rng, &data, &person, &slot, now);
                assert!(visit.booked_at < slot.starts_at && visit.booked_at <= now);
                if let Some(at) = visit.cancel_at {
                    assert!(at > visit.booked_at && at < slot.starts_at && at <= now);
                }
                let post = visit.booking_request("recklinghausen", tz, &slot);
                assert_eq!((post.method.as_str(), post.status), ("POST", 201));
                assert_eq!(post.path, "/t/recklinghausen/buchen/7");
                for count in [0, 2, 4, 6] {
                    let views = visit.page_views("recklinghausen", tz, &slot, &p, count);
                    assert_eq!(views.len(), count as usize);
                    assert!(views.windows(2).all(|w| w[0].logged_at < w[1].logged_at));
                    assert!(views.iter().all(|v| v.logged_at < visit.booked_at));
                    if count > 0 {
                        assert_eq!(views.last().unwrap().path, "/t/recklinghausen/buchen/7");
                    }
                }
            }
        }
    }

    #[test]
    fn addresses_come_from_the_documentation_ranges() {
        let data = DemoData::embedded();
        let home = data.for_tenant("recklinghausen", "");
        let person = FakePerson::new(&data, 1, 1, &home);
        let slot = slot("2026-12-01T08:00:00Z");
        for k in 0..500 {
            let visit = Visit::new(
                Rng::derive(1, Stream::Booking, k),
                &data,
                &person,
                &slot,
                instant("2026-11-21T10:00:00Z"),
            );
            let ip: std::net::IpAddr = visit.ip.parse().unwrap();
            let documentation = match ip {
                std::net::IpAddr::V4(v4) => {
                    let o = v4.octets();
                    matches!(
                        (o[0], o[1], o[2]),
                        (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
                    )
                }
                std::net::IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
            };
            assert!(documentation, "{ip}");
        }
    }

    #[test]
    fn the_postcode_and_town_are_read_from_a_tenant_address() {
        assert_eq!(
            postcode_and_town("Bürgerbüro, Rathausplatz 3/4, 45657 Recklinghausen"),
            Some(("45657".into(), "Recklinghausen".into()))
        );
        assert_eq!(postcode_and_town("Rathaus"), None);
    }
}
