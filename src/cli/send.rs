//! `send`: delivers the queued notifications once and exits (for cron) — e-mail over SMTP,
//! SMS through the SMS gateway; `send --list-failed` lists those that failed for good.

use super::render::{self, Format};
use crate::mail::smtp::{Mailer, Secret, SmtpUrl};
use crate::ops::outbox::{self, OutboxReport};
use crate::ops::send::SmsSetup;
use crate::ops::{Context, Refusal, send};
use crate::sms::lox24::{Lox24, SmsUrl};
use anyhow::{Context as _, Result};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::Tabled;

/// The environment variable holding the SMTP password (never a flag: flags show in `ps`).
pub const PASSWORD_ENV: &str = "DATENWART_SMTP_PASSWORD";
/// The environment variable holding the SMS gateway's key (likewise never a flag).
pub const SMS_KEY_ENV: &str = "DATENWART_SMS_KEY";

/// Where `send` (and `serve --send-every`) delivers: the SMTP server and the cancel link's base.
#[derive(Debug, Args)]
pub struct SmtpOpts {
    /// SMTP server: smtp://USER@HOST[:587] (STARTTLS), smtps://USER@HOST[:465] (TLS), or
    /// smtp://HOST:PORT?tls=none (plain, for a test server on this host only). The password
    /// comes from DATENWART_SMTP_PASSWORD or --smtp-password-file, never from the URL
    #[arg(
        long,
        env = "DATENWART_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    smtp_url: Option<String>,
    /// File holding the SMTP password (its first line)
    #[arg(long, value_name = "FILE")]
    smtp_password_file: Option<PathBuf>,
    /// PEM file with the certificate authority of the SMTP server's certificate, when it is
    /// not one of the public roots (an office's own CA)
    #[arg(long, value_name = "FILE")]
    smtp_ca_file: Option<PathBuf>,
    /// Base URL of the citizen pages, for the cancel link in confirmations
    /// (e.g. https://termine.example.de); without it the link is the path alone
    #[arg(long, env = "DATENWART_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The outbox folder of `withdrawals import`, whose replies go out too (by SMTP): a
    /// reply the server took is removed from it, one it refuses for good moves to its
    /// folder fehlgeschlagen/. A folder that does not exist is nothing to send
    #[arg(
        long,
        env = "DATENWART_OUTBOX",
        value_name = "DIR",
        default_value = "outbox"
    )]
    outbox: PathBuf,
}

impl SmtpOpts {
    /// Base URL of the citizen pages, if given.
    pub fn public_url(&self) -> Option<String> {
        self.public_url.clone()
    }

    /// The outbox folder whose replies are delivered too.
    pub fn outbox(&self) -> PathBuf {
        self.outbox.clone()
    }

    /// The mailer, if an SMTP server is given; a usage error (exit 2) when something is
    /// wrong.
    pub fn resolve(&self) -> Result<Option<Mailer>> {
        let Some(url) = self.smtp_url.as_deref() else {
            if self.smtp_password_file.is_some() || self.smtp_ca_file.is_some() {
                return Err(Refusal::InvalidInput(
                    "--smtp-password-file and --smtp-ca-file need --smtp-url (or DATENWART_SMTP_URL)"
                        .into(),
                )
                .into());
            }
            return Ok(None);
        };
        let url = SmtpUrl::parse(url).map_err(|e| Refusal::InvalidInput(e.to_string()))?;
        let password = password(self.smtp_password_file.as_deref())?;
        let ca = read_ca(self.smtp_ca_file.as_deref(), "SMTP")?;
        let mailer = Mailer::new(url, password, ca.as_deref())
            .map_err(|e| Refusal::InvalidInput(format!("{e:#}")))?;
        Ok(Some(mailer))
    }
}

/// Where SMS go: the gateway's URL, its key, the sender name.
#[derive(Debug, Args)]
pub struct SmsOpts {
    /// SMS gateway: the base URL of LOX24's API (https://api.lox24.eu). Without it SMS
    /// reminders stay queued. The key comes from DATENWART_SMS_KEY or --sms-key-file
    #[arg(
        long,
        env = "DATENWART_SMS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    sms_url: Option<String>,
    /// File holding the SMS gateway's API key (its first line)
    #[arg(long, value_name = "FILE")]
    sms_key_file: Option<PathBuf>,
    /// Sender shown on the phone: up to 11 letters, digits or spaces, or a phone number;
    /// by default one made from each tenant's name (e.g. "OerErkensch")
    #[arg(long, env = "DATENWART_SMS_SENDER", value_name = "NAME")]
    sms_sender: Option<String>,
    /// PEM file with a certificate authority trusted for the SMS gateway besides the public
    /// roots (an office's own CA in front of it)
    #[arg(long, value_name = "FILE")]
    sms_ca_file: Option<PathBuf>,
}

