//! The register of data-subject requests: opening with the Art. 12(3) deadline, extending,
//! closing, and the bookkeeping the other rights commands share.

use super::letters::{self, LetterFacts, LetterKind, Salutation};
use super::{Context, Refusal};
use crate::domain::deadline::{self, ANSWER_MONTHS};
use crate::domain::holidays::HolidayCalendar;
use crate::domain::office_days::OfficeCalendar;
use crate::domain::policy::Policy;
use crate::domain::requests::{Channel, Outcome, RequestKind, RequestStatus};
use crate::domain::subject::SubjectRef;
use crate::store::{
    NewRequest, ObjectionEffects, ObjectionGrant, RecipientNotice, Request, RequestFilter,
};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::PathBuf;

/// Where the letter of a decision goes and how it addresses the person.
#[derive(Clone, Debug, Default)]
pub struct LetterOptions {
    /// The request's folder (default `vorgang-<Aktenzeichen>`).
    pub out: Option<PathBuf>,
    /// "Frau"/"Herr", where the office knows it; otherwise the name alone.
    pub salutation: Option<Salutation>,
    /// `--address`: the window's lines for a letter sent by post (name included), where the
    /// address on file is missing or not the one to write to.
    pub address: Vec<String>,
}

/// A request after `extend` or a decision, with the letter written for it.
#[derive(Clone, Debug, Serialize)]
pub struct Decided {
    pub request: Request,
    pub letter: Option<PathBuf>,
    pub effects: ObjectionEffects,
}

/// The local calendar day an instant falls on at a tenant (Europe/Berlin when none).
fn local_day(ctx: &Context, tenant: Option<&str>, at: DateTime<Utc>) -> NaiveDate {
    let zone = tenant
        .and_then(|t| ctx.policies.get(t))
        .map_or(chrono_tz::Europe::Berlin, |p| p.tenant.zone());
    at.with_timezone(&zone).date_naive()
}

/// The public holidays at a tenant's seat: its state's and the local ones its policy names.
/// Its closed days are left out: they do not move a legal deadline.
fn holiday_calendar(policy: &Policy) -> HolidayCalendar {
    OfficeCalendar::for_policy(policy).holidays().clone()
}

/// The Art. 12(3) deadline of a request received at `received`. Without a tenant, the
/// earliest deadline any tenant's holidays give: the safe side.
pub fn due_on(ctx: &Context, tenant: Option<&str>, received: DateTime<Utc>) -> Result<NaiveDate> {
    let day = local_day(ctx, tenant, received);
    let policies: Vec<&Policy> = match tenant.and_then(|t| ctx.policies.get(t)) {
        Some(p) => vec![p],
        None => ctx.policies.entries.iter().map(|e| &e.policy).collect(),
    };
    policies
        .into_iter()
        .map(|p| deadline::due_date_in(&mut holiday_calendar(p), day, ANSWER_MONTHS))
        .min()
        .ok_or_else(|| anyhow::anyhow!("no tenant policy to compute a deadline from"))
}

pub async fn open(
    ctx: &Context,
    tenant: Option<&str>,
    kind: RequestKind,
    subject_ref: Option<&SubjectRef>,
    channel: Channel,
    received: DateTime<Utc>,
) -> Result<Request> {
    let new = new_request(ctx, tenant, kind, subject_ref, channel, received)?;
    let mut opened = ctx.store.open_requests(&[new], &ctx.audit()).await?;
    Ok(opened.remove(0))
}

/// A request to register, with its deadline; refused for a tenant without a policy.
fn new_request(
    ctx: &Context,
    tenant: Option<&str>,
    kind: RequestKind,
    subject_ref: Option<&SubjectRef>,
    channel: Channel,
    received: DateTime<Utc>,
) -> Result<NewRequest> {
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    Ok(NewRequest {
        tenant: tenant.map(str::to_owned),
        kind,
        subject_ref: subject_ref.cloned(),
        channel,
        received_at: received,
        due_on: due_on(ctx, tenant, received)?,
        identity: None,
    })
}

