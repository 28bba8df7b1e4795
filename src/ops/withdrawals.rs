//! The office mailbox intake (`withdrawals import`): every message gets exactly one
//! outcome — parse, dedupe, route, classify, verify, apply, answer — and a message is
//! committed with its effects in one transaction. The mailbox itself is never modified.

use super::requests::due_on;
use super::{Context, Refusal};
use crate::domain::booking::SMS_PURPOSE;
use crate::domain::classify::{Intent, classify};
use crate::domain::policy::{LegalBasis, Policy, RetainedData, RetentionAction};
use crate::domain::subject::{SubjectRef, normalize_email};
use crate::mail::{self, ParsedMail, Source};
use crate::store::{
    BookingErasure, ErasureScope, InboxEntry, IntakeEffect, IntakeResult, SubjectQuery,
};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The one outcome a message gets.
pub const OUTCOMES: &[&str] = &[
    "withdrawn",
    "sms_withdrawn",
    "access_request",
    "erasure_request",
    "unmatched",
    "review",
    "not_addressed",
    "not_a_request",
    "duplicate",
    "unreadable",
];

/// What happened to one message, for the report (never its sender or text).
#[derive(Clone, Debug, Serialize)]
pub struct MessageReport {
    /// Where it was found (file or mbox position).
    pub origin: String,
    pub message_id: Option<String>,
    pub outcome: &'static str,
    pub tenant: Option<String>,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub bookings_cancelled: usize,
    /// Why, in a few words (what matched, what failed).
    pub reason: String,
    /// The reply written to the outbox.
    pub reply: Option<PathBuf>,
}

pub struct ImportOptions {
    pub source: Source,
    pub outbox: PathBuf,
    pub dry_run: bool,
}

/// Reads every message of the source and gives each its outcome.
pub async fn import(ctx: &Context, opts: &ImportOptions) -> Result<Vec<MessageReport>> {
    let messages = mail::read(&opts.source).map_err(|e| Refusal::InvalidInput(e.to_string()))?;
    if !opts.dry_run {
        create_outbox(&opts.outbox)?;
    }
    let mut seen = HashSet::new();
    let mut reports = Vec::new();
    for item in messages {
        let report = match item {
            Err(e) => MessageReport::bare(
                e.path().display().to_string(),
                "unreadable",
                format!("cannot read: {e}"),
            ),
            Ok(raw) => {
                let r = one(ctx, opts, &raw.origin, &raw.bytes, &mut seen).await;
                // A bad message never stops the run; a failing database does.
                r.with_context(|| format!("while processing {}", raw.origin))?
            }
        };
        if report.outcome != "duplicate" {
            tracing::info!("{}: {}", report.origin, report.outcome);
        }
        reports.push(report);
    }
    Ok(reports)
}

impl MessageReport {
    fn bare(origin: String, outcome: &'static str, reason: String) -> Self {
        Self {
            origin,
            message_id: None,
            outcome,
            tenant: None,
            request_id: None,
            consents_withdrawn: 0,
            bookings_cancelled: 0,
            reason,
            reply: None,
        }
    }
}

