//! The office mailbox intake (`withdrawals import`): every message gets exactly one
//! outcome — parse, dedupe, route, classify, verify, apply, answer — and a message is
//! committed with its effects in one transaction. The mailbox itself is never modified.

use super::requests::due_on;
use super::{Context, Refusal};
use crate::domain::booking::SMS_PURPOSE;
use crate::domain::classify::{Intent, classify};
use crate::domain::identity::{code_hash, find_codes, same_hash};
use crate::domain::policy::{LegalBasis, Policy};
use crate::domain::requests::{Channel, IdentityCheck, InboxOutcome, RequestKind};
use crate::domain::subject::{SubjectRef, normalize_email};
use crate::domain::time::{appointment_de, date_de, local_date_de};
use crate::mail::auth_results::{SenderCheck, check_sender};
use crate::mail::{self, ParsedMail, Source};
use crate::store::{
    ErasureScope, InboxEntry, IntakeEffect, IntakeItem, IntakeResult, NewReply, PendingReply,
    SubjectQuery,
};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What happened to one message, for the report (never its sender or text).
#[derive(Clone, Debug, Serialize)]
pub struct MessageReport {
    /// Where it was found (file or mbox position).
    pub origin: String,
    pub message_id: Option<String>,
    pub outcome: InboxOutcome,
    pub tenant: Option<String>,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub bookings_cancelled: usize,
    /// Why, in a few words (what matched, what failed).
    pub reason: String,
    /// The reply written to the outbox.
    pub reply: Option<PathBuf>,
    /// For a duplicate: the outcome the message was recorded with before (none when it
    /// came twice in one dry run).
    #[serde(skip)]
    pub earlier: Option<InboxOutcome>,
}

pub struct ImportOptions {
    pub source: Source,
    pub outbox: PathBuf,
    pub dry_run: bool,
    /// Base URL of the citizen pages, for the link in confirmation requests
    /// (`--public-url`); without it the link is the path alone.
    pub public_url: Option<String>,
}

/// What the processing of one message needs to know besides the message: where replies
/// go, whether anything may change, the citizen pages' base. The same for every source.
#[derive(Clone, Copy)]
pub(super) struct Settings<'a> {
    pub outbox: &'a Path,
    pub dry_run: bool,
    pub public_url: Option<&'a str>,
}

impl ImportOptions {
    fn settings(&self) -> Settings<'_> {
        Settings {
            outbox: &self.outbox,
            dry_run: self.dry_run,
            public_url: self.public_url.as_deref(),
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    /// Replies an earlier run committed but did not write (it stopped), written now.
    pub replies_recovered: usize,
    /// Confirmation requests that were not confirmed in time and expired now (outcome
    /// `unconfirmed`; nothing was done).
    pub confirmations_expired: usize,
    /// One report per message, in the order of the source.
    pub messages: Vec<MessageReport>,
}

/// Messages whose records are committed together in one transaction unless told
/// otherwise (`withdrawals import`; the IMAP intake commits at least once per fetched batch).
pub const DEFAULT_BATCH: usize = 500;

/// Reads every message of the source and gives each its outcome; first writes the replies
/// an earlier run left pending. The records of up to [`DEFAULT_BATCH`] messages are
/// committed together.
pub async fn import(ctx: &Context, opts: &ImportOptions) -> Result<ImportReport> {
    import_in_batches(ctx, opts, DEFAULT_BATCH).await
}

/// [`import`], committing the records of up to `batch` messages in one transaction (1:
/// each message in its own).
pub async fn import_in_batches(
    ctx: &Context,
    opts: &ImportOptions,
    batch: usize,
) -> Result<ImportReport> {
    let messages = mail::read(&opts.source).map_err(|e| Refusal::InvalidInput(e.to_string()))?;
    let settings = opts.settings();
    let mut report = begin(ctx, settings).await?;
    let mut intake = Intake::new(ctx, settings, batch);
    // Read ahead a batch at a time (bounded in bytes as the IMAP intake's batches are), so
    // that the batch's messages are looked up for duplicates at once.
    let mut chunk = Vec::new();
    let mut bytes = 0u64;
    for item in messages {
        match item {
            Err(e) => {
                intake.push_all(&std::mem::take(&mut chunk)).await?;
                bytes = 0;
                intake.unreadable(e.path().display().to_string(), format!("cannot read: {e}"));
            }
            Ok(raw) => {
                bytes += raw.bytes.len() as u64;
                chunk.push(raw);
                if chunk.len() >= intake.batch || bytes >= super::imap_import::BATCH_BYTES {
                    intake.push_all(&std::mem::take(&mut chunk)).await?;
                    bytes = 0;
                }
            }
        }
    }
    intake.push_all(&chunk).await?;
    intake.finish().await?;
    report.messages = intake.take_reports().into_iter().flatten().collect();
    Ok(report)
}

/// What every import does before its first message: the replies an earlier run committed
/// but did not write, and the confirmation requests that expired (not in a dry run).
pub(super) async fn begin(ctx: &Context, settings: Settings<'_>) -> Result<ImportReport> {
    let mut replies_recovered = 0;
    let mut confirmations_expired = 0;
    if !settings.dry_run {
        create_outbox(settings.outbox)?;
        // What a run that stopped before its purge left in SQLite's WAL leaves it now.
        ctx.store.purge_replaced().await?;
        replies_recovered = flush_pending(ctx, settings.outbox).await?;
        confirmations_expired = super::identity::expire(ctx, crate::domain::time::now())
            .await?
            .total;
    }
    Ok(ImportReport {
        replies_recovered,
        confirmations_expired,
        messages: Vec::new(),
    })
}

impl MessageReport {
    fn bare(origin: String, outcome: InboxOutcome, reason: String) -> Self {
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
            earlier: None,
        }
    }
}

/// Writes the replies that were committed with their messages but whose files a run that
/// stopped (a crash, a kill, a full disk) did not write; returns how many.
pub async fn flush_pending(ctx: &Context, outbox: &Path) -> Result<usize> {
    let removed = remove_stale_temp_files(outbox);
    if removed > 0 {
        tracing::info!(
            "{removed} unfinished reply file(s) of a run that was killed while writing removed from {}",
            outbox.display()
        );
    }
    let pending = ctx.store.pending_replies().await?;
    if pending.is_empty() {
        return Ok(0);
    }
    create_outbox(outbox)?;
    for reply in &pending {
        write_pending(ctx, outbox, reply).await?;
    }
    tracing::info!(
        "{} reply(ies) left pending by an earlier run written to {}",
        pending.len(),
        outbox.display()
    );
    let event = crate::domain::audit::AuditEvent::new(
        "inbox.replies_recovered",
        serde_json::json!({ "replies": pending.len() }),
    );
    ctx.store.record_audit(event, &ctx.audit()).await?;
    Ok(pending.len())
}

/// Writes a stored reply to the outbox under its name and marks it written (which clears
/// its text in the database). Writing it again, after a crash, gives the same file.
async fn write_pending(ctx: &Context, outbox: &Path, reply: &PendingReply) -> Result<PathBuf> {
    let path = write_reply_file(outbox, reply)?;
    let disclosed = disclosed_by_reply(ctx, &reply.tenant);
    ctx.store
        .reply_written(reply.id, crate::domain::time::now(), &disclosed)
        .await?;
    Ok(path)
}

