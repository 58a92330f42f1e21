//! The core side of a transfer, jailed: every file the core reads or writes for a user is
//! reached from the user's data root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)`, one directory file descriptor at a time, and — when the core runs
//! as root — on a thread of its own that first takes the user's uid, gid and groups.
//!
//! Why a thread with the user's ids and not a child process: Linux keeps credentials per thread
//! (the raw `setresuid`/`setgroups` system calls, which rustix's `set_thread_*` make, change only
//! the calling thread; glibc's wrappers would change them all). A thread that gives up root for
//! the user's ids also loses every capability, so the kernel itself checks each open against
//! the user's rights, exactly as for the user's own programs (manual 6.5: a user sends only what
//! they could read), and root-squashing NFS exports see the user's uid. The thread does only
//! that user's file work and then ends; it never runs anything else. No extra program, no
//! extra copy of the data through a pipe.
//!
//! Why openat2 and not path checks: a path checked and then opened can change in between (a
//! directory swapped for a symlink during a transfer). With RESOLVE_BENEATH and
//! RESOLVE_NO_SYMLINKS the kernel refuses, at the moment of the open, any path that would
//! leave the directory or pass a symlink; the refusal is reported and audited. Symlinks found
//! while listing are skipped (manual 6.1.2).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

use super::listing::{Entry, EntryType, Listing};
use super::paths::{is_partial, partial_name, LocalPath};
use super::SyncError;

/// Whose rights the core-side file work runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Identity {
    /// The user's system account when the core runs as root (manual 6.5: the login must be the
    /// same on the core's system), `None` when the core runs as an ordinary account (then it
    /// can only act with its own rights, and the jail alone keeps users apart).
    pub fn for_login(login: &str) -> Result<Option<Identity>, SyncError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        let user = nix::unistd::User::from_name(login)
            .map_err(|e| SyncError::Account(format!("looking up the system account {login:?} failed: {e}")))?
            .ok_or_else(|| {
                SyncError::Account(format!(
                    "there is no system account named {login:?} on the core; transfers run with the user's own \
                     account, so the Wintermute login must be the same as the system login"
                ))
            })?;
        if user.uid.is_root() {
            return Err(SyncError::Account(format!("{login:?} is root on the core; transfers never run as root")));
        }
        let name = std::ffi::CString::new(login).map_err(|_| SyncError::Account("a login with a NUL".into()))?;
        let groups = nix::unistd::getgrouplist(&name, user.gid)
            .map_err(|e| SyncError::Account(format!("reading the groups of {login:?} failed: {e}")))?;
        Ok(Some(Identity {
            login: login.to_owned(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups: groups.iter().map(|g| g.as_raw()).collect(),
        }))
    }
}

/// Runs `work` on a new thread that has taken `identity`'s ids (when given), and hands back
/// its result.
pub async fn run_as<R: Send + 'static>(
    identity: Option<Identity>,
    work: impl FnOnce() -> Result<R, SyncError> + Send + 'static,
) -> Result<R, SyncError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("wm-sync-jail".into())
        .spawn(move || {
            let result = become_user(identity.as_ref()).and_then(|()| work());
            let _ = tx.send(result);
        })
        .map_err(|e| SyncError::Local(format!("starting a transfer thread failed: {e}")))?;
    rx.await.map_err(|_| SyncError::Local("a transfer thread stopped unexpectedly".into()))?
}

/// Gives this thread (only) the user's groups, gid and uid, in that order, all three ids of
/// each kind, so it cannot go back to root.
fn become_user(identity: Option<&Identity>) -> Result<(), SyncError> {
    let Some(id) = identity else { return Ok(()) };
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    let fail = |what: &str, e: Errno| SyncError::Local(format!("taking the {what} of {} failed: {e}", id.login));
    let groups: Vec<Gid> = id.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    set_thread_groups(&groups).map_err(|e| fail("groups", e))?;
    let gid = Gid::from_raw(id.gid);
    set_thread_res_gid(gid, gid, gid).map_err(|e| fail("group id", e))?;
    let uid = Uid::from_raw(id.uid);
    set_thread_res_uid(uid, uid, uid).map_err(|e| fail("user id", e))?;
    Ok(())
}

