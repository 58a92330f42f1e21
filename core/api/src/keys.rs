//! Key custody: users' SSH keys, instance host keys, the master key, backups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/v1/users/{id}/ssh-key`: the public half of a user's SSH key, made by the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SshPublicKey {
    /// OpenSSH format: `ssh-ed25519 AAAA… login@wintermute`.
    pub public_key: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/users/{id}/ssh-key/export`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshKeyExportRequest {
    /// Encrypts the exported key (OpenSSH format, bcrypt-pbkdf + aes256-ctr) when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
}

/// The exported private key, in OpenSSH format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SshPrivateKey {
    pub private_key: String,
    pub public_key: String,
    pub encrypted: bool,
}

/// A host key offered by an instance that differs from the one pinned at first contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostKeyChange {
    pub public_key: String,
    pub fingerprint: String,
    pub offered_at: DateTime<Utc>,
}

/// `GET /api/v1/instances/{id}/host-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostKey {
    pub instance_id: i64,
    pub public_key: String,
    pub fingerprint: String,
    pub first_seen_at: DateTime<Utc>,
    /// A different key the instance offered since; connections are refused until an
    /// administrator accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<HostKeyChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/admin/keys`: the state of the master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyStatus {
    /// `file`, `keyring`, `env` or `systemd`.
    pub store: String,
    pub store_writable: bool,
    pub current_key_id: String,
    /// Older master keys still held because a rotation has not finished.
    pub previous_key_ids: Vec<String>,
    pub data_keys: i64,
    /// Data keys still wrapped by an older master key.
    pub data_keys_on_previous: i64,
    pub rotation_in_progress: bool,
}

/// `POST /api/v1/admin/backup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// At least 12 characters; the archive's key is derived from it with Argon2id.
    pub passphrase: String,
}

/// The answer of `POST /api/v1/admin/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreSummary {
    pub tables: i64,
    pub rows: i64,
    /// Database backend the backup was taken from.
    pub source_backend: String,
    pub backup_created_at: DateTime<Utc>,
}

/// Header carrying the backup passphrase of `POST /api/v1/admin/restore` (the body is the archive),
/// base64-encoded (standard alphabet, padded) so that any passphrase survives the trip.
pub const BACKUP_PASSPHRASE_HEADER: &str = "x-wintermute-backup-passphrase";

/// The value of [`BACKUP_PASSPHRASE_HEADER`] for a passphrase.
pub fn encode_passphrase_header(passphrase: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(passphrase.as_bytes())
}

/// The passphrase in a [`BACKUP_PASSPHRASE_HEADER`] value; `None` when it is not base64 of UTF-8.
pub fn decode_passphrase_header(value: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_passphrase_survives_the_header() {
        for p in ["correct horse battery staple", " leading and trailing ", "Passwört-lang-genug", "tab\there"] {
            let v = encode_passphrase_header(p);
            assert!(v.bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(decode_passphrase_header(&v).as_deref(), Some(p));
        }
        assert_eq!(decode_passphrase_header("not base64!"), None);
    }
}
