//! Workstation <-> instance through the core (the desktop and browser dialogs, `wmai upload
//! --local`): the workstation lists the instance's tree, sends the files that differ one by one
//! (each resumable from a byte offset) and reads files back from an offset. The core opens the
//! SSH session with the owner's key it keeps: the workstation never holds the instance's key.
//! The same rights as a transfer task apply ("upload data", "download data").

use bytes::Bytes;
use futures_util::{Stream as FutStream, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::InstanceStatus;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::sync::{FileList, FileProgress, PartialFile, RemoteFile, RemoteTree, TarUpload};
use wintermute_api::tar::{safe_path, EntryKind, Event, TarError, Unpacker};
use wintermute_ssh::{PipeEvent, Session, SshTarget, Stream};

use super::listing::{EntryType, Listing};
use super::paths::{is_partial, partial_name, remote_path};
use super::remote;
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};

/// What a file sent from a workstation is to be once complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub mtime: (i64, u32),
    pub mode: u32,
}

fn ssh_failed(e: impl std::fmt::Display) -> CoreError {
    CoreError::Unavailable(format!("the instance could not be reached over SSH: {e}"))
}

/// `path` split into its directory and its last component; the path must name a file.
fn split_file(path: &str) -> CoreResult<(String, String)> {
    let (p, trailing) = remote_path(path).map_err(|e| CoreError::invalid("path", e.to_string()))?;
    if trailing {
        return Err(CoreError::invalid("path", "name a file, not a directory"));
    }
    match p.rsplit_once('/') {
        Some((dir, name)) if !name.is_empty() && name != "." && name != ".." => {
            Ok((if dir.is_empty() { "/".to_owned() } else { dir.to_owned() }, name.to_owned()))
        }
        _ => Err(CoreError::invalid("path", format!("{path} does not name a file"))),
    }
}

impl Engine {
    /// An SSH session to a running instance with its owner's key and pinned host key, for a
    /// caller holding `right` on it.
    async fn instance_session(&self, caller: &Caller, id: i64, right: ObjectRight) -> CoreResult<Session> {
        self.require_right(caller, ObjectKind::Instance, id, right).await?;
        let inst = self.load_instance(id).await?;
        if inst.status != InstanceStatus::Running {
            return Err(CoreError::Conflict(format!(
                "instance {} is {}; files move only on running instances",
                inst.name, inst.status
            )));
        }
        let host = inst.ssh_host.clone().ok_or_else(|| CoreError::Conflict(format!("{} has no address", inst.name)))?;
        let target =
            SshTarget::new(host, u16::try_from(inst.ssh_port.unwrap_or(22)).unwrap_or(22), inst.login_user.clone());
        let key = self.user_key_pair(inst.owner_id).await?;
        self.ssh_to_instance(id, &target, &key).await
    }

