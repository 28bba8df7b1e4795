//! `policy check` and `policy show`: they read the policy folder only, no database.

use super::GlobalOpts;
use super::render::{self, Format};
use crate::domain::notice::category_de;
use crate::domain::policy::{Activity, Measure, Policy, PolicyError};
use crate::ops::Refusal;
use crate::ops::policies::PolicyLoadError;
use anyhow::Result;
use askama::Template;
use clap::Subcommand;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
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
    /// Show a tenant's record of processing (Art. 30 DSGVO); --format json gives the policy
    Show {
        /// Tenant slug
        #[arg(long, value_name = "T", required_unless_present = "tenant_positional")]
        tenant: Option<String>,
        /// The tenant as a bare word, as before --tenant (deprecated; kept for scripts)
        #[arg(value_name = "TENANT", hide = true, conflicts_with = "tenant")]
        tenant_positional: Option<String>,
    },
    /// The complete record of processing of a tenant (Art. 30(1)(a)–(g) DSGVO) and its
    /// processors register (Art. 28): text, --format json or csv, and a printable page
    Record {
        /// Tenant slug
        #[arg(long)]
        tenant: String,
        /// Also write the record as a printable HTML page (A4) to this new file
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Also write the record as PDF (A4, PDF/A-2b, page numbers) to this new file
        #[arg(long, value_name = "FILE")]
        pdf: Option<PathBuf>,
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

/// One row per processing activity, the shape of an Art. 30 register: the recipients and
/// deletion periods of that activity only.
#[derive(Serialize, Tabled)]
struct ActivityRow {
    activity: String,
    description: String,
    legal_basis: String,
    data_subjects: String,
    categories: String,
    recipients: String,
    third_countries: String,
    periods: String,
}

pub fn run(cmd: PolicyCmd, global: &GlobalOpts) -> Result<ExitCode> {
    let loaded = super::load_policies(global);
    match cmd {
        PolicyCmd::Check { strict } => check(loaded, strict, global.format),
        PolicyCmd::Show {
            tenant,
            tenant_positional,
        } => {
            let set = loaded?;
            let tenant = tenant
                .or(tenant_positional)
                .expect("clap requires --tenant or the positional");
            let policy = set.require(&tenant)?;
            show(policy, global.format)?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCmd::Record { tenant, html, pdf } => {
            let set = loaded?;
            let policy = set.require(&tenant)?;
            record(policy, global.format, html.as_deref(), pdf.as_deref())?;
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
                eprintln!("{}", crate::domain::text::printable(&p.to_string()));
            }
            for w in &warnings {
                eprintln!(
                    "warning: {}",
                    crate::domain::text::printable(&w.to_string())
                );
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
            print!(
                "{}",
                crate::domain::text::printable(&record_of_processing(policy))
            );
            Ok(())
        }
    }
}

fn record(
    policy: &Policy,
    format: Format,
    html: Option<&std::path::Path>,
    pdf: Option<&std::path::Path>,
) -> Result<()> {
    // The files first: a refusal then comes before any output.
    let open = |flag: &str, path: &std::path::Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Refusal::InvalidInput(format!("{flag} {}: {e}", path.display())))
    };
    let mut page_file = html.map(|p| open("--html", p)).transpose()?;
    let mut pdf_file = match pdf.map(|p| open("--pdf", p)).transpose() {
        Ok(f) => f,
        Err(e) => {
            if let Some(p) = html {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.into());
        }
    };
    let rec = Record::of(policy);
    match format {
        Format::Json => render::json(&rec)?,
        Format::Csv => render::csv(&activities(policy))?,
        Format::Table => print!(
            "{}",
            crate::domain::text::printable(&record_of_processing(policy))
        ),
    }
    if let Some(file) = page_file.as_mut() {
        file.write_all(RecordPage { r: &rec }.render()?.as_bytes())?;
    }
    if let Some(file) = pdf_file.as_mut() {
        let now = crate::domain::time::now();
        let date = crate::domain::time::local_date_de(policy.tenant.zone(), now);
        file.write_all(&crate::pdf::render(
            &[rec.pdf(&policy.tenant.slug, &date)],
            now,
        )?)?;
    }
    Ok(())
}

