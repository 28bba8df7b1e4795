//! The citizen's pages: service → free slots (a week per page) → form → redirect to the
//! confirmation, cancelling and withdrawing. Plain HTML forms, no JavaScript, no cookies.
//! All texts German.

use super::AppState;
use super::access_log::{LoggedBooking, Peer};
use super::api::limit;
use super::error::{booking_refusal_message, cancel_refusal_message};
use super::extract::{FormRefusal, Utf8Form};
use super::shell::{Crumb, Shell, TenantLinks};
use crate::domain::booking::{
    BookingForm, FieldErrors, FormFields, mask_email, normalize_reference,
};
use crate::domain::notice::Notice;
use crate::domain::time::appointment_de;
use crate::domain::time::now;
use crate::ops::booking::{self, BookingError};
use crate::store::{BookingRefusal, OpenSlot};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate, Timelike};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/t/{tenant}", get(tenant_page))
        .route("/t/{tenant}/datenschutz", get(privacy))
        .route("/t/{tenant}/kontakt", get(contact))
        .route("/t/{tenant}/gebucht/{token}", get(confirmation))
        .route(
            "/t/{tenant}/gebucht/{token}/termin.ics",
            get(confirmation_ics),
        )
        .route("/t/{tenant}/termine", get(slots_page))
        .route("/t/{tenant}/buchen/{slot_id}", get(form_page).post(submit))
        .route("/t/{tenant}/absagen", get(cancel_page).post(cancel_submit))
        .route(
            "/t/{tenant}/widerrufen",
            get(withdraw_page).post(withdraw_submit),
        )
        .route_layer(axum::middleware::from_fn(refuse_cross_site))
}

/// Whether a request comes from another site's page: `Sec-Fetch-Site: cross-site` says so;
/// without that header (older browsers) an `Origin` whose host is not ours does. A request
/// with neither (curl, very old browsers) is not a browser acting for another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(
            site.to_str().unwrap_or(""),
            "same-origin" | "same-site" | "none"
        );
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        let (scheme, rest) = o.split_once("://")?;
        Some(authority(scheme, rest))
    });
    match (origin_host, host) {
        (Some(o), Some(h)) => o != authority("http", h) && o != authority("https", h),
        _ => true,
    }
}

/// `host[:port]` in lower case, without the scheme's default port.
fn authority(scheme: &str, host: &str) -> String {
    let host = host.trim().trim_end_matches('/').to_ascii_lowercase();
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    match host.strip_suffix(default) {
        Some(h) if !default.is_empty() => h.to_owned(),
        _ => host,
    }
}

/// Form posts from another site's page are refused: they could book or cancel in the
/// citizen's name without the citizen seeing our form.
pub(super) async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && cross_site(request.headers()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Dieses Formular wurde von einer anderen Website abgeschickt und deshalb nicht angenommen. Bitte öffnen Sie die Terminbuchung direkt auf unserer Seite.",
        );
    }
    next.run(request).await
}

pub(super) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("template failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><html lang=\"de\"><title>Fehler</title><p>Interner Fehler</p></html>"),
            )
                .into_response()
        }
    }
}

/// What an error answer says to the citizen. Handlers and layers answer with the status and
/// this message; [`super::in_the_routes_format`] renders the page once, with the frame of
/// the tenant whose address was asked for (it has the policies, the handler need not).
#[derive(Clone, Debug)]
pub(super) struct ErrorMessage(pub String);

pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let mut response = status.into_response();
    response
        .extensions_mut()
        .insert(ErrorMessage(message.to_owned()));
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    shell: Shell,
    title: &'a str,
    message: &'a str,
    /// The tenant's page to go back to, when the address was one of its pages.
    back: Option<(String, String)>,
}

