//! Console recordings as asciicast v2 files (`<data dir>/recordings/<session>.cast`, mode 0600):
//! a JSON header line, then one `[seconds, "o", "text"]` line per chunk of output and
//! `[seconds, "r", "COLSxROWS"]` per window size change. What is typed is not recorded (it would
//! capture passwords typed at prompts that do not echo).
//!
//! One thread writes every session's file, fed through a bounded queue: sessions stay tokio tasks
//! that never block on the disk, and a slow disk slows the sessions down (the queue fills)
//! rather than growing memory. Files are flushed whenever the queue runs empty.
//!
//! asciicast stores text: output is decoded as UTF-8 across chunk boundaries; bytes that are not
//! UTF-8 become U+FFFD, as asciinema's own recorder does.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// Operations queued before sessions wait for the writer.
const QUEUE: usize = 4096;

/// What a session asks the writer to do.
enum Op {
    Open { id: i64, path: PathBuf, header: String, done: oneshot::Sender<Result<(), String>> },
    Output { id: i64, at: f64, data: Bytes },
    Resize { id: i64, at: f64, cols: u32, rows: u32 },
    Finish { id: i64, done: oneshot::Sender<u64> },
}

/// The handle sessions write recordings through.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Op>,
}

/// The header line of a recording.
pub(crate) struct CastHeader<'a> {
    pub cols: u32,
    pub rows: u32,
    pub started_unix: i64,
    pub term: &'a str,
    pub title: &'a str,
    pub command: Option<&'a str>,
}

impl CastHeader<'_> {
    fn line(&self) -> String {
        let mut header = serde_json::json!({
            "version": 2,
            "width": self.cols,
            "height": self.rows,
            "timestamp": self.started_unix,
            "env": {"TERM": self.term},
            "title": self.title,
        });
        if let (Some(c), Some(obj)) = (self.command, header.as_object_mut()) {
            obj.insert("command".into(), serde_json::Value::String(c.to_owned()));
        }
        header.to_string()
    }
}

impl Recorder {
    /// Starts the writer thread.
    pub(crate) fn start() -> std::io::Result<Recorder> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("console-recorder".into()).spawn(move || run(rx))?;
        Ok(Recorder { tx })
    }

    /// Creates the file (and its directory, 0700) and writes the header.
    pub(crate) async fn open(&self, id: i64, path: &Path, header: &CastHeader<'_>) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        let op = Op::Open { id, path: path.to_owned(), header: header.line(), done };
        self.tx.send(op).await.map_err(|_| "the recording writer has stopped".to_owned())?;
        result.await.map_err(|_| "the recording writer has stopped".to_owned())?
    }

    /// Appends output seen `at` seconds after the start.
    pub(crate) async fn output(&self, id: i64, at: f64, data: Bytes) {
        let _ = self.tx.send(Op::Output { id, at, data }).await;
    }

    pub(crate) async fn resize(&self, id: i64, at: f64, cols: u32, rows: u32) {
        let _ = self.tx.send(Op::Resize { id, at, cols, rows }).await;
    }

    /// Flushes and closes the file; returns its size.
    pub(crate) async fn finish(&self, id: i64) -> u64 {
        let (done, size) = oneshot::channel();
        if self.tx.send(Op::Finish { id, done }).await.is_err() {
            return 0;
        }
        size.await.unwrap_or(0)
    }
}

/// One open recording.
struct Cast {
    path: PathBuf,
    out: BufWriter<File>,
    /// The start of a UTF-8 sequence cut off at the end of the last chunk.
    carry: Vec<u8>,
    /// Time of the last event, in seconds.
    last_at: f64,
    dirty: bool,
    failed: bool,
}

impl Cast {
    fn write_line(&mut self, line: &str) {
        if self.failed {
            return;
        }
        if let Err(e) = self.out.write_all(line.as_bytes()).and_then(|()| self.out.write_all(b"\n")) {
            tracing::warn!(path = %self.path.display(), "writing a console recording failed: {e}; the rest is lost");
            self.failed = true;
        }
        self.dirty = true;
    }

    fn flush(&mut self) {
        if self.dirty && !self.failed {
            if let Err(e) = self.out.flush() {
                tracing::warn!(path = %self.path.display(), "flushing a console recording failed: {e}");
                self.failed = true;
            }
        }
        self.dirty = false;
    }
}

