//! Auskunft (Art. 15, 20 DSGVO): one folder per request with a printable German letter per
//! controller, the data as JSON and one CSV per category. Registers and closes the request
//! and audits each tenant's answer.

mod files;
mod letter;

use files::{DatenJson, TenantJson, csv_files};
use letter::{AuskunftHtml, Letter};

use super::private_files;
use super::requests;
use super::rights::Controllers;
use super::{Context, Refusal};
use crate::domain::audit::AuditEvent;
use crate::domain::notice::Notice;
use crate::domain::policy::Policy;
use crate::domain::redact::{self, Redactor};
use crate::domain::requests::{Channel, IdentityCheck, Outcome, RequestKind, RequestStatus};
use crate::domain::subject::{self, SubjectRef};
use crate::domain::time::{date_de, local_date_de, local_instant_de};
use crate::store::{
    AccessRecord, BookingRecord, ConsentRecord, DisclosureRecord, HoldRecord, InboxRecord,
    NotificationRecord, ReplyRecord, Request, RestrictionRecord, SubjectQuery, TenantData,
};
use anyhow::{Context as _, Result};
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

pub const LETTER_FILE: &str = "auskunft.html";
/// The same letter(s) as PDF (DIN 5008), one letter per controller, each numbered on its own.
pub const LETTER_PDF: &str = "auskunft.pdf";
pub const DATA_FILE: &str = "daten.json";

/// What the DPO asks for.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub email: String,
    /// The one controller that answers, or every tenant where the person appears.
    pub controllers: Controllers,
    /// The folder to write; `auskunft-<YYYYMMDD>-<ref>` in the working directory by default.
    pub out: Option<PathBuf>,
    /// The register entry this answers; otherwise the person's open access request at each
    /// tenant, or a new one.
    pub request_id: Option<i64>,
    /// How the request arrived, for a request registered now.
    pub channel: Channel,
    /// `--address`: the PDF's window lines (name included) for a letter sent by post;
    /// otherwise the name and address on file.
    pub address: Vec<String>,
    /// How the operator established the person's identity (`--identity-checked-by`),
    /// recorded on each request answered, in the transaction that closes them.
    pub identity: Option<IdentityCheck>,
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
    pub holds: usize,
    pub restrictions: usize,
    /// Disclosures of the person's data to recipients (Art. 15(1)(c)).
    pub recipients: usize,
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
    let address = crate::pdf::address_lines(&req.address).map_err(Refusal::InvalidInput)?;
    let key = ctx.store.pseudonym_key().await?;
    let subject_ref = SubjectRef::for_email(&key, email);
    let explicit = match req.request_id {
        Some(id) => Some(requests::named(ctx, id, RequestKind::Access, &subject_ref).await?),
        None => None,
    };
    let tenants = scope(ctx, &req.controllers, explicit.as_ref(), &subject_ref).await?;

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
    // The files are written into a folder beside the target and renamed at the end, so a
    // failure leaves no half-written Auskunft; made now, before anything is registered, so
    // that a folder that cannot be written registers nothing.
    let staging = Staging::create(&folder)?;

    // Register first, so the letter can cite the request; then read the rows. Each
    // tenant's letter goes to the PDF's thread as soon as its rows are read, and is made
    // there while the next tenant's are read.
    let mut parts = Vec::with_capacity(tenants.len());
    let mut letters = Vec::with_capacity(tenants.len());
    let pdf = crate::pdf::Pipeline::start(now);
    let mut opened = Vec::new();
    // Requests registered without a tenant belong to every tenant's view of the person;
    // a letter from several tenants lists each of them once, with the first.
    let mut shared_listed = std::collections::HashSet::new();
    let gathered: Result<()> = async {
        let answered = requests::ensure_each(
            ctx,
            &tenants,
            RequestKind::Access,
            &subject_ref,
            req.channel,
            req.request_id,
        )
        .await?;
        opened.extend(answered.iter().filter(|(_, new)| *new).map(|(r, _)| r.id));
        for (tenant, (request, _)) in tenants.iter().zip(answered) {
            let policy = ctx.policies.require(tenant)?;
            let mut data = ctx.store.subject_data(&subject_ref, tenant).await?;
            data.requests.retain(|r| {
                r.id != request.id && (r.tenant.is_some() || shared_listed.insert(r.id))
            });
            redact_others(ctx, &subject_ref, tenant, email, &mut data).await?;
            let part = Part {
                policy,
                request,
                data,
            };
            let letter = Letter::new(&part, email, &address, now);
            pdf.push(letter.pdf());
            letters.push(letter);
            parts.push(part);
        }
        Ok(())
    }
    .await;
    let written = gathered
        .and_then(|()| write_folder(&staging.path, email, &parts, &letters, pdf, now))
        .and_then(|files| staging.finish(&folder).map(|()| files));
    let files = match written {
        Ok(files) => files,
        Err(e) => {
            // Only what was written is registered: take back the requests opened for it.
            for id in opened {
                requests::discard(ctx, id)
                    .await
                    .with_context(|| format!("and request {id} could not be taken back"))?;
            }
            return Err(e);
        }
    };

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
            closed.push((part.request.id, outcome));
        }
    }

    let mut report = ExportReport {
        folder,
        files: files.clone(),
        tenants: Vec::new(),
    };
    let mut events = Vec::with_capacity(parts.len());
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
        events.push(
            AuditEvent::new("subject.export", serde_json::Value::Object(details))
                .tenant(tenant)
                .subject(subject_ref.as_str()),
        );
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
            holds: d.holds.len(),
            restrictions: d.restrictions.len(),
            recipients: d.recipients.len(),
        });
    }
    // The requests closed, the export audited and the identity recorded in one transaction,
    // after the files are in place.
    ctx.store
        .close_answered(&closed, &events, req.identity, &ctx.audit())
        .await?;
    Ok(report)
}

