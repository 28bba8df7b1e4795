//! The DPO's rights commands over one person: find, erase (and replay), correct, restrict,
//! and legal holds. Each answers its request in the register.

use super::booking::{MessageFacts, message_text};
use super::requests;
use super::{Context, Refusal};
use crate::domain::booking::{self, normalize_phone};
use crate::domain::policy::{Policy, RetainedData, RetentionAction};
use crate::domain::requests::{Channel, IdentityCheck, Outcome, RequestKind};
use crate::domain::subject::{SubjectRef, is_email_address, mask_email, mask_name};
use crate::store::{
    BookingErasure, Correction, Cutoff, ErasureOptions, ErasureReport, ErasureScope, Hold,
    HoldTarget, RecipientNotice, SubjectQuery, UnsentMessage,
};
use anyhow::Result;
use chrono::NaiveDate;
use serde::Serialize;

/// The pseudonymous reference of the person with this e-mail (syntax checked first).
pub async fn email_ref(ctx: &Context, email: &str) -> Result<SubjectRef> {
    if !is_email_address(email.trim()) {
        return Err(Refusal::InvalidInput(format!(
            "--email \"{}\": not an e-mail address",
            email.trim()
        ))
        .into());
    }
    let key = ctx.store.pseudonym_key().await?;
    Ok(SubjectRef::for_email(&key, email))
}

/// How a command names the person it acts on: the e-mail address the person is known by,
/// or a phone number or a `subject find` handle that leads to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Person {
    Email(String),
    Phone(String),
    /// The start of the subject reference, checked by `domain::subject::parse_handle`.
    Handle(String),
}

/// The one person a phone number or handle names, at any tenant: none is "not found"
/// (exit 3), more than one is a refusal that asks for more characters (exit 2).
pub async fn person_ref(ctx: &Context, person: &Person) -> Result<SubjectRef> {
    let (query, option, value) = match person {
        Person::Email(e) => return email_ref(ctx, e).await,
        Person::Phone(p) => (
            SubjectQuery::Phone(normalize_phone(p).ok_or_else(|| {
                Refusal::InvalidInput(format!("--phone \"{p}\": not a phone number"))
            })?),
            "--phone",
            p,
        ),
        Person::Handle(h) => (SubjectQuery::Handle(h.clone()), "--subject", h),
    };
    let mut refs: Vec<SubjectRef> = ctx
        .store
        .find_subjects(&query, None)
        .await?
        .into_iter()
        .map(|m| m.subject_ref)
        .collect();
    refs.sort();
    refs.dedup();
    match refs.len() {
        0 => Err(Refusal::NotFound(format!(
            "{option} \"{value}\": no person in the database; nothing was done (find them with `datenwart subject find`)"
        ))
        .into()),
        1 => Ok(refs.remove(0)),
        n => {
            let handles: Vec<String> = refs.iter().map(|r| full_enough(r, &refs)).collect();
            Err(Refusal::InvalidInput(format!(
                "{option} \"{value}\" fits {n} persons ({}); give --subject with one of these handles; nothing was done",
                handles.join(", ")
            ))
            .into())
        }
    }
}

/// The shortest prefix of `r`, at least a handle long, that no other of `all` shares.
fn full_enough(r: &SubjectRef, all: &[SubjectRef]) -> String {
    let s = r.as_str();
    (crate::domain::subject::HANDLE_LEN..=s.len())
        .map(|n| &s[..n])
        .find(|p| all.iter().filter(|o| o.as_str().starts_with(p)).count() == 1)
        .unwrap_or(s)
        .to_owned()
}

/// The person's e-mail address: as given, or the one stored with the person a phone number
/// or handle names (their bookings' or their mail's address; each is checked to give the
/// same reference). A person with no address left (all anonymized) is "not found".
pub async fn person_email(ctx: &Context, person: &Person) -> Result<String> {
    if let Person::Email(e) = person {
        return Ok(e.clone());
    }
    let subject_ref = person_ref(ctx, person).await?;
    let key = ctx.store.pseudonym_key().await?;
    let tenants = tenants_of(ctx, &subject_ref, &Controllers::All).await?;
    for tenant in &tenants {
        let data = ctx.store.subject_data(&subject_ref, tenant).await?;
        let stored = data
            .bookings
            .iter()
            .filter_map(|b| b.email.clone())
            .chain(data.inbox.iter().filter_map(|m| m.sender.clone()));
        for email in stored {
            if is_email_address(email.trim()) && SubjectRef::for_email(&key, &email) == subject_ref
            {
                return Ok(email.trim().to_owned());
            }
        }
    }
    Err(Refusal::NotFound(format!(
        "the person {} has no e-mail address stored any more (anonymized); give --email; nothing was done",
        subject_ref.handle()
    ))
    .into())
}

