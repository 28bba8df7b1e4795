//! The citizen pages of identity confirmation: confirming a request with the code of a
//! confirmation mail (`/t/{tenant}/bestaetigen`), and withdrawing consent by e-mail address
//! (`/t/{tenant}/widerruf-per-email`), which sends such a mail to the address on file.
//! GET never changes anything; POST acts. German texts, no JavaScript, no cookies.

use super::AppState;
use super::access_log::Peer;
use super::api::limit;
use super::extract::{FormRefusal, Utf8Form};
use super::pages::{error_page, refuse_cross_site, render};
use super::shell::Shell;
use crate::domain::time::local_instant_de;
use crate::ops::identity::{self, CodeState};
use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/t/{tenant}/bestaetigen",
            get(confirm_page).post(confirm_submit),
        )
        .route(
            "/t/{tenant}/widerruf-per-email",
            get(by_email_page).post(by_email_submit),
        )
        .route_layer(axum::middleware::from_fn(refuse_cross_site))
}

#[derive(Template)]
#[template(path = "identity_confirm.html")]
struct ConfirmPage {
    shell: Shell,
    tenant: String,
    tenant_name: String,
    code: String,
    /// What the code confirms, when it is valid.
    asked: Option<String>,
    valid_until: Option<String>,
    done: Option<String>,
    message: Option<String>,
}

/// The code of the link (`?code=…`); anything not shaped like a code is ignored.
fn code_from_link(query: Option<&str>) -> String {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("code="))
        .filter(|c| c.len() <= 40 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or_default()
        .to_owned()
}

fn unknown_tenant() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Diese Verwaltung bietet hier keine Online-Termine an.",
    )
}

fn too_many() -> Response {
    error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Zu viele Versuche; bitte in einer Minute erneut versuchen.",
    )
}

fn internal(e: anyhow::Error) -> Response {
    tracing::error!("page failed: {e:#}");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Interner Fehler; bitte später erneut versuchen.",
    )
}

/// Why a code cannot be used, for the citizen.
fn refusal(state: &CodeState) -> (StatusCode, &'static str) {
    match state {
        CodeState::Used => (
            StatusCode::CONFLICT,
            "Dieser Bestätigungscode wurde bereits verwendet. Ihr Antrag ist damit bestätigt; es ist nichts weiter zu tun.",
        ),
        CodeState::Expired => (
            StatusCode::GONE,
            "Dieser Bestätigungscode ist abgelaufen. Es wurde nichts ausgeführt. Wenn Sie Ihren Antrag weiterhin stellen möchten, senden Sie ihn bitte erneut.",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "Dieser Bestätigungscode ist uns nicht bekannt. Bitte prüfen Sie den Code aus unserer E-Mail; es wurde nichts ausgeführt.",
        ),
    }
}

/// Shows what the code confirms and a button; changes nothing.
async fn confirm_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let tenant_name = policy.tenant.name.clone();
    let tz = policy.tenant.zone();
    let code = code_from_link(query.as_deref());
    let mut page = ConfirmPage {
        shell: Shell::tenant(policy, &[("Antrag bestätigen", None)]),
        tenant: tenant.clone(),
        tenant_name,
        code: code.clone(),
        asked: None,
        valid_until: None,
        done: None,
        message: None,
    };
    if code.is_empty() {
        return render(StatusCode::OK, &page);
    }
    // Looking a code up tells whether it is valid: as limited as trying one.
    if limit(&state, &headers, peer).is_err() {
        return too_many();
    }
    match identity::code_state(&state.ctx, &tenant, &code).await {
        Ok(CodeState::Pending { asked, expires_at }) => {
            page.asked = Some(identity::asked_de(asked).to_owned());
            page.valid_until = Some(local_instant_de(tz, expires_at));
            render(StatusCode::OK, &page)
        }
        Ok(other) => {
            let (status, message) = refusal(&other);
            page.message = Some(message.to_owned());
            render(status, &page)
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Applies what the code asked for, once.
async fn confirm_submit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Utf8Form<CodeForm>, FormRefusal>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let tenant_name = policy.tenant.name.clone();
    if limit(&state, &headers, peer).is_err() {
        return too_many();
    }
    let f = match form {
        Ok(Utf8Form(f)) => f,
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            return error_page(status, message);
        }
    };
    let mut page = ConfirmPage {
        shell: Shell::tenant(policy, &[("Antrag bestätigen", None)]),
        tenant: tenant.clone(),
        tenant_name,
        code: f.code.trim().chars().take(40).collect(),
        asked: None,
        valid_until: None,
        done: None,
        message: None,
    };
    match identity::confirm_by_link(&state.ctx, &tenant, f.code.trim()).await {
        Ok(Ok(done)) => {
            let mut text = format!(
                "Vielen Dank, Ihr Antrag ist bestätigt und ausgeführt: {}.",
                identity::asked_de(done.asked)
            );
            if let Some(id) = done.request_id {
                text.push_str(&format!(" Er ist bei uns unter der Nummer {id} erfasst."));
            }
            if done.bookings_cancelled > 0 {
                text.push_str(&format!(
                    " {} künftige(r) Termin(e) wurde(n) abgesagt.",
                    done.bookings_cancelled
                ));
            }
            page.done = Some(text);
            page.code = String::new();
            render(StatusCode::OK, &page)
        }
        Ok(Err(state)) => {
            let (status, message) = refusal(&state);
            page.message = Some(message.to_owned());
            render(status, &page)
        }
        Err(e) => internal(e),
    }
}

