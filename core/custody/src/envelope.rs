//! Two-level envelope encryption: master key → data keys → secrets.
//!
//! Every sealed value is text: `wme1.` followed by base64url (no padding) of
//!
//! ```text
//! version (1 byte, = 1) | kind (1 byte) | key id | nonce (24 bytes) | ciphertext + tag (16 bytes)
//! ```
//!
//! * kind 1, *master-sealed*: a data key wrapped by a master key; key id = the master key id (8 bytes).
//! * kind 2, *data-key-sealed*: a secret sealed by a data key; key id = the data-key id (i64, big endian).
//!
//! The cipher is XChaCha20-Poly1305 with a random nonce. The associated data is
//! `version | kind | key id | context`, so changing the header, moving a value to another
//! row or column (another context), or opening it with another key fails authentication.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore as _;

use crate::error::CustodyError;
use crate::master::{KeyId, MasterKey, MasterKeySet};
use crate::secret::SecretBytes;

/// Length of a data key in bytes.
pub const DATA_KEY_LEN: usize = 32;

const PREFIX: &str = "wme1.";
const VERSION: u8 = 1;
const KIND_MASTER: u8 = 1;
const KIND_DATA: u8 = 2;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Which key sealed a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef {
    /// A data key wrapped by this master key.
    Master(KeyId),
    /// A secret sealed by this data key.
    Data(i64),
}

/// A fresh random data key.
pub fn generate_data_key() -> SecretBytes {
    let mut key = SecretBytes::new(vec![0u8; DATA_KEY_LEN]);
    OsRng.fill_bytes(key.inner_mut());
    key
}

/// Wraps data key `dek_id` with `master` (the set's current key, normally).
pub fn wrap_data_key(master: &MasterKey, dek_id: i64, dek: &SecretBytes) -> Result<String, CustodyError> {
    check_data_key(dek_id, dek)?;
    let header = header(KIND_MASTER, master.id().as_bytes());
    encrypt(master.key_bytes(), &header, &data_key_context(dek_id), dek.expose())
}

/// Unwraps data key `dek_id` with whichever key of `set` wrapped it.
pub fn unwrap_data_key(set: &MasterKeySet, dek_id: i64, wrapped: &str) -> Result<SecretBytes, CustodyError> {
    let parsed = Parsed::parse(wrapped)?;
    let KeyRef::Master(key_id) = parsed.key_ref else {
        return Err(CustodyError::bad_format("expected a wrapped data key, found a value sealed by a data key"));
    };
    let master = set.get(&key_id).ok_or_else(|| CustodyError::UnknownKey { key_id: key_id.to_string() })?;
    let context = data_key_context(dek_id);
    let dek = parsed.decrypt(master.key_bytes(), &context)?;
    if dek.expose().len() != DATA_KEY_LEN {
        return Err(CustodyError::bad_format(format!("{context} does not unwrap to {DATA_KEY_LEN} bytes")));
    }
    Ok(dek)
}

/// Seals `plaintext` with data key `dek_id`, bound to `context` (e.g. `"cloud_credentials.secret#42"`).
pub fn seal(dek_id: i64, dek: &SecretBytes, context: &str, plaintext: &[u8]) -> Result<String, CustodyError> {
    check_data_key(dek_id, dek)?;
    encrypt(dek.expose(), &header(KIND_DATA, &dek_id.to_be_bytes()), context, plaintext)
}

/// Opens a value sealed by [`seal`]; `lookup` gives the data key for an id (or `None`).
pub fn open(
    lookup: impl Fn(i64) -> Option<SecretBytes>,
    context: &str,
    sealed: &str,
) -> Result<SecretBytes, CustodyError> {
    let parsed = Parsed::parse(sealed)?;
    let KeyRef::Data(dek_id) = parsed.key_ref else {
        return Err(CustodyError::bad_format("expected a value sealed by a data key, found a wrapped data key"));
    };
    let dek = lookup(dek_id).ok_or_else(|| CustodyError::UnknownKey { key_id: dek_id.to_string() })?;
    check_data_key(dek_id, &dek)?;
    parsed.decrypt(dek.expose(), context)
}

