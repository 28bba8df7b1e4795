//! Admin commands: `migrate`, `tenants`, `services`, `slots`.

use super::render::{self, Format};
use crate::domain::duration::RetentionPeriod;
use crate::domain::slots::{self, WeekdaySet};
use crate::domain::time::now;
use crate::ops::closed_days;
use crate::ops::seeding::{self, GenerateRequest, SlotReport};
use crate::ops::{Context, Refusal};
use crate::store::SlotFilter;
use anyhow::Result;
use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use clap::Subcommand;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum TenantsCmd {
    /// Create or update the tenants of the policy folder in the database
    Sync,
    /// List the tenants in the database
    List,
}

#[derive(Debug, Subcommand)]
pub enum ServicesCmd {
    /// Import services from a CSV file with the columns code,name,duration_minutes
    Import {
        /// Tenant slug, as in its policy
        #[arg(long)]
        tenant: String,
        /// CSV file; one bad row refuses the whole file
        file: PathBuf,
    },
    /// List a tenant's services
    List {
        /// The tenant (slug, as in the policy)
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SlotsCmd {
    /// Open slots for a service over a date range (local time of the tenant)
    Generate {
        /// The tenant (slug, as in the policy)
        #[arg(long)]
        tenant: String,
        /// Service code
        #[arg(long)]
        service: String,
        /// First day, 2026-12-01 or 01.12.2026
        #[arg(long, value_parser = crate::cli::when::day)]
        from: NaiveDate,
        /// Last day (inclusive), 2026-12-01 or 01.12.2026
        #[arg(long, value_parser = crate::cli::when::day)]
        to: NaiveDate,
        /// Days of the week: mon-fri, mon,wed,fri, mo-do …
        #[arg(long, default_value = "mon-fri", value_parser = parse_weekdays)]
        weekdays: WeekdaySet,
        /// Office hours: 08:00-12:00 or 08:00-12:00,14:00-16:00
        #[arg(long, value_parser = parse_times)]
        times: TimeRanges,
        /// Time between slot starts (15m, 1h); the service's duration when not given
        #[arg(long, value_parser = parse_every)]
        every: Option<i64>,
        /// Citizens per slot (counters working in parallel)
        #[arg(long, default_value_t = 1)]
        capacity: i64,
        /// Open slots on the statewide public holidays of the tenant's region too (left out
        /// by default). The policy's local holidays and closed days never get slots
        #[arg(long)]
        include_holidays: bool,
    },
    /// Import slots from a CSV file with the columns service,date,start,end[,capacity]
    Import {
        /// The tenant (slug, as in the policy)
        #[arg(long)]
        tenant: String,
        /// CSV file in the tenant's local time; one bad row refuses the whole file
        file: PathBuf,
    },
    /// List a tenant's slots
    List {
        /// The tenant (slug, as in the policy)
        #[arg(long)]
        tenant: String,
        /// Only this service (its code, see `services list`)
        #[arg(long)]
        service: Option<String>,
        /// From this day on (local), 2026-12-01 or 01.12.2026
        #[arg(long, value_parser = crate::cli::when::day)]
        from: Option<NaiveDate>,
        /// Up to and including this day (local), 2026-12-01 or 01.12.2026
        #[arg(long, value_parser = crate::cli::when::day)]
        to: Option<NaiveDate>,
        /// At most this many slots
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// List the slots from now on that lie on a day the policy closes (a local holiday or
    /// a closed day), with their bookings counted
    Closed {
        /// The tenant (slug, as in the policy)
        #[arg(long)]
        tenant: String,
    },
    /// Delete the free slots from now on that lie on a day the policy closes; with --yes,
    /// first cancel their bookings and queue a notice to each citizen
    RemoveClosed {
        /// The tenant (slug, as in the policy)
        #[arg(long)]
        tenant: String,
        /// Also cancel the bookings in those slots (the citizens are told by e-mail)
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Debug, Clone)]
pub struct TimeRanges(Vec<slots::TimeRange>);

fn parse_weekdays(s: &str) -> Result<WeekdaySet, String> {
    s.parse()
}

fn parse_times(s: &str) -> Result<TimeRanges, String> {
    slots::parse_time_ranges(s).map(TimeRanges)
}

fn parse_every(s: &str) -> Result<i64, String> {
    let period: RetentionPeriod = s.parse().map_err(|e| format!("{e}"))?;
    let secs = period.as_seconds();
    if secs % 60 != 0 {
        return Err(format!("\"{s}\" is not a whole number of minutes"));
    }
    Ok(secs / 60)
}

#[derive(Serialize, Tabled)]
struct MigrationRow {
    version: i64,
    description: String,
}

pub async fn migrate(ctx: &Context, format: Format) -> Result<ExitCode> {
    let report = crate::ops::migrate(ctx).await?;
    let mut human: Vec<String> = report
        .applied
        .iter()
        .map(|m| format!("applied migration {:04} {}", m.version, m.description))
        .collect();
    if report.applied.is_empty() {
        human.push(format!(
            "schema is up to date ({} migration(s) known); nothing applied",
            report.known
        ));
    }
    if report.key_created {
        human.push("created the installation's pseudonym key".into());
    }
    let rows: Vec<MigrationRow> = report
        .applied
        .iter()
        .map(|m| MigrationRow {
            version: m.version,
            description: m.description.clone(),
        })
        .collect();
    render::report(format, &human.join("\n"), &report, &rows)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Tabled)]
struct TenantSyncRow {
    tenant: String,
    result: &'static str,
}

#[derive(Serialize, Tabled)]
struct TenantRow {
    slug: String,
    name: String,
    services: i64,
    slots: i64,
    bookings: i64,
    #[tabled(display = "render::local")]
    updated_at: chrono::DateTime<chrono::Utc>,
}

pub async fn tenants(ctx: &Context, cmd: TenantsCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        TenantsCmd::Sync => {
            let r = seeding::sync_tenants(ctx).await?;
            let mut rows = Vec::new();
            for (list, result) in [
                (&r.created, "created"),
                (&r.updated, "updated"),
                (&r.unchanged, "unchanged"),
                (&r.without_policy, "no policy (kept)"),
            ] {
                rows.extend(list.iter().map(|t| TenantSyncRow {
                    tenant: t.clone(),
                    result,
                }));
            }
            for t in &r.without_policy {
                tracing::warn!("tenant {t} is in the database but has no policy file; it was kept");
            }
            match format {
                Format::Table => {
                    render::rows(format, &rows)?;
                    println!(
                        "{} created, {} updated, {} unchanged",
                        r.created.len(),
                        r.updated.len(),
                        r.unchanged.len()
                    );
                }
                Format::Json => render::json(&r)?,
                Format::Csv => render::csv(&rows)?,
            }
        }
        TenantsCmd::List => {
            let rows: Vec<TenantRow> = ctx
                .store
                .list_tenants()
                .await?
                .into_iter()
                .map(|t| TenantRow {
                    slug: t.slug,
                    name: t.name,
                    services: t.services,
                    slots: t.slots,
                    bookings: t.bookings,
                    updated_at: t.updated_at,
                })
                .collect();
            render::rows(format, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Tabled)]
struct ServiceRow {
    code: String,
    name: String,
    duration_minutes: i64,
}

pub async fn services(ctx: &Context, cmd: ServicesCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        ServicesCmd::Import { tenant, file } => {
            let r = seeding::import_services(ctx, &tenant, &file).await?;
            let human = format!(
                "{}: {} services read; {} created, {} updated, {} unchanged",
                r.tenant, r.rows, r.created, r.updated, r.unchanged
            );
            render::report(format, &human, &r, std::slice::from_ref(&r))?;
        }
        ServicesCmd::List { tenant } => {
            ctx.policies.require(&tenant)?;
            let rows: Vec<ServiceRow> = ctx
                .store
                .list_services(&tenant)
                .await?
                .into_iter()
                .map(|s| ServiceRow {
                    code: s.code,
                    name: s.name,
                    duration_minutes: s.duration_minutes,
                })
                .collect();
            render::rows(format, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Tabled)]
struct SlotRow {
    id: i64,
    service: String,
    /// Local time of the tenant, for people.
    local_start: String,
    #[tabled(display = "render::local")]
    starts_at: chrono::DateTime<chrono::Utc>,
    #[tabled(display = "render::local")]
    ends_at: chrono::DateTime<chrono::Utc>,
    capacity: i64,
    booked: i64,
}

fn slot_report(format: Format, r: &SlotReport) -> Result<()> {
    let mut human = format!(
        "{}: {} slot(s) created, {} already there, {} left out because they overlap other slots",
        r.tenant, r.created, r.existing, r.overlapping
    );
    for (days, what) in [
        (r.holidays_skipped, "public holiday(s)"),
        (r.local_holidays_skipped, "local holiday(s)"),
        (r.closed_days_skipped, "closed day(s)"),
    ] {
        if days > 0 {
            human.push_str(&format!("; {days} {what} left out"));
        }
    }
    if r.nonexistent_local_times > 0 {
        human.push_str(&format!(
            "; {} local times skipped (they do not exist on the day clocks go forward)",
            r.nonexistent_local_times
        ));
    }
    render::report(format, &human, r, std::slice::from_ref(r))
}

/// The instant a local day starts in the tenant's zone.
fn day_start(tz: Tz, day: NaiveDate) -> Option<chrono::DateTime<chrono::Utc>> {
    slots::local_instant(tz, day.and_time(NaiveTime::MIN))
}

pub async fn slots(ctx: &Context, cmd: SlotsCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        SlotsCmd::Generate {
            tenant,
            service,
            from,
            to,
            weekdays,
            times,
            every,
            capacity,
            include_holidays,
        } => {
            let req = GenerateRequest {
                service,
                from,
                to,
                weekdays,
                times: times.0,
                every_minutes: every,
                capacity,
                include_holidays,
            };
            let r = seeding::generate_slots(ctx, &tenant, &req).await?;
            slot_report(format, &r)?;
        }
        SlotsCmd::Import { tenant, file } => {
            let r = seeding::import_slots(ctx, &tenant, &file).await?;
            slot_report(format, &r)?;
        }
        SlotsCmd::List {
            tenant,
            service,
            from,
            to,
            limit,
        } => {
            let policy = ctx.policies.require(&tenant)?;
            let tz: Tz = policy
                .tenant
                .timezone
                .parse()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if limit < 1 {
                return Err(
                    Refusal::InvalidInput(format!("--limit {limit}: must be at least 1")).into(),
                );
            }
            if let (Some(f), Some(t)) = (from, to)
                && f > t
            {
                return Err(Refusal::InvalidInput(format!(
                    "--from {f} is after --to {t}: the range is empty"
                ))
                .into());
            }
            if let Some(code) = &service {
                // An unknown code would list nothing, which reads as "fully booked".
                let known = ctx.store.list_services(&tenant).await?;
                if !known.iter().any(|s| &s.code == code) {
                    let codes: Vec<&str> = known.iter().map(|s| s.code.as_str()).collect();
                    return Err(Refusal::InvalidInput(format!(
                        "--service \"{code}\": no such service at {tenant} (known: {})",
                        if codes.is_empty() {
                            "none; import services first".to_owned()
                        } else {
                            codes.join(", ")
                        }
                    ))
                    .into());
                }
            }
            let filter = SlotFilter {
                service,
                from: from.and_then(|d| day_start(tz, d)),
                to: to.and_then(|d| d.succ_opt()).and_then(|d| day_start(tz, d)),
                limit,
            };
            let rows: Vec<SlotRow> = closed_days::list_open_slots(ctx, &tenant, &filter)
                .await?
                .into_iter()
                .map(|s| SlotRow {
                    id: s.id,
                    service: s.service,
                    local_start: s
                        .starts_at
                        .with_timezone(&tz)
                        .format("%a %Y-%m-%d %H:%M")
                        .to_string(),
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    capacity: s.capacity,
                    booked: s.booked,
                })
                .collect();
            render::rows(format, &rows)?;
        }
        SlotsCmd::Closed { tenant } => {
            let tz = ctx.policies.require(&tenant)?.tenant.zone();
            let rows: Vec<ClosedSlotRow> = closed_days::closed_slots(ctx, &tenant, now())
                .await?
                .into_iter()
                .map(|s| ClosedSlotRow {
                    id: s.id,
                    service: s.service,
                    local_start: s
                        .starts_at
                        .with_timezone(&tz)
                        .format("%a %Y-%m-%d %H:%M")
                        .to_string(),
                    reason: s.reason,
                    capacity: s.capacity,
                    booked: s.booked,
                })
                .collect();
            render::rows(format, &rows)?;
        }
        SlotsCmd::RemoveClosed { tenant, yes } => {
            let r = closed_days::remove_closed(ctx, &tenant, yes, now()).await?;
            let mut human = format!(
                "{}: {} slot(s) on closed days found; {} deleted, {} booking(s) cancelled",
                r.tenant, r.found, r.slots_deleted, r.bookings_cancelled
            );
            if r.bookings_left > 0 {
                human.push_str(&format!(
                    "; {} booking(s) left in place (run again with --yes to cancel them and tell the citizens)",
                    r.bookings_left
                ));
            }
            if r.slots_kept > 0 {
                human.push_str(&format!(
                    "; {} slot(s) kept because bookings refer to them (never listed nor bookable)",
                    r.slots_kept
                ));
            }
            render::report(format, &human, &r, std::slice::from_ref(&r))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Tabled)]
struct ClosedSlotRow {
    id: i64,
    service: String,
    /// Local time of the tenant.
    local_start: String,
    reason: &'static str,
    capacity: i64,
    booked: i64,
}
