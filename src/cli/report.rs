//! `report`: the DPO's annual report as tables, JSON, CSV, or a printable HTML page.

use crate::cli::render::{self, Format};
use crate::ops::report::{self, AnnualReport, Count};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use askama::Template;
use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The calendar year (Europe/Berlin), e.g. 2026
    #[arg(long)]
    year: i32,
    /// One tenant (default: all)
    #[arg(long)]
    tenant: Option<String>,
    /// Also write a printable HTML page to this file (not over an existing one)
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// One CSV row per figure: `section,key,value`.
#[derive(Serialize)]
struct Figure {
    section: &'static str,
    key: String,
    value: String,
}

fn figures(r: &AnnualReport) -> Vec<Figure> {
    let mut out = Vec::new();
    let mut push = |section, key: &str, value: String| {
        out.push(Figure {
            section,
            key: key.to_owned(),
            value,
        })
    };
    push("requests", "total", r.requests.to_string());
    for c in &r.requests_by_kind {
        push("requests_by_kind", &c.key, c.count.to_string());
    }
    for c in &r.requests_by_channel {
        push("requests_by_channel", &c.key, c.count.to_string());
    }
    for c in &r.requests_by_outcome {
        push("requests_by_outcome", &c.key, c.count.to_string());
    }
    let d = &r.days_to_answer;
    push("days_to_answer", "closed", d.closed.to_string());
    push(
        "days_to_answer",
        "median",
        d.median.map(|m| format!("{m:.1}")).unwrap_or_default(),
    );
    push(
        "days_to_answer",
        "max",
        d.max.map(|m| m.to_string()).unwrap_or_default(),
    );
    push("days_to_answer", "overdue", d.overdue.to_string());
    push("days_to_answer", "open", d.open.to_string());
    for c in &r.mailbox_by_outcome {
        push("mailbox_by_outcome", &c.key, c.count.to_string());
    }
    push("erasures", "erased", r.erasures.to_string());
    for v in &r.retention {
        let key = format!("{}/{}/{}", v.tenant, v.data, v.action);
        push(
            "retention",
            &key,
            (v.anonymized + v.deleted + v.dependents_deleted).to_string(),
        );
    }
    push("breaches", "total", r.breaches.total.to_string());
    for c in &r.breaches.by_risk {
        push("breaches_by_risk", &c.key, c.count.to_string());
    }
    push(
        "breaches",
        "notified_in_time",
        r.breaches.notified_in_time.to_string(),
    );
    push(
        "breaches",
        "notified_late_or_not",
        r.breaches.notified_late_or_not.to_string(),
    );
    out
}

fn text(r: &AnnualReport) -> String {
    let mut s = String::new();
    let scope = r.tenant.as_deref().unwrap_or("all tenants");
    let _ = writeln!(s, "Annual report {} ({scope})", r.year);
    let list = |s: &mut String, title: &str, items: &[Count]| {
        let body = if items.is_empty() {
            "none".to_owned()
        } else {
            items
                .iter()
                .map(|c| format!("{} {}", c.key, c.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "{title}: {body}");
    };
    let _ = writeln!(s, "requests received: {}", r.requests);
    list(&mut s, "  by kind", &r.requests_by_kind);
    list(&mut s, "  by channel", &r.requests_by_channel);
    list(&mut s, "  by outcome", &r.requests_by_outcome);
    let d = &r.days_to_answer;
    let _ = writeln!(
        s,
        "  days to answer: median {}, max {} ({} closed); {} overdue, {} still open",
        d.median.map_or("–".into(), |m| format!("{m:.1}")),
        d.max.map_or("–".into(), |m| m.to_string()),
        d.closed,
        d.overdue,
        d.open
    );
    list(&mut s, "mailbox by outcome", &r.mailbox_by_outcome);
    let _ = writeln!(s, "erasures done: {}", r.erasures);
    if r.retention.is_empty() {
        let _ = writeln!(s, "retention: no completed run");
    } else {
        let _ = writeln!(
            s,
            "retention (rows anonymized / deleted / dependents deleted):"
        );
        for v in &r.retention {
            let _ = writeln!(
                s,
                "  {} {} ({}): {} / {} / {}",
                v.tenant, v.data, v.action, v.anonymized, v.deleted, v.dependents_deleted
            );
        }
    }
    let b = &r.breaches;
    let _ = writeln!(
        s,
        "breaches: {}; notified to the authority within 72 hours: {}, late or not: {}",
        b.total, b.notified_in_time, b.notified_late_or_not
    );
    list(&mut s, "  by risk", &b.by_risk);
    s
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    r: &'a AnnualReport,
    scope: String,
    median: String,
    max: String,
}

pub async fn run(ctx: &Context, args: ReportArgs, format: Format) -> Result<ExitCode> {
    let r = report::annual(ctx, args.year, args.tenant.as_deref()).await?;
    // The page's file first: a refusal then comes before any output.
    let mut page_file = match &args.html {
        None => None,
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| Refusal::InvalidInput(format!("--html {}: {e}", path.display())))?,
        ),
    };
    match format {
        Format::Table => {
            let mut out = std::io::stdout().lock();
            write!(out, "{}", crate::domain::text::printable(&text(&r)))?;
        }
        Format::Json => render::json(&r)?,
        Format::Csv => render::csv(&figures(&r))?,
    }
    if let Some(file) = page_file.as_mut() {
        let scope = match &r.tenant {
            Some(t) => ctx
                .policies
                .get(t)
                .map_or_else(|| t.clone(), |p| p.tenant.name.clone()),
            None => "alle Verantwortlichen dieser Installation".to_owned(),
        };
        let page = Page {
            median: r
                .days_to_answer
                .median
                .map_or("–".into(), |m| format!("{m:.1}")),
            max: r.days_to_answer.max.map_or("–".into(), |m| m.to_string()),
            r: &r,
            scope,
        }
        .render()?;
        file.write_all(page.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
