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
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // The process id keeps two runs writing the same pending reply apart.
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
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

/// Makes the names of the files renamed into a folder durable.
pub fn sync_folder(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the folder {}", dir.display()))?;
    Ok(())
}
