//! Encrypted backup archives of any size, written and read as streams.
//!
//! Format (all integers big endian):
//!
//! ```text
//! header (90 bytes):
//!   magic        "WMBACKUP1\n"                      10 bytes
//!   kdf          1 = Argon2id v0x13                  1 byte
//!   m_cost       memory in KiB                       4 bytes
//!   t_cost       iterations                          4 bytes
//!   p_cost       parallelism                         4 bytes
//!   salt                                            16 bytes
//!   nonce prefix STREAM nonce prefix                19 bytes
//!   key check    second half of the Argon2 output   32 bytes
//! frames, one per 64 KiB chunk of plaintext:
//!   u32          bit 31 = last chunk, bits 0..31 = ciphertext length
//!   ciphertext   XChaCha20-Poly1305 STREAM (BE32 counter, last-block flag), chunk + 16-byte tag
//! ```
//!
//! Argon2id turns the passphrase into 64 bytes: the first 32 are the stream key, the last 32
//! are stored as the key check, so a wrong passphrase is told apart from a damaged archive.
//! The whole header is the associated data of every chunk. Every chunk but the last holds
//! exactly 64 KiB; the last one (possibly empty) is marked both in its frame and in its nonce,
//! so cutting the archive anywhere is detected.

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::BackupReader;
pub use writer::BackupWriter;

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::CustodyError;
use crate::secret::SecretString;

const MAGIC: &[u8; 10] = b"WMBACKUP1\n";
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_PREFIX_LEN: usize = 19;
const CHECK_LEN: usize = 32;
const KEY_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + 1 + 12 + SALT_LEN + NONCE_PREFIX_LEN + CHECK_LEN;

/// Plaintext bytes per chunk.
const CHUNK_LEN: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const LAST_FLAG: u32 = 1 << 31;

/// Upper bounds accepted when reading, so a damaged header cannot demand absurd work.
const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 100;
const MAX_P_COST: u32 = 64;

/// Argon2id cost parameters of a backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism (lanes).
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 iterations, 1 lane.
    fn default() -> Self {
        Self { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1 }
    }
}

impl KdfParams {
    /// Cheap parameters for tests only: they make passphrases easy to guess.
    pub fn insecure_for_tests() -> Self {
        Self { m_cost_kib: 8, t_cost: 1, p_cost: 1 }
    }

    fn argon2(&self) -> Result<Argon2<'static>, CustodyError> {
        if self.m_cost_kib > MAX_M_COST_KIB || self.t_cost > MAX_T_COST || self.p_cost > MAX_P_COST {
            return Err(CustodyError::bad_format("the backup's key derivation parameters are out of range"));
        }
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(KEY_LEN + CHECK_LEN))
            .map_err(|e| CustodyError::BadFormat(format!("invalid key derivation parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The parsed header and the keys derived from it.
struct Header {
    bytes: [u8; HEADER_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl Header {
    /// A new header with a random salt and nonce prefix.
    fn create(passphrase: &SecretString, params: KdfParams) -> Result<Self, CustodyError> {
        use rand::RngCore as _;
        if passphrase.expose().is_empty() {
            return Err(CustodyError::InvalidInput("a backup needs a non-empty passphrase".to_string()));
        }
        let mut salt = [0u8; SALT_LEN];
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce_prefix);
        let (key, check) = derive(passphrase, &params, &salt)?;

        let mut bytes = [0u8; HEADER_LEN];
        let mut at = 0;
        for part in [
            &MAGIC[..],
            &[KDF_ARGON2ID],
            &params.m_cost_kib.to_be_bytes(),
            &params.t_cost.to_be_bytes(),
            &params.p_cost.to_be_bytes(),
            &salt,
            &nonce_prefix,
            &check[..],
        ] {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Ok(Self { bytes, nonce_prefix, key })
    }

    /// Parses `bytes` and derives the key; a key check mismatch is a wrong passphrase.
    fn open(bytes: [u8; HEADER_LEN], passphrase: &SecretString) -> Result<Self, CustodyError> {
        let (magic, rest) = bytes.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(CustodyError::bad_format("not a Wintermute backup (bad magic bytes)"));
        }
        let (&kdf, rest) = rest.split_first().ok_or_else(|| CustodyError::bad_format("truncated"))?;
        if kdf != KDF_ARGON2ID {
            return Err(CustodyError::BadFormat(format!("unknown key derivation function {kdf}")));
        }
        let u32_at = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let params = KdfParams { m_cost_kib: u32_at(0), t_cost: u32_at(4), p_cost: u32_at(8) };
        let rest = &rest[12..];
        let (salt, rest) = rest.split_at(SALT_LEN);
        let (prefix, stored_check) = rest.split_at(NONCE_PREFIX_LEN);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(prefix);

        let (key, check) = derive(passphrase, &params, salt)?;
        let difference = check.iter().zip(stored_check).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference != 0 {
            return Err(CustodyError::WrongPassphrase);
        }
        Ok(Self { bytes, nonce_prefix, key })
    }
}

/// Argon2id(passphrase, salt) → (stream key, key check).
#[allow(clippy::type_complexity)]
fn derive(
    passphrase: &SecretString,
    params: &KdfParams,
    salt: &[u8],
) -> Result<(Zeroizing<[u8; KEY_LEN]>, Zeroizing<[u8; CHECK_LEN]>), CustodyError> {
    let mut out = Zeroizing::new([0u8; KEY_LEN + CHECK_LEN]);
    params
        .argon2()?
        .hash_password_into(passphrase.expose().as_bytes(), salt, &mut out[..])
        .map_err(|e| CustodyError::BadFormat(format!("key derivation failed: {e}")))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let mut check = Zeroizing::new([0u8; CHECK_LEN]);
    key.copy_from_slice(&out[..KEY_LEN]);
    check.copy_from_slice(&out[KEY_LEN..]);
    Ok((key, check))
}
