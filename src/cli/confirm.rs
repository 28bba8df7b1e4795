//! Confirming destructive commands: the `--yes` flag group they share and the terminal prompt.

use anyhow::Result;
use clap::Args;
use std::io::{BufRead, Write};

/// `-y/--yes`, flattened into every command that asks before it changes data. Each command
/// sets its own help text with `mut_arg`, because off a terminal they differ on purpose:
/// `erase` refuses, `retention run` (from cron) goes ahead.
#[derive(Debug, Args)]
pub struct Confirmation {
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Asks `question` on stderr and reads the answer from stdin; yes in German or English.
pub fn ask(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim(),
        "y" | "Y" | "j" | "J" | "yes" | "ja"
    ))
}
