//! A console session's output, numbered by byte offset from the session's start: the part not
//! yet acknowledged by the client (or the last window's worth) is kept, so a client that comes
//! back after a dropped connection gets exactly the bytes it missed.

use std::collections::VecDeque;

/// Output bytes `[base, base + len)`.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    buf: VecDeque<u8>,
    base: u64,
}

/// Capacity kept after the buffer drained (so an idle session holds little memory).
const IDLE_CAPACITY: usize = 4 * 1024;

impl Ring {
    /// Offset of the oldest byte kept.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// Offset one past the newest byte: the total number of bytes ever appended.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend(data);
    }

    /// Forgets the bytes before `offset` (acknowledged by the client).
    pub(crate) fn forget_before(&mut self, offset: u64) {
        let n = offset.saturating_sub(self.base).min(self.buf.len() as u64) as usize;
        if n > 0 {
            self.buf.drain(..n);
            self.base += n as u64;
            if self.buf.len() * 4 < self.buf.capacity() && self.buf.capacity() > IDLE_CAPACITY {
                self.buf.shrink_to(self.buf.len().max(IDLE_CAPACITY));
            }
        }
    }

    /// Keeps only the newest `n` bytes.
    pub(crate) fn keep_last(&mut self, n: u64) {
        let end = self.end();
        self.forget_before(end.saturating_sub(n));
    }

    /// Up to `max` bytes from `from` on (from `base` when `from` is older), with the offset they
    /// start at; `None` when there is nothing from there.
    pub(crate) fn read(&self, from: u64, max: usize) -> Option<(u64, Vec<u8>)> {
        let start = from.max(self.base);
        if start >= self.end() {
            return None;
        }
        let skip = (start - self.base) as usize;
        let take = (self.buf.len() - skip).min(max);
        let (a, b) = self.buf.as_slices();
        let mut out = Vec::with_capacity(take);
        if skip < a.len() {
            let from_a = (a.len() - skip).min(take);
            out.extend_from_slice(&a[skip..skip + from_a]);
            out.extend_from_slice(&b[..take - from_a]);
        } else {
            let s = skip - a.len();
            out.extend_from_slice(&b[s..s + take]);
        }
        Some((start, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_forgetting_and_wrapping() {
        let mut r = Ring::default();
        assert_eq!(r.read(0, 10), None);
        r.push(b"hello ");
        r.push(b"world");
        assert_eq!(r.end(), 11);
        assert_eq!(r.read(0, 5), Some((0, b"hello".to_vec())));
        assert_eq!(r.read(6, 100), Some((6, b"world".to_vec())));
        r.forget_before(6);
        assert_eq!(r.base(), 6);
        // Asking for forgotten bytes starts at the oldest kept one.
        assert_eq!(r.read(2, 100), Some((6, b"world".to_vec())));
        assert_eq!(r.read(11, 100), None);
        // Push and drop many times, so the deque wraps around its storage.
        let mut expected = b"world".to_vec();
        for i in 0..1000u32 {
            let chunk = format!("<{i}>");
            r.push(chunk.as_bytes());
            expected.extend_from_slice(chunk.as_bytes());
            r.keep_last(37);
            let keep = expected.len() - 37.min(expected.len());
            expected.drain(..keep);
            let (start, bytes) = r.read(0, usize::MAX).unwrap();
            assert_eq!(start, r.base());
            assert_eq!(bytes, expected);
            assert_eq!(r.end() - r.base(), expected.len() as u64);
        }
        let mid = r.base() + 10;
        assert_eq!(r.read(mid, 5).unwrap().1, expected[10..15].to_vec());
    }

    #[test]
    fn a_drained_ring_gives_its_memory_back() {
        let mut r = Ring::default();
        r.push(&vec![7u8; 1 << 20]);
        r.forget_before(r.end());
        assert!(r.buf.capacity() < 64 * 1024, "capacity {}", r.buf.capacity());
    }
}
