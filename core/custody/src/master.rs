//! Master keys: the root of the key hierarchy, kept outside the database in a [`crate::KeyStore`].
//!
//! Text encoding (the only way a master key leaves memory), one key per line, current key first:
//!
//! ```text
//! wmk1 <key-id: 16 hex digits> <base64 (standard, padded) of the 32 key bytes>
//! ```
//!
//! Blank lines and lines starting with `#` are ignored when parsing.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::error::CustodyError;
use crate::secret::{Secret, SecretString};

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

const LINE_TAG: &str = "wmk1";

/// The public name of a master key: 8 random bytes, shown as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let mut id = [0u8; 8];
        OsRng.fill_bytes(&mut id);
        Self(id)
    }

    /// The id from its 8 bytes.
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The 8 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = CustodyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 8];
        if s.len() != 16 || hex::decode_to_slice(s, &mut id).is_err() {
            return Err(CustodyError::bad_format("a master key id is 16 hexadecimal digits"));
        }
        Ok(Self(id))
    }
}

/// One master key: 32 random bytes and their id. `Debug` shows only the id.
#[derive(Clone, Debug)]
pub struct MasterKey {
    id: KeyId,
    key: Secret<[u8; MASTER_KEY_LEN]>,
}

impl MasterKey {
    /// A fresh random key with a fresh random id.
    pub fn generate() -> Self {
        let mut key = Secret::new([0u8; MASTER_KEY_LEN]);
        OsRng.fill_bytes(&mut key.inner_mut()[..]);
        Self { id: KeyId::generate(), key }
    }

    /// The key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn key_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        self.key.expose()
    }

    fn encode_line(&self, out: &mut String) {
        let b64 = Zeroizing::new(STANDARD.encode(self.key.expose()));
        out.push_str(LINE_TAG);
        out.push(' ');
        out.push_str(&self.id.to_string());
        out.push(' ');
        out.push_str(&b64);
        out.push('\n');
    }

    fn parse_line(line_no: usize, line: &str) -> Result<Self, CustodyError> {
        let expected = || {
            CustodyError::BadFormat(format!(
                "master key line {line_no}: expected `{LINE_TAG} <16 hex digit key id> <base64 of 32 bytes>`"
            ))
        };
        let mut fields = line.split_whitespace();
        let (Some(tag), Some(id), Some(b64), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(expected());
        };
        if tag != LINE_TAG {
            return Err(CustodyError::BadFormat(format!(
                "master key line {line_no}: unknown format tag (expected `{LINE_TAG}`)"
            )));
        }
        let id = KeyId::from_str(id).map_err(|_| {
            CustodyError::BadFormat(format!("master key line {line_no}: the key id is not 16 hex digits"))
        })?;
        let bytes =
            Zeroizing::new(STANDARD.decode(b64).map_err(|_| {
                CustodyError::BadFormat(format!("master key line {line_no}: the key is not valid base64"))
            })?);
        if bytes.len() != MASTER_KEY_LEN {
            return Err(CustodyError::BadFormat(format!(
                "master key line {line_no}: the key is {} bytes long, expected {MASTER_KEY_LEN}",
                bytes.len()
            )));
        }
        let mut key = Secret::new([0u8; MASTER_KEY_LEN]);
        key.inner_mut().copy_from_slice(&bytes);
        Ok(Self { id, key })
    }
}

/// The current master key, plus previous ones still accepted for opening during a rotation.
#[derive(Clone, Debug)]
pub struct MasterKeySet {
    /// Seals everything new.
    pub current: MasterKey,
    /// Only used to open values sealed before the last rotation; retired once all are re-sealed.
    pub previous: Vec<MasterKey>,
}

impl MasterKeySet {
    /// A set with one fresh key and no previous ones.
    pub fn generate() -> Self {
        Self { current: MasterKey::generate(), previous: Vec::new() }
    }

    /// A new set whose current key is fresh; the old current key goes first in `previous`.
    pub fn rotate(&self) -> Self {
        let mut previous = Vec::with_capacity(self.previous.len() + 1);
        previous.push(self.current.clone());
        previous.extend(self.previous.iter().cloned());
        Self { current: MasterKey::generate(), previous }
    }

    /// A new set holding only the current key (after every data key was re-wrapped with it).
    pub fn retire_previous(&self) -> Self {
        Self { current: self.current.clone(), previous: Vec::new() }
    }