impl SmsOpts {
    /// The gateway, if one is given; a usage error (exit 2) when something is wrong.
    pub fn resolve(&self) -> Result<Option<SmsSetup>> {
        let Some(url) = self.sms_url.as_deref() else {
            if self.sms_key_file.is_some() || self.sms_ca_file.is_some() {
                return Err(Refusal::InvalidInput(
                    "--sms-key-file and --sms-ca-file need --sms-url (or DATENWART_SMS_URL)".into(),
                )
                .into());
            }
            return Ok(None);
        };
        let url = SmsUrl::parse(url).map_err(|e| Refusal::InvalidInput(e.to_string()))?;
        if let Some(sender) = &self.sms_sender
            && !crate::domain::sms::is_sender_id(sender)
        {
            return Err(Refusal::InvalidInput(format!(
                "--sms-sender {sender:?}: use up to 11 letters, digits or spaces, or a phone number of up to 15 digits"
            ))
            .into());
        }
        let key = secret_from(self.sms_key_file.as_deref(), SMS_KEY_ENV, "SMS key")?.ok_or_else(
            || {
                Refusal::InvalidInput(format!(
                    "the SMS gateway {url} needs its key: set {SMS_KEY_ENV} or --sms-key-file"
                ))
            },
        )?;
        let ca = read_ca(self.sms_ca_file.as_deref(), "SMS")?;
        let gateway = Lox24::new(url, key, ca.as_deref())
            .map_err(|e| Refusal::InvalidInput(format!("{e:#}")))?;
        Ok(Some(SmsSetup {
            gateway: std::sync::Arc::new(gateway),
            sender: self.sms_sender.clone(),
        }))
    }
}

/// Everything `send` and `serve --send-every` deliver through.
#[derive(Debug, Args)]
pub struct DeliveryOpts {
    #[command(flatten)]
    smtp: SmtpOpts,
    #[command(flatten)]
    sms: SmsOpts,
}

/// The transports of a run: at least one of the two.
pub struct Delivery {
    pub mailer: Option<Mailer>,
    pub sms: Option<SmsSetup>,
    pub public_url: Option<String>,
    /// The outbox whose replies go out by SMTP.
    pub outbox: PathBuf,
}

impl DeliveryOpts {
    /// Base URL of the citizen pages, if given.
    pub fn public_url(&self) -> Option<String> {
        self.smtp.public_url()
    }

    /// The SMTP server and the SMS gateway, whichever are given (one at least), and the
    /// cancel link's base; a usage error (exit 2) when something is missing or wrong.
    pub fn resolve(&self) -> Result<Delivery> {
        if let Some(public) = &self.smtp.public_url
            && !(public.starts_with("https://") || public.starts_with("http://"))
        {
            return Err(Refusal::InvalidInput(format!(
                "--public-url {public}: must start with https:// (or http://)"
            ))
            .into());
        }
        let mailer = self.smtp.resolve()?;
        let sms = self.sms.resolve()?;
        if mailer.is_none() && sms.is_none() {
            return Err(Refusal::InvalidInput(
                "nothing to deliver through: give --smtp-url or DATENWART_SMTP_URL (e.g. smtp://user@mail.example.de:587) for e-mail, --sms-url or DATENWART_SMS_URL (e.g. https://api.lox24.eu) for SMS, or both"
                    .into(),
            )
            .into());
        }
        Ok(Delivery {
            mailer,
            sms,
            public_url: self.smtp.public_url.clone(),
            outbox: self.smtp.outbox(),
        })
    }
}

