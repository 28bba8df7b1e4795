//! The register of data-subject requests: opening with the Art. 12(3) deadline, extending,
//! closing, and the bookkeeping the other rights commands share.

use super::{Context, Refusal};
use crate::domain::deadline::{self, ANSWER_MONTHS};
use crate::domain::holidays::HolidayCalendar;
use crate::domain::office_days::OfficeCalendar;
use crate::domain::policy::Policy;
use crate::domain::requests::{Channel, Outcome, RequestKind, RequestStatus};
use crate::domain::subject::SubjectRef;
use crate::store::{NewRequest, Request, RequestFilter};
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};

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
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let due = due_on(ctx, tenant, received)?;
    let new = NewRequest {
        tenant: tenant.map(str::to_owned),
        kind,
        subject_ref: subject_ref.cloned(),
        channel,
        received_at: received,
        due_on: due,
        identity: None,
    };
    let id = ctx.store.open_request(&new, &ctx.audit()).await?;
    Ok(ctx
        .store
        .request(id)
        .await?
        .expect("the request just written"))
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
) -> Result<Request> {
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
    ctx.store
        .extend_request(id, extended, reason.trim(), &ctx.audit())
        .await?;
    get(ctx, id).await
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

/// The open request of this kind for the person at the tenant, or a new one received now:
/// `erase`, `export`, `correct` and `restrict` answer a request, recorded or not.
pub async fn ensure(
    ctx: &Context,
    tenant: Option<&str>,
    kind: RequestKind,
    subject_ref: &SubjectRef,
    channel: Channel,
    explicit: Option<i64>,
) -> Result<Request> {
    Ok(
        ensure_noting_new(ctx, tenant, kind, subject_ref, channel, explicit)
            .await?
            .0,
    )
}

/// As [`ensure`], and whether the request was opened now (so that a command that fails
/// afterwards can take it back with [`discard`]).
pub async fn ensure_noting_new(
    ctx: &Context,
    tenant: Option<&str>,
    kind: RequestKind,
    subject_ref: &SubjectRef,
    channel: Channel,
    explicit: Option<i64>,
) -> Result<(Request, bool)> {
    if let Some(id) = explicit {
        let r = get(ctx, id).await?;
        if r.status != RequestStatus::Open {
            return Err(
                Refusal::InvalidInput(format!("--request {id}: the request is closed")).into(),
            );
        }
        return Ok((r, false));
    }
    let filter = RequestFilter {
        tenant: tenant.map(str::to_owned),
        status: Some(RequestStatus::Open),
        subject_ref: Some(subject_ref.clone()),
        kind: Some(kind),
        ..Default::default()
    };
    let open_ones = ctx.store.list_requests(&filter).await?;
    match open_ones
        .into_iter()
        .find(|r| r.tenant.as_deref() == tenant)
    {
        Some(r) => Ok((r, false)),
        None => Ok((
            open(
                ctx,
                tenant,
                kind,
                Some(subject_ref),
                channel,
                crate::domain::time::now(),
            )
            .await?,
            true,
        )),
    }
}

/// Takes back a request this command opened and could not answer.
pub async fn discard(ctx: &Context, id: i64) -> Result<()> {
    Ok(ctx.store.discard_request(id, &ctx.audit()).await?)
}
