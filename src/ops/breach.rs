//! The breach register (Art. 33(5) DSGVO): recording a breach with its 72-hour clock,
//! the notifications, the count of persons and records from the store, and the Art. 34
//! letter to the persons concerned.

use super::{Context, Refusal, private_files};
use crate::domain::breach::{self, BreachState, Risk};
use crate::domain::policy::DATA_CATEGORIES;
use crate::domain::time::{self, local_date_de};
use crate::store::{Affected, Breach, NewBreach, Notified, StoreError};
use anyhow::Result;
use askama::Template;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// What the DPO enters with `breach add`.
pub struct BreachInput<'a> {
    pub tenant: &'a str,
    pub known_at: DateTime<Utc>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
    pub description: &'a str,
    pub categories: &'a [String],
    pub persons: Option<i64>,
    pub records: Option<i64>,
    pub risk: Risk,
    pub consequences: Option<&'a str>,
    pub measures: Option<&'a str>,
    /// Count persons and records from the store over the occurrence window instead of
    /// taking `persons`/`records`.
    pub count: bool,
}

fn invalid(message: impl Into<String>) -> anyhow::Error {
    Refusal::InvalidInput(message.into()).into()
}

pub async fn add(ctx: &Context, input: BreachInput<'_>) -> Result<(i64, Vec<Affected>)> {
    ctx.policies.require(input.tenant)?;
    let now = time::now();
    if input.known_at > now {
        return Err(invalid("--known-at: lies in the future"));
    }
    if input.description.trim().is_empty() {
        return Err(invalid("--description: say what happened"));
    }
    if let (Some(from), Some(to)) = (input.occurred_from, input.occurred_to)
        && from > to
    {
        return Err(invalid("--from: lies after --to"));
    }
    if input.categories.is_empty() {
        return Err(invalid(format!(
            "--category: name at least one data category ({})",
            DATA_CATEGORIES.join(", ")
        )));
    }
    for c in input.categories {
        if !DATA_CATEGORIES.contains(&c.as_str()) {
            return Err(invalid(format!(
                "--category: unknown category \"{c}\"; use one of {}",
                DATA_CATEGORIES.join(", ")
            )));
        }
    }
    let mut counted = Vec::new();
    let (mut persons, mut records) = (input.persons, input.records);
    if input.count {
        let (Some(from), Some(to)) = (input.occurred_from, input.occurred_to) else {
            return Err(invalid(
                "--count needs --from and --to (the window to count)",
            ));
        };
        counted = ctx.store.count_affected(input.tenant, from, to).await?;
        persons = Some(counted.iter().map(|a| a.persons).max().unwrap_or(0));
        records = Some(counted.iter().map(|a| a.records).sum());
    }
    let new = NewBreach {
        tenant: input.tenant.to_owned(),
        known_at: input.known_at,
        occurred_from: input.occurred_from,
        occurred_to: input.occurred_to,
        description: input.description.trim().to_owned(),
        data_categories: input.categories.to_vec(),
        persons_approx: persons,
        records_approx: records,
        risk: input.risk.as_str().to_owned(),
        consequences: input.consequences.map(|s| s.trim().to_owned()),
        measures: input.measures.map(|s| s.trim().to_owned()),
    };
    let id = ctx.store.add_breach(&new, &ctx.audit()).await?;
    Ok((id, counted))
}

/// A breach with where it stands now.
pub struct Listed {
    pub breach: Breach,
    pub risk: Risk,
    pub deadline: DateTime<Utc>,
    pub state: BreachState,
}

fn listed(breach: Breach, now: DateTime<Utc>) -> Result<Listed> {
    let risk: Risk = breach
        .risk
        .parse()
        .map_err(|e: String| anyhow::anyhow!("breach {}: {e}", breach.id))?;
    let state = breach::state(
        risk,
        breach.known_at,
        breach.authority_notified_at,
        breach.persons_notified_at,
        breach.closed_at,
        now,
    );
    Ok(Listed {
        deadline: breach::authority_deadline(breach.known_at),
        risk,
        state,
        breach,
    })
}

