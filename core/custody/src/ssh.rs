//! Users' SSH key pairs (Ed25519) and SSH fingerprints.
//!
//! The core stores a user's private key as [`UserKeyPair::private_openssh`] sealed in an
//! envelope; it leaves the core only as [`UserKeyPair::export_openssh`] with a passphrase.

use std::fmt;

use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use ssh_key::private::Ed25519Keypair;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use crate::error::CustodyError;
use crate::secret::SecretString;

const ED25519: &str = "ssh-ed25519";

/// OpenSSH writes padded base64, but accept unpadded too.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An Ed25519 SSH key pair. `Debug` shows only the public key's fingerprint.
#[derive(Clone)]
pub struct UserKeyPair {
    key: PrivateKey,
}

impl UserKeyPair {
    /// A new random Ed25519 key pair with this comment (e.g. `"alice@wintermute"`).
    pub fn generate(comment: &str) -> Self {
        let mut key = PrivateKey::from(Ed25519Keypair::random(&mut OsRng));
        key.set_comment(comment);
        Self { key }
    }

    /// The public key as one `authorized_keys` line: `ssh-ed25519 AAAA... comment`.
    pub fn public_openssh(&self) -> String {
        let public = self.key.public_key().key_data().ed25519().map(|k| k.0).unwrap_or_default();
        let mut blob = Vec::with_capacity(4 + ED25519.len() + 4 + 32);
        for field in [ED25519.as_bytes(), &public[..]] {
            blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
            blob.extend_from_slice(field);
        }
        let mut line = format!("{ED25519} {}", STANDARD.encode(blob));
        if !self.key.comment().is_empty() {
            line.push(' ');
            line.push_str(self.key.comment());
        }
        line
    }

    /// The comment.
    pub fn comment(&self) -> &str {
        self.key.comment()
    }

    /// `SHA256:<base64>` as `ssh-keygen -l` prints it.
    pub fn fingerprint_sha256(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The unencrypted OpenSSH private key, for storage inside an envelope only.
    pub fn private_openssh(&self) -> Result<SecretString, CustodyError> {
        let pem = self.key.to_openssh(LineEnding::LF).map_err(CustodyError::SshKey)?;
        Ok(SecretString::new(pem.as_str().to_owned()))
    }

    /// The OpenSSH private key for handing to the user: encrypted (bcrypt-pbkdf, aes256-ctr,
    /// as `ssh-keygen` does) when a passphrase is given, unencrypted otherwise.
    pub fn export_openssh(&self, passphrase: Option<&str>) -> Result<SecretString, CustodyError> {
        let Some(passphrase) = passphrase else { return self.private_openssh() };
        if passphrase.is_empty() {
            return Err(CustodyError::InvalidInput("an empty passphrase cannot protect a key".to_string()));
        }
        let encrypted = self.key.encrypt(&mut OsRng, passphrase).map_err(CustodyError::SshKey)?;
        let pem = encrypted.to_openssh(LineEnding::LF).map_err(CustodyError::SshKey)?;
        Ok(SecretString::new(pem.as_str().to_owned()))
    }

    /// Reads an unencrypted OpenSSH Ed25519 private key (as stored by [`Self::private_openssh`]).
    pub fn from_private_openssh(pem: &str) -> Result<Self, CustodyError> {
        let key = PrivateKey::from_openssh(pem).map_err(|_| {
            CustodyError::bad_format("not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)")
        })?;
        if key.is_encrypted() {
            return Err(CustodyError::InvalidInput(
                "the private key is encrypted; it needs its passphrase (from_encrypted_openssh)".to_string(),
            ));
        }
        Self::checked(key)
    }

    /// Reads a passphrase-protected OpenSSH Ed25519 private key.
    pub fn from_encrypted_openssh(pem: &str, passphrase: &str) -> Result<Self, CustodyError> {
        let key = PrivateKey::from_openssh(pem).map_err(|_| {
            CustodyError::bad_format("not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)")
        })?;
        if !key.is_encrypted() {
            return Self::checked(key);
        }
        let key = key.decrypt(passphrase).map_err(|e| match e {
            ssh_key::Error::Crypto => CustodyError::WrongPassphrase,
            other => CustodyError::SshKey(other),
        })?;
        Self::checked(key)
    }

    fn checked(key: PrivateKey) -> Result<Self, CustodyError> {
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(CustodyError::InvalidInput(format!(
                "only Ed25519 user keys are supported, this one is {}",
                key.algorithm()
            )));
        }
        Ok(Self { key })
    }
}

