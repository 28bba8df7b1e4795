//! Auskunft (Art. 15, 20 DSGVO): one folder per request with a printable German letter per
//! controller, the data as JSON and one CSV per category. Registers and closes the request
//! and audits each tenant's answer.

use super::private_files;
use super::requests;
use super::{Context, Refusal};
use crate::domain::audit::AuditEvent;
use crate::domain::notice::Notice;
use crate::domain::policy::Policy;
use crate::domain::requests::{Channel, Outcome, RequestKind};
use crate::domain::subject::{self, SubjectRef};
use crate::domain::time::{date_de, local_date_de, local_instant_de};
use crate::store::{
    AccessRecord, BookingRecord, ConsentRecord, InboxRecord, NotificationRecord, ReplyRecord,
    Request, SubjectQuery, TenantData,
};
use anyhow::{Context as _, Result};
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

pub const LETTER_FILE: &str = "auskunft.html";
pub const DATA_FILE: &str = "daten.json";

/// What the DPO asks for.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub email: String,
    /// Only this tenant; otherwise every tenant where the person appears.
    pub tenant: Option<String>,
    /// The folder to write; `auskunft-<YYYYMMDD>-<ref>` in the working directory by default.
    pub out: Option<PathBuf>,
    /// The register entry this answers; otherwise the person's open access request at each
    /// tenant, or a new one.
    pub request_id: Option<i64>,
    /// How the request arrived, for a request registered now.
    pub channel: Channel,
}

/// What was written, per tenant: rows per category and the request answered.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub folder: PathBuf,
    pub files: Vec<String>,
    pub tenants: Vec<TenantExport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantExport {
    pub tenant: String,
    pub request_id: i64,
    pub outcome: Outcome,
    pub bookings: usize,
    pub consents: usize,
    pub notifications: usize,
    pub access_log: usize,
    pub requests: usize,
    pub inbox: usize,
    /// Replies to the person's e-mails not yet written to the outbox (a run stopped after
    /// committing them; the next `withdrawals import` writes them). Usually none.
    pub replies: usize,
}

/// One tenant's part of the answer.
struct Part<'a> {
    policy: &'a Policy,
    request: Request,
    /// The person's rows, without the register entry of the request being answered (the
    /// letter cites it; it is not yet closed while the rows are read).
    data: TenantData,
}

impl Part<'_> {
    fn has_data(&self) -> bool {
        !self.data.is_empty()
    }
}