/// Writes a stored reply's file (durably) without marking it written.
fn write_reply_file(outbox: &Path, reply: &PendingReply) -> Result<PathBuf> {
    let path = write_reply_file_unsynced(outbox, reply)?;
    super::private_files::sync_folder(outbox).with_context(|| {
        format!(
            "cannot write the reply {}; it is kept in the database and written by the next run",
            path.display()
        )
    })?;
    Ok(path)
}

/// [`write_reply_file`] without syncing the outbox folder (`private_files::sync_folder`).
fn write_reply_file_unsynced(outbox: &Path, reply: &PendingReply) -> Result<PathBuf> {
    let path = outbox.join(&reply.file_name);
    super::private_files::write_replacing_unsynced(&path, reply.eml.as_bytes()).with_context(
        || {
            format!(
                "cannot write the reply {}; it is kept in the database and written by the next run",
                path.display()
            )
        },
    )?;
    Ok(path)
}

/// The outbox goes to the mail server: a reply is a disclosure to its operator.
fn disclosed_by_reply(ctx: &Context, tenant: &str) -> Vec<crate::store::DisclosedTo> {
    ctx.policies
        .get(tenant)
        .map(|p| super::send::disclosed_to(p, "reply", crate::domain::policy::Handover::Email))
        .unwrap_or_default()
}

fn create_outbox(dir: &Path) -> Result<()> {
    super::private_files::create_folder(dir)
        .with_context(|| format!("cannot create the outbox {}", dir.display()))
}

/// The tenant whose withdrawal address received the message, and that address.
/// Every tenant the message was sent to (a recipient is one of its withdrawal addresses),
/// with the address it reached, in the order of the policies.
fn routes<'a>(ctx: &'a Context, mail: &ParsedMail) -> Vec<(&'a Policy, String)> {
    let recipients: Vec<String> = mail.recipients.iter().map(|r| normalize_email(r)).collect();
    ctx.policies
        .entries
        .iter()
        .filter_map(|entry| {
            entry
                .policy
                .tenant
                .withdrawal_addresses
                .iter()
                .map(|a| normalize_email(a))
                .find(|a| recipients.contains(a))
                .map(|address| (&entry.policy, address))
        })
        .collect()
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

/// The purposes a withdrawal ends at this tenant: every consent-based one.
fn consent_purposes(policy: &Policy) -> Vec<String> {
    policy
        .purposes
        .iter()
        .filter(|p| p.legal_basis == LegalBasis::Consent)
        .map(|p| p.id.clone())
        .collect()
}

/// The intent behind what a confirmation request asked.
pub(super) fn intent_of(asked: InboxOutcome) -> Intent {
    match asked {
        InboxOutcome::Withdrawn => Intent::Withdrawal,
        InboxOutcome::SmsWithdrawn => Intent::SmsWithdrawal,
        InboxOutcome::AccessRequest => Intent::AccessRequest,
        InboxOutcome::ErasureRequest => Intent::ErasureRequest,
        _ => Intent::Review,
    }
}

/// What one intent does at one tenant.
pub(super) fn effect_of(
    ctx: &Context,
    policy: &Policy,
    intent: Intent,
    received: DateTime<Utc>,
) -> Result<(InboxOutcome, IntakeEffect)> {
    let due_on = due_on(ctx, Some(&policy.tenant.slug), received)?;
    Ok(match intent {
        Intent::Withdrawal => {
            let erase = (policy.booking_purpose().legal_basis == LegalBasis::Consent).then(|| {
                ErasureScope {
                    tenant: policy.tenant.slug.clone(),
                    bookings: super::rights::booking_erasure(Some(policy)),
                    request_id: None,
                }
            });
            (
                InboxOutcome::Withdrawn,
                IntakeEffect::Withdraw {
                    purposes: consent_purposes(policy),
                    erase,
                    due_on,
                },
            )
        }
        Intent::SmsWithdrawal => (
            InboxOutcome::SmsWithdrawn,
            IntakeEffect::Withdraw {
                purposes: vec![SMS_PURPOSE.to_owned()],
                erase: None,
                due_on,
            },
        ),
        Intent::AccessRequest => (
            InboxOutcome::AccessRequest,
            IntakeEffect::OpenRequest {
                kind: RequestKind::Access,
                due_on,
            },
        ),
        Intent::ErasureRequest => (
            InboxOutcome::ErasureRequest,
            IntakeEffect::OpenRequest {
                kind: RequestKind::Erasure,
                due_on,
            },
        ),
        Intent::ObjectionRequest => (
            InboxOutcome::ObjectionRequest,
            IntakeEffect::OpenRequest {
                kind: RequestKind::Objection,
                due_on,
            },
        ),
        Intent::NotARequest => (InboxOutcome::NotARequest, IntakeEffect::Nothing),
        Intent::Review => (InboxOutcome::Review, IntakeEffect::Nothing),
    })
}

/// The intake of one run: each message is decided as it comes, and the records of up to
/// `batch` messages (their rows, effects, replies and audit entries) are committed in one
/// transaction — all of a batch or nothing of it, so a run that stops anywhere leaves no
/// message half-applied, and the next run finds every committed message a duplicate.
///
/// A message is decided from what is committed. The lookups a decision makes are about
/// its sender (is the person known at the tenant, which of their bookings a withdrawal
/// cancels) or about a confirmation code; so a message about a person whom a queued record
/// is about, and every message that carries a code, is decided only after the queue is
/// committed. Every message thus sees what the messages before it did, as if each were
/// committed on its own (which is what a batch of 1 does).
pub(super) struct Intake<'a> {
    ctx: &'a Context,
    settings: Settings<'a>,
    pub(super) batch: usize,
    /// The keys of this run (the same message twice in one mailbox is one message).
    seen: HashSet<String>,
    /// The outcome each key of this run was recorded with (not in a dry run), for a second
    /// copy that comes before the first is committed.
    outcomes: std::collections::HashMap<String, InboxOutcome>,
    queued: Vec<Queued<'a>>,
    /// The people the queued records are about.
    touched: HashSet<SubjectRef>,
    /// The report of every outcome so far, in order; a queued record's report is
    /// completed when it is committed.
    reports: Vec<MessageReport>,
    /// How many of `reports` each message has, in order.
    shape: Vec<usize>,
    /// Of `reports`, those of messages already given to `shape`.
    shaped: usize,
    /// Whether a commit since the last purge erased something or wrote replies, whose
    /// replaced bytes are to leave the database files (`IntakeStore::purge_replaced`).
    to_purge: bool,
    /// When the last purge was.
    purged_at: std::time::Instant,
}

/// During a run the replaced bytes are purged at most this often (a purge copies every
/// page the batches since the last one changed into the database file); and at its end.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A decided record waiting for its batch's commit.
struct Queued<'a> {
    /// Its report's place in `Intake::reports`.
    at: usize,
    entry: InboxEntry,
    effect: IntakeEffect,
    reply: Option<Reply<'a>>,
}

