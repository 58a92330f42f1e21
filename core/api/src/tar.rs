//! The tar (POSIX pax) stream of `PUT` and `POST /api/v1/instances/{id}/files/tar`: many files
//! and directories with their modes and modification times in one request. Only regular files
//! and directories; names of any length (pax `path` records), times with nanoseconds.
//!
//! [`header`], [`padding`] and [`trailer`] write a stream; [`Unpacker`] reads one as it arrives,
//! chunk by chunk (no blocking reader needed, so it works in a browser too).

/// The tar block size.
pub const BLOCK: usize = 512;

/// The largest pax extended header read (names are much shorter).
const MAX_EXTENDED: u64 = 1024 * 1024;

/// The header(s) announcing one entry: a pax record block when the name or the time needs one,
/// then the ustar header. A file's `size` bytes of data follow, then [`padding`] zero bytes.
pub fn header(path: &str, dir: bool, mode: u32, size: u64, mtime: (i64, u32)) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK * 3);
    let name = if dir { format!("{path}/") } else { path.to_owned() };
    let mut pax = String::new();
    let name_fits = name.len() < 100 && name.is_ascii();
    if !name_fits {
        pax.push_str(&record("path", &name));
    }
    if mtime.1 != 0 || mtime.0 < 0 {
        pax.push_str(&record("mtime", &format!("{}.{:09}", mtime.0, mtime.1)));
    }
    if size >= 0o77777777777 {
        pax.push_str(&record("size", &size.to_string()));
    }
    if !pax.is_empty() {
        out.extend_from_slice(&ustar(b"PaxHeader", b'x', 0o644, pax.len() as u64, mtime.0.max(0)));
        out.extend_from_slice(pax.as_bytes());
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }
    let short: &[u8] = if name_fits { name.as_bytes() } else { b"pax-named-entry" };
    let stored = if dir || size >= 0o77777777777 { 0 } else { size };
    out.extend_from_slice(&ustar(short, if dir { b'5' } else { b'0' }, mode & 0o7777, stored, mtime.0.max(0)));
    out
}

/// Zero bytes that follow `size` bytes of data up to the next block.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// The end of a stream: two zero blocks.
pub fn trailer() -> [u8; BLOCK * 2] {
    [0; BLOCK * 2]
}

/// Whether `path` is a name an archive may carry: relative, `/`-separated, without `..`.
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && path.split('/').all(|p| p != "..")
        && path.split('/').any(|p| !p.is_empty() && p != ".")
}

/// One pax record: `<length> <key>=<value>\n`, the length counting itself.
fn record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

fn ustar(name: &[u8], kind: u8, mode: u32, size: u64, mtime: i64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime as u64);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    let bytes = text.as_bytes();
    let start = bytes.len().saturating_sub(digits);
    field[..digits].copy_from_slice(&bytes[start..]);
    field[digits] = 0;
}

/// What an archive entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// Links, devices and the like.
    Other,
}

/// One entry's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, without `./` in front or `/` at the end.
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    /// Data bytes (0 for a directory).
    pub size: u64,
    pub mtime: (i64, u32),
}

/// What [`Unpacker::push`] hands on: an entry, then its data in one or more pieces.
#[derive(Debug)]
pub enum Event<'a> {
    Entry(Entry),
    Data(&'a [u8]),
}

/// A stream that cannot be read as tar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the archive {0}")]
pub struct TarError(pub String);

