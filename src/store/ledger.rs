//! The erasure ledger: an append-only file of JSON lines beside the database, one line per
//! tenant an erasure reached. A backup of the database does not hold it, so restoring a
//! backup from before an erasure cannot take the erasure back: `erase --replay` reads this
//! file and erases again what the restored database still holds.
//!
//! A line holds the person's keyed pseudonym (never the e-mail), the tenant, the request
//! answered, the instant (whole seconds) and the highest row ids at that instant, so that a
//! replay erases what existed then and nothing the person gave afterwards, also within the
//! same second. The line is written and synced before the erasure commits: a crash between
//! the two leaves a line whose replay erases what the crash kept, which is what the person
//! asked for. Appenders take an exclusive lock on the file; a symbolic link is refused.

use super::{Result, StoreError};
use crate::domain::subject::SubjectRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The highest row id of each table an erasure reaches by time, at the erasure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowMarks {
    pub bookings: i64,
    pub consents: i64,
    pub inbox: i64,
    pub replies: i64,
}

/// One erasure at one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    #[serde(deserialize_with = "subject_ref")]
    pub subject_ref: SubjectRef,
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    pub erased_at: DateTime<Utc>,
    /// Rows of the erasure's second with a higher id came after it.
    pub upto: RowMarks,
}

/// A pseudonym as the ledger holds it: 64 hexadecimal digits, nothing else.
fn subject_ref<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SubjectRef, D::Error> {
    let text = String::deserialize(d)?;
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(serde::de::Error::custom(
            "subject_ref: not a pseudonym (64 hexadecimal digits)",
        ));
    }
    Ok(SubjectRef::from_stored(text))
}

/// The ledger file at a path.
#[derive(Clone, Debug)]
pub struct LedgerFile {
    path: PathBuf,
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return StoreError::Invalid(format!(
            "erasure ledger {}: is a symbolic link; name the file itself with --ledger",
            path.display()
        ));
    }
    StoreError::Ledger(format!("{what} {}: {e}", path.display()))
}

impl LedgerFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self, write: bool) -> std::io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true);
        if write {
            options.write(true).create(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        options.open(&self.path)
    }

    /// Appends the entries as one write, synced before it returns. A line a crashed writer
    /// left half-written is cut off first (it belonged to an erasure that never committed).
    pub fn append(&self, entries: &[LedgerEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let path = &self.path;
        let existed = std::fs::symlink_metadata(path).is_ok();
        let mut file = self
            .open(true)
            .map_err(|e| io_error(path, "cannot open the erasure ledger", e))?;
        file.lock()
            .map_err(|e| io_error(path, "cannot lock the erasure ledger", e))?;
        let written = (|| -> std::io::Result<()> {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            let len = file.seek(SeekFrom::End(0))?;
            if len > 0 {
                let mut last = [0u8; 1];
                file.seek(SeekFrom::Start(len - 1))?;
                file.read_exact(&mut last)?;
                if last[0] != b'\n' {
                    let mut all = Vec::new();
                    file.seek(SeekFrom::Start(0))?;
                    file.read_to_end(&mut all)?;
                    let keep = all.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                    file.set_len(keep as u64)?;
                }
                file.seek(SeekFrom::End(0))?;
            }
            let mut bytes = Vec::new();
            for entry in entries {
                serde_json::to_writer(&mut bytes, entry)?;
                bytes.push(b'\n');
            }
            file.write_all(&bytes)?;
            file.sync_all()?;
            if !existed && let Some(dir) = path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        written.map_err(|e| io_error(path, "cannot write the erasure ledger", e))
    }

    /// Every entry, oldest first; no file is no erasure yet. A last line without its end
    /// (a writer crashed before its erasure committed) is left out.
    pub fn read(&self) -> Result<Vec<LedgerEntry>> {
        let path = &self.path;
        let file = match self.open(false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(path, "cannot open the erasure ledger", e)),
        };
        file.lock_shared()
            .map_err(|e| io_error(path, "cannot lock the erasure ledger", e))?;
        self.read_locked(file)
    }

    /// Rewrites the ledger with only the entries `keep` accepts (a retention rule for the
    /// ledger's pseudonyms); the new file replaces the old one atomically, under the lock.
    pub fn retain(&self, keep: impl Fn(&LedgerEntry) -> bool) -> Result<usize> {
        let path = &self.path;
        let file = match self.open(false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_error(path, "cannot open the erasure ledger", e)),
        };
        file.lock()
            .map_err(|e| io_error(path, "cannot lock the erasure ledger", e))?;
        let entries = self.read_locked(file)?;
        let before = entries.len();
        let kept: Vec<&LedgerEntry> = entries.iter().filter(|e| keep(e)).collect();
        if kept.len() == before {
            return Ok(0);
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| -> std::io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
            }
            let mut out = options.open(&temp)?;
            let mut bytes = Vec::new();
            for entry in &kept {
                serde_json::to_writer(&mut bytes, entry)?;
                bytes.push(b'\n');
            }
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&temp, path)?;
            File::open(dir)?.sync_all()?;
            Ok(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(|e| io_error(path, "cannot rewrite the erasure ledger", e))?;
        Ok(before - kept.len())
    }

    fn read_locked(&self, mut file: File) -> Result<Vec<LedgerEntry>> {
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| io_error(&self.path, "cannot read the erasure ledger", e))?;
        let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| {
                    StoreError::Invalid(format!(
                        "erasure ledger {}, line {}: {e}",
                        self.path.display(),
                        n + 1
                    ))
                })
            })
            .collect()
    }
}

