//! `wmai upload --local` and `wmai download --local`: between this machine and an instance,
//! through the core (which holds the instance's key; this program never sees it).
//!
//! The same meaning as a sync on the core: only new or changed files move (size and mtime, or
//! SHA-256 with `--checksum`), modes and times of files and directories kept, empty directories
//! too, deletions only with `--delete`. Files of [`LARGE`] bytes and more go one by one in
//! pieces, each resumable from what the other side already holds; the rest go together as tar
//! streams of up to [`BATCH`] bytes, one request each. Files this user may not read, and
//! symlinks, are skipped and named.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use wintermute_api::sync::{FileList, RemoteFile};
use wintermute_api::tar::{self, EntryKind, Event, TarError, Unpacker};

use super::sync::{bar, fetch_file, join_remote, same, send_file, set_mtime, LocalFile};
use crate::exit::CliError;
use crate::session::Session;

/// Files this large and larger move one by one, resumable; smaller ones in tar streams.
pub const LARGE: u64 = 8 * 1024 * 1024;
/// The most bytes of small files in one tar stream.
const BATCH: u64 = 16 * 1024 * 1024;

/// How the two sides are compared.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub delete: bool,
    pub checksum: bool,
}

/// A tree on this machine: files and directories by relative path, and what was left out.
#[derive(Default)]
struct LocalTree {
    entries: BTreeMap<String, LocalFile>,
    skipped: Vec<(String, String)>,
}

fn is_partial(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(".wmpart") || name.ends_with(".wmtmp"))
}

/// The tree under `top` (a missing `top` is empty). Directories this user may not open and
/// anything but files and directories are skipped; partial copies of cut downloads left out.
fn walk(top: &Path) -> anyhow::Result<LocalTree> {
    let mut tree = LocalTree::default();
    if !top.exists() {
        return Ok(tree);
    }
    let mut stack = vec![(top.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::PermissionDenied && !rel.is_empty() => {
                tree.skipped.push((rel.clone(), "permission denied".into()));
                tree.entries.remove(&rel);
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for e in entries {
            let e = e?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                tree.skipped.push((e.path().display().to_string(), "the name is not UTF-8".into()));
                continue;
            };
            let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let m = fs::symlink_metadata(e.path())?;
            if m.is_dir() || (m.is_file() && !is_partial(&name)) {
                tree.entries.insert(r.clone(), LocalFile::of(e.path(), &m));
                if m.is_dir() {
                    stack.push((e.path(), r));
                }
            } else if m.file_type().is_symlink() {
                tree.skipped.push((r, "a symlink (symlinks are never sent)".into()));
            } else if !m.is_file() {
                tree.skipped.push((r, "not a regular file or directory".into()));
            }
        }
    }
    Ok(tree)
}

/// Whether `path` is `top` or inside it.
fn under(path: &str, top: &str) -> bool {
    path == top || path.strip_prefix(top).is_some_and(|r| r.starts_with('/'))
}

/// The topmost of `paths` (sorted): a directory's contents go with it.
fn topmost(paths: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        if !out.last().is_some_and(|last| under(&p, last)) {
            out.push(p);
        }
    }
    out
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex_encode(&h.finalize()))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Of the files on both sides with the same size, those whose content is the same (by SHA-256).
async fn same_by_sum(
    s: &Session,
    id: i64,
    remote_dir: &str,
    local: &BTreeMap<String, LocalFile>,
    remote: &BTreeMap<&str, &RemoteFile>,
) -> anyhow::Result<BTreeSet<String>> {
    let candidates: Vec<String> = local
        .iter()
        .filter(|(rel, f)| !f.dir && remote.get(rel.as_str()).is_some_and(|r| !r.dir && r.size == f.size))
        .map(|(rel, _)| rel.clone())
        .collect();
    if candidates.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut theirs = Vec::with_capacity(candidates.len());
    for batch in name_batches(&candidates, String::len) {
        let list = FileList { path: remote_dir.to_owned(), files: batch.to_vec() };
        theirs.extend(s.client.instance_file_sums(id, &list).await?.sums);
    }
    let mut out = BTreeSet::new();
    for (rel, sum) in candidates.into_iter().zip(theirs) {
        let Some(f) = local.get(&rel) else { continue };
        match sha256_of(&f.path) {
            Ok(mine) if mine == sum => {
                out.insert(rel);
            }
            // Unreadable here: sent (and skipped there) like any changed file.
            _ => {}
        }
    }
    Ok(out)
}