/// The HTML page of an error answer at `path`: in the tenant's frame when the path is one
/// of a known tenant's pages, with the office's contact in the footer.
pub(super) fn render_error(
    state: &AppState,
    path: &str,
    status: StatusCode,
    message: &str,
) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Seite nicht gefunden",
        StatusCode::FORBIDDEN => "Nicht angenommen",
        StatusCode::TOO_MANY_REQUESTS => "Zu viele Versuche",
        StatusCode::CONFLICT => "Nicht mehr möglich",
        StatusCode::GONE => "Nicht mehr verfügbar",
        StatusCode::SERVICE_UNAVAILABLE => "Vorübergehend nicht verfügbar",
        s if s.is_client_error() => "Ungültige Anfrage",
        _ => "Es ist ein Fehler aufgetreten",
    };
    let policy = path
        .strip_prefix("/t/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|slug| state.ctx.policies.get(slug));
    let (shell, back) = match policy {
        Some(p) => (
            Shell::tenant(p, &[(title, None)]),
            Some((format!("/t/{}", p.tenant.slug), p.tenant.name.clone())),
        ),
        None => (
            Shell::general(
                state.ctx.policies.entries.iter().map(|e| &e.policy),
                vec![
                    Crumb {
                        label: "Startseite".into(),
                        href: Some("/".into()),
                    },
                    Crumb {
                        label: title.into(),
                        href: None,
                    },
                ],
            ),
            None,
        ),
    };
    render(
        status,
        &ErrorPage {
            shell,
            title,
            message,
            back,
        },
    )
}

fn booking_error_page(e: BookingError) -> Response {
    match e {
        BookingError::UnknownTenant(_) => error_page(
            StatusCode::NOT_FOUND,
            "Diese Verwaltung bietet hier keine Online-Termine an.",
        ),
        BookingError::UnknownService(_) => error_page(
            StatusCode::NOT_FOUND,
            "Diese Dienstleistung gibt es hier nicht.",
        ),
        BookingError::Refused(r) => {
            let (status, message) = booking_refusal_message(r);
            error_page(status, message)
        }
        BookingError::Invalid(_) => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Bitte die Angaben prüfen.",
        ),
        BookingError::Internal(e) => internal(e),
    }
}

fn internal(e: anyhow::Error) -> Response {
    tracing::error!("page failed: {e:#}");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Interner Fehler; bitte später erneut versuchen.",
    )
}

fn unknown_tenant() -> Response {
    booking_error_page(BookingError::UnknownTenant(String::new()))
}

/// The fields of an error summary, in the order of the form: (field id, message).
fn error_list(errors: &FieldErrors, order: &[&str]) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = order
        .iter()
        .filter_map(|f| errors.get(*f).map(|m| ((*f).to_owned(), m.clone())))
        .collect();
    for (f, m) in errors {
        if !order.contains(&f.as_str()) {
            list.push((f.clone(), m.clone()));
        }
    }
    list
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    shell: Shell,
    tenants: Vec<(String, String)>,
}

async fn index(State(state): State<AppState>) -> Response {
    let policies = || state.ctx.policies.entries.iter().map(|e| &e.policy);
    let tenants = policies()
        .map(|p| (p.tenant.slug.clone(), p.tenant.name.clone()))
        .collect();
    render(
        StatusCode::OK,
        &IndexPage {
            shell: Shell::general(policies(), Vec::new()),
            tenants,
        },
    )
}

#[derive(Template)]
#[template(path = "tenant.html")]
struct TenantPage {
    shell: Shell,
    tenant: String,
    tenant_name: String,
    services: Vec<crate::store::Service>,
}

async fn tenant_page(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let services = match booking::services(&state.ctx, &tenant).await {
        Ok(s) => s,
        Err(e) => return booking_error_page(e),
    };
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    render(
        StatusCode::OK,
        &TenantPage {
            shell: Shell::tenant(policy, &[]),
            tenant_name: policy.tenant.name.clone(),
            tenant,
            services,
        },
    )
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    shell: Shell,
    notice: Notice,
}

async fn privacy(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match state.ctx.policies.get(&tenant) {
        Some(p) => render(
            StatusCode::OK,
            &PrivacyPage {
                shell: Shell::tenant(p, &[("Datenschutz", None)]),
                notice: Notice::of(p),
            },
        ),
        None => unknown_tenant(),
    }
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    shell: Shell,
    office: TenantLinks,
    email: String,
    website: Option<String>,
    opening_hours: Option<String>,
    dpo: String,
}

