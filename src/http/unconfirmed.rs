//! A tenant whose policy still marks its data-protection officer as unconfirmed
//! (`confirm = ["dpo"]` in `[tenant]`) gets no citizen pages and no booking API: the privacy
//! notice would name a DPO the office has not confirmed (Art. 13(1)(b) DSGVO). `serve
//! --allow-unconfirmed` lifts this, for demos and tests.

use super::{AppState, error::ApiError, is_api, pages};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The field of the policy that must be confirmed before a tenant's notice is shown.
pub const DPO_FIELD: &str = "tenant.dpo";

/// The tenant a path belongs to: `/t/{tenant}…` or `/api/v1/tenants/{tenant}…`.
fn tenant_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/t/")
        .or_else(|| path.strip_prefix("/api/v1/tenants/"))?;
    rest.split('/').next().filter(|t| !t.is_empty())
}

pub(super) async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config.allow_unconfirmed {
        return next.run(request).await;
    }
    let blocked = tenant_of(request.uri().path())
        .and_then(|slug| state.ctx.policies.get(slug))
        .is_some_and(|policy| !policy.confirmed(DPO_FIELD));
    if !blocked {
        return next.run(request).await;
    }
    const MESSAGE: &str = "Dieser Online-Dienst ist noch nicht freigegeben. Bitte wenden Sie \
                           sich telefonisch oder vor Ort an die Verwaltung.";
    if is_api(request.uri()) {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, MESSAGE).into_response()
    } else {
        pages::error_page(StatusCode::SERVICE_UNAVAILABLE, MESSAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::tenant_of;

    #[test]
    fn the_tenant_is_read_from_pages_and_api_paths() {
        assert_eq!(tenant_of("/t/westendorf"), Some("westendorf"));
        assert_eq!(tenant_of("/t/westendorf/datenschutz"), Some("westendorf"));
        assert_eq!(
            tenant_of("/api/v1/tenants/westendorf/bookings"),
            Some("westendorf")
        );
        assert_eq!(tenant_of("/api/v1/bookings/AB-12"), None);
        assert_eq!(tenant_of("/t/"), None);
        assert_eq!(tenant_of("/"), None);
    }
}
