//! The DPO's commands on one person: `subject find`, `erase`, `correct`, `restrict`,
//! `hold`, and the request register `requests`.

use super::render::{self, Format};
use crate::domain::duration::RetentionPeriod;
use crate::domain::requests::{Channel, Outcome, RequestKind};
use crate::ops::requests as register;
use crate::ops::rights::{self, EraseRequest, Erasure, FindBy, HoldOn};
use crate::ops::{Context, Refusal};
use crate::store::{Request, RequestFilter};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum SubjectCmd {
    /// Where a person appears: rows per tenant and category
    Find {
        #[arg(long, group = "who")]
        email: Option<String>,
        #[arg(long, group = "who")]
        phone: Option<String>,
        /// "First Last" or "Last"
        #[arg(long, group = "who")]
        name: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Options every command that answers a request shares.
#[derive(Debug, Args)]
pub struct RequestOpts {
    /// The register entry this answers (default: the person's open one, or a new one)
    #[arg(long)]
    request: Option<i64>,
    /// How the request arrived, when a new register entry is made
    #[arg(long, default_value = "email", value_parser = parse_channel)]
    channel: Channel,
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The person's e-mail address
    #[arg(long, required_unless_present = "replay", conflicts_with = "replay")]
    email: Option<String>,
    /// Only at this tenant (default: every tenant where the person appears)
    #[arg(long)]
    tenant: Option<String>,
    /// List every row that would change, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do it without asking (required when not on a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Re-apply every erasure of the ledger (after restoring a backup)
    #[arg(long)]
    replay: bool,
    #[command(flatten)]
    request: RequestOpts,
}

#[derive(Debug, Args)]
pub struct CorrectArgs {
    #[arg(long)]
    email: String,
    #[arg(long)]
    tenant: Option<String>,
    /// field=value; fields: email, phone, first_name, last_name, address, birth_date
    #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
    sets: Vec<String>,
    #[command(flatten)]
    request: RequestOpts,
}

#[derive(Debug, Args)]
pub struct RestrictArgs {
    #[arg(long)]
    email: String,
    /// Only at this tenant (default: at every tenant)
    #[arg(long)]
    tenant: Option<String>,
    /// Why the processing is restricted (Art. 18(1) a–d)
    #[arg(long, required_unless_present = "lift", conflicts_with = "lift")]
    reason: Option<String>,
    /// Lift the person's restrictions
    #[arg(long)]
    lift: bool,
    #[command(flatten)]
    request: RequestOpts,
}

#[derive(Debug, Subcommand)]
pub enum HoldCmd {
    /// Put a legal hold on a person or a booking: kept by erase and retention until removed or ended
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long, group = "on", required = true)]
        email: Option<String>,
        /// Booking reference, e.g. T-7K3MQ9XA2B
        #[arg(long, group = "on")]
        booking: Option<String>,
        #[arg(long)]
        reason: String,
        /// Last day of the hold, YYYY-MM-DD (default: until removed)
        #[arg(long)]
        until: Option<NaiveDate>,
    },
    /// List holds (active ones unless --all)
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Remove a hold
    Remove { id: i64 },
}

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

fn parse_channel(s: &str) -> Result<Channel, String> {
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
struct AppearanceRow {
    tenant: String,
    subject_ref: String,
    category: &'static str,
    rows: usize,
}

pub async fn subject(ctx: &Context, cmd: SubjectCmd, format: Format) -> Result<ExitCode> {
    let SubjectCmd::Find {
        email,
        phone,
        name,
        tenant,
    } = cmd;
    let by = match (email, phone, name) {
        (Some(e), _, _) => FindBy::Email(e),
        (_, Some(p), _) => FindBy::Phone(p),
        (_, _, Some(n)) => FindBy::Name(n),
        _ => return Err(Refusal::InvalidInput("give --email, --phone or --name".into()).into()),
    };
    let rows: Vec<AppearanceRow> = rights::find(ctx, &by, tenant.as_deref())
        .await?
        .into_iter()
        .map(|a| AppearanceRow {
            tenant: a.tenant,
            subject_ref: a.subject_ref,
            category: a.category,
            rows: a.rows,
        })
        .collect();
    render::rows(format, &rows)?;
    Ok(ExitCode::SUCCESS)
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
                        writeln!(out, "  {} {} #{}: {}", c.tenant, c.category, c.id, c.action)?;
                    }
                }
                for k in &e.report.kept {
                    writeln!(
                        out,
                        "kept at {}: {} {} — {}",
                        k.tenant, k.category, k.what, k.reason
                    )?;
                }
                for (tenant, id) in &e.requests {
                    writeln!(out, "request {id} at {tenant} closed")?;
                }
            }
            drop(out);
            render::rows(format, &rows)
        }
    }
}

/// Asks on the terminal; refuses off a terminal unless `--yes` was given.
fn confirm(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refusal::InvalidInput(
            "not on a terminal: add --yes to erase (or --dry-run to look first)".into(),
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim(),
        "y" | "Y" | "j" | "J" | "yes" | "ja"
    ))
}

