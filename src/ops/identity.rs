//! Identity before anything destructive (Art. 12(6) DSGVO): confirmation requests with a
//! one-time code, their confirmation by link (the intake handles the reply by mail),
//! their expiry, the citizen page "Widerruf per E-Mail", and recording how a command's
//! operator checked the identity (`--identity-checked-by`).

use super::Context;
use super::withdrawals::{effect_of, intent_of};
use crate::domain::identity;
use crate::domain::policy::Policy;
use crate::domain::requests::{IdentityCheck, InboxOutcome};
use crate::domain::subject::{SubjectRef, is_email_address, normalize_email};
use crate::domain::time::{local_date_de, local_instant_de};
use crate::store::{Expired, InboxEntry, StoreError, SubjectQuery, WebConfirmation};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A new one-time code and the keyed hash that is stored instead of it.
pub async fn new_code(ctx: &Context) -> Result<(String, String)> {
    let key = ctx.store.pseudonym_key().await?;
    let code = identity::new_code();
    let hash = identity::code_hash(&key, &code).expect("a new code has the code's shape");
    Ok((code, hash))
}

/// Until when a code made now is valid, by the tenant's policy.
pub fn valid_until(policy: &Policy, now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::TimeDelta::seconds(policy.identity.confirmation_valid_for.as_seconds())
}

/// The citizen page that confirms with this code: under `public_url` when there is one,
/// else the path alone.
pub fn confirmation_link(public_url: Option<&str>, tenant: &str, code: &str) -> String {
    let base = public_url.unwrap_or("").trim_end_matches('/');
    format!("{base}/t/{tenant}/bestaetigen?code={code}")
}

/// What a request asks, in the words of the confirmation mail and page.
pub fn asked_de(asked: InboxOutcome) -> &'static str {
    match asked {
        InboxOutcome::Withdrawn => {
            "den Widerruf Ihrer Einwilligungen zur Online-Terminvergabe (Art. 7 Abs. 3 DSGVO); \
             wo die Terminbuchung auf Ihrer Einwilligung beruht, werden dabei Ihre künftigen \
             Termine abgesagt und Ihre Daten gelöscht"
        }
        InboxOutcome::SmsWithdrawn => {
            "den Widerruf Ihrer Einwilligung in SMS-Erinnerungen (Art. 7 Abs. 3 DSGVO)"
        }
        InboxOutcome::AccessRequest => "Auskunft über Ihre personenbezogenen Daten (Art. 15 DSGVO)",
        InboxOutcome::ErasureRequest => {
            "die Löschung Ihrer personenbezogenen Daten (Art. 17 DSGVO)"
        }
        _ => "eine Bearbeitung Ihrer Daten",
    }
}

/// The German text of a confirmation request: what was asked, the code, the link, how long
/// they are valid, and that nothing happens without confirmation.
pub fn confirmation_body(
    policy: &Policy,
    asked: InboxOutcome,
    received: DateTime<Utc>,
    code: &str,
    link: &str,
    expires_at: DateTime<Utc>,
    reply_to: &str,
) -> String {
    let t = &policy.tenant;
    let tz = t.zone();
    format!(
        "Guten Tag,\n\n\
         am {received} ist bei uns in Ihrem Namen ein Antrag auf {what} eingegangen.\n\n\
         Bevor wir ihn ausführen, bitten wir Sie zu bestätigen, dass er von Ihnen stammt \
         (Art. 12 Abs. 6 DSGVO). Dafür haben Sie zwei Möglichkeiten:\n\n\
         1. Öffnen Sie diesen Link und bestätigen Sie dort:\n   {link}\n\n\
         2. Oder antworten Sie auf diese E-Mail an {reply_to} und lassen Sie dabei diesen \
         Bestätigungscode im Betreff oder im Text stehen:\n   {code}\n\n\
         Der Code gilt bis zum {until} und nur einmal.\n\n\
         Wenn Sie diesen Antrag nicht gestellt haben, ignorieren Sie diese E-Mail bitte; \
         es geschieht dann nichts, Ihre Daten und Termine bleiben unverändert.\n\n\
         Mit freundlichen Grüßen\n{name}\n{address}\n",
        received = local_date_de(tz, received),
        what = asked_de(asked),
        until = local_instant_de(tz, expires_at),
        name = t.name,
        address = t.address,
    )
}

/// The subject of a confirmation request; the code in it, so a plain reply carries it.
pub fn confirmation_subject(code: &str) -> String {
    format!("Bitte bestätigen Sie Ihren Antrag (Code {code})")
}

/// What the confirmation page knows about a code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeState {
    /// Waiting: what it confirms and until when.
    Pending {
        asked: InboxOutcome,
        expires_at: DateTime<Utc>,
    },
    Used,
    Expired,
    /// No such code at this tenant (or not shaped like one).
    Unknown,
}

