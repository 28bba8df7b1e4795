//! `subject find`: where a person appears, rows per tenant and category, the person shown
//! masked with the handle the other person commands take as `--subject`.

use crate::cli::render::{self, Format};
use crate::domain::subject::parse_handle;
use crate::ops::rights::{self, FindBy};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum SubjectCmd {
    /// Where a person appears: rows per tenant and category, with a masked name and e-mail
    /// and the handle to give other commands as --subject
    Find {
        /// The person's e-mail address (compared case-insensitively)
        #[arg(long, group = "who")]
        email: Option<String>,
        /// The person's phone number (+49 …, 0171 …)
        #[arg(long, group = "who")]
        phone: Option<String>,
        /// "First Last" or "Last"; case, accents and umlaut spellings do not matter
        /// ("Wojcik" finds "Wójcik", "Mueller" finds "Müller")
        #[arg(long, group = "who")]
        name: Option<String>,
        /// A handle from an earlier listing (8 or more characters of the reference)
        #[arg(long, group = "who", value_name = "HANDLE", value_parser = parse_handle)]
        subject: Option<String>,
        /// Only this tenant
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Serialize, Tabled)]
struct AppearanceRow {
    tenant: String,
    /// The short handle `--subject` takes; JSON carries the full reference too.
    handle: String,
    #[tabled(display = "render::or_dash")]
    name: Option<String>,
    #[tabled(display = "render::or_dash")]
    email: Option<String>,
    category: &'static str,
    rows: usize,
}

pub async fn subject(ctx: &Context, cmd: SubjectCmd, format: Format) -> Result<ExitCode> {
    let SubjectCmd::Find {
        email,
        phone,
        name,
        subject,
        tenant,
    } = cmd;
    let by = match (email, phone, name, subject) {
        (Some(e), _, _, _) => FindBy::Email(e),
        (_, Some(p), _, _) => FindBy::Phone(p),
        (_, _, Some(n), _) => FindBy::Name(n),
        (_, _, _, Some(h)) => FindBy::Handle(h),
        _ => {
            return Err(
                Refusal::InvalidInput("give --email, --phone, --name or --subject".into()).into(),
            );
        }
    };
    let found = rights::find(ctx, &by, tenant.as_deref()).await?;
    if format == Format::Json {
        render::json(&found)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<AppearanceRow> = found
        .into_iter()
        .map(|a| AppearanceRow {
            tenant: a.tenant,
            handle: a.handle,
            name: a.name,
            email: a.email,
            category: a.category,
            rows: a.rows,
        })
        .collect();
    render::rows(format, &rows)?;
    Ok(ExitCode::SUCCESS)
}