/// The most names in one request, and their most bytes: well under the core's request body
/// limit (1 MiB by default).
const NAMES_PER_REQUEST: usize = 5_000;
const NAME_BYTES_PER_REQUEST: usize = 256 * 1024;

/// `names` cut into runs that each fit in one request.
fn name_batches<T>(names: &[T], len: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, n) in names.iter().enumerate() {
        let l = len(n) + 8;
        if i > start && (i - start >= NAMES_PER_REQUEST || bytes + l > NAME_BYTES_PER_REQUEST) {
            out.push(&names[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += l;
    }
    if start < names.len() {
        out.push(&names[start..]);
    }
    out
}

/// What a sync did, for the closing line.
#[derive(Default)]
struct Done {
    files: u64,
    bytes: u64,
    unchanged: u64,
    deleted: u64,
    skipped: Vec<(String, String)>,
}

pub async fn upload(s: &Session, id: i64, source: &str, target: &str, o: Options) -> anyhow::Result<()> {
    let src = Path::new(source);
    let meta = fs::symlink_metadata(src).with_context(|| format!("reading {source}"))?;
    let target = target.trim_end_matches('/').to_owned();
    let (local, remote_dir, whole_dir) = if meta.is_file() {
        let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tree =
            LocalTree { entries: BTreeMap::from([(name, LocalFile::of(src.to_owned(), &meta))]), ..Default::default() };
        (tree, target, false)
    } else if meta.is_dir() {
        let dir = if source.ends_with('/') {
            target
        } else {
            let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            join_remote(&target, &name)
        };
        (walk(src)?, dir, true)
    } else {
        return Err(CliError::invalid(format!("{source} is neither a file nor a directory")).into());
    };
    let tree = s.client.instance_files(id, &remote_dir).await?;
    if tree.kind == "file" && whole_dir {
        return Err(CliError::invalid(format!("{remote_dir} is a file on the instance, not a directory")).into());
    }
    let remote: BTreeMap<&str, &RemoteFile> = tree.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let by_sum =
        if o.checksum { same_by_sum(s, id, &remote_dir, &local.entries, &remote).await? } else { BTreeSet::new() };
    // As on the core: the same size, time and mode (and content, with --checksum).
    let unchanged = |rel: &str, f: &LocalFile| {
        remote.get(rel).is_some_and(|r| {
            !r.dir && r.mode == f.mode && same(f.size, f.mtime, r) && (!o.checksum || by_sum.contains(rel))
        })
    };
    let mut done = Done { skipped: local.skipped.clone(), ..Default::default() };
    // What is in the way (a directory where a file goes, or the other way round), and with
    // --delete what is there but not here: removed first, so directory times set last hold.
    let mut gone: Vec<String> = local
        .entries
        .iter()
        .filter(|(rel, f)| remote.get(rel.as_str()).is_some_and(|r| r.dir != f.dir))
        .map(|(rel, _)| rel.clone())
        .collect();
    if o.delete && whole_dir {
        let extra = remote
            .keys()
            .filter(|p| !local.entries.contains_key(**p))
            .filter(|p| !local.skipped.iter().any(|(sk, _)| under(p, sk)))
            .map(|p| (*p).to_owned());
        let extra = topmost(extra);
        done.deleted = extra.len() as u64;
        gone.extend(extra);
    }
    gone.sort();
    let gone = topmost(gone);
    // Directories to (re)make with their mode and time: those missing or different there, and
    // the parents of whatever changes in them now.
    let mut dirs: BTreeSet<String> = local
        .entries
        .iter()
        .filter(|(rel, f)| {
            f.dir && !remote.get(rel.as_str()).is_some_and(|r| r.dir && r.mode == f.mode && r.mtime == f.mtime.0)
        })
        .map(|(rel, _)| rel.clone())
        .collect();
    let parents_of = |path: &str, dirs: &mut BTreeSet<String>| {
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if local.entries.get(parent).is_some_and(|f| f.dir) {
                dirs.insert(parent.to_owned());
            }
            p = parent;
        }
    };
    for g in &gone {
        parents_of(g, &mut dirs);
    }
    for batch in name_batches(&gone, String::len) {
        s.client.delete_instance_files(id, &FileList { path: remote_dir.clone(), files: batch.to_vec() }).await?;
    }

    let todo: Vec<(&String, &LocalFile)> =
        local.entries.iter().filter(|(rel, f)| !f.dir && !unchanged(rel, f)).collect();
    done.unchanged = local.entries.values().filter(|f| !f.dir).count() as u64 - todo.len() as u64;
    for (rel, _) in &todo {
        parents_of(rel, &mut dirs);
    }
    let bar = bar(todo.iter().map(|(_, f)| f.size).sum(), s.json);
    let (large, small): (Vec<_>, Vec<_>) = todo.into_iter().partition(|(_, f)| f.size >= LARGE);
    for (rel, f) in large {
        bar.set_message(rel.clone());
        match send_file(s, id, &remote_dir, rel, f, &tree, &bar).await {
            Ok(n) => {
                done.files += 1;
                done.bytes += n;
            }
            Err(e) if denied(&e) => done.skipped.push((rel.clone(), "permission denied".into())),
            Err(e) => return Err(e),
        }
    }
    // Small files in batches; the directories (empty ones are made, and modes and times set
    // once their files are in) in the last.
    let mut batch = Batch::default();
    for (rel, f) in small {
        if batch.bytes + f.size > BATCH && batch.files > 0 {
            batch.send(s, id, &remote_dir, &mut done, &bar).await?;
        }
        bar.set_message(rel.clone());
        match batch.add_file(rel, f) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                done.skipped.push((rel.clone(), "permission denied".into()));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", f.path.display())),
        }
    }
    for rel in &dirs {
        if let Some(f) = local.entries.get(rel) {
            batch.data.extend(tar::header(rel, true, f.mode, 0, f.mtime));
        }
    }
    if !batch.data.is_empty() {
        batch.send(s, id, &remote_dir, &mut done, &bar).await?;
    }
    bar.finish_and_clear();
    report(s, "sent", &done)
}

