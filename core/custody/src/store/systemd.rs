//! The master key as a systemd credential (read-only): `$CREDENTIALS_DIRECTORY/<name>`.
//!
//! The unit file passes it with `LoadCredential=<name>:/etc/wintermute/master.key` or, better,
//! `LoadCredentialEncrypted=` (sealed to the machine's TPM or host key by `systemd-creds`).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::KeyStore;
use crate::error::CustodyError;
use crate::master::MasterKeySet;

/// Default credential name.
pub const DEFAULT_CREDENTIAL_NAME: &str = "wintermute-master-key";

const MAX_CREDENTIAL_LEN: u64 = 64 * 1024;

/// Reads the master key set's text encoding from a systemd credential.
#[derive(Clone, Debug)]
pub struct SystemdCredentialStore {
    name: String,
}

impl SystemdCredentialStore {
    /// A store reading the credential `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// The credential name.
    pub fn credential_name(&self) -> &str {
        &self.name
    }

    fn load_from(&self, credentials_dir: Option<OsString>) -> Result<Option<MasterKeySet>, CustodyError> {
        if self.name.is_empty() || self.name.contains('/') || self.name == "." || self.name == ".." {
            return Err(CustodyError::InvalidInput(format!("{:?} is not a valid systemd credential name", self.name)));
        }
        let dir = credentials_dir.filter(|d| !d.is_empty()).ok_or_else(|| CustodyError::KeyStoreUnavailable {
            store: "systemd",
            reason: format!(
                "CREDENTIALS_DIRECTORY is not set: run Wintermute as a systemd service with \
                 `LoadCredential={0}:<key file>` or `LoadCredentialEncrypted={0}:<file>`, \
                 or choose another kind under [key_store] in the configuration",
                self.name
            ),
        })?;
        let path = PathBuf::from(dir).join(&self.name);
        read_credential(&path)
    }
}

impl Default for SystemdCredentialStore {
    fn default() -> Self {
        Self::new(DEFAULT_CREDENTIAL_NAME)
    }
}

fn read_credential(path: &Path) -> Result<Option<MasterKeySet>, CustodyError> {
    match fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_CREDENTIAL_LEN => {
            return Err(CustodyError::BadFormat(format!("{} is too large to be a master key", path.display())));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CustodyError::io(path, e)),
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| CustodyError::io(path, e))?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CustodyError::BadFormat(format!("{} is not UTF-8 text", path.display())))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    MasterKeySet::parse(text).map(Some)
}

impl KeyStore for SystemdCredentialStore {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn load(&self) -> Result<Option<MasterKeySet>, CustodyError> {
        self.load_from(std::env::var_os("CREDENTIALS_DIRECTORY"))
    }

    fn save(&self, _set: &MasterKeySet) -> Result<(), CustodyError> {
        Err(CustodyError::KeyStoreReadOnly { store: "systemd" })
    }

    fn is_writable(&self) -> bool {
        false
    }

    fn provisioning_hint(&self) -> String {
        format!(
            "the credential {0} is missing: generate a key with the Wintermute CLI and pass it with \
             `LoadCredential={0}:<key file>` (or `LoadCredentialEncrypted=`) in the service unit",
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credential_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SystemdCredentialStore::default();
        assert!(store.load_from(Some(dir.path().into())).unwrap().is_none());
        let set = MasterKeySet::generate();
        fs::write(dir.path().join(DEFAULT_CREDENTIAL_NAME), set.encode().expose()).unwrap();
        let loaded = store.load_from(Some(dir.path().into())).unwrap().unwrap();
        assert_eq!(loaded.current.id(), set.current.id());
    }

    #[test]
    fn unset_directory_is_an_unavailable_store() {
        let err = SystemdCredentialStore::default().load_from(None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CustodyError::KeyStoreUnavailable { store: "systemd", .. }));
        assert!(msg.contains("CREDENTIALS_DIRECTORY") && msg.contains("LoadCredential="), "{msg}");
    }

    #[test]
    fn read_only_and_name_checked() {
        let store = SystemdCredentialStore::new("../etc/passwd");
        assert!(matches!(store.load_from(Some("/tmp".into())), Err(CustodyError::InvalidInput(_))));
        assert!(!store.is_writable());
        assert!(matches!(store.save(&MasterKeySet::generate()), Err(CustodyError::KeyStoreReadOnly { .. })));
    }
}
