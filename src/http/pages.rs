//! The citizen's pages: service → free slots → form → confirmation, and cancelling. Plain
//! HTML forms, no JavaScript, no cookies. All texts German.

use super::AppState;
use super::access_log::{LoggedBooking, Peer};
use super::api::limit;
use super::error::{booking_refusal_message, cancel_refusal_message};
use super::extract::{FormRefusal, Utf8Form};
use crate::domain::booking::{BookingForm, FieldErrors, FormFields};
use crate::domain::notice::Notice;
use crate::domain::time::appointment_de;
use crate::domain::time::now;
use crate::ops::booking::{self, BookingError, BookingReceipt};
use crate::store::{BookingRefusal, OpenSlot};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/t/{tenant}", get(tenant_page))
        .route("/t/{tenant}/datenschutz", get(privacy))
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

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Nicht gefunden",
        StatusCode::FORBIDDEN => "Nicht angenommen",
        StatusCode::TOO_MANY_REQUESTS => "Zu viele Versuche",
        StatusCode::CONFLICT => "Nicht mehr möglich",
        s if s.is_client_error() => "Ungültige Anfrage",
        _ => "Fehler",
    };
    render(status, &ErrorPage { title, message })
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
        BookingError::Internal(e) => {
            tracing::error!("page failed: {e:#}");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Interner Fehler; bitte später erneut versuchen.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    tenants: Vec<(String, String)>,
}

async fn index(State(state): State<AppState>) -> Response {
    let tenants = state
        .ctx
        .policies
        .entries
        .iter()
        .map(|e| (e.policy.tenant.slug.clone(), e.policy.tenant.name.clone()))
        .collect();
    render(StatusCode::OK, &IndexPage { tenants })
}

#[derive(Template)]
#[template(path = "tenant.html")]
struct TenantPage {
    tenant: String,
    tenant_name: String,
    services: Vec<crate::store::Service>,
}

async fn tenant_page(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let services = match booking::services(&state.ctx, &tenant).await {
        Ok(s) => s,
        Err(e) => return booking_error_page(e),
    };
    let tenant_name = state
        .ctx
        .policies
        .get(&tenant)
        .map(|p| p.tenant.name.clone())
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &TenantPage {
            tenant,
            tenant_name,
            services,
        },
    )
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    tenant: String,
    notice: Notice,
}

async fn privacy(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match state.ctx.policies.get(&tenant) {
        Some(p) => render(
            StatusCode::OK,
            &PrivacyPage {
                tenant,
                notice: Notice::of(p),
            },
        ),
        None => booking_error_page(BookingError::UnknownTenant(tenant)),
    }
}

#[derive(Deserialize)]
struct SlotsQuery {
    service: String,
}

#[derive(Template)]
#[template(path = "slots.html")]
struct SlotsPage {
    tenant: String,
    tenant_name: String,
    service_name: String,
    /// (day heading, [(slot id, "08:20")])
    days: Vec<(String, Vec<(i64, String)>)>,
}

async fn slots_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    query: Result<Query<SlotsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Bitte zuerst eine Dienstleistung wählen.",
        );
    };
    let slots = match booking::free_slots(&state.ctx, &tenant, &q.service, None, None, now()).await
    {
        Ok(s) => s,
        Err(e) => return booking_error_page(e),
    };
    let policy = &state
        .ctx
        .policies
        .get(&tenant)
        .expect("free_slots checked the tenant")
        .tenant;
    let tz = policy.zone();
    let service_name = match booking::services(&state.ctx, &tenant).await {
        Ok(list) => list
            .into_iter()
            .find(|s| s.code == q.service)
            .map(|s| s.name)
            .unwrap_or_default(),
        Err(e) => return booking_error_page(e),
    };
    let mut days: Vec<(String, Vec<(i64, String)>)> = Vec::new();
    for s in slots {
        let heading = appointment_de(tz, s.starts_at);
        let day = heading
            .rsplit_once(", ")
            .map_or(heading.clone(), |(d, _)| d.to_owned());
        let time = s.starts_at.with_timezone(&tz).format("%H:%M").to_string();
        match days.last_mut() {
            Some((d, list)) if *d == day => list.push((s.id, time)),
            _ => days.push((day, vec![(s.id, time)])),
        }
    }
    render(
        StatusCode::OK,
        &SlotsPage {
            tenant,
            tenant_name: policy.name.clone(),
            service_name,
            days,
        },
    )
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

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    tenant: String,
    slot_id: i64,
    service_name: String,
    appointment: String,
    notice: Notice,
    fields: FormFields,
    consent_text: Option<String>,
    sms_text: Option<String>,
    values: FormValues,
    errors: FieldErrors,
    message: Option<String>,
}

