//! Volume encryption keys (LUKS passphrases).
//!
//! A key reaches an instance only through an SSH channel's standard input (provisioning code
//! does that); it is stored sealed in an envelope like any other secret.

use rand::rngs::OsRng;
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::secret::SecretString;

/// Generates volume keys.
pub struct VolumeKey;

impl VolumeKey {
    /// 32 random bytes as 64 lowercase hex digits: the LUKS passphrase.
    pub fn generate() -> SecretString {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut bytes[..]);
        SecretString::new(hex::encode(&bytes[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_four_lowercase_hex_digits_and_random() {
        let a = VolumeKey::generate();
        let b = VolumeKey::generate();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }
}
