//! A real SMTP server for the delivery tests: aiosmtpd (Debian's `python3-aiosmtpd`) as a
//! child process on a free port, with the handler in tests/fixtures/smtp that stores what it
//! accepts in a Maildir and refuses "reject…" (550) and "later…" (451) recipients. Plain
//! ([`SmtpServer::start`]), or as an office's submission server ([`SmtpServer::start_tls`]):
//! STARTTLS or implicit TLS with a certificate from a CA made for the test (rcgen), and
//! AUTH required. Without aiosmtpd the test fails under `CI` and is skipped elsewhere,
//! saying why.

use super::{cannot_run, fixture};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REMEDY: &str = "apt-get install -y python3-aiosmtpd";

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    /// With TLS: how, the user to log in as, and the PEM file of the CA that signed the
    /// server's certificate.
    pub tls: Option<TlsSetup>,
    _dir: tempfile::TempDir,
}

/// How a TLS test server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsKind {
    /// `smtp://`: plain, then STARTTLS (required before anything else).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

#[derive(Clone, Debug)]
pub struct TlsSetup {
    pub kind: TlsKind,
    pub user: String,
    pub ca_file: PathBuf,
}

/// A certificate authority made for one test, and a server certificate for 127.0.0.1
/// and localhost signed by it, as PEM files in `dir`: (ca, cert, key).
pub fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "datenwart test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut server =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = server.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

/// One received message, raw.
pub struct Received {
    pub raw: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parsable message")
    }

    /// A header's raw value (unfolded, as sent), e.g. `Subject`.
    pub fn raw_header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or("")
            .replace("\r\n ", " ");
        let head = head.replace("\n ", " ");
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A Python 3 that has aiosmtpd: Debian's, which the package installs into, or the one on
/// the PATH.
fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    /// Starts the server, or says why it cannot (`None`: skipped here).
    pub fn start() -> Option<SmtpServer> {
        let Some(python) = python() else {
            cannot_run("aiosmtpd is not installed", REMEDY);
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(python)
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-c", "datenwart_test_smtp.Handler"])
                .arg(&maildir)
                .env("PYTHONPATH", fixture("smtp"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start python");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(SmtpServer {
                        child,
                        port,
                        maildir,
                        tls: None,
                        _dir: dir,
                    });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile, most likely: another one
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        cannot_run("the aiosmtpd test server did not start", REMEDY);
        None
    }

    /// Starts a server that requires TLS (`kind`) and AUTH as `user` with `password`, with a
    /// certificate of a CA made for the test; or says why it cannot (`None`: skipped here).
    pub fn start_tls(kind: TlsKind, user: &str, password: &str) -> Option<SmtpServer> {
        let Some(python) = python() else {
            cannot_run("aiosmtpd is not installed", REMEDY);
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let (ca_file, cert, key) = test_certificates(dir.path());
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(python)
                .args(["-m", "datenwart_test_smtp", "--port"])
                .arg(port.to_string())
                .arg("--tls")
                .arg(match kind {
                    TlsKind::StartTls => "starttls",
                    TlsKind::Implicit => "implicit",
                })
                .arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(&key)
                .args(["--user", user])
                .arg(&maildir)
                .env("PYTHONPATH", fixture("smtp"))
                .env("DATENWART_TEST_SMTP_PASSWORD", password)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start python");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(SmtpServer {
                        child,
                        port,
                        maildir,
                        tls: Some(TlsSetup {
                            kind,
                            user: user.to_owned(),
                            ca_file,
                        }),
                        _dir: dir,
                    });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        cannot_run("the aiosmtpd TLS test server did not start", REMEDY);
        None
    }

    /// The URL `send` is given.
    pub fn url(&self) -> String {
        match &self.tls {
            None => format!("smtp://127.0.0.1:{}?tls=none", self.port),
            Some(t) if t.kind == TlsKind::StartTls => {
                format!("smtp://{}@127.0.0.1:{}", t.user, self.port)
            }
            Some(t) => format!("smtps://{}@127.0.0.1:{}", t.user, self.port),
        }
    }

    /// The TLS server's log of AUTH attempts: "ok USER" or "refused USER" per line.
    pub fn auth_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("auth.log")).unwrap_or_default()
    }

    /// How many times a client greeted the server (EHLO): once per plain connection.
    pub fn greetings(&self) -> usize {
        std::fs::read_to_string(self._dir.path().join("greetings.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// What arrived so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let modified = e.metadata().and_then(|m| m.modified()).unwrap();
                files.push((modified, e.path()));
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| Received {
                raw: std::fs::read(&p).unwrap(),
            })
            .collect()
    }

    /// What arrived for `address`.
    pub fn received_by(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| {
                m.raw_header("X-RcptTo")
                    .is_some_and(|to| to.eq_ignore_ascii_case(address))
            })
            .collect()
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
