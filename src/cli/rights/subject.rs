//! `subject find`: where a person appears, rows per tenant and category.

use crate::cli::render::{self, Format};
use crate::ops::rights::{self, FindBy};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum SubjectCmd {
    /// Where a person appears: rows per tenant and category
    Find {
        #[arg(long, group = "who")]
        email: Option<String>,
        #[arg(long, group = "who")]
        phone: Option<String>,
        /// "First Last" or "Last"
        #[arg(long, group = "who")]
        name: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Serialize, Tabled)]
struct AppearanceRow {
    tenant: String,
    subject_ref: String,
    category: &'static str,
    rows: usize,
}

pub async fn subject(ctx: &Context, cmd: SubjectCmd, format: Format) -> Result<ExitCode> {
    let SubjectCmd::Find {
        email,
        phone,
        name,
        tenant,
    } = cmd;
    let by = match (email, phone, name) {
        (Some(e), _, _) => FindBy::Email(e),
        (_, Some(p), _) => FindBy::Phone(p),
        (_, _, Some(n)) => FindBy::Name(n),
        _ => return Err(Refusal::InvalidInput("give --email, --phone or --name".into()).into()),
    };
    let rows: Vec<AppearanceRow> = rights::find(ctx, &by, tenant.as_deref())
        .await?
        .into_iter()
        .map(|a| AppearanceRow {
            tenant: a.tenant,
            subject_ref: a.subject_ref.to_string(),
            category: a.category,
            rows: a.rows,
        })
        .collect();
    render::rows(format, &rows)?;
    Ok(ExitCode::SUCCESS)
}
