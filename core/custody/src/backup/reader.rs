//! Reading an encrypted backup.

use std::io::{self, Read};

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::DecryptorBE32;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use zeroize::Zeroizing;

use super::{Header, CHUNK_LEN, HEADER_LEN, LAST_FLAG, TAG_LEN};
use crate::error::CustodyError;
use crate::secret::SecretString;

/// Decrypts a backup while it is read.
///
/// Each 64 KiB chunk is authenticated before any of it is returned, but a damaged or cut
/// archive is only noticed when the reader gets there: restore into a temporary place and
/// keep the result only once `read` returned `Ok(0)` (end of the authenticated archive).
/// Errors are [`std::io::Error`]s wrapping a [`CustodyError`]; get it back with
/// [`CustodyError::from_io_error`].
pub struct BackupReader<R: Read> {
    inner: R,
    header: [u8; HEADER_LEN],
    decryptor: Option<DecryptorBE32<XChaCha20Poly1305>>,
    /// The current chunk, decrypted in place.
    chunk: Zeroizing<Vec<u8>>,
    position: usize,
    chunk_index: u64,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Finished,
    Failed,
}

impl<R: Read> BackupReader<R> {
    /// Reads the header and checks the passphrase ([`CustodyError::WrongPassphrase`]).
    pub fn new(mut inner: R, passphrase: &SecretString) -> Result<Self, CustodyError> {
        let mut bytes = [0u8; HEADER_LEN];
        if read_full(&mut inner, &mut bytes).map_err(CustodyError::StreamIo)? < HEADER_LEN {
            return Err(CustodyError::bad_format("truncated"));
        }
        let header = Header::open(bytes, passphrase)?;
        let aead = XChaCha20Poly1305::new_from_slice(&header.key[..])
            .map_err(|_| CustodyError::InvalidInput("bad backup key length".to_string()))?;
        Ok(Self {
            inner,
            header: header.bytes,
            decryptor: Some(DecryptorBE32::from_aead(aead, &GenericArray::from(header.nonce_prefix))),
            chunk: Zeroizing::new(Vec::with_capacity(CHUNK_LEN + TAG_LEN)),
            position: 0,
            chunk_index: 0,
            state: State::Reading,
        })
    }

    /// Reads, checks and decrypts the next chunk into `self.chunk`.
    fn next_chunk(&mut self) -> Result<(), CustodyError> {
        let index = self.chunk_index;
        let tampered = || CustodyError::Tampered { context: format!("backup chunk {index}") };
        let truncated = || CustodyError::bad_format("truncated");

        let mut frame = [0u8; 4];
        if read_full(&mut self.inner, &mut frame).map_err(CustodyError::StreamIo)? < frame.len() {
            return Err(truncated());
        }
        let frame = u32::from_be_bytes(frame);
        let last = frame & LAST_FLAG != 0;
        let len = (frame & !LAST_FLAG) as usize;
        let valid_len = if last { (TAG_LEN..=CHUNK_LEN + TAG_LEN).contains(&len) } else { len == CHUNK_LEN + TAG_LEN };
        if !valid_len {
            return Err(tampered());
        }

        self.chunk.clear();
        self.chunk.resize(len, 0);
        self.position = 0;
        if read_full(&mut self.inner, &mut self.chunk).map_err(CustodyError::StreamIo)? < len {
            return Err(truncated());
        }
        let opened = if last {
            match self.decryptor.take() {
                Some(decryptor) => decryptor.decrypt_last_in_place(&self.header, &mut *self.chunk),
                None => return Err(tampered()),
            }
        } else {
            match self.decryptor.as_mut() {
                Some(decryptor) => decryptor.decrypt_next_in_place(&self.header, &mut *self.chunk),
                None => return Err(tampered()),
            }
        };
        if opened.is_err() {
            self.chunk.clear();
            return Err(tampered());
        }
        self.chunk_index += 1;
        if last {
            let mut probe = [0u8; 1];
            if read_full(&mut self.inner, &mut probe).map_err(CustodyError::StreamIo)? != 0 {
                self.chunk.clear();
                return Err(CustodyError::bad_format("unexpected data after the end of the backup"));
            }
            self.state = State::Finished;
        }
        Ok(())
    }
}

impl<R: Read> Read for BackupReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.position < self.chunk.len() {
                let n = buf.len().min(self.chunk.len() - self.position);
                buf[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
                self.position += n;
                return Ok(n);
            }
            match self.state {
                State::Finished => return Ok(0),
                State::Failed => return Err(io::Error::other("the backup stream failed earlier")),
                State::Reading => {}
            }
            if buf.is_empty() {
                return Ok(0);
            }
            if let Err(e) = self.next_chunk() {
                self.state = State::Failed;
                return Err(e.into_io_error());
            }
        }
    }
}

/// Reads until `buf` is full or the end of the stream; returns how many bytes were read.
fn read_full<R: Read>(inner: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match inner.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