fn run(mut rx: mpsc::Receiver<Op>) {
    let mut casts: HashMap<i64, Cast> = HashMap::new();
    loop {
        let op = match rx.try_recv() {
            Ok(op) => op,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Idle: make what was written visible before waiting.
                casts.values_mut().for_each(Cast::flush);
                match rx.blocking_recv() {
                    Some(op) => op,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        match op {
            Op::Open { id, path, header, done } => {
                let result = create(&path).map(|file| {
                    let mut cast = Cast {
                        path,
                        out: BufWriter::with_capacity(16 * 1024, file),
                        carry: Vec::new(),
                        last_at: 0.0,
                        dirty: false,
                        failed: false,
                    };
                    cast.write_line(&header);
                    cast.flush();
                    casts.insert(id, cast);
                });
                let _ = done.send(result.map_err(|e| e.to_string()));
            }
            Op::Output { id, at, data } => {
                if let Some(cast) = casts.get_mut(&id) {
                    cast.last_at = at;
                    let text = decode(&mut cast.carry, &data);
                    if !text.is_empty() {
                        let line = format!("[{at:.6}, \"o\", {}]", json_string(&text));
                        cast.write_line(&line);
                    }
                }
            }
            Op::Resize { id, at, cols, rows } => {
                if let Some(cast) = casts.get_mut(&id) {
                    cast.write_line(&format!("[{at:.6}, \"r\", \"{cols}x{rows}\"]"));
                }
            }
            Op::Finish { id, done } => {
                let size = match casts.remove(&id) {
                    Some(mut cast) => {
                        if !cast.carry.is_empty() {
                            // A sequence that never completed.
                            cast.write_line(&format!("[{:.6}, \"o\", \"\u{FFFD}\"]", cast.last_at));
                        }
                        cast.flush();
                        std::fs::metadata(&cast.path).map(|m| m.len()).unwrap_or(0)
                    }
                    None => 0,
                };
                let _ = done.send(size);
            }
        }
    }
    casts.values_mut().for_each(Cast::flush);
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Creates a new file readable by the core's user only, in a directory only it may enter.
fn create(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Text of `data` after the bytes carried over from the last chunk; an incomplete sequence at
/// the end is carried to the next one, invalid bytes become U+FFFD.
fn decode(carry: &mut Vec<u8>, data: &[u8]) -> String {
    let mut bytes = std::mem::take(carry);
    bytes.extend_from_slice(data);
    let mut out = String::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        out.push('\u{FFFD}');
                        rest = &after[n..];
                    }
                    None => {
                        carry.extend_from_slice(after);
                        break;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_chunks_is_kept_whole() {
        let text = "grüße → 世界 ✓";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut carry = Vec::new();
            let mut out = decode(&mut carry, &bytes[..cut]);
            out.push_str(&decode(&mut carry, &bytes[cut..]));
            assert_eq!(out, text, "cut at {cut}");
            assert!(carry.is_empty());
        }
        let mut carry = Vec::new();
        assert_eq!(decode(&mut carry, b"a\xffb\xc3"), "a\u{FFFD}b");
        assert_eq!(carry, b"\xc3");
    }

    #[tokio::test]
    async fn a_recording_is_a_valid_asciicast_readable_only_by_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recordings/1.cast");
        let rec = Recorder::start().unwrap();
        let header =
            CastHeader { cols: 80, rows: 24, started_unix: 1_700_000_000, term: "xterm", title: "t", command: None };
        rec.open(1, &path, &header).await.unwrap();
        rec.output(1, 0.5, Bytes::from_static(b"hello \xe4")).await;
        rec.output(1, 0.75, Bytes::from_static(b"\xb8\x96\r\n")).await;
        rec.resize(1, 1.0, 100, 40).await;
        let size = rec.finish(1).await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(size, text.len() as u64);
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[1], serde_json::json!([0.5, "o", "hello "]));
        assert_eq!(lines[2], serde_json::json!([0.75, "o", "世\r\n"]));
        assert_eq!(lines[3], serde_json::json!([1.0, "r", "100x40"]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert!(rec.open(1, &path, &header).await.is_err(), "never overwrites a recording");
    }
}