impl<'a> Intake<'a> {
    pub(super) fn new(ctx: &'a Context, settings: Settings<'a>, batch: usize) -> Self {
        Self {
            ctx,
            settings,
            batch: batch.max(1),
            seen: HashSet::new(),
            outcomes: std::collections::HashMap::new(),
            queued: Vec::new(),
            touched: HashSet::new(),
            reports: Vec::new(),
            shape: Vec::new(),
            shaped: 0,
            to_purge: false,
            purged_at: std::time::Instant::now(),
        }
    }

    /// Commits what is queued and purges what the run's erasures and written replies
    /// replaced from the database files: the end of a run.
    pub(super) async fn finish(&mut self) -> Result<()> {
        let committed = self.commit().await;
        let purged = self.purge(true).await;
        committed.and(purged)
    }

    /// Purges the replaced bytes if there are any and it is time (or `now`).
    async fn purge(&mut self, now: bool) -> Result<()> {
        if self.to_purge && (now || self.purged_at.elapsed() >= PURGE_EVERY) {
            self.ctx.store.purge_replaced().await?;
            self.to_purge = false;
            self.purged_at = std::time::Instant::now();
        }
        Ok(())
    }

    /// A message that could not be read from its source at all.
    pub(super) fn unreadable(&mut self, origin: String, reason: String) {
        self.emit(MessageReport::bare(
            origin,
            InboxOutcome::Unreadable,
            reason,
        ));
        self.end_message();
    }

    /// Raw messages of any source, in order, looked up for duplicates at once: each is
    /// decided now and recorded with its batch (committed when the batch is full, before a
    /// message that depends on it, or by [`Self::commit`]). A bad message never stops the
    /// run; a failing database does (the error, after what was decided before it is
    /// committed).
    pub(super) async fn push_all(&mut self, raws: &[mail::RawMessage]) -> Result<()> {
        if raws.is_empty() {
            return Ok(());
        }
        let parsed: Vec<(std::result::Result<ParsedMail, mail::Unreadable>, String)> = raws
            .iter()
            .map(|raw| {
                let parsed = mail::parse(&raw.bytes);
                let key = match &parsed {
                    Ok(m) => m.key.clone(),
                    // Keyed like a message without Message-ID, so that the same unreadable
                    // bytes from a Maildir and from an mbox (which adds a line end) are one
                    // message.
                    Err(_) => mail::hash_key(&raw.bytes),
                };
                (parsed, key)
            })
            .collect();
        let keys: Vec<String> = parsed.iter().map(|(_, k)| k.clone()).collect();
        let known: std::collections::HashMap<String, InboxOutcome> = self
            .ctx
            .store
            .inbox_outcomes(&keys)
            .await
            .context("while looking up the messages' keys")?
            .into_iter()
            .collect();
        for (raw, (parsed, key)) in raws.iter().zip(parsed) {
            let earlier = known.get(&key).copied();
            self.push_parsed(raw, parsed, key, earlier).await?;
        }
        Ok(())
    }

    async fn push_parsed(
        &mut self,
        raw: &mail::RawMessage,
        parsed: std::result::Result<ParsedMail, mail::Unreadable>,
        key: String,
        earlier: Option<InboxOutcome>,
    ) -> Result<()> {
        let decided = self
            .one(&raw.origin, parsed, key, earlier)
            .await
            .with_context(|| format!("while processing {}", raw.origin));
        self.end_message();
        if let Err(e) = decided {
            if let Err(also) = self.commit().await {
                tracing::warn!("{also:#}");
            }
            return Err(e);
        }
        if self.queued.len() >= self.batch {
            self.commit().await?;
        }
        Ok(())
    }

    /// The reports of the messages given since the last call, one list per message, in
    /// order. Call after [`Self::commit`]: a queued record's report is not complete before.
    pub(super) fn take_reports(&mut self) -> Vec<Vec<MessageReport>> {
        debug_assert!(self.queued.is_empty(), "reports taken before the commit");
        let mut reports = std::mem::take(&mut self.reports).into_iter();
        self.shaped = 0;
        std::mem::take(&mut self.shape)
            .into_iter()
            .map(|n| reports.by_ref().take(n).collect())
            .collect()
    }

    fn end_message(&mut self) {
        self.shape.push(self.reports.len() - self.shaped);
        self.shaped = self.reports.len();
    }

    /// A final report (nothing to commit).
    fn emit(&mut self, report: MessageReport) {
        log_outcome(&report);
        self.reports.push(report);
    }

    /// Queues a decided message's record; its report is completed at the commit.
    fn record(
        &mut self,
        mut entry: InboxEntry,
        effect: IntakeEffect,
        report: MessageReport,
        reply: Option<Reply<'a>>,
    ) {
        entry.outcome = report.outcome.to_owned();
        entry.reason = Some(report.reason.chars().take(500).collect());
        if self.settings.dry_run {
            return self.emit(report);
        }
        self.outcomes
            .insert(entry.message_key.clone(), report.outcome);
        if let Some(subject) = &entry.subject_ref {
            self.touched.insert(subject.clone());
        }
        self.queued.push(Queued {
            at: self.reports.len(),
            entry,
            effect,
            reply,
        });
        self.reports.push(report);
    }