/// Kontakt: how to reach the office (address, phone, e-mail, hours) and the DPO.
async fn contact(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let Some(p) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    render(
        StatusCode::OK,
        &ContactPage {
            shell: Shell::tenant(p, &[("Kontakt", None)]),
            office: TenantLinks::of(p),
            email: p.tenant.email.clone(),
            website: p.tenant.website.clone(),
            opening_hours: p.site.opening_hours.clone(),
            dpo: p.tenant.dpo.clone(),
        },
    )
}

#[derive(Deserialize)]
struct SlotsQuery {
    #[serde(default)]
    service: String,
    /// The Monday of the week shown (`YYYY-MM-DD`); the week of the first free slot when absent.
    #[serde(default)]
    ab: String,
    /// `vormittag` (before 12:00), `nachmittag`, anything else: the whole day.
    #[serde(default)]
    zeit: String,
}

/// Part of the day a citizen can filter the slots by (`?zeit=`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DayPart {
    All,
    Morning,
    Afternoon,
}

impl DayPart {
    fn parse(text: &str) -> Self {
        match text {
            "vormittag" => DayPart::Morning,
            "nachmittag" => DayPart::Afternoon,
            _ => DayPart::All,
        }
    }

    fn param(self) -> &'static str {
        match self {
            DayPart::All => "",
            DayPart::Morning => "vormittag",
            DayPart::Afternoon => "nachmittag",
        }
    }

    fn holds(self, hour: u32) -> bool {
        match self {
            DayPart::All => true,
            DayPart::Morning => hour < 12,
            DayPart::Afternoon => hour >= 12,
        }
    }
}

#[derive(Template)]
#[template(path = "slots.html")]
struct SlotsPage {
    shell: Shell,
    tenant: String,
    service_code: String,
    service_name: String,
    zeit: &'static str,
    /// The first free slot (of the chosen part of the day): (id, "Montag, 7.12.2026, 08:20 Uhr").
    first: Option<(i64, String)>,
    /// "7. bis 13. Dezember 2026"
    week: String,
    /// (day heading, [(slot id, "08:20")]) of the week shown.
    days: Vec<(String, Vec<(i64, String)>)>,
    previous: Option<String>,
    next: Option<String>,
    office: TenantLinks,
    opening_hours: Option<String>,
}

