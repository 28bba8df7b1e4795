//! One error type for the JSON API: a status, a message, and a message per field.

use crate::domain::booking::FieldErrors;
use crate::ops::booking::BookingError;
use crate::store::{BookingRefusal, CancelRefusal};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: FieldErrors,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "FieldErrors::is_empty")]
    fields: &'a FieldErrors,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            fields: FieldErrors::new(),
        }
    }

    pub fn field(mut self, field: &str, message: &str) -> Self {
        self.fields.insert(field.to_owned(), message.to_owned());
        self
    }

    /// Database and unknown failures: logged with their cause, shown without it. What the
    /// store refuses gets its status here, the one place that maps `StoreError` to HTTP.
    pub fn internal(e: &anyhow::Error) -> Self {
        use crate::store::StoreError;
        let refused = match e.downcast_ref::<StoreError>() {
            Some(StoreError::UnknownTenant(_) | StoreError::NotFound(_)) => {
                Some((StatusCode::NOT_FOUND, "Nicht gefunden."))
            }
            Some(StoreError::Conflict(_)) => Some((
                StatusCode::CONFLICT,
                "Das ist in diesem Zustand nicht möglich.",
            )),
            Some(StoreError::Invalid(_)) => Some((
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bitte die Angaben prüfen.",
            )),
            _ => None,
        };
        if let Some((status, message)) = refused {
            return Self::new(status, message);
        }
        tracing::error!("request failed: {e:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Interner Fehler; bitte später erneut versuchen.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Body {
                error: &self.message,
                fields: &self.fields,
            }),
        )
            .into_response()
    }
}

pub fn booking_refusal_message(r: BookingRefusal) -> (StatusCode, &'static str) {
    match r {
        BookingRefusal::SlotNotFound => {
            (StatusCode::NOT_FOUND, "Diesen Termin gibt es hier nicht.")
        }
        BookingRefusal::SlotInPast => (
            StatusCode::CONFLICT,
            "Dieser Termin liegt in der Vergangenheit.",
        ),
        BookingRefusal::SlotFull => (
            StatusCode::CONFLICT,
            "Dieser Termin ist leider schon vergeben.",
        ),
        // Only after several new references collided in a row, which 50 random bits make
        // practically impossible; nothing was stored, so trying again is safe.
        BookingRefusal::ReferenceTaken => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Die Buchung konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
        ),
    }
}

pub fn cancel_refusal_message(r: CancelRefusal) -> (StatusCode, &'static str) {
    match r {
        CancelRefusal::NotFound => (
            StatusCode::NOT_FOUND,
            "Diese Buchungsnummer ist nicht bekannt.",
        ),
        CancelRefusal::WrongCode => (
            StatusCode::FORBIDDEN,
            "Der Buchungscode passt nicht zu dieser Buchung.",
        ),
        CancelRefusal::AlreadyCancelled => {
            (StatusCode::CONFLICT, "Diese Buchung ist bereits abgesagt.")
        }
        CancelRefusal::InPast => (
            StatusCode::CONFLICT,
            "Dieser Termin hat bereits begonnen oder ist vorbei.",
        ),
        CancelRefusal::Locked => (
            StatusCode::TOO_MANY_REQUESTS,
            "Für diese Buchung wurde zu oft ein falscher Buchungscode eingegeben. Die Absage mit \
             dem Code ist für eine Stunde gesperrt. Wenn Sie den Termin vorher absagen möchten, \
             rufen Sie bitte das Bürgerbüro an.",
        ),
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::UnknownTenant(t) => {
                Self::new(StatusCode::NOT_FOUND, format!("Unbekannte Verwaltung: {t}"))
            }
            BookingError::UnknownService(s) => Self::new(
                StatusCode::NOT_FOUND,
                format!("Unbekannte Dienstleistung: {s}"),
            )
            .field("service", "unbekannt"),
            BookingError::Invalid(fields) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: "Bitte die markierten Angaben prüfen.".into(),
                fields,
            },
            BookingError::Refused(r) => {
                let (status, message) = booking_refusal_message(r);
                Self::new(status, message).field("slot_id", message)
            }
            BookingError::Internal(e) => Self::internal(&e),
        }
    }
}
