//! Where the login token of each core is kept: the OS keyring (service `wintermute`, user = the
//! core URL), or the file `<config dir>/tokens.json` (mode 0600) when no keyring works.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::exit::CliError;

const SERVICE: &str = "wintermute";
const FILE: &str = "tokens.json";
/// A keyring that does not answer within this time counts as absent (e.g. a locked collection
/// waiting for a prompt nobody sees).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// `WMAI_TOKEN_STORE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// The keyring, and the file when the keyring fails.
    Auto,
    Keyring,
    File,
}

impl StoreMode {
    pub fn parse(s: &str) -> Result<StoreMode, CliError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(StoreMode::Auto),
            "keyring" => Ok(StoreMode::Keyring),
            "file" => Ok(StoreMode::File),
            other => {
                Err(CliError::usage(format!("WMAI_TOKEN_STORE={other:?} is not valid; use file, keyring or auto")))
            }
        }
    }
}

/// Where a token was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Keyring,
    File(PathBuf),
}

/// The token store of one configuration directory.
#[derive(Debug, Clone)]
pub struct TokenStore {
    mode: StoreMode,
    file: FileStore,
}

impl TokenStore {
    pub fn new(mode: StoreMode, config_dir: &Path) -> TokenStore {
        TokenStore { mode, file: FileStore::new(config_dir) }
    }

    /// Saves the token of the core at `url` (a normalized URL).
    pub fn save(&self, url: &str, token: &str) -> anyhow::Result<Saved> {
        match self.mode {
            StoreMode::File => {
                self.file.set(url, token)?;
                Ok(Saved::File(self.file.path().to_owned()))
            }
            StoreMode::Keyring => {
                keyring::set(url, token).map_err(|e| anyhow::anyhow!("cannot save the token in the keyring: {e}"))?;
                Ok(Saved::Keyring)
            }
            StoreMode::Auto => match keyring::set(url, token) {
                Ok(()) => {
                    // A token of an earlier fallback must not shadow the new one.
                    let _ = self.file.remove(url);
                    Ok(Saved::Keyring)
                }
                Err(e) => {
                    self.file.set(url, token)?;
                    announce_file_store(self.file.path(), &e);
                    Ok(Saved::File(self.file.path().to_owned()))
                }
            },
        }
    }

    /// The saved token of the core at `url`, if any.
    pub fn load(&self, url: &str) -> anyhow::Result<Option<String>> {
        match self.mode {
            StoreMode::File => self.file.get(url),
            StoreMode::Keyring => match keyring::get(url) {
                Ok(t) => Ok(Some(t)),
                Err(keyring::Failure::NoEntry) => Ok(None),
                Err(e) => Err(anyhow::anyhow!("cannot read the token from the keyring: {e}")),
            },
            // A token is in the file only when the keyring failed at login (a keyring save removes
            // it from the file), so the file comes first: no keyring round trip, no timeout.
            // The fallback was announced at login; reading stays quiet.
            StoreMode::Auto => match self.file.get(url)? {
                Some(t) => Ok(Some(t)),
                None => Ok(keyring::get(url).ok()),
            },
        }
    }

    /// Forgets the token of the core at `url` everywhere it may be. Returns whether one was found.
    pub fn forget(&self, url: &str) -> anyhow::Result<bool> {
        match self.mode {
            StoreMode::File => self.file.remove(url),
            StoreMode::Keyring => match keyring::delete(url) {
                Ok(()) => Ok(true),
                Err(keyring::Failure::NoEntry) => Ok(false),
                Err(e) => Err(anyhow::anyhow!("cannot remove the token from the keyring: {e}")),
            },
            StoreMode::Auto => {
                let in_keyring = keyring::delete(url).is_ok();
                let in_file = self.file.remove(url)?;
                Ok(in_keyring || in_file)
            }
        }
    }
}

/// Says once per process that the token file is used instead of the keyring.
fn announce_file_store(path: &Path, why: &keyring::Failure) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "note: no usable keyring ({why}); the token is kept in {} (readable only by you). \
             Set WMAI_TOKEN_STORE=file to silence this.",
            path.display()
        );
    }
}