/// The ledger a database gets without `--ledger`: `<file>.ledger` beside a SQLite file;
/// none for PostgreSQL (its server's disk is not this machine's: the path is given).
pub fn default_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" {
        return None;
    }
    let mut name = Path::new(file).file_name()?.to_os_string();
    name.push(".ledger");
    Some(Path::new(file).with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> LedgerEntry {
        LedgerEntry {
            subject_ref: SubjectRef::from_stored(format!("{n:064x}")),
            tenant: Some("westendorf".into()),
            request_id: Some(n),
            erased_at: DateTime::from_timestamp(1_800_000_000 + n, 0).unwrap(),
            upto: RowMarks {
                bookings: n,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_default_ledger_lies_beside_a_sqlite_file_and_postgres_has_none() {
        assert_eq!(
            default_path("sqlite:///var/lib/dw/datenwart.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/dw/datenwart.db.ledger"))
        );
        assert_eq!(
            default_path("sqlite://datenwart.db"),
            Some(PathBuf::from("datenwart.db.ledger"))
        );
        assert_eq!(default_path("sqlite::memory:"), None);
        assert_eq!(default_path("postgres://u@h/db"), None);
    }

    #[test]
    fn entries_are_appended_read_back_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerFile::new(dir.path().join("x.ledger"));
        assert!(ledger.read().unwrap().is_empty());
        ledger.append(&[entry(1)]).unwrap();
        // A writer that crashed mid-line.
        let mut f = OpenOptions::new().append(true).open(ledger.path()).unwrap();
        f.write_all(b"{\"subject_ref\":\"ab").unwrap();
        assert_eq!(ledger.read().unwrap(), vec![entry(1)]);
        ledger.append(&[entry(2), entry(3)]).unwrap();
        assert_eq!(ledger.read().unwrap(), vec![entry(1), entry(2), entry(3)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ledger.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(ledger.retain(|e| e.request_id != Some(2)).unwrap(), 1);
        assert_eq!(ledger.read().unwrap(), vec![entry(1), entry(3)]);
    }

    #[test]
    fn appenders_at_the_same_time_each_write_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ledger");
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let ledger = LedgerFile::new(path.clone());
                std::thread::spawn(move || {
                    for i in 0..25 {
                        ledger.append(&[entry(t * 100 + i)]).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let mut read = LedgerFile::new(path).read().unwrap();
        read.sort_by_key(|e| e.request_id);
        let mut expected: Vec<LedgerEntry> = (0..8)
            .flat_map(|t| (0..25).map(move |i| entry(t * 100 + i)))
            .collect();
        expected.sort_by_key(|e| e.request_id);
        assert_eq!(read, expected);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        let link = dir.path().join("x.ledger");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = LedgerFile::new(link).append(&[entry(1)]).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!target.exists());
    }
}
