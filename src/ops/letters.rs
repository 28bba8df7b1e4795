//! The letters of Art. 12 (and 18(3)) that `requests extend`, `requests close` and
//! `restrict --lift` write into the request's folder: an extension (Art. 12(3) s. 3), a
//! refusal (12(4)), a decision on a manifestly unfounded or excessive request (12(5)), the
//! answer that no data are held, the decision on an objection (Art. 21), and the notice
//! before a restriction is lifted (18(3)). German, each as a printable HTML file and as a
//! PDF (DIN 5008) beside it, both from the same [`Brief`].

use super::{Context, Refusal};
use crate::domain::policy::{LegalBasis, Policy, TenantInfo};
use crate::domain::requests::{Outcome, RequestKind};
use crate::domain::time::{date_de, local_date_de};
use crate::store::Request;
use anyhow::{Context as _, Result};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The form of address a person asked for, where the office knows it (from their letter
/// or call); the register does not store it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Salutation {
    Frau,
    Herr,
}

impl std::str::FromStr for Salutation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "frau" => Ok(Salutation::Frau),
            "herr" => Ok(Salutation::Herr),
            other => Err(format!("\"{other}\" is not one of frau, herr")),
        }
    }
}

/// The opening line: "Sehr geehrte Frau …"/"Sehr geehrter Herr …" only when the form of
/// address is known, "Guten Tag …" with the name alone, "Sehr geehrte Damen und Herren"
/// when nothing is known.
pub fn salutation(
    known: Option<Salutation>,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> String {
    fn clean(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let (first, last) = (clean(first_name), clean(last_name));
    match (known, last) {
        (Some(Salutation::Frau), Some(l)) => format!("Sehr geehrte Frau {l},"),
        (Some(Salutation::Herr), Some(l)) => format!("Sehr geehrter Herr {l},"),
        _ => {
            let full: Vec<&str> = [first, last].into_iter().flatten().collect();
            if full.is_empty() {
                "Sehr geehrte Damen und Herren,".to_owned()
            } else {
                format!("Guten Tag {},", full.join(" "))
            }
        }
    }
}

/// Which letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    Extension,
    Refusal,
    Unfounded,
    Excessive,
    NoData,
    ObjectionGranted,
    RestrictionLift,
}

impl LetterKind {
    /// The letter a decision calls for, if any (`export` and `erase` write their own).
    pub fn of_outcome(outcome: Outcome, kind: RequestKind) -> Option<LetterKind> {
        match outcome {
            Outcome::Rejected => Some(LetterKind::Refusal),
            Outcome::Unfounded => Some(LetterKind::Unfounded),
            Outcome::Excessive => Some(LetterKind::Excessive),
            Outcome::NoData => Some(LetterKind::NoData),
            Outcome::Granted if kind == RequestKind::Objection => {
                Some(LetterKind::ObjectionGranted)
            }
            _ => None,
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            LetterKind::Extension => "fristverlaengerung",
            LetterKind::Refusal => "ablehnung",
            LetterKind::Unfounded | LetterKind::Excessive => "entscheidung-art-12-abs-5",
            LetterKind::NoData => "keine-daten",
            LetterKind::ObjectionGranted => "widerspruch-stattgegeben",
            LetterKind::RestrictionLift => "aufhebung-einschraenkung",
        }
    }
}

/// Who the letter goes to, as far as the tenant's data say.
#[derive(Clone, Debug, Default)]
pub struct Addressee {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Postal address lines, where the person gave one.
    pub address: Vec<String>,
    pub email: Option<String>,
    pub salutation: Option<Salutation>,
    /// The address window's lines as given with `--address` (name included); they replace
    /// the name and address on file.
    pub window: Vec<String>,
}

/// Everything one letter says besides the policy and the request.
#[derive(Clone, Debug, Default)]
pub struct LetterFacts {
    /// The reasons (extension, refusal, 12(5), objection decision, lifting).
    pub reasons: Option<String>,
    /// Extension: the months added and the new deadline.
    pub months: u32,
    pub extended_due_on: Option<NaiveDate>,
    /// Objection granted: the purposes no longer processed (description and citation).
    pub purposes: Vec<String>,
    /// Objection granted: what was stopped at once, one sentence each.
    pub stopped: Vec<String>,
    /// Restriction lifted: why it was restricted, and the day it ends.
    pub restriction_reason: Option<String>,
    pub effective_on: Option<NaiveDate>,
}

#[derive(Template)]
#[template(path = "brief.html")]
struct BriefHtml<'a> {
    l: &'a Brief,
}

