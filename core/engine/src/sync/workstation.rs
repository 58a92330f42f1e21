//! Workstation <-> instance through the core (the desktop and browser dialogs, `wmai upload
//! --local`): the workstation lists the instance's tree, sends the files that differ one by one
//! (each resumable from a byte offset) and reads files back from an offset. The core opens the
//! SSH session with the owner's key it keeps: the workstation never holds the instance's key.
//! The same rights as a transfer task apply ("upload data", "download data").

use bytes::Bytes;
use futures_util::{Stream as FutStream, StreamExt};
use tokio::sync::mpsc;
use wintermute_api::instances::InstanceStatus;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::sync::{FileProgress, PartialFile, RemoteFile, RemoteTree};
use wintermute_ssh::{PipeEvent, Session, SshTarget, Stream};

use super::listing::{EntryType, Listing};
use super::paths::{is_partial, partial_name, remote_path};
use super::remote;
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
        let (writer, mut reader) =
            session.exec_pipe(&remote::read_from(&dir, &name, offset)).await.map_err(ssh_failed)?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let _ = writer.eof().await;
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
                                "reading the file failed (exit {n}): {}",
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
