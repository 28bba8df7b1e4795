//! The office mailbox on an IMAP server (`withdrawals import --imap`): the server URL with
//! its TLS mode, the password kept out of every message and log, and the few IMAP commands
//! the intake needs — which messages are new (by UID), their bytes in bounded batches, and
//! filing a processed message away (MOVE to a folder, or a keyword). Nothing here deletes
//! a message.
//!
//! Uses async-imap 0.12 on tokio, with rustls (ring and the webpki roots, the provider
//! lettre and sqlx already use; no OpenSSL) for implicit TLS and STARTTLS.

use async_imap::types::{Fetch, Flag};
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImapTls {
    /// `imaps://` (port 993): TLS from the first byte.
    Implicit,
    /// `imap://` (port 143): STARTTLS, required — no password goes out unencrypted.
    StartTls,
    /// `imap://…?tls=none`: plain text, for a test server on this host only.
    None,
}

/// Which mailbox of which server: parsed from `imaps://user@host[:port]/INBOX`. The
/// password is not part of the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The mailbox read, with `/` between levels (`INBOX`, `INBOX/Datenschutz`); `/` is
    /// turned into the server's own hierarchy delimiter.
    pub mailbox: String,
    pub tls: ImapTls,
}

/// Why an IMAP URL was refused; the message never repeats a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid IMAP URL {url}: {why}")]
pub struct InvalidImapUrl {
    url: String,
    why: String,
}

impl ImapUrl {
    pub fn parse(text: &str) -> Result<ImapUrl, InvalidImapUrl> {
        let bad = |why: &str| InvalidImapUrl {
            url: crate::store::redact_url(text),
            why: why.to_owned(),
        };
        let url = url::Url::parse(text)
            .map_err(|e| bad(&format!("{e}; expected imaps://USER@HOST[:PORT]/MAILBOX")))?;
        let mut tls = match url.scheme() {
            "imaps" => ImapTls::Implicit,
            "imap" => ImapTls::StartTls,
            _ => {
                return Err(bad(
                    "the scheme must be imaps:// (TLS) or imap:// (STARTTLS)",
                ));
            }
        };
        if url.password().is_some() {
            return Err(bad(
                "put the password into DATENWART_IMAP_PASSWORD or --imap-password-file, not into the URL",
            ));
        }
        let user = decode(url.username()).map_err(|e| bad(&e))?;
        if user.is_empty() {
            return Err(bad("the user is missing: imaps://USER@HOST/MAILBOX"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => decode(d).map_err(|e| bad(&e))?,
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => String::new(),
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if tls == ImapTls::StartTls => tls = ImapTls::None,
                ("tls", "none") => return Err(bad("tls=none goes with imap://, not imaps://")),
                ("tls", "starttls") if tls == ImapTls::StartTls => {}
                _ => {
                    return Err(bad(&format!(
                        "unknown parameter {key}={value} (only tls=none)"
                    )));
                }
            }
        }
        if url.fragment().is_some() {
            return Err(bad("the URL has a #fragment"));
        }
        let path = decode(url.path()).map_err(|e| bad(&e))?;
        if path.contains(';') {
            return Err(bad(
                "IMAP URL parameters such as ;UIDVALIDITY= are not supported; name the mailbox only",
            ));
        }
        let mailbox = path.trim_matches('/');
        let mailbox = if mailbox.is_empty() { "INBOX" } else { mailbox };
        check_mailbox_name(mailbox).map_err(|e| bad(&e))?;
        let port = url.port().unwrap_or(match tls {
            ImapTls::Implicit => 993,
            ImapTls::StartTls | ImapTls::None => 143,
        });
        Ok(ImapUrl {
            host,
            port,
            user,
            mailbox: mailbox.to_owned(),
            tls,
        })
    }

    /// Which server and account, for the stored position: `user@host:port`.
    pub fn account(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Shown in messages and logs: never a password (there is none in it).
impl fmt::Display for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == ImapTls::Implicit {
            "imaps"
        } else {
            "imap"
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "{scheme}://{}@{host}:{}/{}",
            self.user, self.port, self.mailbox
        )?;
        if self.tls == ImapTls::None {
            write!(f, "?tls=none")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("{s:?} is not UTF-8 after percent-decoding"))
}

/// Mailbox and folder names are sent as IMAP quoted strings. Names beyond ASCII would need
/// modified UTF-7 (RFC 3501 5.1.3); office folders like `datenwart/verarbeitet` do not.
pub fn check_mailbox_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the mailbox name is empty".into());
    }
    if let Some(c) = name.chars().find(|c| {
        !c.is_ascii() || c.is_ascii_control() || matches!(c, '&' | '*' | '%' | '"' | '\\')
    }) {
        return Err(format!(
            "the mailbox name {name:?} contains {c:?}: use ASCII letters, digits, - _ . and / between levels"
        ));
    }
    if name.split('/').any(str::is_empty) {
        return Err(format!("the mailbox name {name:?} has an empty level"));
    }
    Ok(())
}

