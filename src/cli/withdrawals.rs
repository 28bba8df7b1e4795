//! `withdrawals import`, `withdrawals review`, `withdrawals resolve`.

use super::render::{self, Format};
use crate::domain::requests::{Channel, IdentityCheck, InboxOutcome};
use crate::mail::Source;
use crate::ops::Context;
use crate::ops::withdrawals::{self, ImportOptions};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum WithdrawalsCmd {
    /// Read the office mailbox: every message gets one outcome; withdrawals and requests are applied and answered
    Import(ImportArgs),
    /// Messages that need a human: review, unmatched, unreadable
    Review,
    /// Apply a human's decision on a message from the review list
    Resolve {
        /// The message's key (Message-ID or sha256:…), as `withdrawals review` shows it
        message: String,
        /// withdrawn, sms_withdrawn, access_request, erasure_request, objection_request or not_a_request
        #[arg(long = "as")]
        decision: String,
        /// Whose request it is (required unless not_a_request)
        #[arg(long)]
        email: Option<String>,
        /// Where the reply is written
        #[arg(long, default_value = "outbox")]
        outbox: PathBuf,
        /// How the sender's identity was checked (e.g. phone_callback after a call), recorded
        /// on the request the decision opens
        #[arg(long, value_name = "KIND", value_parser = parse_identity)]
        identity_checked_by: Option<IdentityCheck>,
    },
    /// Record a withdrawal that reached the office by letter, phone or in person: the same
    /// effects and the same reply as a withdrawal mail
    Record {
        #[arg(long)]
        tenant: String,
        /// The person's e-mail address, as they gave it when booking
        #[arg(long)]
        email: String,
        /// letter, phone or in-person
        #[arg(long, value_parser = parse_channel)]
        channel: Channel,
        /// Only the SMS reminders, not every consent
        #[arg(long)]
        sms_only: bool,
        /// Where the reply is written
        #[arg(long, default_value = "outbox")]
        outbox: PathBuf,
        /// With --channel letter: the folder for the reply as a PDF letter (DIN 5008)
        #[arg(long, value_name = "DIR", default_value = "briefe")]
        letters: PathBuf,
        /// With --channel letter: the postal address for the letter's window, name
        /// included: "Name\nStraße 1\n12345 Ort", or one line per --address (default: the
        /// name and address on file)
        #[arg(long, value_name = "LINES")]
        address: Vec<String>,
    },
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    let c: Channel = s.parse()?;
    match c {
        Channel::Letter | Channel::Phone | Channel::InPerson => Ok(c),
        _ => Err(format!(
            "\"{s}\": use letter, phone or in-person (mail comes through `withdrawals import`, the page records itself)"
        )),
    }
}

fn parse_identity(s: &str) -> Result<IdentityCheck, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A Maildir (its new/ and cur/ are read)
    #[arg(long, conflicts_with_all = ["mbox", "files"])]
    maildir: Option<PathBuf>,
    /// An mbox file
    #[arg(long, conflicts_with = "files")]
    mbox: Option<PathBuf>,
    /// Single .eml files
    files: Vec<PathBuf>,
    /// Where replies are written as .eml files
    #[arg(long, default_value = "outbox")]
    outbox: PathBuf,
    /// Show the outcomes; change nothing, write no replies
    #[arg(long)]
    dry_run: bool,
    /// Base URL of the citizen pages, for the link in confirmation requests
    /// (e.g. https://termine.example.de); without it the link is the path alone
    #[arg(long, env = "DATENWART_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
}

#[derive(Serialize, Tabled)]
struct MessageRow {
    origin: String,
    message_id: String,
    outcome: InboxOutcome,
    tenant: String,
    request_id: String,
    reason: String,
}

#[derive(Serialize, Tabled)]
struct ReviewRow {
    message: String,
    outcome: String,
    tenant: String,
    received_at: String,
    sender: String,
    subject: String,
    reason: String,
}

