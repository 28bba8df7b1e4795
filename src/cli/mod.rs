//! Command-line interface: clap types, dispatch, rendering and exit codes.
//!
//! Exit codes: 0 done; 1 the work failed or a check found a problem; 2 invalid input or
//! usage; 3 a subject that must exist was not found.

mod admin;
mod audit;
mod breach;
mod confirm;
mod demo;
mod export;
mod identity;
mod policy;
pub mod render;
mod report;
mod retention;
mod rights;
mod scope;
mod send;
mod serve;
mod withdrawals;

use crate::ops::policies::{self, PolicyLoadError, PolicySet};
use crate::ops::{Context, Refusal};
use crate::store::{self, StoreError};
use clap::{Args, Parser, Subcommand};
use render::Format;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "datenwart", version, about = "Booking store and GDPR back office for municipal online appointment booking", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Database: sqlite://FILE (created if missing) or postgres://USER@HOST/DB
    #[arg(long, env = "DATABASE_URL", default_value = store::DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    pub database_url: String,
    /// Folder with one policy file (TOML) per tenant
    #[arg(long, value_name = "DIR", default_value = "policies", global = true)]
    pub policies: PathBuf,
    /// The erasure ledger file (append-only, kept outside the database's backups) [default:
    /// <database file>.ledger for SQLite; PostgreSQL needs it for erasures]
    #[arg(long, env = "DATENWART_LEDGER", value_name = "PATH", global = true)]
    pub ledger: Option<PathBuf>,
    /// Output format of listings and reports
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
    /// Print errors only
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema; safe to run again
    Migrate,
    /// Validate the policies or show a tenant's record of processing
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Tenants (controllers), as the policies define them
    #[command(subcommand)]
    Tenants(admin::TenantsCmd),
    /// A tenant's services (Dienstleistungen)
    #[command(subcommand)]
    Services(admin::ServicesCmd),
    /// Bookable slots
    #[command(subcommand)]
    Slots(admin::SlotsCmd),
    /// The hash-chained audit trail
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Where a person appears
    #[command(subcommand)]
    Subject(rights::SubjectCmd),
    /// Write the Auskunft folder for a person (Art. 15, 20): letter, daten.json, CSV files
    Export(export::ExportArgs),
    /// Erase a person's data (Art. 17), or replay the erasure ledger
    Erase(rights::EraseArgs),
    /// Rectify a person's data (Art. 16)
    Correct(rights::CorrectArgs),
    /// Restrict the processing of a person's data (Art. 18), or lift it
    Restrict(rights::RestrictArgs),
    /// Legal holds on a person or a booking
    #[command(subcommand)]
    Hold(rights::HoldCmd),
    /// The register of data-subject requests and their deadlines
    #[command(subcommand)]
    Requests(rights::RequestsCmd),
    /// The DPO's annual report: requests, mailbox, erasures, retention, breaches
    Report(report::ReportArgs),
    /// The register of personal-data breaches (Art. 33, 34) and its 72-hour clock
    #[command(subcommand)]
    Breach(breach::BreachCmd),
    /// Consent withdrawals and requests from the office mailbox
    #[command(subcommand)]
    Withdrawals(withdrawals::WithdrawalsCmd),
    /// Retention and anonymization as the policies say, from cron
    #[command(subcommand)]
    Retention(retention::RetentionCmd),
    /// Deliver the queued notifications, each once — e-mail over SMTP, SMS through the SMS
    /// gateway — and exit (for cron)
    Send(send::SendArgs),
    /// Run the booking endpoint (JSON API and citizen pages)
    Serve(serve::ServeArgs),
    /// Build a database to explore: the tenants, services, slots and realistic fake bookings
    Demo(demo::DemoArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("datenwart: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => exit_for(&e),
    }
}

