//! `datenwart send`: delivers the queued e-mail notifications over SMTP, each once.
//!
//! Claimed, sent, marked — in that order. A message is claimed for this run (with its
//! Message-ID fixed at the first claim) before it is sent, and marked sent only once the
//! server took it. A run that dies between the server's answer and the mark leaves the
//! claim to expire; the next run sends the message again with the same Message-ID, so it
//! goes out at most twice and the receiving side can drop the copy.
//!
//! SMS notifications stay queued: this version sends e-mail only.

use super::Context;
use crate::domain::audit::AuditEvent;
use crate::domain::delivery::{self, CLAIM_LEASE, ErrorClass, LEASE_MARGIN};
use crate::domain::policy::{Handover, Policy};
use crate::domain::time::now;
use crate::mail::outgoing::{self, ComposeError};
use crate::mail::smtp::Mailer;
use crate::store::{Attempt, Backlog, Claim, DisclosedTo, Outgoing};
use anyhow::Context as _;
use serde::Serialize;
use std::collections::BTreeMap;

/// Messages claimed at a time: few, so a run's claim is short and others can take the rest.
const BATCH: i64 = 20;

pub struct SendRequest<'a> {
    pub mailer: &'a Mailer,
    /// Base of the citizen pages for the cancel link (`--public-url`).
    pub public_url: Option<String>,
    /// At most this many messages in this run.
    pub max: Option<u64>,
}

/// What one run did: counts and ids, never an address or a text.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SendReport {
    pub worker: String,
    pub sent: u64,
    /// Failed for now; tried again by a later run.
    pub retry_later: u64,
    /// Failed for good (5xx, an unusable address, or the last attempt).
    pub failed: u64,
    /// Confirmations not sent because their appointment was cancelled or has begun.
    pub dropped: u64,
    /// Claimed and not tried (the run stopped); free for the next run.
    pub released: u64,
    pub failed_ids: Vec<i64>,
    /// Why the run stopped early, if it did (the server went away).
    pub stopped: Option<String>,
    /// What waits, as counted before the run.
    pub backlog: Backlog,
}

impl SendReport {
    pub fn attempted(&self) -> u64 {
        self.sent + self.retry_later + self.failed + self.dropped
    }
}

/// Delivers what is due now. Connects first: a server that cannot be reached, or refuses
/// the login, is an error, and nothing is claimed.
pub async fn run(ctx: &Context, req: &SendRequest<'_>) -> anyhow::Result<SendReport> {
    let worker = format!(
        "send:{}:{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut report = SendReport {
        worker: worker.clone(),
        backlog: ctx.store.delivery_backlog(now()).await?,
        ..SendReport::default()
    };
    if report.backlog.due == 0 {
        return Ok(report);
    }
    let tenants = senders(ctx);
    req.mailer.check().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot deliver through {}: {}; nothing was sent",
            req.mailer.url(),
            e.detail
        )
    })?;

    let max = req.max.unwrap_or(u64::MAX);
    'run: while report.attempted() < max {
        let started = now();
        let claim = Claim {
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
        for n in &batch {
            if now() > claim.until - LEASE_MARGIN {
                // Another run may take these over soon; leave them to it.
                break;
            }
            let outcome = attempt(ctx, req, n).await;
            let stop = matches!(
                &outcome,
                Attempt::Failed {
                    class: ErrorClass::Connection,
                    ..
                }
            );
            match &outcome {
                Attempt::Sent { .. } => report.sent += 1,
                Attempt::Dropped => report.dropped += 1,
                Attempt::Failed { next: Some(_), .. } => report.retry_later += 1,
                Attempt::Failed { next: None, .. } => {
                    report.failed += 1;
                    report.failed_ids.push(n.id);
                }
            }
            ctx.store
                .record_attempt(&worker, n.id, &outcome, now())
                .await
                .with_context(|| {
                    format!("notification {} was handled but cannot be marked", n.id)
                })?;
            if stop {
                report.stopped =
                    Some("the SMTP connection failed; the rest waits for the next run".into());
                break 'run;
            }
        }
        report.released += ctx.store.release_claims(&worker).await?;
    }
    report.released += ctx.store.release_claims(&worker).await?;

    let details = serde_json::json!({
        "worker": report.worker,
        "smtp": req.mailer.url().to_string(),
        "sent": report.sent,
        "retry_later": report.retry_later,
        "failed": report.failed,
        "failed_ids": report.failed_ids,
        "dropped": report.dropped,
        "released": report.released,
        "held": report.backlog.held,
    });
    ctx.store
        .record_audit(AuditEvent::new("notifications.send", details), &ctx.audit())
        .await?;
    Ok(report)
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

/// One attempt at one message: built, sent, and what became of it.
async fn attempt(ctx: &Context, req: &SendRequest<'_>, n: &Outgoing) -> Attempt {
    let failed = |class: ErrorClass| Attempt::Failed {
        class,
        next: delivery::next_attempt(class, n.attempts, now()),
    };
    let Some(policy) = ctx.policies.get(&n.tenant) else {
        // Claimed only for tenants with a policy; it cannot have gone since.
        return failed(ErrorClass::Connection);
    };
    // A confirmation after the appointment (the server was down for days) or of a
    // cancelled one would only confuse.
    if n.kind == "confirmation"
        && let Some(a) = &n.appointment
        && (a.cancelled || a.starts_at <= now())
    {
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
            return failed(class);
        }
    };
    match req.mailer.send(&composed.envelope, &composed.bytes).await {
        Ok(reply) => {
            tracing::info!(notification = n.id, kind = %n.kind, attempt = n.attempts, "sent");
            Attempt::Sent {
                reply,
                disclosed: disclosed_to(policy, &n.kind, Handover::Email),
            }
        }
        Err(e) => {
            let outcome = failed(e.class);
            match &outcome {
                Attempt::Failed { next: Some(at), .. } => tracing::warn!(
                    notification = n.id,
                    attempt = n.attempts,
                    "not sent: {}; next attempt from {}",
                    e.detail,
                    crate::domain::time::format_instant(at)
                ),
                _ => tracing::warn!(
                    notification = n.id,
                    attempt = n.attempts,
                    "not sent: {}; failed for good",
                    e.detail
                ),
            }
            outcome
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
    mailer: Mailer,
    public_url: Option<String>,
    outbox: std::path::PathBuf,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let req = SendRequest {
            mailer: &mailer,
            public_url: public_url.clone(),
            max: None,
        };
        match run(&ctx, &req).await {
            Ok(r) if r.attempted() > 0 => tracing::info!(
                sent = r.sent,
                retry_later = r.retry_later,
                failed = r.failed,
                "delivered queued e-mail"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("delivery: {e:#}"),
        }
        match super::outbox::deliver(&ctx, &mailer, &outbox, None).await {
            Ok(r) if r.sent + r.retry_later + r.failed > 0 => tracing::info!(
                sent = r.sent,
                retry_later = r.retry_later,
                failed = r.failed,
                "delivered replies from the outbox"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("outbox delivery: {e:#}"),
        }
    }
}