pub async fn export(ctx: &Context, req: &ExportRequest) -> Result<ExportReport> {
    let now = crate::domain::time::now();
    let email = req.email.trim();
    if !subject::is_email_address(email) {
        return Err(Refusal::InvalidInput(format!(
            "--email: \"{email}\" is not an e-mail address"
        ))
        .into());
    }
    let key = ctx.store.pseudonym_key().await?;
    let subject_ref = SubjectRef::for_email(&key, email);
    let explicit = match req.request_id {
        Some(id) => Some(explicit_request(ctx, id, subject_ref.as_str()).await?),
        None => None,
    };
    let tenants = scope(ctx, req.tenant.as_deref(), explicit.as_ref(), &subject_ref).await?;

    let zone = ctx.policies.require(&tenants[0])?.tenant.zone();
    let folder = match &req.out {
        Some(dir) => {
            let shown = dir.to_string_lossy().to_lowercase();
            if shown.contains(&subject::normalize_email(email)) {
                return Err(Refusal::InvalidInput(
                    "--out: the folder name must not contain the e-mail address (a file name is no place for personal data)"
                        .into(),
                )
                .into());
            }
            dir.clone()
        }
        None => PathBuf::from(format!(
            "auskunft-{}-{}",
            now.with_timezone(&zone).format("%Y%m%d"),
            &subject_ref.as_str()[..8]
        )),
    };
    check_folder(&folder)?;

    // Register first, so the letter can cite the request; then read the rows.
    let mut parts = Vec::with_capacity(tenants.len());
    // Requests registered without a tenant belong to every tenant's view of the person;
    // a letter from several tenants lists each of them once, with the first.
    let mut shared_listed = std::collections::HashSet::new();
    for tenant in &tenants {
        let policy = ctx.policies.require(tenant)?;
        let request = requests::ensure(
            ctx,
            Some(tenant),
            RequestKind::Access,
            subject_ref.as_str(),
            req.channel,
            req.request_id,
        )
        .await?;
        let mut data = ctx.store.subject_data(subject_ref.as_str(), tenant).await?;
        data.requests
            .retain(|r| r.id != request.id && (r.tenant.is_some() || shared_listed.insert(r.id)));
        parts.push(Part {
            policy,
            request,
            data,
        });
    }

    let files = write_folder(&folder, email, &parts, now)?;

    // Close each request once: a request shared by several tenants is answered when any of
    // them had data.
    let mut closed: Vec<(i64, Outcome)> = Vec::new();
    for part in &parts {
        let outcome = if parts
            .iter()
            .any(|p| p.request.id == part.request.id && p.has_data())
        {
            Outcome::Answered
        } else {
            Outcome::NoData
        };
        if !closed.iter().any(|(id, _)| *id == part.request.id) {
            requests::close(ctx, part.request.id, outcome).await?;
            closed.push((part.request.id, outcome));
        }
    }

    let mut report = ExportReport {
        folder,
        files: files.clone(),
        tenants: Vec::new(),
    };
    for part in &parts {
        let tenant = part.policy.tenant.slug.as_str();
        let outcome = if part.has_data() {
            Outcome::Answered
        } else {
            Outcome::NoData
        };
        let mut details = serde_json::Map::new();
        for (category, n) in part.data.counts() {
            details.insert(category.into(), json!(n));
        }
        details.insert("files".into(), json!(files.len()));
        details.insert("request".into(), json!(part.request.id));
        details.insert("outcome".into(), json!(outcome.as_str()));
        // Never the e-mail or the folder: a folder named by the user may hold personal data.
        ctx.store
            .record_audit(
                AuditEvent::new("subject.export", serde_json::Value::Object(details))
                    .tenant(tenant)
                    .subject(subject_ref.as_str()),
                &ctx.audit(),
            )
            .await?;
        let d = &part.data;
        report.tenants.push(TenantExport {
            tenant: tenant.to_owned(),
            request_id: part.request.id,
            outcome,
            bookings: d.bookings.len(),
            consents: d.consents.len(),
            notifications: d.notifications.len(),
            access_log: d.access_log.len(),
            requests: d.requests.len(),
            inbox: d.inbox.len(),
            replies: d.replies.len(),
        });
    }
    Ok(report)
}

/// A request named with `--request`: open, an access (or portability) request, and not
/// another person's.
async fn explicit_request(ctx: &Context, id: i64, subject_ref: &str) -> Result<Request> {
    let r = ctx.store.request(id).await?.ok_or_else(|| {
        Refusal::InvalidInput(format!("--request {id}: no such request in the register"))
    })?;
    if r.status != "open" {
        return Err(Refusal::InvalidInput(format!("--request {id}: the request is closed")).into());
    }
    if r.kind != RequestKind::Access.as_str() && r.kind != RequestKind::Portability.as_str() {
        return Err(Refusal::InvalidInput(format!(
            "--request {id}: it is a request of kind {}, not access",
            r.kind
        ))
        .into());
    }
    if r.subject_ref.as_deref().is_some_and(|s| s != subject_ref) {
        return Err(Refusal::InvalidInput(format!(
            "--request {id}: the request was made by another person than --email"
        ))
        .into());
    }
    Ok(r)
}