/// Which controllers a command acts for. Each tenant is a controller of its own: a command
/// on one person names one, or says explicitly that it acts for every tenant where the
/// person appears (the operator's case), answering one request per tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Controllers {
    One(String),
    All,
}

impl Controllers {
    /// The one tenant named, if one was.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Controllers::One(t) => Some(t),
            Controllers::All => None,
        }
    }
}

/// The tenants a command acts on where the person appears: the one named (it must have a
/// policy), or every one.
pub async fn tenants_of(
    ctx: &Context,
    subject_ref: &SubjectRef,
    controllers: &Controllers,
) -> Result<Vec<String>> {
    let tenant = controllers.tenant();
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let found = ctx
        .store
        .find_subjects(&SubjectQuery::Ref(subject_ref.clone()), tenant)
        .await?;
    let mut tenants: Vec<String> = found.into_iter().map(|m| m.tenant).collect();
    tenants.sort();
    tenants.dedup();
    Ok(tenants)
}

fn no_such_person(what: &str) -> anyhow::Error {
    Refusal::NotFound(format!("no data about {what} in the database")).into()
}

/// How a person is named on the command line.
#[derive(Clone, Debug)]
pub enum FindBy {
    Email(String),
    Phone(String),
    /// "Anna Schmidt" (first and last) or "Schmidt" (last only).
    Name(String),
    /// The start of the subject reference (`--subject`).
    Handle(String),
}

/// Where a person appears: one row per tenant and category, with the person shown masked
/// ("C. W***k", "c***@example.org") so that the DPO can tell two matches apart without the
/// table showing who they are.
#[derive(Clone, Debug, Serialize)]
pub struct Appearance {
    pub tenant: String,
    pub subject_ref: SubjectRef,
    pub handle: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub category: &'static str,
    pub rows: usize,
}

pub async fn find(ctx: &Context, by: &FindBy, tenant: Option<&str>) -> Result<Vec<Appearance>> {
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let query = match by {
        FindBy::Email(e) => SubjectQuery::Ref(email_ref(ctx, e).await?),
        FindBy::Handle(h) => SubjectQuery::Handle(h.clone()),
        FindBy::Phone(p) => SubjectQuery::Phone(normalize_phone(p).ok_or_else(|| {
            Refusal::InvalidInput(format!("--phone \"{p}\": not a phone number"))
        })?),
        FindBy::Name(n) => {
            let words: Vec<&str> = n.split_whitespace().collect();
            match words.split_last() {
                Some((last, [])) => SubjectQuery::Name {
                    first: None,
                    last: (*last).to_owned(),
                },
                Some((last, first)) => SubjectQuery::Name {
                    first: Some(first.join(" ")),
                    last: (*last).to_owned(),
                },
                None => {
                    return Err(Refusal::InvalidInput(
                        "--name: give a last name, or first and last name".into(),
                    )
                    .into());
                }
            }
        }
    };
    let mut out = Vec::new();
    for m in ctx.store.find_subjects(&query, tenant).await? {
        let data = ctx.store.subject_data(&m.subject_ref, &m.tenant).await?;
        let named = data.bookings.iter().rev().find(|b| b.last_name.is_some());
        let name = named
            .map(|b| mask_name(b.first_name.as_deref(), b.last_name.as_deref()))
            .filter(|n| !n.is_empty());
        let email = data
            .bookings
            .iter()
            .rev()
            .filter_map(|b| b.email.as_deref())
            .chain(data.inbox.iter().filter_map(|i| i.sender.as_deref()))
            .next()
            .map(mask_email);
        out.extend(
            data.counts()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(category, rows)| Appearance {
                    tenant: m.tenant.clone(),
                    subject_ref: m.subject_ref.clone(),
                    handle: m.subject_ref.handle().to_owned(),
                    name: name.clone(),
                    email: email.clone(),
                    category,
                    rows,
                }),
        );
    }
    if out.is_empty() {
        return Err(no_such_person("this person"));
    }
    Ok(out)
}