struct Brief {
    title: String,
    controller: TenantInfo,
    recipient: Vec<String>,
    file_reference: String,
    received: String,
    date: String,
    salutation: String,
    paragraphs: Vec<String>,
    reasons_heading: &'static str,
    reasons: Option<String>,
    items: Vec<String>,
    remedies: Option<[String; 2]>,
    /// The PDF's address window: `--address`, or the name and the address on file, or the
    /// name and the e-mail address when no postal address is known.
    window: Vec<String>,
    closing: String,
}

/// A rendered letter: the HTML page and the same letter as PDF.
pub struct Rendered {
    pub html: String,
    pub pdf: Vec<u8>,
    /// The Aktenzeichen (part of the file names).
    pub file_reference: String,
}

impl Brief {
    /// The same letter in the PDF's document model.
    fn pdf(&self) -> crate::pdf::Letter {
        use crate::pdf::{Block, Letter, Window, sender_lines};
        let c = &self.controller;
        let mut sender = sender_lines(
            &c.name,
            &c.address,
            c.phone.as_deref(),
            &c.email,
            c.website.as_deref(),
        );
        if let Some(r) = &c.representative {
            sender.insert(1, format!("vertreten durch {r}"));
        }
        let mut fields = vec![("Aktenzeichen".to_owned(), self.file_reference.clone())];
        if let Some(o) = &c.case_officer {
            fields.push(("Sachbearbeitung".to_owned(), o.clone()));
        }
        fields.push(("Ihr Antrag vom".to_owned(), self.received.clone()));
        fields.push(("Datum".to_owned(), self.date.clone()));
        let mut blocks = vec![
            Block::Subject(self.title.clone()),
            Block::Paragraph(self.salutation.clone()),
        ];
        blocks.extend(self.paragraphs.iter().cloned().map(Block::Paragraph));
        if let Some(r) = &self.reasons {
            blocks.push(Block::Heading(self.reasons_heading.to_owned()));
            blocks.push(Block::Emphasis(r.clone()));
        }
        if !self.items.is_empty() {
            blocks.push(Block::List(self.items.clone()));
        }
        if let Some(remedies) = &self.remedies {
            blocks.push(Block::Heading("Ihre Rechtsbehelfe".to_owned()));
            blocks.extend(remedies.iter().cloned().map(Block::Paragraph));
        }
        let mut signature = Vec::new();
        if let Some(o) = &c.case_officer {
            signature.push(o.clone());
        }
        signature.push(c.name.clone());
        blocks.push(Block::Closing(vec![
            self.closing.clone(),
            "Mit freundlichen Grüßen".to_owned(),
            signature.join("\n"),
        ]));
        blocks.push(Block::Small(MACHINE_MADE.to_owned()));
        Letter {
            title: self.title.clone(),
            window: Some(Window {
                return_address: format!("{} · {}", c.name, c.address),
                lines: self.window.clone(),
            }),
            sender,
            fields,
            reference: self.file_reference.clone(),
            footer: c.name.clone(),
            blocks,
        }
    }
}

/// The last line of every letter.
pub const MACHINE_MADE: &str =
    "Dieses Schreiben wurde maschinell erstellt und ist ohne Unterschrift gültig.";

/// The rights to complain and to go to court (Art. 77–79 DSGVO), two paragraphs.
fn remedies(supervisory_authority: &str) -> [String; 2] {
    [
        format!(
            "Sie haben das Recht, sich bei einer Datenschutz-Aufsichtsbehörde zu beschweren \
             (Art. 77 DSGVO). Für uns zuständig ist: {supervisory_authority}."
        ),
        "Außerdem können Sie gerichtlichen Rechtsschutz in Anspruch nehmen (Art. 78 und 79 \
         DSGVO): Eine Klage gegen uns als Verantwortlichen (Art. 79 DSGVO) erheben Sie beim \
         zuständigen Verwaltungsgericht (§ 40 VwGO); gegen eine Entscheidung der \
         Aufsichtsbehörde steht Ihnen ebenfalls der Weg zum Verwaltungsgericht offen (Art. 78 \
         DSGVO, § 20 BDSG)."
            .to_owned(),
    ]
}