const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn monday_of(day: NaiveDate) -> NaiveDate {
    day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// "7. bis 13. Dezember 2026", "28. Dezember 2026 bis 3. Januar 2027".
fn week_de(monday: NaiveDate) -> String {
    let sunday = monday + chrono::Duration::days(6);
    let month = |d: NaiveDate| MONTHS_DE[d.month0() as usize];
    if monday.year() != sunday.year() {
        format!(
            "{}. {} {} bis {}. {} {}",
            monday.day(),
            month(monday),
            monday.year(),
            sunday.day(),
            month(sunday),
            sunday.year()
        )
    } else if monday.month() != sunday.month() {
        format!(
            "{}. {} bis {}. {} {}",
            monday.day(),
            month(monday),
            sunday.day(),
            month(sunday),
            sunday.year()
        )
    } else {
        format!(
            "{}. bis {}. {} {}",
            monday.day(),
            sunday.day(),
            month(sunday),
            sunday.year()
        )
    }
}

/// The free slots, one week per page: the first free appointment on top, the week's days
/// below, links to the weeks before and after that have free slots, and a filter for the
/// morning or the afternoon — all plain links and a GET form.
async fn slots_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    query: Result<Query<SlotsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) if !q.service.is_empty() => q,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Bitte zuerst eine Dienstleistung wählen.",
            );
        }
    };
    let now = now();
    let slots = match booking::free_slots(&state.ctx, &tenant, &q.service, None, None, now).await {
        Ok(s) => s,
        Err(e) => return booking_error_page(e),
    };
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let tz = policy.tenant.zone();
    let service_name = match booking::services(&state.ctx, &tenant).await {
        Ok(list) => list
            .into_iter()
            .find(|s| s.code == q.service)
            .map(|s| s.name)
            .unwrap_or_default(),
        Err(e) => return booking_error_page(e),
    };
    let part = DayPart::parse(&q.zeit);
    let slots: Vec<_> = slots
        .into_iter()
        .map(|s| (s.id, s.starts_at.with_timezone(&tz)))
        .filter(|(_, at)| part.holds(at.hour()))
        .collect();
    let this_week = monday_of(now.with_timezone(&tz).date_naive());
    let asked = NaiveDate::parse_from_str(&q.ab, "%Y-%m-%d")
        .ok()
        .map(monday_of);
    let first_week = slots.first().map(|(_, at)| monday_of(at.date_naive()));
    let monday = asked.or(first_week).unwrap_or(this_week).max(this_week);
    let next_monday = monday + chrono::Duration::days(7);
    let link = |week: NaiveDate| {
        let mut href = format!(
            "/t/{tenant}/termine?service={}&ab={}",
            urlencode(&q.service),
            week.format("%Y-%m-%d")
        );
        if part != DayPart::All {
            href.push_str("&zeit=");
            href.push_str(part.param());
        }
        href
    };
    let previous = slots
        .iter()
        .rev()
        .find(|(_, at)| at.date_naive() < monday)
        .map(|(_, at)| link(monday_of(at.date_naive())));
    let next = slots
        .iter()
        .find(|(_, at)| at.date_naive() >= next_monday)
        .map(|(_, at)| link(monday_of(at.date_naive())));
    let mut days: Vec<(String, Vec<(i64, String)>)> = Vec::new();
    for (id, at) in slots
        .iter()
        .filter(|(_, at)| at.date_naive() >= monday && at.date_naive() < next_monday)
    {
        let heading = appointment_de(tz, at.with_timezone(&chrono::Utc));
        let day = heading
            .rsplit_once(", ")
            .map_or(heading.clone(), |(d, _)| d.to_owned());
        let time = at.format("%H:%M").to_string();
        match days.last_mut() {
            Some((d, list)) if *d == day => list.push((*id, time)),
            _ => days.push((day, vec![(*id, time)])),
        }
    }
    let first = slots
        .first()
        .map(|(id, at)| (*id, appointment_de(tz, at.with_timezone(&chrono::Utc))));
    render(
        StatusCode::OK,
        &SlotsPage {
            shell: Shell::tenant(policy, &[(service_name.as_str(), None)]),
            tenant,
            service_code: q.service.clone(),
            service_name: service_name.clone(),
            zeit: part.param(),
            first,
            week: week_de(monday),
            days,
            previous,
            next,
            office: TenantLinks::of(policy),
            opening_hours: policy.site.opening_hours.clone(),
        },
    )
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What the form shows again after a failed submit (never the code, never the consent text).
#[derive(Default, Deserialize)]
pub struct FormValues {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default, deserialize_with = "checkbox")]
    consent: bool,
    #[serde(default, deserialize_with = "checkbox")]
    sms_reminder: bool,
}

/// An HTML checkbox is present ("on") when ticked and absent otherwise.
fn checkbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = String::deserialize(d)?;
    Ok(!v.is_empty() && v != "off" && v != "false")
}

impl FormValues {
    fn to_form(&self, slot_id: i64) -> BookingForm {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        BookingForm {
            slot_id: Some(slot_id),
            first_name: opt(&self.first_name),
            last_name: opt(&self.last_name),
            email: opt(&self.email),
            phone: opt(&self.phone),
            address: opt(&self.address),
            birth_date: opt(&self.birth_date),
            consent: self.consent,
            sms_reminder: self.sms_reminder,
        }
    }
}

/// The booking form's fields in the order they appear, for the error summary.
const FORM_ORDER: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "birth_date",
    "consent",
    "sms_reminder",
    "slot_id",
];

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    shell: Shell,
    tenant: String,
    tenant_bei: String,
    slot_id: i64,
    service_code: String,
    service_name: String,
    appointment: String,
    notice: Notice,
    fields: FormFields,
    /// What the booking's consent is for, in one line (the label); the full text below it.
    consent_purpose: String,
    consent_text: Option<String>,
    sms_text: Option<String>,
    values: FormValues,
    errors: FieldErrors,
    error_list: Vec<(String, String)>,
}

