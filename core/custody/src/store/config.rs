//! Choosing the master key store from the configuration file.
//!
//! ```toml
//! [key_store]
//! kind = "file"            # "file" | "keyring" | "env" | "systemd"
//! # path = "master.key"    # file: relative to the data directory (default <data-dir>/master.key)
//! # service = "wintermute" # keyring
//! # account = "master-key" # keyring
//! # var = "WMAIS_MASTER_KEY"          # env
//! # name = "wintermute-master-key"    # systemd credential name
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::env::DEFAULT_MASTER_KEY_VAR;
use super::os_keyring::{DEFAULT_KEYRING_ACCOUNT, DEFAULT_KEYRING_SERVICE};
use super::systemd::DEFAULT_CREDENTIAL_NAME;
use super::{EnvKeyStore, FileKeyStore, KeyStore, KeyringKeyStore, SystemdCredentialStore};
use crate::error::CustodyError;

/// Which [`KeyStore`] holds the master key, and its options. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeyStoreConfig {
    /// A 0600 file; `path` is relative to the data directory (default `master.key`).
    File {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
    /// The OS keyring.
    Keyring {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
    },
    /// An environment variable (read-only).
    Env {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        var: Option<String>,
    },
    /// A systemd credential (read-only).
    Systemd {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl Default for KeyStoreConfig {
    /// The server default: `<data-dir>/master.key`.
    fn default() -> Self {
        Self::File { path: None }
    }
}

impl KeyStoreConfig {
    /// The desktop app's default: the OS keyring.
    pub fn desktop_default() -> Self {
        Self::Keyring { service: None, account: None }
    }

    /// Builds the store (reads nothing yet).
    pub fn open(&self, data_dir: &Path) -> Result<Box<dyn KeyStore>, CustodyError> {
        Ok(match self {
            Self::File { path } => match path {
                Some(path) => Box::new(FileKeyStore::new(data_dir.join(path))),
                None => Box::new(FileKeyStore::in_data_dir(data_dir)),
            },
            Self::Keyring { service, account } => Box::new(KeyringKeyStore::new(
                service.as_deref().unwrap_or(DEFAULT_KEYRING_SERVICE),
                account.as_deref().unwrap_or(DEFAULT_KEYRING_ACCOUNT),
            )?),
            Self::Env { var } => Box::new(EnvKeyStore::new(var.as_deref().unwrap_or(DEFAULT_MASTER_KEY_VAR))),
            Self::Systemd { name } => {
                Box::new(SystemdCredentialStore::new(name.as_deref().unwrap_or(DEFAULT_CREDENTIAL_NAME)))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        key_store: KeyStoreConfig,
    }

    fn parse(text: &str) -> Result<KeyStoreConfig, toml::de::Error> {
        toml::from_str::<Config>(text).map(|c| c.key_store)
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(parse("").unwrap(), KeyStoreConfig::File { path: None });
        assert_eq!(
            parse("[key_store]\nkind = \"file\"\npath = \"/etc/wm/mk\"").unwrap(),
            KeyStoreConfig::File { path: Some("/etc/wm/mk".into()) }
        );
        assert_eq!(
            parse("[key_store]\nkind = \"keyring\"\nservice = \"wm\"").unwrap(),
            KeyStoreConfig::Keyring { service: Some("wm".into()), account: None }
        );
        assert_eq!(parse("[key_store]\nkind = \"env\"").unwrap(), KeyStoreConfig::Env { var: None });
        assert_eq!(
            parse("[key_store]\nkind = \"systemd\"\nname = \"mk\"").unwrap(),
            KeyStoreConfig::Systemd { name: Some("mk".into()) }
        );
    }

    #[test]
    fn rejects_unknown_kinds_and_options() {
        let err = parse("[key_store]\nkind = \"vault\"").unwrap_err().to_string();
        assert!(err.contains("vault"), "{err}");
        let err = parse("[key_store]\nkind = \"file\"\nservice = \"x\"").unwrap_err().to_string();
        assert!(err.contains("service"), "{err}");
    }

    #[test]
    fn opens_the_right_store() {
        let data = Path::new("/var/lib/wintermute");
        let cases = [
            (KeyStoreConfig::default(), "file"),
            (KeyStoreConfig::Env { var: Some("X".into()) }, "env"),
            (KeyStoreConfig::Systemd { name: None }, "systemd"),
        ];
        for (config, name) in cases {
            assert_eq!(config.open(data).unwrap().name(), name);
        }
        // Only builds the entry; reads nothing.
        if let Ok(store) = KeyStoreConfig::desktop_default().open(data) {
            assert_eq!(store.name(), "keyring");
        }
    }

    #[test]
    fn file_path_is_relative_to_the_data_dir() {
        let config = KeyStoreConfig::File { path: Some("keys/mk".into()) };
        let dir = tempfile::tempdir().unwrap();
        let store = config.open(dir.path()).unwrap();
        crate::store::load_or_create(store.as_ref()).unwrap();
        assert!(dir.path().join("keys/mk").is_file());
    }

    #[test]
    fn serializes_back() {
        let config = KeyStoreConfig::Env { var: None };
        assert_eq!(toml::to_string(&config).unwrap().trim(), "kind = \"env\"");
    }
}
