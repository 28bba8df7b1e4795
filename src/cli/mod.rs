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
mod person;
mod policy;
mod progress;
pub mod render;
mod report;
mod retention;
mod rights;
mod scope;
mod send;
mod serve;
mod shell;
mod when;
mod withdrawals;

use crate::ops::policies::{self, PolicyLoadError, PolicySet};
use crate::ops::{Context, Refusal};
use crate::store::{self, StoreError};
use clap::{Args, Parser, Subcommand};
use render::Format;
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
    /// Print a shell completion script: datenwart completions bash > /etc/bash_completion.d/datenwart
    Completions(shell::CompletionsArgs),
    /// Write the manual pages (man 1) of every command into a folder
    Man(shell::ManArgs),
}

impl Command {
    /// `serve` answers many clients at once and `demo` generates while it writes: they get
    /// a thread per core and several database sessions. Every other command does one thing
    /// after another, on one thread and one session.
    fn works_side_by_side(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Demo(_))
    }
}

pub fn main() -> ExitCode {
    // Before anything else: SQLite takes it only while nothing has used it yet.
    store::disable_memory_statistics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // A usage error quotes the value typed, which may hold an escape sequence:
            // shown, not run (and without clap's colours, which are escapes themselves).
            eprint!(
                "{}",
                crate::domain::text::printable(&e.render().to_string())
            );
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
        // --help and --version
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    if !matches!(cli.command, Command::Serve(_)) {
        die_quietly_on_closed_pipe();
    }
    init_logging(&cli.global);
    // The commands that work side by side get a thread per core. Every other command does
    // one thing after another, and a single thread saves it starting the workers and
    // handing each step from thread to thread — most of a short command's time on a busy
    // machine.
    let runtime = if cli.command.works_side_by_side() {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
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
    // Log lines may quote what others wrote (an SMTP server's reply, a mail's subject), so
    // they pass through `printable` like every other text for the terminal; that rules out
    // colours, which are escape sequences themselves.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| EscapedStderr)
        .with_ansi(false)
        .with_target(false)
        .init();
}

/// Stderr with control characters shown escaped (`domain::text::printable`).
struct EscapedStderr;

impl std::io::Write for EscapedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(crate::domain::text::printable(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `datenwart audit list | head`: when the reader goes away, stop without a "Broken pipe"
/// error, as Unix tools do. Rust ignores SIGPIPE and turns it into an error on every write
/// (a panic in `println!`); the default action ends the process silently instead. Not for
/// `serve`, which must outlive a client that hangs up.
fn die_quietly_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to the default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether the failure is only that stdout's reader went away.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints the error and picks the exit code from what kind of failure it is.
fn exit_for(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        return ExitCode::SUCCESS;
    }
    if let Some(PolicyLoadError::Invalid(problems)) = e.downcast_ref::<PolicyLoadError>() {
        for p in problems {
            eprintln!("{}", crate::domain::text::printable(&p.to_string()));
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
    let command = match cli.command {
        // Works on the policy files alone, and must report invalid ones rather than refuse.
        Command::Policy(cmd) => return policy::run(cmd, &global),
        // Need neither the policies nor the database.
        Command::Completions(args) => return shell::completions(args),
        Command::Man(args) => return shell::man(args),
        other => other,
    };
    // No command runs on an invalid policy.
    let policies = Arc::new(policies::load(&global.policies)?);
    let sessions = if command.works_side_by_side() {
        store::Sessions::Several
    } else {
        store::Sessions::One
    };
    let store = store::open_with_ledger(&global.database_url, global.ledger.clone(), sessions)
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "cannot open the database {}",
                store::redact_url(&global.database_url)
            ))
        })?;
    let ctx = Context {
        store,
        policies,
        actor: actor(),
    };
    // `migrate` and `demo` bring the schema up to date themselves, and build the indexes
    // a demo load that did not finish left out.
    if !matches!(command, Command::Migrate | Command::Demo(_))
        && ctx.store.check_schema().await?.deferred_indexes > 0
    {
        crate::ops::demo::build_left_indexes(&ctx).await?;
    }
    match command {
        Command::Policy(_) | Command::Completions(_) | Command::Man(_) => {
            unreachable!("handled above")
        }
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

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command, subcommand and option says what it is for in `--help` (and so in
    /// the manual pages and completions, which are made from the same definitions).
    #[test]
    fn every_command_and_option_has_a_help_text() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, &mut missing);
        assert!(missing.is_empty(), "no help text:\n{}", missing.join("\n"));
    }

    fn walk(cmd: &clap::Command, missing: &mut Vec<String>) {
        let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
        if cmd.get_about().is_none() && cmd.get_name() != "datenwart" {
            missing.push(format!("{name}: the command"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{name}: {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, missing);
        }
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
