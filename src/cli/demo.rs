//! `demo`: builds a database to explore (see `ops::demo`), shows a progress bar on a terminal
//! and prints what was made and what to try next.

use super::GlobalOpts;
use super::render;
use crate::ops::Context;
use crate::ops::demo::{self, DemoReport, DemoRequest, Progress};
use crate::store;
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde::Serialize;
use std::io::IsTerminal;
use std::process::ExitCode;
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fake bookings to make, spread over the last 90 and the next 30 days
    #[arg(long, default_value_t = 2000)]
    bookings: u64,
    /// Access-log rows of page views per booking, besides the booking request itself
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=i64::from(demo::MAX_PAGE_VIEWS)))]
    page_views: u32,
    /// Seed of the fake people: the same seed gives the same people
    #[arg(long, default_value_t = demo::DEFAULT_SEED)]
    seed: u64,
}

/// A progress bar on stderr, or nothing when stderr is not a terminal or with `-q`.
struct Bar(ProgressBar);

impl Bar {
    fn new(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(super::progress::style());
        Self(bar)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_message(name.to_owned());
    }

    fn advance(&self, steps: u64) {
        self.0.inc(steps);
    }
}

#[derive(Serialize, Tabled)]
struct TenantRow {
    tenant: String,
    services: usize,
    #[tabled(rename = "slots")]
    slots_created: usize,
    capacity: i64,
    bookings: u64,
    past: u64,
    future: u64,
    cancelled: u64,
    sms_reminders: u64,
    access_log: u64,
}

fn rows(report: &DemoReport) -> Vec<TenantRow> {
    report
        .tenants
        .iter()
        .map(|t| TenantRow {
            tenant: t.tenant.clone(),
            services: t.services,
            slots_created: t.slots_created,
            capacity: t.capacity,
            bookings: t.bookings,
            past: t.past,
            future: t.future,
            cancelled: t.cancelled,
            sms_reminders: t.sms_reminders,
            access_log: t.access_log,
        })
        .collect()
}

/// The commands worth trying on the new database, with its URL unless it is the default.
fn next_steps(report: &DemoReport, database_url: &str) -> Vec<String> {
    let tenant = report
        .tenants
        .iter()
        .find(|t| t.tenant == "recklinghausen")
        .or(report.tenants.first());
    let cmd = if database_url == store::DEFAULT_DATABASE_URL {
        "datenwart".to_owned()
    } else {
        format!(
            "datenwart --database-url '{}'",
            store::redact_url(database_url)
        )
    };
    let mut steps = vec![format!(
        "{cmd} serve --allow-unconfirmed   # then open http://127.0.0.1:8080/ in a browser and book a slot"
    )];
    if let Some(t) = tenant {
        let slug = &t.tenant;
        steps[0] = format!(
            "{cmd} serve        # then open http://127.0.0.1:8080/t/{slug} and book a slot"
        );
        steps.push(format!("{cmd} tenants list"));
        if let Some(from) = t.from {
            let today = from + chrono::Duration::days(demo::DAYS_BACK);
            steps.push(format!(
                "{cmd} slots list --tenant {slug} --from {today} --limit 20"
            ));
        }
        steps.push(format!("datenwart policy show --tenant {slug}"));
    }
    steps.push(format!("{cmd} audit verify"));
    steps
}

fn human(report: &DemoReport, rows: &[TenantRow], database_url: &str) -> String {
    let t = &report.totals;
    let mut out = format!(
        "demo database ready in {:.1} s ({}, seed {})\n",
        report.seconds,
        store::redact_url(database_url),
        report.seed
    );
    out.push_str(&Table::new(rows).with(Style::psql()).to_string());
    out.push('\n');
    out.push_str(&format!(
        "{} bookings by {} fake people ({} booked more than once, {} at more than one tenant)\n\
         {} appointments past, {} ahead; {} cancelled by the citizen\n\
         {} consents, {} notifications queued, {} access-log rows ({} page views per booking)\n",
        t.bookings,
        report.persons,
        report.persons_with_several_bookings,
        report.persons_at_several_tenants,
        t.past,
        t.future,
        t.cancelled,
        t.consents,
        t.notifications,
        t.access_log,
        report.page_views_per_booking,
    ));
    if let Some(first) = report.tenants.first()
        && let (Some(from), Some(to)) = (first.from, first.to)
    {
        out.push_str(&format!(
            "slots from {from} to {to} on weekdays in office hours, public holidays left out\n"
        ));
    }
    out.push_str(
        "e-mail addresses only at reserved example domains, IP addresses from the documentation ranges\n",
    );
    if report.bookings_before > 0 {
        out.push_str(&format!(
            "The database held {} bookings before; this run added {}.\n",
            report.bookings_before, t.bookings
        ));
    }
    if t.refused > 0 {
        out.push_str(&format!(
            "{} bookings were refused because their slot filled up meanwhile (is `serve` running on this database?).\n",
            t.refused
        ));
    }
    out.push_str("\nTry next:\n");
    for step in next_steps(report, database_url) {
        out.push_str(&format!("  {step}\n"));
    }
    out.trim_end().to_owned()
}

pub async fn run(ctx: &Context, args: DemoArgs, global: &GlobalOpts) -> Result<ExitCode> {
    let req = DemoRequest {
        bookings: args.bookings,
        page_views: args.page_views,
        seed: args.seed,
    };
    let bar = Bar::new(global.quiet);
    let report = demo::run(ctx, &req, &bar).await;
    bar.0.finish_and_clear();
    let report = report?;
    let rows = rows(&report);
    render::report(
        global.format,
        &human(&report, &rows, &global.database_url),
        &report,
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}