    /// The key with this id, current or previous.
    pub fn get(&self, key_id: &KeyId) -> Option<&MasterKey> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == *key_id)
    }

    /// All keys, current first.
    pub fn iter(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The storage text: one `wmk1` line per key, current first.
    pub fn encode(&self) -> SecretString {
        let mut out = String::with_capacity(80 * (1 + self.previous.len()));
        for key in self.iter() {
            key.encode_line(&mut out);
        }
        SecretString::new(out)
    }

    /// Parses the storage text. Errors name the line but never repeat its content.
    pub fn parse(text: &str) -> Result<Self, CustodyError> {
        let mut keys: Vec<MasterKey> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = MasterKey::parse_line(index + 1, line)?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(CustodyError::BadFormat(format!(
                    "master key line {}: key id {} appears twice",
                    index + 1,
                    key.id
                )));
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or_else(|| CustodyError::bad_format("no master key line (`wmk1 ...`) found"))?;
        Ok(Self { current, previous: keys.collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_round_trip() {
        let set = MasterKeySet::generate().rotate().rotate();
        assert_eq!(set.previous.len(), 2);
        let text = set.encode();
        let lines: Vec<&str> = text.expose().lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(&format!("wmk1 {} ", set.current.id())));
        let parsed = MasterKeySet::parse(text.expose()).unwrap();
        assert_eq!(parsed.current.id(), set.current.id());
        assert_eq!(parsed.current.key_bytes(), set.current.key_bytes());
        let ids: Vec<KeyId> = parsed.previous.iter().map(MasterKey::id).collect();
        assert_eq!(ids, set.previous.iter().map(MasterKey::id).collect::<Vec<_>>());
    }

    #[test]
    fn rotate_and_retire() {
        let first = MasterKeySet::generate();
        let rotated = first.rotate();
        assert_ne!(rotated.current.id(), first.current.id());
        assert_ne!(rotated.current.key_bytes(), first.current.key_bytes());
        assert_eq!(rotated.previous[0].id(), first.current.id());
        assert!(rotated.get(&first.current.id()).is_some());
        assert!(rotated.get(&rotated.current.id()).is_some());
        let retired = rotated.retire_previous();
        assert!(retired.previous.is_empty());
        assert!(retired.get(&first.current.id()).is_none());
        assert_eq!(retired.current.id(), rotated.current.id());
    }

    #[test]
    fn key_id_text() {
        let id = KeyId::from_bytes([0, 1, 2, 3, 0xaa, 0xbb, 0xcc, 0xff]);
        assert_eq!(id.to_string(), "00010203aabbccff");
        assert_eq!("00010203aabbccff".parse::<KeyId>().unwrap(), id);
        assert!("00010203aabbcc".parse::<KeyId>().is_err());
        assert!("00010203aabbccfg".parse::<KeyId>().is_err());
    }

    #[test]
    fn comments_and_blank_lines_are_ignored() {
        let set = MasterKeySet::generate();
        let text = format!("# Wintermute master key\n\n{}\n", set.encode().expose());
        assert_eq!(MasterKeySet::parse(&text).unwrap().current.id(), set.current.id());
    }

    #[test]
    fn parse_errors_are_clear_and_never_echo_the_key() {
        let set = MasterKeySet::generate();
        let text = set.encode();
        let line = text.expose().trim_end();
        let b64 = line.split(' ').nth(2).unwrap().to_string();
        let cases = [
            (String::new(), "no master key line"),
            ("# only a comment\n".to_string(), "no master key line"),
            (line.replace("wmk1", "wmk9"), "unknown format tag"),
            (format!("{line} extra"), "expected `wmk1"),
            (line.replacen(' ', "  ", 1).replace(&b64, ""), "expected `wmk1"),
            (line.replace(&set.current.id().to_string(), "xyz"), "key id"),
            (line.replace(&b64, &format!("{}!", &b64[1..])), "not valid base64"),
            (line.replace(&b64, &STANDARD.encode([1u8; 16])), "16 bytes long"),
            (format!("{line}\n{line}\n"), "appears twice"),
        ];
        for (input, expected) in cases {
            let err = MasterKeySet::parse(&input).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, CustodyError::BadFormat(_)), "{msg}");
            assert!(msg.contains(expected), "{msg:?} should contain {expected:?}");
            assert!(!msg.contains(&b64[..20]), "error leaks the key: {msg}");
        }
    }

    #[test]
    fn debug_hides_key_material() {
        let set = MasterKeySet::generate();
        let text = set.encode();
        let b64 = text.expose().split(' ').nth(2).unwrap().trim();
        let debug = format!("{set:?}");
        assert!(!debug.contains(b64));
        assert!(debug.contains(&set.current.id().to_string()));
        assert!(debug.contains("Secret(***)"));
        assert_eq!(format!("{text:?}"), "Secret(***)");
    }
}