fn create_outbox(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the outbox {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The tenant whose withdrawal address received the message, and that address.
fn route<'a>(ctx: &'a Context, mail: &ParsedMail) -> Option<(&'a Policy, String)> {
    for entry in &ctx.policies.entries {
        for address in &entry.policy.tenant.withdrawal_addresses {
            let address = normalize_email(address);
            if mail
                .recipients
                .iter()
                .any(|r| normalize_email(r) == address)
            {
                return Some((&entry.policy, address));
            }
        }
    }
    None
}

fn domain_of(address: &str) -> Option<String> {
    address.rsplit_once('@').map(|(_, d)| d.to_lowercase())
}

/// The tenant's own domains: a message from there is a colleague's forward, not the citizen.
fn own_domains(policy: &Policy) -> Vec<String> {
    std::iter::once(&policy.tenant.email)
        .chain(&policy.tenant.withdrawal_addresses)
        .filter_map(|a| domain_of(a))
        .collect()
}

fn booking_erasure(policy: &Policy) -> BookingErasure {
    match policy.retention_for(RetainedData::Bookings) {
        Some(rule) if rule.action == RetentionAction::Delete => BookingErasure::Delete,
        _ => BookingErasure::Anonymize,
    }
}

/// The purposes a withdrawal ends at this tenant: every consent-based one.
fn consent_purposes(policy: &Policy) -> Vec<String> {
    policy
        .purposes
        .iter()
        .filter(|p| p.legal_basis == LegalBasis::Consent)
        .map(|p| p.id.clone())
        .collect()
}

/// What one intent does at one tenant.
fn effect_of(
    ctx: &Context,
    policy: &Policy,
    intent: Intent,
    received: DateTime<Utc>,
) -> Result<(&'static str, IntakeEffect)> {
    let due_on = due_on(ctx, Some(&policy.tenant.slug), received)?;
    Ok(match intent {
        Intent::Withdrawal => {
            let erase = (policy.booking_purpose().legal_basis == LegalBasis::Consent).then(|| {
                ErasureScope {
                    tenant: policy.tenant.slug.clone(),
                    bookings: booking_erasure(policy),
                    request_id: None,
                }
            });
            (
                "withdrawn",
                IntakeEffect::Withdraw {
                    purposes: consent_purposes(policy),
                    erase,
                    due_on,
                },
            )
        }
        Intent::SmsWithdrawal => (
            "sms_withdrawn",
            IntakeEffect::Withdraw {
                purposes: vec![SMS_PURPOSE.to_owned()],
                erase: None,
                due_on,
            },
        ),
        Intent::AccessRequest => (
            "access_request",
            IntakeEffect::OpenRequest {
                kind: "access".into(),
                due_on,
            },
        ),
        Intent::ErasureRequest => (
            "erasure_request",
            IntakeEffect::OpenRequest {
                kind: "erasure".into(),
                due_on,
            },
        ),
        Intent::NotARequest => ("not_a_request", IntakeEffect::Nothing),
        Intent::Review => ("review", IntakeEffect::Nothing),
    })
}

async fn one(
    ctx: &Context,
    opts: &ImportOptions,
    origin: &str,
    bytes: &[u8],
    seen: &mut HashSet<String>,
) -> Result<MessageReport> {
    let now = crate::domain::time::now();
    let parsed = mail::parse(bytes);
    let key = match &parsed {
        Ok(m) => m.key.clone(),
        // Keyed like a message without Message-ID, so that the same unreadable bytes from a
        // Maildir and from an mbox (which adds a line end) are one message.
        Err(_) => mail::hash_key(bytes),
    };
    let mut report = MessageReport::bare(origin.to_owned(), "unreadable", String::new());
    report.message_id = parsed.as_ref().ok().and_then(|m| m.message_id.clone());
    if !seen.insert(key.clone()) || ctx.store.inbox_contains(&key).await? {
        report.outcome = "duplicate";
        report.reason = "this message was processed before".into();
        return Ok(report);
    }
    let mut entry = InboxEntry {
        message_key: key,
        tenant: None,
        received_at: None,
        processed_at: now,
        outcome: String::new(),
        subject_ref: None,
        sender: None,
        subject: None,
        reason: None,
        address: None,
    };
    let mail = match parsed {
        Err(e) => {
            report.reason = format!("not a readable e-mail: {}", e.0);
            return record(ctx, opts, entry, IntakeEffect::Nothing, report, None).await;
        }
        Ok(m) => m,
    };
    entry.received_at = mail.received;
    let Some((policy, address)) = route(ctx, &mail) else {
        report.outcome = "not_addressed";
        report.reason = "no recipient is a withdrawal address of a tenant".into();
        return record(ctx, opts, entry, IntakeEffect::Nothing, report, None).await;
    };
    let tenant = policy.tenant.slug.clone();
    entry.tenant = Some(tenant.clone());
    entry.address = Some(address.clone());
    report.tenant = Some(tenant.clone());
    let classification = classify(&mail.subject, &mail.text);
    let received = mail.received.unwrap_or(now);
    let (mut outcome, mut effect) = effect_of(ctx, policy, classification.intent, received)?;
    report.reason = classification.reason.clone();
    if outcome == "not_a_request" {
        report.outcome = outcome;
        return record(ctx, opts, entry, effect, report, None).await;
    }
    // Verify the sender before acting on anything.
    let from = mail.from.clone().unwrap_or_default();
    let keep_for_human = |entry: &mut InboxEntry| {
        entry.sender = mail.from.clone();
        entry.subject = Some(mail.subject.chars().take(200).collect());
    };
    if mail.dmarc_fail {
        outcome = "review";
        effect = IntakeEffect::Nothing;
        report.reason = "the sender's domain failed DMARC (possibly forged)".into();
    } else if domain_of(&from).is_some_and(|d| own_domains(policy).contains(&d)) {
        outcome = "review";
        effect = IntakeEffect::Nothing;
        report.reason = "sent from the tenant's own domain (a forward by staff?)".into();
    }
    let key = ctx.store.pseudonym_key().await?;
    let subject_ref = SubjectRef::for_email(&key, &from).as_str().to_owned();
    if outcome != "review" {
        let known = !from.is_empty()
            && !ctx
                .store
                .find_subjects(&SubjectQuery::Ref(subject_ref.clone()), Some(&tenant))
                .await?
                .is_empty();
        if !known {
            outcome = "unmatched";
            effect = IntakeEffect::Nothing;
            report.reason = format!(
                "{}; the sender is not a known person of {tenant}",
                report.reason
            );
        }
    }
    if matches!(outcome, "review" | "unmatched") {
        keep_for_human(&mut entry);
    } else {
        entry.subject_ref = Some(subject_ref.clone());
    }
    report.outcome = outcome;
    // Appointments a withdrawal would cancel, for the reply; narrowed to what the erasure
    // really cancelled once it has run (a hold keeps them).
    let cancelled = match &effect {
        IntakeEffect::Withdraw { erase: Some(_), .. } => ctx
            .store
            .subject_data(&subject_ref, &tenant)
            .await?
            .bookings
            .into_iter()
            .filter(|b| b.status == "booked" && b.appointment_start > now)
            .map(|b| (b.reference, b.service_name, b.appointment_start))
            .collect(),
        _ => Vec::new(),
    };
    let reply = Reply {
        mail: &mail,
        policy,
        address,
        cancelled,
    };
    record(ctx, opts, entry, effect, report, Some(reply)).await
}

struct Reply<'a> {
    mail: &'a ParsedMail,
    policy: &'a Policy,
    /// The withdrawal address the message came to; the answer comes from it.
    address: String,
    /// (reference, service, start) of the future bookings the withdrawal cancels.
    cancelled: Vec<(String, String, DateTime<Utc>)>,
}

