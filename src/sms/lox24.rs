//! LOX24's SMS gateway over its REST API v2, as LOX24 documents it (doc.lox24.eu, "LOX24
//! API Specification" 2.2x, operations `POST /sms` and `GET /me`; cross-checked against
//! LOX24's own PHP client lox24/lox24-client-php):
//!
//! * base URL `https://api.lox24.eu`; every request carries the API key v2 in the header
//!   `X-LOX24-AUTH-TOKEN` (`<client id>:<token>`);
//! * `POST /sms` with a JSON body `{sender_id, phone, text, service_code, is_unicode,
//!   callback_data, is_delete_text, …}`; `phone` preferably E.164, `sender_id` up to 11
//!   letters/digits/spaces or a number of up to 15 digits, `service_code` one of `direct`,
//!   `pro`, `economy`; `delivery_at` (a Unix time) is left out: we send when the message
//!   is due. `is_delete_text` asks LOX24 to delete the text once sent (data minimisation:
//!   the processor needs the text only to send it);
//! * answers `201 Created` with the new SMS resource, whose `uuid` is its id; errors:
//!   400 bad input, 401 key not active or invalid, 402 not enough funds, 403 account not
//!   activated or blocked, 404 not found, 422 unprocessable, 429 too many requests (also
//!   for ten minutes after three failed logins from one IP), 5xx the gateway's own fault;
//! * `GET /me` returns the account (200) and is used to check the key before a run.
//!
//! How the answers are classed: 400 and 422 are about this message (failed for good);
//! 401, 402, 403 and 404 are about the account or the URL, so the message is tried again
//! later and the run's other SMS wait too; 429 and 5xx are temporary (429 also stops the
//! run's SMS). No answer at all (connection, timeout, TLS) stops the run's SMS.

use super::{OutgoingSms, ProviderMessageId, SmsError, SmsGateway};
use crate::domain::delivery::ErrorClass;
use crate::domain::sms::needs_unicode;
use crate::mail::smtp::Secret;
use async_trait::async_trait;
use reqwest::StatusCode;
use std::fmt;
use std::time::Duration;

/// LOX24's API as the documentation names it.
pub const DEFAULT_URL: &str = "https://api.lox24.eu";
const AUTH_HEADER: &str = "X-LOX24-AUTH-TOKEN";
/// The standard route; `pro`/`economy` are cheaper or slower routes an operator may pick.
const SERVICE_CODE: &str = "direct";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a gateway URL or key was refused; never repeats the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid SMS gateway URL {url}: {why}")]
pub struct InvalidSmsUrl {
    url: String,
    why: String,
}

/// The gateway's base URL: https, or plain http to this host only (a test server).
#[derive(Clone, PartialEq, Eq)]
pub struct SmsUrl(reqwest::Url);

impl SmsUrl {
    pub fn parse(url: &str) -> Result<SmsUrl, InvalidSmsUrl> {
        let bad = |why: &str| InvalidSmsUrl {
            url: crate::store::redact_url(url),
            why: why.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "put the key into DATENWART_SMS_KEY or --sms-key-file, not into the URL",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("the URL takes no query or fragment"));
        }
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(bad("the host is missing")),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(bad(
                    "the key and the phone numbers must not travel unencrypted: use https:// (http:// only to this host)",
                ));
            }
            _ => return Err(bad("the scheme must be https://")),
        }
        Ok(SmsUrl(parsed))
    }

    /// `base` + `/path`, whether or not the base ends in a slash.
    fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Display for SmsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Debug for SmsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The LOX24 gateway: base URL, key and an HTTP client. `Debug` shows no key.
pub struct Lox24 {
    url: SmsUrl,
    key: Secret,
    client: reqwest::Client,
}

impl fmt::Debug for Lox24 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lox24")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish()
    }
}

#[derive(serde::Serialize)]
struct SmsRequest<'a> {
    sender_id: &'a str,
    phone: &'a str,
    text: &'a str,
    service_code: &'a str,
    is_unicode: bool,
    callback_data: &'a str,
    is_delete_text: bool,
}

#[derive(serde::Deserialize)]
struct SmsCreated {
    uuid: Option<String>,
}