/// What the person asked for, as the letter names it ("einen Antrag auf Auskunft …").
fn asked_for(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Objection => "Widerspruch gegen die Verarbeitung Ihrer Daten (Art. 21 DSGVO)",
        other => other.german(),
    }
}

/// Renders one letter as HTML and PDF; pure (the date is given).
pub fn render(
    kind: LetterKind,
    policy: &Policy,
    request: &Request,
    to: &Addressee,
    facts: &LetterFacts,
    now: DateTime<Utc>,
) -> Result<Rendered> {
    let t = &policy.tenant;
    let tz = t.zone();
    let received = local_date_de(tz, request.received_at);
    let file_reference = t.file_reference(request.id);
    let what = asked_for(request.kind);
    let channel = request.channel.german();
    let intro = if request.kind == RequestKind::Objection {
        format!(
            "Sie haben am {received} {channel} Widerspruch gegen die Verarbeitung Ihrer \
             personenbezogenen Daten eingelegt (Art. 21 DSGVO). Wir bearbeiten ihn unter dem \
             Aktenzeichen {file_reference}."
        )
    } else {
        format!(
            "Sie haben am {received} {channel} Ihr Recht auf {what} geltend gemacht. Wir \
             bearbeiten Ihren Antrag unter dem Aktenzeichen {file_reference}."
        )
    };
    let mut paragraphs = vec![intro];
    let mut items = Vec::new();
    let mut reasons_heading = "Gründe";
    let mut remedies = true;
    let title = match kind {
        LetterKind::Extension => {
            remedies = false;
            reasons_heading = "Gründe für die Verlängerung";
            let extended = facts.extended_due_on.map(date_de).unwrap_or_default();
            let months = if facts.months == 1 {
                "einen Monat".to_owned()
            } else {
                format!("{} Monate", facts.months)
            };
            paragraphs.push(format!(
                "Nach Art. 12 Abs. 3 Satz 1 DSGVO beantworten wir Anträge innerhalb eines Monats \
                 nach Eingang; für Ihren Antrag endet diese Frist am {}. Die Frist kann um weitere \
                 zwei Monate verlängert werden, wenn dies unter Berücksichtigung der Komplexität und \
                 der Anzahl von Anträgen erforderlich ist (Art. 12 Abs. 3 Satz 2 DSGVO).",
                date_de(request.due_on)
            ));
            paragraphs.push(format!(
                "Wir teilen Ihnen hiermit innerhalb eines Monats nach Eingang Ihres Antrags mit \
                 (Art. 12 Abs. 3 Satz 3 DSGVO), dass wir die Frist um {months} verlängern. Sie \
                 erhalten unsere Antwort spätestens bis zum {extended}."
            ));
            "Verlängerung der Frist zur Beantwortung Ihres Antrags (Art. 12 Abs. 3 DSGVO)"
                .to_owned()
        }
        LetterKind::Refusal => {
            if request.kind == RequestKind::Objection {
                paragraphs.push(
                    "Wir haben Ihren Widerspruch geprüft und geben ihm nicht statt: Wir setzen die \
                     Verarbeitung fort, weil zwingende schutzwürdige Gründe für sie Ihre Interessen, \
                     Rechte und Freiheiten überwiegen oder sie der Geltendmachung, Ausübung oder \
                     Verteidigung von Rechtsansprüchen dient (Art. 21 Abs. 1 Satz 2 DSGVO). Die \
                     Gründe im Einzelnen:"
                        .to_owned(),
                );
                "Entscheidung über Ihren Widerspruch (Art. 21 DSGVO)".to_owned()
            } else {
                paragraphs.push(
                    "Wir haben Ihren Antrag geprüft und werden auf ihn hin nicht tätig. Die Gründe \
                     dafür teilen wir Ihnen hiermit mit (Art. 12 Abs. 4 DSGVO):"
                        .to_owned(),
                );
                format!("Ablehnung Ihres Antrags auf {what}")
            }
        }
        LetterKind::Unfounded | LetterKind::Excessive => {
            reasons_heading = "Begründung";
            let judged = if kind == LetterKind::Unfounded {
                "offenkundig unbegründet"
            } else {
                "exzessiv, insbesondere wegen häufiger Wiederholung,"
            };
            paragraphs.push(format!(
                "Wir halten Ihren Antrag für {judged} (Art. 12 Abs. 5 Satz 2 DSGVO) und weigern uns \
                 deshalb, aufgrund des Antrags tätig zu werden (Art. 12 Abs. 5 Satz 2 lit. b DSGVO). \
                 Den Nachweis dafür tragen wir als Verantwortlicher (Art. 12 Abs. 5 Satz 3 DSGVO)."
            ));
            "Entscheidung über Ihren Antrag nach Art. 12 Abs. 5 DSGVO".to_owned()
        }
        LetterKind::NoData => {
            paragraphs.push(format!(
                "Wir haben alle Datenbestände der Online-Terminvergabe – Terminbuchungen, \
                 Einwilligungen, Benachrichtigungen, Zugriffsprotokoll, Anträge und Nachrichten – \
                 nach Ihren Angaben durchsucht. Wir bestätigen Ihnen: {} verarbeitet keine \
                 personenbezogenen Daten über Sie (Art. 15 Abs. 1 DSGVO). Zu {} gibt es daher \
                 nichts weiter zu veranlassen.",
                t.name,
                if request.kind == RequestKind::Access {
                    "einer Auskunft über gespeicherte Daten"
                } else {
                    "Ihrem Antrag"
                }
            ));
            paragraphs.push(
                "Ihren Antrag haben wir im Verzeichnis der Anträge vermerkt, damit wir seine \
                 Bearbeitung nachweisen können (Art. 5 Abs. 2 DSGVO)."
                    .to_owned(),
            );
            "Antwort auf Ihren Antrag: keine Daten über Sie gespeichert".to_owned()
        }
        LetterKind::ObjectionGranted => {
            remedies = false;
            reasons_heading = "Anmerkungen";
            paragraphs.push(format!(
                "Wir geben Ihrem Widerspruch statt. Ab dem {} verarbeiten wir Ihre personenbezogenen \
                 Daten nicht mehr für die folgenden Zwecke, die auf Art. 6 Abs. 1 lit. e oder f \
                 DSGVO beruhen (siehe Aufzählung). Ihre Terminbuchungen selbst bleiben bestehen, \
                 soweit sie auf einer anderen Rechtsgrundlage beruhen.",
                local_date_de(tz, now)
            ));
            paragraphs.extend(facts.stopped.iter().cloned());
            items = facts.purposes.clone();
            if items.is_empty() {
                items.push("(keine Verarbeitung auf dieser Grundlage)".to_owned());
            }
            "Entscheidung über Ihren Widerspruch (Art. 21 DSGVO)".to_owned()
        }
        LetterKind::RestrictionLift => {
            remedies = false;
            reasons_heading = "Gründe für die Aufhebung";
            let effective = facts
                .effective_on
                .map(date_de)
                .unwrap_or_else(|| local_date_de(tz, now));
            paragraphs.push(format!(
                "Auf Ihr Verlangen haben wir die Verarbeitung Ihrer personenbezogenen Daten \
                 eingeschränkt (Art. 18 Abs. 1 DSGVO){}. Ihre Daten wurden seitdem nur gespeichert, \
                 nicht genutzt und nicht gelöscht.",
                facts
                    .restriction_reason
                    .as_deref()
                    .map(|r| format!(" – Grund: {r}"))
                    .unwrap_or_default()
            ));
            paragraphs.push(format!(
                "Wir unterrichten Sie hiermit, bevor die Einschränkung aufgehoben wird (Art. 18 \
                 Abs. 3 DSGVO): Die Einschränkung endet am {effective}. Danach verarbeiten wir Ihre \
                 Daten wieder wie vor der Einschränkung; Nachrichten zu Ihren Terminen, die wir \
                 zurückgehalten haben, werden dann versandt. Ihre Rechte auf Berichtigung, Löschung \
                 und Widerspruch bleiben unberührt; Sie können sich außerdem bei der \
                 Aufsichtsbehörde beschweren: {}.",
                t.supervisory_authority
            ));
            "Aufhebung der Einschränkung der Verarbeitung (Art. 18 Abs. 3 DSGVO)".to_owned()
        }
    };
    let mut recipient = Vec::new();
    let name: Vec<&str> = [to.first_name.as_deref(), to.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !name.is_empty() {
        let prefix = match to.salutation {
            Some(Salutation::Frau) => "Frau ",
            Some(Salutation::Herr) => "Herrn ",
            None => "",
        };
        recipient.push(format!("{prefix}{}", name.join(" ")));
    }
    recipient.extend(to.address.iter().cloned());
    let mut window = if to.window.is_empty() {
        recipient.clone()
    } else {
        to.window.clone()
    };
    if let Some(e) = &to.email {
        recipient.push(format!("E-Mail: {e}"));
        if to.window.is_empty() && to.address.is_empty() {
            window.push(format!("E-Mail: {e}"));
        }
    }
    window.truncate(crate::pdf::WINDOW_LINES);
    let closing = format!(
        "Bei Fragen wenden Sie sich bitte unter Angabe des Aktenzeichens {file_reference} an: {}.",
        t.dpo
    );
    let brief = Brief {
        title,
        controller: t.clone(),
        recipient,
        file_reference,
        received,
        date: local_date_de(tz, now),
        salutation: salutation(
            to.salutation,
            to.first_name.as_deref(),
            to.last_name.as_deref(),
        ),
        paragraphs,
        reasons_heading,
        reasons: facts.reasons.clone().filter(|r| !r.trim().is_empty()),
        items,
        remedies: remedies.then(|| self::remedies(&t.supervisory_authority)),
        window,
        closing,
    };
    let html = BriefHtml { l: &brief }
        .render()
        .context("cannot render the letter")?;
    let pdf = crate::pdf::render(&[brief.pdf()], now)?;
    Ok(Rendered {
        html,
        pdf,
        file_reference: brief.file_reference,
    })
}

/// The purposes a granted objection ends at this tenant: those based on Art. 6(1)(e) or (f),
/// but the booking itself — the appointment the person asked for; to end it, they cancel it
/// (or ask for erasure), which an objection does not do on its own.
pub fn objectionable_purposes(policy: &Policy) -> Vec<&crate::domain::policy::Purpose> {
    policy
        .purposes
        .iter()
        .filter(|p| p.id != crate::domain::policy::BOOKING_PURPOSE)
        .filter(|p| {
            matches!(
                p.legal_basis,
                LegalBasis::PublicTask | LegalBasis::LegitimateInterest
            )
        })
        .collect()
}

/// The person as the tenant's data know them: the name and address they last gave.
/// `--address` (checked here, before anything changes) goes to the window instead.
pub async fn addressee(
    ctx: &Context,
    request: &Request,
    letter: &super::requests::LetterOptions,
) -> Result<Addressee> {
    let mut to = Addressee {
        salutation: letter.salutation,
        window: crate::pdf::address_lines(&letter.address).map_err(Refusal::InvalidInput)?,
        ..Default::default()
    };
    let (Some(subject), Some(tenant)) = (&request.subject_ref, &request.tenant) else {
        return Ok(to);
    };
    let data = ctx.store.subject_data(subject, tenant).await?;
    if let Some(b) = data
        .bookings
        .iter()
        .rev()
        .find(|b| b.first_name.is_some() || b.last_name.is_some() || b.email.is_some())
    {
        to.first_name = b.first_name.clone();
        to.last_name = b.last_name.clone();
        to.email = b.email.clone();
        to.address = b
            .address
            .as_deref()
            .map(|a| {
                a.split(',')
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default();
    }
    Ok(to)
}

/// The window's lines from the data on file: the name and the postal address the person
/// last gave at the tenant; the e-mail address where no postal address is known.
pub async fn window_on_file(
    ctx: &Context,
    subject: &crate::domain::subject::SubjectRef,
    tenant: &str,
) -> Result<Vec<String>> {
    let data = ctx.store.subject_data(subject, tenant).await?;
    let Some(b) = data
        .bookings
        .iter()
        .rev()
        .find(|b| b.first_name.is_some() || b.last_name.is_some() || b.email.is_some())
    else {
        return Ok(Vec::new());
    };
    let mut lines = Vec::new();
    let name: Vec<&str> = [b.first_name.as_deref(), b.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !name.is_empty() {
        lines.push(name.join(" "));
    }
    match b.address.as_deref() {
        Some(a) => lines.extend(
            a.split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty()),
        ),
        None => lines.extend(b.email.iter().map(|e| format!("E-Mail: {e}"))),
    }
    lines.truncate(crate::pdf::WINDOW_LINES);
    Ok(lines)
}

/// Writes the reply to a withdrawal by letter as a PDF letter into `folder` (0600):
/// `<date>-widerruf-<Aktenzeichen>.pdf`, the reply's text as its body; returns its path.
pub fn write_reply(
    folder: &Path,
    policy: &Policy,
    request_id: Option<i64>,
    subject: &str,
    text: &str,
    window: Vec<String>,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    use crate::pdf::{Block, Letter, Window, sender_lines};
    let t = &policy.tenant;
    let reference = request_id.map_or_else(|| "ohne".to_owned(), |id| t.file_reference(id));
    let date = local_date_de(t.zone(), now);
    let mut blocks = vec![Block::Subject(subject.to_owned())];
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        blocks.push(Block::Paragraph(paragraph.to_owned()));
    }
    blocks.push(Block::Small(MACHINE_MADE.to_owned()));
    let letter = Letter {
        title: subject.to_owned(),
        window: Some(Window {
            return_address: format!("{} · {}", t.name, t.address),
            lines: window,
        }),
        sender: sender_lines(
            &t.name,
            &t.address,
            t.phone.as_deref(),
            &t.email,
            t.website.as_deref(),
        ),
        fields: vec![
            ("Aktenzeichen".to_owned(), reference.clone()),
            ("Datum".to_owned(), date),
        ],
        reference: reference.clone(),
        footer: t.name.clone(),
        blocks,
    };
    let pdf = crate::pdf::render(&[letter], now)?;
    let day = now.with_timezone(&t.zone()).format("%Y%m%d");
    let path = folder.join(format!("{day}-widerruf-{reference}.pdf"));
    super::private_files::write_replacing(&path, &pdf)
        .with_context(|| format!("cannot write the letter {}", path.display()))?;
    Ok(path)
}

/// The request's folder: `--out`, or `vorgang-<Aktenzeichen>` in the working directory.
/// Made (mode 0700) before anything changes, so a folder that cannot be made changes
/// nothing; a symbolic link is refused (the letters would land wherever it points).
pub fn request_folder(out: Option<&Path>, policy: &Policy, request_id: i64) -> Result<PathBuf> {
    let folder = match out {
        Some(o) => o.to_path_buf(),
        None => PathBuf::from(format!(
            "vorgang-{}",
            policy.tenant.file_reference(request_id)
        )),
    };
    if std::fs::symlink_metadata(&folder).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Refusal::InvalidInput(format!(
            "--out {}: a symbolic link; name a real folder",
            folder.display()
        ))
        .into());
    }
    if folder.exists() && !folder.is_dir() {
        return Err(Refusal::InvalidInput(format!(
            "--out {}: exists and is not a folder",
            folder.display()
        ))
        .into());
    }
    super::private_files::create_folder(&folder).map_err(|e| {
        Refusal::InvalidInput(format!(
            "--out {}: cannot create it: {e:#}",
            folder.display()
        ))
    })?;
    Ok(folder)
}

