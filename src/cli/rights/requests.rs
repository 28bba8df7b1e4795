//! `requests`: the register of data-subject requests and their Art. 12(3) deadlines.

use super::parse_channel;
use crate::cli::render::{self, Format};
use crate::domain::duration::RetentionPeriod;
use crate::domain::requests::{Channel, IdentityCheck, Outcome, RequestKind, RequestStatus};
use crate::ops::requests as register;
use crate::ops::rights;
use crate::ops::{Context, Refusal};
use crate::store::{Request, RequestFilter};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum RequestsCmd {
    /// Enter a request in the register; the deadline follows Art. 12(3)
    Open {
        #[arg(long, value_parser = parse_kind)]
        kind: RequestKind,
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: Option<String>,
        /// When it arrived: YYYY-MM-DD or an RFC 3339 instant (default: now)
        #[arg(long, value_parser = parse_received)]
        received: Option<DateTime<Utc>>,
        #[arg(long, default_value = "email", value_parser = parse_channel)]
        channel: Channel,
        /// How the person's identity was checked, if it was (in_person, id_document, letter,
        /// phone_callback, …); recorded on the request
        #[arg(long, value_name = "KIND", value_parser = parse_identity)]
        identity_checked_by: Option<IdentityCheck>,
    },
    /// The register; --format csv is what an auditor gets
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// open or closed
        #[arg(long)]
        status: Option<String>,
        /// Only open requests past their deadline
        #[arg(long, conflicts_with = "due_within")]
        overdue: bool,
        /// Only open requests due within this period, e.g. 7d
        #[arg(long)]
        due_within: Option<RetentionPeriod>,
    },
    /// One request in full
    Show { id: i64 },
    /// Extend the deadline by one or two months, with a reason, before the first deadline
    Extend {
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=2))]
        months: u32,
    },
    /// Close a request with its outcome
    Close {
        id: i64,
        #[arg(long, value_parser = parse_outcome)]
        outcome: Outcome,
    },
}

fn parse_kind(s: &str) -> Result<RequestKind, String> {
    s.parse()
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    s.parse()
}

/// A day (taken as noon UTC, which is the same day in Germany) or an exact instant.
fn parse_received(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = s.parse::<NaiveDate>() {
        return Ok(d
            .and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon"))
            .and_utc());
    }
    s.parse::<DateTime<Utc>>()
        .map_err(|_| format!("\"{s}\" is neither YYYY-MM-DD nor an RFC 3339 instant"))
}

#[derive(Serialize, Tabled)]
struct RequestRow {
    id: i64,
    tenant: String,
    kind: String,
    channel: String,
    /// How the person's identity was established (dmarc, confirmed_by_mail, in_person, …).
    identity: String,
    received_at: String,
    due_on: String,
    extended_due_on: String,
    extension_reason: String,
    status: String,
    outcome: String,
    closed_at: String,
    overdue: bool,
    subject_ref: String,
}

fn request_row(r: Request, today: NaiveDate) -> RequestRow {
    RequestRow {
        overdue: r.status == RequestStatus::Open && r.effective_due() < today,
        id: r.id,
        tenant: r.tenant.unwrap_or_default(),
        kind: r.kind.to_string(),
        channel: r.channel.to_string(),
        identity: r.identity.map(|i| i.to_string()).unwrap_or_default(),
        received_at: render::instant(&r.received_at),
        due_on: r.due_on.to_string(),
        extended_due_on: r.extended_due_on.map(|d| d.to_string()).unwrap_or_default(),
        extension_reason: r.extension_reason.unwrap_or_default(),
        status: r.status.to_string(),
        outcome: r.outcome.map(|o| o.to_string()).unwrap_or_default(),
        closed_at: r.closed_at.map(|t| render::instant(&t)).unwrap_or_default(),
        subject_ref: r.subject_ref.map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// Today in Germany: deadlines are calendar days there.
fn today() -> NaiveDate {
    crate::domain::time::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
}

pub async fn requests(ctx: &Context, cmd: RequestsCmd, format: Format) -> Result<ExitCode> {
    let today = today();
    let show = |r: Request| -> Result<()> {
        let row = request_row(r, today);
        render::rows(format, std::slice::from_ref(&row))
    };
    match cmd {
        RequestsCmd::Open {
            kind,
            email,
            tenant,
            received,
            channel,
            identity_checked_by,
        } => {
            let subject = rights::email_ref(ctx, &email).await?;
            let received = received.unwrap_or_else(crate::domain::time::now);
            let mut opened = register::open(
                ctx,
                tenant.as_deref(),
                kind,
                Some(&subject),
                channel,
                received,
            )
            .await?;
            if let Some(identity) = identity_checked_by {
                crate::ops::identity::record_identity(ctx, &[opened.id], identity).await?;
                opened = register::get(ctx, opened.id).await?;
            }
            show(opened)?;
        }
        RequestsCmd::List {
            tenant,
            status,
            overdue,
            due_within,
        } => {
            let status = match &status {
                Some(s) => Some(s.parse::<RequestStatus>().map_err(|_| {
                    Refusal::InvalidInput(format!("--status {s}: use open or closed"))
                })?),
                None => None,
            };
            let due_on_or_before = if overdue {
                today.pred_opt()
            } else {
                due_within.map(|p| today + chrono::Duration::seconds(p.as_seconds()))
            };
            let filter = RequestFilter {
                tenant,
                status,
                due_on_or_before,
                ..Default::default()
            };
            let rows: Vec<RequestRow> = register::list(ctx, &filter)
                .await?
                .into_iter()
                .map(|r| request_row(r, today))
                .collect();
            render::rows(format, &rows)?;
        }
        RequestsCmd::Show { id } => show(register::get(ctx, id).await?)?,
        RequestsCmd::Extend { id, reason, months } => {
            show(register::extend(ctx, id, months, &reason, today).await?)?
        }
        RequestsCmd::Close { id, outcome } => show(register::close(ctx, id, outcome).await?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_identity(s: &str) -> Result<IdentityCheck, String> {
    s.parse()
}