/// The tenants to answer for: the one asked for, the request's, every tenant where the
/// person appears, or — when they appear nowhere — every tenant of the policy folder.
async fn scope(
    ctx: &Context,
    tenant: Option<&str>,
    explicit: Option<&Request>,
    subject_ref: &SubjectRef,
) -> Result<Vec<String>> {
    let of_request = explicit.and_then(|r| r.tenant.as_deref());
    if let (Some(t), Some(r)) = (tenant, of_request)
        && t != r
    {
        return Err(Refusal::InvalidInput(format!(
            "--tenant {t}: the request {} was made at {r}",
            explicit.map_or(0, |e| e.id)
        ))
        .into());
    }
    if let Some(t) = tenant.or(of_request) {
        ctx.policies.require(t)?;
        return Ok(vec![t.to_owned()]);
    }
    let mut found: Vec<String> = ctx
        .store
        .find_subjects(&SubjectQuery::Ref(subject_ref.as_str().to_owned()), None)
        .await?
        .into_iter()
        .map(|m| m.tenant)
        .collect();
    found.sort();
    found.dedup();
    if let Some(t) = found.iter().find(|t| ctx.policies.get(t).is_none()) {
        // An Auskunft that silently leaves out a controller would be wrong.
        return Err(Refusal::InvalidInput(format!(
            "the person has data at tenant {t}, which has no policy in {}; add its policy or use --tenant",
            ctx.policies.dir.display()
        ))
        .into());
    }
    if found.is_empty() {
        found = ctx
            .policies
            .slugs()
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    Ok(found)
}

/// Refuses a folder that exists and is not empty (an earlier Auskunft, someone's files).
fn check_folder(folder: &Path) -> Result<()> {
    match std::fs::read_dir(folder) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Refusal::InvalidInput(format!(
                    "{}: the folder exists and is not empty; name a new one with --out DIR",
                    folder.display()
                ))
                .into());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if folder.exists() && !folder.is_dir() => Err(Refusal::InvalidInput(format!(
            "--out {}: exists and is not a folder ({e})",
            folder.display()
        ))
        .into()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", folder.display()))),
    }
}

/// Creates the folder (0700) and writes every file (0600); returns the file names.
fn write_folder(
    folder: &Path,
    email: &str,
    parts: &[Part<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let csvs = csv_files(parts)?;
    let letters: Vec<Letter> = parts.iter().map(|p| Letter::new(p, email, now)).collect();
    let html = AuskunftHtml { letters: &letters }
        .render()
        .context("cannot render the Auskunft letter")?;
    let json = serde_json::to_vec_pretty(&DatenJson {
        generated_at: now,
        email,
        tenants: parts
            .iter()
            .map(|p| TenantJson {
                tenant_name: &p.policy.tenant.name,
                request_id: p.request.id,
                data: &p.data,
            })
            .collect(),
    })?;

    private_files::create_folder(folder)?;
    let mut files = vec![(LETTER_FILE, html.into_bytes()), (DATA_FILE, json)];
    files.extend(csvs);
    for (name, bytes) in &files {
        private_files::write_new(&folder.join(name), bytes)?;
    }
    Ok(files.into_iter().map(|(name, _)| name.to_owned()).collect())
}

// ---------------------------------------------------------------------------------------
// daten.json and the CSV files

#[derive(Serialize)]
struct DatenJson<'a> {
    generated_at: DateTime<Utc>,
    /// The address searched for: the person's own.
    email: &'a str,
    tenants: Vec<TenantJson<'a>>,
}

#[derive(Serialize)]
struct TenantJson<'a> {
    tenant_name: &'a str,
    request_id: i64,
    #[serde(flatten)]
    data: &'a TenantData,
}

/// The CSV file of each category, in the order of `TenantData::counts`.
const CSV_FILES: [(&str, &str); 7] = [
    ("bookings", "buchungen.csv"),
    ("consents", "einwilligungen.csv"),
    ("notifications", "benachrichtigungen.csv"),
    ("access_log", "zugriffsprotokoll.csv"),
    ("requests", "antraege.csv"),
    ("inbox", "nachrichten.csv"),
    ("replies", "antworten.csv"),
];

fn csv_file(category: &str) -> &'static str {
    CSV_FILES
        .iter()
        .find(|(c, _)| *c == category)
        .map_or("", |(_, file)| file)
}

