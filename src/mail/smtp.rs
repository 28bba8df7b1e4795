//! The SMTP connection of `datenwart send`: the server URL with its TLS mode, the password
//! kept out of every message and log, and each failure put into an [`ErrorClass`].
//!
//! Uses lettre 0.11 (tokio, rustls with ring and the webpki roots; no OpenSSL).

use crate::domain::delivery::ErrorClass;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtp://`: STARTTLS, required (no credentials or mail go out unencrypted).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=none`: plain text, for a test server on this host only.
    None,
}

/// Where and how to send: parsed from `smtp://user@host:587`, `smtps://host` or
/// `smtp://127.0.0.1:2525?tls=none`. The password is not part of the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub tls: TlsMode,
}

/// Why an SMTP URL was refused; the message never repeats a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid SMTP URL {url}: {why}")]
pub struct InvalidSmtpUrl {
    url: String,
    why: String,
}

impl SmtpUrl {
    pub fn parse(url: &str) -> Result<SmtpUrl, InvalidSmtpUrl> {
        let bad = |why: &str| InvalidSmtpUrl {
            url: crate::store::redact_url(url),
            why: why.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected smtp://HOST[:PORT] or smtps://HOST[:PORT]"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') {
            return Err(bad("the URL has no path"));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                if userinfo.contains(':') {
                    return Err(bad(
                        "put the password into DATENWART_SMTP_PASSWORD or --smtp-password-file, not into the URL",
                    ));
                }
                (Some(percent_decode(userinfo).map_err(|e| bad(&e))?), hp)
            }
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                let port: u16 = p.parse().map_err(|_| bad("the port is not a number"))?;
                (h, Some(port))
            }
            _ => (hostport, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let mut tls = match scheme {
            "smtp" => TlsMode::StartTls,
            "smtps" => TlsMode::Implicit,
            _ => {
                return Err(bad(
                    "the scheme must be smtp:// (STARTTLS) or smtps:// (TLS)",
                ));
            }
        };
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair {
                "" => {}
                "tls=none" if tls == TlsMode::StartTls => tls = TlsMode::None,
                "tls=none" => return Err(bad("tls=none goes with smtp://, not smtps://")),
                "tls=starttls" if tls == TlsMode::StartTls => {}
                _ => return Err(bad(&format!("unknown parameter {pair:?} (only tls=none)"))),
            }
        }
        let port = port.unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::StartTls => 587,
            TlsMode::None => 25,
        });
        Ok(SmtpUrl {
            host: host.to_owned(),
            port,
            user: user.filter(|u| !u.is_empty()),
            tls,
        })
    }
}

/// Shown in messages and logs: never a password (there is none in it).
impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == TlsMode::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}:{}", self.host, self.port)?;
        if self.tls == TlsMode::None {
            write!(f, "?tls=none")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % in the user name is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the user name is not UTF-8".to_owned())
}