/// Tells which key sealed a value, without opening it (to find what a rotation must re-seal).
pub fn sealed_key_ref(sealed: &str) -> Result<KeyRef, CustodyError> {
    Ok(Parsed::parse(sealed)?.key_ref)
}

fn data_key_context(dek_id: i64) -> String {
    format!("data key {dek_id}")
}

fn check_data_key(dek_id: i64, dek: &SecretBytes) -> Result<(), CustodyError> {
    if dek.expose().len() == DATA_KEY_LEN {
        Ok(())
    } else {
        Err(CustodyError::InvalidInput(format!("data key {dek_id} is not {DATA_KEY_LEN} bytes long")))
    }
}

fn header(kind: u8, key_id: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(2 + key_id.len());
    header.push(VERSION);
    header.push(kind);
    header.extend_from_slice(key_id);
    header
}

fn aad(header: &[u8], context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(context.as_bytes());
    aad
}

fn cipher(key: &[u8]) -> Result<XChaCha20Poly1305, CustodyError> {
    XChaCha20Poly1305::new_from_slice(key)
        .map_err(|_| CustodyError::InvalidInput(format!("an encryption key must be {DATA_KEY_LEN} bytes long")))
}

fn encrypt(key: &[u8], header: &[u8], context: &str, plaintext: &[u8]) -> Result<String, CustodyError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let aad = aad(header, context);
    let ciphertext = cipher(key)?
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| CustodyError::InvalidInput(format!("the value for {context} is too large to seal")))?;
    let mut raw = Vec::with_capacity(header.len() + NONCE_LEN + ciphertext.len());
    raw.extend_from_slice(header);
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ciphertext);
    let mut out = String::with_capacity(PREFIX.len() + raw.len() * 4 / 3 + 4);
    out.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(&raw, &mut out);
    Ok(out)
}