/// Whether an error is this user not being allowed to read a file here.
fn denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == ErrorKind::PermissionDenied))
}

/// A tar stream being filled.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    files: u64,
    bytes: u64,
}

impl Batch {
    fn add_file(&mut self, rel: &str, f: &LocalFile) -> std::io::Result<()> {
        let mut file = fs::File::open(&f.path)?;
        let now = file.metadata()?;
        let start = self.data.len();
        self.data.extend(tar::header(
            rel,
            false,
            now.mode() & 0o7777,
            now.size(),
            (now.mtime(), now.mtime_nsec() as u32),
        ));
        let before = self.data.len();
        (&mut file).take(now.size()).read_to_end(&mut self.data)?;
        let got = (self.data.len() - before) as u64;
        if got < now.size() {
            // It shrank while being read: left out; the next sync sends it.
            self.data.truncate(start);
            return Ok(());
        }
        self.data.resize(self.data.len() + tar::padding(now.size()), 0);
        self.files += 1;
        self.bytes += now.size();
        Ok(())
    }

    async fn send(
        &mut self,
        s: &Session,
        id: i64,
        dir: &str,
        done: &mut Done,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let mut data = std::mem::take(&mut self.data);
        data.extend_from_slice(&tar::trailer());
        let got = s.client.put_tar(id, dir, data).await?;
        done.files += got.files;
        done.bytes += got.bytes;
        bar.inc(got.bytes);
        self.files = 0;
        self.bytes = 0;
        Ok(())
    }
}