    /// The tree under `path` on the instance (either data right suffices to look).
    pub async fn instance_files(&self, caller: &Caller, id: i64, path: &str) -> CoreResult<RemoteTree> {
        let right = match self.require_right(caller, ObjectKind::Instance, id, ObjectRight::DownloadData).await {
            Ok(()) => ObjectRight::DownloadData,
            Err(_) => {
                self.require_right(caller, ObjectKind::Instance, id, ObjectRight::UploadData).await?;
                ObjectRight::UploadData
            }
        };
        let (p, _) = remote_path(path).map_err(|e| CoreError::invalid("path", e.to_string()))?;
        let session = self.instance_session(caller, id, right).await?;
        let out = session.exec(&remote::list(&p), None).await;
        session.close().await;
        let out = out.map_err(ssh_failed)?;
        if out.exit_status == remote::UNSUPPORTED {
            return Err(CoreError::Conflict(format!(
                "the instance cannot take part in transfers: {}",
                String::from_utf8_lossy(&out.stderr).trim().trim_start_matches("wm-sync: ")
            )));
        }
        if !out.success() {
            return Err(CoreError::Unavailable(format!(
                "listing {p} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let (top, listing) = Listing::parse_remote(&out.stdout).map_err(CoreError::Unavailable)?;
        Ok(tree(top, &listing))
    }

    /// Appends `body` to the partial copy of the file at `path` (which must hold `offset` bytes:
    /// 0 for a new file; the listing shows partial copies), and once it has `meta.size` bytes
    /// gives it its mode and time and puts it in place.
    pub async fn instance_file_put<S, E>(
        &self,
        caller: &Caller,
        id: i64,
        path: &str,
        offset: u64,
        meta: FileMeta,
        body: S,
    ) -> CoreResult<FileProgress>
    where
        S: FutStream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::UploadData).await?;
        let (dir, name) = split_file(path)?;
        if offset > meta.size {
            return Err(CoreError::invalid("offset", "the offset is past the end of the file"));
        }
        let session = self.instance_session(caller, id, ObjectRight::UploadData).await?;
        let part = partial_name(&name, meta.size, meta.mtime.0);
        let cmd = remote::append(&dir, &name, &part, offset, meta.size, meta.mode, meta.mtime);
        let result = put(&session, &cmd, body).await;
        session.close().await;
        let bytes = result?;
        Ok(FileProgress { bytes, complete: bytes == meta.size })
    }

    /// The file at `path` on the instance from byte `offset` on, as a stream of chunks.
    pub async fn instance_file_get(
        &self,
        caller: &Caller,
        id: i64,
        path: &str,
        offset: u64,
    ) -> CoreResult<mpsc::Receiver<Result<Bytes, String>>> {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::DownloadData).await?;
        let (dir, name) = split_file(path)?;
        let session = self.instance_session(caller, id, ObjectRight::DownloadData).await?;
        // A file that is not there is a 404 before any byte is sent.
        let check = session
            .exec(
                &format!("cd -- {} && test -f {}", remote::word(&dir), crate::provisioning::commands::quote(&name)),
                None,
            )
            .await;
        if !check.map_err(ssh_failed)?.success() {
            session.close().await;
            return Err(CoreError::not_found(format!("{path} is not a file on the instance")));
        }
        stream_out(session, &remote::read_from(&dir, &name, offset), None).await
    }

    /// Unpacks `body`, a tar stream of files and directories, into the directory `path` on the
    /// instance (made if missing), keeping modes and times: many files in one request. The
    /// stream goes straight through to `tar -x` on the instance as it arrives; the core reads
    /// its headers on the way and refuses (422) anything but regular files and directories
    /// with relative names inside the directory. Entries complete before a cut stay in place.
    pub async fn instance_tar_put<S, E>(&self, caller: &Caller, id: i64, path: &str, body: S) -> CoreResult<TarUpload>
    where
        S: FutStream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::UploadData).await?;
        let (dir, _) = remote_path(path).map_err(|e| CoreError::invalid("path", e.to_string()))?;
        let session = self.instance_session(caller, id, ObjectRight::UploadData).await?;
        let result = untar(&session, &remote::untar(&dir), body).await;
        session.close().await;
        let details = |r: &CoreResult<TarUpload>| match r {
            Ok(u) => {
                json!({"workstation": true, "direction": "upload", "path": dir, "files": u.files, "bytes": u.bytes})
            }
            Err(e) => json!({"workstation": true, "direction": "upload", "path": dir, "reason": e.to_string()}),
        };
        let outcome = if result.is_ok() { AuditOutcome::Success } else { AuditOutcome::Failure };
        let record = AuditRecord::new("data.transfer", outcome).target("instance", id).details(details(&result));
        self.audit(&caller.actor(), record).await?;
        result
    }

    /// The files `list.files` under `list.path` on the instance as a tar stream (pax, with modes
    /// and times), packed by `tar -c` on the instance as it is read.
    pub async fn instance_tar_get(
        &self,
        caller: &Caller,
        id: i64,
        list: &FileList,
    ) -> CoreResult<mpsc::Receiver<Result<Bytes, String>>> {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::DownloadData).await?;
        let (dir, names) = checked_list(list)?;
        let session = self.instance_session(caller, id, ObjectRight::DownloadData).await?;
        let record = AuditRecord::new("data.transfer", AuditOutcome::Success)
            .target("instance", id)
            .details(json!({"workstation": true, "direction": "download", "path": dir, "files": list.files.len()}));
        self.audit(&caller.actor(), record).await?;
        stream_out(session, &remote::tar(&dir), Some(names)).await
    }

    /// Deletes `list.files` (files, or directories with all they hold) under `list.path` on the
    /// instance: what `--delete` removes there.
    pub async fn instance_files_delete(&self, caller: &Caller, id: i64, list: &FileList) -> CoreResult<u64> {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::UploadData).await?;
        let (dir, names) = checked_list(list)?;
        if list.files.is_empty() {
            return Ok(0);
        }
        let session = self.instance_session(caller, id, ObjectRight::UploadData).await?;
        let out = session.exec(&remote::remove(&dir), Some(&names)).await;
        session.close().await;
        let out = out.map_err(ssh_failed)?;
        if !out.success() {
            return Err(CoreError::Unavailable(format!(
                "deleting under {dir} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let record = AuditRecord::new("data.delete", AuditOutcome::Success)
            .target("instance", id)
            .details(json!({"workstation": true, "path": dir, "files": list.files}));
        self.audit(&caller.actor(), record).await?;
        Ok(list.files.len() as u64)
    }

    /// The SHA-256 of `list.files` under `list.path` on the instance, in order (either data
    /// right): what `--checksum` compares.
    pub async fn instance_files_sums(&self, caller: &Caller, id: i64, list: &FileList) -> CoreResult<Vec<String>> {
        let right = match self.require_right(caller, ObjectKind::Instance, id, ObjectRight::DownloadData).await {
            Ok(()) => ObjectRight::DownloadData,
            Err(_) => {
                self.require_right(caller, ObjectKind::Instance, id, ObjectRight::UploadData).await?;
                ObjectRight::UploadData
            }
        };
        let (dir, names) = checked_list(list)?;
        if list.files.is_empty() {
            return Ok(Vec::new());
        }
        let session = self.instance_session(caller, id, right).await?;
        let out = session.exec(&remote::sums(&dir), Some(&names)).await;
        session.close().await;
        let out = out.map_err(ssh_failed)?;
        if !out.success() {
            return Err(CoreError::Unavailable(format!(
                "checksums under {dir} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let sums: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_start_matches('\\').chars().take(64).collect())
            .collect();
        if sums.len() != list.files.len() {
            return Err(CoreError::Unavailable(format!(
                "asked for {} checksums, the instance gave {}",
                list.files.len(),
                sums.len()
            )));
        }
        Ok(sums)
    }
}

/// The most names one request may carry.
const MAX_NAMES: usize = 100_000;

/// The directory of a [`FileList`] and its names NUL-separated, each checked to stay inside.
fn checked_list(list: &FileList) -> CoreResult<(String, Vec<u8>)> {
    let (dir, _) = remote_path(&list.path).map_err(|e| CoreError::invalid("path", e.to_string()))?;
    if list.files.len() > MAX_NAMES {
        return Err(CoreError::invalid("files", format!("at most {MAX_NAMES} names at a time")));
    }
    let mut names = Vec::new();
    for f in &list.files {
        if !safe_path(f) {
            return Err(CoreError::invalid("files", format!("{f:?} is not a relative path inside {dir}")));
        }
        names.extend_from_slice(f.as_bytes());
        names.push(0);
    }
    Ok((dir, names))
}

/// Runs `cmd` (with `stdin`) and hands its output on as a stream of chunks; a failure of the
/// command ends the stream with an error.
async fn stream_out(
    session: Session,
    cmd: &str,
    stdin: Option<Vec<u8>>,
) -> CoreResult<mpsc::Receiver<Result<Bytes, String>>> {
    let (writer, mut reader) = session.exec_pipe(cmd).await.map_err(ssh_failed)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let fed = async {
            if let Some(data) = stdin {
                writer.write(Bytes::from(data)).await?;
            }
            writer.eof().await
        };
        if let Err(e) = fed.await {
            let _ = tx.send(Err(e.to_string())).await;
            session.close().await;
            return;
        }
        let mut stderr = Vec::new();
        loop {
            match reader.next().await {
                Ok(PipeEvent::Output(Stream::Stdout, d)) => {
                    if tx.send(Ok(d)).await.is_err() {
                        break;
                    }
                }
                Ok(PipeEvent::Output(Stream::Stderr, d)) => stderr.extend_from_slice(&d),
                Ok(PipeEvent::Exit(0)) => break,
                Ok(PipeEvent::Exit(n)) => {
                    let _ = tx
                        .send(Err(format!(
                            "reading on the instance failed (exit {n}): {}",
                            String::from_utf8_lossy(&stderr).trim()
                        )))
                        .await;
                    break;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    break;
                }
            }
        }
        session.close().await;
    });
    Ok(rx)
}

/// Why a tar stream from a workstation is refused.
#[derive(Debug)]
enum TarRefusal {
    Tar(TarError),
    Entry(String),
}

impl From<TarError> for TarRefusal {
    fn from(e: TarError) -> Self {
        TarRefusal::Tar(e)
    }
}

/// Runs the unpack command with `body` as its input, checking and counting the entries on the
/// way; a chunk is passed on only once every header in it was accepted.
async fn untar<S, E>(session: &Session, cmd: &str, mut body: S) -> CoreResult<TarUpload>
where
    S: FutStream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let (writer, mut reader) = session.exec_pipe(cmd).await.map_err(ssh_failed)?;
    let mut count = TarUpload { files: 0, dirs: 0, bytes: 0 };
    let (status, stderr, sent) = {
        let send = async {
            let mut unpacker = Unpacker::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| CoreError::invalid("body", format!("the upload was cut: {e}")))?;
                unpacker
                    .push(&chunk, |ev| {
                        match ev {
                            Event::Entry(e) if !safe_path(&e.path) => {
                                return Err(TarRefusal::Entry(format!("{:?} is not a relative path inside", e.path)))
                            }
                            Event::Entry(e) => match e.kind {
                                EntryKind::File => count.files += 1,
                                EntryKind::Dir => count.dirs += 1,
                                EntryKind::Other => {
                                    return Err(TarRefusal::Entry(format!(
                                        "{} is neither a regular file nor a directory",
                                        e.path
                                    )))
                                }
                            },
                            Event::Data(d) => count.bytes += d.len() as u64,
                        }
                        Ok(())
                    })
                    .map_err(|e| match e {
                        TarRefusal::Tar(t) => CoreError::invalid("body", t.to_string()),
                        TarRefusal::Entry(m) => CoreError::invalid("body", format!("refused: {m}")),
                    })?;
                writer.write(chunk).await.map_err(ssh_failed)?;
            }
            unpacker.finish().map_err(|e| CoreError::invalid("body", e.to_string()))?;
            writer.eof().await.map_err(ssh_failed)
        };
        let read = async {
            let mut stderr = Vec::new();
            loop {
                match reader.next().await.map_err(ssh_failed)? {
                    PipeEvent::Output(Stream::Stderr, d) => stderr.extend_from_slice(&d),
                    PipeEvent::Output(Stream::Stdout, _) => {}
                    PipeEvent::Exit(status) => return Ok::<_, CoreError>((status, stderr)),
                }
            }
        };
        tokio::pin!(send, read);
        let mut sent = false;
        let (status, stderr) = loop {
            tokio::select! {
                r = &mut send, if !sent => { r?; sent = true; }
                r = &mut read => break r?,
            }
        };
        (status, stderr, sent)
    };
    if status != 0 {
        return Err(CoreError::Unavailable(format!(
            "unpacking on the instance failed (exit {status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    if !sent {
        return Err(CoreError::Unavailable("unpacking on the instance ended before all the data".into()));
    }
    Ok(count)
}

/// Runs the append command with `body` as its input; returns the bytes the copy holds now.
async fn put<S, E>(session: &Session, cmd: &str, mut body: S) -> CoreResult<u64>
where
    S: FutStream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let (writer, mut reader) = session.exec_pipe(cmd).await.map_err(ssh_failed)?;
    let send = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| CoreError::invalid("body", format!("the upload was cut: {e}")))?;
            writer.write(chunk).await.map_err(ssh_failed)?;
        }
        writer.eof().await.map_err(ssh_failed)
    };
    let read = async {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        loop {
            match reader.next().await.map_err(ssh_failed)? {
                PipeEvent::Output(Stream::Stderr, d) => stderr.extend_from_slice(&d),
                PipeEvent::Output(Stream::Stdout, d) => stdout.extend_from_slice(&d),
                PipeEvent::Exit(status) => return Ok::<_, CoreError>((status, stdout, stderr)),
            }
        }
    };
    tokio::pin!(send, read);
    let mut sent = false;
    let (status, stdout, stderr) = loop {
        tokio::select! {
            r = &mut send, if !sent => { r?; sent = true; }
            r = &mut read => break r?,
        }
    };
    let msg = String::from_utf8_lossy(&stderr).trim().to_owned();
    match status {
        0 => String::from_utf8_lossy(&stdout)
            .trim()
            .parse()
            .map_err(|_| CoreError::Unavailable("the instance did not say how much of the file it holds".into())),
        // The partial copy is not as long as the offset given, or the file is not complete yet
        // (a cut body): the caller lists again and resumes.
        75 | 76 => Err(CoreError::Conflict(msg)),
        n => Err(CoreError::Unavailable(format!("writing the file failed (exit {n}): {msg}"))),
    }
}

