//! A wrapper that keeps a secret value out of logs and memory dumps.
//!
//! [`Secret`] has no `Display`, no `Serialize`/`Deserialize`, and a `Debug` that prints
//! `Secret(***)`, so a secret cannot end up in a log line, an API answer or a config dump by
//! accident: reading it takes an explicit [`Secret::expose`]. Its memory is zeroed on drop.
//!
//! ```compile_fail
//! let s = wintermute_custody::SecretString::new("hunter2".to_string());
//! println!("{s}"); // no Display: does not compile
//! ```
//!
//! ```compile_fail
//! let s = wintermute_custody::SecretString::new("hunter2".to_string());
//! serde_json::to_string(&s).unwrap(); // no Serialize: does not compile
//! ```

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value: redacted `Debug`, no `Display`, no serde, zeroed on drop.
pub struct Secret<T: Zeroize> {
    inner: T,
}

/// Secret bytes (keys, decrypted values).
pub type SecretBytes = Secret<Vec<u8>>;

/// Secret text (passphrases, PEM private keys, encoded master keys).
pub type SecretString = Secret<String>;

impl<T: Zeroize> Secret<T> {
    /// Takes ownership of `value`; it will be zeroed when the secret is dropped.
    pub fn new(value: T) -> Self {
        Self { inner: value }
    }

    /// Gives read access to the secret. Keep the borrow short and never log it.
    pub fn expose(&self) -> &T {
        &self.inner
    }

    /// Write access, for filling a secret in place (so no unzeroized copy is left behind).
    pub(crate) fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.inner.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    /// The copy is itself a `Secret` and is zeroed on its own drop.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl SecretBytes {
    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Holder {
        name: &'static str,
        password: SecretString,
        key: SecretBytes,
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = SecretString::new("correct horse battery staple".to_string());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s:#?}"), "Secret(***)");
        let h = Holder { name: "alice", password: s.clone(), key: SecretBytes::from_slice(&[0xde, 0xad, 0xbe, 0xef]) };
        let out = format!("{h:?} {h:#?}");
        assert!(!out.contains("correct horse"), "{out}");
        assert!(!out.contains("222") && !out.contains("173") && !out.contains("dead"), "{out}");
        assert!(out.contains("alice"));
    }

    #[test]
    fn expose_and_clone() {
        let s = SecretBytes::new(vec![1, 2, 3]);
        let c = s.clone();
        drop(s);
        assert_eq!(c.expose(), &vec![1, 2, 3]);
        let k: Secret<[u8; 4]> = [9u8; 4].into();
        assert_eq!(k.expose(), &[9u8; 4]);
    }

    #[test]
    fn zeroize_clears_the_value() {
        // What Drop does, observed without reading freed memory.
        let mut s = SecretString::new("secret".to_string());
        s.inner.zeroize();
        assert!(s.expose().is_empty());
        let mut b = Secret::new([7u8; 8]);
        b.inner.zeroize();
        assert_eq!(b.expose(), &[0u8; 8]);
    }
}