impl fmt::Debug for UserKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKeyPair")
            .field("fingerprint", &self.fingerprint_sha256())
            .field("comment", &self.key.comment())
            .finish_non_exhaustive()
    }
}

/// The `SHA256:...` fingerprint of a public key line (`<type> <base64> [comment]`, any key type),
/// as OpenSSH shows it, e.g. for checking a host key.
pub fn host_key_fingerprint(public_openssh: &str) -> Result<String, CustodyError> {
    let bad = |what: &str| CustodyError::BadFormat(format!("not an OpenSSH public key line: {what}"));
    let mut fields = public_openssh.split_whitespace();
    let (Some(key_type), Some(b64)) = (fields.next(), fields.next()) else {
        return Err(bad("expected `<key type> <base64 key> [comment]`"));
    };
    let blob = LENIENT_BASE64.decode(b64).map_err(|_| bad("the key is not valid base64"))?;
    let (len, rest) = blob.split_first_chunk::<4>().ok_or_else(|| bad("the key is truncated"))?;
    let name = rest.get(..u32::from_be_bytes(*len) as usize).ok_or_else(|| bad("the key is truncated"))?;
    if name != key_type.as_bytes() {
        return Err(bad("the key type does not match the key data"));
    }
    if rest.len() == name.len() {
        return Err(bad("the key has no key material"));
    }
    Ok(format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&blob))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_and_round_trip() {
        let pair = UserKeyPair::generate("alice@wintermute");
        let public = pair.public_openssh();
        assert!(public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"), "{public}");
        assert!(public.ends_with(" alice@wintermute"));
        assert_eq!(public, pair.key.public_key().to_openssh().unwrap());
        assert_eq!(pair.comment(), "alice@wintermute");

        let pem = pair.private_openssh().unwrap();
        assert!(pem.expose().starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let back = UserKeyPair::from_private_openssh(pem.expose()).unwrap();
        assert_eq!(back.public_openssh(), public);
        assert_eq!(back.fingerprint_sha256(), pair.fingerprint_sha256());
        assert_eq!(host_key_fingerprint(&public).unwrap(), pair.fingerprint_sha256());
    }

    #[test]
    fn encrypted_export_round_trip_and_wrong_passphrase() {
        let pair = UserKeyPair::generate("bob");
        let pem = pair.export_openssh(Some("open sesame")).unwrap();
        assert!(matches!(UserKeyPair::from_private_openssh(pem.expose()), Err(CustodyError::InvalidInput(_))));
        let back = UserKeyPair::from_encrypted_openssh(pem.expose(), "open sesame").unwrap();
        assert_eq!(back.public_openssh(), pair.public_openssh());
        let err = UserKeyPair::from_encrypted_openssh(pem.expose(), "wrong").unwrap_err();
        assert!(matches!(err, CustodyError::WrongPassphrase), "{err}");
        assert!(matches!(pair.export_openssh(Some("")), Err(CustodyError::InvalidInput(_))));
        let plain = pair.export_openssh(None).unwrap();
        assert_eq!(plain.expose(), pair.private_openssh().unwrap().expose());
    }

    #[test]
    fn debug_hides_the_private_key() {
        let pair = UserKeyPair::generate("carol");
        let debug = format!("{pair:?}");
        assert!(debug.contains(&pair.fingerprint_sha256()));
        let pem = pair.private_openssh().unwrap();
        let body: String = pem.expose().lines().nth(1).unwrap().chars().take(40).collect();
        assert!(!debug.contains(&body));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(UserKeyPair::from_private_openssh("nope"), Err(CustodyError::BadFormat(_))));
        assert!(UserKeyPair::from_encrypted_openssh("nope", "x").is_err());
    }

    #[test]
    fn host_key_fingerprints() {
        // A well-known test vector: the fingerprint is SHA-256 over the decoded key blob.
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl host";
        let blob = STANDARD.decode(line.split(' ').nth(1).unwrap()).unwrap();
        let expected = format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&blob)));
        assert_eq!(host_key_fingerprint(line).unwrap(), expected);
        assert_eq!(host_key_fingerprint(line.trim_end_matches(" host")).unwrap(), expected);
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 !!!",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "ssh-ed25519 AAAA",
        ] {
            assert!(matches!(host_key_fingerprint(bad), Err(CustodyError::BadFormat(_))), "{bad:?}");
        }
    }
}
