//! A real IMAP server for the mailbox intake tests: a private Dovecot (Debian's
//! `dovecot-imapd`) per test, started as the current user from a config in a temporary
//! folder — listening on 127.0.0.1 on free ports (STARTTLS and implicit TLS), one user from
//! a passwd-file, a Maildir in the folder, a certificate signed by a CA made in the test
//! (rcgen), its log in the folder. Nothing of the system's configuration is read or changed.
//! Without Dovecot the test fails under `CI` and is skipped elsewhere, saying why.

use super::cannot_run;
use super::smtp::free_port;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REMEDY: &str = "apt-get install -y dovecot-imapd";

/// The mailbox's login.
pub const USER: &str = "buergerbuero";
pub const PASSWORD: &str = "Imap-Test-Passwort";

pub struct ImapServer {
    child: Child,
    /// STARTTLS (and plain, with `?tls=none`).
    pub port: u16,
    /// Implicit TLS.
    pub tls_port: u16,
    /// The CA that signed the server's certificate (for `--imap-ca-file`).
    pub ca_file: PathBuf,
    /// The password file for `--imap-password-file`.
    pub password_file: PathBuf,
    home: PathBuf,
    owner: Option<(u32, u32)>,
    dir: tempfile::TempDir,
    delivered: std::cell::Cell<u32>,
}

fn dovecot() -> Option<PathBuf> {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn current_ids() -> (u32, u32) {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    unsafe { (libc::getuid(), libc::getgid()) }
}

fn name_of_user(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// A CA and a certificate for localhost/127.0.0.1 signed by it, as PEM (ca, cert, key).
pub fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "datenwart test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

impl ImapServer {
    /// Starts the server, or says why it cannot (`None`: skipped here).
    pub fn start() -> Option<ImapServer> {
        let Some(dovecot) = dovecot() else {
            cannot_run("Dovecot is not installed", REMEDY);
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        // Dovecot's login processes run as another user where we are root: they must be
        // able to reach the sockets in base_dir.
        set_mode(&root, 0o755);
        let (ca, cert, key) = certificates();
        let ca_file = root.join("ca.pem");
        std::fs::write(&ca_file, ca).unwrap();
        std::fs::write(root.join("cert.pem"), cert).unwrap();
        std::fs::write(root.join("key.pem"), key).unwrap();
        let password_file = root.join("password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let home = root.join("home");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
        }
        let (uid, gid) = current_ids();
        // Dovecot never accesses mail as root; as root (CI) the mail belongs to nobody.
        let owner = (uid == 0).then_some((65534, 65534));
        let (mail_uid, mail_gid) = owner.unwrap_or((uid, gid));
        std::fs::write(
            root.join("users"),
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{mail_uid}:{mail_gid}::{}\n",
                home.display()
            ),
        )
        .unwrap();
        let own_users = if uid == 0 {
            String::new()
        } else {
            let me = name_of_user(uid);
            format!(
                "default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {gid}\n"
            )
        };
        for _ in 0..3 {
            let (port, tls_port) = (free_port(), free_port());
            if port == tls_port {
                continue;
            }
            let config = root.join("dovecot.conf");
            std::fs::write(
                &config,
                format!(
                    "base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
{own_users}passdb {{
  driver = passwd-file
  args = {root}/users
}}
userdb {{
  driver = passwd-file
  args = {root}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
",
                    root = root.display()
                ),
            )
            .unwrap();
            if let Some((u, g)) = owner {
                chown_all(&home, u, g);
            }
            let mut child = Command::new(&dovecot)
                .arg("-F")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start dovecot");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
                {
                    return Some(ImapServer {
                        child,
                        port,
                        tls_port,
                        ca_file,
                        password_file,
                        home,
                        owner,
                        dir,
                        delivered: std::cell::Cell::new(0),
                    });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // a port was taken meanwhile, most likely: other ones
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default();
        cannot_run(
            &format!("the Dovecot test server did not start:\n{log}"),
            REMEDY,
        );
        None
    }

    /// `imaps://USER@127.0.0.1:PORT/INBOX`: implicit TLS (trust it with `--imap-ca-file`).
    pub fn url(&self) -> String {
        format!("imaps://{USER}@127.0.0.1:{}/INBOX", self.tls_port)
    }

    /// `imap://USER@127.0.0.1:PORT/INBOX`: STARTTLS.
    pub fn starttls_url(&self) -> String {
        format!("imap://{USER}@127.0.0.1:{}/INBOX", self.port)
    }

    /// Plain text, for the benchmark-like tests that do not test TLS.
    pub fn plain_url(&self) -> String {
        format!("imap://{USER}@127.0.0.1:{}/INBOX?tls=none", self.port)
    }

    fn maildir(&self) -> PathBuf {
        self.home.join("Maildir")
    }

    /// Puts a message into the inbox as the mail server's delivery does (a file in new/).
    pub fn deliver(&self, raw: &[u8]) {
        let n = self.delivered.get() + 1;
        self.delivered.set(n);
        let name = format!("{}.M{n}P1.datenwart-test", 1_700_000_000 + n);
        let tmp = self.maildir().join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        if let Some((u, g)) = self.owner {
            std::os::unix::fs::chown(&tmp, Some(u), Some(g)).unwrap();
        }
        std::fs::rename(&tmp, self.maildir().join("new").join(&name)).unwrap();
    }

    /// The messages of a folder (`INBOX`, or `datenwart/verarbeitet`), as their bytes,
    /// each with its Maildir flag letters (after `:2,`).
    pub fn messages(&self, folder: &str) -> Vec<(Vec<u8>, String)> {
        let dir = if folder == "INBOX" {
            self.maildir()
        } else {
            self.maildir()
                .join(format!(".{}", folder.replace('/', ".")))
        };
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for p in files {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let flags = name
                    .split_once(":2,")
                    .map(|(_, f)| f.to_owned())
                    .unwrap_or_default();
                out.push((std::fs::read(&p).unwrap(), flags));
            }
        }
        out
    }

    /// The Maildir flag letter Dovecot gave an IMAP keyword in the inbox, if any.
    pub fn keyword_letter(&self, keyword: &str) -> Option<char> {
        let text = std::fs::read_to_string(self.maildir().join("dovecot-keywords")).ok()?;
        text.lines().find_map(|l| {
            let (n, k) = l.split_once(' ')?;
            let n: u8 = n.parse().ok()?;
            (k == keyword).then_some((b'a' + n) as char)
        })
    }

    /// The inbox's messages with an IMAP keyword set.
    pub fn flagged(&self, keyword: &str) -> usize {
        let Some(letter) = self.keyword_letter(keyword) else {
            return 0;
        };
        self.messages("INBOX")
            .iter()
            .filter(|(_, flags)| flags.contains(letter))
            .count()
    }

    /// Gives the inbox another UIDVALIDITY, as a restore or a move to another server does:
    /// Dovecot's UID list and indexes are replaced, so the messages get new UIDs from 1.
    pub fn renumber(&self, uid_validity: u32) {
        let root = self.maildir();
        for entry in std::fs::read_dir(&root).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("dovecot.index") || name == "dovecot-uidlist" {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        let list = root.join("dovecot-uidlist");
        std::fs::write(&list, format!("3 V{uid_validity} N1\n")).unwrap();
        if let Some((u, g)) = self.owner {
            std::os::unix::fs::chown(&list, Some(u), Some(g)).unwrap();
        }
    }

    /// What Dovecot logged (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_all(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            chown_all(&e.path(), uid, gid);
        }
    }
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        // SIGTERM: the master stops its login, auth and imap processes with it.
        // SAFETY: a signal to our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
