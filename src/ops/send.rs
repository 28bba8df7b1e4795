//! `datenwart send`: delivers the queued notifications, each once — e-mail over SMTP,
//! SMS through the configured gateway (LOX24).
//!
//! Claimed, sent, marked — in that order. A message is claimed for this run (with its
//! Message-ID fixed at the first claim) before it is sent, and marked sent only once the
//! server took it. A run that dies between the server's answer and the mark leaves the
//! claim to expire; the next run sends the message again with the same Message-ID, so it
//! goes out at most twice and the receiving side can drop the copy (an SMS carries that
//! id to the gateway as its `callback_data`). A channel without a configured transport is
//! left alone: its messages stay queued and the report says so.

use super::Context;
use crate::domain::audit::AuditEvent;
use crate::domain::delivery::{self, CLAIM_LEASE, Channel, ErrorClass, LEASE_MARGIN};
use crate::domain::policy::{Handover, Policy};
use crate::domain::sms;
use crate::domain::time::now;
use crate::mail::outgoing::{self, ComposeError};
use crate::mail::smtp::Mailer;
use crate::sms::{OutgoingSms, SmsGateway};
use crate::store::{Attempt, Backlog, Claim, DisclosedTo, Outgoing};
use anyhow::Context as _;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Messages claimed at a time: few, so a run's claim is short and others can take the rest.
const BATCH: i64 = 20;

/// The SMS side of a run: the gateway, and the sender name every SMS shows (by default
/// one made from each tenant's name).
#[derive(Clone)]
pub struct SmsSetup {
    pub gateway: Arc<dyn SmsGateway>,
    pub sender: Option<String>,
}

pub struct SendRequest<'a> {
    /// The SMTP server; without it e-mail stays queued.
    pub mailer: Option<&'a Mailer>,
    /// The SMS gateway; without it SMS stay queued.
    pub sms: Option<&'a SmsSetup>,
    /// Base of the citizen pages for the cancel link (`--public-url`).
    pub public_url: Option<String>,
    /// At most this many messages in this run.
    pub max: Option<u64>,
}

/// What one channel's part of a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChannelCounts {
    pub sent: u64,
    pub retry_later: u64,
    pub failed: u64,
}

/// What one run did: counts and ids, never an address, a number or a text.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SendReport {
    pub worker: String,
    pub sent: u64,
    /// Failed for now; tried again by a later run.
    pub retry_later: u64,
    /// Failed for good (5xx, an unusable address or number, or the last attempt).
    pub failed: u64,
    /// Confirmations and reminders not sent because their appointment was cancelled or
    /// has begun.
    pub dropped: u64,
    /// Claimed and not tried (the run stopped); free for the next run.
    pub released: u64,
    pub failed_ids: Vec<i64>,
    /// Why the run stopped early, if it did (the server or gateway went away).
    pub stopped: Option<String>,
    /// The SMS among `sent`, `retry_later` and `failed`.
    pub sms: ChannelCounts,
    /// Whether e-mail and SMS were delivered in this run (a transport was configured).
    pub email_configured: bool,
    pub sms_configured: bool,
    /// What waits, as counted before the run.
    pub backlog: Backlog,
}

impl SendReport {
    pub fn attempted(&self) -> u64 {
        self.sent + self.retry_later + self.failed + self.dropped
    }

    fn count(&mut self, channel: Channel, id: i64, outcome: &Attempt) {
        let sms = channel == Channel::Sms;
        match outcome {
            Attempt::Sent { .. } => {
                self.sent += 1;
                self.sms.sent += u64::from(sms);
            }
            Attempt::Dropped => self.dropped += 1,
            Attempt::Failed { next: Some(_), .. } => {
                self.retry_later += 1;
                self.sms.retry_later += u64::from(sms);
            }
            Attempt::Failed { next: None, .. } => {
                self.failed += 1;
                self.sms.failed += u64::from(sms);
                self.failed_ids.push(id);
            }
        }
    }

    fn stop(&mut self, why: String) {
        self.stopped = Some(match self.stopped.take() {
            Some(before) => format!("{before}; {why}"),
            None => why,
        });
    }
}

