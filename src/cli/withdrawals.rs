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
        /// The tenant (controller) the withdrawal reached
        #[arg(long)]
        tenant: String,
        /// The person: --email as they gave it when booking, --phone or --subject HANDLE
        #[command(flatten)]
        person: crate::cli::person::PersonArgs,
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

/// The environment variable holding the IMAP password (never a flag: flags show in `ps`).
pub const IMAP_PASSWORD_ENV: &str = "DATENWART_IMAP_PASSWORD";

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A Maildir (its new/ and cur/ are read)
    #[arg(long, conflicts_with_all = ["mbox", "files", "imap"])]
    maildir: Option<PathBuf>,
    /// An mbox file
    #[arg(long, conflicts_with_all = ["files", "imap"])]
    mbox: Option<PathBuf>,
    /// The office mailbox on its IMAP server: imaps://USER@HOST[:993]/INBOX (TLS) or
    /// imap://USER@HOST[:143]/INBOX (STARTTLS, required); imap://…?tls=none is plain text,
    /// for a test server on this host only. The password comes from DATENWART_IMAP_PASSWORD
    /// or --imap-password-file, never from the URL
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "files",
        env = "DATENWART_IMAP_URL",
        hide_env_values = true
    )]
    imap: Option<String>,
    /// File holding the IMAP password (its first line)
    #[arg(long, value_name = "FILE", requires = "imap")]
    imap_password_file: Option<PathBuf>,
    /// PEM file with the certificate authority of the IMAP server's certificate, when it is
    /// not one of the public roots (an office's own CA)
    #[arg(long, value_name = "FILE", requires = "imap")]
    imap_ca_file: Option<PathBuf>,
    /// What happens to a message the intake took over, after its outcome is committed:
    /// move it to --imap-folder, or flag it with --imap-keyword and leave it. Mail for the
    /// office's normal handling (not_a_request, not_addressed) is never touched
    #[arg(long, value_enum, default_value_t = After::Move, requires = "imap")]
    imap_after: After,
    /// The folder processed messages are moved to, `/` between levels; created if missing
    #[arg(long, value_name = "FOLDER", default_value = crate::ops::imap_import::DEFAULT_FOLDER, requires = "imap")]
    imap_folder: String,
    /// The IMAP keyword set by --imap-after flag (and on the originals when a server
    /// without MOVE only lets us copy)
    #[arg(long, value_name = "KEYWORD", default_value = crate::ops::imap_import::DEFAULT_KEYWORD, requires = "imap")]
    imap_keyword: String,
    /// Messages fetched from the server at once (at most 32 MiB are held)
    #[arg(long, value_name = "N", default_value_t = crate::ops::imap_import::DEFAULT_BATCH, requires = "imap")]
    imap_batch: usize,
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

