//! A local stand-in for LOX24's SMS API v2 (https://api.lox24.eu), for the SMS delivery
//! tests: `GET /me` and `POST /sms` with the `X-LOX24-AUTH-TOKEN` header, the JSON body
//! LOX24 documents, and its answers — 201 with the new SMS resource and its `uuid`, 400
//! for a body LOX24 would refuse, 401 for a wrong key. Chosen numbers get a chosen answer
//! (503, 429, 400, 402 …) to test retries and failures.
//!
//! It runs on a thread with its own runtime, so a test may block on the CLI while it serves.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One SMS the stand-in accepted, as LOX24 got it.
#[derive(Clone, Debug)]
pub struct ReceivedSms {
    pub uuid: String,
    pub sender_id: String,
    pub phone: String,
    pub text: String,
    pub service_code: String,
    pub is_unicode: Option<bool>,
    pub callback_data: Option<String>,
    pub is_delete_text: Option<bool>,
    /// The whole body, to check nothing else was sent.
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<ReceivedSms>,
    /// Every POST /sms, accepted or not: (phone, status answered).
    requests: Vec<(String, u16)>,
    /// Per phone number: the status to answer instead of 201.
    answers: HashMap<String, u16>,
    /// Every request's auth header that was wrong.
    wrong_keys: usize,
}

#[derive(Clone)]
struct Shared {
    key: String,
    inner: Arc<Mutex<Inner>>,
}

/// The running stand-in; stops when dropped.
pub struct Lox24 {
    pub url: String,
    pub key: String,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lox24 {
    /// Starts the stand-in on 127.0.0.1 and a free port, accepting the key `key`.
    pub fn start(key: &str) -> Lox24 {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = Shared {
            key: key.to_owned(),
            inner: inner.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, port) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap().port()).unwrap();
                let app = axum::Router::new()
                    .route("/me", get(me))
                    .route("/sms", post(sms))
                    .with_state(shared);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let port = port.recv().unwrap();
        Lox24 {
            url: format!("http://127.0.0.1:{port}"),
            key: key.to_owned(),
            inner,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// From now on, answer `status` to every SMS for `phone` (E.164).
    pub fn answer(&self, phone: &str, status: u16) {
        self.inner
            .lock()
            .unwrap()
            .answers
            .insert(phone.to_owned(), status);
    }

    /// Answer 201 again for `phone`.
    pub fn accept(&self, phone: &str) {
        self.inner.lock().unwrap().answers.remove(phone);
    }

    /// The SMS accepted so far, oldest first.
    pub fn accepted(&self) -> Vec<ReceivedSms> {
        self.inner.lock().unwrap().accepted.clone()
    }

    /// Every POST /sms so far: (phone, status answered).
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests that came with a wrong or missing key.
    pub fn wrong_keys(&self) -> usize {
        self.inner.lock().unwrap().wrong_keys
    }
}

impl Drop for Lox24 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let ok = headers
        .get("X-LOX24-AUTH-TOKEN")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == shared.key);
    if !ok {
        shared.inner.lock().unwrap().wrong_keys += 1;
    }
    ok
}

fn error(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({"type": "https://tools.ietf.org/html/rfc2616#section-10", "title": "An error occurred", "detail": detail})),
    )
        .into_response()
}

async fn me(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Client ID or API key isn't active or invalid",
        );
    }
    Json(json!({"id": 1234567, "email": "buero@example.org", "balance": 12.5})).into_response()
}

/// LOX24's checks of a new SMS, as documented: sender ID, phone, text, service code.
fn invalid(body: &Value) -> Option<&'static str> {
    let text = body["text"].as_str()?;
    let sender = body["sender_id"].as_str()?;
    let phone = body["phone"].as_str()?;
    let service = body["service_code"].as_str()?;
    let sender_ok = {
        let digits = sender.strip_prefix('+').unwrap_or(sender);
        let number = !digits.is_empty()
            && digits.len() <= 15
            && !digits.starts_with('0')
            && digits.chars().all(|c| c.is_ascii_digit());
        let name = (1..=11).contains(&sender.len())
            && sender
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ');
        number || name
    };
    let phone_ok = phone.len() >= 4
        && phone.len() <= 16
        && phone.starts_with('+')
        && phone[1..].starts_with(|c: char| ('1'..='9').contains(&c))
        && phone[1..].chars().all(|c| c.is_ascii_digit());
    if !sender_ok {
        Some("sender_id: invalid")
    } else if !phone_ok {
        Some("phone: not E.164")
    } else if text.is_empty() || text.chars().count() > 1530 {
        Some("text: empty or too long")
    } else if !["direct", "pro", "economy", "text2speech"].contains(&service) {
        Some("service_code: unknown")
    } else {
        None
    }
}

async fn sms(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&shared, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Client ID or API key isn't active or invalid",
        );
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body: not JSON");
    };
    let phone = body["phone"].as_str().unwrap_or("").to_owned();
    let missing = ["text", "sender_id", "phone", "service_code"]
        .iter()
        .any(|f| !body[f].is_string());
    let refusal = if missing {
        Some("a required field is missing")
    } else {
        invalid(&body)
    };
    let mut inner = shared.inner.lock().unwrap();
    if let Some(detail) = refusal {
        inner.requests.push((phone, 400));
        return error(StatusCode::BAD_REQUEST, detail);
    }
    if let Some(&status) = inner.answers.get(&phone) {
        inner.requests.push((phone, status));
        return error(StatusCode::from_u16(status).unwrap(), "as the test asked");
    }
    inner.requests.push((phone.clone(), 201));
    let uuid = uuid::Uuid::new_v4().to_string();
    let received = ReceivedSms {
        uuid: uuid.clone(),
        sender_id: body["sender_id"].as_str().unwrap().to_owned(),
        phone: phone.clone(),
        text: body["text"].as_str().unwrap().to_owned(),
        service_code: body["service_code"].as_str().unwrap().to_owned(),
        is_unicode: body["is_unicode"].as_bool(),
        callback_data: body["callback_data"].as_str().map(str::to_owned),
        is_delete_text: body["is_delete_text"].as_bool(),
        body: body.clone(),
    };
    inner.accepted.push(received);
    (
        StatusCode::CREATED,
        Json(json!({
            "@id": format!("/sms/{uuid}"),
            "@type": "sms",
            "uuid": uuid,
            "phone": phone,
            "sender_id": body["sender_id"],
            "text": body["text"],
            "status_code": 0,
            "delivery_at": 0,
            "service_code": body["service_code"],
            "is_unicode": body["is_unicode"],
            "callback_data": body["callback_data"],
            "parts_count": 1,
            "price": 0.075,
            "is_sent": false,
        })),
    )
        .into_response()
}
