//! Writing an encrypted backup.

use std::io::{self, Write};

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::EncryptorBE32;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use zeroize::Zeroizing;

use super::{Header, KdfParams, CHUNK_LEN, LAST_FLAG, TAG_LEN};
use crate::error::CustodyError;
use crate::secret::SecretString;

/// Encrypts everything written to it into `inner`. Call [`BackupWriter::finish`] at the end:
/// without it the archive lacks its last chunk and reads as truncated.
pub struct BackupWriter<W: Write> {
    inner: W,
    header: [u8; super::HEADER_LEN],
    encryptor: Option<EncryptorBE32<XChaCha20Poly1305>>,
    /// Plaintext waiting to fill a chunk; encrypted in place (capacity reserved up front,
    /// so no reallocation leaves plaintext behind).
    buffer: Zeroizing<Vec<u8>>,
    failed: bool,
}

impl<W: Write> BackupWriter<W> {
    /// Starts a backup with the default (strong) key derivation parameters; writes the header.
    pub fn new(inner: W, passphrase: &SecretString) -> Result<Self, CustodyError> {
        Self::with_params(inner, passphrase, KdfParams::default())
    }

    /// Starts a backup with these key derivation parameters; writes the header.
    pub fn with_params(mut inner: W, passphrase: &SecretString, params: KdfParams) -> Result<Self, CustodyError> {
        let header = Header::create(passphrase, params)?;
        let aead = XChaCha20Poly1305::new_from_slice(&header.key[..])
            .map_err(|_| CustodyError::InvalidInput("bad backup key length".to_string()))?;
        let encryptor = EncryptorBE32::from_aead(aead, &GenericArray::from(header.nonce_prefix));
        inner.write_all(&header.bytes).map_err(CustodyError::StreamIo)?;
        Ok(Self {
            inner,
            header: header.bytes,
            encryptor: Some(encryptor),
            buffer: Zeroizing::new(Vec::with_capacity(CHUNK_LEN + TAG_LEN)),
            failed: false,
        })
    }

    /// Encrypts the last chunk, flushes, and gives back the inner writer.
    pub fn finish(mut self) -> Result<W, CustodyError> {
        if self.failed {
            return Err(CustodyError::InvalidInput("the backup stream failed earlier".to_string()));
        }
        let encryptor = self.encryptor.take().ok_or_else(|| CustodyError::InvalidInput("already finished".into()))?;
        encryptor
            .encrypt_last_in_place(&self.header, &mut *self.buffer)
            .map_err(|_| CustodyError::InvalidInput("the backup is too large".to_string()))?;
        write_frame(&mut self.inner, true, &self.buffer).map_err(CustodyError::StreamIo)?;
        self.buffer.clear();
        self.inner.flush().map_err(CustodyError::StreamIo)?;
        Ok(self.inner)
    }

    fn write_full_chunk(&mut self) -> io::Result<()> {
        let encryptor = self.encryptor.as_mut().ok_or_else(|| io::Error::other("the backup is already finished"))?;
        encryptor.encrypt_next_in_place(&self.header, &mut *self.buffer).map_err(|_| {
            CustodyError::InvalidInput("the backup is too large (2^32 chunks)".to_string()).into_io_error()
        })?;
        let result = write_frame(&mut self.inner, false, &self.buffer);
        self.buffer.clear();
        result
    }
}

fn write_frame<W: Write>(inner: &mut W, last: bool, ciphertext: &[u8]) -> io::Result<()> {
    let mut frame = ciphertext.len() as u32;
    if last {
        frame |= LAST_FLAG;
    }
    inner.write_all(&frame.to_be_bytes())?;
    inner.write_all(ciphertext)
}

impl<W: Write> Write for BackupWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("the backup stream failed earlier"));
        }
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk is only written once more data follows: the last chunk must be marked.
        if self.buffer.len() == CHUNK_LEN {
            if let Err(e) = self.write_full_chunk() {
                self.failed = true;
                return Err(e);
            }
        }
        let take = data.len().min(CHUNK_LEN - self.buffer.len());
        self.buffer.extend_from_slice(&data[..take]);
        Ok(take)
    }

    /// Flushes the inner writer; buffered plaintext waits for a full chunk or [`BackupWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
