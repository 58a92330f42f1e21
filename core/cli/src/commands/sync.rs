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
//! core (which holds the instance's key; this program never sees it), each resumable from where
//! a cut left it. A trailing `/` on the source means its contents, as for rsync.

use std::collections::BTreeMap;
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
    #[arg(long, conflicts_with = "local")]
    pub delete: bool,
    /// Compare files by checksum instead of size and modification time
    #[arg(long, conflicts_with = "local")]
    pub checksum: bool,
    /// Start the transfer task and return at once (prints the task)
    #[arg(long, conflicts_with = "local")]
    pub no_wait: bool,
}

pub async fn upload(app: &App, a: TransferArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    if a.local {
        let inst = instance_by(&s, &a.instance).await?;
        return local_upload(&s, inst.id, &a.source, &a.target).await;
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
        return local_download(&s, inst.id, &a.source, &a.target).await;
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

fn bar(total: u64, json: bool) -> ProgressBar {
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

/// A file of this machine's tree.
struct LocalFile {
    path: PathBuf,
    size: u64,
    mtime: (i64, u32),
    mode: u32,
}

/// Regular files under `top` by relative path; symlinks are skipped (and named).
fn walk(top: &Path) -> anyhow::Result<BTreeMap<String, LocalFile>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![(top.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let m = fs::symlink_metadata(e.path())?;
            if m.is_dir() {
                stack.push((e.path(), r));
            } else if m.is_file() {
                let mtime = (m.mtime(), m.mtime_nsec() as u32);
                files.insert(r, LocalFile { path: e.path(), size: m.size(), mtime, mode: m.mode() & 0o7777 });
            } else {
                eprintln!("skipped {}: not a regular file or directory (symlinks are never sent)", e.path().display());
            }
        }
    }
    Ok(files)
}

fn same(size: u64, mtime: (i64, u32), r: &RemoteFile) -> bool {
    r.size == size && r.mtime == mtime.0 && (r.mtime_nsec == mtime.1 || r.mtime_nsec == 0 || mtime.1 == 0)
}

fn join_remote(dir: &str, rel: &str) -> String {
    format!("{}/{rel}", dir.trim_end_matches('/'))
}

async fn local_upload(s: &Session, id: i64, source: &str, target: &str) -> anyhow::Result<()> {
    let src = Path::new(source);
    let meta = fs::symlink_metadata(src).with_context(|| format!("reading {source}"))?;
    let target = target.trim_end_matches('/').to_owned();
    let (files, remote_dir) = if meta.is_file() {
        let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let f = LocalFile {
            path: src.to_owned(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec() as u32),
            mode: meta.mode() & 0o7777,
        };
        (BTreeMap::from([(name, f)]), target)
    } else if meta.is_dir() {
        let files = walk(src)?;
        let dir = if source.ends_with('/') {
            target
        } else {
            let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            join_remote(&target, &name)
        };
        (files, dir)
    } else {
        return Err(CliError::invalid(format!("{source} is neither a file nor a directory")).into());
    };
    let tree = s.client.instance_files(id, &remote_dir).await?;
    let remote: BTreeMap<&str, &RemoteFile> = tree.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let todo: Vec<(&String, &LocalFile)> = files
        .iter()
        .filter(|(rel, f)| !remote.get(rel.as_str()).is_some_and(|r| !r.dir && same(f.size, f.mtime, r)))
        .collect();
    let total: u64 = todo.iter().map(|(_, f)| f.size).sum();
    let bar = bar(total, s.json);
    let mut sent = 0u64;
    for (rel, f) in &todo {
        bar.set_message(rel.to_string());
        sent += send_file(s, id, &remote_dir, rel, f, &tree, &bar).await?;
    }
    bar.finish_and_clear();
    let unchanged = files.len() - todo.len();
    super::done(s.json, format!("{} files sent ({sent} bytes), {unchanged} unchanged", todo.len()));
    if s.json {
        crate::output::print_json(
            &serde_json::json!({"files_sent": todo.len(), "bytes_sent": sent, "unchanged": unchanged}),
        )?;
    }
    Ok(())
}

/// Sends one file in pieces, resuming a partial copy the instance holds; returns bytes sent.
async fn send_file(
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
                bar.println(format!("{rel}: {e}; resuming"));
                tokio::time::sleep(Duration::from_secs(2)).await;
                // Where the instance's copy stands now.
                let now = s.client.instance_files(id, &path).await?;
                let at = now.partial.iter().find(|p| p.size == f.size && p.mtime == f.mtime.0).map_or(0, |p| p.bytes);
                bar.set_position(bar.position().saturating_sub(offset) + at);
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

async fn local_download(s: &Session, id: i64, source: &str, target: &str) -> anyhow::Result<()> {
    let tree = s.client.instance_files(id, source).await?;
    let src = source.trim_end_matches('/');
    let name = src.rsplit('/').next().unwrap_or(src).to_owned();
    let (remote_dir, local_dir, files): (String, PathBuf, Vec<RemoteFile>) = match tree.kind.as_str() {
        "missing" => return Err(CliError::not_found(format!("{source} does not exist on the instance")).into()),
        "file" => {
            let dir = src.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }).to_owned();
            let f = tree.files.into_iter().map(|mut f| {
                f.path = name.clone();
                f
            });
            (dir, PathBuf::from(target), f.collect())
        }
        _ if source.ends_with('/') => (src.to_owned(), PathBuf::from(target), tree.files),
        _ => (src.to_owned(), Path::new(target).join(&name), tree.files),
    };
    fs::create_dir_all(&local_dir).with_context(|| format!("making {}", local_dir.display()))?;
    let todo: Vec<&RemoteFile> = files
        .iter()
        .filter(|r| !r.dir)
        .filter(|r| {
            let Ok(m) = fs::symlink_metadata(local_dir.join(&r.path)) else { return true };
            !(m.is_file() && same(m.size(), (m.mtime(), m.mtime_nsec() as u32), r))
        })
        .collect();
    let total: u64 = todo.iter().map(|f| f.size).sum();
    let bar = bar(total, s.json);
    for d in files.iter().filter(|f| f.dir) {
        fs::create_dir_all(local_dir.join(&d.path))?;
    }
    let mut got = 0u64;
    for r in &todo {
        bar.set_message(r.path.clone());
        got += fetch_file(s, id, &join_remote(&remote_dir, &r.path), &local_dir, r, &bar).await?;
    }
    // Directory modes and times last, deepest first.
    for d in files.iter().filter(|f| f.dir).rev() {
        let p = local_dir.join(&d.path);
        fs::set_permissions(&p, fs::Permissions::from_mode(d.mode))?;
        set_mtime(&p, d)?;
    }
    bar.finish_and_clear();
    super::done(
        s.json,
        format!(
            "{} files received ({got} bytes), {} unchanged",
            todo.len(),
            files.iter().filter(|f| !f.dir).count() - todo.len()
        ),
    );
    if s.json {
        crate::output::print_json(&serde_json::json!({"files_received": todo.len(), "bytes_received": got}))?;
    }
    Ok(())
}

fn set_mtime(path: &Path, r: &RemoteFile) -> anyhow::Result<()> {
    let t = UNIX_EPOCH + Duration::new(u64::try_from(r.mtime).unwrap_or(0), r.mtime_nsec);
    let f = fs::File::options().read(true).open(path).or_else(|_| fs::File::open(path))?;
    f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))?;
    Ok(())
}

/// Receives one file into a partial copy beside it (resuming one left by a cut), then gives it
/// its mode and time and renames it into place; returns bytes received.
async fn fetch_file(
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
            Ok(()) => bar.println(format!("{}: {have} of {} bytes; resuming", r.path, r.size)),
            Err(e) if attempt + 1 < TRIES => bar.println(format!("{}: {e:#}; resuming", r.path)),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(CliError::new(crate::exit::Exit::Error, "incomplete", format!("{} could not be received whole", r.path)).into())
}