fn init_logging(global: &GlobalOpts) {
    // sqlx warns of statements that took over a second; those are lock waits of bulk jobs
    // (demo, retention) more often than not, so they show from -v on, and -q keeps cron quiet.
    let directives = match (global.quiet, global.verbose) {
        (true, _) => "datenwart=error,error",
        (false, 0) => "datenwart=warn,warn,sqlx::query=error",
        (false, 1) => "datenwart=info,warn",
        _ => "datenwart=debug,warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Prints the error and picks the exit code from what kind of failure it is.
fn exit_for(e: &anyhow::Error) -> ExitCode {
    if let Some(PolicyLoadError::Invalid(problems)) = e.downcast_ref::<PolicyLoadError>() {
        for p in problems {
            eprintln!("{p}");
        }
        eprintln!(
            "datenwart: error: the policies are invalid; nothing was done (see `datenwart policy check`)"
        );
        return ExitCode::from(2);
    }
    let code = match e.downcast_ref::<Refusal>() {
        Some(Refusal::InvalidInput(_)) => 2,
        Some(Refusal::NotFound(_)) => 3,
        Some(Refusal::CheckFailed(_)) => 1,
        None => match e.downcast_ref::<StoreError>() {
            // What the store refuses: a tenant, a state or a rule the command cannot act on
            // is a usage error; a named row that does not exist is "not found".
            Some(
                StoreError::UnsupportedUrl(_)
                | StoreError::UnknownTenant(_)
                | StoreError::Conflict(_)
                | StoreError::Invalid(_),
            ) => 2,
            Some(StoreError::NotFound(_)) => 3,
            _ if e.downcast_ref::<PolicyLoadError>().is_some() => 2,
            _ => 1,
        },
    };
    let message = format!("{e:#}");
    eprintln!(
        "datenwart: error: {}",
        crate::domain::text::printable(&message)
    );
    ExitCode::from(code)
}

/// Who the audit trail records: `DATENWART_ACTOR`, else `cli:<login name>`.
fn actor() -> String {
    std::env::var("DATENWART_ACTOR")
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into());
            format!("cli:{user}")
        })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    if let Command::Policy(cmd) = cli.command {
        // Works on the policy files alone, and must report invalid ones rather than refuse.
        return policy::run(cmd, &global);
    }
    // No command runs on an invalid policy.
    let policies = Arc::new(policies::load(&global.policies)?);
    let store = store::open_with_ledger(&global.database_url, global.ledger.clone())
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "cannot open the database {}",
                store::redact_url(&global.database_url)
            ))
        })?;
    // `migrate` and `demo` bring the schema up to date themselves.
    if !matches!(cli.command, Command::Migrate | Command::Demo(_)) {
        store.check_schema().await?;
    }
    let ctx = Context {
        store,
        policies,
        actor: actor(),
    };
    match cli.command {
        Command::Policy(_) => unreachable!("handled above"),
        Command::Migrate => admin::migrate(&ctx, global.format).await,
        Command::Tenants(cmd) => admin::tenants(&ctx, cmd, global.format).await,
        Command::Services(cmd) => admin::services(&ctx, cmd, global.format).await,
        Command::Slots(cmd) => admin::slots(&ctx, cmd, global.format).await,
        Command::Audit(cmd) => audit::run(&ctx, cmd, global.format).await,
        Command::Subject(cmd) => rights::subject(&ctx, cmd, global.format).await,
        Command::Export(args) => export::run(&ctx, args, global.format).await,
        Command::Erase(args) => rights::erase(&ctx, args, global.format).await,
        Command::Correct(args) => rights::correct(&ctx, args, global.format).await,
        Command::Restrict(args) => rights::restrict(&ctx, args, global.format).await,
        Command::Hold(cmd) => rights::hold(&ctx, cmd, global.format).await,
        Command::Requests(cmd) => rights::requests(&ctx, cmd, global.format).await,
        Command::Breach(cmd) => breach::run(&ctx, cmd, global.format).await,
        Command::Report(args) => report::run(&ctx, args, global.format).await,
        Command::Withdrawals(cmd) => withdrawals::run(&ctx, cmd, global.format).await,
        Command::Retention(cmd) => retention::run(&ctx, cmd, global.format, global.quiet).await,
        Command::Send(args) => send::run(&ctx, args, global.format).await,
        Command::Serve(args) => serve::run(ctx, args).await,
        Command::Demo(args) => demo::run(&ctx, args, &global).await,
    }
}

/// The policy set for commands that need it loaded but not the database.
fn load_policies(global: &GlobalOpts) -> Result<PolicySet, PolicyLoadError> {
    policies::load(&global.policies)
}