/// Delivers what is due now on each configured channel. Connects first: a server or
/// gateway that cannot be reached, or refuses the login, is an error, and nothing is
/// claimed.
pub async fn run(ctx: &Context, req: &SendRequest<'_>) -> anyhow::Result<SendReport> {
    let worker = format!(
        "send:{}:{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut report = SendReport {
        worker: worker.clone(),
        backlog: ctx.store.delivery_backlog(now()).await?,
        email_configured: req.mailer.is_some(),
        sms_configured: req.sms.is_some(),
        ..SendReport::default()
    };
    let email = req.mailer.filter(|_| report.backlog.due > 0);
    let sms = req.sms.filter(|_| report.backlog.sms_due > 0);
    if email.is_none() && sms.is_none() {
        return Ok(report);
    }
    let tenants = senders(ctx);
    if let Some(mailer) = email {
        mailer.check().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot deliver through {}: {}; nothing was sent",
                mailer.url(),
                e.detail
            )
        })?;
    }
    if let Some(setup) = sms {
        setup.gateway.check().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot deliver SMS through {}: {}; nothing was sent",
                setup.gateway.describe(),
                e.detail
            )
        })?;
    }
    if email.is_some() {
        deliver(ctx, req, Channel::Email, &tenants, &mut report).await?;
    }
    if sms.is_some() {
        deliver(ctx, req, Channel::Sms, &tenants, &mut report).await?;
    }

    let details = serde_json::json!({
        "worker": report.worker,
        "smtp": req.mailer.map(|m| m.url().to_string()),
        "sms_gateway": req.sms.map(|s| s.gateway.describe()),
        "sent": report.sent,
        "retry_later": report.retry_later,
        "failed": report.failed,
        "failed_ids": report.failed_ids,
        "dropped": report.dropped,
        "released": report.released,
        "sms": report.sms,
        "held": report.backlog.held + report.backlog.sms_held,
    });
    ctx.store
        .record_audit(AuditEvent::new("notifications.send", details), &ctx.audit())
        .await?;
    Ok(report)
}

/// Claims and delivers the due messages of one channel, batch by batch, until none is
/// left, the run's `max` is reached, or the transport went away.
async fn deliver(
    ctx: &Context,
    req: &SendRequest<'_>,
    channel: Channel,
    tenants: &BTreeMap<String, String>,
    report: &mut SendReport,
) -> anyhow::Result<()> {
    let worker = report.worker.clone();
    let max = req.max.unwrap_or(u64::MAX);
    'run: while report.attempted() < max {
        let started = now();
        let claim = Claim {
            channel,
            worker: worker.clone(),
            now: started,
            until: started + CLAIM_LEASE,
            limit: BATCH.min(i64::try_from(max - report.attempted()).unwrap_or(BATCH)),
            sender_domains: tenants.clone(),
        };
        let batch = ctx.store.claim_notifications(&claim).await?;
        if batch.is_empty() {
            break;
        }
        // E-mails go out a few at a time (one SMTP connection each); SMS one by one, so
        // that a gateway refusing the account stops the rest at once. The outcomes are
        // marked together once the batch's answers are in — one transaction, not one per
        // message. A run killed before that mark sends these messages once more, with
        // their Message-IDs, as it would one message.
        let parallel = match channel {
            Channel::Email => crate::mail::smtp::PARALLEL,
            Channel::Sms => 1,
        };
        let lease_end = claim.until - LEASE_MARGIN;
        let mut waiting = batch.iter();
        let mut in_flight = FuturesUnordered::new();
        let mut outcomes: Vec<(i64, Attempt)> = Vec::with_capacity(batch.len());
        let mut stopped = false;
        loop {
            // Start more while there is room — not after the transport went away, nor
            // when another run may take the rest over soon (what is not started is
            // released below for the next run).
            while in_flight.len() < parallel && !stopped && now() <= lease_end {
                let Some(n) = waiting.next() else { break };
                in_flight.push(attempt(ctx, req, channel, n));
            }
            let Some((n, outcome, stop)) = in_flight.next().await else {
                break;
            };
            report.count(channel, n.id, &outcome);
            outcomes.push((n.id, outcome));
            if stop && !stopped {
                stopped = true;
                report.stop(match channel {
                    Channel::Email => {
                        "the SMTP connection failed; the rest waits for the next run".into()
                    }
                    Channel::Sms => {
                        "the SMS gateway failed; the rest of the SMS waits for the next run".into()
                    }
                });
            }
        }
        ctx.store
            .record_attempts(&worker, &outcomes, now())
            .await
            .with_context(|| {
                let ids: Vec<String> = outcomes.iter().map(|(id, _)| id.to_string()).collect();
                format!(
                    "notifications {} were handled but cannot be marked",
                    ids.join(", ")
                )
            })?;
        if stopped {
            break 'run;
        }
        report.released += ctx.store.release_claims(&worker).await?;
    }
    report.released += ctx.store.release_claims(&worker).await?;
    Ok(())
}

