//! `withdrawals import --imap`: the office mailbox read from its IMAP server, each message
//! through the same processing as a Maildir's ([`super::withdrawals`]), and filed away on
//! the server only after its outcome is committed.
//!
//! Order per batch: fetch the bytes (bounded: at most `batch` messages and
//! [`BATCH_BYTES`]), decide each message and commit the batch's records (in transactions of
//! at most [`withdrawals::DEFAULT_BATCH`] messages), then MOVE (or flag) the batch's
//! messages the intake took over, then store the position (UIDVALIDITY, last UID). A run
//! that stops anywhere in between repeats nothing: the next run fetches the messages above
//! the stored position again, finds them recorded (by Message-ID or hash) and only files
//! them away.

use super::withdrawals::{self, ImportReport, Intake, MessageReport, Settings};
use super::{Context, Refusal};
use crate::domain::requests::InboxOutcome;
use crate::mail::RawMessage;
use crate::mail::imap::{self, ImapAccount, ImapConnection, NewMessage};
use crate::store::ImapPosition;
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::path::PathBuf;

/// The processed folder when none is named.
pub const DEFAULT_FOLDER: &str = "datenwart/verarbeitet";
/// The keyword of `--imap-after flag`, and of the originals a server without MOVE keeps.
pub const DEFAULT_KEYWORD: &str = "datenwart-verarbeitet";
/// Messages fetched in one batch unless told.
pub const DEFAULT_BATCH: usize = 100;
/// At most this many bytes of messages are held at once (a batch ends before it would
/// pass them; a single larger message is fetched alone).
pub const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// What happens on the server to a message the intake took over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterImport {
    /// Moved into this folder (`/` between levels), created if missing.
    Move(String),
    /// Left in place with the keyword set.
    Flag,
}

#[derive(Debug)]
pub struct ImapImportOptions {
    pub account: ImapAccount,
    pub after: AfterImport,
    pub keyword: String,
    /// Messages fetched at once.
    pub batch: usize,
    pub outbox: PathBuf,
    /// EXAMINE the mailbox, process nothing for real, file nothing away, store nothing.
    pub dry_run: bool,
    pub public_url: Option<String>,
}

/// What an IMAP import did: the messages as for any source, and the mailbox's side.
#[derive(Clone, Debug, Serialize)]
pub struct ImapImportReport {
    #[serde(flatten)]
    pub import: ImportReport,
    /// The mailbox's UIDVALIDITY now.
    pub uid_validity: u32,
    /// The server had renumbered the mailbox (another UIDVALIDITY than stored): the run
    /// started again from its first message.
    pub restarted: bool,
    /// Messages moved to the folder (or flagged) in this run.
    pub filed_away: usize,
    /// Messages left in the mailbox for the office's normal handling (not_a_request,
    /// not_addressed).
    pub left_in_mailbox: usize,
}

/// Whether the intake took the message over, so it is filed away: everything but mail left
/// for the office's normal handling. A duplicate follows the outcome it was recorded with.
pub fn taken_over(report: &MessageReport) -> bool {
    let outcome = match report.outcome {
        InboxOutcome::Duplicate => report.earlier.unwrap_or(InboxOutcome::Duplicate),
        other => other,
    };
    !matches!(
        outcome,
        InboxOutcome::NotARequest | InboxOutcome::NotAddressed
    )
}

/// Reads the new messages of the mailbox the URL names and gives each its outcome.
pub async fn import(ctx: &Context, opts: &ImapImportOptions) -> Result<ImapImportReport> {
    if let AfterImport::Move(folder) = &opts.after {
        imap::check_mailbox_name(folder)
            .map_err(|e| Refusal::InvalidInput(format!("--imap-folder: {e}")))?;
        if folder.eq_ignore_ascii_case(&opts.account.url.mailbox) {
            return Err(Refusal::InvalidInput(format!(
                "--imap-folder {folder}: that is the mailbox read; name another folder"
            ))
            .into());
        }
    }
    imap::check_keyword(&opts.keyword)
        .map_err(|e| Refusal::InvalidInput(format!("--imap-keyword: {e}")))?;
    if opts.batch == 0 {
        return Err(Refusal::InvalidInput("--imap-batch must be at least 1".into()).into());
    }
    let url = &opts.account.url;
    let account = url.account();
    // Connect and log in first: a server that cannot be reached or refuses the login
    // stops the run before anything is changed.
    let (mut connection, state) = ImapConnection::open(&opts.account, opts.dry_run).await?;
    let settings = Settings {
        outbox: &opts.outbox,
        dry_run: opts.dry_run,
        public_url: opts.public_url.as_deref(),
    };
    let result = run(ctx, opts, settings, &mut connection, &account, state).await;
    connection.logout().await;
    result
}

