//! `completions SHELL` and `man --out DIR`: shell completion scripts and manual pages,
//! generated from the same clap definitions as `--help`, so they cannot drift from it.

use super::Cli;
use crate::ops::Refusal;
use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Folder to write the pages into (created if missing): datenwart.1 and one
    /// datenwart-COMMAND.1 per command
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes the completion script to stdout, e.g. `datenwart completions bash >
/// /etc/bash_completion.d/datenwart`.
pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "datenwart", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Writes one page per command and subcommand into `--out`.
pub fn man(args: ManArgs) -> Result<ExitCode> {
    if args.out.exists() && !args.out.is_dir() {
        return Err(Refusal::InvalidInput(format!(
            "--out {}: exists and is not a folder",
            args.out.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut written = Vec::new();
    // Built, every subcommand knows its full name (datenwart-hold-add) and usage line.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    write_pages(&cmd, &args.out, &mut written)?;
    println!(
        "wrote {} manual page(s) to {}",
        written.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let path = dir.join(format!(
        "{}.1",
        cmd.get_display_name().unwrap_or(cmd.get_name())
    ));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    if written.contains(&path) {
        anyhow::bail!("two commands would share the page {}", path.display());
    }
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