/// How bookings are erased at a tenant: as its retention rule for bookings says; anonymized
/// when it has no policy or no such rule. Erasure here and withdrawals both use it.
pub(super) fn booking_erasure(policy: Option<&Policy>) -> BookingErasure {
    match policy.and_then(|p| p.retention_for(RetainedData::Bookings)) {
        Some(rule) if rule.action == RetentionAction::Delete => BookingErasure::Delete,
        _ => BookingErasure::Anonymize,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Erasure {
    pub subject_ref: SubjectRef,
    #[serde(flatten)]
    pub report: ErasureReport,
    /// Register entries answered, per tenant.
    pub requests: Vec<(String, i64)>,
    /// Recipients of the person's data to be told of it (Art. 19).
    pub to_tell: Vec<RecipientNotice>,
}

/// The Art. 19 recipients the requests answered opened.
async fn to_tell(ctx: &Context, requests: &[(String, i64)]) -> Result<Vec<RecipientNotice>> {
    let mut out = Vec::new();
    for (_, id) in requests {
        out.extend(ctx.store.recipient_notices(*id).await?);
    }
    Ok(out)
}

pub struct EraseRequest<'a> {
    pub email: &'a str,
    pub controllers: Controllers,
    pub dry_run: bool,
    pub request: Option<i64>,
    pub channel: Channel,
    /// How the operator established the person's identity, recorded on each request in the
    /// erasure's transaction, which closes it (not in a dry run).
    pub identity: Option<crate::domain::requests::IdentityCheck>,
}

fn erasure_options(dry_run: bool, identity: Option<IdentityCheck>) -> ErasureOptions {
    ErasureOptions {
        now: crate::domain::time::now(),
        dry_run,
        record_in_ledger: true,
        action: "subject.erase",
        only_before: None,
        close_requests: true,
        identity,
    }
}

fn scopes_of(ctx: &Context, tenants: &[String]) -> Vec<ErasureScope> {
    tenants
        .iter()
        .map(|t| ErasureScope {
            tenant: t.clone(),
            bookings: booking_erasure(ctx.policies.get(t)),
            request_id: None,
        })
        .collect()
}

/// Art. 17 erasure of one person for one controller or (`--all-tenants`) every one. A dry
/// run changes nothing, not even the register. For every tenant, only tenants where the
/// erasure changes or keeps something get a request: elsewhere there is nothing to answer.
pub async fn erase(ctx: &Context, req: &EraseRequest<'_>) -> Result<Erasure> {
    let subject_ref = email_ref(ctx, req.email).await?;
    let mut tenants = tenants_of(ctx, &subject_ref, &req.controllers).await?;
    if req.controllers == Controllers::All && !tenants.is_empty() {
        let preview = ctx
            .store
            .erase_subject(
                &subject_ref,
                &scopes_of(ctx, &tenants),
                &erasure_options(true, None),
                &ctx.audit(),
            )
            .await?;
        tenants.retain(|t| {
            preview.changes.iter().any(|c| c.tenant == *t)
                || preview.kept.iter().any(|k| k.tenant == *t)
        });
    }
    if tenants.is_empty() {
        return Err(no_such_person("this person"));
    }
    let mut scopes = scopes_of(ctx, &tenants);
    let mut answered = Vec::new();
    if !req.dry_run {
        // The ledger must be writable before anything is registered.
        ctx.store.check_erasure_ledger()?;
        let requests = requests::ensure_each(
            ctx,
            &tenants,
            RequestKind::Erasure,
            &subject_ref,
            req.channel,
            req.request,
        )
        .await?;
        for (scope, (r, _)) in scopes.iter_mut().zip(requests) {
            answered.push((scope.tenant.clone(), r.id));
            scope.request_id = Some(r.id);
        }
    }
    // Each request gets the identity and is closed in the erasure's transaction
    // (`close_requests`).
    let report = ctx
        .store
        .erase_subject(
            &subject_ref,
            &scopes,
            &erasure_options(req.dry_run, req.identity),
            &ctx.audit(),
        )
        .await?;
    Ok(Erasure {
        subject_ref,
        report,
        to_tell: to_tell(ctx, &answered).await?,
        requests: answered,
    })
}

/// Repeats every erasure of the ledger file, e.g. after a backup was restored. Only what
/// existed at each erasure is erased again; what the person gave afterwards stays.
pub async fn replay(ctx: &Context) -> Result<Vec<Erasure>> {
    let mut out = Vec::new();
    for entry in ctx.store.erasure_ledger().await? {
        let tenants: Vec<String> = match &entry.tenant {
            Some(t) => vec![t.clone()],
            None => ctx
                .policies
                .slugs()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        let opts = ErasureOptions {
            now: crate::domain::time::now(),
            dry_run: false,
            record_in_ledger: false,
            action: "subject.erase_replay",
            only_before: Some(Cutoff {
                at: entry.erased_at,
                upto: entry.upto,
            }),
            close_requests: false,
            identity: None,
        };
        let report = ctx
            .store
            .erase_subject(
                &entry.subject_ref,
                &scopes_of(ctx, &tenants),
                &opts,
                &ctx.audit(),
            )
            .await?;
        out.push(Erasure {
            subject_ref: entry.subject_ref,
            report,
            requests: Vec::new(),
            to_tell: Vec::new(),
        });
    }
    Ok(out)
}

pub const CORRECTABLE: &[&str] = &[
    "email",
    "phone",
    "first_name",
    "last_name",
    "address",
    "birth_date",
];

#[derive(Clone, Debug, Serialize)]
pub struct Rectification {
    pub subject_ref: SubjectRef,
    pub fields: Vec<&'static str>,
    /// Bookings changed per tenant.
    pub bookings: Vec<(String, usize)>,
    pub requests: Vec<(String, i64)>,
    /// Recipients of the person's data to be told of the rectification (Art. 19).
    pub to_tell: Vec<RecipientNotice>,
}

/// Art. 16: sets the given fields on the person's bookings, after validating every value.
/// Nothing changes when one `--set` is wrong.
pub async fn correct(
    ctx: &Context,
    email: &str,
    controllers: &Controllers,
    sets: &[String],
    request: Option<i64>,
    channel: Channel,
) -> Result<Rectification> {
    let subject_ref = email_ref(ctx, email).await?;
    if sets.is_empty() {
        return Err(Refusal::InvalidInput("--set: give at least one field=value".into()).into());
    }
    let mut tenants = tenants_of(ctx, &subject_ref, controllers).await?;
    if tenants.is_empty() {
        return Err(no_such_person("this person"));
    }
    if *controllers == Controllers::All {
        // A tenant where nothing changes gets no request: only bookings hold the fields
        // (a new e-mail also moves the person's other rows to its reference).
        let new_email = sets
            .iter()
            .any(|s| s.split_once('=').is_some_and(|(f, _)| f.trim() == "email"));
        let mut changing = Vec::new();
        for t in tenants {
            let data = ctx.store.subject_data(&subject_ref, &t).await?;
            if !data.bookings.is_empty() || (new_email && !data.is_empty()) {
                changing.push(t);
            }
        }
        if changing.is_empty() {
            return Err(Refusal::NotFound(
                "the person has no booking to correct at any tenant".into(),
            )
            .into());
        }
        tenants = changing;
    }
    let today = crate::domain::time::now().date_naive();
    let mut c = Correction::default();
    let invalid =
        |set: &str, problem: String| Refusal::InvalidInput(format!("--set {set}: {problem}"));
    for set in sets {
        let (field, value) = set
            .split_once('=')
            .ok_or_else(|| invalid(set, "write it as field=value".into()))?;
        let field = CORRECTABLE
            .iter()
            .copied()
            .find(|f| *f == field.trim())
            .ok_or_else(|| {
                invalid(
                    set,
                    format!("unknown field; use one of {}", CORRECTABLE.join(", ")),
                )
            })?;
        if c.fields.contains(&field) {
            return Err(invalid(set, "the field is given twice".into()).into());
        }
        // A field the tenant's policy does not collect cannot be set there.
        for t in &tenants {
            let policy = ctx.policies.require(t)?;
            let listed = |cat: &str| policy.booking_purpose().categories.iter().any(|c| c == cat);
            let collected = match field {
                "first_name" | "last_name" => listed("name") || listed(field),
                other => listed(other),
            };
            if !collected {
                return Err(invalid(set, format!("tenant {t} does not collect this field")).into());
            }
        }
        let value = value.trim();
        match field {
            "email" => {
                if !is_email_address(value) {
                    return Err(invalid(set, "not an e-mail address".into()).into());
                }
                let key = ctx.store.pseudonym_key().await?;
                c.email = Some((value.to_owned(), SubjectRef::for_email(&key, value)));
            }
            "phone" => {
                c.phone = Some(
                    normalize_phone(value)
                        .ok_or_else(|| invalid(set, "not a phone number".into()))?,
                )
            }
            "first_name" => {
                c.first_name = Some(booking::validate_name(value).map_err(|e| invalid(set, e))?)
            }
            "last_name" => {
                c.last_name = Some(booking::validate_name(value).map_err(|e| invalid(set, e))?)
            }
            "address" => {
                c.address = Some(booking::validate_address(value).map_err(|e| invalid(set, e))?)
            }
            "birth_date" => {
                c.birth_date =
                    Some(booking::validate_birth_date(value, today).map_err(|e| invalid(set, e))?)
            }
            _ => unreachable!("CORRECTABLE lists every field"),
        }
        c.fields.push(field);
    }
    let answered: Vec<(String, i64)> = requests::ensure_each(
        ctx,
        &tenants,
        RequestKind::Rectification,
        &subject_ref,
        channel,
        request,
    )
    .await?
    .into_iter()
    .zip(&tenants)
    .map(|((r, _), t)| (t.clone(), r.id))
    .collect();
    c.requests = answered.clone();
    let render = |tenant: &str, m: &UnsentMessage| {
        let policy = ctx.policies.get(tenant)?;
        let facts = MessageFacts {
            first_name: m.first_name.as_deref().unwrap_or_default(),
            last_name: m.last_name.as_deref().unwrap_or_default(),
            email: m.email.as_deref().unwrap_or_default(),
            phone: m.phone.as_deref(),
            service_name: &m.service_name,
            starts_at: m.starts_at,
            reference: &m.reference,
        };
        message_text(policy, &m.kind, &facts)
    };
    let bookings = ctx
        .store
        .correct_subject(&subject_ref, &tenants, &c, &render, &ctx.audit())
        .await?;
    requests::close_each_once(ctx, answered.iter().map(|(_, id)| *id), Outcome::Rectified).await?;
    Ok(Rectification {
        subject_ref,
        fields: c.fields,
        bookings,
        to_tell: to_tell(ctx, &answered).await?,
        requests: answered,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct RestrictionReport {
    pub subject_ref: SubjectRef,
    /// Per tenant: the restriction made and the request it answers.
    pub restrictions: Vec<TenantRestriction>,
    /// How many were lifted.
    pub lifted: usize,
    /// Recipients of the person's data to be told of the restriction (Art. 19).
    #[serde(skip)]
    pub to_tell: Vec<RecipientNotice>,
    /// How many.
    pub recipients_to_tell: usize,
    /// The notices of Art. 18(3) written before the restrictions were lifted.
    pub letters: Vec<std::path::PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantRestriction {
    pub tenant: String,
    pub restriction: i64,
    pub request: i64,
}

/// Art. 18: the person's data stay, are not used, and are not erased by `erase` or retention.
/// Each restriction and its request belong to one tenant; never to none.
pub async fn restrict(
    ctx: &Context,
    email: &str,
    controllers: &Controllers,
    reason: &str,
    request: Option<i64>,
    channel: Channel,
) -> Result<RestrictionReport> {
    let subject_ref = email_ref(ctx, email).await?;
    if reason.trim().is_empty() {
        return Err(
            Refusal::InvalidInput("--reason: say why the processing is restricted".into()).into(),
        );
    }
    let tenants = tenants_of(ctx, &subject_ref, controllers).await?;
    if tenants.is_empty() {
        return Err(no_such_person("this person"));
    }
    let answered = requests::ensure_each(
        ctx,
        &tenants,
        RequestKind::Restriction,
        &subject_ref,
        channel,
        request,
    )
    .await?;
    let mut restrictions = Vec::new();
    for (tenant, (r, _)) in tenants.iter().zip(answered) {
        let id = ctx
            .store
            .add_restriction(
                Some(tenant),
                &subject_ref,
                reason.trim(),
                Some(r.id),
                &ctx.audit(),
            )
            .await?;
        restrictions.push(TenantRestriction {
            tenant: tenant.clone(),
            restriction: id,
            request: r.id,
        });
    }
    let closed = requests::close_each_once(
        ctx,
        restrictions.iter().map(|r| r.request),
        Outcome::Restricted,
    )
    .await?;
    let mut to_tell = Vec::new();
    for id in closed {
        to_tell.extend(ctx.store.recipient_notices(id).await?);
    }
    Ok(RestrictionReport {
        subject_ref,
        restrictions,
        lifted: 0,
        recipients_to_tell: to_tell.len(),
        to_tell,
        letters: Vec::new(),
    })
}

/// Lifts the person's restrictions (at the tenant, or everywhere). The person is told
/// first (Art. 18(3)): a notice per restriction is written into its request's folder before
/// the register changes; a notice that cannot be written lifts nothing.
pub async fn lift(
    ctx: &Context,
    email: &str,
    controllers: &Controllers,
    reason: Option<&str>,
    letter: &requests::LetterOptions,
) -> Result<RestrictionReport> {
    use super::letters::{self, LetterFacts, LetterKind};
    let subject_ref = email_ref(ctx, email).await?;
    let tenant = controllers.tenant();
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let active: Vec<_> = ctx
        .store
        .restrictions(&subject_ref)
        .await?
        .into_iter()
        .filter(|r| tenant.is_none() || r.tenant.as_deref() == tenant)
        .collect();
    if active.is_empty() {
        return Err(Refusal::NotFound("no active restriction for this person".into()).into());
    }
    let now = crate::domain::time::now();
    let mut written = Vec::new();
    for restriction in &active {
        let request = match restriction.request_id {
            Some(id) => requests::get(ctx, id).await?,
            // A restriction entered without a register entry: the notice cites the
            // restriction itself.
            None => crate::store::Request {
                id: restriction.id,
                tenant: restriction.tenant.clone(),
                kind: RequestKind::Restriction,
                subject_ref: Some(subject_ref.clone()),
                channel: Channel::Email,
                received_at: restriction.created_at,
                due_on: restriction.created_at.date_naive(),
                extended_due_on: None,
                extension_reason: None,
                status: crate::domain::requests::RequestStatus::Closed,
                outcome: Some(Outcome::Restricted),
                closed_at: None,
                created_at: restriction.created_at,
                close_reason: None,
                identity: None,
            },
        };
        let policy = restriction
            .tenant
            .as_deref()
            .and_then(|t| ctx.policies.get(t))
            .or_else(|| ctx.policies.entries.first().map(|e| &e.policy))
            .ok_or_else(|| anyhow::anyhow!("no tenant policy to write the notice from"))?;
        let folder = letters::request_folder(letter.out.as_deref(), policy, request.id)?;
        let mut to = letters::addressee(ctx, &request, letter).await?;
        if to.email.is_none() {
            to.email = Some(email.trim().to_owned());
        }
        let facts = LetterFacts {
            reasons: reason.map(str::to_owned),
            restriction_reason: Some(restriction.reason.clone()),
            effective_on: Some(now.with_timezone(&policy.tenant.zone()).date_naive()),
            ..Default::default()
        };
        let rendered = letters::render(
            LetterKind::RestrictionLift,
            policy,
            &request,
            &to,
            &facts,
            now,
        )?;
        written.push(letters::write(
            &folder,
            LetterKind::RestrictionLift,
            policy,
            now,
            &rendered,
        )?);
    }
    let lifted = ctx
        .store
        .lift_restrictions(tenant, &subject_ref, &ctx.audit())
        .await?;
    Ok(RestrictionReport {
        subject_ref,
        restrictions: Vec::new(),
        lifted,
        to_tell: Vec::new(),
        recipients_to_tell: 0,
        letters: written,
    })
}

/// What a legal hold is put on, as given on the command line.
pub enum HoldOn<'a> {
    Email(&'a str),
    Booking(&'a str),
}

pub async fn hold_add(
    ctx: &Context,
    tenant: &str,
    on: HoldOn<'_>,
    reason: &str,
    until: Option<NaiveDate>,
) -> Result<i64> {
    ctx.policies.require(tenant)?;
    if reason.trim().is_empty() {
        return Err(Refusal::InvalidInput("--reason: a hold needs a reason".into()).into());
    }
    let today = crate::domain::time::now().date_naive();
    if until.is_some_and(|u| u < today) {
        return Err(Refusal::InvalidInput("--until: the day has passed".into()).into());
    }
    let target = match on {
        HoldOn::Email(e) => HoldTarget::Subject(email_ref(ctx, e).await?),
        HoldOn::Booking(r) => HoldTarget::Booking(r.trim().to_owned()),
    };
    ctx.store
        .add_hold(tenant, &target, reason.trim(), until, &ctx.audit())
        .await
        .map_err(Into::into)
}

pub async fn hold_list(ctx: &Context, tenant: Option<&str>, all: bool) -> Result<Vec<Hold>> {
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    Ok(ctx.store.list_holds(tenant, all).await?)
}

pub async fn hold_remove(ctx: &Context, id: i64) -> Result<()> {
    if ctx.store.remove_hold(id, &ctx.audit()).await? {
        Ok(())
    } else {
        Err(Refusal::NotFound(format!("hold {id} does not exist or was removed already")).into())
    }
}