/// One attempt on its channel: the message, what became of it, and whether the run's other
/// messages of this channel must wait (the connection or the gateway failed, not this
/// message).
async fn attempt<'a>(
    ctx: &Context,
    req: &SendRequest<'_>,
    channel: Channel,
    n: &'a Outgoing,
) -> (&'a Outgoing, Attempt, bool) {
    match channel {
        Channel::Email => {
            let outcome = attempt_email(ctx, req, n).await;
            let stop = matches!(
                &outcome,
                Attempt::Failed {
                    class: ErrorClass::Connection,
                    ..
                }
            );
            (n, outcome, stop)
        }
        Channel::Sms => {
            let (outcome, stop) = attempt_sms(ctx, req, n).await;
            (n, outcome, stop)
        }
    }
}

/// Tenants with a usable sender address, with its domain. A tenant without one is left
/// out, its messages stay queued, and the log says so.
fn senders(ctx: &Context) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in &ctx.policies.entries {
        let t = &entry.policy.tenant;
        match outgoing::sender_domain(t) {
            Some(domain) => {
                out.insert(t.slug.clone(), domain);
            }
            None => tracing::warn!(
                tenant = %t.slug,
                "tenant.email in the policy is not a usable sender address; its messages stay queued"
            ),
        }
    }
    out
}

/// The failure of attempt `n.attempts` with `class`: tried again later, or for good.
fn failure(n: &Outgoing, class: ErrorClass) -> Attempt {
    Attempt::Failed {
        class,
        next: delivery::next_attempt(class, n.attempts, now()),
    }
}

/// A confirmation or reminder after the appointment (the server was down for days) or of
/// a cancelled one would only confuse.
fn too_late(n: &Outgoing) -> bool {
    matches!(n.kind.as_str(), "confirmation" | "sms_reminder")
        && n.appointment
            .as_ref()
            .is_some_and(|a| a.cancelled || a.starts_at <= now())
}

/// Logs a failed attempt: the notification id, the attempt and the class — never the
/// address, number or text.
fn log_failure(n: &Outgoing, outcome: &Attempt, detail: &str) {
    match outcome {
        Attempt::Failed { next: Some(at), .. } => tracing::warn!(
            notification = n.id,
            attempt = n.attempts,
            "not sent: {detail}; next attempt from {}",
            crate::domain::time::format_instant(at)
        ),
        _ => tracing::warn!(
            notification = n.id,
            attempt = n.attempts,
            "not sent: {detail}; failed for good"
        ),
    }
}

/// One attempt at one e-mail: built, sent, and what became of it.
async fn attempt_email(ctx: &Context, req: &SendRequest<'_>, n: &Outgoing) -> Attempt {
    let (Some(policy), Some(mailer)) = (ctx.policies.get(&n.tenant), req.mailer) else {
        // Claimed only for tenants with a policy, and only with a mailer.
        return failure(n, ErrorClass::Connection);
    };
    if n.kind == "confirmation" && too_late(n) {
        tracing::info!(
            notification = n.id,
            "not sent: the appointment was cancelled or has begun"
        );
        return Attempt::Dropped;
    }
    let composed = match outgoing::compose(n, &policy.tenant, req.public_url.as_deref(), now()) {
        Ok(c) => c,
        Err(e) => {
            let class = match e {
                ComposeError::Recipient | ComposeError::Sender => ErrorClass::Address,
                ComposeError::NoBody | ComposeError::Build(_) => ErrorClass::Permanent,
            };
            tracing::warn!(notification = n.id, "not sent: {e}");
            return failure(n, class);
        }
    };
    match mailer.send(&composed.envelope, &composed.bytes).await {
        Ok(reply) => {
            tracing::info!(notification = n.id, kind = %n.kind, attempt = n.attempts, "sent");
            Attempt::Sent {
                reply,
                disclosed: disclosed_to(policy, &n.kind, Handover::Email),
            }
        }
        Err(e) => {
            let outcome = failure(n, e.class);
            log_failure(n, &outcome, &e.detail);
            outcome
        }
    }
}

