//! The booking endpoint (`datenwart serve`): a thin axum adapter over [`crate::ops::booking`].
//! JSON under `/api/v1/`, server-rendered pages under `/t/{tenant}/` that work without
//! JavaScript, an access-log row per request, no cookies.

mod access_log;
mod api;
mod error;
mod extract;
mod forwarded;
mod identity_pages;
mod pages;
mod rate_limit;
mod server;
mod shell;
pub mod unconfirmed;

use crate::ops::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use forwarded::TrustedProxy;
pub use rate_limit::RateLimiter;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How `serve` behaves beyond where it listens.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Booking and cancelling attempts per client IP and minute; 0 turns the limit off.
    pub attempts_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`forwarded`]).
    pub trusted_proxies: Vec<TrustedProxy>,
    /// A request head must be complete this long after the server began waiting for it.
    pub header_timeout: Duration,
    /// A request body must be complete this long after its head.
    pub body_timeout: Duration,
    /// A kept-alive connection without a request and without traffic is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Serve tenants whose policy marks the DPO as unconfirmed (see [`unconfirmed`]).
    pub allow_unconfirmed: bool,
    /// Base URL of the citizen pages (`--public-url`), for the link in the confirmation
    /// mail of "Widerruf per E-Mail". Never taken from the request's Host header: a
    /// forged one would send the citizen's code to another site.
    pub public_url: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            attempts_per_minute: 10,
            trusted_proxies: Vec::new(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            max_connections: 512,
            allow_unconfirmed: false,
            public_url: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub ctx: Arc<Context>,
    pub limiter: Arc<RateLimiter>,
    pub config: Arc<ServeConfig>,
    /// On SQLite, which has one writer at a time anyway, bookings and access-log rows that
    /// arrive together are committed together. PostgreSQL runs concurrent transactions and
    /// groups their WAL flushes itself: there one writer task only serializes them (8
    /// clients, 5,000 bookings: 593/s through one writer, 649/s without), so each request
    /// writes its own.
    pub bookings: Option<crate::ops::booking::BookingWriter>,
    pub access_log: Option<access_log::AccessLogWriter>,
}

impl AppState {
    /// The state of the routes, with the group-commit writers started (inside the runtime).
    pub fn new(ctx: Arc<Context>, config: ServeConfig) -> AppState {
        let single_writer = matches!(ctx.store.backend(), crate::store::Backend::Sqlite);
        AppState {
            limiter: Arc::new(RateLimiter::new(config.attempts_per_minute)),
            config: Arc::new(config),
            bookings: single_writer.then(|| crate::ops::booking::booking_writer(ctx.store.clone())),
            access_log: single_writer.then(|| access_log::access_log_writer(ctx.store.clone())),
            ctx,
        }
    }
}

pub fn router(ctx: Arc<Context>, config: ServeConfig) -> Router {
    let state = AppState::new(ctx, config);
    let routes = Router::new()
        .merge(api::router())
        .merge(pages::router())
        .merge(identity_pages::router())
        .fallback(not_found);
    with_layers(routes, state)
}

/// What every route gets, from the inside out: a body timeout, panics caught as a 500,
/// refusals in the route's format, security headers, an access-log row, a body limit.
fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.config.body_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            unconfirmed::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            in_the_routes_format,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::record,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn is_api(uri: &Uri) -> bool {
    uri.path() == "/api" || uri.path().starts_with("/api/")
}

async fn not_found(uri: Uri) -> Response {
    if is_api(&uri) {
        error::ApiError::new(StatusCode::NOT_FOUND, "Nicht gefunden.").into_response()
    } else {
        pages::error_page(StatusCode::NOT_FOUND, "Diese Seite gibt es hier nicht.")
    }
}

/// A handler that panicked: logged, answered with a 500 that [`in_the_routes_format`] dresses.
fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    // Panic messages come from our code and its libraries, not from a request's fields.
    tracing::error!("a request handler panicked: {what}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Every refusal in the format of its route: `{"error": …}` under `/api/`, an HTML page
/// elsewhere. Handlers answer so themselves; this catches what comes from axum, the
/// layers or a panic (405, 413, 408, 500 …) with a plain or empty body.
async fn in_the_routes_format(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let api = is_api(request.uri());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let wanted = if api { "application/json" } else { "text/html" };
    let has = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(wanted));
    if has {
        return response;
    }
    let given = response
        .extensions()
        .get::<pages::ErrorMessage>()
        .map(|m| m.0.clone());
    let message = match status {
        _ if given.is_some() => given.as_deref().unwrap_or_default(),
        StatusCode::NOT_FOUND if !api => {
            "Diese Seite gibt es hier nicht. Vielleicht ist die Adresse nicht vollständig, oder die Seite wurde verschoben."
        }
        StatusCode::NOT_FOUND => "Nicht gefunden.",
        StatusCode::METHOD_NOT_ALLOWED => "Diese Methode ist hier nicht erlaubt.",
        StatusCode::PAYLOAD_TOO_LARGE => "Anfrage zu groß.",
        StatusCode::REQUEST_TIMEOUT => "Die Anfrage kam zu langsam an; bitte erneut senden.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Dieses Format wird hier nicht angenommen.",
        s if s.is_server_error() => "Interner Fehler; bitte später erneut versuchen.",
        _ => "Ungültige Anfrage.",
    };
    let (mut parts, _) = response.into_parts();
    let mut fresh = if api {
        error::ApiError::new(status, message).into_response()
    } else {
        pages::render_error(&state, &path, status, message)
    };
    // Keep what the original answer said beyond its body (Allow, Retry-After …).
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &parts.headers {
        fresh.headers_mut().insert(name.clone(), value.clone());
    }
    fresh.extensions_mut().extend(parts.extensions);
    fresh
}

/// Headers every page gets: nothing cached, nothing framed, no scripts.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Context>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = server::ConnectionLimits {
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
    };
    server::run(listener, router(ctx, config), limits, shutdown).await
}

/// Ctrl-C or SIGTERM, whichever comes first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    async fn boom() -> &'static str {
        panic!("a bug in a handler")
    }

    /// A panic is answered in the route's format and logged like any request, instead of
    /// dropping the connection.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_routes_format_and_gets_a_log_row() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let policies = crate::ops::policies::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        )
        .unwrap();
        let ctx = Context {
            store: crate::store::open(&url).await.unwrap(),
            policies: Arc::new(policies),
            actor: "test".into(),
        };
        crate::ops::migrate(&ctx).await.unwrap();
        let config = ServeConfig {
            attempts_per_minute: 0,
            ..ServeConfig::default()
        };
        let state = AppState::new(Arc::new(ctx), config);
        let routes = Router::new()
            .route("/api/v1/boom", get(boom))
            .route("/t/boom", get(boom));
        let app = with_layers(routes, state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let limits = server::ConnectionLimits {
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_connections: 8,
        };
        tokio::spawn(server::run(listener, app, limits, std::future::pending()));

        // reqwest is built without a crypto provider of its own (see sms::lox24).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = reqwest::get(format!("{base}/api/v1/boom")).await.unwrap();
        assert_eq!(r.status(), 500);
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("Interner Fehler"));
        let r = reqwest::get(format!("{base}/t/boom")).await.unwrap();
        assert_eq!(r.status(), 500);
        assert!(r.text().await.unwrap().contains("<html"));
        // The store has no reader for the access log; the test looks at the file itself.
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: i64 = sqlx::query_scalar(
            "select count(*) from access_log where status = 500 and path like '%boom'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(rows, 2);
    }
}