    /// Commits the queued records in one transaction, completes their reports and writes
    /// their replies (then marks them written, all at once). A batch the database refuses is
    /// rolled back whole and recorded again message by message: what can be committed is,
    /// and the run stops at the message that cannot (the error), as it does without batches.
    pub(super) async fn commit(&mut self) -> Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.queued);
        self.touched.clear();
        let ctx = self.ctx;
        let audit = ctx.audit();
        let renders: Vec<_> = queued
            .iter()
            .map(|q| {
                let outcome = q.entry.outcome;
                let answered =
                    outcome.is_applied() || outcome == InboxOutcome::ConfirmationRequested;
                move |result: &IntakeResult| {
                    q.reply
                        .as_ref()
                        .filter(|_| answered)
                        .map(|r| render_reply(r, outcome, result, &q.effect))
                }
            })
            .collect();
        let items: Vec<IntakeItem<'_>> = queued
            .iter()
            .zip(&renders)
            .map(|(q, render)| IntakeItem {
                entry: &q.entry,
                effect: &q.effect,
                reply: render,
            })
            .collect();
        let origin = |q: &Queued<'_>| format!("while processing {}", self.reports[q.at].origin);
        let mut failure = None;
        let results = match ctx.store.record_messages(&items, &audit).await {
            Ok(results) => results,
            Err(e) if items.len() == 1 => {
                failure = Some(anyhow::Error::from(e).context(origin(&queued[0])));
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(
                    "a batch of {} messages was rolled back ({e}); recording them one by one",
                    items.len()
                );
                let mut results = Vec::new();
                for (item, q) in items.iter().zip(&queued) {
                    match ctx
                        .store
                        .record_message(item.entry, item.effect, item.reply, &audit)
                        .await
                    {
                        Ok(result) => results.push(result),
                        Err(e) => {
                            failure = Some(anyhow::Error::from(e).context(origin(q)));
                            break;
                        }
                    }
                }
                results
            }
        };
        let mut replies = Vec::new();
        let erased = results.iter().any(|r| r.erasure.is_some());
        for (q, result) in queued.iter().zip(results) {
            let report = &mut self.reports[q.at];
            if !result.recorded {
                report.outcome = InboxOutcome::Duplicate;
                report.reason = "this message was processed before".into();
                continue;
            }
            log_outcome(report);
            report.request_id = result.request_id;
            report.consents_withdrawn = result.consents_withdrawn;
            report.bookings_cancelled = result.erasure.as_ref().map_or(0, |e| {
                e.counts.iter().map(|(_, c)| c.bookings_cancelled).sum()
            });
            if let Some(pending) = result.reply {
                replies.push((q.at, pending));
            }
        }
        self.to_purge |= !replies.is_empty() || erased;
        let written = if replies.is_empty() {
            Ok(())
        } else {
            self.write_replies(&replies).await
        };
        // A run that stops with an error purges at once; otherwise at most every
        // PURGE_EVERY, and at its end (`finish`).
        let stops = failure.is_some() || written.is_err();
        let purged = self.purge(stops).await;
        match failure {
            Some(e) => Err(e),
            None => written.and(purged),
        }
    }

    /// Writes the committed replies to their files, then marks those written in one
    /// transaction. A reply that cannot be written stays pending in the database (the next
    /// run writes it); the error says so.
    async fn write_replies(&mut self, replies: &[(usize, PendingReply)]) -> Result<()> {
        let outbox = self.settings.outbox;
        let paths: Vec<PathBuf> = replies
            .iter()
            .map(|(_, pending)| outbox.join(&pending.file_name))
            .collect();
        let files: Vec<(&Path, &[u8])> = paths
            .iter()
            .zip(replies)
            .map(|(path, (_, pending))| (path.as_path(), pending.eml.as_bytes()))
            .collect();
        // The batch's files are synced together (`write_many_replacing_unsynced`): each is
        // durable before its name appears, as one at a time.
        let (written, failure) = super::private_files::write_many_replacing_unsynced(&files);
        let mut failure = failure.map(|e| {
            e.context("a reply could not be written; it is kept in the database and written by the next run")
        });
        let mut done = Vec::with_capacity(written);
        for ((at, pending), path) in replies.iter().zip(paths).take(written) {
            self.reports[*at].reply = Some(path);
            done.push((pending.id, disclosed_by_reply(self.ctx, &pending.tenant)));
        }
        // The files' names are durable before their texts leave the database.
        if !done.is_empty()
            && let Err(e) = super::private_files::sync_folder(self.settings.outbox)
        {
            done.clear();
            failure =
                Some(e.context("the replies are kept in the database and written by the next run"));
        }
        let marks: Vec<(i64, &[crate::store::DisclosedTo])> =
            done.iter().map(|(id, d)| (*id, d.as_slice())).collect();
        self.ctx
            .store
            .replies_written(&marks, crate::domain::time::now())
            .await?;
        failure.map_or(Ok(()), Err)
    }

    /// A message about this person is decided only after the queued records about them
    /// are committed: its lookups must see them.
    async fn before_looking_up(&mut self, subject: &SubjectRef) -> Result<()> {
        if self.touched.contains(subject) {
            self.commit().await?;
        }
        Ok(())
    }

    /// One parsed message under its key (`earlier`: the outcome it was recorded with).
    async fn one(
        &mut self,
        origin: &str,
        parsed: std::result::Result<ParsedMail, mail::Unreadable>,
        key: String,
        earlier: Option<InboxOutcome>,
    ) -> Result<()> {
        let ctx = self.ctx;
        let now = crate::domain::time::now();
        let mut report =
            MessageReport::bare(origin.to_owned(), InboxOutcome::Unreadable, String::new());
        report.message_id = parsed.as_ref().ok().and_then(|m| m.message_id.clone());
        let earlier = earlier.or_else(|| self.outcomes.get(&key).copied());
        if !self.seen.insert(key.clone()) || earlier.is_some() {
            report.outcome = InboxOutcome::Duplicate;
            report.earlier = earlier;
            report.reason = "this message was processed before".into();
            self.emit(report);
            return Ok(());
        }
        let mut entry = InboxEntry {
            message_key: key,
            tenant: None,
            received_at: None,
            processed_at: now,
            // Until the message is decided, it is one nobody could read.
            outcome: InboxOutcome::Unreadable,
            subject_ref: None,
            sender: None,
            subject: None,
            reason: None,
            address: None,
            channel: Channel::Email,
            identity: None,
            confirms: None,
        };
        let mail = match parsed {
            Err(e) => {
                report.reason = format!("not a readable e-mail: {}", e.0);
                self.record(entry, IntakeEffect::Nothing, report, None);
                return Ok(());
            }
            Ok(m) => Arc::new(m),
        };
        entry.received_at = mail.received;
        let routes = routes(ctx, &mail);
        if routes.is_empty() {
            report.outcome = InboxOutcome::NotAddressed;
            report.reason = "no recipient is a withdrawal address of a tenant".into();
            self.record(entry, IntakeEffect::Nothing, report, None);
            return Ok(());
        }
        // A message to several controllers is handled for each of them: one outcome and one
        // reply per tenant, each recorded under the message's key and the tenant's slug.
        let several = routes.len() > 1;
        for (policy, address) in routes {
            let mut entry = entry.clone();
            let mut report = report.clone();
            if several {
                entry.message_key = format!("{}#{}", entry.message_key, policy.tenant.slug);
                let earlier = match ctx.store.inbox_outcome(&entry.message_key).await? {
                    Some(outcome) => Some(outcome),
                    None => self.outcomes.get(&entry.message_key).copied(),
                };
                if !self.seen.insert(entry.message_key.clone()) || earlier.is_some() {
                    report.tenant = Some(policy.tenant.slug.clone());
                    report.outcome = InboxOutcome::Duplicate;
                    report.earlier = earlier;
                    report.reason = "this message was processed before".into();
                    self.emit(report);
                    continue;
                }
            }
            self.for_tenant(&mail, policy, address, entry, report, now)
                .await?;
        }
        Ok(())
    }

    /// One message at one tenant: classify, verify the sender, apply, answer.
    #[allow(clippy::too_many_arguments)]
    async fn for_tenant(
        &mut self,
        mail: &Arc<ParsedMail>,
        policy: &'a Policy,
        address: String,
        mut entry: InboxEntry,
        mut report: MessageReport,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let ctx = self.ctx;
        let tenant = policy.tenant.slug.clone();
        entry.tenant = Some(tenant.clone());
        entry.address = Some(address.clone());
        report.tenant = Some(tenant.clone());
        let classification = classify(&mail.subject, &mail.text);
        let received = mail.received.unwrap_or(now);
        let (mut outcome, mut effect) = effect_of(ctx, policy, classification.intent, received)?;
        report.reason = classification.reason.clone();
        let from = mail.from.clone().unwrap_or_default();
        let keep_for_human = |entry: &mut InboxEntry| {
            entry.sender = mail.from.clone();
            entry.subject = Some(mail.subject.chars().take(200).collect());
        };
        // Mail from the tenant's own domain is a colleague's forward or a test, whatever its
        // wording: a human looks at it before anything is done or filed away.
        if domain_of(&from).is_some_and(|d| own_domains(policy).contains(&d)) {
            report.outcome = InboxOutcome::Review;
            report.reason = "sent from the tenant's own domain (a forward by staff?)".into();
            keep_for_human(&mut entry);
            self.record(entry, IntakeEffect::Nothing, report, None);
            return Ok(());
        }
        // A reply with the code of a confirmation request: the person confirms what was asked
        // in their name. Whoever has the code read the mail it went to, the address on file.
        // Such a message is looked up and recorded after everything before it is committed.
        if !find_codes(&format!("{}\n{}", mail.subject, mail.text)).is_empty() {
            self.commit().await?;
        }
        if let Some(found) = confirmation_in(ctx, mail, &tenant).await? {
            let key = entry.message_key.clone();
            let report = self
                .confirmed_by_mail(mail, policy, address, entry, report, found, now)
                .await?;
            if !self.settings.dry_run {
                self.outcomes.insert(key, report.outcome);
            }
            self.emit(report);
            return Ok(());
        }
        if outcome == InboxOutcome::NotARequest {
            report.outcome = outcome;
            self.record(entry, effect, report, None);
            return Ok(());
        }
        // Verify the sender before acting on anything: only the office's own receiving servers'
        // Authentication-Results count.
        let sender_check = check_sender(
            &mail.auth_results,
            &policy.identity.trusted_authserv_ids,
            &domain_of(&from).unwrap_or_default(),
        );
        if sender_check == SenderCheck::DmarcFailed {
            outcome = InboxOutcome::Review;
            effect = IntakeEffect::Nothing;
            report.reason =
                "the sender's domain failed DMARC at our receiving server (possibly forged)".into();
        }
        let key = ctx.store.pseudonym_key().await?;
        let subject_ref = SubjectRef::for_email(&key, &from);
        self.before_looking_up(&subject_ref).await?;
        if outcome != InboxOutcome::Review {
            let known = !from.is_empty()
                && !ctx
                    .store
                    .find_subjects(&SubjectQuery::Ref(subject_ref.clone()), Some(&tenant))
                    .await?
                    .is_empty();
            if !known {
                outcome = InboxOutcome::Unmatched;
                effect = IntakeEffect::Nothing;
                report.reason = format!(
                    "{}; the sender is not a known person of {tenant}",
                    report.reason
                );
            }
        }
        // The address is the person's; unless a trusted server proved that the mail comes from
        // it, nothing happens before the person confirms.
        let mut confirmation = None;
        // An objection only opens a request that the DPO decides (`requests close`), and
        // changes nothing before; it needs no confirmation of the sender first.
        if outcome.is_applied() && outcome != InboxOutcome::ObjectionRequest {
            match sender_check {
                SenderCheck::Proven(how) => entry.identity = Some(how),
                _ => {
                    let (code, code_hash) = super::identity::new_code(ctx).await?;
                    let expires_at = super::identity::valid_until(policy, now);
                    effect = IntakeEffect::RequestConfirmation {
                        asked: outcome,
                        code_hash,
                        expires_at,
                    };
                    report.reason = format!(
                        "{}; the sender is not proven by a trusted server: confirmation requested",
                        report.reason
                    );
                    outcome = InboxOutcome::ConfirmationRequested;
                    confirmation = Some((code, expires_at));
                }
            }
        }
        if matches!(outcome, InboxOutcome::Review | InboxOutcome::Unmatched) {
            keep_for_human(&mut entry);
        } else {
            entry.subject_ref = Some(subject_ref.clone());
        }
        report.outcome = outcome;
        let cancelled = to_be_cancelled(ctx, &effect, &subject_ref, &tenant, now).await?;
        let reply = Reply {
            mail: Arc::clone(mail),
            policy,
            address,
            cancelled,
            confirmation,
            public_url: self.settings.public_url.map(str::to_owned),
        };
        self.record(entry, effect, report, Some(reply));
        Ok(())
    }

    /// A reply that carries a confirmation code: applies what was asked, once, with the
    /// identity `confirmed_by_mail`; a code used already or expired goes to a human. Recorded
    /// at once, on its own (the queue is committed before it is looked up).
    #[allow(clippy::too_many_arguments)]
    async fn confirmed_by_mail(
        &mut self,
        mail: &Arc<ParsedMail>,
        policy: &'a Policy,
        address: String,
        mut entry: InboxEntry,
        mut report: MessageReport,
        found: crate::store::Confirmation,
        now: DateTime<Utc>,
    ) -> Result<MessageReport> {
        let ctx = self.ctx;
        let settings = self.settings;
        let pending = found.status == "pending" && found.expires_at > now;
        let Some(subject_ref) = found.subject_ref.clone().filter(|_| pending) else {
            report.outcome = InboxOutcome::Review;
            report.reason = "a confirmation code that was used already or has expired".into();
            entry.sender = mail.from.clone();
            entry.subject = Some(mail.subject.chars().take(200).collect());
            return record_now(ctx, settings, entry, IntakeEffect::Nothing, report, None).await;
        };
        let (outcome, effect) = effect_of(ctx, policy, intent_of(found.asked), found.received_at)?;
        entry.received_at = Some(found.received_at);
        entry.subject_ref = Some(subject_ref.clone());
        entry.identity = Some(IdentityCheck::ConfirmedByMail);
        entry.confirms = Some(found.id);
        report.outcome = outcome;
        report.reason = format!("confirmed by reply with the code (request of {})", {
            let tz = policy.tenant.zone();
            local_date_de(tz, found.received_at)
        });
        let cancelled =
            to_be_cancelled(ctx, &effect, &subject_ref, &policy.tenant.slug, now).await?;
        let reply = Reply {
            mail: Arc::clone(mail),
            policy,
            address,
            cancelled,
            confirmation: None,
            public_url: None,
        };
        let fallback = (entry.clone(), report.clone());
        match record_now(ctx, settings, entry, effect, report, Some(reply)).await {
            Err(e)
                if matches!(
                    e.downcast_ref::<crate::store::StoreError>(),
                    Some(crate::store::StoreError::Conflict(_))
                ) =>
            {
                // Confirmed (or expired) beside this run: this message changes nothing.
                let (mut entry, mut report) = fallback;
                entry.confirms = None;
                entry.identity = None;
                entry.subject_ref = None;
                entry.sender = mail.from.clone();
                entry.subject = Some(mail.subject.chars().take(200).collect());
                report.outcome = InboxOutcome::Review;
                report.reason = "a confirmation code that was used already or has expired".into();
                record_now(ctx, settings, entry, IntakeEffect::Nothing, report, None).await
            }
            other => other,
        }
    }
}

