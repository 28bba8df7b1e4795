//! The JSON API under `/api/v1/`.

use super::AppState;
use super::access_log::{
    AccessLogged, LoggedBooking, LoggedTenant, Peer, PendingAccess, client_ip,
};
use super::error::{ApiError, cancel_refusal_message};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::domain::booking::BookingForm;
use crate::domain::time::now;
use crate::ops::booking;
use crate::store::AccessLogEntry;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/v1/tenants/{tenant}/services", get(services))
        .route("/api/v1/tenants/{tenant}/slots", get(slots))
        .route("/api/v1/tenants/{tenant}/bookings", post(book))
        .route("/api/v1/bookings/{reference}", delete(cancel))
}

async fn health(State(state): State<AppState>) -> Response {
    let store = &state.ctx.store;
    let checked = match store.check_schema().await {
        Ok(_) => store.check_writable(now()).await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(()) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!("health check failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// A client that used up its booking attempts for now; waits this long.
pub struct RateLimited(pub std::time::Duration);

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Zu viele Versuche; bitte später erneut versuchen.",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.0.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// Counts one booking or cancelling attempt of the client.
pub fn limit(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<(), RateLimited> {
    let ip = client_ip(state, headers, peer);
    state
        .limiter
        .check(ip, std::time::Instant::now())
        .map_err(RateLimited)
}

#[derive(Serialize)]
struct ServiceView {
    code: String,
    name: String,
    duration_minutes: i64,
}

async fn services(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    let list = booking::services(&state.ctx, &tenant).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| ServiceView {
                code: s.code,
                name: s.name,
                duration_minutes: s.duration_minutes,
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotQuery {
    service: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// `from` and `to` further from today than this are refused: there are no slots there, and
/// date arithmetic near chrono's limits (±262,143 years) would overflow.
const MAX_DAYS_FROM_TODAY: i64 = 3653;

#[derive(Serialize)]
struct SlotView {
    id: i64,
    service: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    free: i64,
}

async fn slots(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    ApiQuery(q): ApiQuery<SlotQuery>,
) -> Result<Json<Vec<SlotView>>, ApiError> {
    let today = now().date_naive();
    for (field, date) in [("from", q.from), ("to", q.to)] {
        if let Some(d) = date
            && (d - today).num_days().abs() > MAX_DAYS_FROM_TODAY
        {
            return Err(
                ApiError::new(StatusCode::BAD_REQUEST, "Datum außerhalb des Zeitraums.")
                    .field(field, "höchstens zehn Jahre vor oder nach heute"),
            );
        }
    }
    let service = q.service.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Bitte eine Dienstleistung angeben.",
        )
        .field("service", "fehlt")
    })?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && (to < from || (to - from).num_days() > 366)
    {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "Ungültiger Zeitraum.")
                .field("to", "vor from oder über ein Jahr"),
        );
    }
    let list = booking::free_slots(&state.ctx, &tenant, &service, q.from, q.to, now()).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SlotView {
                id: s.id,
                free: s.free(),
                service: s.service_code,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
            })
            .collect(),
    ))
}

#[derive(Serialize)]
struct Receipt<'a> {
    reference: &'a str,
    code: &'a str,
    service: &'a str,
    service_name: &'a str,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    appointment: &'a str,
    sms_reminder: bool,
}

async fn book(
    State(state): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    Peer(peer): Peer,
    pending: Option<Extension<PendingAccess>>,
    headers: HeaderMap,
    body: Result<ApiJson<BookingForm>, ApiError>,
) -> Result<Response, Response> {
    limit(&state, &headers, peer).map_err(IntoResponse::into_response)?;
    let ApiJson(form) = body.map_err(IntoResponse::into_response)?;
    // The request's access-log row goes into the booking's transaction: one commit per
    // booking instead of two. A refused booking is logged by the middleware as before.
    let row = pending.map(|Extension(PendingAccess(entry))| {
        move |r: &booking::BookingReceipt| AccessLogEntry {
            status: i64::from(StatusCode::CREATED.as_u16()),
            bytes: i64::try_from(receipt_json(r).len()).unwrap_or(i64::MAX),
            ..entry.clone()
        }
    });
    let receipt = booking::book_through(
        &state.ctx,
        state.bookings.as_ref(),
        &tenant,
        &form,
        now(),
        row.as_ref().map(|f| f as booking::AccessRow<'_>),
    )
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    let location = format!("/api/v1/bookings/{}", receipt.reference);
    let mut response = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        receipt_json(&receipt),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .extensions_mut()
        .insert(LoggedBooking(receipt.booking_id));
    if receipt.access_logged {
        response.extensions_mut().insert(AccessLogged);
    }
    Ok(response)
}

/// The body of a booking's answer, exactly as sent (the access log records its size).
fn receipt_json(r: &booking::BookingReceipt) -> Vec<u8> {
    serde_json::to_vec(&Receipt {
        reference: &r.reference,
        code: &r.code,
        service: &r.service_code,
        service_name: &r.service_name,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        appointment: &r.appointment,
        sms_reminder: r.sms_reminder,
    })
    .expect("a receipt serializes")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    code: String,
}

/// The code comes in the JSON body (`{"code": "…"}`) or the `Booking-Code` header; never in
/// the URL, where it would end up in the access log.
async fn cancel(
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Option<ApiJson<CancelBody>>, ApiError>,
) -> Result<Response, Response> {
    limit(&state, &headers, peer).map_err(IntoResponse::into_response)?;
    let body = body.map_err(IntoResponse::into_response)?;
    let code = body
        .map(|ApiJson(b)| b.code)
        .or_else(|| {
            headers
                .get("booking-code")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "Bitte den Buchungscode angeben.")
                .field("code", "fehlt")
                .into_response()
        })?;
    let outcome = booking::cancel(&state.ctx, &reference, &code, now())
        .await
        .map_err(|e| ApiError::internal(&e).into_response())?;
    match outcome {
        Ok(c) => {
            let mut r =
                Json(serde_json::json!({ "reference": c.reference, "status": "cancelled" }))
                    .into_response();
            // The citizen's own request: its log row belongs to the booking (erasure and
            // Auskunft find it); refused attempts may come from anyone and stay unlinked.
            r.extensions_mut().insert(LoggedTenant(c.tenant));
            r.extensions_mut().insert(LoggedBooking(c.booking_id));
            Ok(r)
        }
        Err(refusal) => {
            let (status, message) = cancel_refusal_message(refusal);
            Err(ApiError::new(status, message).into_response())
        }
    }
}