/// A password that is never printed: `Debug` shows `***`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for the one place that hands it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The certificates of a CA file (PEM); an error when it holds none or a broken one, so a
/// wrong file is a usage error rather than a TLS failure at the first connection.
pub fn pem_certificates(
    pem: &[u8],
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("CA file is not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        anyhow::bail!("CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    Ok(certs)
}

/// Seconds an SMTP command may take before the attempt counts as a connection failure.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages handed to the server at once, each over its own connection. The connections
/// are kept open between messages (greeting, TLS and login once per connection, not once
/// per message) and closed after a minute without mail. A connection whose message was
/// refused or broke off is closed, never reused.
pub const PARALLEL: usize = 4;
const POOL_IDLE: Duration = Duration::from_secs(60);

/// A failed attempt: its class, and what to log — the server's code, never its text,
/// which can quote the address.
#[derive(Debug)]
pub struct SendError {
    pub class: ErrorClass,
    pub detail: String,
}

/// The connection to one SMTP server.
pub struct Mailer {
    url: SmtpUrl,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// `ca_pem`: a certificate authority (PEM) trusted besides the public roots.
    pub fn new(
        url: SmtpUrl,
        password: Option<Secret>,
        ca_pem: Option<&[u8]>,
    ) -> anyhow::Result<Mailer> {
        let parameters = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(url.host.clone());
            if let Some(pem) = ca_pem {
                for der in pem_certificates(pem).map_err(|e| anyhow::anyhow!("the SMTP {e}"))? {
                    builder = builder.add_root_certificate(Certificate::from_der(der.to_vec())?);
                }
            }
            Ok(builder.build_rustls()?)
        };
        let tls = match url.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(parameters()?),
            TlsMode::Implicit => Tls::Wrapper(parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .port(url.port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT))
            .pool_config(
                PoolConfig::new()
                    .max_size(PARALLEL as u32)
                    .idle_timeout(POOL_IDLE),
            );
        match (&url.user, password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.0));
            }
            (Some(_), None) => anyhow::bail!(
                "the SMTP URL {url} names a user but no password was given: set DATENWART_SMTP_PASSWORD or --smtp-password-file"
            ),
            (None, Some(_)) => anyhow::bail!(
                "a password was given but the SMTP URL {url} names no user: smtp://USER@HOST"
            ),
            (None, None) => {}
        }
        Ok(Mailer {
            transport: builder.build(),
            url,
        })
    }

    pub fn url(&self) -> &SmtpUrl {
        &self.url
    }

    /// Connects, greets, starts TLS and logs in, then says goodbye: a server that cannot
    /// be reached, or refuses the login, stops the run before any message is claimed.
    pub async fn check(&self) -> Result<(), SendError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError {
                class: ErrorClass::Connection,
                detail: "the server closed the connection".into(),
            }),
            Err(e) => Err(classify(&e)),
        }
    }

    /// Sends one message; the server's answer (code and text) when it took it.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SendError> {
        match self.transport.send_raw(envelope, message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// The class of a failure, and its code or kind for the log.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let code = e.status().map(|c| c.to_string());
    let (class, what) = if e.is_permanent() {
        (ErrorClass::Permanent, "permanent refusal")
    } else if e.is_transient() {
        (ErrorClass::Temporary, "temporary refusal")
    } else if e.is_timeout() {
        (ErrorClass::Connection, "timeout")
    } else if e.is_tls() {
        (ErrorClass::Connection, "TLS failed")
    } else {
        (ErrorClass::Connection, "connection failed")
    };
    let detail = match code {
        Some(code) => format!("{what} ({code})"),
        None => what.to_owned(),
    };
    SendError { class, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_give_starttls_implicit_tls_or_plain_only_when_asked() {
        let u = SmtpUrl::parse("smtp://buergerbuero@mail.example.de:587").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_deref(), u.tls),
            (
                "mail.example.de",
                587,
                Some("buergerbuero"),
                TlsMode::StartTls
            )
        );
        let u = SmtpUrl::parse("smtps://mail.example.de").unwrap();
        assert_eq!((u.port, u.tls), (465, TlsMode::Implicit));
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((u.port, u.tls, u.user), (2525, TlsMode::None, None));
        assert_eq!(SmtpUrl::parse("smtp://mail.example.de").unwrap().port, 587);
        assert_eq!(
            SmtpUrl::parse("smtp://a%40b@[::1]:25?tls=none").unwrap(),
            SmtpUrl {
                host: "::1".into(),
                port: 25,
                user: Some("a@b".into()),
                tls: TlsMode::None
            }
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        let e = SmtpUrl::parse("smtp://dw:geheim@mail.example.de").unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("geheim"), "{text}");
        assert!(text.contains("DATENWART_SMTP_PASSWORD"), "{text}");
    }

    #[test]
    fn bad_schemes_parameters_and_ports_are_refused() {
        for url in [
            "http://mail.example.de",
            "mail.example.de",
            "smtp://mail.example.de:abc",
            "smtp://mail.example.de?tls=maybe",
            "smtps://mail.example.de?tls=none",
            "smtp://:25",
            "smtp://mail.example.de/x",
        ] {
            assert!(SmtpUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn a_url_and_a_secret_print_without_the_password() {
        let u = SmtpUrl::parse("smtp://dw@mail.example.de").unwrap();
        assert_eq!(u.to_string(), "smtp://dw@mail.example.de:587");
        assert_eq!(format!("{:?}", Secret::new("geheim".into())), "***");
    }
}