const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS).union(ResolveFlags::NO_MAGICLINKS);

/// A user's data root, opened on a jailed thread.
pub struct Jail {
    root: OwnedFd,
    root_path: PathBuf,
}

impl Jail {
    /// Opens the data root itself. It must be a directory, and not a symlink (an admin's
    /// symlinks above it, e.g. to an NFS mount, are followed).
    pub fn open(root: &Path) -> Result<Jail, SyncError> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT => SyncError::Path(format!("your data directory {} does not exist", root.display())),
            Errno::LOOP | Errno::NOTDIR => SyncError::Jail {
                path: root.display().to_string(),
                reason: "the data directory is not a plain directory (a symlink?)".into(),
            },
            e => SyncError::Local(format!("opening your data directory {} failed: {e}", root.display())),
        })?;
        Ok(Jail { root: fd, root_path: root.to_owned() })
    }

    /// The path shown for `rel` (relative to the root) in messages.
    pub fn shown(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.root_path.display().to_string()
        } else {
            self.root_path.join(rel).display().to_string()
        }
    }

    fn error(&self, rel: &str, what: &str, e: Errno) -> SyncError {
        if e == Errno::NOTDIR && self.is_symlink(rel) {
            return SyncError::Jail {
                path: self.shown(rel),
                reason: "a symlink is in the way (symlinks are never followed)".into(),
            };
        }
        match e {
            Errno::LOOP | Errno::XDEV => SyncError::Jail {
                path: self.shown(rel),
                reason: if e == Errno::LOOP {
                    "a symlink is in the way (symlinks are never followed)".into()
                } else {
                    "the path leaves the data directory".into()
                },
            },
            Errno::ACCESS | Errno::PERM => SyncError::Denied(format!(
                "{}: {what}: permission denied (your own rights on the core apply)",
                self.shown(rel)
            )),
            e => SyncError::Local(format!("{}: {what} failed: {e}", self.shown(rel))),
        }
    }

    /// Whether `rel` itself is a symlink (for error messages).
    fn is_symlink(&self, rel: &str) -> bool {
        rustix::fs::openat2(&self.root, rel, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), BENEATH)
            .and_then(rustix::fs::fstat)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
    }

    /// Opens `rel` (relative to the root; empty for the root) with `flags`, beneath the root.
    fn open_at(&self, rel: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd, (Errno, SyncError)> {
        let path = if rel.is_empty() { "." } else { rel };
        rustix::fs::openat2(&self.root, path, flags | OFlags::CLOEXEC | OFlags::NOFOLLOW, mode, BENEATH)
            .map_err(|e| (e, self.error(rel, "opening", e)))
    }

    pub fn open_dir(&self, rel: &str) -> Result<OwnedFd, SyncError> {
        self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).map_err(|(_, e)| e)
    }

    /// What `rel` is: `None` when it does not exist. A symlink is refused.
    pub fn kind(&self, rel: &str) -> Result<Option<EntryType>, SyncError> {
        match self.open_at(rel, OFlags::PATH, Mode::empty()) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| self.error(rel, "reading", e))?;
                Ok(Some(match FileType::from_raw_mode(st.st_mode) {
                    FileType::Directory => EntryType::Dir,
                    FileType::RegularFile => EntryType::File,
                    FileType::Symlink => {
                        return Err(SyncError::Jail {
                            path: self.shown(rel),
                            reason: "a symlink (symlinks are never followed)".into(),
                        })
                    }
                    _ => return Err(SyncError::Path(format!("{} is neither a file nor a directory", self.shown(rel)))),
                }))
            }
            Err((Errno::NOENT, _)) => Ok(None),
            Err((_, e)) => Err(e),
        }
    }

    /// Opens (making them when `create`) the directories of `rel`, one component at a time.
    pub fn dir_path(&self, rel: &str, create: bool) -> Result<OwnedFd, SyncError> {
        match self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err((Errno::NOENT, _)) if create => {}
            Err((_, e)) => return Err(e),
        }
        let mut done = String::new();
        let mut fd = self.open_dir("")?;
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            let next = super::paths::join(&done, part);
            match rustix::fs::mkdirat(&fd, part, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(self.error(&next, "making the directory", e)),
            }
            fd = rustix::fs::openat2(
                &fd,
                part,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
                BENEATH,
            )
            .map_err(|e| self.error(&next, "opening", e))?;
            done = next;
        }
        Ok(fd)
    }

    /// Lists the tree at `dir` (relative to the root): regular files and directories, with
    /// paths relative to `dir`. Symlinks and other kinds are left out and named in `skipped`;
    /// names that are not UTF-8 too. A missing `dir` lists as empty. With `only`, just that
    /// entry of `dir` (a single file being sent).
    pub fn list(&self, dir: &str, only: Option<&str>) -> Result<Listing, SyncError> {
        let mut listing = Listing::default();
        let fd = match self.open_at(dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
            Ok(fd) => fd,
            Err((Errno::NOENT, _)) => return Ok(listing),
            Err((_, e)) => return Err(e),
        };
        listing.exists = true;
        if let Some(name) = only {
            self.list_one(&fd, dir, "", name, &mut listing, false)?;
            return Ok(listing);
        }
        self.walk(&fd, dir, "", &mut listing)?;
        Ok(listing)
    }

    fn walk(&self, fd: &OwnedFd, base: &str, rel: &str, out: &mut Listing) -> Result<(), SyncError> {
        let full = super::paths::join(base, rel);
        let mut dir = rustix::fs::Dir::read_from(fd).map_err(|e| self.error(&full, "listing", e))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| self.error(&full, "listing", e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            match std::str::from_utf8(name) {
                Ok(n) => names.push(n.to_owned()),
                Err(_) => out
                    .skipped
                    .push((super::paths::join(&full, &String::from_utf8_lossy(name)), "the name is not UTF-8".into())),
            }
        }
        names.sort_unstable();
        for name in names {
            self.list_one(fd, base, rel, &name, out, true)?;
        }
        Ok(())
    }

    fn list_one(
        &self,
        fd: &OwnedFd,
        base: &str,
        rel: &str,
        name: &str,
        out: &mut Listing,
        recurse: bool,
    ) -> Result<(), SyncError> {
        let path = super::paths::join(rel, name);
        let full = super::paths::join(base, &path);
        let st = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(Errno::ACCESS | Errno::PERM) => {
                out.skipped.push((full, DENIED.into()));
                out.denied.push(path);
                return Ok(());
            }
            Err(e) => return Err(self.error(&full, "reading", e)),
        };
        let entry = |kind| Entry {
            kind,
            size: st.st_size as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
            mode: st.st_mode & 0o7777,
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile if is_partial(&path) => {
                out.partials.insert(path, st.st_size as u64);
            }
            FileType::RegularFile => {
                out.entries.insert(path, entry(EntryType::File));
            }
            FileType::Directory => {
                out.entries.insert(path.clone(), entry(EntryType::Dir));
                if recurse {
                    let sub = match rustix::fs::openat2(
                        fd,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                        Mode::empty(),
                        BENEATH,
                    ) {
                        Ok(sub) => sub,
                        // A directory the user may not read: left out, with all it holds.
                        Err(Errno::ACCESS | Errno::PERM) => {
                            out.entries.remove(&path);
                            out.skipped.push((full, DENIED.into()));
                            out.denied.push(path);
                            return Ok(());
                        }
                        Err(e) => return Err(self.error(&full, "opening", e)),
                    };
                    self.walk(&sub, base, &path, out)?;
                }
            }
            FileType::Symlink => out.skipped.push((full, "a symlink (symlinks are never transferred)".into())),
            _ => out.skipped.push((full, "not a regular file or directory".into())),
        }
        Ok(())
    }

    /// Opens a file to send, beneath the root, refusing symlinks at any level.
    pub fn open_file(&self, rel: &str) -> Result<(File, Entry), SyncError> {
        let fd = self.open_at(rel, OFlags::RDONLY, Mode::empty()).map_err(|(_, e)| e)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| self.error(rel, "reading", e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(SyncError::Jail { path: self.shown(rel), reason: "it is no longer a regular file".into() });
        }
        let entry = Entry {
            kind: EntryType::File,
            size: st.st_size as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
            mode: st.st_mode & 0o7777,
        };
        Ok((File::from(fd), entry))
    }

    /// Deletes `rel` (a file, or a directory with everything in it), beneath the root.
    pub fn remove(&self, rel: &str) -> Result<(), SyncError> {
        let (parent, name) = split(rel);
        let dir = self.open_dir(parent)?;
        remove_in(&dir, name).map_err(|e| self.error(rel, "deleting", e))
    }
}

