//! The booking endpoint (`datenwart serve`): a thin axum adapter over [`crate::ops::booking`].
//! JSON under `/api/v1/`, server-rendered pages under `/t/{tenant}/` that work without
//! JavaScript, an access-log row per request, no cookies.

mod access_log;
mod api;
mod error;
mod pages;
mod rate_limit;

use crate::ops::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use rate_limit::RateLimiter;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How `serve` behaves beyond where it listens.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Booking and cancelling attempts per client IP and minute; 0 turns the limit off.
    pub attempts_per_minute: u32,
    /// Take the client IP from `X-Forwarded-For` (only behind a reverse proxy you run).
    pub trust_forwarded_for: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            attempts_per_minute: 10,
            trust_forwarded_for: false,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub ctx: Arc<Context>,
    pub limiter: Arc<RateLimiter>,
    pub config: Arc<ServeConfig>,
}

pub fn router(ctx: Arc<Context>, config: ServeConfig) -> Router {
    let state = AppState {
        ctx,
        limiter: Arc::new(RateLimiter::new(config.attempts_per_minute)),
        config: Arc::new(config),
    };
    Router::new()
        .merge(api::router())
        .merge(pages::router())
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::record,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
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
    let app = router(ctx, config);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
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