/// A PEM file of a certificate authority, read whole.
fn read_ca(path: Option<&std::path::Path>, what: &str) -> Result<Option<Vec<u8>>> {
    match path {
        Some(path) => Ok(Some(std::fs::read(path).map_err(|e| {
            Refusal::InvalidInput(format!(
                "cannot read the {what} CA file {}: {e}",
                path.display()
            ))
        })?)),
        None => Ok(None),
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    delivery: DeliveryOpts,
    /// Send at most this many messages in this run
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max: Option<u64>,
    /// List the messages that failed for good instead of sending (no server needed)
    #[arg(long)]
    list_failed: bool,
    /// With --list-failed: at most this many, newest first
    #[arg(long, default_value_t = 100, requires = "list_failed")]
    limit: i64,
}

#[derive(Serialize, Tabled)]
struct FailedRow {
    id: i64,
    tenant: String,
    kind: String,
    booking: String,
    attempts: i64,
    error_class: String,
    created_at: String,
}

pub async fn run(ctx: &Context, args: SendArgs, format: Format) -> Result<ExitCode> {
    if args.list_failed {
        if args.limit < 1 {
            return Err(Refusal::InvalidInput(format!(
                "--limit {}: must be at least 1",
                args.limit
            ))
            .into());
        }
        let rows: Vec<FailedRow> = send::failed(ctx, args.limit)
            .await?
            .into_iter()
            .map(|f| FailedRow {
                id: f.id,
                tenant: f.tenant,
                kind: f.kind,
                booking: f.booking.unwrap_or_default(),
                attempts: f.attempts,
                error_class: f.error_class.unwrap_or_default(),
                created_at: render::instant(&f.created_at),
            })
            .collect();
        render::rows(format, &rows)?;
        return Ok(ExitCode::SUCCESS);
    }

    let delivery = args.delivery.resolve()?;
    let report = send::run(
        ctx,
        &send::SendRequest {
            mailer: delivery.mailer.as_ref(),
            sms: delivery.sms.as_ref(),
            public_url: delivery.public_url,
            max: args.max,
        },
    )
    .await?;
    // The replies in the outbox go by e-mail, unless the server went away already.
    let outbox = match (&delivery.mailer, &report.stopped) {
        (Some(mailer), None) => {
            let left = args.max.map(|m| m.saturating_sub(report.attempted()));
            if left == Some(0) {
                OutboxReport::default()
            } else {
                outbox::deliver(ctx, mailer, &delivery.outbox, left).await?
            }
        }
        _ => OutboxReport::default(),
    };
    if let Some(mailer) = &delivery.mailer {
        mailer.close_idle().await;
    }

    let b = &report.backlog;
    let mut human = if report.attempted() == 0 && report.stopped.is_none() {
        "nothing to send".to_owned()
    } else {
        format!(
            "sent {}, to retry later {}, failed for good {}",
            report.sent, report.retry_later, report.failed
        )
    };
    if !report.failed_ids.is_empty() {
        let ids: Vec<String> = report.failed_ids.iter().map(i64::to_string).collect();
        human.push_str(&format!(
            " (notification {}; see `datenwart send --list-failed`)",
            ids.join(", ")
        ));
    }
    let s = &report.sms;
    if s.sent + s.retry_later + s.failed > 0 {
        human.push_str(&format!(
            "\nof these SMS: sent {}, to retry later {}, failed for good {}",
            s.sent, s.retry_later, s.failed
        ));
    }
    if report.dropped > 0 {
        human.push_str(&format!(
            "\n{} confirmation(s) or reminder(s) not sent: the appointment was cancelled or has begun",
            report.dropped
        ));
    }
    let (held, waiting) = match (report.email_configured, report.sms_configured) {
        (true, true) => (b.held + b.sms_held, b.waiting + b.sms_waiting),
        (true, false) => (b.held, b.waiting),
        (false, true) => (b.sms_held, b.sms_waiting),
        (false, false) => (0, 0),
    };
    if held > 0 {
        human.push_str(&format!(
            "\n{held} held: the person's processing is restricted (Art. 18)"
        ));
    }
    if waiting > 0 {
        human.push_str(&format!(
            "\n{waiting} waiting for their time (reminders) or their next attempt"
        ));
    }
    if !report.email_configured && b.due + b.held + b.waiting > 0 {
        human.push_str(&format!(
            "\n{} e-mail(s) left queued: no SMTP server configured (--smtp-url)",
            b.due + b.held + b.waiting
        ));
    }
    if !report.sms_configured && b.sms_queued > 0 {
        human.push_str(&format!(
            "\n{} SMS left queued: no SMS gateway configured (--sms-url)",
            b.sms_queued
        ));
    }
    if let Some(why) = &report.stopped {
        human.push_str(&format!("\nstopped early: {why}"));
    }
    if outbox.sent + outbox.retry_later + outbox.failed > 0 || outbox.stopped.is_some() {
        human.push_str(&format!(
            "\nreplies from the outbox {}: sent {}, to retry later {}, failed for good {}",
            delivery.outbox.display(),
            outbox.sent,
            outbox.retry_later,
            outbox.failed
        ));
        if !outbox.failed_files.is_empty() {
            human.push_str(&format!(
                " (moved to {}: {})",
                delivery.outbox.join(outbox::FAILED_FOLDER).display(),
                outbox.failed_files.join(", ")
            ));
        }
    }
    if let Some(why) = &outbox.stopped {
        human.push_str(&format!("\noutbox stopped early: {why}"));
    }
    #[derive(Serialize)]
    struct Delivered<'a> {
        #[serde(flatten)]
        notifications: &'a send::SendReport,
        outbox: &'a OutboxReport,
    }
    render::report(
        format,
        &human,
        &Delivered {
            notifications: &report,
            outbox: &outbox,
        },
        std::slice::from_ref(&report.backlog),
    )?;
    // The server went away mid-run: like a server that cannot be reached, exit 1.
    Ok(if report.stopped.is_some() || outbox.stopped.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The password from `--smtp-password-file` (first line) or DATENWART_SMTP_PASSWORD.
fn password(file: Option<&std::path::Path>) -> Result<Option<Secret>> {
    secret_from(file, PASSWORD_ENV, "SMTP password")
}

/// A secret from `file` (its first line) or else the environment variable `env`; an
/// unreadable or empty file is a usage error. The secret is never part of a message.
fn secret_from(file: Option<&std::path::Path>, env: &str, what: &str) -> Result<Option<Secret>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))
            .map_err(|e| Refusal::InvalidInput(format!("{e:#}")))?;
        let line = text.lines().next().unwrap_or("").trim().to_owned();
        if line.is_empty() {
            return Err(Refusal::InvalidInput(format!(
                "the {what} file {} is empty",
                path.display()
            ))
            .into());
        }
        return Ok(Some(Secret::new(line)));
    }
    Ok(std::env::var(env)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Secret::new))
}
