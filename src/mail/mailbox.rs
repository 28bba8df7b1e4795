//! Reading raw messages out of a Maildir, an mbox file or single `.eml` files.
//!
//! Every source is streamed: only one message is held in memory at a time, so an mbox export of
//! several gigabytes works as well as a Maildir of thousands of files. A message that cannot be
//! read is an `Err` item of the iterator, never the end of the run; only a source that cannot be
//! opened at all fails [`read`] itself.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use mail_parser::mailbox::mbox::MessageIterator as MboxIterator;

/// Where messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A Maildir directory (the one holding `new/`, `cur/` and `tmp/`).
    Maildir(PathBuf),
    /// An mbox file, as exported by Thunderbird, Outlook converters or `formail`.
    Mbox(PathBuf),
    /// Single `.eml` files, read in the order given.
    Files(Vec<PathBuf>),
}

/// One message as read, before parsing: its bytes and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Where the message was found, for the outcome list: the file's path for Maildir and `.eml`
    /// files (`Maildir/cur/1700000000.M1P2.host:2,S`), `mbox:<path>#<n>` for the n-th message
    /// (counted from 1) of an mbox file (`mbox:export.mbox#17`).
    pub origin: String,
    /// The message as it is stored, with mbox `>From ` quoting already undone.
    pub bytes: Vec<u8>,
}

/// A source or one of its messages could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file system refused: missing file, no permission, I/O error.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory that could not be read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A directory given as Maildir that has neither `new/` nor `cur/`.
    #[error("{} is not a Maildir: it has neither new/ nor cur/", path.display())]
    NotAMaildir {
        /// The directory given.
        path: PathBuf,
    },
    /// A file given as mbox that does not start with a `From ` separator line.
    #[error("{} is not an mbox file: it does not start with a \"From \" line", path.display())]
    NotAnMbox {
        /// The file given.
        path: PathBuf,
    },
}

impl ReadError {
    /// The file or directory the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::NotAMaildir { path }
            | ReadError::NotAnMbox { path } => path,
        }
    }

    fn io(path: &Path, source: io::Error) -> Self {
        ReadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Opens a source and returns its messages, one at a time, in order of receipt.
///
/// * Maildir: the files of `new/` and `cur/` (`tmp/` holds deliveries in progress and is
///   ignored, as are dot files), ordered by the delivery timestamp that leads every Maildir file
///   name (Dovecot, mbsync, getmail, maildrop all write `<seconds>.<unique>…`), then by the rest
///   of the name; numbers inside names compare as numbers.
/// * mbox: in file order; `>From ` lines are unquoted (mboxrd, which also undoes mboxo quoting of
///   `From ` lines); the empty line that separates messages is not part of a message.
/// * Files: in the order given; an unreadable file is an `Err` item.
///
/// Fails only when the source itself cannot be opened: a missing Maildir or mbox file, a
/// directory without `new/` and `cur/`, a file that is not an mbox.
pub fn read(source: &Source) -> Result<Messages, ReadError> {
    let inner = match source {
        Source::Maildir(root) => Inner::Maildir {
            root: root.clone(),
            entries: list_maildir(root)?.into_iter(),
        },
        Source::Mbox(path) => Inner::Mbox {
            path: path.clone(),
            messages: Some(MboxIterator::new(open_mbox(path)?)),
            count: 0,
        },
        Source::Files(paths) => Inner::Files(paths.clone().into_iter()),
    };
    Ok(Messages { inner })
}

/// The messages of a [`Source`], read lazily; see [`read`].
pub struct Messages {
    inner: Inner,
}

enum Inner {
    Maildir {
        root: PathBuf,
        entries: std::vec::IntoIter<MaildirEntry>,
    },
    Mbox {
        path: PathBuf,
        // `None` after the end or after an I/O error: mail-parser's iterator would be polled
        // again after an error and could report the same error forever.
        messages: Option<MboxIterator<BufReader<File>>>,
        count: usize,
    },
    Files(std::vec::IntoIter<PathBuf>),
}

impl Iterator for Messages {
    type Item = Result<RawMessage, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Maildir { root, entries } => {
                let entry = entries.next()?;
                Some(read_maildir_entry(root, &entry))
            }
            Inner::Mbox {
                path,
                messages,
                count,
            } => match messages.as_mut()?.next() {
                None => {
                    *messages = None;
                    None
                }
                Some(Err(source)) => {
                    *messages = None;
                    Some(Err(ReadError::io(path, source)))
                }
                Some(Ok(message)) => {
                    *count += 1;
                    let mut bytes = message.unwrap_contents();
                    strip_mbox_separator(&mut bytes);
                    Some(Ok(RawMessage {
                        origin: format!("mbox:{}#{}", path.display(), count),
                        bytes,
                    }))
                }
            },
            Inner::Files(paths) => {
                let path = paths.next()?;
                Some(match fs::read(&path) {
                    Ok(bytes) => Ok(RawMessage {
                        origin: path.display().to_string(),
                        bytes,
                    }),
                    Err(source) => Err(ReadError::io(&path, source)),
                })
            }
        }
    }
}