/// (file, bytes) for every category with rows at any tenant.
fn csv_files(parts: &[Part<'_>]) -> Result<Vec<(&'static str, Vec<u8>)>> {
    fn rows<'a, T>(
        parts: &'a [Part<'_>],
        pick: fn(&TenantData) -> &Vec<T>,
    ) -> Vec<(&'a str, &'a T)> {
        parts
            .iter()
            .flat_map(|p| {
                pick(&p.data)
                    .iter()
                    .map(move |r| (p.data.tenant.as_str(), r))
            })
            .collect()
    }
    let all = [
        tenant_csv(&rows(parts, |d| &d.bookings))?,
        tenant_csv(&rows(parts, |d| &d.consents))?,
        tenant_csv(&rows(parts, |d| &d.notifications))?,
        tenant_csv(&rows(parts, |d| &d.access_log))?,
        tenant_csv(&rows(parts, |d| &d.requests))?,
        tenant_csv(&rows(parts, |d| &d.inbox))?,
        tenant_csv(&rows(parts, |d| &d.replies))?,
    ];
    Ok(CSV_FILES
        .iter()
        .zip(all)
        .filter_map(|((_, file), bytes)| bytes.map(|b| (*file, b)))
        .collect())
}

/// A CSV with a `tenant` column first and then the record's fields in their declared order;
/// None when there are no rows. Each record is written on its own by `csv`'s serializer
/// (header and row), read back and prefixed with its tenant.
fn tenant_csv<T: Serialize>(rows: &[(&str, &T)]) -> Result<Option<Vec<u8>>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    for (i, (tenant, record)) in rows.iter().enumerate() {
        let mut one = csv::Writer::from_writer(Vec::new());
        one.serialize(record)?;
        let bytes = one.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        if i == 0 {
            out.write_record(std::iter::once("tenant").chain(reader.headers()?.iter()))?;
        }
        for row in reader.records() {
            out.write_record(std::iter::once(*tenant).chain(row?.iter()))?;
        }
    }
    Ok(Some(
        out.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?,
    ))
}

// ---------------------------------------------------------------------------------------
// The letter

#[derive(Template)]
#[template(path = "auskunft.html")]
struct AuskunftHtml<'a> {
    letters: &'a [Letter],
}

/// One controller's letter, every value ready to print.
struct Letter {
    notice: Notice,
    date: String,
    as_of: String,
    request_id: i64,
    request_received: String,
    request_channel: String,
    email: String,
    recipient: Vec<String>,
    salutation: String,
    has_data: bool,
    sections: Vec<Section>,
    /// Art. 15(1)(b): every category the policy names, once.
    categories: Vec<String>,
    /// The CSV files holding this tenant's rows.
    csv_files: Vec<&'static str>,
}

