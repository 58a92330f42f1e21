//! The login token of each core in the OS keyring (service `wintermute-desktop`, user = the core
//! URL), never in the web view's storage. The keyring is asked on a thread of its own with a
//! time limit: a locked keyring waiting for a prompt nobody sees must not hang the app.

use std::sync::mpsc;
use std::time::Duration;

use crate::error::{DesktopError, ErrorKind};

const SERVICE: &str = "wintermute-desktop";
const TIMEOUT: Duration = Duration::from_secs(10);

fn run<T: Send + 'static>(
    core_url: &str,
    op: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> Result<Option<T>, DesktopError> {
    let (tx, rx) = mpsc::channel();
    let user = core_url.to_owned();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(keyring::Entry::new(SERVICE, &user).and_then(|entry| op(&entry)));
        })
        .map_err(|e| DesktopError::new(ErrorKind::Keyring, format!("cannot ask the keyring: {e}")))?;
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(keyring::Error::NoEntry)) => Ok(None),
        Ok(Err(e)) => Err(DesktopError::new(ErrorKind::Keyring, format!("The OS keyring refused: {e}"))),
        Err(_) => Err(DesktopError::new(ErrorKind::Keyring, "The OS keyring did not answer (is it locked?).")),
    }
}

/// The token kept for `core_url`, if any.
pub fn get(core_url: &str) -> Result<Option<String>, DesktopError> {
    run(core_url, |e| e.get_password())
}

pub fn set(core_url: &str, token: &str) -> Result<(), DesktopError> {
    let token = token.to_owned();
    run(core_url, move |e| e.set_password(&token)).map(|_| ())
}

/// Forgets the token of `core_url` (nothing kept is fine).
pub fn delete(core_url: &str) -> Result<(), DesktopError> {
    run(core_url, |e| e.delete_credential()).map(|_| ())
}