/// A message file of a Maildir: its sub-directory and file name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MaildirEntry {
    sub: &'static str,
    name: OsString,
}

/// Lists the message files of `new/` and `cur/` in order of receipt.
///
/// Only names are held (a few dozen bytes per message), never contents; sorting needs them all.
fn list_maildir(root: &Path) -> Result<Vec<MaildirEntry>, ReadError> {
    // A missing root is an I/O error naming the root, not "not a Maildir".
    fs::metadata(root).map_err(|e| ReadError::io(root, e))?;
    let mut entries = Vec::new();
    let mut found_any = false;
    for sub in ["new", "cur"] {
        let dir = root.join(sub);
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            // Some exports carry only cur/; a Maildir without new/ is simply empty there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ReadError::io(&dir, e)),
        };
        found_any = true;
        for item in listing {
            let item = item.map_err(|e| ReadError::io(&dir, e))?;
            let name = item.file_name();
            // Dot files are editor or sync-tool leftovers, never deliveries.
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            // `Path::is_file` follows symlinks, which some sync tools use.
            if !item.path().is_file() {
                continue;
            }
            entries.push(MaildirEntry { sub, name });
        }
    }
    if !found_any {
        return Err(ReadError::NotAMaildir {
            path: root.to_path_buf(),
        });
    }
    entries.sort_by(|a, b| {
        natural_cmp(a.name.as_encoded_bytes(), b.name.as_encoded_bytes())
            .then_with(|| a.name.cmp(&b.name))
            // new/ before cur/ for the (theoretical) same name in both.
            .then_with(|| b.sub.cmp(a.sub))
    });
    Ok(entries)
}

