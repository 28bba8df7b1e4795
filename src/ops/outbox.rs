//! The outbox's replies go out by SMTP: `send` delivers each `.eml` that `withdrawals import`
//! (and the citizen pages) wrote into the outbox folder, once each, and removes it.
//!
//! The outbox is a folder, not a table, so its claim is a lock on the file: a worker opens a
//! reply, takes an exclusive `flock` without waiting, checks that the name still leads to
//! the file it locked, sends it, and only then removes it. A second worker finds the file
//! locked or gone; a worker killed after the server took the message and before the removal
//! leaves it for the next run, which sends it again with the same `Message-ID` (the file
//! carries it), so it goes out at most twice and the receiving side can drop the copy.
//! A reply the server refuses for good moves to `fehlgeschlagen/` beside it, for the office.

use super::Context;
use crate::domain::audit::AuditEvent;
use crate::domain::delivery::ErrorClass;
use crate::mail::smtp::Mailer;
use anyhow::{Context as _, Result};
use lettre::address::{Address, Envelope};
use serde::Serialize;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where replies the server refused for good are moved, inside the outbox.
pub const FAILED_FOLDER: &str = "fehlgeschlagen";

/// The largest reply taken from the outbox; a bigger file is not one datenwart wrote.
const MAX_REPLY_BYTES: u64 = 10 * 1024 * 1024;

/// What one pass over the outbox did: counts and file names (a name is a time stamp and a
/// hash, never an address).
#[derive(Clone, Debug, Default, Serialize)]
pub struct OutboxReport {
    pub sent: u64,
    /// Refused for now (4xx); the file stays and the next run tries again.
    pub retry_later: u64,
    /// Refused for good, or not a reply datenwart can send; moved to `fehlgeschlagen/`.
    pub failed: u64,
    pub failed_files: Vec<String>,
    /// Being sent by another worker at the same time.
    pub taken_by_another: u64,
    /// Why the pass stopped early (the server went away).
    pub stopped: Option<String>,
}

/// Delivers the replies in `dir` (nothing when it does not exist), at most `max`.
pub async fn deliver(
    ctx: &Context,
    mailer: &Mailer,
    dir: &Path,
    max: Option<u64>,
) -> Result<OutboxReport> {
    let mut report = OutboxReport::default();
    let files = match replies_in(dir) {
        Ok(files) => files,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the outbox {}", dir.display()));
        }
    };
    if files.is_empty() {
        return Ok(report);
    }
    mailer.check().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot deliver the outbox through {}: {}; nothing was sent",
            mailer.url(),
            e.detail
        )
    })?;
    let max = max.unwrap_or(u64::MAX);
    for path in files {
        if report.sent + report.retry_later + report.failed >= max {
            break;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((_lock, bytes)) =
            claim(&path).with_context(|| format!("cannot read the reply {}", path.display()))?
        else {
            report.taken_by_another += 1;
            continue;
        };
        let outcome = match envelope_of(ctx, &bytes) {
            Ok(envelope) => mailer.send(&envelope, &bytes).await.map_err(|e| {
                tracing::warn!(file = %name, "reply not sent: {}", e.detail);
                e.class
            }),
            Err(why) => {
                tracing::warn!(file = %name, "reply not sent: {why}");
                Err(ErrorClass::Address)
            }
        };
        match outcome {
            Ok(_) => {
                // Removed while still locked: no other worker can have sent it meanwhile.
                std::fs::remove_file(&path).with_context(|| {
                    format!(
                        "the reply {} was sent but cannot be removed; the next run sends it again",
                        path.display()
                    )
                })?;
                sync_folder(dir);
                tracing::info!(file = %name, "reply sent");
                report.sent += 1;
            }
            Err(class) if class.is_final() => {
                set_aside(dir, &path, &name)?;
                report.failed += 1;
                report.failed_files.push(name);
            }
            Err(ErrorClass::Connection) => {
                report.stopped =
                    Some("the SMTP connection failed; the rest waits for the next run".into());
                break;
            }
            Err(_) => report.retry_later += 1,
        }
    }
    if report.sent + report.retry_later + report.failed > 0 || report.stopped.is_some() {
        let details = serde_json::json!({
            "smtp": mailer.url().to_string(),
            "sent": report.sent,
            "retry_later": report.retry_later,
            "failed": report.failed,
            "failed_files": report.failed_files,
        });
        ctx.store
            .record_audit(AuditEvent::new("outbox.send", details), &ctx.audit())
            .await?;
    }
    Ok(report)
}

