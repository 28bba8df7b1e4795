//! `policy check` and `policy show`: they read the policy folder only, no database.

use super::GlobalOpts;
use super::render::{self, Format};
use crate::domain::policy::{Policy, PolicyError};
use crate::ops::Refusal;
use crate::ops::policies::PolicyLoadError;
use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;
use std::fmt::Write as _;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate every policy file; problems as file:line: field: problem, exit 2.
    /// Warnings (legal review findings, values the office has not confirmed) are listed
    /// and exit 0, or 1 with --strict
    Check {
        /// Fail (exit 1) when there are warnings, e.g. values still under `confirm`
        #[arg(long)]
        strict: bool,
    },
    /// Show a tenant's record of processing (Art. 30 DSGVO)
    Show {
        /// Tenant slug
        tenant: String,
    },
}

#[derive(Serialize)]
struct CheckReport<'a> {
    valid: bool,
    tenants: Vec<&'a str>,
    problems: &'a [PolicyError],
    warnings: &'a [PolicyError],
}

#[derive(Serialize, Tabled)]
struct ProblemRow {
    severity: &'static str,
    file: String,
    line: usize,
    field: String,
    problem: String,
}

/// One row per processing activity, the shape of an Art. 30 register.
#[derive(Serialize, Tabled)]
struct ActivityRow {
    purpose: String,
    description: String,
    legal_basis: String,
    citation: String,
    categories: String,
    recipients: String,
}

pub fn run(cmd: PolicyCmd, global: &GlobalOpts) -> Result<ExitCode> {
    let loaded = super::load_policies(global);
    match cmd {
        PolicyCmd::Check { strict } => check(loaded, strict, global.format),
        PolicyCmd::Show { tenant } => {
            let set = loaded?;
            let policy = set.require(&tenant)?;
            show(policy, global.format)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(
    loaded: Result<crate::ops::policies::PolicySet, PolicyLoadError>,
    strict: bool,
    format: Format,
) -> Result<ExitCode> {
    let (tenants, problems, warnings) = match &loaded {
        Ok(set) => (set.slugs(), Vec::new(), set.warnings()),
        Err(PolicyLoadError::Invalid(problems)) => (Vec::new(), problems.clone(), Vec::new()),
        Err(PolicyLoadError::Unreadable(m)) => return Err(Refusal::InvalidInput(m.clone()).into()),
    };
    match format {
        Format::Table => {
            for p in &problems {
                eprintln!("{p}");
            }
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            if problems.is_empty() {
                println!("{} policies valid: {}", tenants.len(), tenants.join(", "));
                if !warnings.is_empty() {
                    eprintln!(
                        "datenwart: {} warning(s){}",
                        warnings.len(),
                        if strict {
                            "; --strict fails on them"
                        } else {
                            ""
                        }
                    );
                }
            } else {
                eprintln!("datenwart: {} problem(s) in the policies", problems.len());
            }
        }
        Format::Json => render::json(&CheckReport {
            valid: problems.is_empty() && (!strict || warnings.is_empty()),
            tenants,
            problems: &problems,
            warnings: &warnings,
        })?,
        Format::Csv => {
            let row = |severity, p: &PolicyError| ProblemRow {
                severity,
                file: p.file.clone(),
                line: p.line,
                field: p.field.clone(),
                problem: p.problem.clone(),
            };
            let rows: Vec<ProblemRow> = problems
                .iter()
                .map(|p| row("error", p))
                .chain(warnings.iter().map(|w| row("warning", w)))
                .collect();
            // A header even when there is nothing to report, so scripts can rely on it.
            if rows.is_empty() {
                println!("severity,file,line,field,problem");
            }
            render::csv(&rows)?;
        }
    }
    Ok(if !problems.is_empty() {
        ExitCode::from(2)
    } else if strict && !warnings.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn show(policy: &Policy, format: Format) -> Result<()> {
    match format {
        Format::Json => render::json(policy),
        Format::Csv => render::csv(&activities(policy)),
        Format::Table => {
            print!("{}", record_of_processing(policy));
            Ok(())
        }
    }
}

fn activities(policy: &Policy) -> Vec<ActivityRow> {
    let recipients = |id: &str| {
        policy
            .recipients
            .iter()
            .filter(|r| r.serves(id))
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    policy
        .purposes
        .iter()
        .map(|p| ActivityRow {
            purpose: p.id.clone(),
            description: p.description.clone(),
            legal_basis: p.legal_basis.as_str().to_owned(),
            citation: p.legal_basis_citation().to_owned(),
            categories: p.categories.join("; "),
            recipients: recipients(&p.id),
        })
        .collect()
}

/// The Art. 30(1) record in German, as a DPO would file it.
fn record_of_processing(p: &Policy) -> String {
    let t = &p.tenant;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Verzeichnis von Verarbeitungstätigkeiten (Art. 30 Abs. 1 DSGVO)"
    );
    let _ = writeln!(s, "Verarbeitung: Online-Terminvergabe ({})\n", p.file);
    let _ = writeln!(s, "Verantwortlicher (Art. 30 Abs. 1 lit. a)");
    let _ = writeln!(s, "  {}", t.name);
    if let Some(r) = &t.representative {
        let _ = writeln!(s, "  vertreten durch {r}");
    }
    let _ = writeln!(s, "  {}", t.address);
    let _ = writeln!(s, "  E-Mail: {}", t.email);
    if let Some(phone) = &t.phone {
        let _ = writeln!(s, "  Telefon: {phone}");
    }
    if let Some(web) = &t.website {
        let _ = writeln!(s, "  Internet: {web}");
    }
    let _ = writeln!(s, "Datenschutzbeauftragte/r: {}", t.dpo);
    let _ = writeln!(s, "Aufsichtsbehörde: {}", t.supervisory_authority);
    let _ = writeln!(
        s,
        "Widerruf von Einwilligungen per E-Mail an: {}",
        t.withdrawal_addresses.join(", ")
    );
    let _ = writeln!(
        s,
        "Feiertagsregion für Fristen: {}; Zeitzone: {}\n",
        t.region, t.timezone
    );

    let _ = writeln!(
        s,
        "Zwecke, Rechtsgrundlagen und Datenkategorien (lit. b, c)"
    );
    for purpose in &p.purposes {
        let _ = writeln!(s, "  [{}] {}", purpose.id, purpose.description);
        let _ = writeln!(
            s,
            "    Rechtsgrundlage: {} ({})",
            purpose.legal_basis.describe_de(),
            purpose.legal_basis_citation()
        );
        let _ = writeln!(s, "    Datenkategorien: {}", purpose.categories.join(", "));
        if let Some(c) = &purpose.consent {
            let _ = writeln!(
                s,
                "    Einwilligungstext (Version {}): {}",
                c.version, c.text
            );
        }
    }
    let _ = writeln!(
        s,
        "  Betroffene: Bürgerinnen und Bürger, die online einen Termin buchen\n"
    );

    let _ = writeln!(s, "Empfänger (lit. d)");
    for r in &p.recipients {
        let _ = writeln!(
            s,
            "  - {} — {}: {}",
            r.name,
            r.role.describe_de(),
            r.purpose
        );
    }
    s.push('\n');

    let _ = writeln!(s, "Löschfristen (lit. f)");
    for rule in &p.retention {
        let _ = writeln!(s, "  - {}", rule.describe_de());
        if let Some(note) = &rule.note {
            let _ = writeln!(s, "    Begründung: {note}");
        }
    }
    s
}
