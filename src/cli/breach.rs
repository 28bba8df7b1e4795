//! `breach`: the register of personal-data breaches (Art. 33(5) DSGVO) with the 72-hour
//! clock to the supervisory authority (Art. 33(1)) and the letter to the persons (Art. 34).

use crate::cli::render::{self, Format};
use crate::domain::breach::Risk;
use crate::ops::Context;
use crate::ops::breach::{self, BreachInput, Listed};
use crate::store::{Affected, Notified};
use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::Tabled;

#[derive(Debug, Subcommand)]
pub enum BreachCmd {
    /// Record a breach; the 72 hours to notify the authority run from --known-at
    Add {
        /// The tenant (controller) the breach happened at
        #[arg(long)]
        tenant: String,
        /// When the office became aware of it: "2026-12-01 09:30" (Europe/Berlin),
        /// "01.12.2026 09:30" or RFC 3339 (default: now)
        #[arg(long, value_parser = crate::cli::when::instant)]
        known_at: Option<DateTime<Utc>>,
        /// Start of the time the breach lasted (same formats)
        #[arg(long, value_parser = crate::cli::when::instant)]
        from: Option<DateTime<Utc>>,
        /// End of the time the breach lasted (same formats)
        #[arg(long, value_parser = crate::cli::when::instant)]
        to: Option<DateTime<Utc>>,
        /// What happened (the DPO's words; name no person)
        #[arg(long)]
        description: String,
        /// A data category concerned, as in the policies (email, phone, …); repeat for several
        #[arg(long = "category", value_name = "CATEGORY")]
        categories: Vec<String>,
        /// Approximate number of persons concerned
        #[arg(long, conflicts_with = "count")]
        persons: Option<i64>,
        /// Approximate number of records concerned
        #[arg(long, conflicts_with = "count")]
        records: Option<i64>,
        /// Count persons and records from the store over --from..--to instead
        #[arg(long)]
        count: bool,
        /// unlikely (documented only), risk (notify the authority), high (and the persons)
        #[arg(long, value_parser = parse_risk)]
        risk: Risk,
        /// Likely consequences for the persons
        #[arg(long)]
        consequences: Option<String>,
        /// Measures taken or proposed
        #[arg(long)]
        measures: Option<String>,
    },
    /// The register, with each breach's 72-hour deadline and state
    List {
        /// Only this tenant
        #[arg(long)]
        tenant: Option<String>,
        /// Only breaches whose authority notification is overdue
        #[arg(long)]
        overdue: bool,
        /// Only breaches not closed
        #[arg(long)]
        open: bool,
    },
    /// One breach in full
    Show {
        /// The breach's id (see `breach list`)
        id: i64,
    },
    /// Record that the authority (Art. 33) or the persons (Art. 34) were notified
    Notify {
        /// The breach's id
        id: i64,
        /// The supervisory authority was notified (Art. 33)
        #[arg(long, group = "whom", required = true)]
        authority: bool,
        /// The persons concerned were notified (Art. 34)
        #[arg(long, group = "whom", required = true)]
        persons: bool,
        /// When (default: now; same formats as --known-at)
        #[arg(long, value_parser = crate::cli::when::instant)]
        at: Option<DateTime<Utc>>,
        /// The authority's reference number
        #[arg(long, requires = "authority")]
        reference: Option<String>,
    },
    /// Close a breach once every notification its risk requires is recorded
    Close {
        /// The breach's id
        id: i64,
        /// How it was dealt with
        #[arg(long)]
        note: String,
    },
    /// Count the persons and records of a tenant stored during a window (for --persons/--records)
    Count {
        /// The tenant to count at
        #[arg(long)]
        tenant: String,
        /// Start of the window: 2026-12-01, "01.12.2026 14:30" (Europe/Berlin) or RFC 3339
        #[arg(long, value_parser = crate::cli::when::instant)]
        from: DateTime<Utc>,
        /// End of the window (same formats)
        #[arg(long, value_parser = crate::cli::when::instant)]
        to: DateTime<Utc>,
    },
    /// Write the Art. 34 letter to the persons concerned as HTML and PDF (DIN 5008)
    Letter {
        /// The breach's id
        id: i64,
        /// Folder to write the letter into
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// The postal address for the PDF's window, name included: "Name\nStraße 1\n12345
        /// Ort", or one line per --address (default: an empty window, for mail merge)
        #[arg(long, value_name = "LINES")]
        address: Vec<String>,
    },
}

fn parse_risk(s: &str) -> Result<Risk, String> {
    s.parse()
}

#[derive(Serialize, Tabled)]
struct BreachRow {
    id: i64,
    tenant: String,
    #[tabled(display = "render::local")]
    known_at: DateTime<Utc>,
    #[tabled(display = "render::local_or_dash")]
    authority_due: Option<DateTime<Utc>>,
    risk: String,
    state: String,
    #[tabled(display = "render::or_dash")]
    persons: Option<i64>,
    #[tabled(display = "render::or_dash")]
    records: Option<i64>,
    #[tabled(display = "render::local_or_dash")]
    authority_notified_at: Option<DateTime<Utc>>,
    #[tabled(display = "render::local_or_dash")]
    persons_notified_at: Option<DateTime<Utc>>,
}

fn row(l: &Listed) -> BreachRow {
    let b = &l.breach;
    BreachRow {
        id: b.id,
        tenant: b.tenant.clone(),
        known_at: b.known_at,
        authority_due: l.risk.notify_authority().then_some(l.deadline),
        risk: l.risk.as_str().to_owned(),
        state: l.state.as_str().to_owned(),
        persons: b.persons_approx,
        records: b.records_approx,
        authority_notified_at: b.authority_notified_at,
        persons_notified_at: b.persons_notified_at,
    }
}