/// The replies in the outbox, oldest name first: `*.eml` files, not the hidden temporary
/// files a writer is still filling, nor anything in the sub-folders.
fn replies_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".eml") || !entry.file_type()?.is_file() {
            continue;
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}

/// Opens and locks a reply for this worker: `None` when another worker holds it or has
/// already sent and removed it.
fn claim(path: &Path) -> std::io::Result<Option<(File, Vec<u8>)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !lock_without_waiting(&file)? {
        return Ok(None);
    }
    // The name may have been removed (sent) between our open and our lock: then the file we
    // hold is not in the outbox any more.
    if !still_named(path, &file)? {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_REPLY_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REPLY_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MB: not a reply datenwart wrote",
            MAX_REPLY_BYTES / 1024 / 1024
        )));
    }
    Ok(Some((file, bytes)))
}

#[cfg(unix)]
fn lock_without_waiting(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function's caller owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn lock_without_waiting(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(unix)]
fn still_named(path: &Path, file: &File) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match std::fs::symlink_metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn still_named(path: &Path, _file: &File) -> std::io::Result<bool> {
    Ok(path.exists())
}

/// The envelope of a reply: from the tenant's sender address (the policy's `tenant.email`)
/// of the tenant whose withdrawal address the reply's `From` is, to its `To` and `Cc`. A
/// file whose `From` is no tenant's address is not sent: the outbox is not an open relay.
fn envelope_of(ctx: &Context, bytes: &[u8]) -> Result<Envelope, String> {
    let message = mail_parser::MessageParser::default()
        .parse_headers(bytes)
        .ok_or("not an e-mail message")?;
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .ok_or("no From address")?
        .to_ascii_lowercase();
    let tenant = ctx
        .policies
        .iter()
        .find(|p| {
            p.tenant
                .withdrawal_addresses
                .iter()
                .chain(std::iter::once(&p.tenant.email))
                .any(|a| a.trim().eq_ignore_ascii_case(&from))
        })
        .ok_or("its From address is not an address of any tenant")?;
    let sender: Address = tenant
        .tenant
        .email
        .trim()
        .parse()
        .map_err(|_| "the tenant's e-mail in the policy is not a usable sender address")?;
    let mut to = Vec::new();
    for list in [message.to(), message.cc()].into_iter().flatten() {
        for addr in list.iter() {
            let a = addr.address().ok_or("a recipient without an address")?;
            to.push(
                a.trim()
                    .parse::<Address>()
                    .map_err(|_| "a recipient is not a usable address")?,
            );
        }
    }
    if to.is_empty() {
        return Err("no recipient".into());
    }
    Envelope::new(Some(sender), to).map_err(|e| e.to_string())
}

/// Moves a reply the server refused for good out of the way, for the office to look at.
fn set_aside(dir: &Path, path: &Path, name: &str) -> Result<()> {
    let failed = dir.join(FAILED_FOLDER);
    super::private_files::create_folder(&failed)?;
    std::fs::rename(path, failed.join(name)).with_context(|| {
        format!(
            "cannot move the refused reply {} to {}",
            path.display(),
            failed.display()
        )
    })?;
    sync_folder(dir);
    Ok(())
}

/// Makes a removal or rename durable; a failure only means it may be repeated.
fn sync_folder(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