async fn run(
    ctx: &Context,
    opts: &ImapImportOptions,
    settings: Settings<'_>,
    connection: &mut ImapConnection,
    account: &str,
    state: imap::MailboxState,
) -> Result<ImapImportReport> {
    let mailbox = opts.account.url.mailbox.clone();
    let keyword_ok = state.keeps_keywords;
    if opts.after == AfterImport::Flag && !keyword_ok && !opts.dry_run {
        return Err(Refusal::InvalidInput(format!(
            "--imap-after flag: the server keeps no keywords of its own in {mailbox}; use --imap-after move"
        ))
        .into());
    }
    let stored = ctx.store.imap_position(account, &mailbox).await?;
    let restarted = stored.is_some_and(|p| p.uid_validity != state.uid_validity);
    let start_after = match stored {
        Some(p) if !restarted => p.last_uid,
        Some(p) => {
            tracing::warn!(
                "the server renumbered {mailbox} (UIDVALIDITY {} instead of {}): reading it again from its first message; what was processed before is recognised as a duplicate",
                state.uid_validity,
                p.uid_validity
            );
            0
        }
        None => 0,
    };
    let mut report = withdrawals::begin(ctx, settings).await?;
    if !opts.dry_run {
        // The new UIDVALIDITY is stored before the first message: a run that stops now
        // does not compare the next run's UIDs with the old numbering.
        ctx.store
            .advance_imap_position(
                account,
                &mailbox,
                ImapPosition {
                    uid_validity: state.uid_validity,
                    last_uid: start_after,
                },
                crate::domain::time::now(),
                &ctx.audit(),
            )
            .await?;
        if let AfterImport::Move(folder) = &opts.after {
            connection.ensure_folder(folder).await?;
        }
        if matches!(opts.after, AfterImport::Move(_)) && !connection.can_move() {
            tracing::warn!(
                "the server has no MOVE: processed messages are copied to the folder and keep their place in {mailbox}{}",
                if keyword_ok {
                    format!(" with the keyword {}", opts.keyword)
                } else {
                    String::new()
                }
            );
        }
    }
    let new = connection.new_messages(start_after).await?;
    tracing::info!("{} new message(s) in {mailbox}", new.len());
    // Each fetched batch is committed (in transactions of at most DEFAULT_BATCH messages)
    // before any of its messages is filed away.
    let mut intake = Intake::new(ctx, settings, opts.batch.min(withdrawals::DEFAULT_BATCH));
    let mut filed_away = 0;
    let mut left_in_mailbox = 0;
    for batch in batches(&new, opts.batch, BATCH_BYTES) {
        let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
        let fetched = connection.fetch(&uids).await?;
        let (order, raws): (Vec<u32>, Vec<RawMessage>) = fetched
            .into_iter()
            .map(|(uid, bytes)| {
                let origin = format!("imap:{mailbox}#{uid}");
                (uid, RawMessage { origin, bytes })
            })
            .unzip();
        intake.push_all(&raws).await?;
        intake.commit().await?;
        let mut to_file = Vec::new();
        for (uid, found) in order.into_iter().zip(intake.take_reports()) {
            if found.iter().any(taken_over) {
                to_file.push(uid);
            } else {
                left_in_mailbox += 1;
            }
            report.messages.extend(found);
        }
        if opts.dry_run {
            continue;
        }
        // Only now, with every outcome of the batch committed, do the messages leave.
        match &opts.after {
            AfterImport::Move(folder) => {
                connection.move_to(&to_file, folder).await?;
                // Without MOVE the originals stay: the keyword shows they were handled.
                if !connection.can_move() && keyword_ok {
                    connection.flag(&to_file, &opts.keyword).await?;
                }
            }
            AfterImport::Flag => connection.flag(&to_file, &opts.keyword).await?,
        }
        filed_away += to_file.len();
        let last = uids.iter().copied().max().unwrap_or(start_after);
        ctx.store
            .advance_imap_position(
                account,
                &mailbox,
                ImapPosition {
                    uid_validity: state.uid_validity,
                    last_uid: last,
                },
                crate::domain::time::now(),
                &ctx.audit(),
            )
            .await
            .context("the messages were processed and filed away, but the position could not be stored; the next run finds them as duplicates")?;
    }
    intake.finish().await?;
    Ok(ImapImportReport {
        import: report,
        uid_validity: state.uid_validity,
        restarted,
        filed_away,
        left_in_mailbox,
    })
}

/// Splits the new messages into batches of at most `count` messages and `bytes` bytes (a
/// message larger than `bytes` is a batch of its own).
fn batches(messages: &[NewMessage], count: usize, bytes: u64) -> Vec<&[NewMessage]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < messages.len() {
        let mut end = start;
        let mut size = 0u64;
        while end < messages.len() && end - start < count {
            let next = u64::from(messages[end].size);
            if end > start && size + next > bytes {
                break;
            }
            size += next;
            end += 1;
        }
        out.push(&messages[start..end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(uid: u32, size: u32) -> NewMessage {
        NewMessage { uid, size }
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let all = [m(1, 10), m(2, 10), m(3, 10), m(4, 100), m(5, 10)];
        let sizes = |b: Vec<&[NewMessage]>| b.iter().map(|b| b.len()).collect::<Vec<_>>();
        assert_eq!(sizes(batches(&all, 2, 1000)), vec![2, 2, 1]);
        assert_eq!(sizes(batches(&all, 10, 50)), vec![3, 1, 1]);
        assert_eq!(sizes(batches(&all, 10, 5)), vec![1, 1, 1, 1, 1]);
        assert!(batches(&[], 10, 50).is_empty());
    }

    #[test]
    fn mail_for_normal_handling_stays_and_a_duplicate_follows_its_first_outcome() {
        let report = |outcome, earlier| MessageReport {
            origin: String::new(),
            message_id: None,
            outcome,
            tenant: None,
            request_id: None,
            consents_withdrawn: 0,
            bookings_cancelled: 0,
            reason: String::new(),
            reply: None,
            earlier,
        };
        assert!(taken_over(&report(InboxOutcome::Withdrawn, None)));
        assert!(taken_over(&report(InboxOutcome::Review, None)));
        assert!(!taken_over(&report(InboxOutcome::NotARequest, None)));
        assert!(!taken_over(&report(InboxOutcome::NotAddressed, None)));
        assert!(taken_over(&report(
            InboxOutcome::Duplicate,
            Some(InboxOutcome::AccessRequest)
        )));
        assert!(!taken_over(&report(
            InboxOutcome::Duplicate,
            Some(InboxOutcome::NotARequest)
        )));
    }
}
