//! `hold`: legal holds on a person or a booking, kept by erase and retention.

use crate::cli::render::{self, Format};
use crate::ops::rights::{self, HoldOn};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use chrono::NaiveDate;
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum HoldCmd {
    /// Put a legal hold on a person or a booking: kept by erase and retention until removed or ended
    Add {
        /// The tenant (controller) the hold is for
        #[arg(long)]
        tenant: String,
        /// The person's e-mail address
        #[arg(long, group = "on", required = true)]
        email: Option<String>,
        /// The person's handle as `subject find` shows it
        #[arg(long, group = "on", value_name = "HANDLE", value_parser = crate::domain::subject::parse_handle)]
        subject: Option<String>,
        /// Booking reference, e.g. T-7K3MQ9XA2B
        #[arg(long, group = "on")]
        booking: Option<String>,
        /// Why the data must be kept (e.g. the court case); recorded with the hold
        #[arg(long)]
        reason: String,
        /// Last day of the hold, 2026-12-01 or 01.12.2026 (default: until removed)
        #[arg(long, value_parser = crate::cli::when::day)]
        until: Option<NaiveDate>,
    },
    /// List holds (active ones unless --all)
    List {
        /// Only this tenant
        #[arg(long)]
        tenant: Option<String>,
        /// Removed and ended holds too
        #[arg(long)]
        all: bool,
    },
    /// Remove a hold
    Remove {
        /// The hold's id (see `hold list`)
        id: i64,
    },
}

#[derive(Serialize, Tabled)]
struct HoldRow {
    id: i64,
    tenant: String,
    on: String,
    reason: String,
    #[tabled(display = "render::or_dash")]
    until: Option<NaiveDate>,
    #[tabled(display = "render::local")]
    created_at: chrono::DateTime<chrono::Utc>,
    #[tabled(display = "render::local_or_dash")]
    removed_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn hold(ctx: &Context, cmd: HoldCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        HoldCmd::Add {
            tenant,
            email,
            subject,
            booking,
            reason,
            until,
        } => {
            let email = match subject {
                Some(h) => Some(rights::person_email(ctx, &rights::Person::Handle(h)).await?),
                None => email,
            };
            let on = match (&email, &booking) {
                (Some(e), _) => HoldOn::Email(e),
                (_, Some(b)) => HoldOn::Booking(b),
                _ => return Err(Refusal::InvalidInput("give --email or --booking".into()).into()),
            };
            let id = rights::hold_add(ctx, &tenant, on, &reason, until).await?;
            let human = format!("hold {id} added at {tenant}");
            render::report(
                format,
                &human,
                &serde_json::json!({ "hold": id }),
                &[serde_json::json!({ "hold": id })],
            )?;
        }
        HoldCmd::List { tenant, all } => {
            let rows: Vec<HoldRow> = rights::hold_list(ctx, tenant.as_deref(), all)
                .await?
                .into_iter()
                .map(|h| HoldRow {
                    id: h.id,
                    tenant: h.tenant,
                    on: match (h.booking_reference, h.subject_ref) {
                        (Some(b), _) => format!("booking {b}"),
                        (_, Some(s)) => {
                            format!("person {}", s.handle())
                        }
                        _ => String::new(),
                    },
                    reason: h.reason,
                    until: h.until_on,
                    created_at: h.created_at,
                    removed_at: h.removed_at,
                })
                .collect();
            render::rows(format, &rows)?;
        }
        HoldCmd::Remove { id } => {
            rights::hold_remove(ctx, id).await?;
            let human = format!("hold {id} removed");
            render::report(
                format,
                &human,
                &serde_json::json!({ "removed": id }),
                &[serde_json::json!({ "removed": id })],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
