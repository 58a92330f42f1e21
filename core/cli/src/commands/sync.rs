//! `wmai upload <instance> <source> <target>` and `wmai download <instance> <source> <target>`
//! (manual 7.3.6, 8.3.1.2).
//!
//! By default the core-side path is in your data directory on the core (WMAIS_DATA_BASE_PATH: a
//! full path inside it or a path relative to it), as in the web dialogs: the core runs the
//! transfer as a task — only new or changed files move, partial files resume, failed attempts
//! are retried per WMAIS_DATA_TRANSFER_RETRIES — and this command follows it with a progress
//! bar. `--volume` names a volume instead of an instance (instance paths then relative to its
//! mount point).
//!
//! With `--local` the path on this side is a path on this machine: files stream through the
//! core (which holds the instance's key; this program never sees it), small ones together in tar
//! streams, large ones each resumable from where a cut left it (see [`super::local_sync`]). A
//! trailing `/` on the source means its contents, as for rsync.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use wintermute_api::client::{ClientError, FileMeta};
use wintermute_api::sync::{RemoteFile, RemoteTree, TransferRequest};
use wintermute_api::ErrorCode;

use super::instances::instance_by;
use super::local_sync;
use crate::exit::CliError;
use crate::session::{App, Session};

/// Pieces a file is sent in with `--local`: a cut costs at most one.
const PIECE: u64 = 16 * 1024 * 1024;
/// Tries per file with `--local` before giving up.
const TRIES: u32 = 5;

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The instance (id or name), or with --volume the volume's id
    pub instance: String,
    /// What to send: upload — a path in your data directory on the core (or on this machine with
    /// --local); download — a path on the instance. A trailing `/` means the directory's contents.
    pub source: String,
    /// Where it goes (a directory): upload — a path on the instance; download — a path in your
    /// data directory (or on this machine with --local)
    pub target: String,
    /// The path on this side is on this machine, not in your data directory on the core
    #[arg(long)]
    pub local: bool,
    /// INSTANCE is a volume id; instance paths are relative to its mount point
    #[arg(long, conflicts_with = "local")]
    pub volume: bool,
    /// Delete what is in the target but not in the source
    #[arg(long)]
    pub delete: bool,
    /// Compare files by checksum instead of size and modification time
    #[arg(long)]
    pub checksum: bool,
    /// Start the transfer task and return at once (prints the task)
    #[arg(long, conflicts_with = "local")]
    pub no_wait: bool,
}

pub async fn upload(app: &App, a: TransferArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    if a.local {
        let inst = instance_by(&s, &a.instance).await?;
        return local_sync::upload(&s, inst.id, &a.source, &a.target, options(&a)).await;
    }
    let req = request(&a);
    let task = if a.volume {
        s.client.volume_upload(volume_id(&a.instance)?, &req).await?
    } else {
        let inst = instance_by(&s, &a.instance).await?;
        s.client.upload(inst.id, &req).await?
    };
    finish(&s, &a, task).await
}

pub async fn download(app: &App, a: TransferArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    if a.local {
        let inst = instance_by(&s, &a.instance).await?;
        return local_sync::download(&s, inst.id, &a.source, &a.target, options(&a)).await;
    }
    let req = request(&a);
    let task = if a.volume {
        s.client.volume_download(volume_id(&a.instance)?, &req).await?
    } else {
        let inst = instance_by(&s, &a.instance).await?;
        s.client.download(inst.id, &req).await?
    };
    finish(&s, &a, task).await
}

fn options(a: &TransferArgs) -> local_sync::Options {
    local_sync::Options { delete: a.delete, checksum: a.checksum }
}

fn request(a: &TransferArgs) -> TransferRequest {
    TransferRequest { source: a.source.clone(), target: a.target.clone(), delete: a.delete, checksum: a.checksum }
}

fn volume_id(arg: &str) -> anyhow::Result<i64> {
    arg.parse().map_err(|_| CliError::invalid(format!("--volume takes a volume id, not {arg:?}")).into())
}

async fn finish(s: &Session, a: &TransferArgs, task: wintermute_api::tasks::Task) -> anyhow::Result<()> {
    if a.no_wait {
        if s.json {
            return crate::output::print_json(&task);
        }
        out!("task {} started: {} (wmai tasks follow {})", task.id, task.title, task.id);
        return Ok(());
    }
    crate::follow::follow(s, task.id).await
}