/// One category of the copy: a table with a row per record, or (`compact == false`, for
/// records with many fields) a small two-column table per record.
struct Section {
    heading: &'static str,
    explanation: &'static str,
    compact: bool,
    columns: Vec<&'static str>,
    rows: Vec<Vec<(&'static str, String)>>,
}

impl Section {
    fn new(
        heading: &'static str,
        explanation: &'static str,
        compact: bool,
        rows: Vec<Vec<(&'static str, String)>>,
    ) -> Self {
        let columns = rows
            .first()
            .map(|r| r.iter().map(|(label, _)| *label).collect())
            .unwrap_or_default();
        Self {
            heading,
            explanation,
            compact,
            columns,
            rows,
        }
    }
}

impl Letter {
    fn new(part: &Part<'_>, email: &str, now: DateTime<Utc>) -> Self {
        let notice = Notice::of(part.policy);
        let tz = part.policy.tenant.zone();
        let d = &part.data;
        // Addressed by the name the person last gave, where they gave one.
        let named = d
            .bookings
            .iter()
            .rev()
            .find(|b| b.first_name.is_some() || b.last_name.is_some());
        let name = named.map(|b| {
            [b.first_name.as_deref(), b.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        });
        let mut recipient = Vec::new();
        if let Some(n) = &name {
            recipient.push(n.clone());
        }
        if let Some(a) = named.and_then(|b| b.address.as_deref()) {
            recipient.extend(
                a.split(',')
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty()),
            );
        }
        recipient.push(format!("E-Mail: {email}"));
        let salutation = match &name {
            Some(n) => format!("Guten Tag {n},"),
            None => "Sehr geehrte Damen und Herren,".to_owned(),
        };
        let mut sections = Vec::new();
        if !d.bookings.is_empty() {
            sections.push(Section::new(
                "Terminbuchungen",
                "Die Angaben, die Sie bei der Online-Terminbuchung gemacht haben, je Termin. Ein Strich (–) steht für eine leere oder bereits gelöschte Angabe.",
                false,
                d.bookings.iter().map(|b| booking_row(tz, b)).collect(),
            ));
        }
        if !d.consents.is_empty() {
            sections.push(Section::new(
                "Einwilligungen",
                "Die Einwilligungen, die Sie erteilt oder widerrufen haben.",
                true,
                d.consents
                    .iter()
                    .map(|c| consent_row(tz, part.policy, c))
                    .collect(),
            ));
        }
        if !d.notifications.is_empty() {
            sections.push(Section::new(
                "Benachrichtigungen",
                "Nachrichten zu Ihren Buchungen: Bestätigungen an Sie, Kopien an die Verwaltung und SMS-Erinnerungen.",
                false,
                d.notifications.iter().map(|n| notification_row(tz, n)).collect(),
            ));
        }
        if !d.access_log.is_empty() {
            sections.push(Section::new(
                "Zugriffsprotokoll",
                "Die Verbindungsdaten der Aufrufe, mit denen Sie gebucht haben, wie sie der Webserver protokolliert.",
                false,
                d.access_log.iter().map(|a| access_row(tz, a)).collect(),
            ));
        }
        if !d.requests.is_empty() {
            sections.push(Section::new(
                "Anträge",
                "Ihre früheren oder noch offenen Anträge nach der DSGVO im Verzeichnis der Anträge (ohne diesen Antrag).",
                true,
                d.requests.iter().map(|r| request_row(tz, r)).collect(),
            ));
        }
        if !d.inbox.is_empty() {
            sections.push(Section::new(
                "Nachrichten",
                "E-Mails von Ihnen an unser Postfach für Widerrufe und Anträge (der Inhalt wird nicht gespeichert).",
                true,
                d.inbox.iter().map(|m| inbox_row(tz, m)).collect(),
            ));
        }
        if !d.replies.is_empty() {
            sections.push(Section::new(
                "Antworten",
                "Unsere Antworten auf Ihre E-Mails, die erstellt, aber noch nicht versandt sind.",
                false,
                d.replies.iter().map(|r| reply_row(tz, r)).collect(),
            ));
        }
        let mut categories: Vec<String> = Vec::new();
        for c in notice.purposes.iter().flat_map(|p| &p.categories) {
            if !categories.contains(c) {
                categories.push(c.clone());
            }
        }
        let csv_files = d
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(category, _)| csv_file(category))
            .collect();
        Self {
            notice,
            date: local_date_de(tz, now),
            as_of: local_instant_de(tz, now),
            request_id: part.request.id,
            request_received: local_date_de(tz, part.request.received_at),
            request_channel: channel_de(&part.request.channel).to_owned(),
            email: email.to_owned(),
            recipient,
            salutation,
            has_data: part.has_data(),
            sections,
            categories,
            csv_files,
        }
    }
}

const DASH: &str = "–";

fn opt_instant(tz: Tz, at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| DASH.to_owned(), |t| local_instant_de(tz, t))
}

fn text(value: &Option<String>) -> String {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => DASH.to_owned(),
    }
}