impl Record<'_> {
    /// The record in the PDF's document model, from the values the HTML page gets.
    fn pdf(&self, slug: &str, date: &str) -> crate::pdf::Letter {
        use crate::pdf::{Block, sender_lines};
        let c = &self.controller;
        let none = || "nicht erfasst".to_owned();
        let mut controller = vec![(
            "Verantwortlicher".to_owned(),
            format!("{}\n{}", c.name, c.address),
        )];
        if let Some(r) = c.representative {
            controller.push(("Vertreten durch".to_owned(), r.to_owned()));
        }
        controller.push(("E-Mail".to_owned(), c.email.to_owned()));
        if let Some(p) = c.phone {
            controller.push(("Telefon".to_owned(), p.to_owned()));
        }
        if let Some(w) = c.website {
            controller.push(("Internet".to_owned(), w.to_owned()));
        }
        controller.push(("Datenschutzbeauftragte/r".to_owned(), c.dpo.to_owned()));
        controller.push((
            "Aufsichtsbehörde".to_owned(),
            c.supervisory_authority.to_owned(),
        ));
        let mut blocks = vec![
            Block::Subject(RECORD_TITLE.to_owned()),
            Block::Paragraph(format!("Online-Terminvergabe · {}", c.name)),
            Block::Heading("a) Verantwortlicher, Vertreter und Datenschutzbeauftragte/r".into()),
            Block::KeyValue(controller),
            Block::Heading("b)–d), f) Verarbeitungstätigkeiten".into()),
        ];
        for a in &self.activities {
            let act = &a.activity;
            blocks.push(Block::Subheading(act.description.clone()));
            blocks.push(Block::KeyValue(vec![
                (
                    "b) Zweck und Rechtsgrundlage".into(),
                    format!("{}\n{}", act.description, act.legal_basis),
                ),
                (
                    "c) Betroffene Personen".into(),
                    act.data_subjects.join(", "),
                ),
                ("c) Datenkategorien".into(), a.categories_de.join(", ")),
                (
                    "d) Empfänger".into(),
                    if act.recipients.is_empty() {
                        "keine".into()
                    } else {
                        act.recipients.join("\n")
                    },
                ),
                ("f) Löschfristen".into(), act.periods.join("\n")),
            ]));
        }
        blocks.push(Block::Paragraph(format!(
            "Kategorien betroffener Personen insgesamt: {}",
            self.data_subjects.join(", ")
        )));
        blocks.push(Block::Heading("e) Übermittlung in Drittländer".into()));
        blocks.push(Block::Paragraph(self.third_countries.clone()));
        blocks.push(Block::Heading(
            "g) Technische und organisatorische Maßnahmen (Art. 32 DSGVO)".into(),
        ));
        blocks.push(Block::KeyValue(
            self.measures
                .iter()
                .map(|m| (m.title.clone(), m.description.clone()))
                .collect(),
        ));
        blocks.push(Block::Heading(
            "Verzeichnis der Auftragsverarbeiter (Art. 28 DSGVO)".into(),
        ));
        blocks.push(Block::Table {
            columns: [
                "Auftragsverarbeiter",
                "Aufgabe",
                "Vertrag vom",
                "Ort",
                "Unterauftragsverarbeiter",
                "Letzte Überprüfung",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: self
                .processors
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.task.clone(),
                        p.contract_date.clone().unwrap_or_else(none),
                        p.location.clone().unwrap_or_else(none),
                        if p.sub_processors.is_empty() {
                            "keine erfasst".into()
                        } else {
                            p.sub_processors.join(", ")
                        },
                        p.last_review.clone().unwrap_or_else(none),
                    ]
                })
                .collect(),
        });
        let reference = format!("VVT-{slug}");
        crate::pdf::Letter {
            title: format!("{RECORD_TITLE} – {}", c.name),
            window: None,
            sender: sender_lines(c.name, c.address, c.phone, c.email, c.website),
            fields: vec![
                ("Aktenzeichen".into(), reference.clone()),
                ("Stand".into(), date.to_owned()),
            ],
            reference,
            footer: c.name.to_owned(),
            blocks,
        }
    }
}