/// Why a path the user may not read was left out.
pub const DENIED: &str = "permission denied (your own rights on the core apply); skipped";

fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn remove_in(dir: &OwnedFd, name: &str) -> Result<(), Errno> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = rustix::fs::openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        BENEATH,
    )?;
    let mut names = Vec::new();
    let mut d = rustix::fs::Dir::read_from(&sub)?;
    while let Some(e) = d.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(e.file_name().to_owned());
        }
    }
    for n in names {
        match rustix::fs::unlinkat(&sub, n.as_c_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => remove_in(&sub, &n.to_string_lossy())?,
            Err(e) => return Err(e),
        }
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// Writes files into a tree under the root: each file is assembled under a hidden partial
/// name and renamed into place with its mode and time, so a cut transfer leaves no half file
/// under the real name. Directory times are set last, deepest first.
pub struct Writer<'a> {
    jail: &'a Jail,
    base: String,
    /// The directory the last file went to, kept open.
    cached: Option<(String, OwnedFd)>,
    dirs: BTreeMap<String, (u32, (i64, u32))>,
}

impl<'a> Writer<'a> {
    pub fn new(jail: &'a Jail, base: &LocalPath) -> Writer<'a> {
        Writer { jail, base: base.joined(), cached: None, dirs: BTreeMap::new() }
    }

    fn dir(&mut self, rel_dir: &str) -> Result<&OwnedFd, SyncError> {
        let full = super::paths::join(&self.base, rel_dir);
        if self.cached.as_ref().map(|(p, _)| p.as_str()) != Some(full.as_str()) {
            let fd = self.jail.dir_path(&full, true)?;
            self.cached = Some((full, fd));
        }
        match &self.cached {
            Some((_, fd)) => Ok(fd),
            None => Err(SyncError::Local("no directory open".into())),
        }
    }

    /// A directory of the tree: made now, its mode and time set by [`Writer::finish`].
    pub fn directory(&mut self, rel: &str, mode: u32, mtime: (i64, u32)) -> Result<(), SyncError> {
        self.dir(rel)?;
        self.dirs.insert(rel.to_owned(), (mode, mtime));
        Ok(())
    }

    /// Opens the partial file of `rel` for appending from `offset` (0: a new file). Returns
    /// the file; [`Writer::commit`] puts it in place.
    pub fn partial(&mut self, rel: &str, size: u64, mtime: (i64, u32), offset: u64) -> Result<File, SyncError> {
        let (parent, _) = split(rel);
        let part = partial_name(rel, size, mtime.0);
        let (_, part_name) = split(&part);
        let part_name = part_name.to_owned();
        let full = super::paths::join(&self.base, &part);
        let jail = self.jail;
        let dir = self.dir(parent)?;
        // openat2 takes a mode only together with O_CREAT.
        let (flags, mode) = if offset == 0 {
            (OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC, Mode::from_raw_mode(0o600))
        } else {
            (OFlags::WRONLY | OFlags::APPEND, Mode::empty())
        };
        let fd =
            rustix::fs::openat2(dir, part_name.as_str(), flags | OFlags::CLOEXEC | OFlags::NOFOLLOW, mode, BENEATH)
                .map_err(|e| jail.error(&full, "writing", e))?;
        if offset > 0 {
            let st = rustix::fs::fstat(&fd).map_err(|e| jail.error(&full, "reading", e))?;
            if st.st_size as u64 != offset {
                return Err(SyncError::Local(format!(
                    "{full}: the partial copy has {} bytes, not {offset}",
                    st.st_size
                )));
            }
        }
        Ok(File::from(fd))
    }

    /// Gives the assembled file its mode and time, checks its size and renames it into place.
    pub fn commit(&mut self, rel: &str, file: File, size: u64, mode: u32, mtime: (i64, u32)) -> Result<(), SyncError> {
        let (parent, name) = split(rel);
        let name = name.to_owned();
        let part = partial_name(rel, size, mtime.0);
        let (_, part_name) = split(&part);
        let part_name = part_name.to_owned();
        let full = super::paths::join(&self.base, rel);
        let jail = self.jail;
        let st = rustix::fs::fstat(&file).map_err(|e| jail.error(&full, "reading", e))?;
        if st.st_size as u64 != size {
            return Err(SyncError::Remote(format!("{full}: received {} bytes of {size}", st.st_size)));
        }
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| jail.error(&full, "setting the mode", e))?;
        let t = Timespec { tv_sec: mtime.0, tv_nsec: i64::from(mtime.1) as _ };
        rustix::fs::futimens(&file, &Timestamps { last_access: t, last_modification: t })
            .map_err(|e| jail.error(&full, "setting the time", e))?;
        drop(file);
        let dir = self.dir(parent)?;
        rustix::fs::renameat(dir, part_name.as_str(), dir, name.as_str())
            .map_err(|e| jail.error(&full, "putting the file in place", e))
    }

