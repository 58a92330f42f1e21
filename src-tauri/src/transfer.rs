//! Transfers between this computer and an instance run here, in the app, not in the page, with
//! the typed client through the core:
//!
//! - uploads: files read from this computer's disk (chosen in the native picker) are sent with
//!   `PUT /api/v1/instances/{id}/files`, in pieces, resuming a partial copy the instance holds;
//! - downloads: a file comes with `GET …/files/content?offset=` into a partial copy beside its
//!   destination (a cut transfer goes on from the bytes it has), a folder as one tar stream
//!   (`POST …/files/tar`) unpacked as it arrives. Files get the instance's mode and time.
//!
//! Progress goes to the page as `transfer-progress` events.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use wintermute_api::client::{Client, FileMeta};
use wintermute_api::sync::{FileList, RemoteFile};
use wintermute_api::tar::{safe_path, EntryKind, Event, TarError, Unpacker};

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

/// What a download fetches, as the instance listed it.
#[derive(Debug, Clone)]
pub enum Remote {
    /// One file: its directory on the instance and its listing (`path` is its name).
    File { dir: String, file: RemoteFile },
    /// A folder: its path on the instance, its name, and its files (paths under it).
    Folder { dir: String, name: String, files: Vec<RemoteFile> },
}

impl Remote {
    /// The name the download gets here by default.
    pub fn name(&self) -> &str {
        match self {
            Remote::File { file, .. } => &file.path,
            Remote::Folder { name, .. } => name,
        }
    }

    pub fn totals(&self) -> (usize, u64) {
        match self {
            Remote::File { file, .. } => (1, file.size),
            Remote::Folder { files, .. } => (files.len(), files.iter().map(|f| f.size).sum()),
        }
    }
}

/// Lists `source` on the instance: a file or a folder (an error if there is nothing there).
pub async fn remote(client: &Client, instance_id: i64, source: &str) -> Result<Remote, DesktopError> {
    let src = source.trim_end_matches('/');
    let src = if src.is_empty() { "/" } else { src };
    let tree = client.instance_files(instance_id, src).await?;
    let name = src.rsplit('/').next().filter(|n| !n.is_empty() && *n != "~").unwrap_or("files").to_owned();
    match tree.kind.as_str() {
        "file" => {
            let dir = src.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }).to_owned();
            let mut file = tree
                .files
                .into_iter()
                .next()
                .ok_or_else(|| DesktopError::invalid(format!("{source} was not listed by the instance")))?;
            file.path = name;
            Ok(Remote::File { dir, file })
        }
        "dir" => {
            Ok(Remote::Folder { dir: src.to_owned(), name, files: tree.files.into_iter().filter(|f| !f.dir).collect() })
        }
        _ => Err(DesktopError::new(
            crate::error::ErrorKind::Invalid,
            format!("{source} does not exist on instance {instance_id}."),
        )),
    }
}

/// Fetches `remote` to `dest`: a file to that path, a folder's files into that folder (created
/// if needed). Calls `progress(file, files_done, bytes_done)` as data arrives.
pub async fn download(
    client: &Client,
    instance_id: i64,
    remote: &Remote,
    dest: &Path,
    mut progress: impl FnMut(&str, usize, u64),
) -> Result<Summary, DesktopError> {
    let target = dest.display().to_string();
    match remote {
        Remote::File { dir, file } => {
            let path = format!("{}/{}", dir.trim_end_matches('/'), file.path);
            let bytes = fetch_file(client, instance_id, &path, file, dest, |b| progress(&file.path, 0, b)).await?;
            Ok(Summary { files: 1, bytes, target })
        }
        Remote::Folder { dir, files, .. } => {
            std::fs::create_dir_all(dest).map_err(|e| DesktopError::io(dest.display(), e))?;
            if files.is_empty() {
                return Ok(Summary { files: 0, bytes: 0, target });
            }
            let (n, bytes) = fetch_tar(client, instance_id, dir, files, dest, &mut progress).await?;
            Ok(Summary { files: n, bytes, target })
        }
    }
}

/// Tries per file before giving up (each goes on from the bytes already here).
const TRIES: u32 = 3;