/// The state of a code at a tenant (the keyed hash compared in constant time).
pub async fn code_state(ctx: &Context, tenant: &str, code: &str) -> Result<CodeState> {
    let key = ctx.store.pseudonym_key().await?;
    let Some(hash) = identity::code_hash(&key, code) else {
        return Ok(CodeState::Unknown);
    };
    let Some(c) = ctx.store.confirmation(&hash).await? else {
        return Ok(CodeState::Unknown);
    };
    if c.tenant != tenant || !identity::same_hash(&c.code_hash, &hash) {
        return Ok(CodeState::Unknown);
    }
    Ok(match c.status.as_str() {
        "pending" if c.expires_at > crate::domain::time::now() => CodeState::Pending {
            asked: c.asked,
            expires_at: c.expires_at,
        },
        "confirmed" => CodeState::Used,
        _ => CodeState::Expired,
    })
}

/// What confirming by link did.
#[derive(Clone, Debug, Serialize)]
pub struct Confirmed {
    pub asked: InboxOutcome,
    pub request_id: Option<i64>,
    pub consents_withdrawn: usize,
    pub bookings_cancelled: usize,
}

/// Applies what a pending code asked for, once: `Err(state)` when the code is unknown,
/// used or expired (then nothing changed).
pub async fn confirm_by_link(
    ctx: &Context,
    tenant: &str,
    code: &str,
) -> Result<Result<Confirmed, CodeState>> {
    let state = code_state(ctx, tenant, code).await?;
    if !matches!(state, CodeState::Pending { .. }) {
        return Ok(Err(state));
    }
    let key = ctx.store.pseudonym_key().await?;
    let hash = identity::code_hash(&key, code).expect("checked by code_state");
    let Some(c) = ctx.store.confirmation(&hash).await? else {
        return Ok(Err(CodeState::Unknown));
    };
    let policy = ctx.policies.require(&c.tenant)?;
    let (outcome, effect) = effect_of(ctx, policy, intent_of(c.asked), c.received_at)?;
    let entry = InboxEntry {
        message_key: String::new(),
        tenant: Some(c.tenant.clone()),
        received_at: Some(c.received_at),
        processed_at: crate::domain::time::now(),
        outcome,
        subject_ref: c.subject_ref.clone(),
        sender: None,
        subject: None,
        reason: None,
        address: None,
        channel: c.channel,
        identity: Some(IdentityCheck::ConfirmedByLink),
        confirms: None,
    };
    match ctx
        .store
        .confirm_by_link(c.id, &entry, &effect, &ctx.audit())
        .await
    {
        Ok(result) => Ok(Ok(Confirmed {
            asked: c.asked,
            request_id: result.request_id,
            consents_withdrawn: result.consents_withdrawn,
            bookings_cancelled: result.erasure.as_ref().map_or(0, |e| {
                e.counts.iter().map(|(_, c)| c.bookings_cancelled).sum()
            }),
        })),
        // Confirmed or expired beside this request: nothing done here.
        Err(StoreError::Conflict(_)) => Ok(Err(CodeState::Used)),
        Err(e) => Err(e.into()),
    }
}

/// The citizen page "Widerruf per E-Mail": if the address is on file at the tenant, a
/// confirmation request goes to it (queued for `datenwart send`); otherwise nothing
/// happens. The caller answers the same either way. Returns whether a mail was queued
/// (for tests; never shown to the citizen).
pub async fn request_withdrawal_by_web(
    ctx: &Context,
    tenant: &str,
    email: &str,
    public_url: Option<&str>,
) -> Result<bool> {
    let policy = ctx.policies.require(tenant)?;
    let email = normalize_email(email);
    if !is_email_address(&email) {
        return Ok(false);
    }
    let key = ctx.store.pseudonym_key().await?;
    let subject_ref = SubjectRef::for_email(&key, &email);
    let on_file = !ctx
        .store
        .find_subjects(&SubjectQuery::Ref(subject_ref.clone()), Some(tenant))
        .await?
        .is_empty();
    if !on_file {
        return Ok(false);
    }
    let now = crate::domain::time::now();
    let (code, code_hash) = new_code(ctx).await?;
    let expires_at = valid_until(policy, now);
    let link = confirmation_link(public_url, tenant, &code);
    let reply_to = policy
        .tenant
        .withdrawal_addresses
        .first()
        .cloned()
        .unwrap_or_else(|| policy.tenant.email.clone());
    let body = confirmation_body(
        policy,
        InboxOutcome::Withdrawn,
        now,
        &code,
        &link,
        expires_at,
        &reply_to,
    );
    let confirmation = WebConfirmation {
        tenant: tenant.to_owned(),
        subject_ref,
        code_hash,
        asked: InboxOutcome::Withdrawn,
        received_at: now,
        expires_at,
        recipient: email,
        subject: confirmation_subject(&code),
        body,
    };
    Ok(ctx
        .store
        .request_confirmation(&confirmation, &ctx.audit())
        .await?)
}

/// Expires the confirmation requests left unconfirmed past their validity.
pub async fn expire(ctx: &Context, now: DateTime<Utc>) -> Result<Expired> {
    Ok(ctx.store.expire_confirmations(now, &ctx.audit()).await?)
}

/// Records on each request how the operator established the person's identity.
pub async fn record_identity(
    ctx: &Context,
    request_ids: &[i64],
    identity: IdentityCheck,
) -> Result<()> {
    for id in request_ids {
        ctx.store
            .set_request_identity(*id, identity, &ctx.audit())
            .await?;
    }
    Ok(())
}