/// Writes a letter into the folder as `.html` and the same letter as `.pdf` beside it
/// (0600; each staged beside it and renamed, so a reader never sees half of it); returns
/// the HTML's path. The name carries the date, the kind and the Aktenzeichen (so two
/// letters of one kind on one day for two requests in one folder do not replace each
/// other), no personal data.
pub fn write(
    folder: &Path,
    kind: LetterKind,
    policy: &Policy,
    now: DateTime<Utc>,
    letter: &Rendered,
) -> Result<PathBuf> {
    let day = now.with_timezone(&policy.tenant.zone()).format("%Y%m%d");
    let reference = Some(letter.file_reference.as_str())
        .filter(|r| {
            r.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or("brief");
    let path = folder.join(format!("{day}-{}-{reference}.html", kind.file_stem()));
    let pdf = path.with_extension("pdf");
    super::private_files::write_replacing(&pdf, &letter.pdf)
        .with_context(|| format!("cannot write the letter {}", pdf.display()))?;
    super::private_files::write_replacing(&path, letter.html.as_bytes())
        .with_context(|| format!("cannot write the letter {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salutation_follows_what_is_known() {
        assert_eq!(
            salutation(Some(Salutation::Frau), Some("Martina"), Some("Lutz")),
            "Sehr geehrte Frau Lutz,"
        );
        assert_eq!(
            salutation(Some(Salutation::Herr), None, Some("Ziegler")),
            "Sehr geehrter Herr Ziegler,"
        );
        assert_eq!(
            salutation(None, Some("Martina"), Some("Lutz")),
            "Guten Tag Martina Lutz,"
        );
        assert_eq!(
            salutation(Some(Salutation::Frau), None, None),
            "Sehr geehrte Damen und Herren,"
        );
        assert_eq!(
            salutation(None, None, Some(" ")),
            "Sehr geehrte Damen und Herren,"
        );
    }
}