impl Lox24 {
    /// `ca_pem`: a certificate authority (PEM) trusted besides the public roots (a proxy
    /// of the office with its own CA).
    pub fn new(url: SmsUrl, key: Secret, ca_pem: Option<&[u8]>) -> anyhow::Result<Lox24> {
        if key.expose().trim().is_empty() || key.expose().contains(['\r', '\n']) {
            anyhow::bail!("the SMS gateway key is empty or spans lines");
        }
        let extra = match ca_pem {
            Some(pem) => crate::mail::smtp::pem_certificates(pem)
                .map_err(|e| anyhow::anyhow!("the SMS {e}"))?,
            None => Vec::new(),
        };
        let tls = crate::mail::smtp::tls_client_config(extra, "SMS")?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("datenwart/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Lox24 { url, key, client })
    }

    pub fn url(&self) -> &SmsUrl {
        &self.url
    }
}

/// What went wrong before any answer: the run's SMS wait.
fn no_answer(e: &reqwest::Error) -> SmsError {
    let what = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    SmsError::new(ErrorClass::Connection, true, what)
}

/// The class of an error answer.
fn classify(status: StatusCode) -> SmsError {
    let code = status.as_u16();
    let (class, stop, why) = match code {
        400 => (
            ErrorClass::Permanent,
            false,
            "the gateway refused the message",
        ),
        422 => (
            ErrorClass::Permanent,
            false,
            "the gateway cannot process the message",
        ),
        401 => (ErrorClass::Connection, true, "the gateway refused the key"),
        402 => (
            ErrorClass::Connection,
            true,
            "the SMS account has no funds left",
        ),
        403 => (
            ErrorClass::Connection,
            true,
            "the SMS account is not active or blocked",
        ),
        404 => (
            ErrorClass::Connection,
            true,
            "not found: is the gateway URL right?",
        ),
        429 => (ErrorClass::Temporary, true, "too many requests"),
        500..=599 => (ErrorClass::Temporary, false, "the gateway failed"),
        _ if status.is_client_error() => (ErrorClass::Permanent, false, "refused"),
        _ => (ErrorClass::Temporary, false, "unexpected answer"),
    };
    SmsError::new(class, stop, format!("{why} ({code})"))
}

#[async_trait]
impl SmsGateway for Lox24 {
    fn describe(&self) -> String {
        format!("LOX24 {}", self.url)
    }

    async fn check(&self) -> Result<(), SmsError> {
        let answer = self
            .client
            .get(self.url.join("/me"))
            .header(AUTH_HEADER, self.key.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| no_answer(&e))?;
        match answer.status() {
            s if s.is_success() => Ok(()),
            s => Err(classify(s)),
        }
    }

    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<ProviderMessageId, SmsError> {
        let body = SmsRequest {
            sender_id: sms.sender,
            phone: sms.to,
            text: sms.text,
            service_code: SERVICE_CODE,
            is_unicode: needs_unicode(sms.text),
            callback_data: sms.our_id,
            is_delete_text: true,
        };
        let answer = self
            .client
            .post(self.url.join("/sms"))
            .header(AUTH_HEADER, self.key.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| no_answer(&e))?;
        let status = answer.status();
        if status != StatusCode::CREATED && !status.is_success() {
            return Err(classify(status));
        }
        // Accepted. An answer without a readable id is still an accepted message: marking
        // it failed would send it again.
        let id = answer
            .json::<SmsCreated>()
            .await
            .ok()
            .and_then(|c| c.uuid)
            .filter(|id| !id.is_empty() && id.len() <= 64)
            .unwrap_or_else(|| "(no id in the answer)".to_owned());
        Ok(ProviderMessageId(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_and_http_to_this_host_only() {
        assert!(SmsUrl::parse("https://api.lox24.eu").is_ok());
        assert!(SmsUrl::parse("http://127.0.0.1:8080").is_ok());
        assert!(SmsUrl::parse("http://localhost:8080/").is_ok());
        assert!(SmsUrl::parse("http://[::1]:8080").is_ok());
        for bad in [
            "http://api.lox24.eu",
            "ftp://api.lox24.eu",
            "api.lox24.eu",
            "https://user:geheim@api.lox24.eu",
            "https://api.lox24.eu/?key=1",
        ] {
            let e = SmsUrl::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("geheim"), "{e}");
        }
        assert_eq!(
            SmsUrl::parse("https://api.lox24.eu/").unwrap().join("/sms"),
            "https://api.lox24.eu/sms"
        );
    }

    #[test]
    fn answers_are_classed_by_whom_they_concern() {
        let c = |code: u16| {
            let e = classify(StatusCode::from_u16(code).unwrap());
            (e.class, e.stop)
        };
        assert_eq!(c(400), (ErrorClass::Permanent, false));
        assert_eq!(c(422), (ErrorClass::Permanent, false));
        assert_eq!(c(401), (ErrorClass::Connection, true));
        assert_eq!(c(402), (ErrorClass::Connection, true));
        assert_eq!(c(403), (ErrorClass::Connection, true));
        assert_eq!(c(429), (ErrorClass::Temporary, true));
        assert_eq!(c(500), (ErrorClass::Temporary, false));
        assert_eq!(c(503), (ErrorClass::Temporary, false));
    }

    #[test]
    fn the_key_is_never_shown() {
        let g = Lox24::new(
            SmsUrl::parse("https://api.lox24.eu").unwrap(),
            Secret::new("1234567:geheimerschluessel".into()),
            None,
        )
        .unwrap();
        let shown = format!("{g:?} {}", g.describe());
        assert!(!shown.contains("geheim"), "{shown}");
        assert!(Lox24::new(g.url.clone(), Secret::new(" ".into()), None).is_err());
    }
}