fn report(s: &Session, verb: &str, d: &Done) -> anyhow::Result<()> {
    for (path, why) in &d.skipped {
        eprintln!("skipped {path}: {why}");
    }
    super::done(
        s.json,
        format!(
            "{} files {verb} ({} bytes), {} unchanged, {} deleted, {} skipped",
            d.files,
            d.bytes,
            d.unchanged,
            d.deleted,
            d.skipped.len()
        ),
    );
    if s.json {
        let skipped: Vec<String> = d.skipped.iter().map(|(p, w)| format!("{p}: {w}")).collect();
        crate::output::print_json(&serde_json::json!({
            format!("files_{verb}"): d.files, format!("bytes_{verb}"): d.bytes,
            "unchanged": d.unchanged, "deleted": d.deleted, "skipped": skipped,
        }))?;
    }
    Ok(())
}

pub async fn download(s: &Session, id: i64, source: &str, target: &str, o: Options) -> anyhow::Result<()> {
    let tree = s.client.instance_files(id, source).await?;
    let src = source.trim_end_matches('/');
    let name = src.rsplit('/').next().unwrap_or(src).to_owned();
    let (remote_dir, local_dir, files, whole_dir): (String, PathBuf, Vec<RemoteFile>, bool) = match tree.kind.as_str() {
        "missing" => return Err(CliError::not_found(format!("{source} does not exist on the instance")).into()),
        "file" => {
            let dir = src.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }).to_owned();
            let f = tree.files.into_iter().map(|mut f| {
                f.path = name.clone();
                f
            });
            (dir, PathBuf::from(target), f.collect(), false)
        }
        _ if source.ends_with('/') => (src.to_owned(), PathBuf::from(target), tree.files, true),
        _ => (src.to_owned(), Path::new(target).join(&name), tree.files, true),
    };
    let local = if whole_dir {
        walk(&local_dir)?
    } else {
        let mut t = LocalTree::default();
        if let Ok(m) = fs::symlink_metadata(local_dir.join(&name)) {
            if m.is_file() || m.is_dir() {
                t.entries.insert(name.clone(), LocalFile::of(local_dir.join(&name), &m));
            }
        }
        t
    };
    let remote: BTreeMap<&str, &RemoteFile> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    let by_sum =
        if o.checksum { same_by_sum(s, id, &remote_dir, &local.entries, &remote).await? } else { BTreeSet::new() };
    let mut done = Done::default();
    let mut gone: Vec<String> = files
        .iter()
        .filter(|r| local.entries.get(&r.path).is_some_and(|l| l.dir != r.dir))
        .map(|r| r.path.clone())
        .collect();
    if o.delete && whole_dir {
        let extra = topmost(local.entries.keys().filter(|p| !remote.contains_key(p.as_str())).cloned());
        done.deleted = extra.len() as u64;
        gone.extend(extra);
    }
    gone.sort();
    for g in topmost(gone) {
        let p = local_dir.join(&g);
        let r = if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.with_context(|| format!("deleting {}", p.display()))?;
    }
    fs::create_dir_all(&local_dir).with_context(|| format!("making {}", local_dir.display()))?;
    for d in files.iter().filter(|f| f.dir) {
        fs::create_dir_all(local_dir.join(&d.path))?;
    }
    let todo: Vec<&RemoteFile> = files
        .iter()
        .filter(|r| !r.dir)
        .filter(|r| {
            let Ok(m) = fs::symlink_metadata(local_dir.join(&r.path)) else { return true };
            let same_now = m.mode() & 0o7777 == r.mode
                && same(m.size(), (m.mtime(), m.mtime_nsec() as u32), r)
                && (!o.checksum || by_sum.contains(&r.path));
            !(m.is_file() && same_now)
        })
        .collect();
    done.unchanged = files.iter().filter(|f| !f.dir).count() as u64 - todo.len() as u64;
    let bar = bar(todo.iter().map(|f| f.size).sum(), s.json);
    let (large, small): (Vec<&RemoteFile>, Vec<&RemoteFile>) = todo.into_iter().partition(|f| f.size >= LARGE);
    for r in large {
        bar.set_message(r.path.clone());
        done.bytes += fetch_file(s, id, &join_remote(&remote_dir, &r.path), &local_dir, r, &bar).await?;
        done.files += 1;
    }
    for batch in name_batches(&small, |f| f.path.len()) {
        let (files, bytes) = receive_tar(s, id, &remote_dir, &local_dir, batch, &bar).await?;
        done.files += files;
        done.bytes += bytes;
    }
    // Directory modes and times last, deepest first.
    for d in files.iter().filter(|f| f.dir).rev() {
        let p = local_dir.join(&d.path);
        fs::set_permissions(&p, fs::Permissions::from_mode(d.mode))?;
        set_mtime(&p, d)?;
    }
    bar.finish_and_clear();
    report(s, "received", &done)
}

