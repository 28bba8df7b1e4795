//! The SMTP connection of `datenwart send`: the server URL with its TLS mode, the password
//! kept out of every message and log, and each failure put into an [`ErrorClass`].
//!
//! Uses lettre 0.11 (tokio, rustls with ring and the webpki roots; no OpenSSL).

use crate::domain::delivery::ErrorClass;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A TLS client configuration trusting the public roots and `extra` (an office's own CA,
/// from [`pem_certificates`]), with ring as the crypto provider — the one lettre and sqlx
/// use, so the binary has one. `who` names the connection in an error ("SMTP", "SMS").
pub fn tls_client_config(
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
    who: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("the {who} CA file holds an unusable certificate: {e}"))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// Seconds to reach the server and finish the greeting, TLS and login.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds one message may take from `MAIL FROM` to the server's answer to its end; after
/// that the attempt counts as a connection failure (the message may have arrived: it goes
/// again later with the same Message-ID).
const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// Messages handed to the server at once, each over its own connection. The connections
/// are kept open between messages (greeting, TLS and login once per connection, not once
/// per message). A connection whose message was refused or broke off is closed, never
/// reused.
pub const PARALLEL: usize = 4;
/// A connection idle this long is asked whether it is still there (NOOP) before it is used.
const STALE: Duration = Duration::from_secs(5);
/// A connection idle this long is closed rather than reused.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// A failed attempt: its class, and what to log — the server's code, never its text,
/// which can quote the address.
#[derive(Debug)]
pub struct SendError {
    pub class: ErrorClass,
    pub detail: String,
}

/// How connections are made secure.
enum Security {
    None,
    /// lettre's STARTTLS upgrade after the first greeting.
    StartTls(TlsParameters),
    /// TLS from the first byte, done here (lettre starts it only on sockets of its own).
    Implicit(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    ),
}

/// The connections to one SMTP server.
///
/// The sockets are ours, not lettre's, so that they can be told to send at once
/// (`TCP_NODELAY`): lettre writes a message and its closing `.` separately, and with
/// Nagle's algorithm the `.` waited for the server's delayed acknowledgement — about 40 ms
/// per message on every connection.
pub struct Mailer {
    url: SmtpUrl,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl Mailer {
    /// `ca_pem`: a certificate authority (PEM) trusted besides the public roots.
    pub fn new(
        url: SmtpUrl,
        password: Option<Secret>,
        ca_pem: Option<&[u8]>,
    ) -> anyhow::Result<Mailer> {
        let extra = match ca_pem {
            Some(pem) => pem_certificates(pem).map_err(|e| anyhow::anyhow!("the SMTP {e}"))?,
            None => Vec::new(),
        };
        let security = match url.tls {
            TlsMode::None => Security::None,
            TlsMode::StartTls => {
                let mut builder = TlsParameters::builder(url.host.clone());
                for der in &extra {
                    builder = builder.add_root_certificate(Certificate::from_der(der.to_vec())?);
                }
                Security::StartTls(builder.build_rustls()?)
            }
            TlsMode::Implicit => {
                let config = tls_client_config(extra, "SMTP")?;
                let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                    .map_err(|e| anyhow::anyhow!("the SMTP host {}: {e}", url.host))?;
                Security::Implicit(tokio_rustls::TlsConnector::from(Arc::new(config)), name)
            }
        };
        let credentials = match (&url.user, password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.0)),
            (Some(_), None) => anyhow::bail!(
                "the SMTP URL {url} names a user but no password was given: set DATENWART_SMTP_PASSWORD or --smtp-password-file"
            ),
            (None, Some(_)) => anyhow::bail!(
                "a password was given but the SMTP URL {url} names no user: smtp://USER@HOST"
            ),
            (None, None) => None,
        };
        Ok(Mailer {
            url,
            security,
            credentials,
            hello: ClientId::default(),
            idle: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn url(&self) -> &SmtpUrl {
        &self.url
    }

    /// Connects, greets, starts TLS and logs in: a server that cannot be reached, or
    /// refuses the login, stops the run before any message is claimed. The connection is
    /// kept for the first message.
    pub async fn check(&self) -> Result<(), SendError> {
        let conn = self.connection().await?;
        self.park(conn);
        Ok(())
    }

    /// Sends one message; the server's answer (code and text) when it took it.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SendError> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(SEND_TIMEOUT, conn.send(envelope, message)).await {
            Ok(Ok(response)) => {
                self.park(conn);
                Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ))
            }
            Ok(Err(e)) => {
                // lettre marks the connection broken on any failure; it says goodbye.
                conn.abort().await;
                Err(classify(&e))
            }
            Err(_) => Err(SendError {
                class: ErrorClass::Connection,
                detail: "timeout".into(),
            }),
        }
    }

    /// Says goodbye (QUIT) on the connections kept open: at the end of a run.
    pub async fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().expect("SMTP connections"));
        for (mut conn, _) in idle {
            conn.abort().await;
        }
    }

    /// A connection kept open that still answers, else a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let parked = self.idle.lock().expect("SMTP connections").pop();
            let Some((mut conn, since)) = parked else {
                return self.connect().await;
            };
            let idle = since.elapsed();
            if idle < STALE
                || (idle < IDLE_LIMIT
                    && tokio::time::timeout(STALE, conn.test_connected())
                        .await
                        .unwrap_or(false))
            {
                return Ok(conn);
            }
            conn.abort().await;
        }
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().expect("SMTP connections");
        if !conn.has_broken() && idle.len() < PARALLEL {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .unwrap_or_else(|_| {
                Err(SendError {
                    class: ErrorClass::Connection,
                    detail: "timeout".into(),
                })
            })
    }

    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        let failed = |what: &str, e: std::io::Error| SendError {
            class: ErrorClass::Connection,
            detail: format!("{what} ({})", e.kind()),
        };
        let tcp = tokio::net::TcpStream::connect((self.url.host.as_str(), self.url.port))
            .await
            .map_err(|e| failed("connection failed", e))?;
        tcp.set_nodelay(true)
            .map_err(|e| failed("connection failed", e))?;
        let mut conn = match &self.security {
            Security::None | Security::StartTls(_) => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await
            }
            Security::Implicit(connector, name) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| failed("TLS failed", e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(ImplicitTls(tls)), &self.hello)
                    .await
            }
        }
        .map_err(|e| classify(&e))?;
        if let Security::StartTls(parameters) = &self.security {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(SendError {
                    class: ErrorClass::Connection,
                    detail: "the server does not offer STARTTLS".into(),
                });
            }
            conn.starttls(parameters.clone(), &self.hello)
                .await
                .map_err(|e| classify(&e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(conn)
    }
}

/// A TLS stream lettre can speak SMTP over (its trait wants the peer's address too).
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
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