/// Blacks out other people in the free text staff wrote about the person — the reasons of
/// holds, restrictions and extensions (Art. 15(4), rule in `domain::redact`).
async fn redact_others(
    ctx: &Context,
    subject_ref: &SubjectRef,
    tenant: &str,
    email: &str,
    data: &mut TenantData,
) -> Result<()> {
    let free_text = data.holds.len()
        + data.restrictions.len()
        + data
            .requests
            .iter()
            .filter(|r| r.extension_reason.is_some())
            .count();
    if free_text == 0 {
        return Ok(());
    }
    let person =
        |first: &Option<String>, last: &Option<String>, e: &Option<String>, p: &Option<String>| {
            redact::Person {
                first_name: first.clone(),
                last_name: last.clone(),
                email: e.clone(),
                phone: p.clone(),
            }
        };
    let mut own: Vec<redact::Person> = data
        .bookings
        .iter()
        .map(|b| person(&b.first_name, &b.last_name, &b.email, &b.phone))
        .collect();
    own.push(person(&None, &None, &Some(email.to_owned()), &None));
    let others: Vec<redact::Person> = ctx
        .store
        .other_persons(subject_ref, tenant)
        .await?
        .iter()
        .map(|o| person(&o.first_name, &o.last_name, &o.email, &o.phone))
        .collect();
    let r = Redactor::new(&own, &others);
    for h in &mut data.holds {
        h.reason = r.redact(&h.reason);
    }
    for x in &mut data.restrictions {
        x.reason = r.redact(&x.reason);
    }
    for q in &mut data.requests {
        if let Some(reason) = &q.extension_reason {
            q.extension_reason = Some(r.redact(reason));
        }
    }
    Ok(())
}

