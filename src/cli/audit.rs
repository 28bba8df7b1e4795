//! `audit list` and `audit verify`.

use super::render::{self, Format};
use crate::ops::{Context, Refusal, audit};
use crate::store::AuditFilter;
use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit entries, newest first
    List {
        /// Only entries of this tenant
        #[arg(long)]
        tenant: Option<String>,
        /// Only this action, e.g. services.import
        #[arg(long)]
        action: Option<String>,
        /// Only entries at or after this time: 2026-11-01, 01.11.2026, "01.11.2026 14:30"
        /// (Europe/Berlin) or RFC 3339
        #[arg(long, value_parser = crate::cli::when::instant)]
        since: Option<DateTime<Utc>>,
        /// At most this many entries
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Check the hash chain; exit 1 and name the first bad entry if it was altered
    Verify,
}

#[derive(Serialize, Tabled)]
struct AuditRow {
    id: i64,
    #[tabled(display = "render::local")]
    at: DateTime<Utc>,
    actor: String,
    action: String,
    #[tabled(display = "render::or_dash")]
    tenant: Option<String>,
    #[tabled(display = "render::handle")]
    subject_ref: Option<String>,
    details: String,
}

/// An audit entry in JSON: `details` as the object it is, not a string of JSON.
#[derive(Serialize)]
struct AuditJson {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    tenant: Option<String>,
    subject_ref: Option<String>,
    details: serde_json::Value,
}

impl From<AuditRow> for AuditJson {
    fn from(r: AuditRow) -> Self {
        AuditJson {
            details: serde_json::from_str(&r.details)
                .unwrap_or(serde_json::Value::String(r.details)),
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            tenant: r.tenant,
            subject_ref: r.subject_ref,
        }
    }
}

pub async fn run(ctx: &Context, cmd: AuditCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        AuditCmd::List {
            tenant,
            action,
            since,
            limit,
        } => {
            if limit < 1 {
                return Err(
                    Refusal::InvalidInput(format!("--limit {limit}: must be at least 1")).into(),
                );
            }
            let filter = AuditFilter {
                tenant,
                action,
                since,
                limit,
            };
            let rows: Vec<AuditRow> = ctx
                .store
                .audit_entries(&filter)
                .await?
                .into_iter()
                .map(|e| AuditRow {
                    id: e.id,
                    at: e.at,
                    actor: e.actor,
                    action: e.action,
                    tenant: e.tenant,
                    subject_ref: e.subject_ref,
                    details: e.details,
                })
                .collect();
            if format == Format::Json {
                let rows: Vec<AuditJson> = rows.into_iter().map(AuditJson::from).collect();
                render::json(&rows)?;
            } else {
                render::rows(format, &rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Verify => {
            let v = audit::verify(ctx.store.as_ref()).await?;
            let human = match &v.problem {
                None => format!("audit trail intact: {} entries verified", v.entries),
                Some(p) => format!("audit trail BROKEN: {p}"),
            };
            render::report(format, &human, &v, std::slice::from_ref(&v))?;
            if v.ok {
                Ok(ExitCode::SUCCESS)
            } else {
                if format != Format::Table {
                    eprintln!("datenwart: {human}");
                }
                Ok(ExitCode::from(1))
            }
        }
    }
}