/// The login's password: the same never-printed secret as the SMTP one.
pub use crate::mail::smtp::Secret as Password;

/// Everything needed to log in: where, as whom, with which password, trusting which CA.
#[derive(Clone)]
pub struct ImapAccount {
    pub url: ImapUrl,
    pub password: Password,
    /// A certificate authority (PEM) trusted besides the public roots: an office's own CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ImapAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapAccount")
            .field("url", &self.url)
            .field("password", &self.password)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What went wrong with the server. The messages name the server and what to check, never
/// the password, and never a message's content.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {server}: {source}")]
    Connect {
        server: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "TLS with {server} failed: {reason} (for a certificate of an office's own certificate authority give --imap-ca-file)"
    )]
    Tls { server: String, reason: String },
    #[error("the CA file is not usable: {0}")]
    CaFile(String),
    #[error("{server} refused the login of {user}: check the user and the password ({detail})")]
    LoginRefused {
        server: String,
        user: String,
        detail: String,
    },
    #[error("{server} offers no STARTTLS; use imaps:// (port 993)")]
    NoStartTls { server: String },
    #[error("{server} did not answer within {} s", TIMEOUT.as_secs())]
    Timeout { server: String },
    #[error("{server}: {what}: {detail}")]
    Command {
        server: String,
        what: String,
        detail: String,
    },
}

/// How long one step (connect, greeting, login, one command) may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The byte stream under the IMAP client: TLS, or plain for `?tls=none`.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The selected mailbox's identity: UIDs are only comparable within one UIDVALIDITY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxState {
    pub uid_validity: u32,
    /// Messages in the mailbox now.
    pub exists: u32,
    /// Whether the mailbox keeps keywords of our own (PERMANENTFLAGS has `\*`).
    pub keeps_keywords: bool,
}

/// A new message before its bytes are fetched: its UID and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub uid: u32,
    pub size: u32,
}

/// A logged-in session with one mailbox selected.
pub struct ImapConnection {
    session: Session<Stream>,
    server: String,
    /// The server's hierarchy delimiter (`.` or `/`), which `/` in names is turned into.
    delimiter: Option<String>,
    can_move: bool,
    /// The mailbox as the server names it.
    mailbox: String,
    read_only: bool,
}