/// The tenants to answer for: the one named (a person unknown there gets a no-data letter
/// from it, and only from it), or every tenant where the person appears. For every tenant,
/// a person who appears nowhere is refused: a no-data answer comes from the controller that
/// received the request, named with `--tenant`.
async fn scope(
    ctx: &Context,
    controllers: &Controllers,
    explicit: Option<&Request>,
    subject_ref: &SubjectRef,
) -> Result<Vec<String>> {
    let of_request = explicit.and_then(|r| r.tenant.as_deref());
    match (controllers, of_request) {
        (Controllers::One(t), Some(r)) if t != r => {
            return Err(Refusal::InvalidInput(format!(
                "--tenant {t}: the request {} was made at {r}",
                explicit.map_or(0, |e| e.id)
            ))
            .into());
        }
        (Controllers::All, Some(r)) => {
            return Err(Refusal::InvalidInput(format!(
                "--all-tenants: the request {} was made at {r}; answer it with --tenant {r}",
                explicit.map_or(0, |e| e.id)
            ))
            .into());
        }
        _ => {}
    }
    if let Controllers::One(t) = controllers {
        ctx.policies.require(t)?;
        return Ok(vec![t.clone()]);
    }
    let mut found: Vec<String> = ctx
        .store
        .find_subjects(&SubjectQuery::Ref(subject_ref.clone()), None)
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
        return Err(Refusal::NotFound(
            "no data about this person at any tenant; nothing registered. A no-data answer comes from the controller that received the request: use --tenant T"
                .into(),
        )
        .into());
    }
    Ok(found)
}

/// Refuses a folder that exists and is not empty (an earlier Auskunft, someone's files).
fn check_folder(folder: &Path) -> Result<()> {
    // Never written through a link: the Auskunft would land (and a folder be restricted)
    // wherever it points.
    if std::fs::symlink_metadata(folder).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Refusal::InvalidInput(format!(
            "--out {}: is a symbolic link; name a new folder",
            folder.display()
        ))
        .into());
    }
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

/// A folder (0700) beside the Auskunft's folder that its files are written into, renamed
/// to the Auskunft's name once all are written, and removed if that does not happen.
struct Staging {
    path: PathBuf,
    done: bool,
}

impl Staging {
    fn create(folder: &Path) -> Result<Staging> {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "auskunft".into());
        let parent = folder.parent().filter(|p| !p.as_os_str().is_empty());
        let path = parent
            .unwrap_or(Path::new("."))
            .join(format!(".{name}.{}.partial", std::process::id()));
        // What an export of the same folder left when it was killed holds personal data.
        let dir = parent.unwrap_or(Path::new("."));
        let prefix = format!(".{name}.");
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.starts_with(&prefix) && file.ends_with(".partial") {
                    std::fs::remove_dir_all(entry.path())
                        .with_context(|| format!("cannot remove {}", entry.path().display()))?;
                }
            }
        }
        private_files::create_folder(&path)?;
        Ok(Staging { path, done: false })
    }

    /// Gives the written folder its name (an empty folder of that name is replaced).
    fn finish(mut self, folder: &Path) -> Result<()> {
        std::fs::rename(&self.path, folder).with_context(|| {
            format!(
                "cannot move {} to {}",
                self.path.display(),
                folder.display()
            )
        })?;
        if let Some(parent) = folder.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent).and_then(|d| d.sync_all()).ok();
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes every file (0600) into the folder; returns the file names. The PDF of the
/// `letters` is being made on its thread meanwhile (`pdf`); the other files are made
/// here, and all are synced together at the end.
fn write_folder(
    folder: &Path,
    email: &str,
    parts: &[Part<'_>],
    letters: &[Letter],
    pdf: crate::pdf::Pipeline,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let others = other_files(email, parts, letters, now);
    let pdf = pdf.finish();
    let mut files = others?;
    // The order of the report's file list: the letter, its PDF, the data, the CSVs.
    files.insert(1, (LETTER_PDF, pdf?));
    let paths: Vec<(PathBuf, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (folder.join(name), bytes.as_slice()))
        .collect();
    private_files::write_new_all(&paths)?;
    Ok(files.into_iter().map(|(name, _)| name.to_owned()).collect())
}

/// The Auskunft's files but the PDF: the HTML letter, the data as JSON, the CSVs.
fn other_files(
    email: &str,
    parts: &[Part<'_>],
    letters: &[Letter],
    now: DateTime<Utc>,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let csvs = csv_files(parts)?;
    let html = AuskunftHtml { letters }
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
                third_countries: p.policy.tenant.third_countries_de(),
                data: (&p.data).into(),
            })
            .collect(),
    })?;
    let mut files = vec![(LETTER_FILE, html.into_bytes()), (DATA_FILE, json)];
    files.extend(csvs);
    Ok(files)
}
