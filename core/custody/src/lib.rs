//! Key custody for the Wintermute core.
//!
//! The core holds every cloud credential, every user's SSH private key and every volume
//! encryption key. This crate is the only place that handles them in the clear, under one model:
//!
//! * **The master key is never in the database.** A [`MasterKeySet`] lives in a [`KeyStore`]:
//!   a 0600 file in the data directory on servers ([`FileKeyStore`]), the OS keyring for the
//!   desktop app's embedded core ([`KeyringKeyStore`]), or read-only from an environment
//!   variable ([`EnvKeyStore`]) or a systemd credential ([`SystemdCredentialStore`]), chosen by
//!   [`KeyStoreConfig`]. [`load_or_create`] makes one on first start.
//! * **Data keys are wrapped by the master key** ([`wrap_data_key`]) and the engine stores the
//!   wrapped text in the database, each with its integer id. A stolen database alone opens nothing.
//! * **Secrets are sealed by a data key** ([`seal`] / [`open`]) with their place as *context*
//!   (e.g. `"cloud_credentials.secret#42"`), which is authenticated: a sealed value copied to
//!   another row or column, or with a changed header, does not open.
//! * **Rotation** = [`MasterKeySet::rotate`] and save (the old key moves to `previous` and still
//!   opens what it wrapped), re-wrap every data key with the new current key (find the ones
//!   left with [`sealed_key_ref`]), then [`MasterKeySet::retire_previous`] and save again.
//!
//! Secret values travel as [`Secret`] ([`SecretBytes`], [`SecretString`]): no `Display`, no
//! serde, `Debug` prints `Secret(***)`, zeroed on drop. Error messages ([`CustodyError`]) never
//! contain key material or decrypted data.
//!
//! Also here: users' Ed25519 SSH keys ([`UserKeyPair`]), LUKS volume passphrases
//! ([`VolumeKey`]), and passphrase-encrypted streaming backups ([`BackupWriter`],
//! [`BackupReader`]).

pub mod backup;
pub mod envelope;
pub mod error;
pub mod master;
pub mod secret;
pub mod ssh;
pub mod store;
pub mod volume;

pub use backup::{BackupReader, BackupWriter, KdfParams};
pub use envelope::{
    generate_data_key, open, seal, sealed_key_ref, unwrap_data_key, wrap_data_key, KeyRef, DATA_KEY_LEN,
};
pub use error::CustodyError;
pub use master::{KeyId, MasterKey, MasterKeySet, MASTER_KEY_LEN};
pub use secret::{Secret, SecretBytes, SecretString};
pub use ssh::{host_key_fingerprint, UserKeyPair};
pub use store::{
    load_or_create, EnvKeyStore, FileKeyStore, KeyStore, KeyStoreConfig, KeyringKeyStore, SystemdCredentialStore,
};
pub use volume::VolumeKey;