const RECORD_TITLE: &str = "Verzeichnis von Verarbeitungstätigkeiten (Art. 30 Abs. 1 DSGVO)";

/// The record of processing of one tenant (Art. 30(1)(a)–(g)) and its processors register.
#[derive(Serialize)]
struct Record<'a> {
    /// (a)
    controller: Controller<'a>,
    /// (b)–(d), (f) per activity.
    activities: Vec<RecordActivity>,
    /// (c) over all activities.
    data_subjects: Vec<&'static str>,
    /// (e)
    third_countries: String,
    /// (g)
    measures: &'a [Measure],
    /// Art. 28
    processors: Vec<ProcessorEntry>,
}

#[derive(Serialize)]
struct Controller<'a> {
    name: &'a str,
    representative: Option<&'a str>,
    address: &'a str,
    email: &'a str,
    phone: Option<&'a str>,
    website: Option<&'a str>,
    dpo: &'a str,
    supervisory_authority: &'a str,
}

#[derive(Serialize)]
struct RecordActivity {
    #[serde(flatten)]
    activity: Activity,
    /// The categories in German.
    categories_de: Vec<String>,
}

#[derive(Serialize)]
struct ProcessorEntry {
    name: String,
    task: String,
    purposes: Vec<String>,
    contract_date: Option<String>,
    sub_processors: Vec<String>,
    location: Option<String>,
    last_review: Option<String>,
}

impl<'a> Record<'a> {
    fn of(p: &'a Policy) -> Self {
        let t = &p.tenant;
        Record {
            controller: Controller {
                name: &t.name,
                representative: t.representative.as_deref(),
                address: &t.address,
                email: &t.email,
                phone: t.phone.as_deref(),
                website: t.website.as_deref(),
                dpo: &t.dpo,
                supervisory_authority: &t.supervisory_authority,
            },
            activities: p
                .activities()
                .into_iter()
                .map(|a| RecordActivity {
                    categories_de: categories_de(&a),
                    activity: a,
                })
                .collect(),
            data_subjects: p.data_subjects_de(),
            third_countries: t.third_countries_de(),
            measures: &p.measures,
            processors: p
                .processors()
                .map(|r| ProcessorEntry {
                    name: r.name.clone(),
                    task: r.purpose.clone(),
                    purposes: if r.purposes.is_empty() {
                        p.purposes.iter().map(|x| x.id.clone()).collect()
                    } else {
                        r.purposes.clone()
                    },
                    contract_date: r.contract_date.map(|d| d.format("%d.%m.%Y").to_string()),
                    sub_processors: r.sub_processors.clone(),
                    location: r.location.clone(),
                    last_review: r.last_review.map(|d| d.format("%d.%m.%Y").to_string()),
                })
                .collect(),
        }
    }
}