/// `--imap-after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum After {
    /// Move to --imap-folder
    Move,
    /// Set --imap-keyword, leave in place
    Flag,
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
    #[tabled(display = "render::or_dash")]
    tenant: Option<String>,
    #[tabled(display = "render::local_or_dash")]
    received_at: Option<chrono::DateTime<chrono::Utc>>,
    #[tabled(display = "render::or_dash")]
    sender: Option<String>,
    #[tabled(display = "render::or_dash")]
    subject: Option<String>,
    #[tabled(display = "render::or_dash")]
    reason: Option<String>,
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
                    tenant: i.tenant,
                    received_at: i.received_at,
                    sender: i.sender,
                    subject: i.subject,
                    reason: i.reason,
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
            person,
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
            let email = person.email(ctx).await?;
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
    if let Some(public) = &args.public_url
        && !(public.starts_with("https://") || public.starts_with("http://"))
    {
        return Err(crate::ops::Refusal::InvalidInput(format!(
            "--public-url {public}: must start with https:// (or http://)"
        ))
        .into());
    }
    let mut imap = None;
    let import = match (args.imap.clone(), args.maildir.clone(), args.mbox.clone()) {
        (Some(url), _, _) => {
            let opts = imap_options(
                &url,
                args.imap_password_file.as_deref(),
                args.imap_ca_file.as_deref(),
                args.imap_after,
                args.imap_folder.clone(),
                args.imap_keyword.clone(),
                args.imap_batch,
                ImportPlaces {
                    outbox: args.outbox.clone(),
                    dry_run: args.dry_run,
                    public_url: args.public_url.clone(),
                },
            )?;
            let report = crate::ops::imap_import::import(ctx, &opts).await?;
            let import = report.import.clone();
            imap = Some(report);
            import
        }
        (None, Some(d), _) => file_import(ctx, &args, Source::Maildir(d)).await?,
        (None, _, Some(m)) => file_import(ctx, &args, Source::Mbox(m)).await?,
        _ if !args.files.is_empty() => {
            file_import(ctx, &args, Source::Files(args.files.clone())).await?
        }
        _ => {
            return Err(crate::ops::Refusal::InvalidInput(
                "give --maildir DIR, --mbox FILE, --imap URL or .eml files".into(),
            )
            .into());
        }
    };
    if import.confirmations_expired > 0 {
        tracing::info!(
            "{} confirmation request(s) expired unconfirmed (outcome unconfirmed; nothing done)",
            import.confirmations_expired
        );
    }
    if let Some(r) = &imap {
        tracing::info!(
            "IMAP: {} message(s) filed away, {} left in the mailbox for normal handling{}",
            r.filed_away,
            r.left_in_mailbox,
            if r.restarted {
                "; the server had renumbered the mailbox (UIDVALIDITY), read again from its first message"
            } else {
                ""
            }
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
                if let Some(r) = &imap {
                    println!(
                        "IMAP: {} message(s) filed away, {} left in the mailbox for normal handling",
                        r.filed_away, r.left_in_mailbox
                    );
                    if r.restarted {
                        println!(
                            "IMAP: the server had renumbered the mailbox (UIDVALIDITY {}); it was read again from its first message",
                            r.uid_validity
                        );
                    }
                }
                if args.dry_run {
                    println!("dry run: nothing was changed, no reply written");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where replies go and whether anything changes: the same for every source.
struct ImportPlaces {
    outbox: PathBuf,
    dry_run: bool,
    public_url: Option<String>,
}

async fn file_import(
    ctx: &Context,
    args: &ImportArgs,
    source: Source,
) -> Result<withdrawals::ImportReport> {
    let opts = ImportOptions {
        source,
        outbox: args.outbox.clone(),
        dry_run: args.dry_run,
        public_url: args.public_url.clone(),
    };
    withdrawals::import(ctx, &opts).await
}

/// The IMAP import's options; a usage error (exit 2) when the URL, the password or the CA
/// file is missing or wrong.
#[allow(clippy::too_many_arguments)]
fn imap_options(
    url: &str,
    password_file: Option<&std::path::Path>,
    ca_file: Option<&std::path::Path>,
    after: After,
    folder: String,
    keyword: String,
    batch: usize,
    places: ImportPlaces,
) -> Result<crate::ops::imap_import::ImapImportOptions> {
    use crate::mail::imap::{self, ImapAccount, ImapUrl, Password};
    use crate::ops::Refusal;
    use crate::ops::imap_import::{AfterImport, ImapImportOptions};
    let url = ImapUrl::parse(url).map_err(|e| Refusal::InvalidInput(e.to_string()))?;
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Refusal::InvalidInput(format!(
                    "cannot read the IMAP password file {}: {e}",
                    path.display()
                ))
            })?;
            let line = text.lines().next().unwrap_or("").to_owned();
            if line.is_empty() {
                return Err(Refusal::InvalidInput(format!(
                    "the IMAP password file {} is empty",
                    path.display()
                ))
                .into());
            }
            line
        }
        None => std::env::var(IMAP_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                Refusal::InvalidInput(format!(
                    "no IMAP password: set {IMAP_PASSWORD_ENV} or give --imap-password-file"
                ))
            })?,
    };
    let ca_pem = match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Refusal::InvalidInput(format!(
                    "cannot read the IMAP CA file {}: {e}",
                    path.display()
                ))
            })?;
            imap::check_ca(&pem).map_err(|e| {
                Refusal::InvalidInput(format!("--imap-ca-file {}: {e}", path.display()))
            })?;
            Some(pem)
        }
        None => None,
    };
    Ok(ImapImportOptions {
        account: ImapAccount {
            url,
            password: Password::new(password),
            ca_pem,
        },
        after: match after {
            After::Move => AfterImport::Move(folder),
            After::Flag => AfterImport::Flag,
        },
        keyword,
        batch,
        outbox: places.outbox,
        dry_run: places.dry_run,
        public_url: places.public_url,
    })
}
