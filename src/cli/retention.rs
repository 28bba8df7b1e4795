//! `retention plan`, `retention run` and `retention runs`: the policies' retention rules
//! from cron, with progress bars on a terminal only.

use super::confirm::{self, Confirmation};
use super::render::{self, Format};
use crate::ops::retention::{self, Plan, RunProgress, RunReport, RunRequest};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use chrono::{DateTime, SubsecRound, Utc};
use clap::Subcommand;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use serde::Serialize;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Show per rule what is due now and what is kept on hold; changes nothing
    Plan {
        /// Only this tenant's rules
        #[arg(long)]
        tenant: Option<String>,
        /// The clock to plan at: 2026-12-01, "01.12.2026 02:00" (Europe/Berlin) or RFC 3339;
        /// default now
        #[arg(long, value_name = "TS", value_parser = crate::cli::when::instant)]
        now: Option<DateTime<Utc>>,
    },
    /// Anonymize or delete what is due, in batches, then check that nothing due is left;
    /// exit 1 if another run is in progress or the check fails
    #[command(mut_arg("yes", |a| a.help("Do not ask on a terminal (off a terminal, e.g. from cron, it never asks)")))]
    Run {
        /// Only this tenant's rules (rows without a tenant are left for a full run)
        #[arg(long)]
        tenant: Option<String>,
        /// The run's clock (same formats as for plan), not later than now; default now
        #[arg(long, value_name = "TS", value_parser = crate::cli::when::instant)]
        now: Option<DateTime<Utc>>,
        /// At most this many rows per batch; each batch is one short transaction, and batches
        /// shrink while one takes longer than 250 ms
        #[arg(long, value_name = "N", default_value_t = retention::DEFAULT_BATCH_SIZE)]
        batch_size: i64,
        #[command(flatten)]
        confirmation: Confirmation,
    },
    /// List recorded runs, newest first
    Runs {
        /// At most this many runs
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

pub async fn run(
    ctx: &Context,
    cmd: RetentionCmd,
    format: Format,
    quiet: bool,
) -> Result<ExitCode> {
    match cmd {
        RetentionCmd::Plan { tenant, now } => {
            let now = clock(now);
            let plan = retention::plan(ctx, tenant.as_deref(), now).await?;
            warn(&plan.warnings);
            render_plan(format, &plan)?;
            Ok(ExitCode::SUCCESS)
        }
        RetentionCmd::Run {
            tenant,
            now,
            batch_size,
            confirmation: Confirmation { yes },
        } => {
            let now = clock(now);
            if !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
                let plan = retention::plan(ctx, tenant.as_deref(), now).await?;
                render_plan(Format::Table, &plan)?;
                if !confirm::ask("Apply these rules now?")? {
                    eprintln!("nothing done");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let bars = Bars::new(quiet);
            let req = RunRequest {
                tenant: tenant.as_deref(),
                now,
                batch_size,
            };
            let report = retention::run(ctx, &req, &bars).await;
            bars.clear();
            let report = report?;
            warn(&report.warnings);
            render_run(format, &report)?;
            if report.failed() {
                return Err(Refusal::CheckFailed(format!(
                    "retention run {} failed: {}",
                    report.run,
                    report.problems.join("; ")
                ))
                .into());
            }
            Ok(ExitCode::SUCCESS)
        }
        RetentionCmd::Runs { limit } => {
            let runs = retention::runs(ctx, limit).await?;
            if format == Format::Table {
                let rows: Vec<RunRow> = runs.iter().map(RunRow::from).collect();
                render::rows(format, &rows)?;
            } else if format == Format::Json {
                render::json(&runs)?;
            } else {
                let rows: Vec<RunRow> = runs.iter().map(RunRow::from).collect();
                render::csv(&rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn clock(now: Option<DateTime<Utc>>) -> DateTime<Utc> {
    now.map_or_else(crate::domain::time::now, |t| t.trunc_subsecs(0))
}

fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("datenwart: warning: {w}");
    }
}

/// "92d 3h", "5h 12m", "40s".
fn age(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[derive(Serialize, Tabled)]
struct PlanRow {
    tenant: String,
    data: &'static str,
    action: &'static str,
    after: String,
    since: String,
    due: i64,
    held: i64,
    #[tabled(rename = "oldest due")]
    #[serde(rename = "oldest_due_age")]
    oldest: String,
}

fn render_plan(format: Format, plan: &Plan) -> Result<()> {
    if format == Format::Json {
        return render::json(plan);
    }
    let rows: Vec<PlanRow> = plan
        .rules
        .iter()
        .map(|r| PlanRow {
            tenant: r.rule.tenant_label().to_owned(),
            data: r.rule.data.as_str(),
            action: r.rule.action.as_str(),
            after: r.rule.after.clone(),
            since: r.rule.since.clone(),
            due: r.due,
            held: r.held,
            oldest: r.oldest_due_age_seconds.map(age).unwrap_or_default(),
        })
        .collect();
    render::rows(format, &rows)?;
    if format == Format::Table {
        let due: i64 = plan.rules.iter().map(|r| r.due).sum();
        let held: i64 = plan.rules.iter().map(|r| r.held).sum();
        println!(
            "at {}: {due} row(s) due, {held} kept on hold or restricted; nothing was changed",
            render::local(&plan.clock)
        );
    }
    Ok(())
}

#[derive(Serialize, Tabled)]
struct RuleRow {
    tenant: String,
    data: &'static str,
    action: &'static str,
    after: String,
    anonymized: i64,
    deleted: i64,
    held: i64,
    #[tabled(rename = "also deleted")]
    dependents_deleted: i64,
    #[tabled(display = "opt_count")]
    resisting: Option<i64>,
}

fn opt_count(n: &Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
}

fn render_run(format: Format, report: &RunReport) -> Result<()> {
    if format == Format::Json {
        return render::json(report);
    }
    let rows: Vec<RuleRow> = report
        .rules
        .iter()
        .map(|r| RuleRow {
            tenant: r.rule.tenant_label().to_owned(),
            data: r.rule.data.as_str(),
            action: r.rule.action.as_str(),
            after: format!("{} after {}", r.rule.after, r.rule.since),
            anonymized: r.counts.anonymized,
            deleted: r.counts.deleted,
            held: r.counts.held,
            dependents_deleted: r.counts.dependents_deleted,
            resisting: r.resisting,
        })
        .collect();
    render::rows(format, &rows)?;
    if format == Format::Table {
        let sum = |f: fn(&retention::RuleCounts) -> i64| -> i64 {
            report.rules.iter().map(|r| f(&r.counts)).sum()
        };
        println!(
            "retention run {} {} (clock {}): {} anonymized, {} deleted (and {} rows with them), {} kept on hold or restricted",
            report.run,
            report.outcome,
            render::local(&report.clock),
            sum(|c| c.anonymized),
            sum(|c| c.deleted),
            sum(|c| c.dependents_deleted),
            sum(|c| c.held),
        );
    }
    Ok(())
}

#[derive(Serialize, Tabled)]
struct RunRow {
    id: i64,
    #[tabled(display = "render::local")]
    started_at: DateTime<Utc>,
    #[tabled(display = "render::local_or_dash")]
    finished_at: Option<DateTime<Utc>>,
    #[tabled(display = "render::local")]
    clock: DateTime<Utc>,
    #[tabled(display = "render::or_dash")]
    tenant: Option<String>,
    outcome: String,
    actor: String,
    anonymized: i64,
    deleted: i64,
    held: i64,
}

impl From<&retention::RunRecord> for RunRow {
    fn from(r: &retention::RunRecord) -> Self {
        RunRow {
            id: r.id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            clock: r.clock,
            tenant: r.tenant.clone(),
            outcome: r.outcome.clone(),
            actor: r.actor.clone(),
            anonymized: r.anonymized,
            deleted: r.deleted,
            held: r.held,
        }
    }
}

/// One progress bar per rule on stderr, kept when done; nothing when stderr is not a
/// terminal or with `-q`.
struct Bars {
    multi: Option<MultiProgress>,
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        let multi = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Bars {
            multi,
            current: Mutex::new(None),
        }
    }

    fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

impl RunProgress for Bars {
    fn visible(&self) -> bool {
        self.multi.is_some()
    }

    fn rule(&self, label: &str, total: Option<u64>) {
        let Some(multi) = &self.multi else {
            return;
        };
        let bar = multi.add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(super::progress::style());
        bar.set_message(label.to_owned());
        *self.current.lock().expect("progress lock") = Some(bar);
    }

    fn advance(&self, rows: u64) {
        if let Some(bar) = self.current.lock().expect("progress lock").as_ref() {
            bar.inc(rows);
        }
    }

    fn done(&self) {
        if let Some(bar) = self.current.lock().expect("progress lock").take() {
            bar.finish();
        }
    }
}
