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
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum RequestsCmd {
    /// Enter a request in the register; the deadline follows Art. 12(3)
    Open {
        /// access, erasure, rectification, restriction, objection, portability or withdrawal
        #[arg(long, value_parser = parse_kind)]
        kind: RequestKind,
        #[command(flatten)]
        person: crate::cli::person::PersonArgs,
        /// The controller (tenant) that received it
        #[arg(long)]
        tenant: Option<String>,
        /// When it arrived: 2026-12-01, 01.12.2026, "01.12.2026 14:30" (Europe/Berlin) or
        /// RFC 3339 (default: now)
        #[arg(long, value_parser = crate::cli::when::received)]
        received: Option<DateTime<Utc>>,
        /// How it arrived: email, letter, phone, in_person or web
        #[arg(long, default_value = "email", value_parser = parse_channel)]
        channel: Channel,
        /// How the person's identity was checked, if it was (in_person, id_document, letter,
        /// phone_callback, …); recorded on the request
        #[arg(long, value_name = "KIND", value_parser = parse_identity)]
        identity_checked_by: Option<IdentityCheck>,
    },
    /// The register; --format csv is what an auditor gets
    List {
        /// Only this tenant
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
    Show {
        /// The request's id (see `requests list`)
        id: i64,
    },
    /// Record that a recipient was told of a rectification, erasure or restriction (Art. 19)
    Told {
        /// The request's id
        id: i64,
        /// The recipient as `requests show` lists it, or the start of its name
        #[arg(long)]
        recipient: String,
        /// The day it was told: 2026-12-01 or 01.12.2026 (default: today)
        #[arg(long, value_parser = crate::cli::when::day)]
        date: Option<NaiveDate>,
    },
    /// Extend the deadline by one or two months, with a reason, before the first deadline;
    /// writes the extension letter (Art. 12(3) s. 3) into the request's folder
    Extend {
        /// The request's id
        id: i64,
        /// Why more time is needed; printed in the letter to the person
        #[arg(long)]
        reason: String,
        /// By how many months: 1 or 2
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=2))]
        months: u32,
        #[command(flatten)]
        letter: LetterArgs,
    },
    /// Close a request with its outcome; a refusal (rejected, unfounded, excessive), no_data
    /// and an objection's decision write their letter into the request's folder
    Close {
        /// The request's id
        id: i64,
        /// answered, no_data, erased, erased_partly, rectified, restricted, rejected,
        /// withdrawn_by_subject, granted, unfounded or excessive
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

#[derive(Serialize, Tabled)]
struct RequestRow {
    id: i64,
    #[tabled(display = "render::or_dash")]
    tenant: Option<String>,
    kind: String,
    channel: String,
    /// How the person's identity was established (dmarc, confirmed_by_mail, in_person, …).
    #[tabled(display = "render::or_dash")]
    identity: Option<String>,
    #[tabled(display = "render::local")]
    received_at: DateTime<Utc>,
    due_on: NaiveDate,
    #[tabled(display = "render::or_dash")]
    extended_due_on: Option<NaiveDate>,
    #[tabled(display = "render::or_dash")]
    extension_reason: Option<String>,
    status: String,
    #[tabled(display = "render::or_dash")]
    outcome: Option<String>,
    #[tabled(display = "render::local_or_dash")]
    closed_at: Option<DateTime<Utc>>,
    overdue: bool,
    #[tabled(display = "render::handle")]
    subject_ref: Option<String>,
}

fn request_row(r: Request, today: NaiveDate) -> RequestRow {
    RequestRow {
        overdue: r.status == RequestStatus::Open && r.effective_due() < today,
        id: r.id,
        tenant: r.tenant,
        kind: r.kind.to_string(),
        channel: r.channel.to_string(),
        identity: r.identity.map(|i| i.to_string()),
        received_at: r.received_at,
        due_on: r.due_on,
        extended_due_on: r.extended_due_on,
        extension_reason: r.extension_reason,
        status: r.status.to_string(),
        outcome: r.outcome.map(|o| o.to_string()),
        closed_at: r.closed_at,
        subject_ref: r.subject_ref.map(|s| s.to_string()),
    }
}

/// A recipient to be told of a request (Art. 19), as `requests show` and `told` list it.
#[derive(Serialize, Tabled)]
struct RecipientRow {
    request: i64,
    tenant: String,
    recipient: String,
    role: String,
    #[tabled(display = "render::local")]
    to_tell_since: DateTime<Utc>,
    #[tabled(display = "render::or_dash")]
    told_on: Option<NaiveDate>,
    #[tabled(display = "render::or_dash")]
    told_by: Option<String>,
}

impl From<RecipientNotice> for RecipientRow {
    fn from(n: RecipientNotice) -> Self {
        RecipientRow {
            request: n.request_id,
            tenant: n.tenant,
            recipient: n.recipient,
            role: n.recipient_role,
            to_tell_since: n.created_at,
            told_on: n.told_on,
            told_by: n.told_by,
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
            person,
            tenant,
            received,
            channel,
            identity_checked_by,
        } => {
            let subject = rights::person_ref(ctx, &person.person()?).await?;
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
