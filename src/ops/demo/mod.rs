//! `demo`: a database a new user can explore at once — the policies' tenants with Bürgerbüro
//! services, slots around today and realistic fake bookings made through the booking path.
//!
//! Every booking is a form validated against the tenant's policy and prepared by
//! [`super::booking::prepare`], exactly as the endpoint does it, then handed to the store in
//! batches. The fake people come from a seeded generator of our own, so a seed gives the same
//! people on every machine; e-mail addresses use only reserved example domains (RFC 2606).

mod embedded;
mod people;
mod plan;
mod rng;
#[cfg(test)]
mod testing;
mod visit;
mod writer;

use super::booking::prepare;
use super::seeding;
use super::{Context, Refusal};
use crate::domain::audit::AuditEvent;
use crate::domain::booking::{self, FormFields};
use crate::domain::policy::Policy;
use crate::store::OpenSlot;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use embedded::{DemoData, TenantData};
use people::{Customers, FakePerson};
use plan::{allocate, capacity_for, open_tenant, split_by_share};
use rng::{Rng, Stream};
use serde::Serialize;
use visit::Visit;
use writer::{Batch, Meta, Writer};

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
    // Into a database without bookings the lookup indexes over keys in random order are
    // built once at the end, not rewritten by every batch (`defer_indexes`).
    let deferred = ctx
        .store
        .defer_indexes(&super::holder::describe(&ctx.actor), now)
        .await?;
    let mut people = Customers::new(req.seed);
    // On SQLite the batches go through a connection of their own (see `bulk_writer`).
    let writes = ctx
        .store
        .bulk_writer()
        .await?
        .unwrap_or_else(|| ctx.store.clone());
    let mut writer = Writer::new(writes.clone(), key.clone());
    let loaded: Result<()> = async {
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
        writer.finish(&mut reports, &mut people, progress).await
    }
    .await;
    // The bulk job's own connection (SQLite) and its page cache go first: the indexes are
    // built with the pool's small cache (SQLite's sort spills to a temporary file sooner,
    // and was faster so: 7.9 s against 8.9 s with 32 MB at 1,000,000 bookings, 9 MB of
    // memory against 71 MB), and the WAL is emptied into the file after.
    drop(writer);
    drop(writes);
    // Built whether the load went through or not: the database is whole either way (and
    // should this process die first, the next command builds them).
    if deferred > 0 {
        tracing::info!(
            "demo: bookings written after {:.1} s; building {deferred} lookup indexes",
            started.elapsed().as_secs_f64()
        );
    }
    let built = ctx.store.build_deferred_indexes().await;
    loaded?;
    built?;
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
    ctx.store.after_bulk_load().await?;

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

/// Builds the lookup indexes that a bulk load deferred and did not build again because
/// its process ended first (killed, a full disk, the machine shut down). Those of a load
/// still running on this host are left to it; whether a process on another host still
/// runs cannot be seen, so its indexes are built (which only slows that load down).
/// Every command but `demo` and `migrate` runs this after the schema check; they run it
/// after migrating. How many indexes were built.
pub async fn build_left_indexes(ctx: &Context) -> Result<usize> {
    let holders = ctx.store.deferred_index_holders().await?;
    if holders.is_empty() {
        return Ok(0);
    }
    let host = super::holder::host();
    if holders.iter().any(|h| super::holder::runs_here(h, &host)) {
        return Ok(0);
    }
    tracing::warn!(
        "a demo load did not finish ({}): building the lookup indexes it left out (about a second per 100,000 bookings)",
        holders.join("; ")
    );
    Ok(ctx.store.build_deferred_indexes().await?)
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