async fn load_slot(state: &AppState, tenant: &str, slot_id: i64) -> Result<OpenSlot, Response> {
    if state.ctx.policies.get(tenant).is_none() {
        return Err(unknown_tenant());
    }
    match booking::bookable_slot(&state.ctx, tenant, slot_id).await {
        Ok(slot) => Ok(slot),
        Err(BookingError::Refused(BookingRefusal::SlotNotFound)) => Err(error_page(
            StatusCode::NOT_FOUND,
            "Diesen Termin gibt es hier nicht.",
        )),
        // A slot on a day the policy closes (made before the day was added).
        Err(BookingError::Invalid(_)) => Err(error_page(
            StatusCode::CONFLICT,
            booking::CLOSED_DAY_MESSAGE,
        )),
        Err(e) => Err(booking_error_page(e)),
    }
}

fn form_page_for(
    state: &AppState,
    tenant: String,
    slot: &OpenSlot,
    values: FormValues,
    errors: FieldErrors,
) -> FormPage {
    let policy = state
        .ctx
        .policies
        .get(&tenant)
        .expect("load_slot checked the tenant");
    let booking = policy.booking_purpose();
    let fields = FormFields::of(policy);
    let service_href = format!(
        "/t/{tenant}/termine?service={}",
        urlencode(&slot.service_code)
    );
    FormPage {
        shell: Shell::tenant(
            policy,
            &[
                (slot.service_name.as_str(), Some(service_href)),
                ("Angaben", None),
            ],
        ),
        tenant_bei: policy.tenant.bei(),
        slot_id: slot.id,
        service_code: slot.service_code.clone(),
        service_name: slot.service_name.clone(),
        appointment: appointment_de(policy.tenant.zone(), slot.starts_at),
        notice: Notice::of(policy),
        consent_purpose: booking.description.clone(),
        consent_text: booking.consent.as_ref().map(|c| c.text.clone()),
        sms_text: fields
            .sms_reminder
            .then(|| policy.purpose(crate::domain::booking::SMS_PURPOSE))
            .flatten()
            .and_then(|p| p.consent.as_ref())
            .map(|c| c.text.clone()),
        fields,
        tenant,
        values,
        error_list: error_list(&errors, FORM_ORDER),
        errors,
    }
}

async fn form_page(
    State(state): State<AppState>,
    Path((tenant, slot_id)): Path<(String, i64)>,
) -> Response {
    let slot = match load_slot(&state, &tenant, slot_id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if slot.free() <= 0 || slot.starts_at <= now() {
        return error_page(
            StatusCode::CONFLICT,
            "Dieser Termin ist leider nicht mehr frei. Bitte wählen Sie einen anderen.",
        );
    }
    render(
        StatusCode::OK,
        &form_page_for(
            &state,
            tenant,
            &slot,
            FormValues::default(),
            FieldErrors::new(),
        ),
    )
}

/// A booking answers with a redirect (post/redirect/get) to its confirmation page, so a
/// reload shows the confirmation again instead of posting the form a second time.
async fn submit(
    State(state): State<AppState>,
    Path((tenant, slot_id)): Path<(String, i64)>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Utf8Form<FormValues>, FormRefusal>,
) -> Response {
    if limit(&state, &headers, peer).is_err() {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Zu viele Versuche; bitte in einer Minute erneut versuchen.",
        );
    }
    let slot = match load_slot(&state, &tenant, slot_id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let values = match form {
        Ok(Utf8Form(v)) => v,
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            return error_page(status, message);
        }
    };
    let now = now();
    match booking::book_through(
        &state.ctx,
        state.bookings.as_ref(),
        &tenant,
        &values.to_form(slot_id),
        now,
        None,
    )
    .await
    {
        Ok(receipt) => {
            let token = match booking::issue_receipt(&state.ctx, &receipt, now).await {
                Ok(t) => t,
                Err(e) => return internal(e),
            };
            let mut r = Redirect::to(&format!("/t/{tenant}/gebucht/{token}")).into_response();
            r.extensions_mut().insert(LoggedBooking(receipt.booking_id));
            r
        }
        Err(BookingError::Invalid(errors)) => {
            let page = form_page_for(&state, tenant, &slot, values, errors);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => booking_error_page(e),
    }
}

#[derive(Template)]
#[template(path = "confirmation.html")]
struct ConfirmationPage {
    shell: Shell,
    tenant: String,
    tenant_bei: String,
    token: String,
    booked: bool,
    reference: String,
    code: Option<String>,
    service_name: String,
    appointment: String,
    office: TenantLinks,
    opening_hours: Option<String>,
    bring: Option<String>,
    email: Option<String>,
}

/// The confirmation of a booking, reached only through the redirect's URL: its token is
/// stored as a keyed hash and lasts an hour. The booking code shows on the first view
/// only; the e-mail address is masked, as the URL may end up in a browser history.
async fn confirmation(
    State(state): State<AppState>,
    Path((tenant, token)): Path<(String, String)>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let shown = match booking::open_receipt(&state.ctx, &token, now()).await {
        Ok(Some(s)) if s.receipt.tenant == tenant => s,
        Ok(_) => return receipt_gone(),
        Err(e) => return internal(e),
    };
    let r = shown.receipt;
    let mut response = render(
        StatusCode::OK,
        &ConfirmationPage {
            shell: Shell::tenant(policy, &[("Buchungsbestätigung", None)]),
            tenant_bei: policy.tenant.bei(),
            token,
            booked: r.booked,
            reference: r.reference,
            code: shown.code,
            appointment: appointment_de(policy.tenant.zone(), r.starts_at),
            bring: policy.site.bring.get(&r.service_code).cloned(),
            service_name: r.service_name,
            office: TenantLinks::of(policy),
            opening_hours: policy.site.opening_hours.clone(),
            email: r.email.as_deref().map(mask_email),
            tenant,
        },
    );
    response
        .extensions_mut()
        .insert(LoggedBooking(r.booking_id));
    response
}

fn receipt_gone() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Diese Bestätigungsseite ist abgelaufen oder die Adresse ist unvollständig. Sie ist aus \
         Datenschutzgründen nur eine Stunde lang abrufbar. Ihre Buchung ist davon nicht berührt: \
         Die Bestätigung mit Termin und Buchungsnummer haben Sie per E-Mail erhalten.",
    )
}