impl ImapConnection {
    /// Connects, checks the server's certificate, logs in and selects the URL's mailbox
    /// (`read_only`: EXAMINE, so that not even `\Recent` changes — for a dry run).
    pub async fn open(
        account: &ImapAccount,
        read_only: bool,
    ) -> Result<(ImapConnection, MailboxState), ImapError> {
        let url = &account.url;
        let server = format!("{}:{}", url.host, url.port);
        let timeout_error = || ImapError::Timeout {
            server: server.clone(),
        };
        let step = |what: &'static str| {
            let server = server.clone();
            move |e: async_imap::error::Error| ImapError::Command {
                server,
                what: what.to_owned(),
                detail: detail(&e),
            }
        };
        let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((url.host.as_str(), url.port)))
            .await
            .map_err(|_| timeout_error())?
            .map_err(|source| ImapError::Connect {
                server: server.clone(),
                source,
            })?;
        // Commands go out at once, not held back (Nagle) until the server acknowledged the
        // last bytes sent.
        tcp.set_nodelay(true).map_err(|source| ImapError::Connect {
            server: server.clone(),
            source,
        })?;
        let tls = || tls_connector(account.ca_pem.as_deref());
        let name = ServerName::try_from(url.host.clone()).map_err(|_| ImapError::Tls {
            server: server.clone(),
            reason: format!("{} is not a host name for TLS", url.host),
        })?;
        let handshake = |tcp: TcpStream| {
            let server = server.clone();
            let name = name.clone();
            async move {
                let connector = tls()?;
                match tokio::time::timeout(TIMEOUT, connector.connect(name, tcp)).await {
                    Err(_) => Err(ImapError::Timeout { server }),
                    Ok(Err(e)) => Err(ImapError::Tls {
                        server,
                        reason: tls_reason(&e),
                    }),
                    Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
                }
            }
        };
        let client = match url.tls {
            ImapTls::Implicit => {
                let mut client = Client::new(handshake(tcp).await?);
                greeting(&mut client, &server).await?;
                client
            }
            ImapTls::None => {
                let mut client = Client::new(Stream::Plain(tcp));
                greeting(&mut client, &server).await?;
                client
            }
            ImapTls::StartTls => {
                let mut client = Client::new(tcp);
                greeting(&mut client, &server).await?;
                tokio::time::timeout(TIMEOUT, client.run_command_and_check_ok("STARTTLS", None))
                    .await
                    .map_err(|_| timeout_error())?
                    .map_err(|_| ImapError::NoStartTls {
                        server: server.clone(),
                    })?;
                // No greeting follows STARTTLS (RFC 3501 6.2.1).
                Client::new(handshake(client.into_inner()).await?)
            }
        };
        let login = client.login(&url.user, account.password.expose());
        let mut session = match tokio::time::timeout(TIMEOUT, login)
            .await
            .map_err(|_| timeout_error())?
        {
            Ok(session) => session,
            Err((e @ async_imap::error::Error::No(_), _)) => {
                return Err(ImapError::LoginRefused {
                    server,
                    user: url.user.clone(),
                    detail: detail(&e),
                });
            }
            Err((e, _)) => return Err(step("login")(e)),
        };
        let capabilities = timed(&server, session.capabilities())
            .await?
            .map_err(step("CAPABILITY"))?;
        let can_move = capabilities.has_str("MOVE");
        let delimiter = {
            let names = timed(&server, async {
                // async-imap quotes the reference but not the pattern.
                session
                    .list(Some(""), Some("\"\""))
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?
            .map_err(step("LIST"))?;
            names.first().and_then(|n| n.delimiter().map(str::to_owned))
        };
        let mut connection = ImapConnection {
            session,
            server: server.clone(),
            delimiter,
            can_move,
            mailbox: String::new(),
            read_only,
        };
        connection.mailbox = connection.server_name(&url.mailbox);
        let mailbox = connection.mailbox.clone();
        let selected = if read_only {
            timed(&server, connection.session.examine(&mailbox)).await?
        } else {
            timed(&server, connection.session.select(&mailbox)).await?
        }
        .map_err(|e| ImapError::Command {
            server: server.clone(),
            what: format!("cannot open the mailbox {}", url.mailbox),
            detail: detail(&e),
        })?;
        let state = MailboxState {
            uid_validity: selected.uid_validity.ok_or_else(|| ImapError::Command {
                server: server.clone(),
                what: format!("the mailbox {}", url.mailbox),
                detail: "the server sent no UIDVALIDITY".into(),
            })?,
            exists: selected.exists,
            keeps_keywords: selected
                .permanent_flags
                .iter()
                .any(|f| matches!(f, Flag::MayCreate)),
        };
        connection.drain();
        Ok((connection, state))
    }

    /// The name as the server spells it: `/` between levels becomes its delimiter.
    fn server_name(&self, name: &str) -> String {
        match self.delimiter.as_deref() {
            Some(d) if d != "/" => name.replace('/', d),
            _ => name.to_owned(),
        }
    }

    fn error(&self, what: &str) -> impl Fn(async_imap::error::Error) -> ImapError + use<> {
        let server = self.server.clone();
        let what = what.to_owned();
        move |e| ImapError::Command {
            server: server.clone(),
            what: what.clone(),
            detail: detail(&e),
        }
    }

    /// Untagged responses (EXISTS, EXPUNGE) the client queues: not needed, dropped so the
    /// queue never holds stale ones.
    fn drain(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }

    /// The UIDs and sizes of the messages whose UID is greater than `after`, in UID order.
    /// Only numbers are held (8 bytes a message), never contents.
    pub async fn new_messages(&mut self, after: u32) -> Result<Vec<NewMessage>, ImapError> {
        let from = after.saturating_add(1);
        let error = self.error("listing the new messages");
        let fetches: Vec<Fetch> = timed(&self.server, async {
            self.session
                .uid_fetch(format!("{from}:*"), "(UID RFC822.SIZE)")
                .await?
                .try_collect()
                .await
        })
        .await?
        .map_err(error)?;
        // `n:*` also names the highest message when n is above it (RFC 3501 6.4.8).
        let mut found: Vec<NewMessage> = fetches
            .iter()
            .filter_map(|f| {
                Some(NewMessage {
                    uid: f.uid?,
                    size: f.size.unwrap_or(0),
                })
            })
            .filter(|m| m.uid >= from)
            .collect();
        found.sort_by_key(|m| m.uid);
        found.dedup_by_key(|m| m.uid);
        self.drain();
        Ok(found)
    }

    /// The messages with these UIDs, as stored (`BODY.PEEK[]`: `\Seen` is not set), in the
    /// order asked. A UID that is gone meanwhile (moved by a person) is left out.
    pub async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let error = self.error("fetching messages");
        let fetches: Vec<Fetch> = timed(&self.server, async {
            self.session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await?
                .try_collect()
                .await
        })
        .await?
        .map_err(error)?;
        let mut by_uid: std::collections::HashMap<u32, Vec<u8>> = fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
            .collect();
        drop(fetches);
        self.drain();
        Ok(uids
            .iter()
            .filter_map(|uid| by_uid.remove(uid).map(|b| (*uid, b)))
            .collect())
    }

    /// Creates the folder (`datenwart/verarbeitet`) unless it exists, and subscribes to it so
    /// mail programs show it.
    pub async fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        let name = self.server_name(folder);
        let error = self.error(&format!("looking for the folder {folder}"));
        let existing = timed(&self.server, async {
            self.session
                .list(Some(""), Some(&format!("\"{name}\"")))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .map_err(error)?;
        if existing.is_empty() {
            let error = self.error(&format!("creating the folder {folder}"));
            timed(&self.server, self.session.create(&name))
                .await?
                .map_err(error)?;
            // Not subscribing only hides the folder in some mail programs.
            let _ = timed(&self.server, self.session.subscribe(&name)).await;
            tracing::info!("created the IMAP folder {folder}");
        }
        self.drain();
        Ok(())
    }

    /// Whether the server can MOVE (RFC 6851).
    pub fn can_move(&self) -> bool {
        self.can_move
    }

    /// Files the messages away into `folder`: MOVE where the server has it; otherwise only a
    /// COPY, and the originals keep their place (the caller flags them) — nothing is
    /// deleted, not even by the `\Deleted` + EXPUNGE a MOVE stands for.
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.writable()?;
        let name = self.server_name(folder);
        let set = uid_set(uids);
        if self.can_move {
            let error = self.error(&format!("moving messages to {folder}"));
            timed(&self.server, self.session.uid_mv(&set, &name))
                .await?
                .map_err(error)?;
        } else {
            let error = self.error(&format!("copying messages to {folder}"));
            timed(&self.server, self.session.uid_copy(&set, &name))
                .await?
                .map_err(error)?;
        }
        self.drain();
        Ok(())
    }

    /// Sets `keyword` on the messages (`+FLAGS.SILENT`); nothing else changes.
    pub async fn flag(&mut self, uids: &[u32], keyword: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.writable()?;
        let set = uid_set(uids);
        let error = self.error(&format!("setting the keyword {keyword}"));
        timed(&self.server, async {
            self.session
                .uid_store(&set, format!("+FLAGS.SILENT ({keyword})"))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .map_err(error)?;
        self.drain();
        Ok(())
    }

    fn writable(&self) -> Result<(), ImapError> {
        if self.read_only {
            return Err(ImapError::Command {
                server: self.server.clone(),
                what: "changing the mailbox".into(),
                detail: "it was opened read-only (dry run)".into(),
            });
        }
        Ok(())
    }

    /// Says goodbye; a server that went away meanwhile is no error any more.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
    }
}

