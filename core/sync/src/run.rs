//! One attempt of a transfer over an open SSH session: list both sides, plan, move what
//! changed, delete when asked.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use wintermute_ssh::{PipeEvent, Session, Stream};

use super::jail::{self, Jail, Writer};
use super::listing::{EntryType, Listing, Plan};
use super::paths::{join, partial_name, remote_name, remote_path, LocalPath};
use super::tarfmt;
use super::{remote, Direction, LocalSide, Progress, SyncError, Transfer};

/// Files at least this large go on their own channel and resume from where a cut left them;
/// smaller ones travel together in one tar stream.
pub const LARGE_FILE: u64 = 8 * 1024 * 1024;

/// Chunks handed between the jailed thread and the SSH channel.
const CHUNK: usize = 256 * 1024;
const QUEUE: usize = 16;

/// What one attempt did.
#[derive(Debug, Default, Clone)]
pub struct Attempt {
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped: Vec<(String, String)>,
}

fn ssh(e: wintermute_ssh::SshError) -> SyncError {
    SyncError::Connection(e.to_string())
}

/// The error of a command that found a GNU tool missing on the instance.
fn unsupported(stderr: &[u8]) -> SyncError {
    let msg = String::from_utf8_lossy(stderr);
    SyncError::Unsupported(msg.trim().trim_start_matches("wm-sync: ").to_owned())
}