pub(super) fn bar(total: u64, json: bool) -> ProgressBar {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A file or directory of this machine's tree.
pub(super) struct LocalFile {
    pub path: PathBuf,
    pub dir: bool,
    pub size: u64,
    pub mtime: (i64, u32),
    pub mode: u32,
}

impl LocalFile {
    pub fn of(path: PathBuf, m: &fs::Metadata) -> LocalFile {
        LocalFile {
            path,
            dir: m.is_dir(),
            size: if m.is_dir() { 0 } else { m.size() },
            mtime: (m.mtime(), m.mtime_nsec() as u32),
            mode: m.mode() & 0o7777,
        }
    }
}

/// A line on stderr above the progress bar (shown also when the bar is hidden).
fn note(bar: &ProgressBar, line: &str) {
    bar.suspend(|| eprintln!("{line}"));
}

pub(super) fn same(size: u64, mtime: (i64, u32), r: &RemoteFile) -> bool {
    r.size == size && r.mtime == mtime.0 && (r.mtime_nsec == mtime.1 || r.mtime_nsec == 0 || mtime.1 == 0)
}

pub(super) fn join_remote(dir: &str, rel: &str) -> String {
    format!("{}/{rel}", dir.trim_end_matches('/'))
}

/// Sends one file in pieces, resuming a partial copy the instance holds; returns bytes sent.
pub(super) async fn send_file(
    s: &Session,
    id: i64,
    dir: &str,
    rel: &str,
    f: &LocalFile,
    tree: &RemoteTree,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let path = join_remote(dir, rel);
    let meta = FileMeta { size: f.size, mtime: f.mtime.0, mtime_nsec: f.mtime.1, mode: f.mode };
    let mut offset = tree
        .partial
        .iter()
        .find(|p| p.path == rel && p.size == f.size && p.mtime == f.mtime.0)
        .map_or(0, |p| p.bytes.min(f.size));
    bar.inc(offset);
    let mut file = fs::File::open(&f.path).with_context(|| format!("reading {}", f.path.display()))?;
    let mut sent = 0u64;
    let mut tries = 0;
    loop {
        let len = PIECE.min(f.size - offset);
        let mut piece = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut piece).with_context(|| format!("reading {}", f.path.display()))?;
        match s.client.put_file_piece(id, &path, offset, meta, piece).await {
            Ok(p) => {
                bar.inc(p.bytes.saturating_sub(offset));
                sent += p.bytes.saturating_sub(offset);
                offset = p.bytes;
                if p.complete {
                    return Ok(sent);
                }
                tries = 0;
            }
            Err(e) if tries + 1 < TRIES && retryable(&e) => {
                tries += 1;
                note(bar, &format!("{rel}: {e}; resuming"));
                tokio::time::sleep(Duration::from_secs(2)).await;
                // Where the instance's copy stands now: partial copies are listed with the
                // directory they are in (a listing of the file's own path shows none).
                let (parent, name) = path.rsplit_once('/').unwrap_or((".", path.as_str()));
                let now = s.client.instance_files(id, if parent.is_empty() { "/" } else { parent }).await?;
                let at = now
                    .partial
                    .iter()
                    .find(|p| p.path == name && p.size == f.size && p.mtime == f.mtime.0)
                    .map_or(0, |p| p.bytes.min(f.size));
                bar.set_position(bar.position().saturating_sub(offset) + at);
                // What the instance took of the cut piece was sent by this run too.
                sent += at.saturating_sub(offset);
                offset = at;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Api(a) => matches!(a.code, ErrorCode::Conflict | ErrorCode::ServiceUnavailable),
        ClientError::Transport { .. } => true,
        _ => false,
    }
}

pub(super) fn set_mtime(path: &Path, r: &RemoteFile) -> anyhow::Result<()> {
    let t = UNIX_EPOCH + Duration::new(u64::try_from(r.mtime).unwrap_or(0), r.mtime_nsec);
    let f = fs::File::options().read(true).open(path).or_else(|_| fs::File::open(path))?;
    f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))?;
    Ok(())
}

/// Receives one file into a partial copy beside it (resuming one left by a cut), then gives it
/// its mode and time and renames it into place; returns bytes received.
pub(super) async fn fetch_file(
    s: &Session,
    id: i64,
    remote: &str,
    dir: &Path,
    r: &RemoteFile,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let dest = dir.join(&r.path);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let part = dest.with_file_name(format!(".{file_name}.{:x}-{:x}.wmpart", r.size, r.mtime));
    let mut got = 0u64;
    for attempt in 0..TRIES {
        let offset = fs::metadata(&part).map(|m| m.len()).unwrap_or(0).min(r.size);
        if attempt == 0 {
            bar.inc(offset);
        }
        let mut out = fs::OpenOptions::new().create(true).append(true).open(&part)?;
        let result = async {
            if offset < r.size {
                let mut resp = s.client.file_content_response(id, remote, offset).await?;
                while let Some(chunk) = resp.chunk().await.context("receiving the file")? {
                    out.write_all(&chunk)?;
                    bar.inc(chunk.len() as u64);
                    got += chunk.len() as u64;
                }
            }
            anyhow::Ok(())
        }
        .await;
        out.flush()?;
        drop(out);
        let have = fs::metadata(&part)?.len();
        match result {
            Ok(()) if have == r.size => {
                fs::set_permissions(&part, fs::Permissions::from_mode(r.mode))?;
                set_mtime(&part, r)?;
                fs::rename(&part, &dest)?;
                return Ok(got);
            }
            Ok(()) => note(bar, &format!("{}: {have} of {} bytes; resuming", r.path, r.size)),
            Err(e) if attempt + 1 < TRIES => note(bar, &format!("{}: {e:#}; resuming", r.path)),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(CliError::new(crate::exit::Exit::Error, "incomplete", format!("{} could not be received whole", r.path)).into())
}