async fn record(
    ctx: &Context,
    opts: &ImportOptions,
    mut entry: InboxEntry,
    effect: IntakeEffect,
    mut report: MessageReport,
    reply: Option<Reply<'_>>,
) -> Result<MessageReport> {
    entry.outcome = report.outcome.to_owned();
    entry.reason = Some(report.reason.chars().take(500).collect());
    if opts.dry_run {
        return Ok(report);
    }
    let result = ctx
        .store
        .record_message(&entry, &effect, &ctx.audit())
        .await?;
    if !result.recorded {
        report.outcome = "duplicate";
        report.reason = "this message was processed before".into();
        return Ok(report);
    }
    report.request_id = result.request_id;
    report.consents_withdrawn = result.consents_withdrawn;
    report.bookings_cancelled = result.erasure.as_ref().map_or(0, |e| {
        e.counts.iter().map(|(_, c)| c.bookings_cancelled).sum()
    });
    if let Some(mut reply) = reply
        && matches!(
            report.outcome,
            "withdrawn" | "sms_withdrawn" | "access_request" | "erasure_request"
        )
    {
        // What a hold or restriction kept was not cancelled: a person on hold keeps all
        // (`what` = "all"), a held booking keeps that booking.
        if let Some(erasure) = &result.erasure {
            reply.cancelled.retain(|(reference, _, _)| {
                !erasure
                    .kept
                    .iter()
                    .any(|k| k.what == "all" || k.what == *reference)
            });
        }
        report.reply = Some(write_reply(ctx, opts, &reply, &report, &result, &effect)?);
    }
    Ok(report)
}