fn read_maildir_entry(root: &Path, entry: &MaildirEntry) -> Result<RawMessage, ReadError> {
    let path = root.join(entry.sub).join(&entry.name);
    match fs::read(&path) {
        Ok(bytes) => Ok(RawMessage {
            origin: path.display().to_string(),
            bytes,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A mail client working on the same Maildir moves new/X to cur/X:2,S when it sees
            // the message, and renames cur/X:2,S to cur/X:2,RS when flags change. The message is
            // still there under its unique name; look for it before calling it lost.
            match find_moved(root, &entry.name) {
                Some(moved) => fs::read(&moved)
                    .map(|bytes| RawMessage {
                        origin: moved.display().to_string(),
                        bytes,
                    })
                    .map_err(|e| ReadError::io(&moved, e)),
                None => Err(ReadError::io(&path, e)),
            }
        }
        Err(e) => Err(ReadError::io(&path, e)),
    }
}

/// Finds a message in `cur/` whose unique name (before the `:2,` or `!2,` info) is `name`'s.
fn find_moved(root: &Path, name: &OsString) -> Option<PathBuf> {
    let unique = unique_part(name.as_encoded_bytes());
    fs::read_dir(root.join("cur"))
        .ok()?
        .filter_map(Result::ok)
        .find(|item| unique_part(item.file_name().as_encoded_bytes()) == unique)
        .map(|item| item.path())
}

fn unique_part(name: &[u8]) -> &[u8] {
    // `!` is the info separator on file systems that forbid `:` (mbsync on Windows shares).
    let end = name
        .iter()
        .position(|&b| b == b':' || b == b'!')
        .unwrap_or(name.len());
    &name[..end]
}

/// Compares names so that runs of digits compare by value: `999999999.x` < `1000000000.x`
/// (delivery timestamps before and after September 2001) and `M9P1` < `M10P1` (Dovecot's
/// microseconds).
fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (a_end, b_end) = (digits_end(a, i), digits_end(b, j));
            let a_num = trim_zeros(&a[i..a_end]);
            let b_num = trim_zeros(&b[j..b_end]);
            // Longer number without leading zeros is larger; equal lengths compare by digits.
            let order = a_num.len().cmp(&b_num.len()).then_with(|| a_num.cmp(b_num));
            if order != Ordering::Equal {
                return order;
            }
            i = a_end;
            j = b_end;
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn digits_end(s: &[u8], start: usize) -> usize {
    s[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(s.len(), |n| start + n)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&b| b != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}

/// Opens an mbox file and checks that it starts like one.
///
/// mail-parser's iterator silently drops everything before the first `From ` line, so a file
/// given by mistake (a zip, a single .eml) would read as an empty mailbox and the run would
/// "succeed" with nothing imported. Saying so is better.
fn open_mbox(path: &Path) -> Result<BufReader<File>, ReadError> {
    let file = File::open(path).map_err(|e| ReadError::io(path, e))?;
    // A larger buffer than the default 8 KiB: fewer reads on exports of gigabytes.
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf().map_err(|e| ReadError::io(path, e))?;
    let first = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|start| &head[start..]);
    match first {
        // Empty (or blank) file: an empty mailbox.
        None => Ok(reader),
        Some(rest) if rest.starts_with(b"From ") => Ok(reader),
        Some(_) => Err(ReadError::NotAnMbox {
            path: path.to_path_buf(),
        }),
    }
}

/// Removes the empty line that separates a message from the next `From ` line.
///
/// It belongs to the mbox format, not to the message; without it the bytes of a message equal
/// those of the same message in a Maildir, so the hash key of a message without Message-ID does
/// not depend on the export format.
fn strip_mbox_separator(bytes: &mut Vec<u8>) {
    if bytes.ends_with(b"\r\n\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n\n") {
        bytes.truncate(bytes.len() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_names_compare_by_value() {
        assert_eq!(
            natural_cmp(b"999999999.M1.host", b"1000000000.M1.host"),
            Ordering::Less
        );
        assert_eq!(natural_cmp(b"1700.M9P1", b"1700.M10P1"), Ordering::Less);
        assert_eq!(natural_cmp(b"1700.a", b"1700.b"), Ordering::Less);
        assert_eq!(natural_cmp(b"1700.a", b"1700.a"), Ordering::Equal);
        assert_eq!(natural_cmp(b"0017.a", b"17.a"), Ordering::Equal);
        assert_eq!(natural_cmp(b"1700", b"1700.a"), Ordering::Less);
    }

    #[test]
    fn the_unique_part_ends_at_the_info_separator() {
        assert_eq!(unique_part(b"1700.M1P2.host:2,S"), b"1700.M1P2.host");
        assert_eq!(unique_part(b"1700.M1P2.host!2,S"), b"1700.M1P2.host");
        assert_eq!(unique_part(b"1700.M1P2.host"), b"1700.M1P2.host");
    }

    #[test]
    fn only_the_separator_line_is_stripped_from_an_mbox_message() {
        let mut lf = b"Subject: x\n\nbody\n\n".to_vec();
        strip_mbox_separator(&mut lf);
        assert_eq!(lf, b"Subject: x\n\nbody\n");
        let mut crlf = b"Subject: x\r\n\r\nbody\r\n\r\n".to_vec();
        strip_mbox_separator(&mut crlf);
        assert_eq!(crlf, b"Subject: x\r\n\r\nbody\r\n");
        let mut last = b"Subject: x\n\nbody\n".to_vec();
        strip_mbox_separator(&mut last);
        assert_eq!(last, b"Subject: x\n\nbody\n");
    }
}
