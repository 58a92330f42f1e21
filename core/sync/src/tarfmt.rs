//! The tar (POSIX pax) format as the transfer streams use it: written for GNU or BusyBox `tar -x`
//! on the instance, read from GNU `tar --format=posix -c` output. Only what sync needs: regular
//! files and directories, their modes and modification times (with nanoseconds), any names.

use std::io::{self, Read};

use wintermute_api::tar::{cstr, TarError};
pub use wintermute_api::tar::{header, padding, trailer, EntryKind, BLOCK};

#[derive(Debug, Clone)]
pub struct EntryHeader {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub size: u64,
    pub mtime: (i64, u32),
}

/// Reads entries one by one; the caller reads exactly `size` bytes of each file's data through
/// [`TarReader::data`] (or skips it) before asking for the next entry.
pub struct TarReader<R> {
    inner: R,
    /// Data bytes of the current entry not read yet, and its padding.
    left: u64,
    pad: usize,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader { inner, left: 0, pad: 0 }
    }

    /// The next entry, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> io::Result<Option<EntryHeader>> {
        self.skip_rest()?;
        let mut pax_path: Option<String> = None;
        let mut pax_mtime: Option<(i64, u32)> = None;
        let mut pax_size: Option<u64> = None;
        let mut long_name: Option<String> = None;
        loop {
            let mut block = [0u8; BLOCK];
            if !read_full(&mut self.inner, &mut block)? {
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let size = pax_size.take().map_or_else(|| parse_octal(&block[124..136]), Ok)?;
            let kind = block[156];
            match kind {
                b'x' | b'g' | b'L' => {
                    let mut data = vec![0u8; usize::try_from(size).map_err(|_| bad("an oversized header"))?];
                    self.inner.read_exact(&mut data)?;
                    skip(&mut self.inner, padding(size) as u64)?;
                    if kind == b'L' {
                        long_name = Some(String::from_utf8_lossy(&data).trim_end_matches('\0').to_owned());
                    } else if kind == b'x' {
                        for (k, v) in pax_records(&data)? {
                            match k.as_str() {
                                "path" => pax_path = Some(v),
                                "mtime" => pax_mtime = Some(parse_time(&v)?),
                                "size" => pax_size = Some(v.parse().map_err(|_| bad("a pax size"))?),
                                _ => {}
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            let name = cstr(&block[0..100]);
            let prefix = cstr(&block[345..500]);
            let path = pax_path.or(long_name).unwrap_or_else(|| {
                if prefix.is_empty() || &block[257..262] != b"ustar" {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            });
            let mode = parse_octal(&block[100..108])? as u32;
            let mtime = match pax_mtime {
                Some(t) => t,
                None => (parse_octal(&block[136..148])? as i64, 0),
            };
            let kind = match kind {
                b'0' | 0 | b'7' => EntryKind::File,
                b'5' => EntryKind::Dir,
                _ => EntryKind::Other,
            };
            let stored = if kind == EntryKind::Dir { 0 } else { size };
            self.left = stored;
            self.pad = padding(stored);
            let path = path.trim_start_matches("./").trim_end_matches('/').to_owned();
            return Ok(Some(EntryHeader { path, kind, mode: mode & 0o7777, size: stored, mtime }));
        }
    }

    /// Reads the current entry's data into `buf`; 0 at its end.
    pub fn data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ended inside a file"));
        }
        self.left -= n as u64;
        Ok(n)
    }

    fn skip_rest(&mut self) -> io::Result<()> {
        skip(&mut self.inner, self.left + self.pad as u64)?;
        self.left = 0;
        self.pad = 0;
        Ok(())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the archive has {what} that cannot be read"))
}

/// Fills `buf`; false when the stream ended before the first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 if got == 0 => return Ok(false),
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ended inside a header")),
            n => got += n,
        }
    }
    Ok(true)
}

fn skip(r: &mut impl Read, mut n: u64) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    while n > 0 {
        let want = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ended early"));
        }
        n -= got as u64;
    }
    Ok(())
}

fn parse_octal(field: &[u8]) -> io::Result<u64> {
    wintermute_api::tar::parse_octal(field).map_err(invalid)
}

fn parse_time(v: &str) -> io::Result<(i64, u32)> {
    wintermute_api::tar::parse_time(v).map_err(invalid)
}

fn pax_records(data: &[u8]) -> io::Result<Vec<(String, String)>> {
    wintermute_api::tar::pax_records(data).map_err(invalid)
}

fn invalid(e: TarError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// A time as `find -printf %T@` prints it: `seconds.fraction`.
pub fn parse_find_time(v: &str) -> Option<(i64, u32)> {
    parse_time(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_entries_read_back() {
        let long = format!("{}/ünïcødé-{}.txt", "d".repeat(80), "x".repeat(60));
        let mut archive = Vec::new();
        archive.extend(header("dir", true, 0o750, 0, (1_700_000_000, 5)));
        for (name, data, mtime) in
            [("dir/a", b"hello".as_slice(), (1_600_000_000, 123_456_789)), (long.as_str(), b"", (5, 0))]
        {
            archive.extend(header(name, false, 0o640, data.len() as u64, mtime));
            archive.extend_from_slice(data);
            archive.resize(archive.len() + padding(data.len() as u64), 0);
        }
        archive.extend(trailer());
        let mut r = TarReader::new(archive.as_slice());
        let d = r.next_entry().unwrap().unwrap();
        assert_eq!((d.path.as_str(), d.kind, d.mode, d.mtime), ("dir", EntryKind::Dir, 0o750, (1_700_000_000, 5)));
        let a = r.next_entry().unwrap().unwrap();
        assert_eq!((a.path.as_str(), a.size, a.mtime), ("dir/a", 5, (1_600_000_000, 123_456_789)));
        let mut buf = [0u8; 16];
        assert_eq!(r.data(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        let l = r.next_entry().unwrap().unwrap();
        assert_eq!((l.path.as_str(), l.size, l.mtime), (long.as_str(), 0, (5, 0)));
        assert!(r.next_entry().unwrap().is_none());
    }
}
