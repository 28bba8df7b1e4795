//! Files that hold personal data (Auskunft letters, replies to citizens): folders only the
//! owner may enter (0700) and files only the owner may read (0600), whatever the umask.

use anyhow::{Context as _, Result};
use std::io::Write;
use std::path::Path;

/// Creates `folder` (and its parents, as the umask says) and restricts it to the owner. An
/// existing folder is restricted too: it is about to hold personal data.
#[cfg(unix)]
pub fn create_folder(folder: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = folder.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if !folder.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    // Also an existing empty folder: it is about to hold personal data. And whatever the umask.
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", folder.display()))?;
    Ok(())
}

#[cfg(not(unix))]
pub fn create_folder(folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))
}

/// Options that create a file with mode 0600 on Unix.
fn owner_only() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Writes a new file, readable by the owner only; refuses to overwrite an existing one.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = write_new_unsynced(path, bytes)?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes new files like [`write_new`], then syncs them and the folder each is in, all
/// at once: each file's sync waits for the disk, and waiting for all of them side by side
/// costs about one wait instead of one per file. Returns once every file and its name
/// are durable; on an error some may be written (the caller removes them).
pub fn write_new_all(files: &[(std::path::PathBuf, &[u8])]) -> Result<()> {
    let mut opened = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        opened.push((path.as_path(), write_new_unsynced(path, bytes)?));
    }
    let mut folders: Vec<&Path> = files
        .iter()
        .filter_map(|(p, _)| p.parent())
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .collect();
    folders.sort();
    folders.dedup();
    std::thread::scope(|scope| {
        let mut syncs = Vec::new();
        for (path, file) in &opened {
            syncs.push(scope.spawn(move || {
                file.sync_all()
                    .with_context(|| format!("cannot write {}", path.display()))
            }));
        }
        for folder in folders {
            syncs.push(scope.spawn(move || sync_folder(folder)));
        }
        syncs
            .into_iter()
            .map(|s| s.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

fn write_new_unsynced(path: &Path, bytes: &[u8]) -> Result<std::fs::File> {
    let mut file = owner_only()
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(file)
}

/// Writes a file readable by the owner only, replacing one of the same name atomically: the
/// bytes go to a temporary file beside it that is then renamed, so a reader never sees half.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing_unsynced(path, bytes)?;
    sync_folder(path.parent().unwrap_or(Path::new(".")))
}

/// [`write_replacing`] without syncing the folder: the file's content is durable, its name
/// only once [`sync_folder`] has run (for many files written into one folder at once).
pub fn write_replacing_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_name(path);
    let mut options = owner_only();
    options.create(true).truncate(true);
    let written = (|| -> std::io::Result<()> {
        let mut f = options.open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// [`write_replacing_unsynced`] for many files at once, with their contents synced together:
/// every temporary file is written first, then all are synced (on Linux their write-back
/// is started for all before the first is waited for, and the waits run on a few threads),
/// and only then renamed into place, in order. So each file is durable before its name
/// appears, as with one at a time, for a fraction of the flushes. Returns how many of
/// `files`, from the first, are in place; and, when that is not all, why the next is not.
/// The names are durable once [`sync_folder`] has run.
pub fn write_many_replacing_unsynced(files: &[(&Path, &[u8])]) -> (usize, Option<anyhow::Error>) {
    // Bounded, so that a large batch does not hold too many descriptors open; and a name
    // that comes again starts a new round, so that its later file replaces the earlier one
    // as it does one at a time.
    const AT_ONCE: usize = 256;
    let mut done = 0;
    let mut start = 0;
    while start < files.len() {
        let mut names = std::collections::HashSet::new();
        let mut end = start;
        while end < files.len() && end - start < AT_ONCE && names.insert(files[end].0) {
            end += 1;
        }
        let (n, failure) = write_chunk(&files[start..end]);
        done += n;
        if failure.is_some() {
            return (done, failure);
        }
        start = end;
    }
    (done, None)
}

fn temp_name(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // The process id keeps two runs writing the same pending reply apart.
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_chunk(files: &[(&Path, &[u8])]) -> (usize, Option<anyhow::Error>) {
    let mut options = owner_only();
    options.create(true).truncate(true);
    let mut failure = None;
    let mut written = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let temp = temp_name(path);
        let file = options
            .open(&temp)
            .and_then(|mut f| f.write_all(bytes).map(|()| f));
        match file {
            Ok(f) => written.push((temp, f)),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                failure = Some(
                    anyhow::Error::from(e).context(format!("cannot write {}", path.display())),
                );
                break;
            }
        }
    }
    // Start the write-back of every file before waiting for any: the device gets them
    // together, and the waits below mostly find their data written.
    #[cfg(target_os = "linux")]
    for (_, f) in &written {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; the call only starts write-back (advisory: its
        // failure shows in the `sync_all` below).
        unsafe {
            libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    let synced = sync_all_at_once(&written);
    let mut done = 0;
    for (((temp, _), synced), (path, _)) in written.iter().zip(synced).zip(files) {
        match synced.and_then(|()| std::fs::rename(temp, path)) {
            Ok(()) => done += 1,
            Err(e) => {
                failure = Some(
                    anyhow::Error::from(e).context(format!("cannot write {}", path.display())),
                );
                break;
            }
        }
    }
    for (temp, _) in &written[done..] {
        let _ = std::fs::remove_file(temp);
    }
    (done, failure)
}

/// `sync_all` of every file, on up to four threads; one result per file, in order.
fn sync_all_at_once(files: &[(std::path::PathBuf, std::fs::File)]) -> Vec<std::io::Result<()>> {
    const THREADS: usize = 4;
    if files.len() < 2 {
        return files.iter().map(|(_, f)| f.sync_all()).collect();
    }
    let per_thread = files.len().div_ceil(THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || chunk.iter().map(|(_, f)| f.sync_all()).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec![Err(std::io::Error::other("a sync thread panicked"))])
            })
            .collect()
    })
}

/// Makes the names of the files renamed into a folder durable.
pub fn sync_folder(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the folder {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn many_files_are_written_in_order_and_a_name_that_comes_again_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.eml"), dir.path().join("b.eml"));
        let files: Vec<(&Path, &[u8])> = vec![
            (a.as_path(), b"first a"),
            (b.as_path(), b"b"),
            (a.as_path(), b"second a"),
        ];
        let (written, failure) = write_many_replacing_unsynced(&files);
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(written, 3);
        assert_eq!(std::fs::read(&a).unwrap(), b"second a");
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
        assert_eq!(
            names(dir.path()),
            ["a.eml", "b.eml"],
            "no temporary file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_files_before_one_that_cannot_be_written_are_in_place_and_none_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..5)
            .map(|i| dir.path().join(format!("{i}.eml")))
            .collect();
        // A folder where the third file goes: its rename fails.
        std::fs::create_dir(&paths[2]).unwrap();
        let files: Vec<(&Path, &[u8])> = paths.iter().map(|p| (p.as_path(), &b"x"[..])).collect();
        let (written, failure) = write_many_replacing_unsynced(&files);
        assert_eq!(written, 2);
        let failure = format!("{:#}", failure.expect("the third fails"));
        assert!(failure.contains("2.eml"), "{failure}");
        assert_eq!(
            names(dir.path()),
            ["0.eml", "1.eml", "2.eml"],
            "the two before it, the folder, no temporary file and nothing after it"
        );
        assert!(paths[2].is_dir());
    }
}
