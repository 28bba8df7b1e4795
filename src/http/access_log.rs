//! One access-log row per request, with exactly the fields the privacy notices list: IP,
//! time, offset to GMT, requested page, status, bytes, referrer, browser, operating system,
//! language and browser version. The raw user-agent string is not kept.

use super::AppState;
use crate::domain::client::{UserAgent, first_language};
use crate::ops::group_commit::GroupCommit;
use crate::store::{AccessLogEntry, Store};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Offset;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Set by a handler on its response when the request made or cancelled a booking.
#[derive(Clone, Copy, Debug)]
pub struct LoggedBooking(pub i64);

/// Set by a handler when the tenant is known only after the work (cancelling by reference).
#[derive(Clone, Debug)]
pub struct LoggedTenant(pub String);

const MAX_TEXT: usize = 500;

/// The connecting peer, when the server knows it (it does under `serve`).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.chars().take(MAX_TEXT).collect())
}

/// The client's address: the peer, or behind a trusted proxy the address it forwarded.
pub fn client_ip(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
    super::forwarded::client_ip(&state.config.trusted_proxies, headers, peer)
}

/// A path or URL with its secrets replaced: the value of a `code=` query parameter (a
/// confirmation link's one-time code) and the token of a booking's confirmation page
/// (`/gebucht/{token}`, also in the referrer of the pages linked from there). A secret
/// does not belong in the log.
fn without_code(path: String) -> String {
    let path = without_receipt_token(path);
    let Some((base, query)) = path.split_once('?') else {
        return path;
    };
    if !query.split('&').any(|p| p.starts_with("code=")) {
        return path;
    }
    let query: Vec<&str> = query
        .split('&')
        .map(|p| {
            if p.starts_with("code=") {
                "code=…"
            } else {
                p
            }
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn without_receipt_token(path: String) -> String {
    const MARK: &str = "/gebucht/";
    let Some(at) = path.find(MARK) else {
        return path;
    };
    let start = at + MARK.len();
    let end = path[start..]
        .find(['/', '?', '#'])
        .map_or(path.len(), |i| start + i);
    format!("{}…{}", &path[..start], &path[end..])
}

/// The tenant a path belongs to: `/t/{slug}/…` and `/api/v1/tenants/{slug}/…`.
fn tenant_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/t/")
        .or_else(|| path.strip_prefix("/api/v1/tenants/"))?;
    rest.split('/').next().filter(|s| !s.is_empty())
}

/// Browser, its version and the operating system from the user agent; the first
/// language of `Accept-Language`.
fn client_details(
    headers: &HeaderMap,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let agent = header(header::USER_AGENT)
        .map(UserAgent::parse)
        .unwrap_or_default();
    let language = header(header::ACCEPT_LANGUAGE).and_then(first_language);
    (agent.browser, agent.version, agent.os, language)
}

/// The access-log row of a request as far as it is known before the handler runs (status,
/// size and booking still open). A handler that writes a booking puts the finished row
/// into the booking's own transaction and marks its response with [`AccessLogged`].
#[derive(Clone, Debug)]
pub struct PendingAccess(pub AccessLogEntry);

/// Set by a handler whose request's access-log row was committed with its own write.
#[derive(Clone, Copy, Debug)]
pub struct AccessLogged;

fn zone_of(state: &AppState, tenant: Option<&str>) -> chrono_tz::Tz {
    tenant
        .and_then(|t| state.ctx.policies.get(t))
        .map_or(chrono_tz::Europe::Berlin, |p| p.tenant.zone())
}

fn offset_minutes(logged_at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> i64 {
    i64::from(
        logged_at
            .with_timezone(&zone)
            .offset()
            .fix()
            .local_minus_utc()
            / 60,
    )
}

pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let logged_at = crate::domain::time::now();
    let headers = request.headers();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let path: String = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .chars()
        .take(MAX_TEXT)
        .collect();
    let path = without_code(path);
    let tenant = tenant_of(&path)
        .filter(|t| state.ctx.policies.get(t).is_some())
        .map(str::to_owned);
    let (browser, browser_version, operating_system, language) = client_details(headers);
    let mut entry = AccessLogEntry {
        utc_offset_minutes: offset_minutes(logged_at, zone_of(&state, tenant.as_deref())),
        tenant,
        logged_at,
        ip: client_ip(&state, headers, peer).to_string(),
        method: request.method().to_string(),
        path,
        status: 0,
        bytes: 0,
        referrer: text(headers, header::REFERER).map(without_code),
        browser,
        browser_version,
        operating_system,
        language,
        booking_id: None,
    };
    request
        .extensions_mut()
        .insert(PendingAccess(entry.clone()));

    let response = next.run(request).await;
    if response.extensions().get::<AccessLogged>().is_some() {
        return response;
    }

    if let Some(t) = response.extensions().get::<LoggedTenant>()
        && state.ctx.policies.get(&t.0).is_some()
    {
        entry.utc_offset_minutes = offset_minutes(logged_at, zone_of(&state, Some(&t.0)));
        entry.tenant = Some(t.0.clone());
    }
    let bytes = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    entry.status = i64::from(response.status().as_u16());
    entry.bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    entry.booking_id = response.extensions().get::<LoggedBooking>().map(|b| b.0);
    // Written before the response goes out; on SQLite together with the rows of requests
    // that end at the same moment (group commit).
    let written = match &state.access_log {
        Some(writer) => match writer.submit(entry).await {
            Ok(written) => written,
            Err(gone) => Err(gone.to_string()),
        },
        None => state
            .ctx
            .store
            .log_access(std::slice::from_ref(&entry))
            .await
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        // The row holds an IP address; the message must not.
        tracing::error!("could not write the access log: {e}");
    }
    response
}

/// The group-commit writer of the access log.
pub type AccessLogWriter = GroupCommit<AccessLogEntry, Result<(), String>>;

/// Starts the writer: the rows waiting together go in one transaction; should it fail, each
/// row is tried alone, so one bad row does not lose the others.
pub fn access_log_writer(store: Arc<dyn Store>) -> AccessLogWriter {
    GroupCommit::start(move |entries: Vec<AccessLogEntry>| {
        let store = store.clone();
        async move {
            match store.log_access(&entries).await {
                Ok(()) => entries.iter().map(|_| Ok(())).collect(),
                Err(e) if entries.len() == 1 => vec![Err(e.to_string())],
                Err(_) => {
                    let mut outcomes = Vec::with_capacity(entries.len());
                    for entry in &entries {
                        outcomes.push(
                            store
                                .log_access(std::slice::from_ref(entry))
                                .await
                                .map_err(|e| e.to_string()),
                        );
                    }
                    outcomes
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_code_is_not_logged() {
        assert_eq!(
            without_code("/t/x/bestaetigen?code=DW-ABCD-EFGH-JKLM".into()),
            "/t/x/bestaetigen?code=…"
        );
        assert_eq!(
            without_code("/t/x/termine?service=PA".into()),
            "/t/x/termine?service=PA"
        );
    }

    #[test]
    fn the_confirmation_token_is_not_logged() {
        assert_eq!(
            without_code("/t/x/gebucht/ABCDEF/termin.ics".into()),
            "/t/x/gebucht/…/termin.ics"
        );
        assert_eq!(
            without_code("https://h/t/x/gebucht/ABCDEF".into()),
            "https://h/t/x/gebucht/…"
        );
        assert_eq!(without_code("/t/x/absagen".into()), "/t/x/absagen");
    }

    #[test]
    fn the_tenant_comes_from_the_path() {
        assert_eq!(
            tenant_of("/t/westendorf/termine?service=PA"),
            Some("westendorf")
        );
        assert_eq!(
            tenant_of("/api/v1/tenants/recklinghausen/slots"),
            Some("recklinghausen")
        );
        assert_eq!(tenant_of("/api/v1/bookings/T-1"), None);
        assert_eq!(tenant_of("/"), None);
    }

    #[test]
    fn browser_system_and_language_are_taken_from_the_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::USER_AGENT,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
                .parse()
                .unwrap(),
        );
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE,de;q=0.9,en;q=0.5".parse().unwrap(),
        );
        let (browser, version, os, language) = client_details(&h);
        assert_eq!(browser.as_deref(), Some("Firefox"));
        assert_eq!(version.as_deref(), Some("128.0"));
        assert_eq!(os.as_deref(), Some("Windows 10 NT 10.0"));
        assert_eq!(language.as_deref(), Some("de-DE"));
        assert_eq!(client_details(&HeaderMap::new()), (None, None, None, None));
    }
}
