//! `--identity-checked-by KIND`: how the operator established the identity of the person a
//! command acts for (Art. 12(6) DSGVO), recorded on the request it answers. Flattened into
//! `export`, `erase`, `correct` and `restrict`; asked on a terminal when missing, refused
//! (exit 2) off one, before anything is done.

use crate::domain::requests::IdentityCheck;
use crate::ops::Refusal;
use anyhow::Result;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// How the person's identity was checked: in_person, id_document, letter,
    /// phone_callback, confirmed_by_mail, confirmed_by_link, dmarc or dkim; recorded on the
    /// request. Asked on a terminal when missing; required when not on one (cron)
    #[arg(long, value_name = "KIND", value_parser = parse_identity)]
    pub identity_checked_by: Option<IdentityCheck>,
}

fn parse_identity(s: &str) -> Result<IdentityCheck, String> {
    s.parse()
}

fn kinds() -> String {
    IdentityCheck::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl IdentityArgs {
    /// The kind given, or the one chosen at the terminal; off a terminal without the flag
    /// a refusal (exit 2).
    pub fn resolve(&self, command: &str) -> Result<IdentityCheck> {
        if let Some(kind) = self.identity_checked_by {
            return Ok(kind);
        }
        if !std::io::stdin().is_terminal() {
            return Err(Refusal::InvalidInput(format!(
                "--identity-checked-by: not on a terminal, so {command} cannot ask how the person's identity was checked; \
                 give --identity-checked-by KIND (one of {}); nothing was done",
                kinds()
            ))
            .into());
        }
        ask()
    }
}

/// Lists the kinds on stderr and reads a number or a name; three tries.
fn ask() -> Result<IdentityCheck> {
    let mut err = std::io::stderr().lock();
    writeln!(err, "How was the person's identity checked?")?;
    for (i, kind) in IdentityCheck::ALL.iter().enumerate() {
        writeln!(err, "  {}) {:<18} {}", i + 1, kind.as_str(), kind.german())?;
    }
    drop(err);
    let stdin = std::io::stdin();
    for _ in 0..3 {
        eprint!("Number or name: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        if stdin.lock().read_line(&mut answer)? == 0 {
            break;
        }
        let answer = answer.trim();
        let chosen = match answer.parse::<usize>() {
            Ok(n) if (1..=IdentityCheck::ALL.len()).contains(&n) => Some(IdentityCheck::ALL[n - 1]),
            _ => answer.parse().ok(),
        };
        if let Some(kind) = chosen {
            return Ok(kind);
        }
        eprintln!(
            "\"{}\" is not one of {}",
            crate::domain::text::printable(answer),
            kinds()
        );
    }
    Err(
        Refusal::InvalidInput("--identity-checked-by: no kind chosen; nothing was done".into())
            .into(),
    )
}