/// A file of a tar stream being written under a temporary name beside its place.
struct Incoming {
    tmp: PathBuf,
    dest: PathBuf,
    file: fs::File,
    entry: tar::Entry,
}

/// Receives `wanted` as one tar stream and writes each file in place as soon as it is whole.
/// Entries that were not asked for are refused.
async fn receive_tar(
    s: &Session,
    id: i64,
    remote_dir: &str,
    local_dir: &Path,
    wanted: &[&RemoteFile],
    bar: &ProgressBar,
) -> anyhow::Result<(u64, u64)> {
    let list = FileList { path: remote_dir.to_owned(), files: wanted.iter().map(|f| f.path.clone()).collect() };
    let asked: BTreeSet<&str> = wanted.iter().map(|f| f.path.as_str()).collect();
    let mut resp = s.client.files_tar_response(id, &list).await?;
    let mut unpacker = Unpacker::new();
    let mut current: Option<Incoming> = None;
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut finish = |cur: &mut Option<Incoming>| -> anyhow::Result<()> {
        if let Some(inc) = cur.take() {
            inc.file.sync_all().ok();
            drop(inc.file);
            fs::set_permissions(&inc.tmp, fs::Permissions::from_mode(inc.entry.mode))?;
            let t = RemoteFile {
                path: inc.entry.path.clone(),
                dir: false,
                size: inc.entry.size,
                mtime: inc.entry.mtime.0,
                mtime_nsec: inc.entry.mtime.1,
                mode: inc.entry.mode,
            };
            set_mtime(&inc.tmp, &t)?;
            fs::rename(&inc.tmp, &inc.dest).with_context(|| format!("putting {} in place", inc.dest.display()))?;
            files += 1;
        }
        Ok(())
    };
    while let Some(chunk) = resp.chunk().await.context("receiving the files")? {
        unpacker.push(&chunk, |ev| -> anyhow::Result<()> {
            match ev {
                Event::Entry(e) => {
                    finish(&mut current)?;
                    if e.kind != EntryKind::File || !asked.contains(e.path.as_str()) {
                        return Err(TarError(format!("holds {:?}, which was not asked for", e.path)).into());
                    }
                    let dest = local_dir.join(&e.path);
                    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let tmp = dest.with_file_name(format!(".{file_name}.wmtmp"));
                    let file = fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
                    current = Some(Incoming { tmp, dest, file, entry: e });
                }
                Event::Data(d) => {
                    if let Some(inc) = current.as_mut() {
                        inc.file.write_all(d).with_context(|| format!("writing {}", inc.tmp.display()))?;
                    }
                    bytes += d.len() as u64;
                    bar.inc(d.len() as u64);
                }
            }
            Ok(())
        })?;
    }
    unpacker.finish()?;
    finish(&mut current)?;
    if files != wanted.len() as u64 {
        return Err(CliError::new(
            crate::exit::Exit::Error,
            "incomplete",
            format!("the instance sent {files} of {} files", wanted.len()),
        )
        .into());
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_in_requests_that_fit() {
        let names: Vec<String> = (0..12_000).map(|i| format!("dir/{i:05}.txt")).collect();
        let batches = name_batches(&names, String::len);
        assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), [5_000, 5_000, 2_000]);
        let long: Vec<String> = (0..100).map(|i| format!("{i}{}", "x".repeat(10_000))).collect();
        let batches = name_batches(&long, String::len);
        assert!(batches.iter().all(|b| b.iter().map(|n| n.len() + 8).sum::<usize>() <= NAME_BYTES_PER_REQUEST));
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 100);
        assert!(name_batches::<String>(&[], String::len).is_empty());
        assert_eq!(topmost(["a".into(), "a/b".into(), "ab".into(), "c/d".into()]), ["a", "ab", "c/d"]);
    }
}