/// The appointment as a calendar entry (`termin.ics`), through the same token as the page.
async fn confirmation_ics(
    State(state): State<AppState>,
    Path((tenant, token)): Path<(String, String)>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let r = match booking::peek_receipt(&state.ctx, &token, now()).await {
        Ok(Some(r)) if r.tenant == tenant && r.booked => r,
        Ok(_) => return receipt_gone(),
        Err(e) => return internal(e),
    };
    let t = &policy.tenant;
    let domain = t.email.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let summary = format!("{} – {}", r.service_name, t.name);
    let description = format!(
        "Buchungsnummer: {}\nAbsagen: {}",
        r.reference,
        t.phone
            .as_deref()
            .map_or_else(|| t.email.clone(), |p| format!("{p} oder online")),
    );
    let text = crate::mail::ics::calendar(&crate::mail::ics::CalendarEntry {
        reference: &r.reference,
        domain,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        summary: &summary,
        location: &t.address,
        description: &description,
        stamp: now(),
    });
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"termin.ics\"",
            ),
        ],
        text,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "cancel.html")]
struct CancelPage {
    shell: Shell,
    tenant: String,
    reference: String,
    /// The result after a successful cancel; the page then shows nothing else.
    done: Option<String>,
    message: Option<String>,
    errors: FieldErrors,
    error_list: Vec<(String, String)>,
    office: TenantLinks,
    email: String,
    opening_hours: Option<String>,
}

impl CancelPage {
    fn new(policy: &crate::domain::policy::Policy, reference: String) -> Self {
        CancelPage {
            shell: Shell::tenant(policy, &[("Termin absagen", None)]),
            tenant: policy.tenant.slug.clone(),
            reference,
            done: None,
            message: None,
            errors: FieldErrors::new(),
            error_list: Vec::new(),
            office: TenantLinks::of(policy),
            email: policy.tenant.email.clone(),
            opening_hours: policy.site.opening_hours.clone(),
        }
    }
}

async fn cancel_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    render(
        StatusCode::OK,
        &CancelPage::new(policy, reference_from_link(query.as_deref())),
    )
}