/// Checks that a keyword is an IMAP atom and no system flag (`\Deleted` could delete).
pub fn check_keyword(keyword: &str) -> Result<(), String> {
    let ok = !keyword.is_empty()
        && keyword.len() <= 64
        && keyword.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the keyword {keyword:?} is not an IMAP keyword: ASCII letters, digits, $ - _ . only, no \\ (system flags are not allowed)"
        ))
    }
}

/// `1:3,7,9:10` for 1,2,3,7,9,10 (sorted or not).
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

async fn timed<F: std::future::Future>(server: &str, f: F) -> Result<F::Output, ImapError> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .map_err(|_| ImapError::Timeout {
            server: server.to_owned(),
        })
}

/// Reads the greeting; a server that greets with BYE (too many connections) is an error.
async fn greeting<T>(client: &mut Client<T>, server: &str) -> Result<(), ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let greeting = timed(server, client.read_response())
        .await?
        .map_err(|source| ImapError::Connect {
            server: server.to_owned(),
            source,
        })?
        .ok_or_else(|| ImapError::Connect {
            server: server.to_owned(),
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ),
        })?;
    if let async_imap::imap_proto::Response::Data {
        status: async_imap::imap_proto::Status::Bye,
        outcome,
        ..
    } = greeting.parsed()
    {
        return Err(ImapError::Command {
            server: server.to_owned(),
            what: "greeting".into(),
            detail: server_text(outcome.information.as_deref().unwrap_or("BYE")),
        });
    }
    Ok(())
}

