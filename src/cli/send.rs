//! `send`: delivers the queued e-mail notifications over SMTP once and exits (for cron);
//! `send --list-failed` lists those that failed for good.

use super::render::{self, Format};
use crate::mail::smtp::{Mailer, Secret, SmtpUrl};
use crate::ops::outbox::{self, OutboxReport};
use crate::ops::{Context, Refusal, send};
use anyhow::{Context as _, Result};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::Tabled;

/// The environment variable holding the SMTP password (never a flag: flags show in `ps`).
pub const PASSWORD_ENV: &str = "DATENWART_SMTP_PASSWORD";

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
    /// The outbox folder of `withdrawals import`, whose replies go out too: a reply the
    /// server took is removed from it, one it refuses for good moves to its folder
    /// fehlgeschlagen/. A folder that does not exist is nothing to send
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

    /// The mailer and the cancel link's base; a usage error (exit 2) when something is
    /// missing or wrong.
    pub fn resolve(&self) -> Result<(Mailer, Option<String>)> {
        let Some(url) = self.smtp_url.as_deref() else {
            return Err(Refusal::InvalidInput(
                "no SMTP server: give --smtp-url or DATENWART_SMTP_URL (e.g. smtp://user@mail.example.de:587)"
                    .into(),
            )
            .into());
        };
        let url = SmtpUrl::parse(url).map_err(|e| Refusal::InvalidInput(e.to_string()))?;
        if let Some(public) = &self.public_url
            && !(public.starts_with("https://") || public.starts_with("http://"))
        {
            return Err(Refusal::InvalidInput(format!(
                "--public-url {public}: must start with https:// (or http://)"
            ))
            .into());
        }
        let password = password(self.smtp_password_file.as_deref())?;
        let ca = match &self.smtp_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                Refusal::InvalidInput(format!(
                    "cannot read the SMTP CA file {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let mailer = Mailer::new(url, password, ca.as_deref())
            .map_err(|e| Refusal::InvalidInput(format!("{e:#}")))?;
        Ok((mailer, self.public_url.clone()))
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    smtp: SmtpOpts,
    /// Send at most this many messages in this run
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max: Option<u64>,
    /// List the messages that failed for good instead of sending (no SMTP server needed)
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

    let (mailer, public_url) = args.smtp.resolve()?;
    let report = send::run(
        ctx,
        &send::SendRequest {
            mailer: &mailer,
            public_url,
            max: args.max,
        },
    )
    .await?;
    // The replies in the outbox, unless the server went away already.
    let outbox = match &report.stopped {
        None => {
            let left = args.max.map(|m| m.saturating_sub(report.attempted()));
            if left == Some(0) {
                OutboxReport::default()
            } else {
                outbox::deliver(ctx, &mailer, &args.smtp.outbox, left).await?
            }
        }
        Some(_) => OutboxReport::default(),
    };

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
    if report.dropped > 0 {
        human.push_str(&format!(
            "\n{} confirmation(s) not sent: the appointment was cancelled or has begun",
            report.dropped
        ));
    }
    if b.held > 0 {
        human.push_str(&format!(
            "\n{} held: the person's processing is restricted (Art. 18)",
            b.held
        ));
    }
    if b.waiting > 0 {
        human.push_str(&format!(
            "\n{} waiting for their time (reminders) or their next attempt",
            b.waiting
        ));
    }
    if b.sms_queued > 0 {
        human.push_str(&format!(
            "\n{} SMS left queued: this version sends e-mail only",
            b.sms_queued
        ));
    }
    if let Some(why) = &report.stopped {
        human.push_str(&format!("\nstopped early: {why}"));
    }
    if outbox.sent + outbox.retry_later + outbox.failed > 0 || outbox.stopped.is_some() {
        human.push_str(&format!(
            "\nreplies from the outbox {}: sent {}, to retry later {}, failed for good {}",
            args.smtp.outbox.display(),
            outbox.sent,
            outbox.retry_later,
            outbox.failed
        ));
        if !outbox.failed_files.is_empty() {
            human.push_str(&format!(
                " (moved to {}: {})",
                args.smtp.outbox.join(outbox::FAILED_FOLDER).display(),
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
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the SMTP password file {}", path.display()))
            .map_err(|e| Refusal::InvalidInput(format!("{e:#}")))?;
        let line = text.lines().next().unwrap_or("").to_owned();
        if line.is_empty() {
            return Err(Refusal::InvalidInput(format!(
                "the SMTP password file {} is empty",
                path.display()
            ))
            .into());
        }
        return Ok(Some(Secret::new(line)));
    }
    Ok(std::env::var(PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Secret::new))
}