pub async fn list(ctx: &Context, tenant: Option<&str>) -> Result<Vec<Listed>> {
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let now = time::now();
    ctx.store
        .breaches(tenant)
        .await?
        .into_iter()
        .map(|b| listed(b, now))
        .collect()
}

pub async fn show(ctx: &Context, id: i64) -> Result<Listed> {
    let breach = ctx
        .store
        .breach(id)
        .await?
        .ok_or_else(|| Refusal::NotFound(format!("no breach with id {id}")))?;
    listed(breach, time::now())
}

pub async fn notify(
    ctx: &Context,
    id: i64,
    whom: Notified,
    at: Option<DateTime<Utc>>,
    reference: Option<&str>,
) -> Result<()> {
    let now = time::now();
    let at = at.unwrap_or(now);
    if at > now {
        return Err(invalid("--at: lies in the future"));
    }
    let current = show(ctx, id).await?;
    if at < current.breach.known_at {
        return Err(invalid("--at: lies before the breach became known"));
    }
    ctx.store
        .mark_breach_notified(id, whom, at, reference, &ctx.audit())
        .await
        .map_err(refusal)
}

pub async fn close(ctx: &Context, id: i64, note: &str) -> Result<()> {
    if note.trim().is_empty() {
        return Err(invalid("--note: say how the breach was dealt with"));
    }
    let current = show(ctx, id).await?;
    if current.risk.notify_authority() && current.breach.authority_notified_at.is_none() {
        return Err(invalid(format!(
            "breach {id}: the supervisory authority has not been notified (risk \"{}\"); \
             record it with `breach notify {id} --authority` first",
            current.risk.as_str()
        )));
    }
    if current.risk.notify_persons() && current.breach.persons_notified_at.is_none() {
        return Err(invalid(format!(
            "breach {id}: the persons have not been notified (risk \"high\", Art. 34); \
             record it with `breach notify {id} --persons` first"
        )));
    }
    ctx.store
        .close_breach(id, note.trim(), &ctx.audit())
        .await
        .map_err(refusal)
}

fn refusal(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Conflict(m) => Refusal::InvalidInput(m).into(),
        StoreError::NotFound(m) => Refusal::NotFound(m).into(),
        other => other.into(),
    }
}

pub async fn count(
    ctx: &Context,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Affected>> {
    ctx.policies.require(tenant)?;
    if from > to {
        return Err(invalid("--from: lies after --to"));
    }
    Ok(ctx.store.count_affected(tenant, from, to).await?)
}

#[derive(Template)]
#[template(path = "breach_letter.html")]
struct Letter<'a> {
    controller: &'a crate::domain::policy::TenantInfo,
    date: String,
    reference: String,
    intro: String,
    /// The letter's sections: heading and text; the HTML and the PDF print the same.
    sections: Vec<(&'static str, String)>,
    /// The PDF's address window (`--address`); empty for a letter put in envelopes by
    /// mail merge.
    window: Vec<String>,
}

impl Letter<'_> {
    fn pdf(&self) -> crate::pdf::Letter {
        use crate::pdf::{Block, Window, sender_lines};
        let c = self.controller;
        let mut blocks = vec![
            Block::Subject(TITLE.to_owned()),
            Block::Paragraph("Sehr geehrte Damen und Herren,".to_owned()),
            Block::Paragraph(self.intro.clone()),
        ];
        for (heading, text) in &self.sections {
            blocks.push(Block::Heading((*heading).to_owned()));
            blocks.push(Block::Paragraph(text.clone()));
        }
        blocks.push(Block::Closing(vec![
            "Wir bedauern diesen Vorfall sehr.".to_owned(),
            "Mit freundlichen Grüßen".to_owned(),
            c.name.clone(),
        ]));
        blocks.push(Block::Small(super::letters::MACHINE_MADE.to_owned()));
        crate::pdf::Letter {
            title: TITLE.to_owned(),
            window: Some(Window {
                return_address: format!("{} · {}", c.name, c.address),
                lines: self.window.clone(),
            }),
            sender: sender_lines(
                &c.name,
                &c.address,
                c.phone.as_deref(),
                &c.email,
                c.website.as_deref(),
            ),
            fields: vec![
                ("Aktenzeichen".to_owned(), self.reference.clone()),
                ("Datum".to_owned(), self.date.clone()),
            ],
            reference: self.reference.clone(),
            footer: c.name.clone(),
            blocks,
        }
    }
}