fn log_outcome(report: &MessageReport) {
    if report.outcome != InboxOutcome::Duplicate {
        tracing::info!("{}: {}", report.origin, report.outcome);
    }
}

/// The confirmation request at this tenant whose code the message carries, if any.
async fn confirmation_in(
    ctx: &Context,
    mail: &ParsedMail,
    tenant: &str,
) -> Result<Option<crate::store::Confirmation>> {
    let codes = find_codes(&format!("{}\n{}", mail.subject, mail.text));
    if codes.is_empty() {
        return Ok(None);
    }
    let key = ctx.store.pseudonym_key().await?;
    for code in codes {
        let Some(hash) = code_hash(&key, &code) else {
            continue;
        };
        if let Some(c) = ctx.store.confirmation(&hash).await?
            && c.tenant == tenant
            && same_hash(&c.code_hash, &hash)
        {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Appointments a withdrawal would cancel, for the reply; narrowed to what the erasure
/// really cancelled once it has run (a hold keeps them).
async fn to_be_cancelled(
    ctx: &Context,
    effect: &IntakeEffect,
    subject_ref: &SubjectRef,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String, DateTime<Utc>)>> {
    Ok(match effect {
        IntakeEffect::Withdraw { erase: Some(_), .. } => ctx
            .store
            .booked(subject_ref, tenant)
            .await?
            .into_iter()
            .filter(|(_, _, start)| *start > now)
            .collect(),
        _ => Vec::new(),
    })
}

struct Reply<'a> {
    mail: Arc<ParsedMail>,
    policy: &'a Policy,
    /// The withdrawal address the message came to; the answer comes from it.
    address: String,
    /// (reference, service, start) of the future bookings the withdrawal cancels.
    cancelled: Vec<(String, String, DateTime<Utc>)>,
    /// For a confirmation request: the code and until when it is valid.
    confirmation: Option<(String, DateTime<Utc>)>,
    /// Base URL of the citizen pages, for the confirmation link.
    public_url: Option<String>,
}

/// Records one message with its effect in its own transaction, then writes its reply.
async fn record_now(
    ctx: &Context,
    settings: Settings<'_>,
    mut entry: InboxEntry,
    effect: IntakeEffect,
    mut report: MessageReport,
    reply: Option<Reply<'_>>,
) -> Result<MessageReport> {
    entry.outcome = report.outcome.to_owned();
    entry.reason = Some(report.reason.chars().take(500).collect());
    if settings.dry_run {
        return Ok(report);
    }
    let outcome = report.outcome;
    let answered = outcome.is_applied() || outcome == InboxOutcome::ConfirmationRequested;
    let render = |result: &IntakeResult| {
        reply
            .as_ref()
            .filter(|_| answered)
            .map(|r| render_reply(r, outcome, result, &effect))
    };
    let result = ctx
        .store
        .record_message(&entry, &effect, &render, &ctx.audit())
        .await?;
    if !result.recorded {
        report.outcome = InboxOutcome::Duplicate;
        report.reason = "this message was processed before".into();
        return Ok(report);
    }
    report.request_id = result.request_id;
    report.consents_withdrawn = result.consents_withdrawn;
    report.bookings_cancelled = result.erasure.as_ref().map_or(0, |e| {
        e.counts.iter().map(|(_, c)| c.bookings_cancelled).sum()
    });
    if let Some(pending) = &result.reply {
        report.reply = Some(write_pending(ctx, settings.outbox, pending).await?);
    }
    Ok(report)
}

/// The text of the reply to a withdrawal or request, rendered inside its transaction from
/// what that transaction did; the same for a mail, a letter, a call and the citizen page.
fn reply_body(
    reply: &Reply<'_>,
    outcome: InboxOutcome,
    result: &IntakeResult,
    effect: &IntakeEffect,
) -> String {
    // What a hold or restriction kept was not cancelled: a person on hold keeps all
    // (`what` = "all"), a held booking keeps that booking.
    let mut cancelled = reply.cancelled.clone();
    if let Some(erasure) = &result.erasure {
        cancelled.retain(|(reference, _, _)| {
            !erasure
                .kept
                .iter()
                .any(|k| k.what == "all" || k.what == *reference)
        });
    }
    let t = &reply.policy.tenant;
    let tz = t.zone();
    let received = reply.mail.received.unwrap_or_else(crate::domain::time::now);
    let date = local_date_de(tz, received);
    let mut body = String::from("Guten Tag,\n\n");
    match (outcome, effect) {
        (InboxOutcome::Withdrawn, IntakeEffect::Withdraw { erase, .. }) => {
            body.push_str(&format!(
                "wir haben Ihren Widerruf vom {date} erhalten und umgesetzt: Ihre Einwilligungen in die \
                 Verarbeitung Ihrer Daten bei der Online-Terminvergabe enden mit Wirkung für die Zukunft \
                 (Art. 7 Abs. 3 DSGVO).\n\n"
            ));
            for (_, service, at) in &cancelled {
                body.push_str(&format!(
                    "Ihr Termin „{service}“ am {} wurde abgesagt.\n",
                    appointment_de(tz, *at)
                ));
            }
            if !cancelled.is_empty() {
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
                    "Ihre gebuchten Termine bleiben bestehen; sie beruhen nicht auf Ihrer Einwilligung.",
                );
                if reply.policy.purpose(SMS_PURPOSE).is_some() {
                    body.push_str(
                        " Freiwillige Zusatzleistungen wie die SMS-Erinnerung erhalten Sie nicht mehr.",
                    );
                }
                body.push_str("\n\n");
            }
        }
        // Only what happened is said: a tenant without SMS reminders never had a consent
        // to them, and a person who never gave one has none that could end.
        (InboxOutcome::SmsWithdrawn, _) if reply.policy.purpose(SMS_PURPOSE).is_none() => {
            body.push_str(&format!(
                "wir haben Ihre Nachricht vom {date} erhalten. Die {} versendet bei der \
                 Online-Terminvergabe keine SMS-Erinnerungen; eine Einwilligung dazu liegt uns \
                 nicht vor, und Sie erhalten von uns keine SMS. Ihre Termine bleiben bestehen.\n\n",
                t.name
            ))
        }
        (InboxOutcome::SmsWithdrawn, _) if result.consents_withdrawn == 0 => {
            body.push_str(&format!(
                "wir haben Ihre Nachricht vom {date} erhalten. Eine Einwilligung in SMS-Erinnerungen \
                 liegt uns von Ihnen nicht (mehr) vor; Sie erhalten keine SMS-Erinnerungen. \
                 Ihre Termine bleiben bestehen.\n\n"
            ))
        }
        (InboxOutcome::SmsWithdrawn, _) => body.push_str(&format!(
            "wir haben Ihren Widerruf vom {date} erhalten: Sie erhalten keine SMS-Erinnerungen mehr, \
             Ihre Einwilligung dazu endet mit Wirkung für die Zukunft. Ihre Termine bleiben bestehen.\n\n"
        )),
        (kind, IntakeEffect::OpenRequest { due_on, .. }) => {
            let what = match kind {
                InboxOutcome::AccessRequest => {
                    "Antrag auf Auskunft über Ihre personenbezogenen Daten (Art. 15 DSGVO)"
                }
                InboxOutcome::ObjectionRequest => {
                    "Widerspruch gegen die Verarbeitung Ihrer personenbezogenen Daten (Art. 21 DSGVO)"
                }
                _ => "Antrag auf Löschung Ihrer personenbezogenen Daten (Art. 17 DSGVO)",
            };
            body.push_str(&format!(
                "wir haben Ihren {what} am {date} erhalten und unter der Nummer {} erfasst. \
                 Wir beantworten ihn spätestens bis zum {} (Art. 12 Abs. 3 DSGVO).\n\n",
                result.request_id.unwrap_or_default(),
                date_de(*due_on)
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
    body
}

/// The reply as an `.eml` for the outbox: the text of [`reply_body`], answering the message;
/// or, where the sender must first confirm, the confirmation request with its code.
fn render_reply(
    reply: &Reply<'_>,
    outcome: InboxOutcome,
    result: &IntakeResult,
    effect: &IntakeEffect,
) -> NewReply {
    if let (
        InboxOutcome::ConfirmationRequested,
        IntakeEffect::RequestConfirmation { asked, .. },
        Some((code, expires_at)),
    ) = (outcome, effect, &reply.confirmation)
    {
        let t = &reply.policy.tenant;
        let received = reply.mail.received.unwrap_or_else(crate::domain::time::now);
        let link = super::identity::confirmation_link(reply.public_url.as_deref(), &t.slug, code);
        let body = super::identity::confirmation_body(
            reply.policy,
            *asked,
            received,
            code,
            &link,
            *expires_at,
            &reply.address,
        );
        let subject = super::identity::confirmation_subject(code);
        return reply_file(reply, &subject, &body);
    }
    let body = reply_body(reply, outcome, result, effect);
    let subject = reply.mail.subject.clone();
    reply_file(reply, &subject, &body)
}

/// The reply as a file for the outbox: its name and the `.eml` text.
fn reply_file(reply: &Reply<'_>, subject: &str, body: &str) -> NewReply {
    let now = crate::domain::time::now();
    let from = reply.mail.from.clone().unwrap_or_default();
    let eml = mail::reply_eml(&reply.address, &from, &reply.mail, subject, body, now);
    let name = format!(
        "{}-{}.eml",
        now.format("%Y%m%dT%H%M%SZ"),
        &hex::encode(Sha256::digest(reply.mail.key.as_bytes()))[..12]
    );
    NewReply {
        file_name: name,
        eml,
    }
}

/// Removes the temporary files (`.NAME.PID.tmp`) that a run killed while writing a reply left
/// in the outbox: they hold a reply's text, i.e. personal data, and the reply itself is
/// still pending in the database and written again. A file of a process that still runs (a
/// concurrent import) is left alone; where the process cannot be checked (no `/proc`), a
/// file is taken as stale after an hour. Returns how many were removed.
fn remove_stale_temp_files(outbox: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return 0;
    };
    let can_check_pids = Path::new("/proc/self").exists();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let stale = if can_check_pids {
            pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600))
        };
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Messages a human must look at: review, unmatched, unreadable.
pub async fn review(ctx: &Context) -> Result<Vec<crate::store::InboxItem>> {
    Ok(ctx.store.inbox_items(InboxOutcome::NEEDS_A_HUMAN).await?)
}

#[derive(Clone, Debug, Serialize)]
pub struct Resolution {
    pub message_key: String,
    pub outcome: InboxOutcome,
    pub tenant: Option<String>,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub reply: Option<PathBuf>,
    /// Replies an earlier run committed but did not write, written now.
    pub replies_recovered: usize,
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
    let decisions = || {
        let all: Vec<&str> = InboxOutcome::DECISIONS.iter().map(|d| d.as_str()).collect();
        format!("--as {decision}: use one of {}", all.join(", "))
    };
    let decided: InboxOutcome = decision
        .parse()
        .map_err(|_| Refusal::InvalidInput(decisions()))?;
    let intent = match decided {
        InboxOutcome::Withdrawn => Intent::Withdrawal,
        InboxOutcome::SmsWithdrawn => Intent::SmsWithdrawal,
        InboxOutcome::AccessRequest => Intent::AccessRequest,
        InboxOutcome::ErasureRequest => Intent::ErasureRequest,
        InboxOutcome::ObjectionRequest => Intent::ObjectionRequest,
        InboxOutcome::NotARequest => Intent::NotARequest,
        _ => return Err(Refusal::InvalidInput(decisions()).into()),
    };
    // Replies an earlier run left pending go out first, into this outbox.
    let replies_recovered = flush_pending(ctx, outbox).await?;
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
        None => (InboxOutcome::NotARequest, IntakeEffect::Nothing),
    };
    let subject_ref = match &email {
        Some(e) => Some(SubjectRef::for_email(&ctx.store.pseudonym_key().await?, e)),
        None => None,
    };
    // The original is not kept: answer with what the register knows of it.
    let original = email.as_ref().map(|email| {
        Arc::new(ParsedMail {
            message_id: (!message_key.starts_with("sha256:")).then(|| message_key.to_owned()),
            key: message_key.to_owned(),
            from: Some(email.clone()),
            recipients: Vec::new(),
            subject: item.subject.clone().unwrap_or_default(),
            text: String::new(),
            received: item.received_at,
            in_reply_to_id: None,
            auth_results: Vec::new(),
            references: Vec::new(),
        })
    });
    let reply = match (policy, &original) {
        (Some(policy), Some(original)) if outcome != InboxOutcome::NotARequest => {
            // Before the decision is committed: its reply must have a place to go.
            create_outbox(outbox)?;
            // The reply comes from the address the message reached.
            let address = item
                .address
                .clone()
                .or_else(|| policy.tenant.withdrawal_addresses.first().cloned())
                .unwrap_or_else(|| policy.tenant.email.clone());
            Some(Reply {
                mail: Arc::clone(original),
                policy,
                address,
                cancelled: Vec::new(),
                confirmation: None,
                public_url: None,
            })
        }
        _ => None,
    };
    let render = |result: &IntakeResult| {
        reply
            .as_ref()
            .map(|r| render_reply(r, outcome, result, &effect))
    };
    let result = ctx
        .store
        .resolve_message(
            message_key,
            outcome,
            subject_ref.as_ref(),
            &effect,
            &render,
            &ctx.audit(),
        )
        .await?;
    let reply = match &result.reply {
        Some(pending) => Some(write_pending(ctx, outbox, pending).await?),
        None => None,
    };
    Ok(Resolution {
        message_key: message_key.to_owned(),
        outcome: outcome.to_owned(),
        tenant: item.tenant.clone(),
        request_id: result.request_id,
        consents_withdrawn: result.consents_withdrawn,
        reply,
        replies_recovered,
    })
}

/// A withdrawal that reached the office otherwise than by mail: by letter, phone or in
/// person (`withdrawals record`), or on the citizen page with the booking code.
pub struct OtherWithdrawal<'a> {
    pub tenant: &'a str,
    pub email: &'a str,
    pub channel: Channel,
    /// Only the SMS reminders, not every consent.
    pub sms_only: bool,
    /// Where the reply goes now; `None` leaves it pending in the database, and the next
    /// `withdrawals import` or `resolve` writes it into its outbox (the citizen page).
    pub outbox: Option<&'a Path>,
    /// A withdrawal by letter is answered by letter: the reply's text is also written as
    /// a PDF letter (DIN 5008) into this folder.
    pub letters: Option<&'a Path>,
    /// The window's lines for that letter (`--address`); otherwise the name and address
    /// on file.
    pub address: &'a [String],
}

/// What a withdrawal by letter, phone, in person or on the page did.
#[derive(Clone, Debug, Serialize)]
pub struct OtherWithdrawalReport {
    pub tenant: String,
    pub outcome: InboxOutcome,
    pub channel: Channel,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub bookings_cancelled: usize,
    /// The reply written to the outbox, if one was given.
    pub reply: Option<PathBuf>,
    /// The reply as a PDF letter, for a withdrawal by letter.
    pub letter: Option<PathBuf>,
    /// The reply's text, as the page shows it to the citizen.
    #[serde(skip)]
    pub reply_text: String,
}

/// Applies a withdrawal that did not come by mail with the same effects and the same reply
/// as a withdrawal mail: it is recorded like one (key `<channel>:<uuid>`, the channel in
/// the register and on the consents), in one transaction with its effects and its reply.
/// Exit 3 when the tenant holds no data of the person.
pub async fn record_other(ctx: &Context, w: &OtherWithdrawal<'_>) -> Result<OtherWithdrawalReport> {
    let policy = ctx.policies.require(w.tenant)?;
    let email = w.email.trim();
    if !crate::domain::subject::is_email_address(email) {
        return Err(
            Refusal::InvalidInput(format!("--email \"{email}\": not an e-mail address")).into(),
        );
    }
    if w.channel == Channel::Email {
        return Err(Refusal::InvalidInput(
            "--channel email: a withdrawal by e-mail comes through `withdrawals import`; use letter, phone or in-person"
                .into(),
        )
        .into());
    }
    let tenant = policy.tenant.slug.clone();
    let subject_ref = SubjectRef::for_email(&ctx.store.pseudonym_key().await?, email);
    let known = !ctx
        .store
        .find_subjects(&SubjectQuery::Ref(subject_ref.clone()), Some(&tenant))
        .await?
        .is_empty();
    if !known {
        return Err(Refusal::NotFound(format!(
            "no data about this person at {tenant}: nothing to withdraw"
        ))
        .into());
    }
    // The letter's window and its folder before anything changes: the erasure a withdrawal
    // may cause takes the address on file with it.
    let letters = match (w.channel, w.letters) {
        (Channel::Letter, Some(folder)) => {
            let window = if w.address.is_empty() {
                super::letters::window_on_file(ctx, &subject_ref, &tenant).await?
            } else {
                crate::pdf::address_lines(w.address).map_err(Refusal::InvalidInput)?
            };
            super::private_files::create_folder(folder)?;
            Some((folder, window))
        }
        _ => None,
    };
    if let Some(outbox) = w.outbox {
        create_outbox(outbox)?;
        flush_pending(ctx, outbox).await?;
    }
    let now = crate::domain::time::now();
    let intent = if w.sms_only {
        Intent::SmsWithdrawal
    } else {
        Intent::Withdrawal
    };
    let (outcome, effect) = effect_of(ctx, policy, intent, now)?;
    let key = format!("{}:{}", w.channel, uuid::Uuid::new_v4().simple());
    let address = policy
        .tenant
        .withdrawal_addresses
        .first()
        .cloned()
        .unwrap_or_else(|| policy.tenant.email.clone());
    let how = match w.channel {
        Channel::Web => "on the citizen page with the booking code",
        Channel::Letter => "by letter (withdrawals record)",
        Channel::Phone => "by phone (withdrawals record)",
        _ => "in person (withdrawals record)",
    };
    let entry = InboxEntry {
        message_key: key.clone(),
        tenant: Some(tenant.clone()),
        received_at: Some(now),
        processed_at: now,
        outcome,
        subject_ref: Some(subject_ref.clone()),
        sender: None,
        subject: None,
        reason: Some(format!("withdrawal {how}")),
        address: Some(address.clone()),
        channel: w.channel,
        // The office saw a letter or the person; a call or the citizen page proves nothing
        // beyond the booking code.
        identity: match w.channel {
            Channel::Letter => Some(IdentityCheck::Letter),
            Channel::InPerson => Some(IdentityCheck::InPerson),
            _ => None,
        },
        confirms: None,
    };
    // The reply answers no mail: it has the subject a mail would have had.
    let original = Arc::new(ParsedMail {
        message_id: None,
        key,
        from: Some(email.to_owned()),
        recipients: Vec::new(),
        subject: if w.sms_only {
            "Widerruf der Einwilligung in SMS-Erinnerungen".into()
        } else {
            "Widerruf Ihrer Einwilligung".into()
        },
        text: String::new(),
        received: Some(now),
        in_reply_to_id: None,
        auth_results: Vec::new(),
        references: Vec::new(),
    });
    let reply = Reply {
        mail: Arc::clone(&original),
        policy,
        address,
        cancelled: to_be_cancelled(ctx, &effect, &subject_ref, &tenant, now).await?,
        confirmation: None,
        public_url: None,
    };
    let text = std::sync::Mutex::new(String::new());
    let render = |result: &IntakeResult| {
        *text.lock().expect("not poisoned") = reply_body(&reply, outcome, result, &effect);
        Some(render_reply(&reply, outcome, result, &effect))
    };
    let result = ctx
        .store
        .record_message(&entry, &effect, &render, &ctx.audit())
        .await?;
    let reply_path = match (&result.reply, w.outbox) {
        (Some(pending), Some(outbox)) => Some(write_pending(ctx, outbox, pending).await?),
        _ => None,
    };
    let reply_text = text.into_inner().expect("not poisoned");
    let letter = match letters {
        Some((folder, window)) if !reply_text.is_empty() => Some(super::letters::write_reply(
            folder,
            policy,
            result.request_id,
            &original.subject,
            &reply_text,
            window,
            now,
        )?),
        _ => None,
    };
    Ok(OtherWithdrawalReport {
        tenant,
        outcome,
        channel: w.channel,
        request_id: result.request_id,
        consents_withdrawn: result.consents_withdrawn,
        bookings_cancelled: result.erasure.as_ref().map_or(0, |e| {
            e.counts.iter().map(|(_, c)| c.bookings_cancelled).sum()
        }),
        reply: reply_path,
        letter,
        reply_text,
    })
}

/// The citizen page's withdrawal: the booking reference and its code prove the right to
/// withdraw, checked by the one code check of cancelling (same lockout after wrong codes);
/// then the withdrawal is recorded as [`record_other`] does, at the booking's tenant.
pub async fn withdraw_with_code(
    ctx: &Context,
    reference: &str,
    code: &str,
    sms_only: bool,
    now: DateTime<Utc>,
) -> Result<std::result::Result<OtherWithdrawalReport, crate::store::CancelRefusal>> {
    use crate::store::CancelRefusal;
    let reference = reference.trim();
    if reference.is_empty() || reference.len() > 40 || code.trim().is_empty() || code.len() > 40 {
        return Ok(Err(CancelRefusal::NotFound));
    }
    let key = ctx.store.pseudonym_key().await?;
    let hash = crate::domain::booking::code_hash(&key, reference, code);
    let holder = match ctx.store.verify_booking_code(reference, &hash, now).await? {
        Ok(h) => h,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // An anonymized booking has neither person nor code left; treated as unknown.
    let Some(email) = holder.email.filter(|_| holder.subject_ref.is_some()) else {
        return Ok(Err(CancelRefusal::NotFound));
    };
    let report = record_other(
        ctx,
        &OtherWithdrawal {
            tenant: &holder.tenant,
            email: &email,
            channel: Channel::Web,
            sms_only,
            outbox: None,
            letters: None,
            address: &[],
        },
    )
    .await?;
    Ok(Ok(report))
}