/// The reference in the cancel link of a confirmation e-mail (`?buchung=…`), to fill in the
/// form; anything that is not a plausible reference is ignored.
fn reference_from_link(query: Option<&str>) -> String {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("buchung="))
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 40
                && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .unwrap_or_default()
        .to_owned()
}

#[derive(Deserialize)]
struct CancelForm {
    #[serde(default)]
    reference: String,
    #[serde(default)]
    code: String,
}

/// Field errors for an empty reference or code, shared by cancelling and withdrawing.
fn code_form_errors(reference: &str, code: &str) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if reference.trim().is_empty() {
        errors.insert(
            "reference".into(),
            "Bitte geben Sie die Buchungsnummer an.".into(),
        );
    }
    if code.trim().is_empty() {
        errors.insert("code".into(), "Bitte geben Sie den Buchungscode an.".into());
    }
    errors
}

async fn cancel_submit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Utf8Form<CancelForm>, FormRefusal>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let tz = policy.tenant.zone();
    if limit(&state, &headers, peer).is_err() {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Zu viele Versuche; bitte in einer Minute erneut versuchen.",
        );
    }
    let f = match form {
        Ok(Utf8Form(f)) => f,
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            return error_page(status, message);
        }
    };
    let reference = normalize_reference(&f.reference);
    let mut page = CancelPage::new(policy, reference.clone());
    let errors = code_form_errors(&f.reference, &f.code);
    if !errors.is_empty() {
        page.error_list = error_list(&errors, &["reference", "code"]);
        page.errors = errors;
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let outcome = match booking::cancel(&state.ctx, &reference, &f.code, now()).await {
        Ok(o) => o,
        Err(e) => return internal(e),
    };
    // The request that cancels a booking is the citizen's own: its log row belongs to the
    // booking (so erasure removes it and the Auskunft lists it). Refused attempts may come
    // from anyone and stay unlinked.
    let cancelled = outcome.as_ref().ok().map(|c| c.booking_id);
    let status = match outcome {
        // A reference of another tenant is cancelled all the same: the code proves the right to.
        Ok(c) => {
            page.done = Some(format!(
                "Ihr Termin am {} ist abgesagt. Der Platz ist wieder frei.",
                appointment_de(tz, c.starts_at)
            ));
            StatusCode::OK
        }
        Err(refusal) => {
            let (status, message) = cancel_refusal_message(refusal);
            page.message = Some(message.to_owned());
            status
        }
    };
    let mut response = render(status, &page);
    if let Some(id) = cancelled {
        response.extensions_mut().insert(LoggedBooking(id));
    }
    response
}

#[derive(Template)]
#[template(path = "withdraw.html")]
struct WithdrawPage {
    shell: Shell,
    tenant: String,
    tenant_bei: String,
    tenant_name: String,
    reference: String,
    /// The tenant offers SMS reminders on consent: they can be withdrawn alone.
    sms: bool,
    /// The booking itself rests on consent: withdrawing all cancels and erases.
    booking_on_consent: bool,
    /// The reply, as the withdrawal mail's answer says it.
    done: Option<String>,
    message: Option<String>,
    errors: FieldErrors,
    error_list: Vec<(String, String)>,
}

impl WithdrawPage {
    fn new(policy: &crate::domain::policy::Policy, reference: String) -> Self {
        use crate::domain::policy::LegalBasis;
        WithdrawPage {
            shell: Shell::tenant(policy, &[("Einwilligung widerrufen", None)]),
            tenant: policy.tenant.slug.clone(),
            tenant_bei: policy.tenant.bei(),
            tenant_name: policy.tenant.name.clone(),
            reference,
            sms: policy.purposes.iter().any(|p| {
                p.id == crate::domain::booking::SMS_PURPOSE && p.legal_basis == LegalBasis::Consent
            }),
            booking_on_consent: policy.booking_purpose().legal_basis == LegalBasis::Consent,
            done: None,
            message: None,
            errors: FieldErrors::new(),
            error_list: Vec::new(),
        }
    }
}

/// Withdrawing consent as easily as it was given (Art. 7(3) s. 4): the booking reference
/// and code, one button.
async fn withdraw_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    render(
        StatusCode::OK,
        &WithdrawPage::new(policy, reference_from_link(query.as_deref())),
    )
}

#[derive(Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    reference: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    scope: String,
}