pub async fn erase(ctx: &Context, args: EraseArgs, format: Format) -> Result<ExitCode> {
    if args.replay {
        let ledger = ctx.store.erasure_ledger().await?;
        if !confirm(
            &format!("Re-apply {} erasure(s) from the ledger?", ledger.len()),
            args.yes,
        )? {
            eprintln!("nothing done");
            return Ok(ExitCode::SUCCESS);
        }
        let done = rights::replay(ctx).await?;
        render_erasure(format, &done)?;
        return Ok(ExitCode::SUCCESS);
    }
    let email = args.email.expect("clap requires --email without --replay");
    let mut req = EraseRequest {
        email: &email,
        tenant: args.tenant.as_deref(),
        dry_run: true,
        request: args.request.request,
        channel: args.request.channel,
    };
    if !args.dry_run && !args.yes {
        // Show what would happen before asking.
        if !std::io::stdin().is_terminal() {
            confirm("", false)?;
        }
        let preview = rights::erase(ctx, &req).await?;
        render_erasure(Format::Table, std::slice::from_ref(&preview))?;
        if !confirm("Erase these data now?", false)? {
            eprintln!("nothing erased");
            return Ok(ExitCode::SUCCESS);
        }
    }
    req.dry_run = args.dry_run;
    let done = rights::erase(ctx, &req).await?;
    render_erasure(format, std::slice::from_ref(&done))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn correct(ctx: &Context, args: CorrectArgs, format: Format) -> Result<ExitCode> {
    let r = rights::correct(
        ctx,
        &args.email,
        args.tenant.as_deref(),
        &args.sets,
        args.request.request,
        args.request.channel,
    )
    .await?;
    let human = r
        .bookings
        .iter()
        .map(|(t, n)| format!("{t}: {} corrected in {n} booking(s)", r.fields.join(", ")))
        .collect::<Vec<_>>()
        .join("\n");
    #[derive(Serialize)]
    struct Row<'a> {
        tenant: &'a str,
        bookings: usize,
        fields: String,
    }
    let rows: Vec<Row> = r
        .bookings
        .iter()
        .map(|(t, n)| Row {
            tenant: t,
            bookings: *n,
            fields: r.fields.join(";"),
        })
        .collect();
    render::report(format, &human, &r, &rows)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn restrict(ctx: &Context, args: RestrictArgs, format: Format) -> Result<ExitCode> {
    let r = if args.lift {
        rights::lift(ctx, &args.email, args.tenant.as_deref()).await?
    } else {
        let reason = args.reason.expect("clap requires --reason without --lift");
        rights::restrict(
            ctx,
            &args.email,
            args.tenant.as_deref(),
            &reason,
            args.request.request,
            args.request.channel,
        )
        .await?
    };
    let human = match r.restriction {
        Some(id) => format!(
            "restriction {id} in force{}: the data stay, are not used, and are not erased until lifted",
            r.tenant
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
        None => format!("{} restriction(s) lifted", r.lifted),
    };
    render::report(format, &human, &r, std::slice::from_ref(&r))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Tabled)]
struct HoldRow {
    id: i64,
    tenant: String,
    on: String,
    reason: String,
    until: String,
    created_at: String,
    removed_at: String,
}

pub async fn hold(ctx: &Context, cmd: HoldCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        HoldCmd::Add {
            tenant,
            email,
            booking,
            reason,
            until,
        } => {
            let on = match (&email, &booking) {
                (Some(e), _) => HoldOn::Email(e),
                (_, Some(b)) => HoldOn::Booking(b),
                _ => return Err(Refusal::InvalidInput("give --email or --booking".into()).into()),
            };
            let id = rights::hold_add(ctx, &tenant, on, &reason, until).await?;
            let human = format!("hold {id} added at {tenant}");
            render::report(
                format,
                &human,
                &serde_json::json!({ "hold": id }),
                &[serde_json::json!({ "hold": id })],
            )?;
        }
        HoldCmd::List { tenant, all } => {
            let rows: Vec<HoldRow> = rights::hold_list(ctx, tenant.as_deref(), all)
                .await?
                .into_iter()
                .map(|h| HoldRow {
                    id: h.id,
                    tenant: h.tenant,
                    on: match (h.booking_reference, h.subject_ref) {
                        (Some(b), _) => format!("booking {b}"),
                        (_, Some(s)) => format!("person {}", &s[..s.len().min(16)]),
                        _ => String::new(),
                    },
                    reason: h.reason,
                    until: h.until_on.map(|d| d.to_string()).unwrap_or_default(),
                    created_at: render::instant(&h.created_at),
                    removed_at: h
                        .removed_at
                        .map(|t| render::instant(&t))
                        .unwrap_or_default(),
                })
                .collect();
            render::rows(format, &rows)?;
        }
        HoldCmd::Remove { id } => {
            rights::hold_remove(ctx, id).await?;
            let human = format!("hold {id} removed");
            render::report(
                format,
                &human,
                &serde_json::json!({ "removed": id }),
                &[serde_json::json!({ "removed": id })],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize, Tabled)]
struct RequestRow {
    id: i64,
    tenant: String,
    kind: String,
    channel: String,
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
        overdue: r.status == "open" && r.effective_due() < today,
        id: r.id,
        tenant: r.tenant.unwrap_or_default(),
        kind: r.kind,
        channel: r.channel,
        received_at: render::instant(&r.received_at),
        due_on: r.due_on.to_string(),
        extended_due_on: r.extended_due_on.map(|d| d.to_string()).unwrap_or_default(),
        extension_reason: r.extension_reason.unwrap_or_default(),
        status: r.status,
        outcome: r.outcome.unwrap_or_default(),
        closed_at: r.closed_at.map(|t| render::instant(&t)).unwrap_or_default(),
        subject_ref: r.subject_ref.unwrap_or_default(),
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
        } => {
            let subject = rights::email_ref(ctx, &email).await?;
            let received = received.unwrap_or_else(crate::domain::time::now);
            show(
                register::open(
                    ctx,
                    tenant.as_deref(),
                    kind,
                    Some(&subject),
                    channel,
                    received,
                )
                .await?,
            )?;
        }
        RequestsCmd::List {
            tenant,
            status,
            overdue,
            due_within,
        } => {
            if let Some(s) = &status
                && s != "open"
                && s != "closed"
            {
                return Err(
                    Refusal::InvalidInput(format!("--status {s}: use open or closed")).into(),
                );
            }
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