pub async fn get(ctx: &Context, id: i64) -> Result<Request> {
    ctx.store
        .request(id)
        .await?
        .ok_or_else(|| Refusal::NotFound(format!("request {id} does not exist")).into())
}

/// Extends the deadline by one or two months (Art. 12(3) sentence 2): only with a reason,
/// only while the first deadline has not passed, only once.
pub async fn extend(
    ctx: &Context,
    id: i64,
    months: u32,
    reason: &str,
    today: NaiveDate,
    letter: &LetterOptions,
) -> Result<Decided> {
    let request = get(ctx, id).await?;
    if reason.trim().is_empty() {
        return Err(Refusal::InvalidInput(
            "--reason: an extension needs a reason (Art. 12(3) DSGVO)".into(),
        )
        .into());
    }
    if request.status != RequestStatus::Open {
        return Err(Refusal::InvalidInput(format!("request {id} is closed")).into());
    }
    if request.extended_due_on.is_some() {
        return Err(Refusal::InvalidInput(format!("request {id} was extended already")).into());
    }
    if today > request.due_on {
        return Err(Refusal::InvalidInput(format!(
            "request {id}: the first deadline {} has passed; an extension had to be declared before it",
            request.due_on
        ))
        .into());
    }
    let tenant = request.tenant.as_deref();
    let received = local_day(ctx, tenant, request.received_at);
    let mut calendar = match policy_of(ctx, tenant) {
        Some(policy) => holiday_calendar(policy),
        None => HolidayCalendar::new("DE-NW").expect("a known region"),
    };
    let extended = deadline::extended_due_date_in(&mut calendar, received, months)
        .map_err(|e| Refusal::InvalidInput(format!("--months {months}: {e}")))?;
    let policy = policy_of(ctx, tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant policy to write the letter from"))?;
    // The folder first: one that cannot be made changes nothing.
    let folder = letters::request_folder(letter.out.as_deref(), policy, id)?;
    let to = letters::addressee(ctx, &request, letter).await?;
    let audit = ctx.audit();
    ctx.store
        .extend_request(id, extended, reason.trim(), &audit)
        .await?;
    let request = get(ctx, id).await?;
    let facts = LetterFacts {
        reasons: Some(reason.trim().to_owned()),
        months,
        extended_due_on: Some(extended),
        ..Default::default()
    };
    let rendered = letters::render(
        LetterKind::Extension,
        policy,
        &request,
        &to,
        &facts,
        audit.at,
    )?;
    let path = letters::write(&folder, LetterKind::Extension, policy, audit.at, &rendered)?;
    Ok(Decided {
        request,
        letter: Some(path),
        effects: ObjectionEffects::default(),
    })
}

/// What `requests close` accepts for an objection (Art. 21).
const OBJECTION_OUTCOMES: &[Outcome] = &[
    Outcome::Granted,
    Outcome::Rejected,
    Outcome::Unfounded,
    Outcome::Excessive,
    Outcome::WithdrawnBySubject,
];

/// The DPO's decision on a request (`requests close`): the outcome with its reasons, a
/// granted objection's effects, and the letter the decision calls for (a refusal, a 12(5)
/// decision, the no-data answer, the objection's decision) in the request's folder. Bad
/// input changes nothing (exit 2); the folder is made before the register changes.
pub async fn decide(
    ctx: &Context,
    id: i64,
    outcome: Outcome,
    reason: Option<&str>,
    letter: &LetterOptions,
) -> Result<Decided> {
    let request = get(ctx, id).await?;
    if request.status != RequestStatus::Open {
        return Err(Refusal::InvalidInput(format!("request {id} is not open")).into());
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let objection = request.kind == RequestKind::Objection;
    if outcome == Outcome::Granted && !objection {
        return Err(Refusal::InvalidInput(format!(
            "--outcome granted: request {id} is a {} request; only an objection is granted",
            request.kind
        ))
        .into());
    }
    if objection && !OBJECTION_OUTCOMES.contains(&outcome) {
        let all: Vec<&str> = OBJECTION_OUTCOMES.iter().map(|o| o.as_str()).collect();
        return Err(Refusal::InvalidInput(format!(
            "--outcome {outcome}: an objection is closed as one of {}",
            all.join(", ")
        ))
        .into());
    }
    let needs_reason = outcome.is_refusal() || (objection && outcome == Outcome::Granted);
    if needs_reason && reason.is_none() {
        return Err(Refusal::InvalidInput(format!(
            "--reason: the outcome {outcome} needs its reasons; the letter gives them to the person (Art. 12(4) DSGVO)"
        ))
        .into());
    }
    let tenant = request.tenant.as_deref();
    let policy = policy_of(ctx, tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant policy to write the letter from"))?;
    let grant = if objection && outcome == Outcome::Granted {
        if tenant.is_none() || request.subject_ref.is_none() {
            return Err(Refusal::InvalidInput(format!(
                "request {id}: an objection is granted for one person at one tenant; this one names none"
            ))
            .into());
        }
        Some(ObjectionGrant {
            purposes: letters::objectionable_purposes(policy)
                .iter()
                .map(|p| p.id.clone())
                .collect(),
        })
    } else {
        None
    };
    let kind = LetterKind::of_outcome(outcome, request.kind);
    let folder = match kind {
        Some(_) => Some(letters::request_folder(letter.out.as_deref(), policy, id)?),
        None => None,
    };
    let to = letters::addressee(ctx, &request, letter).await?;
    let audit = ctx.audit();
    let effects = ctx
        .store
        .decide_request(id, outcome, reason, grant.as_ref(), &audit)
        .await?;
    let request = get(ctx, id).await?;
    let path = match (kind, folder) {
        (Some(kind), Some(folder)) => {
            let mut stopped = Vec::new();
            if effects.access_log_deleted > 0 {
                stopped.push(format!(
                    "Die Protokolleinträge Ihrer Zugriffe auf den Buchungsdienst ({}), die wir nur \
                     für diese Zwecke gespeichert hatten, haben wir gelöscht.",
                    effects.access_log_deleted
                ));
            }
            if effects.office_copies_cancelled > 0 {
                stopped.push(format!(
                    "Noch nicht versandte Kopien Ihrer Buchungen an die Verwaltung ({}) werden nicht \
                     mehr versandt.",
                    effects.office_copies_cancelled
                ));
            }
            let facts = LetterFacts {
                reasons: reason.map(str::to_owned),
                stopped,
                purposes: letters::objectionable_purposes(policy)
                    .iter()
                    .map(|p| format!("{} ({})", p.description, p.legal_basis_citation()))
                    .collect(),
                ..Default::default()
            };
            let rendered = letters::render(kind, policy, &request, &to, &facts, audit.at)?;
            Some(letters::write(&folder, kind, policy, audit.at, &rendered)?)
        }
        _ => None,
    };
    Ok(Decided {
        request,
        letter: path,
        effects,
    })
}

/// The tenant's policy, or the first policy when the request has no tenant.
fn policy_of<'a>(ctx: &'a Context, tenant: Option<&str>) -> Option<&'a Policy> {
    tenant
        .and_then(|t| ctx.policies.get(t))
        .or_else(|| ctx.policies.entries.first().map(|e| &e.policy))
}

pub async fn close(ctx: &Context, id: i64, outcome: Outcome) -> Result<Request> {
    get(ctx, id).await?;
    ctx.store.close_request(id, outcome, &ctx.audit()).await?;
    get(ctx, id).await
}

pub async fn list(ctx: &Context, filter: &RequestFilter) -> Result<Vec<Request>> {
    Ok(ctx.store.list_requests(filter).await?)
}

/// The open request of this kind for the person at each of `tenants` (in order), or a new
/// one received now — `erase`, `export`, `correct` and `restrict` answer a request,
/// recorded or not — and whether each was opened now (so that a command that fails
/// afterwards can take it back with [`discard`]). The person's open requests are read
/// once and the missing ones registered together, in one transaction. With `explicit`
/// (`--request`), that request answers for every tenant: it must fit ([`named`]), and one
/// made at a tenant answers for that tenant alone.
pub async fn ensure_each(
    ctx: &Context,
    tenants: &[String],
    kind: RequestKind,
    subject_ref: &SubjectRef,
    channel: Channel,
    explicit: Option<i64>,
) -> Result<Vec<(Request, bool)>> {
    if let Some(id) = explicit {
        let r = named(ctx, id, kind, subject_ref).await?;
        if let Some(made_at) = r.tenant.as_deref() {
            // A request made at one controller answers there only.
            match tenants {
                [t] if t == made_at => {}
                [t] => {
                    return Err(Refusal::InvalidInput(format!(
                        "--tenant {t}: the request {id} was made at {made_at}"
                    ))
                    .into());
                }
                _ => {
                    return Err(Refusal::InvalidInput(format!(
                        "--all-tenants: the request {id} was made at {made_at}; answer it with --tenant {made_at}"
                    ))
                    .into());
                }
            }
        }
        return Ok(tenants.iter().map(|_| (r.clone(), false)).collect());
    }
    let filter = RequestFilter {
        // One tenant: only its requests are read; several: all of the person's.
        tenant: match tenants {
            [t] => Some(t.clone()),
            _ => None,
        },
        status: Some(RequestStatus::Open),
        subject_ref: Some(subject_ref.clone()),
        kind: Some(kind),
        ..Default::default()
    };
    let open_ones = ctx.store.list_requests(&filter).await?;
    let received = crate::domain::time::now();
    let mut found = Vec::with_capacity(tenants.len());
    let mut missing = Vec::new();
    for tenant in tenants {
        let r = open_ones
            .iter()
            .find(|r| r.tenant.as_ref() == Some(tenant))
            .cloned();
        if r.is_none() {
            missing.push(new_request(
                ctx,
                Some(tenant),
                kind,
                Some(subject_ref),
                channel,
                received,
            )?);
        }
        found.push(r);
    }
    let mut opened = if missing.is_empty() {
        Vec::new()
    } else {
        ctx.store.open_requests(&missing, &ctx.audit()).await?
    }
    .into_iter();
    found
        .into_iter()
        .map(|r| match r {
            Some(r) => Ok((r, false)),
            None => Ok((opened.next().expect("one opened per missing"), true)),
        })
        .collect()
}

/// A request named with `--request` for an answer of `kind`: it exists, is open, is of
/// that kind (an access request also answers a portability request), and is not another
/// person's. A mistyped number must never close someone else's request as answered.
pub async fn named(
    ctx: &Context,
    id: i64,
    kind: RequestKind,
    subject_ref: &SubjectRef,
) -> Result<Request> {
    let r = ctx.store.request(id).await?.ok_or_else(|| {
        Refusal::InvalidInput(format!("--request {id}: no such request in the register"))
    })?;
    if r.status != RequestStatus::Open {
        return Err(Refusal::InvalidInput(format!("--request {id}: the request is closed")).into());
    }
    let fits =
        r.kind == kind || (kind == RequestKind::Access && r.kind == RequestKind::Portability);
    if !fits {
        return Err(Refusal::InvalidInput(format!(
            "--request {id}: it is a request of kind {}, not {kind}",
            r.kind
        ))
        .into());
    }
    if r.subject_ref.as_ref().is_some_and(|s| s != subject_ref) {
        return Err(Refusal::InvalidInput(format!(
            "--request {id}: the request was made by another person than --email"
        ))
        .into());
    }
    Ok(r)
}

/// Closes each of the requests answered once with `outcome` (a request made without a
/// tenant answers for several) and returns them, each once, in order.
pub async fn close_each_once(
    ctx: &Context,
    ids: impl IntoIterator<Item = i64>,
    outcome: Outcome,
) -> Result<Vec<i64>> {
    let mut closed = Vec::new();
    for id in ids {
        if !closed.contains(&id) {
            ctx.store.close_request(id, outcome, &ctx.audit()).await?;
            closed.push(id);
        }
    }
    Ok(closed)
}

/// Takes back a request this command opened and could not answer.
pub async fn discard(ctx: &Context, id: i64) -> Result<()> {
    Ok(ctx.store.discard_request(id, &ctx.audit()).await?)
}

/// The recipients to be told of request `id` (Art. 19), in the order they were opened.
pub async fn recipients(ctx: &Context, id: i64) -> Result<Vec<RecipientNotice>> {
    get(ctx, id).await?;
    Ok(ctx.store.recipient_notices(id).await?)
}

/// (request id, recipients not yet told) of every request that has any.
pub async fn untold(ctx: &Context) -> Result<Vec<(i64, i64)>> {
    Ok(ctx.store.untold_by_request().await?)
}

/// Marks the recipient named by `recipient` (its full name as the policy writes it, or
/// the start of it, ignoring case, when that names one recipient) as told of request `id`
/// on `on` (default today). Returns every recipient of the request afterwards.
pub async fn told(
    ctx: &Context,
    id: i64,
    recipient: &str,
    on: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Vec<RecipientNotice>> {
    let notices = recipients(ctx, id).await?;
    if notices.is_empty() {
        return Err(Refusal::InvalidInput(format!(
            "request {id} has no recipients to tell (Art. 19): nobody received the person's data"
        ))
        .into());
    }
    let wanted = recipient.trim().to_lowercase();
    if wanted.is_empty() {
        return Err(Refusal::InvalidInput("--recipient: name the recipient".into()).into());
    }
    let exact: Vec<&RecipientNotice> = notices
        .iter()
        .filter(|n| n.recipient.to_lowercase() == wanted)
        .collect();
    let matching: Vec<&RecipientNotice> = if exact.is_empty() {
        notices
            .iter()
            .filter(|n| n.recipient.to_lowercase().starts_with(&wanted))
            .collect()
    } else {
        exact
    };
    let names = || {
        notices
            .iter()
            .map(|n| format!("\"{}\"", n.recipient))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let notice = match matching.as_slice() {
        [one] => *one,
        [] => {
            return Err(Refusal::InvalidInput(format!(
                "--recipient \"{}\": not a recipient of request {id}; its recipients are {}",
                recipient.trim(),
                names()
            ))
            .into());
        }
        several => {
            return Err(Refusal::InvalidInput(format!(
                "--recipient \"{}\": names {} recipients of request {id}; write more of the name ({})",
                recipient.trim(),
                several.len(),
                names()
            ))
            .into());
        }
    };
    if let Some(day) = notice.told_on {
        return Err(Refusal::InvalidInput(format!(
            "request {id}: \"{}\" was told on {day} already",
            notice.recipient
        ))
        .into());
    }
    let on = on.unwrap_or(today);
    if on > today {
        return Err(Refusal::InvalidInput(format!("--date {on}: the day is in the future")).into());
    }
    let opened = local_day(ctx, Some(&notice.tenant), notice.created_at);
    if on < opened {
        return Err(Refusal::InvalidInput(format!(
            "--date {on}: before {opened}, the day the recipient was to be told"
        ))
        .into());
    }
    if !ctx.store.mark_told(notice.id, on, &ctx.audit()).await? {
        return Err(Refusal::InvalidInput(format!(
            "request {id}: \"{}\" was told already",
            notice.recipient
        ))
        .into());
    }
    Ok(ctx.store.recipient_notices(id).await?)
}