#[derive(Serialize, Tabled)]
struct AffectedRow {
    category: &'static str,
    persons: i64,
    records: i64,
}

fn affected_rows(counted: &[Affected]) -> Vec<AffectedRow> {
    counted
        .iter()
        .map(|a| AffectedRow {
            category: a.category,
            persons: a.persons,
            records: a.records,
        })
        .collect()
}

pub async fn run(ctx: &Context, cmd: BreachCmd, format: Format) -> Result<ExitCode> {
    match cmd {
        BreachCmd::Add {
            tenant,
            known_at,
            from,
            to,
            description,
            categories,
            persons,
            records,
            count,
            risk,
            consequences,
            measures,
        } => {
            let known_at = known_at.unwrap_or_else(crate::domain::time::now);
            let (id, counted) = breach::add(
                ctx,
                BreachInput {
                    tenant: &tenant,
                    known_at,
                    occurred_from: from,
                    occurred_to: to,
                    description: &description,
                    categories: &categories,
                    persons,
                    records,
                    risk,
                    consequences: consequences.as_deref(),
                    measures: measures.as_deref(),
                    count,
                },
            )
            .await?;
            let l = breach::show(ctx, id).await?;
            let mut human = format!("breach {id} recorded at {tenant}");
            if risk.notify_authority() {
                human.push_str(&format!(
                    "; notify the supervisory authority by {} (72 hours, Art. 33(1))",
                    render::local(&l.deadline)
                ));
            } else {
                human.push_str("; documented only (risk unlikely, Art. 33(5))");
            }
            if risk.notify_persons() {
                human.push_str(
                    "; tell the persons without delay (Art. 34): `datenwart breach letter`",
                );
            }
            render::report(
                format,
                &human,
                &serde_json::json!({
                    "breach": id,
                    "authority_due": l.deadline,
                    "counted": affected_rows(&counted),
                }),
                &[row(&l)],
            )?;
        }
        BreachCmd::List {
            tenant,
            overdue,
            open,
        } => {
            let rows: Vec<BreachRow> = breach::list(ctx, tenant.as_deref())
                .await?
                .iter()
                .filter(|l| !overdue || l.state == crate::domain::breach::BreachState::Overdue)
                .filter(|l| !open || l.breach.closed_at.is_none())
                .map(row)
                .collect();
            render::rows(format, &rows)?;
        }
        BreachCmd::Show { id } => {
            let l = breach::show(ctx, id).await?;
            match format {
                Format::Table => {
                    let b = &l.breach;
                    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
                    let when = |t: &Option<DateTime<Utc>>| {
                        t.as_ref().map(render::local).unwrap_or_else(|| "–".into())
                    };
                    let text = format!(
                        "breach {id} at {}\nstate: {}\nrisk: {}\nknown at: {}\nauthority due: {}\n\
                         occurred: {} … {}\ndescription: {}\ncategories: {}\npersons (approx.): {}\n\
                         records (approx.): {}\nconsequences: {}\nmeasures: {}\n\
                         authority notified: {} {}\npersons notified: {}\nclosed: {} {}",
                        b.tenant,
                        l.state.as_str(),
                        l.risk.as_str(),
                        render::local(&b.known_at),
                        if l.risk.notify_authority() {
                            render::local(&l.deadline)
                        } else {
                            "– (risk unlikely)".into()
                        },
                        when(&b.occurred_from),
                        when(&b.occurred_to),
                        b.description,
                        b.data_categories.replace(',', ", "),
                        b.persons_approx.map_or("–".into(), |n| n.to_string()),
                        b.records_approx.map_or("–".into(), |n| n.to_string()),
                        opt(&b.consequences),
                        opt(&b.measures),
                        when(&b.authority_notified_at),
                        b.authority_reference.clone().unwrap_or_default(),
                        when(&b.persons_notified_at),
                        when(&b.closed_at),
                        b.closing_note.clone().unwrap_or_default(),
                    );
                    render::report(format, &text, &(), &[()])?;
                }
                _ => render::report(format, "", &l.breach, &[row(&l)])?,
            }
        }
        BreachCmd::Notify {
            id,
            authority,
            persons: _,
            at,
            reference,
        } => {
            let whom = if authority {
                Notified::Authority
            } else {
                Notified::Persons
            };
            breach::notify(ctx, id, whom, at, reference.as_deref()).await?;
            let who = if authority { "authority" } else { "persons" };
            render::report(
                format,
                &format!("breach {id}: {who} notified"),
                &serde_json::json!({ "breach": id, "notified": who }),
                &[serde_json::json!({ "breach": id, "notified": who })],
            )?;
        }
        BreachCmd::Close { id, note } => {
            breach::close(ctx, id, &note).await?;
            render::report(
                format,
                &format!("breach {id} closed"),
                &serde_json::json!({ "closed": id }),
                &[serde_json::json!({ "closed": id })],
            )?;
        }
        BreachCmd::Count { tenant, from, to } => {
            let counted = breach::count(ctx, &tenant, from, to).await?;
            render::rows(format, &affected_rows(&counted))?;
        }
        BreachCmd::Letter { id, out, address } => {
            let path = breach::letter(ctx, id, &out, &address).await?;
            let pdf = path.with_extension("pdf");
            render::report(
                format,
                &format!("letter written: {} and {}", path.display(), pdf.display()),
                &serde_json::json!({ "letter": path, "pdf": pdf }),
                &[serde_json::json!({ "letter": path, "pdf": pdf })],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