#[derive(Template)]
#[template(path = "withdraw_by_email.html")]
struct ByEmailPage {
    shell: Shell,
    tenant: String,
    tenant_name: String,
    done: Option<String>,
    message: Option<String>,
}

async fn by_email_page(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    render(
        StatusCode::OK,
        &ByEmailPage {
            shell: Shell::tenant(policy, &[("Widerruf per E-Mail", None)]),
            tenant,
            tenant_name: policy.tenant.name.clone(),
            done: None,
            message: None,
        },
    )
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Sends a confirmation request to the address if it is on file; answers the same
/// whether it is or not, so the page does not tell who is a customer.
async fn by_email_submit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Utf8Form<EmailForm>, FormRefusal>,
) -> Response {
    let Some(policy) = state.ctx.policies.get(&tenant) else {
        return unknown_tenant();
    };
    let tenant_name = policy.tenant.name.clone();
    let valid = policy.identity.confirmation_valid_for.describe_de();
    if limit(&state, &headers, peer).is_err() {
        return too_many();
    }
    let f = match form {
        Ok(Utf8Form(f)) => f,
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            return error_page(status, message);
        }
    };
    let email = f.email.trim();
    if !crate::domain::subject::is_email_address(email) {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ByEmailPage {
                shell: Shell::tenant(policy, &[("Widerruf per E-Mail", None)]),
                tenant,
                tenant_name,
                done: None,
                message: Some("Bitte geben Sie eine gültige E-Mail-Adresse an.".into()),
            },
        );
    }
    if let Err(e) = identity::request_withdrawal_by_web(
        &state.ctx,
        &tenant,
        email,
        state.config.public_url.as_deref(),
    )
    .await
    {
        return internal(e);
    }
    render(
        StatusCode::OK,
        &ByEmailPage {
            shell: Shell::tenant(policy, &[("Widerruf per E-Mail", None)]),
            tenant,
            tenant_name,
            done: Some(format!(
                "Wenn diese E-Mail-Adresse bei uns zu einer Buchung gehört, haben wir an sie eine E-Mail mit einem \
                 Bestätigungslink und einem Code geschickt. Erst wenn Sie dort bestätigen, widerrufen wir Ihre \
                 Einwilligungen. Der Link gilt {valid}. Kommt keine E-Mail an, liegen uns zu dieser Adresse keine \
                 Daten vor."
            )),
            message: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::code_from_link;

    #[test]
    fn the_link_fills_in_the_code_and_ignores_anything_else() {
        assert_eq!(
            code_from_link(Some("code=DW-ABCD-EFGH-JKLM")),
            "DW-ABCD-EFGH-JKLM"
        );
        assert_eq!(code_from_link(Some("x=1&code=<script>")), "");
        assert_eq!(code_from_link(None), "");
    }
}
