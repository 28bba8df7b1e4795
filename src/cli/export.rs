//! `export`: the Auskunft folder (Art. 15, 20 DSGVO) for one person.

use super::identity::IdentityArgs;
use super::person::PersonArgs;
use super::render::{self, Format};
use super::scope::TenantScope;
use crate::domain::requests::{Channel, Outcome};
use crate::ops::Context;
use crate::ops::export::{self, ExportReport, ExportRequest};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub person: PersonArgs,
    /// The controller that answers (with a no-data letter when the person is unknown there),
    /// or --all-tenants: every tenant where the person appears, one request each
    #[command(flatten)]
    pub scope: TenantScope,
    /// Folder to write; must be new or empty [default: auskunft-YYYYMMDD-<first 8 characters
    /// of the subject reference>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Id of the request in the register this answers; by default the person's open access
    /// request at each tenant, or a new one received now
    #[arg(long = "request", value_name = "ID")]
    pub request: Option<i64>,
    /// How the request arrived, when it is registered now
    #[arg(long, value_parser = parse_channel, default_value = "email", value_name = "email|letter|phone|in-person|web")]
    pub channel: Channel,
    /// The postal address for the PDF letter's window, name included: "Name\nStraße 1\n12345
    /// Ort", or one line per --address (default: the name and address on file)
    #[arg(long, value_name = "LINES")]
    pub address: Vec<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse()
}

#[derive(Serialize, Tabled)]
struct TenantRow {
    tenant: String,
    request: i64,
    outcome: Outcome,
    bookings: usize,
    consents: usize,
    notifications: usize,
    access_log: usize,
    requests: usize,
    inbox: usize,
    replies: usize,
}

pub async fn run(ctx: &Context, args: ExportArgs, format: Format) -> Result<ExitCode> {
    let identity = args.identity.resolve("export")?;
    let request = ExportRequest {
        email: args.person.email(ctx).await?,
        controllers: args.scope.controllers()?,
        out: args.out,
        request_id: args.request,
        channel: args.channel,
        address: args.address,
        identity: Some(identity),
    };
    let report = export::export(ctx, &request).await?;
    let rows = tenant_rows(&report);
    let human = format!(
        "wrote {} ({})\n{}",
        report.folder.display(),
        report.files.join(", "),
        tabled::Table::new(&rows).with(tabled::settings::Style::psql())
    );
    render::report(format, &human, &report, &rows)?;
    Ok(ExitCode::SUCCESS)
}

fn tenant_rows(report: &ExportReport) -> Vec<TenantRow> {
    report
        .tenants
        .iter()
        .map(|t| TenantRow {
            tenant: t.tenant.clone(),
            request: t.request_id,
            outcome: t.outcome,
            bookings: t.bookings,
            consents: t.consents,
            notifications: t.notifications,
            access_log: t.access_log,
            requests: t.requests,
            inbox: t.inbox,
            replies: t.replies,
        })
        .collect()
}