fn write_reply(
    ctx: &Context,
    opts: &ImportOptions,
    reply: &Reply<'_>,
    report: &MessageReport,
    result: &IntakeResult,
    effect: &IntakeEffect,
) -> Result<PathBuf> {
    let t = &reply.policy.tenant;
    let tz = t.zone();
    let received = reply.mail.received.unwrap_or_else(crate::domain::time::now);
    let date = received.with_timezone(&tz).format("%d.%m.%Y");
    let mut body = String::from("Guten Tag,\n\n");
    match (report.outcome, effect) {
        ("withdrawn", IntakeEffect::Withdraw { erase, .. }) => {
            body.push_str(&format!(
                "wir haben Ihren Widerruf vom {date} erhalten und umgesetzt: Ihre Einwilligungen in die \
                 Verarbeitung Ihrer Daten bei der Online-Terminvergabe enden mit Wirkung für die Zukunft \
                 (Art. 7 Abs. 3 DSGVO).\n\n"
            ));
            for (_, service, at) in &reply.cancelled {
                body.push_str(&format!(
                    "Ihr Termin „{service}“ am {} wurde abgesagt.\n",
                    super::booking::appointment_de(tz, *at)
                ));
            }
            if !reply.cancelled.is_empty() {
                body.push('\n');
            }
            if erase.is_some() {
                let kept = result.erasure.as_ref().is_some_and(|e| !e.kept.is_empty());
                if kept {
                    body.push_str(
                        "Ihre personenbezogenen Daten haben wir gelöscht, soweit keine gesetzliche \
                         Aufbewahrungspflicht oder Einschränkung entgegensteht; darüber informieren wir Sie gesondert.\n\n",
                    );
                } else {
                    body.push_str("Ihre personenbezogenen Daten bei der Online-Terminvergabe haben wir gelöscht.\n\n");
                }
            } else {
                body.push_str(
                    "Ihre gebuchten Termine bleiben bestehen; sie beruhen nicht auf Ihrer Einwilligung. \
                     Freiwillige Zusatzleistungen wie die SMS-Erinnerung erhalten Sie nicht mehr.\n\n",
                );
            }
        }
        ("sms_withdrawn", _) => body.push_str(&format!(
            "wir haben Ihren Widerruf vom {date} erhalten: Sie erhalten keine SMS-Erinnerungen mehr, \
             Ihre Einwilligung dazu endet mit Wirkung für die Zukunft. Ihre Termine bleiben bestehen.\n\n"
        )),
        (kind, IntakeEffect::OpenRequest { due_on, .. }) => {
            let what = if kind == "access_request" {
                "auf Auskunft über Ihre personenbezogenen Daten (Art. 15 DSGVO)"
            } else {
                "auf Löschung Ihrer personenbezogenen Daten (Art. 17 DSGVO)"
            };
            body.push_str(&format!(
                "wir haben Ihren Antrag {what} am {date} erhalten und unter der Nummer {} erfasst. \
                 Wir beantworten ihn spätestens bis zum {} (Art. 12 Abs. 3 DSGVO).\n\n",
                report.request_id.unwrap_or_default(),
                due_on.format("%d.%m.%Y")
            ));
        }
        _ => {}
    }
    let mut contact = String::new();
    if let Some(phone) = &t.phone {
        contact.push_str(&format!("telefonisch unter {phone} oder "));
    }
    body.push_str(&format!(
        "Einen Termin können Sie jederzeit auch {contact}persönlich vereinbaren: {}.\n\n\
         Mit freundlichen Grüßen\n{}\n",
        t.address, t.name
    ));
    let now = crate::domain::time::now();
    let from = reply.mail.from.clone().unwrap_or_default();
    let subject = reply.mail.subject.clone();
    let eml = mail::reply_eml(&reply.address, &from, reply.mail, &subject, &body, now);
    let name = format!(
        "{}-{}.eml",
        now.format("%Y%m%dT%H%M%SZ"),
        &hex::encode(Sha256::digest(reply.mail.key.as_bytes()))[..12]
    );
    let path = opts.outbox.join(name);
    write_private(&path, eml.as_bytes())?;
    let _ = ctx;
    Ok(path)
}

/// Replies hold personal data: readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Messages a human must look at: review, unmatched, unreadable.
pub async fn review(ctx: &Context) -> Result<Vec<crate::store::InboxItem>> {
    Ok(ctx
        .store
        .inbox_items(&["review", "unmatched", "unreadable"])
        .await?)
}

/// What a human decided a message is.
pub const DECISIONS: &[&str] = &[
    "withdrawn",
    "sms_withdrawn",
    "access_request",
    "erasure_request",
    "not_a_request",
];

#[derive(Clone, Debug, Serialize)]
pub struct Resolution {
    pub message_key: String,
    pub outcome: String,
    pub tenant: Option<String>,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub reply: Option<PathBuf>,
}