/// Runs `command` with `stdin`, collecting its output; a non-zero exit is a remote failure.
async fn exec(session: &Session, what: &str, command: &str, stdin: Option<&[u8]>) -> Result<Vec<u8>, SyncError> {
    let out = session.exec(command, stdin).await.map_err(ssh)?;
    if out.exit_status == remote::UNSUPPORTED {
        return Err(unsupported(&out.stderr));
    }
    if !out.success() {
        return Err(SyncError::Remote(format!(
            "{what} failed (exit {}): {}",
            out.exit_status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

fn nul_list<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<u8> {
    let mut out = Vec::new();
    for n in names {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
    }
    out
}

/// SHA-256 sums of `files` in the remote directory `dir`, in order.
async fn remote_sums(session: &Session, dir: &str, files: &[String]) -> Result<Vec<String>, SyncError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let out = exec(session, "checksums on the instance", &remote::sums(dir), Some(&nul_list(files))).await?;
    let sums: Vec<String> =
        String::from_utf8_lossy(&out).lines().map(|l| l.trim_start_matches('\\').chars().take(64).collect()).collect();
    if sums.len() != files.len() {
        return Err(SyncError::Remote(format!("asked for {} checksums, got {}", files.len(), sums.len())));
    }
    Ok(sums)
}

/// SHA-256 sums of `files` under the local tree `base`, in order (on the jailed thread).
async fn local_sums(local: &LocalSide, base: &str, files: Vec<String>) -> Result<Vec<String>, SyncError> {
    let root = local.root.path().to_owned();
    let base = base.to_owned();
    jail::run_as(local.identity.clone(), move || {
        let jail = Jail::open(&root)?;
        let mut out = Vec::with_capacity(files.len());
        for f in &files {
            let (mut file, entry) = match jail.open_file(&join(&base, f)) {
                Ok(opened) => opened,
                // Unreadable: never equal; skipped when it is to be sent.
                Err(SyncError::Denied(_)) => {
                    out.push(String::new());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut h = Sha256::new();
            jail::pump(&mut file, entry.size, |d| {
                h.update(d);
                Ok(())
            })?;
            out.push(hex::encode(h.finalize()));
        }
        Ok(out)
    })
    .await
}

/// Sums of the files of the same size on both sides: path -> (source, destination).
async fn sums_for(
    session: &Session,
    local: &LocalSide,
    local_base: &str,
    remote_dir: &str,
    source: &Listing,
    dest: &Listing,
    upload: bool,
) -> Result<BTreeMap<String, (String, String)>, SyncError> {
    let same: Vec<String> = source
        .entries
        .iter()
        .filter(|(p, s)| {
            s.kind == EntryType::File
                && dest.entries.get(*p).is_some_and(|d| d.kind == EntryType::File && d.size == s.size)
        })
        .map(|(p, _)| p.clone())
        .collect();
    let (l, r) =
        tokio::try_join!(local_sums(local, local_base, same.clone()), remote_sums(session, remote_dir, &same))?;
    Ok(same
        .into_iter()
        .zip(l.into_iter().zip(r))
        .map(|(p, (l, r))| if upload { (p, (l, r)) } else { (p, (r, l)) })
        .collect())
}

async fn local_listing(local: &LocalSide, dir: String, only: Option<String>) -> Result<Listing, SyncError> {
    let root = local.root.path().to_owned();
    jail::run_as(local.identity.clone(), move || Jail::open(&root)?.list(&dir, only.as_deref())).await
}

async fn remote_listing(session: &Session, path: &str) -> Result<(char, Listing), SyncError> {
    let out = exec(session, "listing the files on the instance", &remote::list(path), None).await?;
    Listing::parse_remote(&out).map_err(SyncError::Remote)
}

/// Feeds chunks from `rx` to the command's stdin while collecting its stderr; returns when the
/// command is over. A non-zero exit is a remote failure.
async fn feed(session: &Session, what: &str, command: &str, mut rx: mpsc::Receiver<Bytes>) -> Result<(), SyncError> {
    let (writer, mut reader) = session.exec_pipe(command).await.map_err(ssh)?;
    let send = async {
        while let Some(chunk) = rx.recv().await {
            writer.write(chunk).await.map_err(ssh)?;
        }
        writer.eof().await.map_err(ssh)
    };
    let read = async {
        let mut stderr = Vec::new();
        loop {
            match reader.next().await.map_err(ssh)? {
                PipeEvent::Output(Stream::Stderr, d) => stderr.extend_from_slice(&d),
                PipeEvent::Output(Stream::Stdout, _) => {}
                PipeEvent::Exit(status) => return Ok::<(u32, Vec<u8>), SyncError>((status, stderr)),
            }
        }
    };
    tokio::pin!(send, read);
    let mut sent = false;
    let (status, stderr) = loop {
        tokio::select! {
            r = &mut send, if !sent => { r?; sent = true; }
            status = &mut read => break status?,
        }
    };
    if status != 0 {
        return Err(SyncError::Remote(format!(
            "{what} failed (exit {status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    if !sent {
        return Err(SyncError::Remote(format!("{what} ended before it had all the data")));
    }
    Ok(())
}

/// Runs `command` and hands its stdout to `tx` chunk by chunk.
async fn drain(
    session: &Session,
    what: &str,
    command: &str,
    stdin: Option<Vec<u8>>,
    tx: mpsc::Sender<Bytes>,
) -> Result<(), SyncError> {
    let (writer, mut reader) = session.exec_pipe(command).await.map_err(ssh)?;
    let feed_names = async {
        if let Some(data) = stdin {
            writer.write(Bytes::from(data)).await.map_err(ssh)?;
        }
        writer.eof().await.map_err(ssh)
    };
    let mut stderr = Vec::new();
    let read = async {
        loop {
            match reader.next().await.map_err(ssh)? {
                PipeEvent::Output(Stream::Stdout, d) => {
                    if tx.send(d).await.is_err() {
                        return Err(SyncError::Connection(PEER_GONE.into()));
                    }
                }
                PipeEvent::Output(Stream::Stderr, d) => stderr.extend_from_slice(&d),
                PipeEvent::Exit(status) => return Ok::<u32, SyncError>(status),
            }
        }
    };
    let (fed, status) = tokio::join!(feed_names, read);
    let status = status?;
    if status == remote::UNSUPPORTED {
        return Err(unsupported(&stderr));
    }
    fed?;
    if status != 0 {
        return Err(SyncError::Remote(format!(
            "{what} failed (exit {status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(())
}

/// What the core side says when the other end of its stream stopped first: the other end's
/// error is the one to report.
const PEER_GONE: &str = "the transfer stream closed";

/// The error of a pair of halves working together: the core side's own failure first (the
/// instance then only saw its input end early), unless the core side failed only because the
/// other half had stopped.
fn both<A, B>(local: Result<A, SyncError>, remote: Result<B, SyncError>) -> Result<(A, B), SyncError> {
    match (local, remote) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(SyncError::Connection(m)), Err(e)) if m == PEER_GONE => Err(e),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Sends chunks to the async side; stops when it went away.
struct Sink {
    tx: mpsc::Sender<Bytes>,
    buf: BytesMut,
    progress: Arc<Progress>,
}

impl Sink {
    fn new(tx: mpsc::Sender<Bytes>, progress: Arc<Progress>) -> Sink {
        Sink { tx, buf: BytesMut::with_capacity(CHUNK), progress }
    }

    fn put(&mut self, data: &[u8]) -> Result<(), SyncError> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn data(&mut self, data: &[u8]) -> Result<(), SyncError> {
        self.progress.bytes_done.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.put(data)
    }

    fn flush(&mut self) -> Result<(), SyncError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        self.tx.blocking_send(chunk).map_err(|_| SyncError::Connection(PEER_GONE.into()))
    }
}

/// Reads chunks from the async side as a byte stream.
struct Source {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl std::io::Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// Where the tree is on each side.
struct Trees {
    local: LocalPath,
    local_only: Option<String>,
    remote: String,
    remote_only: Option<String>,
}

pub async fn upload(
    session: &Session,
    local: &LocalSide,
    t: &Transfer,
    progress: &Arc<Progress>,
) -> Result<Attempt, SyncError> {
    let src = local.root.resolve(&t.source)?;
    let (dst, _) = remote_path(&t.target)?;
    let root = local.root.path().to_owned();
    let src_rel = src.joined();
    let kind = jail::run_as(local.identity.clone(), move || Jail::open(&root)?.kind(&src_rel)).await?;
    let trees = match kind {
        None => return Err(SyncError::Path(format!("{} does not exist in your data directory", t.source))),
        Some(EntryType::Dir) if src.trailing_slash || src.parts.is_empty() => {
            Trees { local: src.clone(), local_only: None, remote: dst, remote_only: None }
        }
        Some(EntryType::Dir) => {
            let name = src.name().unwrap_or_default().to_owned();
            Trees { local: src.clone(), local_only: None, remote: join(&dst, &name), remote_only: None }
        }
        Some(EntryType::File) => {
            let name = src.name().unwrap_or_default().to_owned();
            Trees { local: src.parent(), local_only: Some(name.clone()), remote: dst, remote_only: Some(name) }
        }
    };
    let remote_list_path = match &trees.remote_only {
        Some(n) => join(&trees.remote, n),
        None => trees.remote.clone(),
    };
    let (source, (top, dest)) = tokio::try_join!(
        local_listing(local, trees.local.joined(), trees.local_only.clone()),
        remote_listing(session, &remote_list_path)
    )?;
    if top == 'f' && trees.remote_only.is_none() {
        return Err(SyncError::Path(format!("{} is a file on the instance, not a directory", trees.remote)));
    }
    let sums = if t.checksum {
        Some(sums_for(session, local, &trees.local.joined(), &trees.remote, &source, &dest, true).await?)
    } else {
        None
    };
    let mut plan = Plan::make(&source, &dest, sums.as_ref());
    // What the instance holds under a directory the user may not read here is not deleted.
    plan.extra.retain(|p| {
        !source.denied.iter().any(|d| p == d || p.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')))
    });
    let mut attempt = Attempt { skipped: source.skipped.clone(), ..Default::default() };
    attempt.unchanged =
        source.entries.values().filter(|e| e.kind == EntryType::File).count() as u64 - plan.files.len() as u64;
    progress.start(plan.files.len() as u64, plan.bytes);

    if !plan.replace.is_empty() {
        exec(
            session,
            "removing what is in the way on the instance",
            &remote::remove(&trees.remote),
            Some(&nul_list(&plan.replace)),
        )
        .await?;
    }

    // Large files first, each on its own channel, resuming partial copies; then everything
    // else in one tar stream, which also sets the directories' modes and times last.
    let (large, small): (Vec<&String>, Vec<&String>) =
        plan.files.iter().partition(|f| source.entries.get(*f).is_some_and(|e| e.size >= LARGE_FILE));
    // Large files the user may not read are skipped before their channel opens.
    let unreadable = {
        let root = local.root.path().to_owned();
        let paths: Vec<String> = large.iter().map(|rel| join(&trees.local.joined(), rel)).collect();
        jail::run_as(local.identity.clone(), move || {
            let jail = Jail::open(&root)?;
            let mut denied = Vec::new();
            for p in paths {
                if let Err(SyncError::Denied(_)) = jail.open_file(&p) {
                    denied.push(p);
                }
            }
            Ok(denied)
        })
        .await?
    };
    for rel in large {
        let Some(e) = source.entries.get(rel) else { continue };
        let path = join(&trees.local.joined(), rel);
        if unreadable.contains(&path) {
            attempt.skipped.push((path, jail::DENIED.into()));
            progress.bytes_done.fetch_add(e.size, Ordering::Relaxed);
            progress.files_done.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let part = partial_name(rel, e.size, e.mtime.0);
        let offset = dest.partials.get(&part).copied().filter(|&n| n <= e.size).unwrap_or(0);
        if offset > 0 {
            progress.bytes_done.fetch_add(offset, Ordering::Relaxed);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let root = local.root.path().to_owned();
        let path = join(&trees.local.joined(), rel);
        let (size, prog) = (e.size, progress.clone());
        let reader = jail::run_as(local.identity.clone(), move || {
            let jail = Jail::open(&root)?;
            let (mut file, now) = jail.open_file(&path)?;
            if now.size != size {
                return Err(SyncError::Changed(path));
            }
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
            let mut sink = Sink::new(tx, prog);
            let sent = jail::pump(&mut file, size - offset, |d| sink.data(d))?;
            if sent < size - offset {
                // It shrank while being read: the partial copy stays short and is not put in
                // place; the next attempt plans again.
                return Err(SyncError::Changed(path));
            }
            sink.flush()
        });
        let cmd = remote::append(&trees.remote, rel, &part, offset, e.size, e.mode, e.mtime);
        let what = format!("writing {rel} on the instance");
        let (r, w) = tokio::join!(reader, feed(session, &what, &cmd, rx));
        both(r, w)?;
        attempt.files_sent += 1;
        attempt.bytes_sent += e.size - offset;
        progress.files_done.fetch_add(1, Ordering::Relaxed);
    }

    let mut items: Vec<(String, bool)> = plan.dirs.iter().map(|d| (d.clone(), true)).collect();
    items.extend(small.iter().map(|f| ((*f).clone(), false)));
    items.sort();
    if !items.is_empty() {
        let (tx, rx) = mpsc::channel(QUEUE);
        let root = local.root.path().to_owned();
        let base = trees.local.joined();
        let entries = source.entries.clone();
        let prog = progress.clone();
        let writer = jail::run_as(local.identity.clone(), move || {
            let jail = Jail::open(&root)?;
            let mut sink = Sink::new(tx, prog.clone());
            let mut sent = (0u64, 0u64);
            let mut denied = Vec::new();
            for (rel, dir) in &items {
                let Some(e) = entries.get(rel) else { continue };
                if *dir {
                    sink.put(&tarfmt::header(rel, true, e.mode, 0, e.mtime))?;
                    continue;
                }
                let path = join(&base, rel);
                let (mut file, now) = match jail.open_file(&path) {
                    Ok(opened) => opened,
                    Err(SyncError::Denied(_)) => {
                        prog.bytes_done.fetch_add(e.size, Ordering::Relaxed);
                        prog.files_done.fetch_add(1, Ordering::Relaxed);
                        denied.push((path, jail::DENIED.to_owned()));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                sink.put(&tarfmt::header(rel, false, now.mode, now.size, now.mtime))?;
                let got = jail::pump(&mut file, now.size, |d| sink.data(d))?;
                if got < now.size {
                    // The file shrank while it was read: pad it; its time no longer matches,
                    // so the next sync sends it again.
                    sink.put(&vec![0u8; (now.size - got) as usize])?;
                }
                sink.put(&vec![0u8; tarfmt::padding(now.size)])?;
                prog.files_done.fetch_add(1, Ordering::Relaxed);
                sent.0 += 1;
                sent.1 += now.size;
            }
            sink.put(&tarfmt::trailer())?;
            sink.flush()?;
            Ok((sent, denied))
        });
        let cmd = remote::untar(&trees.remote);
        let (r, w) = tokio::join!(writer, feed(session, "unpacking on the instance", &cmd, rx));
        let (((files, bytes), denied), ()) = both(r, w)?;
        attempt.files_sent += files;
        attempt.bytes_sent += bytes;
        attempt.skipped.extend(denied);
    }

    if t.delete && !plan.extra.is_empty() && trees.remote_only.is_none() {
        exec(session, "deleting on the instance", &remote::remove(&trees.remote), Some(&nul_list(&plan.extra))).await?;
        attempt.deleted = plan.extra.len() as u64;
    }
    Ok(attempt)
}

pub async fn download(
    session: &Session,
    local: &LocalSide,
    t: &Transfer,
    progress: &Arc<Progress>,
) -> Result<Attempt, SyncError> {
    let (src, trailing) = remote_path(&t.source)?;
    let dst = local.root.resolve(&t.target)?;
    let (top, source) = remote_listing(session, &src).await?;
    let trees = match top {
        '-' => return Err(SyncError::Path(format!("{} does not exist on the instance", t.source))),
        'd' => match remote_name(&src) {
            Some(name) if !trailing => {
                Trees { local: dst.child(name), local_only: None, remote: src.clone(), remote_only: None }
            }
            _ => Trees { local: dst.clone(), local_only: None, remote: src.clone(), remote_only: None },
        },
        _ => {
            let (dir, name) =
                src.rsplit_once('/').map(|(d, n)| (if d.is_empty() { "/" } else { d }, n)).unwrap_or((".", &src));
            Trees {
                local: dst.clone(),
                local_only: Some(name.to_owned()),
                remote: dir.to_owned(),
                remote_only: Some(name.to_owned()),
            }
        }
    };
    let dest = local_listing(local, trees.local.joined(), trees.local_only.clone()).await?;
    let sums = if t.checksum {
        Some(sums_for(session, local, &trees.local.joined(), &trees.remote, &source, &dest, false).await?)
    } else {
        None
    };
    let plan = Plan::make(&source, &dest, sums.as_ref());
    let mut attempt = Attempt { skipped: source.skipped.clone(), ..Default::default() };
    attempt.unchanged =
        source.entries.values().filter(|e| e.kind == EntryType::File).count() as u64 - plan.files.len() as u64;
    progress.start(plan.files.len() as u64, plan.bytes);
    let base = trees.local.joined();

    if !plan.replace.is_empty() || (t.delete && !plan.extra.is_empty() && trees.local_only.is_none()) {
        let root = local.root.path().to_owned();
        let mut gone: Vec<String> = plan.replace.iter().map(|p| join(&base, p)).collect();
        if t.delete && trees.local_only.is_none() {
            gone.extend(plan.extra.iter().map(|p| join(&base, p)));
            attempt.deleted = plan.extra.len() as u64;
        }
        jail::run_as(local.identity.clone(), move || {
            let jail = Jail::open(&root)?;
            gone.iter().try_for_each(|p| jail.remove(p))
        })
        .await?;
    }

    let (large, small): (Vec<&String>, Vec<&String>) =
        plan.files.iter().partition(|f| source.entries.get(*f).is_some_and(|e| e.size >= LARGE_FILE));
    for rel in large {
        let Some(e) = source.entries.get(rel).cloned() else { continue };
        let part = partial_name(rel, e.size, e.mtime.0);
        let offset = dest.partials.get(&part).copied().filter(|&n| n <= e.size).unwrap_or(0);
        progress.bytes_done.fetch_add(offset, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let root = local.root.path().to_owned();
        let (tree, rel_owned, prog) = (trees.local.clone(), rel.clone(), progress.clone());
        let writer = jail::run_as(local.identity.clone(), move || {
            let jail = Jail::open(&root)?;
            let mut w = Writer::new(&jail, &tree);
            let mut file = w.partial(&rel_owned, e.size, e.mtime, offset)?;
            let mut src = Source { rx, cur: Bytes::new() };
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = std::io::Read::read(&mut src, &mut buf)?;
                if n == 0 {
                    break;
                }
                jail::write_all(&mut file, &buf[..n])?;
                prog.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
            }
            w.commit(&rel_owned, file, e.size, e.mode, e.mtime)
        });
        let what = format!("reading {rel} on the instance");
        let cmd = remote::read_from(&trees.remote, rel, offset);
        let (w, r) = tokio::join!(writer, drain(session, &what, &cmd, None, tx));
        both(w, r)?;
        attempt.files_sent += 1;
        attempt.bytes_sent += e.size - offset;
        progress.files_done.fetch_add(1, Ordering::Relaxed);
    }

    let small: Vec<String> = small.into_iter().cloned().collect();
    if !small.is_empty() || !plan.dirs.is_empty() {
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let root = local.root.path().to_owned();
        let tree = trees.local.clone();
        let dirs: Vec<(String, u32, (i64, u32))> =
            plan.dirs.iter().filter_map(|d| source.entries.get(d).map(|e| (d.clone(), e.mode, e.mtime))).collect();
        let expected = small.len();
        let prog = progress.clone();
        let writer = jail::run_as(local.identity.clone(), move || {
            let jail = Jail::open(&root)?;
            let mut w = Writer::new(&jail, &tree);
            if tree.parts.is_empty() {
                jail.open_dir("")?;
            } else {
                jail.dir_path(&tree.joined(), true)?;
            }
            for (d, mode, mtime) in &dirs {
                w.directory(d, *mode, *mtime)?;
            }
            let mut tar = tarfmt::TarReader::new(Source { rx, cur: Bytes::new() });
            let mut buf = vec![0u8; CHUNK];
            let mut got = (0u64, 0u64);
            while let Some(h) =
                tar.next_entry().map_err(|e| SyncError::Remote(format!("the file stream from the instance: {e}")))?
            {
                if h.kind != tarfmt::EntryKind::File {
                    continue;
                }
                let mut file = w.partial(&h.path, h.size, h.mtime, 0)?;
                loop {
                    let n = tar
                        .data(&mut buf)
                        .map_err(|e| SyncError::Connection(format!("the file stream from the instance: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    jail::write_all(&mut file, &buf[..n])?;
                    prog.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
                }
                w.commit(&h.path, file, h.size, h.mode, h.mtime)?;
                prog.files_done.fetch_add(1, Ordering::Relaxed);
                got.0 += 1;
                got.1 += h.size;
            }
            w.finish()?;
            Ok(got)
        });
        let names = if small.is_empty() { None } else { Some(nul_list(&small)) };
        let reading = async {
            match names {
                Some(n) => {
                    let cmd = remote::tar(&trees.remote);
                    drain(session, "packing on the instance", &cmd, Some(n), tx).await
                }
                None => {
                    drop(tx);
                    Ok(())
                }
            }
        };
        let (w, r) = tokio::join!(writer, reading);
        let ((files, bytes), ()) = both(w, r)?;
        if files != expected as u64 {
            return Err(SyncError::Remote(format!("the instance sent {files} of {expected} files")));
        }
        attempt.files_sent += files;
        attempt.bytes_sent += bytes;
    }
    Ok(attempt)
}

/// Runs one attempt in the transfer's direction.
pub async fn attempt(
    session: &Session,
    local: &LocalSide,
    t: &Transfer,
    progress: &Arc<Progress>,
) -> Result<Attempt, SyncError> {
    match t.direction {
        Direction::Upload => upload(session, local, t, progress).await,
        Direction::Download => download(session, local, t, progress).await,
    }
}