/// Checks a CA file before anything connects (a usage error, not a server's).
pub fn check_ca(pem: &[u8]) -> Result<(), ImapError> {
    tls_connector(Some(pem)).map(|_| ())
}

/// The rustls connector: the public roots, plus the office's CA if one is given. ring as
/// the crypto provider, the one lettre and sqlx use.
fn tls_connector(ca_pem: Option<&[u8]>) -> Result<TlsConnector, ImapError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| ImapError::CaFile(format!("not a PEM certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ImapError::CaFile(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ImapError::CaFile(
                "it holds no certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ImapError::CaFile(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// What rustls said, in a few words.
fn tls_reason(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(inner @ rustls::Error::InvalidCertificate(_)) => {
            format!("the server's certificate is not trusted ({inner})")
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// What the server answered, for a message: the text of a NO or BAD (async-imap wraps it
/// as `code: …, info: Some("…")`), else the error itself.
fn detail(e: &async_imap::error::Error) -> String {
    let text = e.to_string();
    let info = text
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(info, _)| info.replace("\\\"", "\""));
    server_text(&info.unwrap_or(text))
}

/// A server's text for a message: printable, short.
fn server_text(s: &str) -> String {
    let s = crate::domain::text::printable(s);
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_urls_give_tls_starttls_or_plain_only_when_asked() {
        let u = ImapUrl::parse("imaps://buergerbuero@mail.example.de/INBOX").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.user.as_str(),
                u.mailbox.as_str(),
                u.tls
            ),
            (
                "mail.example.de",
                993,
                "buergerbuero",
                "INBOX",
                ImapTls::Implicit
            )
        );
        let u = ImapUrl::parse("imap://dw@mail.example.de").unwrap();
        assert_eq!(
            (u.port, u.tls, u.mailbox.as_str()),
            (143, ImapTls::StartTls, "INBOX")
        );
        let u = ImapUrl::parse("imap://a%40b@127.0.0.1:1143/INBOX/Datenschutz?tls=none").unwrap();
        assert_eq!(
            (
                u.user.as_str(),
                u.port,
                u.tls,
                u.mailbox.as_str(),
                u.host.as_str()
            ),
            ("a@b", 1143, ImapTls::None, "INBOX/Datenschutz", "127.0.0.1")
        );
        let u = ImapUrl::parse("imaps://dw@[::1]:9993/INBOX").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9993));
        assert_eq!(u.to_string(), "imaps://dw@[::1]:9993/INBOX");
        assert_eq!(u.account(), "dw@::1:9993");
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        let e = ImapUrl::parse("imaps://dw:geheim@mail.example.de/INBOX").unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("geheim"), "{text}");
        assert!(text.contains("DATENWART_IMAP_PASSWORD"), "{text}");
    }

    #[test]
    fn bad_schemes_parameters_users_and_names_are_refused() {
        for url in [
            "https://dw@mail.example.de/INBOX",
            "mail.example.de",
            "imaps://mail.example.de/INBOX",
            "imaps://dw@mail.example.de:abc/INBOX",
            "imap://dw@mail.example.de/INBOX?tls=maybe",
            "imaps://dw@mail.example.de/INBOX?tls=none",
            "imaps://dw@mail.example.de/INBOX;UIDVALIDITY=5",
            "imaps://dw@mail.example.de/Entw%C3%BCrfe",
            "imaps://dw@mail.example.de/a//b",
            "imaps://dw@/INBOX",
        ] {
            assert!(ImapUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn an_account_prints_without_its_password() {
        let account = ImapAccount {
            url: ImapUrl::parse("imaps://dw@mail.example.de/INBOX").unwrap(),
            password: Password::new("geheim".into()),
            ca_pem: None,
        };
        let text = format!("{account:?}");
        assert!(!text.contains("geheim"), "{text}");
        assert!(text.contains("***"), "{text}");
    }

    #[test]
    fn uid_sets_join_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[10, 9, 9, 1]), "1,9:10");
        assert_eq!(uid_set(&[5]), "5");
    }

    #[test]
    fn keywords_are_atoms_and_never_system_flags() {
        assert!(check_keyword("datenwart-verarbeitet").is_ok());
        assert!(check_keyword("$Datenwart").is_ok());
        for bad in ["\\Deleted", "", "zwei worte", "a(b", "ä"] {
            assert!(check_keyword(bad).is_err(), "{bad}");
        }
    }
}
