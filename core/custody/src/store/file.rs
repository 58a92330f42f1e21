//! The master key in a file only its owner can read (default on servers: `<data-dir>/master.key`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::KeyStore;
use crate::error::CustodyError;
use crate::master::MasterKeySet;

/// File name of the master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// A master key file is a few lines; anything bigger is not one.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// Keeps the master key set in a file with mode 0600, written atomically.
///
/// On load it refuses a file that group or others may access, or that belongs to another
/// user than the one running the process. (On non-Unix systems those checks do not apply;
/// the data directory's ACLs must protect the file.)
#[derive(Clone, Debug)]
pub struct FileKeyStore {
    path: PathBuf,
}

impl FileKeyStore {
    /// A store at this exact path.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The default store: `<data_dir>/master.key`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(MASTER_KEY_FILE))
    }

    /// Where the key file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Writes `set` to a temporary file (mode 0600) in the same directory, syncs it, then puts
    /// it in place: by rename (`replace`) or by hard link, which fails if a key file exists.
    fn write_atomically(&self, set: &MasterKeySet, replace: bool) -> Result<(), CustodyError> {
        let dir = self.dir();
        create_private_dir(&dir)?;
        let file_name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut suffix = [0u8; 8];
        OsRng.fill_bytes(&mut suffix);
        let temp = TempFile(dir.join(format!(".{file_name}.tmp-{}", hex::encode(suffix))));

        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp.0).map_err(|e| CustodyError::io(&temp.0, e))?;
        file.write_all(set.encode().expose().as_bytes()).map_err(|e| CustodyError::io(&temp.0, e))?;
        file.sync_all().map_err(|e| CustodyError::io(&temp.0, e))?;
        drop(file);

        if replace {
            fs::rename(&temp.0, &self.path).map_err(|e| CustodyError::io(&self.path, e))?;
        } else {
            match fs::hard_link(&temp.0, &self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(CustodyError::KeyAlreadyExists { store: "file" });
                }
                // Filesystems without hard links: check, then rename (a small race, only there).
                Err(_) => {
                    if self.path.exists() {
                        return Err(CustodyError::KeyAlreadyExists { store: "file" });
                    }
                    fs::rename(&temp.0, &self.path).map_err(|e| CustodyError::io(&self.path, e))?;
                }
            }
        }
        drop(temp);
        sync_dir(&dir)
    }
}

impl KeyStore for FileKeyStore {
    fn name(&self) -> &'static str {
        "file"
    }

    fn load(&self) -> Result<Option<MasterKeySet>, CustodyError> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CustodyError::io(&self.path, e)),
        };
        let meta = file.metadata().map_err(|e| CustodyError::io(&self.path, e))?;
        if !meta.is_file() {
            return Err(CustodyError::BadFormat(format!("{} is not a regular file", self.path.display())));
        }
        check_private(&self.path, &meta)?;
        if meta.len() > MAX_FILE_LEN {
            return Err(CustodyError::BadFormat(format!(
                "{} is too large to be a master key file",
                self.path.display()
            )));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
        file.read_to_end(&mut bytes).map_err(|e| CustodyError::io(&self.path, e))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| CustodyError::BadFormat(format!("{} is not UTF-8 text", self.path.display())))?;
        MasterKeySet::parse(text).map(Some)
    }

    fn save(&self, set: &MasterKeySet) -> Result<(), CustodyError> {
        self.write_atomically(set, true)
    }

    fn create(&self, set: &MasterKeySet) -> Result<(), CustodyError> {
        self.write_atomically(set, false)
    }

    fn is_writable(&self) -> bool {
        true
    }
}

/// Removes the temporary file unless it was renamed away.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), CustodyError> {
    use std::os::unix::fs::MetadataExt as _;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CustodyError::KeyFileTooOpen { path: path.to_path_buf(), mode });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(CustodyError::KeyFileWrongOwner { path: path.to_path_buf(), owner: meta.uid(), euid });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), CustodyError> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), CustodyError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| CustodyError::io(dir, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), CustodyError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| CustodyError::io(dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), CustodyError> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    use super::*;
    use crate::store::load_or_create;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn creates_file_with_mode_0600_and_loads_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileKeyStore::in_data_dir(&dir.path().join("data"));
        assert!(store.load().unwrap().is_none());
        let (set, created) = load_or_create(&store).unwrap();
        assert!(created);
        let meta = fs::metadata(store.path()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(dir.path().join("data")).unwrap().mode() & 0o777, 0o700);
        let (again, created) = load_or_create(&store).unwrap();
        assert!(!created);
        assert_eq!(again.current.id(), set.current.id());
        assert!(leftovers(&dir.path().join("data")).is_empty());
    }

    #[test]
    fn save_replaces_and_create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileKeyStore::in_data_dir(dir.path());
        let first = MasterKeySet::generate();
        store.create(&first).unwrap();
        let err = store.create(&MasterKeySet::generate()).unwrap_err();
        assert!(matches!(err, CustodyError::KeyAlreadyExists { store: "file" }), "{err}");
        assert_eq!(store.load().unwrap().unwrap().current.id(), first.current.id());
        let rotated = first.rotate();
        store.save(&rotated).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.current.id(), rotated.current.id());
        assert_eq!(loaded.previous[0].id(), first.current.id());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn refuses_a_file_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileKeyStore::in_data_dir(dir.path());
        store.save(&MasterKeySet::generate()).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o606] {
            fs::set_permissions(store.path(), fs::Permissions::from_mode(mode)).unwrap();
            let err = store.load().unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, CustodyError::KeyFileTooOpen { mode: m, .. } if m == mode), "{msg}");
            assert!(msg.contains(&format!("chmod 600 {}", store.path().display())), "{msg}");
        }
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o400)).unwrap();
        assert!(store.load().unwrap().is_some());
    }

    #[test]
    fn refuses_a_file_owned_by_someone_else() {
        if nix::unistd::geteuid().as_raw() != 0 {
            eprintln!("skipped: changing a file's owner needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = FileKeyStore::in_data_dir(dir.path());
        store.save(&MasterKeySet::generate()).unwrap();
        std::os::unix::fs::chown(store.path(), Some(54321), None).unwrap();
        let err = store.load().unwrap_err();
        assert!(matches!(err, CustodyError::KeyFileWrongOwner { owner: 54321, euid: 0, .. }), "{err}");
    }

    #[test]
    fn bad_content_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileKeyStore::in_data_dir(dir.path());
        let mut options = OpenOptions::new();
        std::os::unix::fs::OpenOptionsExt::mode(options.write(true).create_new(true), 0o600);
        options.open(store.path()).unwrap().write_all(b"not a key\n").unwrap();
        assert!(matches!(store.load(), Err(CustodyError::BadFormat(_))));
    }

    #[test]
    fn a_directory_is_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileKeyStore::new(dir.path());
        assert!(store.load().is_err());
    }
}
