//! Workstation → instance transfers run here, in the app, not in the page: the files are read
//! from this computer's disk (chosen in the native picker) and sent through the core with the
//! typed client (`PUT /api/v1/instances/{id}/files`, in pieces, resuming a partial copy the
//! instance already holds). Progress goes to the page as `transfer-progress` events.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use wintermute_api::client::{Client, FileMeta};

use crate::error::DesktopError;

/// Bytes per request.
const PIECE: u64 = 4 * 1024 * 1024;

/// One file to send: where it is here, and its path under the target folder on the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub path: PathBuf,
    pub size: u64,
    pub mtime: (i64, u32),
    pub mode: u32,
}

/// Progress of one transfer, as the page receives it.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub transfer: String,
    pub instance_id: i64,
    /// The file being sent now (its path under the target folder).
    pub file: String,
    pub files_done: usize,
    pub files_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub finished: bool,
}

/// What a finished transfer did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    /// Where the files went on the instance.
    pub target: String,
}

/// The files of `sources` (files, and folders walked whole; symlinks are never followed), keyed
/// by their path under the target folder: a file by its name, a folder's files under the
/// folder's name.
pub fn collect(sources: &[PathBuf]) -> Result<BTreeMap<String, LocalFile>, DesktopError> {
    let mut out = BTreeMap::new();
    for src in sources {
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| DesktopError::invalid(format!("{} has no name", src.display())))?;
        let meta = std::fs::symlink_metadata(src).map_err(|e| DesktopError::io(src.display(), e))?;
        if meta.is_file() {
            out.insert(name, local_file(src, &meta));
        } else if meta.is_dir() {
            walk(src, &name, &mut out)?;
        } else {
            return Err(DesktopError::invalid(format!("{} is neither a file nor a folder", src.display())));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, LocalFile>) -> Result<(), DesktopError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DesktopError::io(dir.display(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DesktopError::io(dir.display(), e))?;
        let meta = std::fs::symlink_metadata(entry.path()).map_err(|e| DesktopError::io(entry.path().display(), e))?;
        let rel = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        if meta.is_file() {
            out.insert(rel, local_file(&entry.path(), &meta));
        } else if meta.is_dir() {
            walk(&entry.path(), &rel, out)?;
        } else {
            tracing::info!("skipped {}: not a file or folder (symlinks are never sent)", entry.path().display());
        }
    }
    Ok(())
}

#[cfg(unix)]
fn local_file(path: &Path, m: &std::fs::Metadata) -> LocalFile {
    use std::os::unix::fs::MetadataExt;
    LocalFile {
        path: path.to_owned(),
        size: m.size(),
        mtime: (m.mtime(), u32::try_from(m.mtime_nsec()).unwrap_or(0)),
        mode: m.mode() & 0o7777,
    }
}

#[cfg(not(unix))]
fn local_file(path: &Path, m: &std::fs::Metadata) -> LocalFile {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or((0, 0), |d| (i64::try_from(d.as_secs()).unwrap_or(0), d.subsec_nanos()));
    LocalFile {
        path: path.to_owned(),
        size: m.len(),
        mtime,
        mode: if m.permissions().readonly() { 0o444 } else { 0o644 },
    }
}

/// Sends `files` to the folder `target` on the instance, calling `progress` after every piece.
pub async fn upload(
    client: &Client,
    instance_id: i64,
    target: &str,
    files: &BTreeMap<String, LocalFile>,
    mut progress: impl FnMut(&str, usize, u64),
) -> Result<Summary, DesktopError> {
    let target = target.trim_end_matches('/');
    let target = if target.is_empty() { "~" } else { target };
    let tree = client.instance_files(instance_id, target).await?;
    let mut bytes_done = 0u64;
    for (n, (rel, f)) in files.iter().enumerate() {
        let path = format!("{target}/{rel}");
        let meta = FileMeta { size: f.size, mtime: f.mtime.0, mtime_nsec: f.mtime.1, mode: f.mode };
        // A partial copy of this same file left by a cut transfer: go on from there.
        let mut offset = tree
            .partial
            .iter()
            .find(|p| p.path == *rel && p.size == f.size && p.mtime == f.mtime.0)
            .map_or(0, |p| p.bytes.min(f.size));
        let mut file = std::fs::File::open(&f.path).map_err(|e| DesktopError::io(f.path.display(), e))?;
        loop {
            let len = PIECE.min(f.size - offset);
            let mut piece = vec![0u8; usize::try_from(len).unwrap_or(0)];
            file.seek(SeekFrom::Start(offset)).map_err(|e| DesktopError::io(f.path.display(), e))?;
            file.read_exact(&mut piece).map_err(|e| DesktopError::io(f.path.display(), e))?;
            let done = client.put_file_piece(instance_id, &path, offset, meta, piece).await?;
            bytes_done += done.bytes.saturating_sub(offset);
            offset = done.bytes;
            progress(rel, n, bytes_done);
            if done.complete {
                break;
            }
        }
    }
    Ok(Summary { files: files.len(), bytes: bytes_done, target: target.to_owned() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_and_folders_are_collected_under_their_names_without_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, b"hello").unwrap();
        let folder = dir.path().join("results");
        std::fs::create_dir_all(folder.join("deep")).unwrap();
        std::fs::write(folder.join("deep/b.csv"), b"1,2,3\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&a, folder.join("link")).unwrap();
        let files = collect(&[a.clone(), folder]).unwrap();
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(names, ["a.txt", "results/deep/b.csv"]);
        assert_eq!(files["a.txt"].size, 5);
        assert!(collect(&[dir.path().join("missing")]).is_err());
    }
}