const TITLE: &str = "Benachrichtigung über eine Verletzung des Schutzes Ihrer personenbezogenen Daten (Art. 34 DSGVO)";

/// Writes the Art. 34 letter to the persons concerned into `dir` (created 0700 if missing;
/// the files 0600, never over existing ones): `benachrichtigung-datenpanne-<id>.html` and
/// the same letter as `.pdf` beside it; returns the HTML's path. `address`: the PDF's
/// window lines for one person (`--address`), checked before anything is written.
pub async fn letter(ctx: &Context, id: i64, dir: &Path, address: &[String]) -> Result<PathBuf> {
    let window = crate::pdf::address_lines(address).map_err(Refusal::InvalidInput)?;
    let current = show(ctx, id).await?;
    let b = &current.breach;
    let policy = ctx.policies.require(&b.tenant)?;
    let zone = policy.tenant.zone();
    let now = time::now();
    let categories: Vec<&str> = b
        .data_categories
        .split(',')
        .filter(|c| !c.is_empty())
        .map(crate::domain::notice::category_de)
        .collect();
    let t = &policy.tenant;
    let letter = Letter {
        controller: t,
        date: local_date_de(zone, now),
        reference: format!(
            "{}-DP-{id}",
            t.file_reference_prefix.as_deref().unwrap_or("DS")
        ),
        intro: format!(
            "wir müssen Ihnen mitteilen, dass Daten, die Sie uns über die Online-Terminvergabe \
             anvertraut haben, von einer Verletzung des Schutzes personenbezogener Daten \
             betroffen sind. Wir haben davon am {} erfahren. Weil die Verletzung \
             voraussichtlich ein hohes Risiko für Ihre persönlichen Rechte und Freiheiten zur \
             Folge hat, informieren wir Sie unverzüglich.",
            local_date_de(zone, b.known_at)
        ),
        sections: vec![
            ("Was ist geschehen?", b.description.clone()),
            ("Welche Daten sind betroffen?", categories.join(", ")),
            (
                "Welche Folgen kann das haben?",
                b.consequences.clone().unwrap_or_else(|| {
                    "Die wahrscheinlichen Folgen werden noch geprüft; wir informieren Sie, \
                     sobald wir mehr wissen."
                        .to_owned()
                }),
            ),
            (
                "Was haben wir unternommen?",
                b.measures.clone().unwrap_or_else(|| {
                    "Wir haben Maßnahmen ergriffen, um die Verletzung zu beheben und ihre \
                     Folgen abzumildern."
                        .to_owned()
                }),
            ),
            (
                "Was können Sie tun?",
                "Seien Sie vorsichtig bei E-Mails, Anrufen oder SMS, die sich auf Ihren Termin \
                 bei uns beziehen und Sie zu Zahlungen, zur Preisgabe weiterer Daten oder zum \
                 Öffnen von Links auffordern. Wir fragen Sie nie nach Passwörtern oder Bankdaten."
                    .to_owned(),
            ),
            (
                "Ansprechpartner",
                format!(
                    "Unsere Datenschutzbeauftragte bzw. unser Datenschutzbeauftragter \
                     beantwortet Ihre Fragen: {}. Sie haben das Recht, sich bei der \
                     Aufsichtsbehörde zu beschweren (Art. 77 DSGVO): {}.",
                    t.dpo, t.supervisory_authority
                ),
            ),
        ],
        window,
    };
    let html = letter.render()?;
    let pdf = crate::pdf::render(&[letter.pdf()], now)?;
    private_files::create_folder(dir)?;
    let path = dir.join(format!("benachrichtigung-datenpanne-{id}.html"));
    private_files::write_new(&path, html.as_bytes())?;
    if let Err(e) = private_files::write_new(&path.with_extension("pdf"), &pdf) {
        // Both or neither: the next run writes them again.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}
