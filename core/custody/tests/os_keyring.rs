//! The real OS keyring of the machine running the tests: whatever is (not) there, the store
//! answers with a value or a clear `KeyStoreUnavailable`, never a panic. It only reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wintermute_custody::{CustodyError, KeyStore, KeyringKeyStore};

#[test]
fn reading_the_real_keyring_never_panics() {
    let account = format!("custody-test-{}", std::process::id());
    let store = match KeyringKeyStore::new("wintermute-custody-tests", &account) {
        Ok(store) => store,
        Err(err) => {
            assert!(matches!(err, CustodyError::KeyStoreUnavailable { store: "keyring", .. }), "{err}");
            println!("note: no keyring here: {err}");
            return;
        }
    };
    match store.load() {
        Ok(None) => println!("note: an OS keyring is reachable and has no test entry"),
        Ok(Some(_)) => panic!("a random test account unexpectedly holds a key"),
        Err(err) => {
            let msg = err.to_string();
            assert!(matches!(err, CustodyError::KeyStoreUnavailable { store: "keyring", .. }), "{msg}");
            assert!(msg.contains("\"file\""), "{msg}");
            println!("note: {msg}");
        }
    }
}

/// From async code, too: the `keyring` crate runs its own Tokio runtime on Linux, which must
/// not panic with "Cannot start a runtime from within a runtime".
#[tokio::test]
async fn reading_the_real_keyring_from_async_code_never_panics() {
    let account = format!("custody-async-test-{}", std::process::id());
    let Ok(store) = KeyringKeyStore::new("wintermute-custody-tests", &account) else { return };
    match store.load() {
        Ok(None) => {}
        Ok(Some(_)) => panic!("a random test account unexpectedly holds a key"),
        Err(err) => assert!(matches!(err, CustodyError::KeyStoreUnavailable { .. }), "{err}"),
    }
}
