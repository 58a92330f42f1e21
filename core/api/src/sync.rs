//! Data sync (manual 7.3.6 Upload/Download, 7.4.1): moving files between the user's data
//! directory on the core and an instance, and between a workstation and an instance through the
//! core.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/instances/{id}/upload`, `/download`, and the same on `/api/v1/volumes/{id}`.
///
/// For an upload `source` is in the caller's data directory on the core (WMAIS_DATA_BASE_PATH:
/// a full path inside it or a path relative to it) and `target` a path on the instance; for a
/// download the other way round. A trailing `/` on the source means its contents (as rsync reads
/// it): `deck1/` to `/mnt/data/` puts deck1's files in /mnt/data, `deck1` puts the directory
/// deck1 there. The target is always a directory. On a volume, the instance path is relative to
/// the volume's mount point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub source: String,
    pub target: String,
    /// Delete what is in the target but not in the source.
    #[serde(default)]
    pub delete: bool,
    /// Compare files by SHA-256 instead of size and modification time.
    #[serde(default)]
    pub checksum: bool,
}

/// What a finished transfer task did (the `result` a task of kind `instance.transfer` logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransferSummary {
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub files_unchanged: u64,
    pub deleted: u64,
    pub attempts: u32,
    /// How many paths were left out (the length of `skipped`).
    #[serde(default)]
    pub files_skipped: u64,
    /// Paths left out (symlinks, files you may not read, names that are not UTF-8), with the
    /// reason.
    pub skipped: Vec<String>,
}

/// One file of a workstation directory, as `GET /api/v1/instances/{id}/files?path=` lists it
/// and as a workstation describes what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoteFile {
    /// Relative to the listed directory, `/`-separated.
    pub path: String,
    pub dir: bool,
    pub size: u64,
    /// Seconds since 1970 and nanoseconds.
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Permission bits (e.g. 420 for 0644).
    pub mode: u32,
}

/// `GET /api/v1/instances/{id}/files?path=` — the tree under a path on the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoteTree {
    /// `dir`, `file` or `missing`.
    pub kind: String,
    pub files: Vec<RemoteFile>,
    /// Partial copies left by cut uploads: path (as in `files`) -> bytes so far, for resuming.
    pub partial: Vec<PartialFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartialFile {
    pub path: String,
    pub size: u64,
    pub mtime: i64,
    pub bytes: u64,
}

/// The answer of `PUT /api/v1/instances/{id}/files`: how many bytes of the file the instance
/// holds now, and whether it is complete (then it is in place with its mode and time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileProgress {
    pub bytes: u64,
    pub complete: bool,
}

/// Names under a directory of an instance: what `POST /api/v1/instances/{id}/files/tar` packs,
/// `…/files/delete` deletes and `…/files/sums` sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileList {
    /// A full path on the instance (or `~/…`): the directory the names are relative to.
    pub path: String,
    /// Relative, `/`-separated paths (no `..`); at most 100,000.
    pub files: Vec<String>,
}

/// The answer of `PUT /api/v1/instances/{id}/files/tar`: what the instance unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TarUpload {
    pub files: u64,
    pub dirs: u64,
    /// File data bytes.
    pub bytes: u64,
}

/// The answer of `POST /api/v1/instances/{id}/files/sums`: the SHA-256 (hex) of each file, in
/// the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileSums {
    pub sums: Vec<String>,
}

/// The answer of `POST /api/v1/instances/{id}/files/delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

/// Bytes for people, in powers of 1000: `512 B`, `1.5 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A transfer's progress for people, from (done, total) files and bytes after `secs` seconds:
/// "3 of 5 files, 1.0 MB of 2.0 MB, 500.0 KB/s, 0:02 left".
pub fn progress_text(files: (u64, u64), bytes: (u64, u64), secs: f64) -> String {
    let rate = bytes.0 as f64 / secs.max(0.001);
    let left = if rate > 0.0 { (bytes.1.saturating_sub(bytes.0) as f64 / rate) as u64 } else { 0 };
    format!(
        "{} of {} files, {} of {}, {}/s, {}:{:02} left",
        files.0,
        files.1,
        human_bytes(bytes.0),
        human_bytes(bytes.1),
        human_bytes(rate as u64),
        left / 60,
        left % 60
    )
}
