//! Extractors whose refusals speak our language: under `/api/` a JSON [`ApiError`] with a
//! message per field, never axum's plain-text rejections; for the HTML forms, a body that
//! is not UTF-8 is refused instead of being read with U+FFFD in it.

use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON body. Refused with 415 (not JSON), 400 (empty, cut or not JSON), 413 (too large),
/// 408 (sent too slowly) or 422 (wrong type, unknown or missing field, named in `fields`).
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether reading the body failed because the client sent it too slowly.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A body that could not be read: too large, too slow, or broken off.
pub fn body_refusal(r: &BytesRejection) -> (StatusCode, &'static str) {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        (StatusCode::PAYLOAD_TOO_LARGE, "Anfrage zu groß.")
    } else if timed_out(r) {
        (
            StatusCode::REQUEST_TIMEOUT,
            "Die Anfrage kam zu langsam an; bitte erneut senden.",
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "Die Anfrage konnte nicht gelesen werden.",
        )
    }
}

/// The field a serde message is about: "unknown field `x`", "missing field `x`".
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

/// Parses a JSON body into `T`, naming the field a type error is about.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Leere Anfrage; bitte ein JSON-Objekt senden.",
        ));
    }
    let not_json = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Kein gültiges JSON (unvollständig oder fehlerhaft).",
        )
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        de.end().map_err(|_| not_json())?;
    }
    value.map_err(|e| {
        let inner = e.inner();
        if !inner.is_data() {
            return not_json();
        }
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        let path = e.path().to_string();
        let (field, text) = match named_field(message) {
            Some(f) if message.starts_with("unknown") => (f.to_owned(), "unbekanntes Feld"),
            Some(f) => (f.to_owned(), "fehlt"),
            None => (path, "falscher Typ"),
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Bitte die markierten Angaben prüfen.",
        )
        .field(&field, &format!("{text}: {message}"))
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Bitte JSON senden (Content-Type: application/json).",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let (status, message) = body_refusal(&r);
            ApiError::new(status, message)
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// No `Content-Type` and no body: `None`; anything else must be JSON.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0");
        if !req.headers().contains_key(header::CONTENT_TYPE)
            && (empty || !req.headers().contains_key(header::TRANSFER_ENCODING))
        {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// Query parameters; refused with 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r: QueryRejection| {
                let text = r.body_text();
                // "Failed to deserialize query string: from: input contains invalid characters"
                let detail = text.split_once(": ").map_or(text.as_str(), |(_, d)| d);
                let mut e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Ungültige Anfrage: bitte die Parameter prüfen.",
                );
                match detail.split_once(": ") {
                    Some((field, why)) if !field.contains(' ') => {
                        e = e.field(field, why);
                    }
                    _ => {
                        e = e.field(named_field(detail).unwrap_or("query"), detail);
                    }
                }
                e
            })
    }
}

/// Path parameters; refused with 400 (not UTF-8, wrong type) as JSON.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|r: PathRejection| {
                let status = if r.status().is_server_error() {
                    StatusCode::BAD_REQUEST
                } else {
                    r.status()
                };
                ApiError::new(status, "Ungültige Adresse.").field("path", &r.body_text())
            })
    }
}

/// Checks that every name and value of a URL-encoded form is UTF-8 once decoded.
pub fn is_utf8_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| {
        let mut decoded = Vec::with_capacity(pair.len());
        let mut i = 0;
        while i < pair.len() {
            match pair[i] {
                b'%' if i + 2 < pair.len() => {
                    let hex = std::str::from_utf8(&pair[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            decoded.push(b);
                            i += 3;
                            continue;
                        }
                        None => decoded.push(b'%'),
                    }
                }
                b'+' => decoded.push(b' '),
                b => decoded.push(b),
            }
            i += 1;
        }
        std::str::from_utf8(&decoded).is_ok()
    })
}

/// Why a form post could not be read, for the HTML error page.
pub enum FormRefusal {
    Body(StatusCode, &'static str),
    NotUtf8,
    Invalid,
}

impl FormRefusal {
    pub fn status_and_message(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Body(s, m) => (*s, m),
            Self::NotUtf8 => (
                StatusCode::BAD_REQUEST,
                "Das Formular enthielt ungültige Zeichen (kein UTF-8). Bitte erneut senden.",
            ),
            Self::Invalid => (
                StatusCode::BAD_REQUEST,
                "Das Formular konnte nicht gelesen werden.",
            ),
        }
    }
}

impl axum::response::IntoResponse for FormRefusal {
    fn into_response(self) -> axum::response::Response {
        let (status, message) = self.status_and_message();
        super::pages::error_page(status, message)
    }
}

/// A URL-encoded HTML form whose every value is valid UTF-8.
pub struct Utf8Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Utf8Form<T> {
    type Rejection = FormRefusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, FormRefusal> {
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts.clone(), body);
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let (s, m) = body_refusal(&r);
            FormRefusal::Body(s, m)
        })?;
        if !is_utf8_form(&bytes) {
            return Err(FormRefusal::NotUtf8);
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        axum::extract::Form::<T>::from_request(req, state)
            .await
            .map(|f| Utf8Form(f.0))
            .map_err(|_| FormRefusal::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_is_utf8_only_when_every_decoded_value_is() {
        assert!(is_utf8_form(b"first_name=J%C3%B6rg&last_name=M+%C3%BCller"));
        assert!(is_utf8_form(b"a=100%&b=%zz&c=%"));
        assert!(is_utf8_form(b""));
        assert!(!is_utf8_form(b"first_name=J%F6rg"));
        assert!(!is_utf8_form(b"x=%C3"));
        assert!(!is_utf8_form(b"ok=1&%FF=1"));
    }

    #[test]
    fn json_type_errors_name_their_field() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            code: String,
        }
        let e = parse_json::<B>(br#"{"code": 1}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.fields.contains_key("code"), "{e:?}");
        let e = parse_json::<B>(br#"{"code": "x", "admin": true}"#).unwrap_err();
        assert!(e.fields.contains_key("admin"), "{e:?}");
        let e = parse_json::<B>(br#"{}"#).unwrap_err();
        assert!(e.fields.contains_key("code"), "{e:?}");
        assert_eq!(
            parse_json::<B>(br#"{"code": "#).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_json::<B>(b"  ").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_json::<B>(br#"{"code": "x"} trailing"#)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}