fn bad(what: &str) -> TarError {
    TarError(what.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Extended,
    Data,
    Padding,
    End,
}

/// Reads a tar stream pushed to it in pieces of any size.
#[derive(Debug)]
pub struct Unpacker {
    state: State,
    block: Vec<u8>,
    extended: Vec<u8>,
    extended_kind: u8,
    left: u64,
    pad: u64,
    data_is_file: bool,
    pax_path: Option<String>,
    pax_mtime: Option<(i64, u32)>,
    pax_size: Option<u64>,
    long_name: Option<String>,
}

impl Default for Unpacker {
    fn default() -> Self {
        Unpacker {
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            extended: Vec::new(),
            extended_kind: 0,
            left: 0,
            pad: 0,
            data_is_file: false,
            pax_path: None,
            pax_mtime: None,
            pax_size: None,
            long_name: None,
        }
    }
}

impl Unpacker {
    pub fn new() -> Unpacker {
        Unpacker::default()
    }

    /// Whether the end of the archive was read.
    pub fn ended(&self) -> bool {
        self.state == State::End
    }

    /// Fails unless the archive ended properly (a cut stream).
    pub fn finish(&self) -> Result<(), TarError> {
        if self.ended() {
            Ok(())
        } else {
            Err(bad("ended early (the stream was cut)"))
        }
    }

    /// Reads `data`, handing entries and file data to `on` as they complete. An error of `on`
    /// stops the reading and is returned.
    pub fn push<E: From<TarError>>(
        &mut self,
        mut data: &[u8],
        mut on: impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !data.is_empty() {
            match self.state {
                State::End => return Ok(()),
                State::Header => {
                    let n = (BLOCK - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.block.len() == BLOCK {
                        let block = std::mem::take(&mut self.block);
                        self.block.reserve(BLOCK);
                        if let Some(entry) = self.header(&block)? {
                            on(Event::Entry(entry))?;
                        }
                    }
                }
                State::Extended => {
                    let n = usize::try_from(self.left).unwrap_or(usize::MAX).min(data.len());
                    self.extended.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    self.left -= n as u64;
                    if self.left == 0 {
                        self.extended_done()?;
                    }
                }
                State::Data => {
                    let n = usize::try_from(self.left).unwrap_or(usize::MAX).min(data.len());
                    if self.data_is_file {
                        on(Event::Data(&data[..n]))?;
                    }
                    data = &data[n..];
                    self.left -= n as u64;
                    if self.left == 0 {
                        self.state = if self.pad > 0 { State::Padding } else { State::Header };
                    }
                }
                State::Padding => {
                    let n = usize::try_from(self.pad).unwrap_or(usize::MAX).min(data.len());
                    data = &data[n..];
                    self.pad -= n as u64;
                    if self.pad == 0 {
                        self.state = State::Header;
                    }
                }
            }
        }
        Ok(())
    }

    fn header(&mut self, block: &[u8]) -> Result<Option<Entry>, TarError> {
        if block.iter().all(|&b| b == 0) {
            self.state = State::End;
            return Ok(None);
        }
        let stored_sum = parse_octal(&block[148..156])?;
        let sum: u64 =
            block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
        if sum != stored_sum {
            return Err(bad("has a damaged header (wrong checksum)"));
        }
        let size = match self.pax_size.take() {
            Some(s) => s,
            None => parse_octal(&block[124..136])?,
        };
        let kind = block[156];
        if matches!(kind, b'x' | b'g' | b'L') {
            if size > MAX_EXTENDED {
                return Err(bad("has an oversized extended header"));
            }
            self.extended.clear();
            self.extended_kind = kind;
            self.left = size;
            self.pad = padding(size) as u64;
            self.state = State::Extended;
            if size == 0 {
                self.extended_done()?;
            }
            return Ok(None);
        }
        let name = cstr(&block[0..100]);
        let prefix = cstr(&block[345..500]);
        let path = self.pax_path.take().or(self.long_name.take()).unwrap_or_else(|| {
            if prefix.is_empty() || &block[257..262] != b"ustar" {
                name
            } else {
                format!("{prefix}/{name}")
            }
        });
        let mode = (parse_octal(&block[100..108])? & 0o7777) as u32;
        let mtime = match self.pax_mtime.take() {
            Some(t) => t,
            None => (i64::try_from(parse_octal(&block[136..148])?).unwrap_or(0), 0),
        };
        let kind = match kind {
            b'0' | 0 | b'7' => EntryKind::File,
            b'5' => EntryKind::Dir,
            _ => EntryKind::Other,
        };
        // A directory's or a link's size field carries no data in the archives read here.
        let stored = if kind == EntryKind::File { size } else { 0 };
        self.left = stored;
        self.pad = padding(stored) as u64;
        self.data_is_file = kind == EntryKind::File;
        self.state = if stored > 0 { State::Data } else { State::Header };
        let path = path.trim_start_matches("./").trim_end_matches('/').to_owned();
        Ok(Some(Entry { path, kind, mode, size: stored, mtime }))
    }

    fn extended_done(&mut self) -> Result<(), TarError> {
        let data = std::mem::take(&mut self.extended);
        match self.extended_kind {
            b'L' => self.long_name = Some(String::from_utf8_lossy(&data).trim_end_matches('\0').to_owned()),
            b'x' => {
                for (k, v) in pax_records(&data)? {
                    match k.as_str() {
                        "path" => self.pax_path = Some(v),
                        "mtime" => self.pax_mtime = Some(parse_time(&v)?),
                        "size" => self.pax_size = Some(v.parse().map_err(|_| bad("has a bad pax size"))?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        self.state = if self.pad > 0 { State::Padding } else { State::Header };
        Ok(())
    }
}

/// A NUL-terminated header field as text.
pub fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A numeric header field: octal text, or base-256 for large values (GNU).
pub fn parse_octal(field: &[u8]) -> Result<u64, TarError> {
    // Base-256 for large values (GNU).
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_shl(8).ok_or_else(|| bad("has a bad number"))? | u64::from(b);
        }
        return Ok(v);
    }
    let text = cstr(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| bad("has a bad number"))
}

/// A time as `seconds.fraction` (pax `mtime`, `find -printf %T@`), to seconds and nanoseconds.
pub fn parse_time(v: &str) -> Result<(i64, u32), TarError> {
    let (sec, frac) = v.split_once('.').unwrap_or((v, ""));
    let sec: i64 = sec.parse().map_err(|_| bad("has a bad time"))?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: u32 = digits.parse().map_err(|_| bad("has a bad time"))?;
    Ok((sec, nsec))
}

/// The `key=value` records of a pax extended header.
pub fn pax_records(data: &[u8]) -> Result<Vec<(String, String)>, TarError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && rest[0] != 0 {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(|| bad("has a bad pax record"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("has a bad pax record"))?;
        if len <= space + 1 || len > rest.len() {
            return Err(bad("has a bad pax record"));
        }
        let body = &rest[space + 1..len - 1];
        let eq = body.iter().position(|&b| b == b'=').ok_or_else(|| bad("has a bad pax record"))?;
        out.push((
            String::from_utf8_lossy(&body[..eq]).into_owned(),
            String::from_utf8_lossy(&body[eq + 1..]).into_owned(),
        ));
        rest = &rest[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive() -> (Vec<u8>, String) {
        let long = format!("{}/ünïcødé-{}.txt", "d".repeat(80), "x".repeat(60));
        let mut a = Vec::new();
        a.extend(header("dir", true, 0o750, 0, (1_700_000_000, 5)));
        for (name, data, mtime) in
            [("dir/a", b"hello".as_slice(), (1_600_000_000, 123_456_789)), (long.as_str(), b"", (5, 0))]
        {
            a.extend(header(name, false, 0o640, data.len() as u64, mtime));
            a.extend_from_slice(data);
            a.resize(a.len() + padding(data.len() as u64), 0);
        }
        a.extend(trailer());
        (a, long)
    }

    fn read(a: &[u8], piece: usize) -> Result<Vec<(Entry, Vec<u8>)>, TarError> {
        let mut u = Unpacker::new();
        let mut out: Vec<(Entry, Vec<u8>)> = Vec::new();
        for chunk in a.chunks(piece) {
            u.push(chunk, |ev| {
                match ev {
                    Event::Entry(e) => out.push((e, Vec::new())),
                    Event::Data(d) => out.last_mut().ok_or_else(|| bad("data first"))?.1.extend_from_slice(d),
                }
                Ok::<(), TarError>(())
            })?;
        }
        u.finish()?;
        Ok(out)
    }

    #[test]
    fn written_entries_read_back_in_pieces_of_any_size() {
        let (a, long) = archive();
        for piece in [1, 7, 512, 513, 100_000] {
            let got = read(&a, piece).unwrap();
            assert_eq!(got.len(), 3);
            let (d, _) = &got[0];
            assert_eq!((d.path.as_str(), d.kind, d.mode, d.mtime), ("dir", EntryKind::Dir, 0o750, (1_700_000_000, 5)));
            assert_eq!(got[1].0.path, "dir/a");
            assert_eq!(got[1].0.mtime, (1_600_000_000, 123_456_789));
            assert_eq!(got[1].1, b"hello");
            assert_eq!((got[2].0.path.as_str(), got[2].0.size), (long.as_str(), 0));
        }
    }

    #[test]
    fn cut_or_damaged_streams_are_errors() {
        let (a, _) = archive();
        assert!(read(&a[..a.len() - 1024 - 512], 512).is_err(), "cut before the trailer");
        let mut damaged = a.clone();
        damaged[5] ^= 1;
        assert!(read(&damaged, 512).is_err(), "checksum");
    }

    #[test]
    fn only_relative_paths_inside_are_safe() {
        for ok in ["a", "a/b", "./a", "ü/ä b"] {
            assert!(safe_path(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "a/../../b", "..", ".", "a\0b"] {
            assert!(!safe_path(bad), "{bad}");
        }
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        for v in ["", "x", &"y".repeat(95), &"z".repeat(994)] {
            let r = record("path", v);
            let (len, _) = r.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len());
        }
    }
}