async fn load_slot(state: &AppState, tenant: &str, slot_id: i64) -> Result<OpenSlot, Response> {
    if state.ctx.policies.get(tenant).is_none() {
        return Err(booking_error_page(BookingError::UnknownTenant(
            tenant.to_owned(),
        )));
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
    message: Option<String>,
) -> FormPage {
    let policy = state
        .ctx
        .policies
        .get(&tenant)
        .expect("load_slot checked the tenant");
    let booking = policy.booking_purpose();
    FormPage {
        slot_id: slot.id,
        service_name: slot.service_name.clone(),
        appointment: appointment_de(policy.tenant.zone(), slot.starts_at),
        notice: Notice::of(policy),
        fields: FormFields::of(policy),
        consent_text: booking.consent.as_ref().map(|c| c.text.clone()),
        sms_text: FormFields::of(policy)
            .sms_reminder
            .then(|| policy.purpose(crate::domain::booking::SMS_PURPOSE))
            .flatten()
            .and_then(|p| p.consent.as_ref())
            .map(|c| c.text.clone()),
        tenant,
        values,
        errors,
        message,
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
            None,
        ),
    )
}

#[derive(Template)]
#[template(path = "confirmation.html")]
struct ConfirmationPage {
    tenant: String,
    tenant_name: String,
    receipt: BookingReceipt,
}

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
    match booking::book_through(
        &state.ctx,
        Some(&state.bookings),
        &tenant,
        &values.to_form(slot_id),
        now(),
    )
    .await
    {
        Ok(receipt) => {
            let booking_id = receipt.booking_id;
            let tenant_name = state
                .ctx
                .policies
                .get(&tenant)
                .map(|p| p.tenant.name.clone())
                .unwrap_or_default();
            let mut r = render(
                StatusCode::CREATED,
                &ConfirmationPage {
                    tenant,
                    tenant_name,
                    receipt,
                },
            );
            r.extensions_mut().insert(LoggedBooking(booking_id));
            r
        }
        Err(BookingError::Invalid(errors)) => {
            let page = form_page_for(
                &state,
                tenant,
                &slot,
                values,
                errors,
                Some("Bitte die markierten Angaben prüfen.".into()),
            );
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => booking_error_page(e),
    }
}

#[derive(Template)]
#[template(path = "cancel.html")]
struct CancelPage {
    tenant: String,
    tenant_name: String,
    reference: String,
    done: Option<String>,
    message: Option<String>,
}

async fn cancel_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return booking_error_page(BookingError::UnknownTenant(tenant));
    };
    let tenant_name = policy.tenant.name.clone();
    render(
        StatusCode::OK,
        &CancelPage {
            tenant,
            tenant_name,
            reference: reference_from_link(query.as_deref()),
            done: None,
            message: None,
        },
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

async fn cancel_submit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Utf8Form<CancelForm>, FormRefusal>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return booking_error_page(BookingError::UnknownTenant(tenant));
    };
    let tenant_name = policy.tenant.name.clone();
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
    let outcome = match booking::cancel(&state.ctx, &f.reference, &f.code, now()).await {
        Ok(o) => o,
        Err(e) => return booking_error_page(BookingError::Internal(e)),
    };
    // The request that cancels a booking is the citizen's own: its log row belongs to the
    // booking (so erasure removes it and the Auskunft lists it). Refused attempts may come
    // from anyone and stay unlinked.
    let cancelled = outcome.as_ref().ok().map(|c| c.booking_id);
    let (status, done, message) = match outcome {
        // A reference of another tenant is cancelled all the same: the code proves the right to.
        Ok(c) => (
            StatusCode::OK,
            Some(format!(
                "Ihr Termin am {} ist abgesagt. Der Platz ist wieder frei.",
                appointment_de(tz, c.starts_at)
            )),
            None,
        ),
        Err(refusal) => {
            let (status, message) = cancel_refusal_message(refusal);
            (status, None, Some(message.to_owned()))
        }
    };
    let mut response = render(
        status,
        &CancelPage {
            tenant,
            tenant_name,
            reference: f.reference,
            done,
            message,
        },
    );
    if let Some(id) = cancelled {
        response.extensions_mut().insert(LoggedBooking(id));
    }
    response
}

#[derive(Template)]
#[template(path = "withdraw.html")]
struct WithdrawPage {
    tenant: String,
    tenant_name: String,
    reference: String,
    /// The tenant offers SMS reminders on consent: they can be withdrawn alone.
    sms: bool,
    /// The booking itself rests on consent: withdrawing all cancels and erases.
    booking_on_consent: bool,
    /// The reply, as the withdrawal mail's answer says it.
    done: Option<String>,
    message: Option<String>,
}

impl WithdrawPage {
    fn new(policy: &crate::domain::policy::Policy, reference: String) -> Self {
        use crate::domain::policy::LegalBasis;
        WithdrawPage {
            tenant: policy.tenant.slug.clone(),
            tenant_name: policy.tenant.name.clone(),
            reference,
            sms: policy.purposes.iter().any(|p| {
                p.id == crate::domain::booking::SMS_PURPOSE && p.legal_basis == LegalBasis::Consent
            }),
            booking_on_consent: policy.booking_purpose().legal_basis == LegalBasis::Consent,
            done: None,
            message: None,
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
        return booking_error_page(BookingError::UnknownTenant(tenant));
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
        return booking_error_page(BookingError::UnknownTenant(tenant));
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
    let mut page = WithdrawPage::new(policy, f.reference.clone());
    let outcome = match crate::ops::withdrawals::withdraw_with_code(
        &state.ctx,
        &f.reference,
        &f.code,
        sms_only,
        now(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return booking_error_page(BookingError::Internal(e)),
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