/// A sealed value split into its parts (nothing decrypted yet).
struct Parsed {
    key_ref: KeyRef,
    header: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Parsed {
    fn parse(sealed: &str) -> Result<Self, CustodyError> {
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| CustodyError::bad_format("not a Wintermute sealed value (it must start with `wme1.`)"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CustodyError::bad_format("the sealed value is not valid base64url"))?;
        let truncated = || CustodyError::bad_format("the sealed value is truncated");
        let (&[version, kind], rest) = raw.split_first_chunk::<2>().ok_or_else(truncated)?;
        if version != VERSION {
            return Err(CustodyError::BadFormat(format!("unsupported sealed value version {version}")));
        }
        let (key_ref, rest) = match kind {
            KIND_MASTER => {
                let (id, rest) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
                (KeyRef::Master(KeyId::from_bytes(*id)), rest)
            }
            KIND_DATA => {
                let (id, rest) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
                (KeyRef::Data(i64::from_be_bytes(*id)), rest)
            }
            other => return Err(CustodyError::BadFormat(format!("unknown sealed value kind {other}"))),
        };
        let (nonce, ciphertext) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(truncated)?;
        if ciphertext.len() < TAG_LEN {
            return Err(truncated());
        }
        let header_len = raw.len() - rest.len();
        Ok(Self { key_ref, header: raw[..header_len].to_vec(), nonce: *nonce, ciphertext: ciphertext.to_vec() })
    }

    fn decrypt(&self, key: &[u8], context: &str) -> Result<SecretBytes, CustodyError> {
        let aad = aad(&self.header, context);
        cipher(key)?
            .decrypt(XNonce::from_slice(&self.nonce), Payload { msg: &self.ciphertext, aad: &aad })
            .map(SecretBytes::new)
            .map_err(|_| CustodyError::Tampered { context: context.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_one(id: i64, dek: &SecretBytes) -> impl Fn(i64) -> Option<SecretBytes> + '_ {
        move |asked| (asked == id).then(|| dek.clone())
    }

    #[test]
    fn wrap_unwrap_and_seal_open_round_trip() {
        let set = MasterKeySet::generate();
        let dek = generate_data_key();
        let wrapped = wrap_data_key(&set.current, 7, &dek).unwrap();
        assert!(wrapped.starts_with("wme1."));
        assert_eq!(sealed_key_ref(&wrapped).unwrap(), KeyRef::Master(set.current.id()));
        let unwrapped = unwrap_data_key(&set, 7, &wrapped).unwrap();
        assert_eq!(unwrapped.expose(), dek.expose());

        let sealed = seal(7, &dek, "cloud_credentials.secret#1", b"AKIA... secret").unwrap();
        assert_eq!(sealed_key_ref(&sealed).unwrap(), KeyRef::Data(7));
        let opened = open(lookup_one(7, &unwrapped), "cloud_credentials.secret#1", &sealed).unwrap();
        assert_eq!(opened.expose(), b"AKIA... secret");
        assert!(!sealed.contains("AKIA"));
    }

    #[test]
    fn sealing_twice_gives_different_text() {
        let dek = generate_data_key();
        assert_ne!(seal(1, &dek, "c", b"same").unwrap(), seal(1, &dek, "c", b"same").unwrap());
    }

    #[test]
    fn empty_plaintext_and_negative_ids_work() {
        let dek = generate_data_key();
        let sealed = seal(-3, &dek, "", b"").unwrap();
        assert_eq!(sealed_key_ref(&sealed).unwrap(), KeyRef::Data(-3));
        assert!(open(lookup_one(-3, &dek), "", &sealed).unwrap().expose().is_empty());
    }

    #[test]
    fn wrong_context_fails() {
        let dek = generate_data_key();
        let sealed = seal(1, &dek, "users.ssh_private_key#5", b"key").unwrap();
        let err = open(lookup_one(1, &dek), "users.ssh_private_key#6", &sealed).unwrap_err();
        assert!(matches!(&err, CustodyError::Tampered { context } if context == "users.ssh_private_key#6"), "{err}");

        let set = MasterKeySet::generate();
        let wrapped = wrap_data_key(&set.current, 1, &dek).unwrap();
        assert!(matches!(unwrap_data_key(&set, 2, &wrapped), Err(CustodyError::Tampered { .. })));
    }

    #[test]
    fn wrong_key_fails() {
        let dek = generate_data_key();
        let other = generate_data_key();
        let sealed = seal(1, &dek, "c", b"x").unwrap();
        assert!(matches!(open(lookup_one(1, &other), "c", &sealed), Err(CustodyError::Tampered { .. })));
    }

    #[test]
    fn unknown_keys() {
        let dek = generate_data_key();
        let sealed = seal(9, &dek, "c", b"x").unwrap();
        let err = open(|_| None, "c", &sealed).unwrap_err();
        assert!(matches!(&err, CustodyError::UnknownKey { key_id } if key_id == "9"), "{err}");

        let old = MasterKeySet::generate();
        let wrapped = wrap_data_key(&old.current, 1, &dek).unwrap();
        let unrelated = MasterKeySet::generate();
        let err = unwrap_data_key(&unrelated, 1, &wrapped).unwrap_err();
        assert!(matches!(&err, CustodyError::UnknownKey { key_id } if *key_id == old.current.id().to_string()));
    }

    #[test]
    fn rotation_keeps_old_wraps_readable_until_retired() {
        let set = MasterKeySet::generate();
        let dek = generate_data_key();
        let wrapped_old = wrap_data_key(&set.current, 1, &dek).unwrap();
        let rotated = set.rotate();
        assert_eq!(unwrap_data_key(&rotated, 1, &wrapped_old).unwrap().expose(), dek.expose());
        let rewrapped = wrap_data_key(&rotated.current, 1, &dek).unwrap();
        assert_eq!(sealed_key_ref(&rewrapped).unwrap(), KeyRef::Master(rotated.current.id()));
        let done = rotated.retire_previous();
        assert!(unwrap_data_key(&done, 1, &rewrapped).is_ok());
        assert!(matches!(unwrap_data_key(&done, 1, &wrapped_old), Err(CustodyError::UnknownKey { .. })));
    }

    #[test]
    fn kinds_are_not_interchangeable() {
        let set = MasterKeySet::generate();
        let dek = generate_data_key();
        let wrapped = wrap_data_key(&set.current, 1, &dek).unwrap();
        let sealed = seal(1, &dek, "c", b"x").unwrap();
        assert!(matches!(open(lookup_one(1, &dek), "c", &wrapped), Err(CustodyError::BadFormat(_))));
        assert!(matches!(unwrap_data_key(&set, 1, &sealed), Err(CustodyError::BadFormat(_))));
    }

    #[test]
    fn bad_data_key_length_is_an_error() {
        let short = SecretBytes::new(vec![1; 16]);
        assert!(matches!(seal(1, &short, "c", b"x"), Err(CustodyError::InvalidInput(_))));
        let set = MasterKeySet::generate();
        assert!(matches!(wrap_data_key(&set.current, 1, &short), Err(CustodyError::InvalidInput(_))));
        let dek = generate_data_key();
        let sealed = seal(1, &dek, "c", b"x").unwrap();
        assert!(matches!(open(|_| Some(short.clone()), "c", &sealed), Err(CustodyError::InvalidInput(_))));
    }

    /// Every single flipped bit pattern in every byte of the binary form fails with an error.
    #[test]
    fn every_flipped_byte_fails_without_panic() {
        let dek = generate_data_key();
        let sealed = seal(42, &dek, "users.ssh_key#1", b"-----BEGIN OPENSSH PRIVATE KEY-----").unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&sealed[PREFIX.len()..]).unwrap();
        for index in 0..raw.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = raw.clone();
                bad[index] ^= mask;
                let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&bad));
                let result = open(|_| Some(dek.clone()), "users.ssh_key#1", &text);
                assert!(
                    matches!(result, Err(CustodyError::Tampered { .. } | CustodyError::BadFormat(_))),
                    "byte {index} mask {mask:#x}: {result:?}"
                );
            }
        }
        // With a lookup that knows only id 42, a changed key id is an unknown key.
        for index in 2..10 {
            let mut bad = raw.clone();
            bad[index] ^= 1;
            let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&bad));
            assert!(matches!(
                open(lookup_one(42, &dek), "users.ssh_key#1", &text),
                Err(CustodyError::UnknownKey { .. })
            ));
        }
    }

    /// Flipping any character of the text form, and every truncation, fails with an error.
    #[test]
    fn every_flipped_char_and_truncation_fails_without_panic() {
        let set = MasterKeySet::generate();
        let dek = generate_data_key();
        let wrapped = wrap_data_key(&set.current, 3, &dek).unwrap();
        for index in 0..wrapped.len() {
            let mut bytes = wrapped.clone().into_bytes();
            bytes[index] ^= 0x01;
            let Ok(text) = String::from_utf8(bytes) else { continue };
            let result = unwrap_data_key(&set, 3, &text);
            assert!(result.is_err(), "char {index}");
        }
        for len in 0..wrapped.len() {
            let result = unwrap_data_key(&set, 3, &wrapped[..len]);
            assert!(matches!(result, Err(CustodyError::BadFormat(_) | CustodyError::Tampered { .. })), "len {len}");
        }
        assert!(matches!(sealed_key_ref("garbage"), Err(CustodyError::BadFormat(_))));
        assert!(matches!(sealed_key_ref("wme1."), Err(CustodyError::BadFormat(_))));
        assert!(matches!(sealed_key_ref("wme1.!!!!"), Err(CustodyError::BadFormat(_))));
    }

    #[test]
    fn errors_never_contain_the_plaintext() {
        let dek = generate_data_key();
        let sealed = seal(1, &dek, "ctx", b"TOPSECRETVALUE").unwrap();
        let err = open(lookup_one(1, &generate_data_key()), "ctx", &sealed).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
    }
}