/// Applies a human's decision on a message that needed review, with the same effects
/// (and reply) as if the intake had decided so itself.
pub async fn resolve(
    ctx: &Context,
    message_key: &str,
    decision: &str,
    email: Option<&str>,
    outbox: &Path,
) -> Result<Resolution> {
    let intent = match decision {
        "withdrawn" => Intent::Withdrawal,
        "sms_withdrawn" => Intent::SmsWithdrawal,
        "access_request" => Intent::AccessRequest,
        "erasure_request" => Intent::ErasureRequest,
        "not_a_request" => Intent::NotARequest,
        other => {
            return Err(Refusal::InvalidInput(format!(
                "--as {other}: use one of {}",
                DECISIONS.join(", ")
            ))
            .into());
        }
    };
    let item = review(ctx)
        .await?
        .into_iter()
        .find(|i| i.message_key == message_key)
        .ok_or_else(|| {
            Refusal::NotFound(format!("no message {message_key} waits for a decision"))
        })?;
    let policy = match &item.tenant {
        Some(t) => Some(ctx.policies.require(t)?),
        None if intent == Intent::NotARequest => None,
        None => {
            return Err(Refusal::InvalidInput(format!(
                "message {message_key} reached no tenant's withdrawal address; it can only be resolved as not_a_request"
            ))
            .into());
        }
    };
    let email = match (intent, email) {
        (Intent::NotARequest, _) => None,
        (_, Some(e)) => {
            if !crate::domain::subject::is_email_address(e.trim()) {
                return Err(Refusal::InvalidInput(format!(
                    "--email \"{e}\": not an e-mail address"
                ))
                .into());
            }
            Some(e.trim().to_owned())
        }
        (_, None) => {
            return Err(Refusal::InvalidInput("--email: say whose request it is".into()).into());
        }
    };
    let received = item.received_at.unwrap_or(item.processed_at);
    let (outcome, effect) = match policy {
        Some(p) => effect_of(ctx, p, intent, received)?,
        None => ("not_a_request", IntakeEffect::Nothing),
    };
    let subject_ref = match &email {
        Some(e) => Some(
            SubjectRef::for_email(&ctx.store.pseudonym_key().await?, e)
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let result = ctx
        .store
        .resolve_message(
            message_key,
            outcome,
            subject_ref.as_deref(),
            &effect,
            &ctx.audit(),
        )
        .await?;
    let mut resolution = Resolution {
        message_key: message_key.to_owned(),
        outcome: outcome.to_owned(),
        tenant: item.tenant.clone(),
        request_id: result.request_id,
        consents_withdrawn: result.consents_withdrawn,
        reply: None,
    };
    if let (Some(policy), Some(email)) = (policy, email)
        && outcome != "not_a_request"
    {
        create_outbox(outbox)?;
        // The original is not kept: answer with what the register knows of it.
        let original = ParsedMail {
            message_id: (!message_key.starts_with("sha256:")).then(|| message_key.to_owned()),
            key: message_key.to_owned(),
            from: Some(email.clone()),
            recipients: Vec::new(),
            subject: item.subject.clone().unwrap_or_default(),
            text: String::new(),
            received: item.received_at,
            in_reply_to_id: None,
            dmarc_fail: false,
            references: Vec::new(),
        };
        // The reply comes from the address the message reached.
        let address = item
            .address
            .clone()
            .or_else(|| policy.tenant.withdrawal_addresses.first().cloned())
            .unwrap_or_else(|| policy.tenant.email.clone());
        let reply = Reply {
            mail: &original,
            policy,
            address,
            cancelled: Vec::new(),
        };
        let mut report =
            MessageReport::bare(message_key.to_owned(), outcome_name(outcome), String::new());
        report.request_id = result.request_id;
        let opts = ImportOptions {
            source: Source::Files(Vec::new()),
            outbox: outbox.to_owned(),
            dry_run: false,
        };
        resolution.reply = Some(write_reply(ctx, &opts, &reply, &report, &result, &effect)?);
    }
    Ok(resolution)
}

/// The static name of an outcome.
fn outcome_name(outcome: &str) -> &'static str {
    OUTCOMES
        .iter()
        .copied()
        .find(|o| *o == outcome)
        .unwrap_or("review")
}
