//! A real SMTP server for the delivery tests: aiosmtpd (Debian's `python3-aiosmtpd`) as a
//! child process on a free port, with the handler in tests/fixtures/smtp that stores what it
//! accepts in a Maildir and refuses "reject…" (550) and "later…" (451) recipients.
//! Without aiosmtpd the test fails under `CI` and is skipped elsewhere, saying why.

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
    _dir: tempfile::TempDir,
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

    /// The URL `send` is given.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
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
