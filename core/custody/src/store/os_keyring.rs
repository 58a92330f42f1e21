//! The master key in the OS keyring (default for the desktop app's embedded core):
//! Secret Service (GNOME Keyring, KWallet) with a kernel keyutils cache on Linux,
//! the Keychain on macOS, the Credential Manager on Windows.
//!
//! Calls block. On Linux the `keyring` crate drives D-Bus with a private Tokio runtime, which
//! panics when entered from a thread already running async code; so every keyring call here
//! runs on a short-lived thread of its own, and the store is safe to use from anywhere (from
//! async code, prefer `tokio::task::spawn_blocking` anyway: the call may wait for a desktop
//! unlock prompt).

use std::fmt;

use zeroize::{Zeroize as _, Zeroizing};

use super::KeyStore;
use crate::error::CustodyError;
use crate::master::MasterKeySet;

/// Default keyring service name.
pub const DEFAULT_KEYRING_SERVICE: &str = "wintermute";
/// Default keyring account name.
pub const DEFAULT_KEYRING_ACCOUNT: &str = "master-key";

/// Keeps the master key set's text encoding as one keyring entry.
pub struct KeyringKeyStore {
    service: String,
    account: String,
    entry: keyring::Entry,
}

impl KeyringKeyStore {
    /// The entry `service`/`account` of the platform's keyring (nothing is read or written yet).
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> Result<Self, CustodyError> {
        let (service, account) = (service.into(), account.into());
        let entry = on_own_thread(|| keyring::Entry::new(&service, &account))?.map_err(map_error)?;
        Ok(Self { service, account, entry })
    }

    /// The keyring service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The keyring account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    #[cfg(test)]
    fn with_entry(entry: keyring::Entry) -> Self {
        Self { service: "test".into(), account: "test".into(), entry }
    }
}

impl fmt::Debug for KeyringKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringKeyStore").field("service", &self.service).field("account", &self.account).finish()
    }
}

impl KeyStore for KeyringKeyStore {
    fn name(&self) -> &'static str {
        "keyring"
    }

    fn load(&self) -> Result<Option<MasterKeySet>, CustodyError> {
        match on_own_thread(|| self.entry.get_password())? {
            Ok(text) => {
                let text = Zeroizing::new(text);
                MasterKeySet::parse(&text).map(Some)
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    fn save(&self, set: &MasterKeySet) -> Result<(), CustodyError> {
        let text = set.encode();
        on_own_thread(|| self.entry.set_password(text.expose()))?.map_err(map_error)
    }

    fn is_writable(&self) -> bool {
        true
    }
}

/// Runs `call` on a fresh thread, outside any async runtime of the caller's thread.
fn on_own_thread<T: Send>(call: impl FnOnce() -> T + Send) -> Result<T, CustodyError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("wintermute-keyring".to_string())
            .spawn_scoped(scope, call)
            .map_err(|e| CustodyError::KeyStoreUnavailable {
                store: "keyring",
                reason: format!("cannot start a thread for the keyring call: {e}"),
            })?
            .join()
            .map_err(|_| CustodyError::KeyStoreUnavailable {
                store: "keyring",
                reason: format!("the OS keyring library failed unexpectedly; {ALTERNATIVES}"),
            })
    })
}

const ALTERNATIVES: &str = "on a server or a machine without a desktop session, set \
    kind = \"file\" (a 0600 file in the data directory), \"env\" or \"systemd\" under [key_store] \
    in the configuration instead";

fn map_error(err: keyring::Error) -> CustodyError {
    let unavailable = |detail: String| CustodyError::KeyStoreUnavailable { store: "keyring", reason: detail };
    match err {
        keyring::Error::BadEncoding(mut bytes) => {
            bytes.zeroize();
            CustodyError::bad_format("the keyring entry holding the master key is not UTF-8 text")
        }
        keyring::Error::NoStorageAccess(e) | keyring::Error::PlatformFailure(e) => {
            unavailable(format!("no OS keyring service is reachable ({e}); {ALTERNATIVES}"))
        }
        keyring::Error::NoEntry => unavailable("the keyring has no master key entry".to_string()),
        other => unavailable(format!("the OS keyring refused the request ({other}); {ALTERNATIVES}")),
    }
}

#[cfg(test)]
mod tests {
    use keyring::mock::MockCredential;

    use super::*;

    fn mock_store() -> KeyringKeyStore {
        KeyringKeyStore::with_entry(keyring::Entry::new_with_credential(Box::new(MockCredential::default())))
    }

    fn mock(store: &KeyringKeyStore) -> &MockCredential {
        store.entry.get_credential().downcast_ref::<MockCredential>().unwrap()
    }

    #[test]
    fn save_then_load_through_the_keyring_api() {
        let store = mock_store();
        assert!(store.load().unwrap().is_none());
        let set = MasterKeySet::generate();
        store.save(&set).unwrap();
        assert_eq!(store.load().unwrap().unwrap().current.id(), set.current.id());
    }

    #[test]
    fn unreachable_keyring_is_unavailable_with_alternatives() {
        let store = mock_store();
        mock(&store).set_error(keyring::Error::PlatformFailure("org.freedesktop.DBus.Error.ServiceUnknown".into()));
        let err = store.load().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CustodyError::KeyStoreUnavailable { store: "keyring", .. }));
        assert!(msg.contains("no OS keyring service is reachable"), "{msg}");
        assert!(msg.contains("\"file\""), "{msg}");

        mock(&store).set_error(keyring::Error::NoStorageAccess("locked".into()));
        assert!(matches!(store.save(&MasterKeySet::generate()), Err(CustodyError::KeyStoreUnavailable { .. })));
    }

    #[test]
    fn bad_encoding_does_not_leak() {
        let store = mock_store();
        mock(&store).set_error(keyring::Error::BadEncoding(b"wmk1 secret-bytes".to_vec()));
        let err = store.load().unwrap_err();
        assert!(matches!(err, CustodyError::BadFormat(_)));
        assert!(!format!("{err} {err:?}").contains("secret-bytes"));
    }

    #[test]
    fn debug_names_the_entry_only() {
        let store = mock_store();
        assert_eq!(format!("{store:?}"), "KeyringKeyStore { service: \"test\", account: \"test\" }");
    }
}