/// `tokens.json`: a map from core URL to token, readable only by its owner.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(config_dir: &Path) -> FileStore {
        FileStore { path: config_dir.join(FILE) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> anyhow::Result<BTreeMap<String, String>> {
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(BTreeMap::new()),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).with_context(|| format!("{} is not a token file", self.path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    /// Replaces the file atomically with a new one of mode 0600.
    fn write(&self, map: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = self.path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let text = serde_json::to_vec_pretty(map).context("cannot encode the token file")?;
        let mut f = options.open(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(&text)
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).with_context(|| format!("cannot replace {}", self.path.display()))
    }

    pub fn get(&self, url: &str) -> anyhow::Result<Option<String>> {
        Ok(self.read()?.remove(url))
    }

    pub fn set(&self, url: &str, token: &str) -> anyhow::Result<()> {
        let mut map = self.read()?;
        map.insert(url.to_owned(), token.to_owned());
        self.write(&map)
    }

    /// Removes the token of `url`; returns whether there was one.
    pub fn remove(&self, url: &str) -> anyhow::Result<bool> {
        let mut map = self.read()?;
        if map.remove(url).is_none() {
            return Ok(false);
        }
        if map.is_empty() {
            std::fs::remove_file(&self.path).with_context(|| format!("cannot remove {}", self.path.display()))?;
        } else {
            self.write(&map)?;
        }
        Ok(true)
    }
}

/// The OS keyring, called on a thread of its own: the secret-service backend runs its own tokio
/// runtime and must not be called from inside ours.
mod keyring {
    use std::fmt;
    use std::sync::mpsc;

    use super::{KEYRING_TIMEOUT, SERVICE};

    #[derive(Debug)]
    pub enum Failure {
        NoEntry,
        Other(String),
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Failure::NoEntry => f.write_str("no entry"),
                Failure::Other(s) => f.write_str(s),
            }
        }
    }

    fn run<T: Send + 'static>(
        url: &str,
        op: impl FnOnce(&::keyring::Entry) -> ::keyring::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        let (tx, rx) = mpsc::channel();
        let user = url.to_owned();
        let spawned = std::thread::Builder::new().name("keyring".into()).spawn(move || {
            let result = ::keyring::Entry::new(SERVICE, &user).and_then(|entry| op(&entry));
            let _ = tx.send(result);
        });
        if let Err(e) = spawned {
            return Err(Failure::Other(format!("cannot start the keyring thread: {e}")));
        }
        match rx.recv_timeout(KEYRING_TIMEOUT) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(::keyring::Error::NoEntry)) => Err(Failure::NoEntry),
            Ok(Err(e)) => Err(Failure::Other(e.to_string())),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Other("the keyring did not answer".into())),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::Other("the keyring failed".into())),
        }
    }

    pub fn set(url: &str, token: &str) -> Result<(), Failure> {
        let token = token.to_owned();
        let result = run(url, move |e| e.set_password(&token));
        if result.is_err() {
            // Do not leave a half-written entry that would shadow the file later.
            let _ = delete(url);
        }
        result
    }

    pub fn get(url: &str) -> Result<String, Failure> {
        run(url, |e| e.get_password())
    }

    pub fn delete(url: &str) -> Result<(), Failure> {
        run(url, |e| e.delete_credential())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(&dir.path().join("conf"));
        assert_eq!(store.get("http://a:1").unwrap(), None);
        store.set("http://a:1", "tok-a").unwrap();
        store.set("https://b", "tok-b").unwrap();
        assert_eq!(store.get("http://a:1").unwrap().as_deref(), Some("tok-a"));
        assert_eq!(store.get("https://b").unwrap().as_deref(), Some("tok-b"));
        store.set("http://a:1", "tok-a2").unwrap();
        assert_eq!(store.get("http://a:1").unwrap().as_deref(), Some("tok-a2"));
        assert!(store.remove("http://a:1").unwrap());
        assert!(!store.remove("http://a:1").unwrap());
        assert_eq!(store.get("http://a:1").unwrap(), None);
        assert_eq!(store.get("https://b").unwrap().as_deref(), Some("tok-b"));
        assert!(store.remove("https://b").unwrap());
        assert!(!store.path().exists(), "an empty token file is removed");
    }

    #[cfg(unix)]
    #[test]
    fn file_store_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        store.set("http://a:1", "secret").unwrap();
        let mode = std::fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Still private after a rewrite of a file that someone loosened.
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        store.set("http://b:1", "secret2").unwrap();
        let mode = std::fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn forced_file_mode_never_touches_the_keyring() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(StoreMode::File, dir.path());
        assert_eq!(store.save("http://a:1", "t").unwrap(), Saved::File(dir.path().join(FILE)));
        assert_eq!(store.load("http://a:1").unwrap().as_deref(), Some("t"));
        assert!(store.forget("http://a:1").unwrap());
        assert_eq!(store.load("http://a:1").unwrap(), None);
    }

    #[test]
    fn a_broken_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        let store = FileStore::new(dir.path());
        assert!(store.get("http://a:1").is_err());
    }

    #[test]
    fn store_modes_parse() {
        assert_eq!(StoreMode::parse("auto").unwrap(), StoreMode::Auto);
        assert_eq!(StoreMode::parse("").unwrap(), StoreMode::Auto);
        assert_eq!(StoreMode::parse("FILE").unwrap(), StoreMode::File);
        assert_eq!(StoreMode::parse("keyring").unwrap(), StoreMode::Keyring);
        assert!(StoreMode::parse("vault").is_err());
    }
}