async fn withdraw_submit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Utf8Form<WithdrawForm>, FormRefusal>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    // The same rate limit as cancelling and booking.
    if limit(&state, &headers, peer).is_err() {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Zu viele Versuche; bitte in einer Minute erneut versuchen.",
        );
    }
    let f = match form {
        Ok(Utf8Form(f)) => f,
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            return error_page(status, message);
        }
    };
    let sms_only = match f.scope.as_str() {
        "" | "all" => false,
        "sms" => true,
        _ => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bitte wählen Sie aus, was Sie widerrufen möchten.",
            );
        }
    };
    let reference = normalize_reference(&f.reference);
    let mut page = WithdrawPage::new(policy, reference.clone());
    let errors = code_form_errors(&f.reference, &f.code);
    if !errors.is_empty() {
        page.error_list = error_list(&errors, &["reference", "code"]);
        page.errors = errors;
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let outcome = match crate::ops::withdrawals::withdraw_with_code(
        &state.ctx,
        &reference,
        &f.code,
        sms_only,
        now(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return internal(e),
    };
    // The access-log row of this request stays unlinked: a withdrawal may erase the booking
    // it would belong to.
    let status = match outcome {
        Ok(report) => {
            page.done = Some(report.reply_text.trim().to_owned());
            StatusCode::OK
        }
        Err(refusal) => {
            let (status, message) = withdraw_refusal_message(refusal);
            page.message = Some(message.to_owned());
            status
        }
    };
    render(status, &page)
}

/// The code check's refusals, worded for withdrawing rather than cancelling.
fn withdraw_refusal_message(r: crate::store::CancelRefusal) -> (StatusCode, &'static str) {
    use crate::store::CancelRefusal;
    match r {
        CancelRefusal::Locked => (
            StatusCode::TOO_MANY_REQUESTS,
            "Für diese Buchung wurde zu oft ein falscher Buchungscode eingegeben. Der Widerruf mit \
             dem Code ist für eine Stunde gesperrt. Sie können Ihre Einwilligung jederzeit auch per \
             E-Mail, per Brief, telefonisch oder persönlich widerrufen.",
        ),
        other => cancel_refusal_message(other),
    }
}

#[cfg(test)]
mod slot_page_tests {
    use super::{DayPart, monday_of, week_de};
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_week_runs_from_monday_and_reads_vom_bis() {
        assert_eq!(monday_of(day(2026, 12, 3)), day(2026, 11, 30));
        assert_eq!(monday_of(day(2026, 11, 30)), day(2026, 11, 30));
        assert_eq!(monday_of(day(2026, 12, 6)), day(2026, 11, 30));
        assert_eq!(week_de(day(2026, 12, 7)), "7. bis 13. Dezember 2026");
        assert_eq!(
            week_de(day(2026, 11, 30)),
            "30. November bis 6. Dezember 2026"
        );
        assert_eq!(
            week_de(day(2026, 12, 28)),
            "28. Dezember 2026 bis 3. Januar 2027"
        );
    }

    #[test]
    fn the_day_part_filter_splits_at_noon_and_ignores_anything_else() {
        assert!(DayPart::parse("vormittag").holds(11));
        assert!(!DayPart::parse("vormittag").holds(12));
        assert!(DayPart::parse("nachmittag").holds(12));
        assert!(!DayPart::parse("nachmittag").holds(8));
        assert!(DayPart::parse("<script>") == DayPart::All);
        assert_eq!(DayPart::parse("x").param(), "");
    }
}

#[cfg(test)]
mod cancel_link_tests {
    use super::reference_from_link;

    #[test]
    fn the_cancel_link_fills_in_the_reference_and_ignores_anything_else() {
        assert_eq!(
            reference_from_link(Some("buchung=T-WNVAU3A25D")),
            "T-WNVAU3A25D"
        );
        assert_eq!(reference_from_link(Some("x=1&buchung=AB-12")), "AB-12");
        assert_eq!(reference_from_link(None), "");
        assert_eq!(reference_from_link(Some("buchung=%3Cscript%3E")), "");
        assert_eq!(
            reference_from_link(Some(&format!("buchung={}", "A".repeat(41)))),
            ""
        );
    }
}