/// One attempt at one SMS, and whether the run's other SMS must wait (the gateway or the
/// account failed, not this message).
async fn attempt_sms(ctx: &Context, req: &SendRequest<'_>, n: &Outgoing) -> (Attempt, bool) {
    let (Some(policy), Some(setup)) = (ctx.policies.get(&n.tenant), req.sms) else {
        return (failure(n, ErrorClass::Connection), true);
    };
    if too_late(n) {
        tracing::info!(
            notification = n.id,
            "not sent: the appointment was cancelled or has begun"
        );
        return (Attempt::Dropped, false);
    }
    let to = match sms::e164(n.recipient.as_deref().unwrap_or("")) {
        Ok(to) => to,
        Err(e) => {
            let outcome = failure(n, ErrorClass::Address);
            log_failure(
                n,
                &outcome,
                &format!("the stored phone number is unusable: {e}"),
            );
            return (outcome, false);
        }
    };
    let Some(text) = n.body.as_deref().filter(|t| !t.trim().is_empty()) else {
        let outcome = failure(n, ErrorClass::Permanent);
        log_failure(n, &outcome, "the message has no text");
        return (outcome, false);
    };
    let sender = setup
        .sender
        .clone()
        .unwrap_or_else(|| sms::default_sender(&policy.tenant.name));
    let our_id = n.message_id.trim_start_matches('<').trim_end_matches('>');
    let message = OutgoingSms {
        to: &to,
        text,
        sender: &sender,
        our_id,
    };
    match setup.gateway.send(&message).await {
        Ok(id) => {
            tracing::info!(
                notification = n.id,
                kind = %n.kind,
                attempt = n.attempts,
                segments = sms::segments(text),
                "sent"
            );
            let attempt = Attempt::Sent {
                reply: format!("{}: {}", setup.gateway.describe(), id.0),
                disclosed: disclosed_to(policy, &n.kind, Handover::Sms),
            };
            (attempt, false)
        }
        Err(e) => {
            let outcome = failure(n, e.class);
            log_failure(n, &outcome, &e.detail);
            (outcome, e.stop)
        }
    }
}

/// The recipients a message of this kind, on this channel, is handed to, with the
/// categories of data it carries — from the policy's `recipient.receives` and purposes.
pub fn disclosed_to(policy: &Policy, kind: &str, channel: Handover) -> Vec<DisclosedTo> {
    let categories = disclosed_categories(policy, kind);
    policy
        .recipients
        .iter()
        .filter(|r| {
            r.receives.contains(&channel)
                || (kind == "office_copy" && r.receives.contains(&Handover::OfficeCopy))
        })
        .map(|r| DisclosedTo {
            recipient: r.name.clone(),
            role: r.role.as_str(),
            categories: categories.clone(),
        })
        .collect()
}

/// What a message of this kind carries: the office copy and the SMS reminder what their
/// purposes list; a confirmation or cancellation the booking's name, e-mail, service and
/// slot (not phone, address or birth date); a reply the e-mail address.
fn disclosed_categories(policy: &Policy, kind: &str) -> Vec<String> {
    let of = |purpose: &str| policy.purpose(purpose).map(|p| p.categories.clone());
    let booking = || {
        policy
            .booking_purpose()
            .categories
            .iter()
            .filter(|c| !matches!(c.as_str(), "phone" | "address" | "birth_date"))
            .cloned()
            .collect()
    };
    match kind {
        "office_copy" => of("office_copy").unwrap_or_else(booking),
        "sms_reminder" => of("sms_reminder").unwrap_or_else(|| vec!["phone".into()]),
        "confirmation" | "cancellation" => booking(),
        _ => vec!["email".into()],
    }
}

/// The messages failed for good, newest first (`send --list-failed`).
pub async fn failed(
    ctx: &Context,
    limit: i64,
) -> anyhow::Result<Vec<crate::store::FailedNotification>> {
    Ok(ctx.store.failed_notifications(limit).await?)
}

/// Runs [`run`] every `every` until the task is dropped (`serve --send-every`). A failed run
/// (the server unreachable) is logged and tried again at the next turn; messages a run
/// left claimed when it was stopped are taken again once their claim runs out.
pub async fn every(
    ctx: std::sync::Arc<Context>,
    mailer: Option<Mailer>,
    sms: Option<SmsSetup>,
    public_url: Option<String>,
    outbox: std::path::PathBuf,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let req = SendRequest {
            mailer: mailer.as_ref(),
            sms: sms.as_ref(),
            public_url: public_url.clone(),
            max: None,
        };
        match run(&ctx, &req).await {
            Ok(r) if r.attempted() > 0 => tracing::info!(
                sent = r.sent,
                retry_later = r.retry_later,
                failed = r.failed,
                sms_sent = r.sms.sent,
                "delivered queued notifications"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("delivery: {e:#}"),
        }
        let Some(mailer) = &mailer else { continue };
        match super::outbox::deliver(&ctx, mailer, &outbox, None).await {
            Ok(r) if r.sent + r.retry_later + r.failed > 0 => tracing::info!(
                sent = r.sent,
                retry_later = r.retry_later,
                failed = r.failed,
                "delivered replies from the outbox"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("outbox delivery: {e:#}"),
        }
        // No connection is held open between turns.
        mailer.close_idle().await;
    }
}
