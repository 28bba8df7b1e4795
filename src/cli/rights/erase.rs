//! `erase`: erases a person's data (after a dry run shown and confirmed), or replays the
//! erasure ledger after a backup was restored.

use super::RequestOpts;
use crate::cli::confirm::{self, Confirmation};
use crate::cli::identity::IdentityArgs;
use crate::cli::person::PersonArgs;
use crate::cli::render::{self, Format};
use crate::cli::scope::TenantScope;
use crate::domain::text::printable;
use crate::ops::rights::{self, EraseRequest, Erasure};
use crate::ops::{Context, Refusal};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Args)]
#[command(mut_arg("yes", |a| a.help("Do it without asking (required when not on a terminal)")))]
pub struct EraseArgs {
    #[command(flatten)]
    person: PersonArgs,
    #[command(flatten)]
    scope: TenantScope,
    /// List every row that would change, change nothing
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    confirmation: Confirmation,
    /// Re-apply every erasure of the ledger file (after restoring a backup)
    #[arg(long, conflicts_with_all = ["tenant", "all_tenants", "person"])]
    replay: bool,
    #[command(flatten)]
    request: RequestOpts,
    #[command(flatten)]
    identity: IdentityArgs,
}

#[derive(Serialize, Tabled)]
struct ErasureCountRow {
    tenant: String,
    bookings_cancelled: usize,
    slots_freed: usize,
    bookings_anonymized: usize,
    bookings_deleted: usize,
    notifications_deleted: usize,
    access_log_deleted: usize,
    consents_reduced: usize,
    inbox_anonymized: usize,
    replies_deleted: usize,
}

fn render_erasure(format: Format, erasures: &[Erasure]) -> Result<()> {
    let rows: Vec<ErasureCountRow> = erasures
        .iter()
        .flat_map(|e| e.report.counts.iter())
        .map(|(tenant, c)| ErasureCountRow {
            tenant: tenant.clone(),
            bookings_cancelled: c.bookings_cancelled,
            slots_freed: c.slots_freed,
            bookings_anonymized: c.bookings_anonymized,
            bookings_deleted: c.bookings_deleted,
            notifications_deleted: c.notifications_deleted,
            access_log_deleted: c.access_log_deleted,
            consents_reduced: c.consents_reduced,
            inbox_anonymized: c.inbox_anonymized,
            replies_deleted: c.replies_deleted,
        })
        .collect();
    match format {
        Format::Json => render::json(&erasures),
        Format::Csv => render::csv(&rows),
        Format::Table => {
            let mut out = std::io::stdout().lock();
            for e in erasures {
                if e.report.dry_run {
                    writeln!(out, "dry run: these rows would change; nothing was changed")?;
                    for c in &e.report.changes {
                        let line = format!("  {} {} #{}: {}", c.tenant, c.category, c.id, c.action);
                        writeln!(out, "{}", printable(&line))?;
                    }
                }
                for k in &e.report.kept {
                    let line = format!(
                        "kept at {}: {} {} — {}",
                        k.tenant, k.category, k.what, k.reason
                    );
                    writeln!(out, "{}", printable(&line))?;
                }
                for (tenant, id) in &e.requests {
                    writeln!(out, "request {id} at {tenant} closed")?;
                }
                for line in super::to_tell_lines(&e.to_tell) {
                    writeln!(out, "{}", printable(&line))?;
                }
            }
            drop(out);
            render::rows(format, &rows)
        }
    }
}

/// Asks on the terminal; refuses off a terminal unless `--yes` was given.
fn confirm_or_refuse(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refusal::InvalidInput(
            "not on a terminal: add --yes to erase (or --dry-run to look first)".into(),
        )
        .into());
    }
    confirm::ask(question)
}

pub async fn erase(ctx: &Context, args: EraseArgs, format: Format) -> Result<ExitCode> {
    if args.replay {
        let ledger = ctx.store.erasure_ledger().await?;
        if !confirm_or_refuse(
            &format!("Re-apply {} erasure(s) from the ledger?", ledger.len()),
            args.confirmation.yes,
        )? {
            eprintln!("nothing done");
            return Ok(ExitCode::SUCCESS);
        }
        let done = rights::replay(ctx).await?;
        render_erasure(format, &done)?;
        return Ok(ExitCode::SUCCESS);
    }
    let email = args.person.email(ctx).await?;
    // A dry run changes nothing and opens no request: no identity needed for it.
    let identity = if args.dry_run {
        None
    } else {
        Some(args.identity.resolve("erase")?)
    };
    let mut req = EraseRequest {
        email: &email,
        controllers: args.scope.controllers()?,
        dry_run: true,
        request: args.request.request,
        channel: args.request.channel,
        identity,
    };
    if !args.dry_run && !args.confirmation.yes {
        // Show what would happen before asking.
        if !std::io::stdin().is_terminal() {
            confirm_or_refuse("", false)?;
        }
        let preview = rights::erase(ctx, &req).await?;
        render_erasure(Format::Table, std::slice::from_ref(&preview))?;
        if !confirm_or_refuse("Erase these data now?", false)? {
            eprintln!("nothing erased");
            return Ok(ExitCode::SUCCESS);
        }
    }
    req.dry_run = args.dry_run;
    // The identity is recorded on each request in the erasure's transaction, which closes it.
    let done = rights::erase(ctx, &req).await?;
    render_erasure(format, std::slice::from_ref(&done))?;
    Ok(ExitCode::SUCCESS)
}