/// One file through `…/files/content?offset=` into a partial copy beside `dest`, then put in place.
async fn fetch_file(
    client: &Client,
    instance_id: i64,
    path: &str,
    r: &RemoteFile,
    dest: &Path,
    mut progress: impl FnMut(u64),
) -> Result<u64, DesktopError> {
    let io = |e| DesktopError::io(dest.display(), e);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let part = dest.with_file_name(format!(".{file_name}.{:x}-{:x}.wmpart", r.size, r.mtime));
    let mut last = None;
    for _ in 0..TRIES {
        let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if have > r.size {
            // Not a partial copy of this file: start again.
            std::fs::remove_file(&part).map_err(io)?;
            have = 0;
        }
        progress(have);
        let mut out = std::fs::OpenOptions::new().create(true).append(true).open(&part).map_err(io)?;
        let result: Result<(), DesktopError> = async {
            if have < r.size {
                let mut resp = client.file_content_response(instance_id, path, have).await?;
                while let Some(chunk) = resp.chunk().await.map_err(|e| {
                    DesktopError::new(crate::error::ErrorKind::Unreachable, format!("receiving {path}: {e}"))
                })? {
                    out.write_all(&chunk).map_err(io)?;
                    have += chunk.len() as u64;
                    progress(have);
                }
            }
            Ok(())
        }
        .await;
        out.flush().map_err(io)?;
        drop(out);
        let got = std::fs::metadata(&part).map_err(io)?.len();
        match result {
            Ok(()) if got == r.size => {
                finish(&part, dest, r.mode, (r.mtime, r.mtime_nsec))?;
                return Ok(got);
            }
            Ok(()) => last = Some(DesktopError::invalid(format!("{path}: {got} of {} bytes arrived", r.size))),
            Err(e) if e.kind == crate::error::ErrorKind::Core => return Err(e),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Err(last.unwrap_or_else(|| DesktopError::invalid(format!("{path} could not be received whole"))))
}

/// Gives a received file the instance's mode and time and moves it to its place.
fn finish(tmp: &Path, dest: &Path, mode: u32, mtime: (i64, u32)) -> Result<(), DesktopError> {
    let io = |e| DesktopError::io(dest.display(), e);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(mode & 0o7777)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(u64::try_from(mtime.0).unwrap_or(0), mtime.1);
    let f = std::fs::File::options().write(true).open(tmp).map_err(io)?;
    f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t)).map_err(io)?;
    drop(f);
    std::fs::rename(tmp, dest).map_err(io)
}

struct Incoming {
    tmp: PathBuf,
    dest: PathBuf,
    file: std::fs::File,
    mode: u32,
    mtime: (i64, u32),
}

/// A folder's files as one tar stream, unpacked under `dest` as it arrives.
async fn fetch_tar(
    client: &Client,
    instance_id: i64,
    dir: &str,
    files: &[RemoteFile],
    dest: &Path,
    progress: &mut impl FnMut(&str, usize, u64),
) -> Result<(usize, u64), DesktopError> {
    let list = FileList { path: dir.to_owned(), files: files.iter().map(|f| f.path.clone()).collect() };
    let asked: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut resp = client.files_tar_response(instance_id, &list).await?;
    let mut unpacker = Unpacker::new();
    let mut current: Option<(String, Incoming)> = None;
    let (mut done, mut bytes) = (0usize, 0u64);
    let close = |cur: &mut Option<(String, Incoming)>, done: &mut usize| -> Result<(), DesktopError> {
        if let Some((_, inc)) = cur.take() {
            drop(inc.file);
            finish(&inc.tmp, &inc.dest, inc.mode, inc.mtime)?;
            *done += 1;
        }
        Ok(())
    };
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| DesktopError::new(crate::error::ErrorKind::Unreachable, format!("receiving {dir}: {e}")))?
    {
        unpacker.push(&chunk, |ev| -> Result<(), DesktopError> {
            match ev {
                Event::Entry(e) => {
                    close(&mut current, &mut done)?;
                    if e.kind != EntryKind::File || !asked.contains(e.path.as_str()) || !safe_path(&e.path) {
                        return Err(TarError(format!("holds {:?}, which was not asked for", e.path)).into());
                    }
                    let to = dest.join(&e.path);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(|err| DesktopError::io(parent.display(), err))?;
                    }
                    let name = to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let tmp = to.with_file_name(format!(".{name}.wmpart"));
                    let file = std::fs::File::create(&tmp).map_err(|err| DesktopError::io(tmp.display(), err))?;
                    current = Some((e.path.clone(), Incoming { tmp, dest: to, file, mode: e.mode, mtime: e.mtime }));
                }
                Event::Data(d) => {
                    if let Some((path, inc)) = current.as_mut() {
                        inc.file.write_all(d).map_err(|err| DesktopError::io(inc.tmp.display(), err))?;
                        bytes += d.len() as u64;
                        progress(path, done, bytes);
                    }
                }
            }
            Ok(())
        })?;
    }
    unpacker.finish()?;
    close(&mut current, &mut done)?;
    if done != files.len() {
        return Err(DesktopError::invalid(format!("{done} of the {} files of {dir} arrived", files.len())));
    }
    Ok((done, bytes))
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
