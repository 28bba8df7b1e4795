//! The built binary, run as the DPO or cron would: one way to start it against a test
//! database with the repo's policies, and to read what it said.

use super::{TestDb, shipped_policies};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The actor the binary records in the audit trail when the tests run it.
pub const ACTOR: &str = "test:cli";

/// `datenwart --policies DIR`, not started: no database chosen, nothing of the caller's
/// `DATABASE_URL` or `RUST_LOG`, stdin closed, [`ACTOR`] as the actor.
pub fn datenwart(policies: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_datenwart"));
    cmd.arg("--policies")
        .arg(policies)
        .env("DATENWART_ACTOR", ACTOR)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// `datenwart --database-url URL --policies DIR ARGS…`, not started (to spawn it, or to
/// change its folder or environment first).
pub fn command(db_url: &str, policies: &Path, args: &[&str]) -> Command {
    let mut cmd = datenwart(policies);
    cmd.arg("--database-url").arg(db_url).args(args);
    // PostgreSQL has no default erasure ledger: each test database gets one of its own.
    cmd.env_remove("DATENWART_LEDGER");
    if db_url.starts_with("postgres") {
        cmd.env("DATENWART_LEDGER", ledger_for(db_url));
    }
    cmd
}

/// The erasure ledger of a PostgreSQL test database: a file named after the database in the
/// system's temporary folder (the database names are unique).
pub fn ledger_for(db_url: &str) -> std::path::PathBuf {
    let name = db_url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or("datenwart");
    std::env::temp_dir().join(format!("{name}.ledger"))
}

/// Runs a command to its end and returns what it wrote.
pub fn output(mut cmd: Command) -> Output {
    cmd.output().expect("run datenwart")
}

/// Runs `datenwart ARGS…` on `db` with the shipped policies.
pub fn run(db: &TestDb, args: &[&str]) -> Output {
    run_with(&db.url, &shipped_policies(), args)
}

/// Runs `datenwart ARGS…` on any database URL with the policies in `policies`.
pub fn run_with(db_url: &str, policies: &Path, args: &[&str]) -> Output {
    output(command(db_url, policies, args))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with both streams shown unless the command exited with `code`.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Stdout read as JSON; fails with the text when it is not.
#[track_caller]
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(o)))
}
