//! `requests`: the register of data-subject requests and their Art. 12(3) deadlines.

use super::parse_channel;
use crate::cli::render::{self, Format};
use crate::domain::duration::RetentionPeriod;
use crate::domain::requests::{Channel, IdentityCheck, Outcome, RequestKind, RequestStatus};
use crate::ops::letters::Salutation;
use crate::ops::requests::{self as register, Decided, LetterOptions};
use crate::ops::rights;
use crate::ops::{Context, Refusal};
use crate::store::{RecipientNotice, Request, RequestFilter};
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
        /// Only requests with recipients not yet told of them (Art. 19), open or closed
        #[arg(long)]
        untold: bool,
    },
    /// One request in full, with the recipients to be told of it (Art. 19)
    Show { id: i64 },
    /// Record that a recipient was told of a rectification, erasure or restriction (Art. 19)
    Told {
        id: i64,
        /// The recipient as `requests show` lists it, or the start of its name
        #[arg(long)]
        recipient: String,
        /// The day it was told: YYYY-MM-DD (default: today)
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Extend the deadline by one or two months, with a reason, before the first deadline;
    /// writes the extension letter (Art. 12(3) s. 3) into the request's folder
    Extend {
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=2))]
        months: u32,
        #[command(flatten)]
        letter: LetterArgs,
    },
    /// Close a request with its outcome; a refusal (rejected, unfounded, excessive), no_data
    /// and an objection's decision write their letter into the request's folder
    Close {
        id: i64,
        #[arg(long, value_parser = parse_outcome)]
        outcome: Outcome,
        /// The reasons, printed in the letter (required for rejected, unfounded, excessive
        /// and a granted objection)
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        letter: LetterArgs,
    },
}

/// Where a letter goes and how it greets the person.
#[derive(Debug, clap::Args)]
pub struct LetterArgs {
    /// The request's folder for its letters (default: vorgang-<Aktenzeichen>)
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// frau or herr, when the person's form of address is known (default: the name alone)
    #[arg(long, value_parser = parse_salutation)]
    salutation: Option<Salutation>,
    /// The postal address for the letter's window, name included: "Name\nStraße 1\n12345
    /// Ort", or one line per --address (default: the name and address on file)
    #[arg(long, value_name = "LINES")]
    address: Vec<String>,
}

impl LetterArgs {
    pub fn options(self) -> LetterOptions {
        LetterOptions {
            out: self.out,
            salutation: self.salutation,
            address: self.address,
        }
    }
}

fn parse_salutation(s: &str) -> Result<Salutation, String> {
    s.parse()
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

/// A recipient to be told of a request (Art. 19), as `requests show` and `told` list it.
#[derive(Serialize, Tabled)]
struct RecipientRow {
    request: i64,
    tenant: String,
    recipient: String,
    role: String,
    to_tell_since: String,
    told_on: String,
    told_by: String,
}

impl From<RecipientNotice> for RecipientRow {
    fn from(n: RecipientNotice) -> Self {
        RecipientRow {
            request: n.request_id,
            tenant: n.tenant,
            recipient: n.recipient,
            role: n.recipient_role,
            to_tell_since: render::instant(&n.created_at),
            told_on: n.told_on.map(|d| d.to_string()).unwrap_or_default(),
            told_by: n.told_by.unwrap_or_default(),
        }
    }
}

/// Today in Germany: deadlines are calendar days there.
fn today() -> NaiveDate {
    crate::domain::time::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
}

/// The request's row, and the letter written (a line below the table; a field in JSON).
fn decided(d: Decided, today: NaiveDate, format: Format) -> Result<()> {
    match format {
        Format::Json => render::json(&d),
        _ => {
            render::rows(format, &[request_row(d.request, today)])?;
            if let (Format::Table, Some(letter)) = (format, &d.letter) {
                println!(
                    "letter: {} and {}",
                    letter.display(),
                    letter.with_extension("pdf").display()
                );
            }
            let e = &d.effects;
            if let (Format::Table, Some(id)) = (format, e.objection) {
                println!(
                    "objection {id} recorded: {} office copy(ies) cancelled, {} access-log row(s) deleted",
                    e.office_copies_cancelled, e.access_log_deleted
                );
            }
            Ok(())
        }
    }
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
            untold,
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
            let untold_ids: Option<Vec<i64>> = if untold {
                Some(
                    register::untold(ctx)
                        .await?
                        .into_iter()
                        .map(|(id, _)| id)
                        .collect(),
                )
            } else {
                None
            };
            let rows: Vec<RequestRow> = register::list(ctx, &filter)
                .await?
                .into_iter()
                .filter(|r| untold_ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
                .map(|r| request_row(r, today))
                .collect();
            render::rows(format, &rows)?;
        }
        RequestsCmd::Show { id } => {
            let request = request_row(register::get(ctx, id).await?, today);
            let recipients: Vec<RecipientRow> = register::recipients(ctx, id)
                .await?
                .into_iter()
                .map(RecipientRow::from)
                .collect();
            match format {
                Format::Json => render::json(&serde_json::json!({
                    "request": request,
                    "recipients_to_tell": recipients,
                }))?,
                Format::Csv => render::rows(format, std::slice::from_ref(&request))?,
                Format::Table => {
                    render::rows(format, std::slice::from_ref(&request))?;
                    if !recipients.is_empty() {
                        println!("recipients to tell (Art. 19):");
                        render::rows(format, &recipients)?;
                    }
                }
            }
        }
        RequestsCmd::Told {
            id,
            recipient,
            date,
        } => {
            let rows: Vec<RecipientRow> = register::told(ctx, id, &recipient, date, today)
                .await?
                .into_iter()
                .map(RecipientRow::from)
                .collect();
            render::rows(format, &rows)?;
        }
        RequestsCmd::Extend {
            id,
            reason,
            months,
            letter,
        } => decided(
            register::extend(ctx, id, months, &reason, today, &letter.options()).await?,
            today,
            format,
        )?,
        RequestsCmd::Close {
            id,
            outcome,
            reason,
            letter,
        } => decided(
            register::decide(ctx, id, outcome, reason.as_deref(), &letter.options()).await?,
            today,
            format,
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_identity(s: &str) -> Result<IdentityCheck, String> {
    s.parse()
}