fn tree(top: char, l: &Listing) -> RemoteTree {
    let kind = match top {
        'd' => "dir",
        'f' => "file",
        _ => "missing",
    };
    let files = l
        .entries
        .iter()
        .map(|(p, e)| RemoteFile {
            path: p.clone(),
            dir: e.kind == EntryType::Dir,
            size: if e.kind == EntryType::Dir { 0 } else { e.size },
            mtime: e.mtime.0,
            mtime_nsec: e.mtime.1,
            mode: e.mode,
        })
        .collect();
    // Partial copies, named back to the file they are for: `.name.<size>-<mtime>.wmpart`.
    let partial = l
        .partials
        .iter()
        .filter(|(p, _)| is_partial(p))
        .filter_map(|(p, &bytes)| {
            let (dir, part) = p.rsplit_once('/').map_or(("", p.as_str()), |(d, n)| (d, n));
            let inner = part.strip_prefix('.')?.strip_suffix(".wmpart")?;
            let (name, tag) = inner.rsplit_once('.')?;
            let (size, mtime) = tag.split_once('-')?;
            let path = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
            Some(PartialFile {
                path,
                size: u64::from_str_radix(size, 16).ok()?,
                mtime: i64::from_str_radix(mtime, 16).ok()?,
                bytes,
            })
        })
        .collect();
    RemoteTree { kind: kind.into(), files, partial }
}
