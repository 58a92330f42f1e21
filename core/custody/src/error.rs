//! The one error type of this crate.
//!
//! No message ever contains key material, a passphrase or a decrypted value:
//! variants carry only names, paths, key ids and descriptions.

use std::io;
use std::path::PathBuf;

/// What can go wrong while keeping keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// The key store cannot be reached at all (no keyring daemon, no systemd credentials, ...).
    #[error("the {store} key store is unavailable: {reason}")]
    KeyStoreUnavailable { store: &'static str, reason: String },

    /// The key store can only be read from (environment variable, systemd credential).
    #[error(
        "the {store} key store is read-only: Wintermute cannot write a master key there; \
         put a key there yourself, or set kind = \"file\" under [key_store] in the configuration"
    )]
    KeyStoreReadOnly { store: &'static str },

    /// The key store holds no master key and cannot be given one by Wintermute.
    #[error("no master key found in the {store} key store: {hint}")]
    NoMasterKey { store: &'static str, hint: String },

    /// A master key is already stored where a new one was about to be created.
    #[error("the {store} key store already holds a master key; refusing to overwrite it")]
    KeyAlreadyExists { store: &'static str },

    /// The master key file can be read by other users.
    #[error(
        "the key file {} is readable or writable by other users (mode {mode:04o}); \
         refusing to use it. Fix it with: chmod 600 {}",
        path.display(),
        path.display()
    )]
    KeyFileTooOpen { path: PathBuf, mode: u32 },

    /// The master key file belongs to another user than the one running Wintermute.
    #[error(
        "the key file {} belongs to user id {owner}, but Wintermute runs as user id {euid}; \
         refusing to use it. Fix it with: chown {euid} {}",
        path.display(),
        path.display()
    )]
    KeyFileWrongOwner { path: PathBuf, owner: u32, euid: u32 },

    /// No key with this id is known (a master key id in hex, or a data-key id).
    #[error("no key with id {key_id} is available to open this value")]
    UnknownKey { key_id: String },

    /// Authentication failed: the value was modified, moved to another place, or the key is wrong.
    #[error("the encrypted value for {context} failed authentication: it was modified, moved, or the key is wrong")]
    Tampered { context: String },

    /// The input is not in the expected format (never contains the input itself).
    #[error("the data is not in the expected format: {0}")]
    BadFormat(String),

    /// The passphrase does not open this backup or key.
    #[error("wrong passphrase")]
    WrongPassphrase,

    /// A caller passed a value this crate cannot use.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A file could not be read or written.
    #[error("could not access {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Reading from or writing to a stream (backup archive) failed.
    #[error("the backup stream could not be read or written: {0}")]
    StreamIo(#[source] io::Error),

    /// The SSH key library refused an operation.
    #[error("SSH key error: {0}")]
    SshKey(#[source] ssh_key::Error),
}

impl CustodyError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn bad_format(what: impl Into<String>) -> Self {
        Self::BadFormat(what.into())
    }

    /// Recovers a [`CustodyError`] that a `Read`/`Write` implementation of this crate
    /// (such as [`crate::BackupReader`]) put inside a [`std::io::Error`]; any other I/O
    /// error becomes [`CustodyError::StreamIo`].
    pub fn from_io_error(err: io::Error) -> Self {
        if !err.get_ref().is_some_and(|inner| inner.is::<CustodyError>()) {
            return Self::StreamIo(err);
        }
        let kind = err.kind();
        match err.into_inner().map(|inner| inner.downcast::<CustodyError>()) {
            Some(Ok(custody)) => *custody,
            Some(Err(other)) => Self::StreamIo(io::Error::new(kind, other)),
            None => Self::StreamIo(io::Error::from(kind)),
        }
    }

    /// Wraps this error into an [`std::io::Error`] (for `Read`/`Write` implementations).
    pub(crate) fn into_io_error(self) -> io::Error {
        match self {
            Self::StreamIo(inner) => inner,
            Self::BadFormat(_) => io::Error::new(io::ErrorKind::UnexpectedEof, self),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_too_open_names_file_and_fix() {
        let err = CustodyError::KeyFileTooOpen { path: "/var/lib/wintermute/master.key".into(), mode: 0o644 };
        let msg = err.to_string();
        assert!(msg.contains("/var/lib/wintermute/master.key"), "{msg}");
        assert!(msg.contains("chmod 600 /var/lib/wintermute/master.key"), "{msg}");
        assert!(msg.contains("0644"), "{msg}");
    }

    #[test]
    fn io_error_round_trip_keeps_custody_error() {
        let io = CustodyError::Tampered { context: "backup chunk 3".into() }.into_io_error();
        match CustodyError::from_io_error(io) {
            CustodyError::Tampered { context } => assert_eq!(context, "backup chunk 3"),
            other => panic!("unexpected {other:?}"),
        }
        let plain = io::Error::new(io::ErrorKind::BrokenPipe, "pipe");
        assert!(matches!(CustodyError::from_io_error(plain), CustodyError::StreamIo(_)));
    }
}