fn booking_row(tz: Tz, b: &BookingRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Buchungsnummer", b.reference.clone()),
        (
            "Dienstleistung",
            format!("{} ({})", b.service_name, b.service_code),
        ),
        (
            "Termin",
            format!(
                "{} bis {}",
                local_instant_de(tz, b.appointment_start),
                b.appointment_end.with_timezone(&tz).format("%H:%M Uhr")
            ),
        ),
        (
            "Status",
            match b.status.as_str() {
                "booked" => "gebucht".to_owned(),
                "cancelled" => "abgesagt".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Gebucht am", local_instant_de(tz, b.booked_at)),
        ("Abgesagt am", opt_instant(tz, b.cancelled_at)),
        ("Vorname", text(&b.first_name)),
        ("Nachname", text(&b.last_name)),
        ("E-Mail-Adresse", text(&b.email)),
        ("Telefon", text(&b.phone)),
        ("Anschrift", text(&b.address)),
        (
            "Geburtsdatum",
            b.birth_date.map_or_else(|| DASH.to_owned(), date_de),
        ),
    ]
}

fn consent_row(tz: Tz, policy: &Policy, c: &ConsentRecord) -> Vec<(&'static str, String)> {
    let purpose = policy
        .purpose(&c.purpose)
        .map_or_else(|| c.purpose.clone(), |p| p.description.clone());
    let withdrawn = match (c.withdrawn_at, c.withdrawal_source.as_deref()) {
        (Some(at), Some(source)) => {
            format!("{} ({})", local_instant_de(tz, at), channel_de(source))
        }
        (Some(at), None) => local_instant_de(tz, at),
        (None, _) => DASH.to_owned(),
    };
    vec![
        ("Zweck", purpose),
        ("Fassung des Textes", c.text_version.clone()),
        ("Erteilt am", local_instant_de(tz, c.given_at)),
        ("Widerrufen am", withdrawn),
        ("Buchungsnummer", text(&c.booking_reference)),
    ]
}

fn notification_row(tz: Tz, n: &NotificationRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Buchungsnummer", text(&n.booking_reference)),
        (
            "Art",
            match n.kind.as_str() {
                "confirmation" => "Terminbestätigung an Sie".to_owned(),
                "office_copy" => "Kopie der Buchung an die Verwaltung".to_owned(),
                "sms_reminder" => "SMS-Erinnerung an Sie".to_owned(),
                other => other.to_owned(),
            },
        ),
        (
            "Kanal",
            match n.channel.as_str() {
                "email" => "E-Mail".to_owned(),
                "sms" => "SMS".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Empfänger", text(&n.recipient)),
        ("Betreff", text(&n.subject)),
        ("Text", text(&n.body)),
        (
            "Status",
            match n.status.as_str() {
                "queued" => "noch nicht versandt".to_owned(),
                "sent" => "versandt".to_owned(),
                "failed" => "Versand fehlgeschlagen".to_owned(),
                "cancelled" => "nicht versandt (entfallen)".to_owned(),
                other => other.to_owned(),
            },
        ),
        ("Erstellt am", local_instant_de(tz, n.created_at)),
        ("Versand ab", opt_instant(tz, n.send_after)),
        ("Versandt am", opt_instant(tz, n.sent_at)),
    ]
}

fn access_row(tz: Tz, a: &AccessRecord) -> Vec<(&'static str, String)> {
    let offset = a.utc_offset_minutes;
    vec![
        ("Buchungsnummer", text(&a.booking_reference)),
        ("Datum und Uhrzeit", local_instant_de(tz, a.logged_at)),
        (
            "Zeitzonendifferenz zu GMT",
            format!(
                "{}{:02}:{:02}",
                if offset < 0 { '-' } else { '+' },
                offset.abs() / 60,
                offset.abs() % 60
            ),
        ),
        ("IP-Adresse", a.ip.clone()),
        ("Anforderung", format!("{} {}", a.method, a.path)),
        ("HTTP-Status", a.status.to_string()),
        ("Übertragene Datenmenge", format!("{} Byte", a.bytes)),
        ("Referrer", text(&a.referrer)),
        ("Browser", text(&a.browser)),
        ("Browserversion", text(&a.browser_version)),
        ("Betriebssystem", text(&a.operating_system)),
        ("Sprache", text(&a.language)),
    ]
}

fn request_row(tz: Tz, r: &Request) -> Vec<(&'static str, String)> {
    let due = match (&r.extended_due_on, &r.extension_reason) {
        (Some(x), Some(reason)) => format!("{} (verlängert: {reason})", date_de(*x)),
        (Some(x), None) => format!("{} (verlängert)", date_de(*x)),
        _ => date_de(r.due_on),
    };
    vec![
        ("Nr.", r.id.to_string()),
        ("Art", kind_de(&r.kind).to_owned()),
        ("Eingegangen", local_date_de(tz, r.received_at)),
        ("Eingangsweg", channel_de(&r.channel).to_owned()),
        ("Frist", due),
        (
            "Stand",
            match (r.status.as_str(), r.outcome.as_deref()) {
                ("open", _) => "in Bearbeitung".to_owned(),
                (_, Some(o)) => outcome_de(o).to_owned(),
                (s, None) => s.to_owned(),
            },
        ),
        ("Erledigt am", opt_instant(tz, r.closed_at)),
    ]
}

fn inbox_row(tz: Tz, m: &InboxRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Absender", text(&m.sender)),
        ("Betreff", text(&m.subject)),
        ("Eingegangen", opt_instant(tz, m.received_at)),
        ("Bearbeitet", local_instant_de(tz, m.processed_at)),
        ("Ergebnis", inbox_outcome_de(&m.outcome).to_owned()),
        ("Kennung", m.message_key.clone()),
    ]
}

fn reply_row(tz: Tz, r: &ReplyRecord) -> Vec<(&'static str, String)> {
    vec![
        ("Erstellt", local_instant_de(tz, r.created_at)),
        ("Datei", r.file_name.clone()),
        ("Text", r.eml.clone()),
    ]
}

fn channel_de(channel: &str) -> &str {
    match channel {
        "email" => "per E-Mail",
        "letter" => "per Brief",
        "phone" => "telefonisch",
        "in_person" => "persönlich",
        "web" => "über das Internet",
        "erasure" => "mit der Löschung Ihrer Daten",
        other => other,
    }
}

fn kind_de(kind: &str) -> &str {
    match kind {
        "access" => "Auskunft (Art. 15 DSGVO)",
        "erasure" => "Löschung (Art. 17 DSGVO)",
        "rectification" => "Berichtigung (Art. 16 DSGVO)",
        "restriction" => "Einschränkung der Verarbeitung (Art. 18 DSGVO)",
        "objection" => "Widerspruch (Art. 21 DSGVO)",
        "portability" => "Datenübertragung (Art. 20 DSGVO)",
        "withdrawal" => "Widerruf einer Einwilligung (Art. 7 Abs. 3 DSGVO)",
        other => other,
    }
}

fn outcome_de(outcome: &str) -> &str {
    match outcome {
        "answered" => "beantwortet",
        "no_data" => "beantwortet: keine Daten vorhanden",
        "erased" => "Daten gelöscht",
        "erased_partly" => "Daten teilweise gelöscht",
        "rectified" => "Daten berichtigt",
        "restricted" => "Verarbeitung eingeschränkt",
        "rejected" => "abgelehnt",
        "withdrawn_by_subject" => "von Ihnen zurückgenommen",
        other => other,
    }
}

fn inbox_outcome_de(outcome: &str) -> &str {
    match outcome {
        "withdrawn" => "Widerruf der Einwilligung ausgeführt",
        "sms_withdrawn" => "Widerruf der SMS-Erinnerung ausgeführt",
        "access_request" => "als Auskunftsantrag erfasst",
        "erasure_request" => "als Löschantrag erfasst",
        "unmatched" => "keiner Buchung zuzuordnen",
        "review" => "zur Prüfung durch die Verwaltung",
        "not_addressed" => "nicht an eine Widerrufsadresse gerichtet",
        "not_a_request" => "kein Antrag nach der DSGVO (allgemeine Bearbeitung)",
        "duplicate" => "doppelt eingegangen",
        "unreadable" => "nicht lesbar",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        b: String,
        a: Option<i64>,
        text: String,
    }

    #[test]
    fn csv_rows_get_the_tenant_first_and_keep_the_field_order() {
        let one = Row {
            b: "x".into(),
            a: None,
            text: "zwei\nZeilen, \"zitiert\"".into(),
        };
        let two = Row {
            b: "y".into(),
            a: Some(3),
            text: String::new(),
        };
        let bytes = tenant_csv(&[("recklinghausen", &one), ("westendorf", &two)])
            .unwrap()
            .unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(r.headers().unwrap(), vec!["tenant", "b", "a", "text"]);
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(
            rows[0],
            vec!["recklinghausen", "x", "", "zwei\nZeilen, \"zitiert\""]
        );
        assert_eq!(rows[1], vec!["westendorf", "y", "3", ""]);
        assert!(tenant_csv::<Row>(&[]).unwrap().is_none());
    }
}
