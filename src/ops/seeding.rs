//! Admin seeding: tenants from the policies, services and slots from the command line or CSV.
//! Everything here is idempotent: running it twice creates nothing new.

use super::{Context, Refusal, csv_input};
use crate::domain::office_days::{DayOff, OfficeCalendar};
use crate::domain::service::{FieldProblem, NewService, parse_code, parse_service};
use crate::domain::slots::{self, NewSlot, SlotFate, SlotPattern};
use crate::store::{OnOverlap, TenantRecord, TenantSyncReport};
use anyhow::Result;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

pub async fn sync_tenants(ctx: &Context) -> Result<TenantSyncReport> {
    let records: Vec<TenantRecord> = ctx
        .policies
        .entries
        .iter()
        .map(|e| TenantRecord {
            slug: e.policy.tenant.slug.clone(),
            name: e.policy.tenant.name.clone(),
            policy_sha256: e.sha256.clone(),
        })
        .collect();
    Ok(ctx.store.sync_tenants(&records, &ctx.audit()).await?)
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceImport {
    pub tenant: String,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Imports `code,name,duration_minutes`; one bad row refuses the whole file.
pub async fn import_services(ctx: &Context, tenant: &str, path: &Path) -> Result<ServiceImport> {
    ctx.policies.require(tenant)?;
    let rows = csv_input::read(path, &["code", "name", "duration_minutes"], &[])?;
    let mut problems = Vec::new();
    let mut services: Vec<NewService> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in &rows {
        match parse_service(
            row.get("code"),
            row.get("name"),
            row.get("duration_minutes"),
        ) {
            Ok(s) => {
                if let Some(first) = seen.insert(s.code.clone(), row.line) {
                    problems.push(format!(
                        "{}:{}: code: \"{}\" appears again (first on line {first})",
                        path.display(),
                        row.line,
                        s.code
                    ));
                }
                services.push(s);
            }
            Err(FieldProblem { field, problem }) => {
                problems.push(format!(
                    "{}:{}: {field}: {problem}",
                    path.display(),
                    row.line
                ));
            }
        }
    }
    csv_input::refuse(problems)?;
    let report = ctx
        .store
        .import_services(tenant, &services, &ctx.audit())
        .await?;
    Ok(ServiceImport {
        tenant: tenant.to_owned(),
        rows: services.len(),
        created: report.created,
        updated: report.updated,
        unchanged: report.unchanged,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotReport {
    pub tenant: String,
    pub created: usize,
    pub existing: usize,
    /// Left out because they overlap a slot of the same service with other times.
    pub overlapping: usize,
    /// Local times that do not exist (the change to summer time).
    pub nonexistent_local_times: usize,
    /// Days left out because they are public holidays in the whole of the tenant's state.
    pub holidays_skipped: usize,
    /// Days left out because they are local holidays the policy names (`local_holidays`).
    pub local_holidays_skipped: usize,
    /// Days left out because the policy says the office is closed (`closed_days`).
    pub closed_days_skipped: usize,
}

impl SlotReport {
    fn new(tenant: &str, fates: &[SlotFate], nonexistent: usize) -> Self {
        let count = |pred: fn(&SlotFate) -> bool| fates.iter().filter(|f| pred(f)).count();
        Self {
            tenant: tenant.to_owned(),
            created: count(|f| *f == SlotFate::Create),
            existing: count(|f| *f == SlotFate::Exists),
            overlapping: count(|f| matches!(f, SlotFate::Overlaps(_))),
            nonexistent_local_times: nonexistent,
            holidays_skipped: 0,
            local_holidays_skipped: 0,
            closed_days_skipped: 0,
        }
    }

    fn with_days_off(mut self, generated: &slots::Generated) -> Self {
        self.holidays_skipped = generated.days_off(DayOff::PublicHoliday);
        self.local_holidays_skipped = generated.days_off(DayOff::LocalHoliday);
        self.closed_days_skipped = generated.days_off(DayOff::ClosedDay);
        self
    }
}

/// What `slots generate` was given, before the service's duration is known.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub service: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub weekdays: slots::WeekdaySet,
    pub times: Vec<slots::TimeRange>,
    /// Minutes between slot starts; the service's duration when not given.
    pub every_minutes: Option<i64>,
    pub capacity: i64,
    /// Open slots on the statewide public holidays of the tenant's region too. The policy's
    /// local holidays and closed days never get slots: the policy says the office is shut.
    pub include_holidays: bool,
}

fn tenant_zone(ctx: &Context, tenant: &str) -> Result<Tz, Refusal> {
    Ok(ctx.policies.require(tenant)?.tenant.zone())
}

pub async fn generate_slots(
    ctx: &Context,
    tenant: &str,
    req: &GenerateRequest,
) -> Result<SlotReport> {
    let tz = tenant_zone(ctx, tenant)?;
    let services = ctx.store.list_services(tenant).await?;
    let service = services.iter().find(|s| s.code == req.service).ok_or_else(|| {
        Refusal::InvalidInput(format!(
            "--service {}: tenant {tenant} has no such service (import it with `datenwart services import`)",
            req.service
        ))
    })?;
    let pattern = SlotPattern {
        from: req.from,
        to: req.to,
        weekdays: req.weekdays,
        times: req.times.clone(),
        every_minutes: req.every_minutes.unwrap_or(service.duration_minutes),
        duration_minutes: service.duration_minutes,
        capacity: req.capacity,
    };
    pattern
        .validate()
        .map_err(|(option, problem)| Refusal::InvalidInput(format!("{option}: {problem}")))?;
    let mut calendar = OfficeCalendar::for_policy(ctx.policies.require(tenant)?);
    let generated = pattern.generate(tz, |day| {
        calendar
            .day_off(day)
            .filter(|reason| !(req.include_holidays && *reason == DayOff::PublicHoliday))
    });
    if generated.slots.is_empty() {
        return Ok(
            SlotReport::new(tenant, &[], generated.skipped_nonexistent).with_days_off(&generated)
        );
    }
    let slots: Vec<(String, NewSlot)> = generated
        .slots
        .iter()
        .map(|s| (req.service.clone(), s.clone()))
        .collect();
    let outcome = ctx
        .store
        .add_slots(
            tenant,
            &slots,
            OnOverlap::Skip,
            "slots.generate",
            &ctx.audit(),
        )
        .await?;
    // Every return path counts the days left out (they were once dropped here).
    Ok(
        SlotReport::new(tenant, &outcome.fates, generated.skipped_nonexistent)
            .with_days_off(&generated),
    )
}

/// Imports `service,date,start,end[,capacity]` in the tenant's local time. A row that
/// overlaps another slot of its service refuses the whole file.
pub async fn import_slots(ctx: &Context, tenant: &str, path: &Path) -> Result<SlotReport> {
    let tz = tenant_zone(ctx, tenant)?;
    let known: Vec<String> = ctx
        .store
        .list_services(tenant)
        .await?
        .into_iter()
        .map(|s| s.code)
        .collect();
    let rows = csv_input::read(path, &["service", "date", "start", "end"], &["capacity"])?;
    let file = path.display();
    let mut problems = Vec::new();
    let mut slots: Vec<(String, NewSlot)> = Vec::new();
    let mut lines = Vec::new();
    for row in &rows {
        let line = row.line;
        let parsed = (|| -> Result<(String, NewSlot), (&'static str, String)> {
            let code = parse_code(row.get("service")).map_err(|p| ("service", p.problem))?;
            if !known.contains(&code) {
                return Err((
                    "service",
                    format!("tenant {tenant} has no service \"{code}\""),
                ));
            }
            let date: NaiveDate = row.get("date").parse().map_err(|_| {
                (
                    "date",
                    format!("\"{}\" is not a date: use YYYY-MM-DD", row.get("date")),
                )
            })?;
            let start = slots::parse_time(row.get("start")).map_err(|p| ("start", p))?;
            let end = slots::parse_time(row.get("end")).map_err(|p| ("end", p))?;
            if end <= start {
                return Err((
                    "end",
                    format!("{} is not after start {}", row.get("end"), row.get("start")),
                ));
            }
            let capacity = match row.get("capacity") {
                "" => 1,
                c => c
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=slots::MAX_CAPACITY).contains(n))
                    .ok_or((
                        "capacity",
                        format!(
                            "\"{c}\" is not a whole number from 1 to {}",
                            slots::MAX_CAPACITY
                        ),
                    ))?,
            };
            let local = |t| slots::local_instant(tz, date.and_time(t));
            let starts_at =
                local(start).ok_or(("start", format!("{date} {start} does not exist in {tz}")))?;
            let ends_at =
                local(end).ok_or(("end", format!("{date} {end} does not exist in {tz}")))?;
            Ok((
                code,
                NewSlot {
                    starts_at,
                    ends_at,
                    capacity,
                },
            ))
        })();
        match parsed {
            Ok(slot) => {
                slots.push(slot);
                lines.push(line);
            }
            Err((field, problem)) => problems.push(format!("{file}:{line}: {field}: {problem}")),
        }
    }
    csv_input::refuse(problems)?;
    let outcome = ctx
        .store
        .add_slots(
            tenant,
            &slots,
            OnOverlap::Refuse,
            "slots.import",
            &ctx.audit(),
        )
        .await?;
    if !outcome.written {
        let problems = outcome
            .fates
            .iter()
            .zip(&lines)
            .filter_map(|(fate, line)| match fate {
                SlotFate::Overlaps(other) => Some(format!(
                    "{file}:{line}: start: overlaps the slot of the same service starting {}",
                    other.with_timezone(&tz).format("%Y-%m-%d %H:%M")
                )),
                _ => None,
            })
            .collect();
        csv_input::refuse(problems)?;
    }
    Ok(SlotReport::new(tenant, &outcome.fates, 0))
}