/// The categories of an activity in German; the audit trail holds pseudonyms only.
fn categories_de(a: &Activity) -> Vec<String> {
    if a.categories.is_empty() {
        return vec!["Pseudonyme der betroffenen Personen, Art und Zeitpunkt der Vorgänge".into()];
    }
    a.categories
        .iter()
        .map(|c| category_de(c).to_owned())
        .collect()
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage<'a, 'b> {
    r: &'b Record<'a>,
}

fn activities(policy: &Policy) -> Vec<ActivityRow> {
    let third = policy.tenant.third_countries_de();
    policy
        .activities()
        .into_iter()
        .map(|a| ActivityRow {
            categories: categories_de(&a).join("; "),
            activity: a.id,
            description: a.description,
            legal_basis: a.legal_basis,
            data_subjects: a.data_subjects.join("; "),
            recipients: a.recipients.join("; "),
            third_countries: third.clone(),
            periods: a.periods.join(" "),
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
    let _ = writeln!(
        s,
        "Verantwortlicher, Vertreter, Datenschutzbeauftragte/r (Art. 30 Abs. 1 lit. a)"
    );
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
    let _ = writeln!(s, "  Datenschutzbeauftragte/r: {}", t.dpo);
    let _ = writeln!(s, "  Aufsichtsbehörde: {}", t.supervisory_authority);
    let _ = writeln!(
        s,
        "  Widerruf von Einwilligungen per E-Mail an: {}",
        t.withdrawal_addresses.join(", ")
    );
    let _ = writeln!(
        s,
        "  Feiertagsregion für Fristen: {}; Zeitzone: {}\n",
        t.region, t.timezone
    );

    let _ = writeln!(
        s,
        "Verarbeitungstätigkeiten: Zwecke (lit. b), Betroffene und Datenkategorien (lit. c), \
         Empfänger (lit. d), Löschfristen (lit. f)"
    );
    for a in p.activities() {
        let _ = writeln!(s, "  [{}] {}", a.id, a.description);
        let _ = writeln!(s, "    Rechtsgrundlage: {}", a.legal_basis);
        let _ = writeln!(s, "    Betroffene: {}", a.data_subjects.join(", "));
        let _ = writeln!(s, "    Datenkategorien: {}", categories_de(&a).join(", "));
        if let Some(c) = p.purpose(&a.id).and_then(|p| p.consent.as_ref()) {
            let _ = writeln!(
                s,
                "    Einwilligungstext (Version {}): {}",
                c.version, c.text
            );
        }
        let recipients = if a.recipients.is_empty() {
            "keine".to_owned()
        } else {
            a.recipients.join("; ")
        };
        let _ = writeln!(s, "    Empfänger: {recipients}");
        for period in &a.periods {
            let _ = writeln!(s, "    Löschfrist: {period}");
        }
    }
    let _ = writeln!(
        s,
        "  Kategorien betroffener Personen insgesamt: {}\n",
        p.data_subjects_de().join(", ")
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

    let _ = writeln!(s, "Drittländer (lit. e)");
    let _ = writeln!(s, "  {}\n", t.third_countries_de());

    let _ = writeln!(s, "Löschfristen (lit. f)");
    for rule in &p.retention {
        let _ = writeln!(s, "  - {}", rule.describe_de());
        if let Some(note) = &rule.note {
            let _ = writeln!(s, "    Begründung: {note}");
        }
    }
    s.push('\n');

    let _ = writeln!(
        s,
        "Technische und organisatorische Maßnahmen (lit. g, Art. 32 DSGVO)"
    );
    for m in &p.measures {
        let _ = writeln!(s, "  - {}: {}", m.title, m.description);
    }
    s.push('\n');

    let _ = writeln!(s, "Verzeichnis der Auftragsverarbeiter (Art. 28 DSGVO)");
    let mut any = false;
    for r in p.processors() {
        any = true;
        let date = |d: Option<chrono::NaiveDate>| {
            d.map_or("nicht erfasst".to_owned(), |d| {
                d.format("%d.%m.%Y").to_string()
            })
        };
        let _ = writeln!(s, "  - {}: {}", r.name, r.purpose);
        let _ = writeln!(s, "    Vertrag vom: {}", date(r.contract_date));
        let _ = writeln!(
            s,
            "    Unterauftragsverarbeiter: {}",
            if r.sub_processors.is_empty() {
                "keine erfasst".to_owned()
            } else {
                r.sub_processors.join("; ")
            }
        );
        let _ = writeln!(
            s,
            "    Ort der Verarbeitung: {}",
            r.location.as_deref().unwrap_or("nicht erfasst")
        );
        let _ = writeln!(s, "    Letzte Überprüfung: {}", date(r.last_review));
    }
    if !any {
        let _ = writeln!(s, "  keine");
    }
    s
}