pub async fn run(ctx: &Context, cmd: WithdrawalsCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        WithdrawalsCmd::Import(args) => import(ctx, args, format).await,
        WithdrawalsCmd::Review => {
            let rows: Vec<ReviewRow> = withdrawals::review(ctx)
                .await?
                .into_iter()
                .map(|i| ReviewRow {
                    message: i.message_key,
                    outcome: i.outcome.to_string(),
                    tenant: i.tenant.unwrap_or_default(),
                    received_at: i
                        .received_at
                        .map(|t| render::instant(&t))
                        .unwrap_or_default(),
                    sender: i.sender.unwrap_or_default(),
                    subject: i.subject.unwrap_or_default(),
                    reason: i.reason.unwrap_or_default(),
                })
                .collect();
            render::rows(format, &rows)?;
            Ok(ExitCode::SUCCESS)
        }
        WithdrawalsCmd::Resolve {
            message,
            decision,
            email,
            outbox,
            identity_checked_by,
        } => {
            let r =
                withdrawals::resolve(ctx, &message, &decision, email.as_deref(), &outbox).await?;
            if let (Some(identity), Some(id)) = (identity_checked_by, r.request_id) {
                crate::ops::identity::record_identity(ctx, &[id], identity).await?;
            }
            let human = format!(
                "{}: {}{}{}",
                r.message_key,
                r.outcome,
                r.request_id
                    .map(|id| format!(", request {id}"))
                    .unwrap_or_default(),
                r.reply
                    .as_ref()
                    .map(|p| format!(", reply {}", p.display()))
                    .unwrap_or_default()
            );
            let human = match r.replies_recovered {
                0 => human,
                n => format!(
                    "{human}\n{n} reply(ies) left pending by an earlier run written to the outbox"
                ),
            };
            render::report(format, &human, &r, std::slice::from_ref(&r))?;
            Ok(ExitCode::SUCCESS)
        }
        WithdrawalsCmd::Record {
            tenant,
            email,
            channel,
            sms_only,
            outbox,
            letters,
            address,
        } => {
            if !address.is_empty() && channel != Channel::Letter {
                return Err(crate::ops::Refusal::InvalidInput(
                    "--address: only a withdrawal by letter (--channel letter) is answered by letter"
                        .into(),
                )
                .into());
            }
            let r = withdrawals::record_other(
                ctx,
                &withdrawals::OtherWithdrawal {
                    tenant: &tenant,
                    email: &email,
                    channel,
                    sms_only,
                    outbox: Some(&outbox),
                    letters: Some(&letters),
                    address: &address,
                },
            )
            .await?;
            let human = format!(
                "{}: {} ({}), request {}, {} consent(s) withdrawn, {} appointment(s) cancelled{}",
                r.tenant,
                r.outcome,
                r.channel,
                r.request_id.map(|i| i.to_string()).unwrap_or_default(),
                r.consents_withdrawn,
                r.bookings_cancelled,
                r.reply
                    .as_ref()
                    .map(|p| format!(", reply {}", p.display()))
                    .unwrap_or_default()
            );
            let human = match &r.letter {
                Some(l) => format!("{human}, letter {}", l.display()),
                None => human,
            };
            render::report(format, &human, &r, std::slice::from_ref(&r))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import(ctx: &Context, args: ImportArgs, format: Format) -> Result<ExitCode> {
    let source = match (args.maildir, args.mbox) {
        (Some(d), _) => Source::Maildir(d),
        (_, Some(m)) => Source::Mbox(m),
        _ if !args.files.is_empty() => Source::Files(args.files),
        _ => {
            return Err(crate::ops::Refusal::InvalidInput(
                "give --maildir DIR, --mbox FILE or .eml files".into(),
            )
            .into());
        }
    };
    if let Some(public) = &args.public_url
        && !(public.starts_with("https://") || public.starts_with("http://"))
    {
        return Err(crate::ops::Refusal::InvalidInput(format!(
            "--public-url {public}: must start with https:// (or http://)"
        ))
        .into());
    }
    let opts = ImportOptions {
        source,
        outbox: args.outbox,
        dry_run: args.dry_run,
        public_url: args.public_url,
    };
    let import = withdrawals::import(ctx, &opts).await?;
    if import.confirmations_expired > 0 {
        tracing::info!(
            "{} confirmation request(s) expired unconfirmed (outcome unconfirmed; nothing done)",
            import.confirmations_expired
        );
    }
    // JSON stays one object per message; the replies recovered are in the log and the table.
    let reports = &import.messages;
    match format {
        Format::Json => render::json(reports)?,
        _ => {
            let rows: Vec<MessageRow> = reports
                .iter()
                .map(|r| MessageRow {
                    origin: r.origin.clone(),
                    message_id: r.message_id.clone().unwrap_or_default(),
                    outcome: r.outcome,
                    tenant: r.tenant.clone().unwrap_or_default(),
                    request_id: r.request_id.map(|i| i.to_string()).unwrap_or_default(),
                    reason: r.reason.clone(),
                })
                .collect();
            render::rows(format, &rows)?;
            if format == Format::Table {
                let counts: Vec<String> = InboxOutcome::ALL
                    .iter()
                    .filter_map(|o| {
                        let n = reports.iter().filter(|r| r.outcome == *o).count();
                        (n > 0).then(|| format!("{o}: {n}"))
                    })
                    .collect();
                println!("{} message(s); {}", reports.len(), counts.join(", "));
                if import.confirmations_expired > 0 {
                    println!(
                        "{} confirmation request(s) expired unconfirmed: nothing was done",
                        import.confirmations_expired
                    );
                }
                if import.replies_recovered > 0 {
                    println!(
                        "{} reply(ies) left pending by an earlier run written to the outbox",
                        import.replies_recovered
                    );
                }
                if args.dry_run {
                    println!("dry run: nothing was changed, no reply written");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
