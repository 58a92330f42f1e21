//! Writing secrets to files: readable only by their owner (mode 0600 on Unix), written under a
//! temporary name next to the destination and moved into place at the end, so that nobody ever
//! sees half a file, and an existing file is replaced only when asked to.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::{CliError, Exit};

/// The error of an output file that exists already.
fn exists_error(path: &Path) -> CliError {
    CliError::new(Exit::Invalid, "file_exists", format!("{} exists; pass --force to replace it", path.display()))
}

/// Fails unless `dest` can be written: it must not exist, or be a file (not a directory) with
/// `force`. Called before anything is asked from the core, so nothing is done in vain.
pub fn check_destination(dest: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot check {}", dest.display())),
        Ok(m) if m.is_dir() => {
            Err(CliError::new(Exit::Invalid, "file_exists", format!("{} is a directory", dest.display())).into())
        }
        Ok(_) if force => Ok(()),
        Ok(_) => Err(exists_error(dest).into()),
    }
}

/// The directory a relative or absolute file path is in.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A file being written under a temporary name, removed when dropped unless
/// [`persist`](PendingFile::persist)ed.
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl PendingFile {
    /// A new file of mode 0600 at `tmp`, which must not exist (with `replace_tmp`, an existing one
    /// is removed first: the remains of an interrupted run).
    pub fn create(dest: &Path, tmp: PathBuf, replace_tmp: bool) -> anyhow::Result<PendingFile> {
        if replace_tmp {
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", tmp.display()))
                }
                _ => {}
            }
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = match options.open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CliError::new(
                    Exit::Invalid,
                    "file_exists",
                    format!("{} exists (left by an interrupted run?); remove it or pass --force", tmp.display()),
                )
                .into())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", tmp.display())),
        };
        Ok(PendingFile { tmp, dest: dest.to_owned(), file: Some(file) })
    }

    /// A pending file with a hidden, unique temporary name in the destination's directory.
    pub fn beside(dest: &Path) -> anyhow::Result<PendingFile> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "wmai".into());
        let tmp = parent_dir(dest).join(format!(".{name}.{}-{:08x}.tmp", std::process::id(), rand::random::<u32>()));
        PendingFile::create(dest, tmp, false)
    }

    /// `FILE.part` for `FILE`.
    pub fn part_path(dest: &Path) -> PathBuf {
        let mut name = dest.as_os_str().to_owned();
        name.push(".part");
        PathBuf::from(name)
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = &self.tmp;
        match &mut self.file {
            Some(f) => f.write_all(bytes).with_context(|| format!("cannot write {}", tmp.display())),
            None => Err(anyhow::anyhow!("{} is closed", tmp.display())),
        }
    }

    /// Flushes the file to disk and gives it its final name. Without `force`, an existing
    /// destination (even one made meanwhile) is left alone and the call fails.
    pub fn persist(mut self, force: bool) -> anyhow::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all().with_context(|| format!("cannot write {}", self.tmp.display()))?;
        }
        if force {
            std::fs::rename(&self.tmp, &self.dest)
                .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))?;
        } else {
            // A hard link fails if the destination exists, where a rename would replace it.
            match std::fs::hard_link(&self.tmp, &self.dest) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists_error(&self.dest).into()),
                // File systems without hard links: check, then rename.
                Err(_) => {
                    if std::fs::symlink_metadata(&self.dest).is_ok() {
                        return Err(exists_error(&self.dest).into());
                    }
                    std::fs::rename(&self.tmp, &self.dest)
                        .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))?;
                }
            }
        }
        // Moved away: nothing left to remove.
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to a new file `dest` of mode 0600, atomically (see the module).
pub fn write_secret(dest: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut f = PendingFile::beside(dest)?;
    f.write_all(bytes)?;
    f.persist(force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn secrets_are_private_and_not_overwritten() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let dest = dir.path().join("id_ed25519");
        check_destination(&dest, false)?;
        write_secret(&dest, b"one", false)?;
        assert_eq!(std::fs::read(&dest)?, b"one");
        #[cfg(unix)]
        assert_eq!(mode(&dest), 0o600);
        assert_eq!(names(dir.path()), ["id_ed25519"], "no temporary file left");

        let e = crate::exit::report(&check_destination(&dest, false).unwrap_err());
        assert_eq!(e.exit, Exit::Invalid);
        assert!(e.message.contains("--force"), "{}", e.message);
        let e = crate::exit::report(&write_secret(&dest, b"two", false).unwrap_err());
        assert_eq!(e.exit, Exit::Invalid);
        assert_eq!(std::fs::read(&dest)?, b"one");
        assert_eq!(names(dir.path()), ["id_ed25519"], "no temporary file left after a refusal");

        check_destination(&dest, true)?;
        write_secret(&dest, b"two", true)?;
        assert_eq!(std::fs::read(&dest)?, b"two");
        assert!(check_destination(dir.path(), true).is_err(), "a directory is never replaced");
        Ok(())
    }

    #[test]
    fn unfinished_files_are_removed() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let dest = dir.path().join("core.backup");
        let part = PendingFile::part_path(&dest);
        assert_eq!(part, dir.path().join("core.backup.part"));
        {
            let mut f = PendingFile::create(&dest, part.clone(), false)?;
            f.write_all(b"half")?;
            #[cfg(unix)]
            assert_eq!(mode(&part), 0o600);
            // A second run does not clobber a running one...
            assert!(PendingFile::create(&dest, part.clone(), false).is_err());
        }
        assert!(names(dir.path()).is_empty(), "dropped without persist: removed");
        // ...but --force takes the place of a stale one.
        std::fs::write(&part, b"stale")?;
        let mut f = PendingFile::create(&dest, part.clone(), true)?;
        f.write_all(b"whole")?;
        f.persist(false)?;
        assert_eq!(std::fs::read(&dest)?, b"whole");
        assert_eq!(names(dir.path()), ["core.backup"]);
        Ok(())
    }
}
