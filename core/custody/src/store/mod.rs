//! Where the master key lives: never in the database, always in one of these stores.

mod config;
mod env;
mod file;
mod os_keyring;
mod systemd;

pub use config::KeyStoreConfig;
pub use env::{EnvKeyStore, DEFAULT_MASTER_KEY_VAR};
pub use file::{FileKeyStore, MASTER_KEY_FILE};
pub use os_keyring::{KeyringKeyStore, DEFAULT_KEYRING_ACCOUNT, DEFAULT_KEYRING_SERVICE};
pub use systemd::{SystemdCredentialStore, DEFAULT_CREDENTIAL_NAME};

use crate::error::CustodyError;
use crate::master::MasterKeySet;

/// A place that keeps the [`MasterKeySet`].
pub trait KeyStore: Send + Sync {
    /// A short name for messages: `"file"`, `"keyring"`, `"env"`, `"systemd"`.
    fn name(&self) -> &'static str;

    /// The stored set, or `None` when the store holds no key yet.
    fn load(&self) -> Result<Option<MasterKeySet>, CustodyError>;

    /// Stores `set`, replacing what was there (used for rotation).
    fn save(&self, set: &MasterKeySet) -> Result<(), CustodyError>;

    /// Whether [`KeyStore::save`] can work at all.
    fn is_writable(&self) -> bool;

    /// Stores a freshly generated `set` only if the store holds no key; otherwise
    /// [`CustodyError::KeyAlreadyExists`]. Stores that can do this atomically override it.
    fn create(&self, set: &MasterKeySet) -> Result<(), CustodyError> {
        if self.load()?.is_some() {
            return Err(CustodyError::KeyAlreadyExists { store: self.name() });
        }
        self.save(set)
    }

    /// What a person should do to put a key into a read-only store.
    fn provisioning_hint(&self) -> String {
        "generate one with the Wintermute CLI and store it there".to_string()
    }
}

/// Loads the master key set, creating and saving a new one if the store is empty.
/// Returns the set and whether it was created now.
pub fn load_or_create(store: &dyn KeyStore) -> Result<(MasterKeySet, bool), CustodyError> {
    if let Some(set) = store.load()? {
        return Ok((set, false));
    }
    if !store.is_writable() {
        return Err(CustodyError::NoMasterKey { store: store.name(), hint: store.provisioning_hint() });
    }
    let fresh = MasterKeySet::generate();
    match store.create(&fresh) {
        Ok(()) => {}
        // Another process created one between our load and create: use theirs.
        Err(CustodyError::KeyAlreadyExists { .. }) => {
            return match store.load()? {
                Some(set) => Ok((set, false)),
                None => Err(CustodyError::KeyStoreUnavailable {
                    store: store.name(),
                    reason: "a master key was reported to exist but cannot be read back".to_string(),
                }),
            };
        }
        Err(other) => return Err(other),
    }
    // Read it back: a store that silently drops writes must fail now, not after data was sealed.
    match store.load()? {
        Some(set) if set.current.id() == fresh.current.id() => Ok((fresh, true)),
        _ => Err(CustodyError::KeyStoreUnavailable {
            store: store.name(),
            reason: "the new master key could not be read back after saving it".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// An in-memory store for exercising `load_or_create`.
    struct MemoryStore {
        text: Mutex<Option<String>>,
        writable: bool,
        drop_writes: bool,
    }

    impl MemoryStore {
        fn new(writable: bool) -> Self {
            Self { text: Mutex::new(None), writable, drop_writes: false }
        }
    }

    impl KeyStore for MemoryStore {
        fn name(&self) -> &'static str {
            "memory"
        }
        fn load(&self) -> Result<Option<MasterKeySet>, CustodyError> {
            self.text.lock().unwrap().as_deref().map(MasterKeySet::parse).transpose()
        }
        fn save(&self, set: &MasterKeySet) -> Result<(), CustodyError> {
            if !self.writable {
                return Err(CustodyError::KeyStoreReadOnly { store: "memory" });
            }
            if !self.drop_writes {
                *self.text.lock().unwrap() = Some(set.encode().expose().clone());
            }
            Ok(())
        }
        fn is_writable(&self) -> bool {
            self.writable
        }
    }

    #[test]
    fn creates_once_then_loads() {
        let store = MemoryStore::new(true);
        let (first, created) = load_or_create(&store).unwrap();
        assert!(created);
        let (second, created) = load_or_create(&store).unwrap();
        assert!(!created);
        assert_eq!(first.current.id(), second.current.id());
    }

    #[test]
    fn read_only_empty_store_is_a_clear_error() {
        let err = load_or_create(&MemoryStore::new(false)).unwrap_err();
        assert!(matches!(err, CustodyError::NoMasterKey { store: "memory", .. }), "{err}");
    }

    #[test]
    fn store_that_loses_writes_is_detected() {
        let store = MemoryStore { drop_writes: true, ..MemoryStore::new(true) };
        assert!(matches!(load_or_create(&store), Err(CustodyError::KeyStoreUnavailable { .. })));
    }

    #[test]
    fn default_create_refuses_to_overwrite() {
        let store = MemoryStore::new(true);
        store.save(&MasterKeySet::generate()).unwrap();
        assert!(matches!(store.create(&MasterKeySet::generate()), Err(CustodyError::KeyAlreadyExists { .. })));
    }
}