    /// Sets the directories' modes and times, deepest first (writing into a directory changes
    /// its time).
    pub fn finish(mut self) -> Result<(), SyncError> {
        self.cached = None;
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, (mode, mtime)) in dirs.iter().rev() {
            let full = super::paths::join(&self.base, rel);
            let fd = self.jail.open_dir(&full)?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))
                .map_err(|e| self.jail.error(&full, "setting the mode", e))?;
            let t = Timespec { tv_sec: mtime.0, tv_nsec: i64::from(mtime.1) as _ };
            rustix::fs::futimens(&fd, &Timestamps { last_access: t, last_modification: t })
                .map_err(|e| self.jail.error(&full, "setting the time", e))?;
        }
        Ok(())
    }
}

/// Copies `file` from its current position into `out` in chunks, at most `limit` bytes.
pub fn pump(
    file: &mut File,
    limit: u64,
    mut out: impl FnMut(&[u8]) -> Result<(), SyncError>,
) -> Result<u64, SyncError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    while sent < limit {
        let want = buf.len().min(usize::try_from(limit - sent).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(|e| SyncError::Local(format!("reading a file failed: {e}")))?;
        if n == 0 {
            break;
        }
        out(&buf[..n])?;
        sent += n as u64;
    }
    Ok(sent)
}

/// Writes all of `data` to `file`.
pub fn write_all(file: &mut File, data: &[u8]) -> Result<(), SyncError> {
    file.write_all(data).map_err(|e| SyncError::Local(format!("writing a file failed: {e}")))
}

impl From<io::Error> for SyncError {
    fn from(e: io::Error) -> Self {
        SyncError::Local(e.to_string())
    }
}
