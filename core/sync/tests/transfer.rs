//! Data sync between a user's data directory and a real OpenSSH server on loopback (standing in
//! for an instance): round trips keep every byte, mode and time; a second sync moves nothing;
//! one changed file moves alone; a cut connection is retried and resumes; the jail refuses
//! every way out of the data directory.
//!
//! When the tests run as root (as in CI), the core side runs with the ids of the system accounts
//! `nobody` (the user) and `daemon` (another user), as a core running as root does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wintermute_custody::UserKeyPair;
use wintermute_ssh::test_sshd::TestSshd;
use wintermute_ssh::{connect, Pinned};
use wintermute_sync::{self as sync, Direction, LocalSide, Progress, Report, Retries, SyncError, Transfer};

const USER: &str = "nobody";
const OTHER: &str = "daemon";

struct Fixture {
    sshd: TestSshd,
    key: UserKeyPair,
    _tmp: tempfile::TempDir,
    /// WMAIS_DATA_BASE_PATH for these tests.
    template: String,
    /// The user's data root.
    root: PathBuf,
    /// Another user's data root.
    other_root: PathBuf,
    /// Where the "instance" keeps files.
    remote: PathBuf,
}

fn root_running() -> bool {
    nix::unistd::geteuid().is_root()
}

fn chown_tree(path: &Path, login: &str) {
    if !root_running() {
        return;
    }
    let user = nix::unistd::User::from_name(login).unwrap().unwrap();
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::lchown(&p, Some(user.uid.as_raw()), Some(user.gid.as_raw())).unwrap();
        if p.symlink_metadata().unwrap().is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
}

fn fixture() -> Option<Fixture> {
    let key = UserKeyPair::generate("sync@wintermute");
    let sshd = TestSshd::start_or_skip(&[&key.public_openssh()])?;
    let tmp = tempfile::Builder::new().prefix("wintermute-sync.").tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let template = format!("{}/%USER%/cloud", tmp.path().display());
    let root = tmp.path().join(USER).join("cloud");
    let other_root = tmp.path().join(OTHER).join("cloud");
    for (dir, login) in [(&root, USER), (&other_root, OTHER)] {
        fs::create_dir_all(dir).unwrap();
        fs::set_permissions(dir.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
        chown_tree(dir.parent().unwrap(), login);
    }
    fs::write(other_root.join("secret.txt"), b"the other user's data").unwrap();
    chown_tree(&other_root, OTHER);
    let remote = tmp.path().join("instance");
    fs::create_dir_all(&remote).unwrap();
    Some(Fixture { sshd, key, _tmp: tmp, template, root, other_root, remote })
}

impl Fixture {
    fn local(&self) -> LocalSide {
        LocalSide::for_user(&self.template, USER).unwrap()
    }

    async fn run(&self, t: &Transfer, progress: &Arc<Progress>, retries: u32) -> Result<Report, SyncError> {
        let local = self.local();
        local.check(t)?;
        let connect = || async {
            let policy = Arc::new(Pinned::new(self.sshd.host_public_key()));
            connect(&self.sshd.target(), &self.key, policy, Duration::from_secs(20))
                .await
                .map_err(|e| SyncError::Connection(e.to_string()))
        };
        let retries = Retries { retries, pause: Duration::from_millis(200) };
        sync::transfer(connect, &local, t, progress, retries, |n, e| eprintln!("attempt {n} failed: {e}")).await
    }

    async fn up(&self, source: &str, target: &str) -> Result<Report, SyncError> {
        self.run(&transfer(Direction::Upload, source, target), &Arc::default(), 0).await
    }

    async fn down(&self, source: &str, target: &str) -> Result<Report, SyncError> {
        self.run(&transfer(Direction::Download, source, target), &Arc::default(), 0).await
    }

    fn remote_path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.remote.display())
    }
}

fn transfer(direction: Direction, source: &str, target: &str) -> Transfer {
    Transfer { direction, source: source.into(), target: target.into(), delete: false, checksum: false }
}

/// Fast deterministic bytes (xorshift), every byte value included.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn set_mtime(path: &Path, sec: i64, nsec: u32) {
    let t = rustix::fs::Timespec { tv_sec: sec, tv_nsec: nsec as _ };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps { last_access: t, last_modification: t },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn write(path: &Path, data: &[u8], mode: u32, mtime: i64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(path, mtime, 123_456_789);
}

/// The test tree: nested directories, empty files, unicode names, odd modes, a large file.
fn make_tree(top: &Path, large: usize) {
    write(&top.join("a.txt"), b"alpha\n", 0o644, 1_600_000_000);
    write(&top.join("empty"), b"", 0o600, 1_500_000_000);
    write(&top.join("run.sh"), b"#!/bin/sh\necho hi\n", 0o755, 1_600_000_001);
    write(&top.join("nested/deeper/deepest/leaf.bin"), &bytes(70_000, 1), 0o640, 1_600_000_002);
    write(&top.join("nested/deeper/also-empty"), b"", 0o644, 1_600_000_003);
    write(&top.join("ünïcødé dir/файл 数据 ✓.txt"), "unicode ✓".as_bytes(), 0o644, 1_600_000_004);
    write(&top.join(format!("long/{}", "n".repeat(180))), b"long name", 0o644, 1_600_000_005);
    for i in 0..50 {
        write(&top.join(format!("many/f{i:03}")), &bytes(i * 1000, i as u64), 0o644, 1_600_000_100 + i as i64);
    }
    if large > 0 {
        write(&top.join("big/large.bin"), &bytes(large, 42), 0o600, 1_600_000_500);
    }
    fs::create_dir_all(top.join("empty-dir")).unwrap();
    fs::set_permissions(top.join("empty-dir"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(top.join("nested/deeper"), fs::Permissions::from_mode(0o750)).unwrap();
    // Directory times last: making the files changed them.
    for (d, t) in [
        ("nested/deeper/deepest", 1_400_000_000),
        ("nested/deeper", 1_400_000_001),
        ("empty-dir", 1_400_000_002),
        ("nested", 1_400_000_003),
    ] {
        set_mtime(&top.join(d), t, 5);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Meta {
    dir: bool,
    size: u64,
    mode: u32,
    mtime: (i64, i64),
    sha: String,
}

/// Every file and directory under `top`: kind, size, mode, time and content hash.
fn snapshot(top: &Path) -> BTreeMap<String, Meta> {
    let mut out = BTreeMap::new();
    let mut stack = vec![top.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            let rel = p.strip_prefix(top).unwrap().to_string_lossy().into_owned();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let sha = if m.is_file() { hex::encode(Sha256::digest(fs::read(&p).unwrap())) } else { String::new() };
            out.insert(
                rel,
                Meta {
                    dir: m.is_dir(),
                    size: if m.is_dir() { 0 } else { m.size() },
                    mode: m.mode() & 0o7777,
                    mtime: (m.mtime(), m.mtime_nsec()),
                    sha,
                },
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_keeps_content_modes_and_times_and_resyncs_move_only_changes() {
    let Some(f) = fixture() else { return };
    let tree = f.root.join("deck1");
    make_tree(&tree, 200 * 1024 * 1024);
    chown_tree(&tree, USER);
    let original = snapshot(&tree);

    // "deck1/" is the directory's contents (rsync's trailing slash), given as a full path.
    let up = f.up(&format!("{}/", tree.display()), &f.remote_path("data/")).await.unwrap();
    assert_eq!(up.files_sent, 58, "{up:?}");
    assert!(up.bytes_sent > 200 * 1024 * 1024, "{up:?}");
    assert_eq!(snapshot(&f.remote.join("data")), original, "the instance's copy differs");

    // Download it back to another directory of the data root (relative path, no slash: the
    // directory "data" itself lands inside "back").
    let down = f.down(&f.remote_path("data"), "back").await.unwrap();
    assert_eq!(down.files_sent, 58, "{down:?}");
    assert_eq!(snapshot(&f.root.join("back/data")), original, "the copy downloaded back differs");
    if root_running() {
        let owner = fs::metadata(f.root.join("back/data/a.txt")).unwrap().uid();
        assert_eq!(
            owner,
            nix::unistd::User::from_name(USER).unwrap().unwrap().uid.as_raw(),
            "files written as the user"
        );
    }

    // Nothing changed: nothing moves, either way.
    let again = f.up("deck1/", &f.remote_path("data")).await.unwrap();
    assert_eq!((again.files_sent, again.bytes_sent), (0, 0), "{again:?}");
    assert_eq!(again.unchanged, 58);
    let again = f.down(&f.remote_path("data"), "back").await.unwrap();
    assert_eq!((again.files_sent, again.bytes_sent), (0, 0), "{again:?}");

    // One changed file moves alone.
    write(&tree.join("nested/deeper/deepest/leaf.bin"), &bytes(70_001, 9), 0o640, 1_700_000_000);
    set_mtime(&tree.join("nested/deeper/deepest"), 1_400_000_000, 5);
    set_mtime(&tree.join("nested/deeper"), 1_400_000_001, 5);
    chown_tree(&tree, USER);
    let one = f.up("deck1/", &f.remote_path("data/")).await.unwrap();
    assert_eq!((one.files_sent, one.bytes_sent), (1, 70_001), "{one:?}");
    assert_eq!(snapshot(&f.remote.join("data")), snapshot(&tree));

    // Downloading brings back exactly the two files that differ: the one changed above, and
    // one changed on the instance.
    fs::write(f.remote.join("data/a.txt"), b"changed on the instance").unwrap();
    let two = f.down(&f.remote_path("data"), "back/").await.unwrap();
    assert_eq!((two.files_sent, two.bytes_sent), (2, 70_001 + 23), "{two:?}");
    assert_eq!(snapshot(&f.root.join("back/data")), snapshot(&f.remote.join("data")));
    assert_eq!(fs::read(f.root.join("back/data/a.txt")).unwrap(), b"changed on the instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_only_when_asked_and_checksums_find_same_size_changes() {
    let Some(f) = fixture() else { return };
    let tree = f.root.join("deck");
    make_tree(&tree, 0);
    chown_tree(&tree, USER);
    f.up("deck/", &f.remote_path("d/")).await.unwrap();
    fs::write(f.remote.join("d/extra.txt"), b"only on the instance").unwrap();
    fs::create_dir_all(f.remote.join("d/extra-dir/sub")).unwrap();

    let kept = f.up("deck/", &f.remote_path("d/")).await.unwrap();
    assert_eq!(kept.deleted, 0);
    assert!(f.remote.join("d/extra.txt").exists());
    let mut t = transfer(Direction::Upload, "deck/", &f.remote_path("d/"));
    t.delete = true;
    let gone = f.run(&t, &Arc::default(), 0).await.unwrap();
    assert_eq!(gone.deleted, 2, "{gone:?}");
    assert!(!f.remote.join("d/extra.txt").exists() && !f.remote.join("d/extra-dir").exists());
    assert_eq!(snapshot(&f.remote.join("d")), snapshot(&tree));

    // Same size, same time, other content: only a checksum comparison sees it.
    let p = f.remote.join("d/a.txt");
    let meta = fs::metadata(&p).unwrap();
    fs::write(&p, b"ALPHA\n").unwrap();
    set_mtime(&p, meta.mtime(), meta.mtime_nsec() as u32);
    let plain = f.up("deck/", &f.remote_path("d/")).await.unwrap();
    assert_eq!(plain.files_sent, 0);
    let mut t = transfer(Direction::Upload, "deck/", &f.remote_path("d/"));
    t.checksum = true;
    let summed = f.run(&t, &Arc::default(), 0).await.unwrap();
    assert_eq!(summed.files_sent, 1, "{summed:?}");
    assert_eq!(fs::read(&p).unwrap(), b"alpha\n");

    // A single file, and a directory without its trailing slash.
    f.up("deck/a.txt", &f.remote_path("single")).await.unwrap();
    assert_eq!(fs::read(f.remote.join("single/a.txt")).unwrap(), b"alpha\n");
    f.up("deck/many", &f.remote_path("named/")).await.unwrap();
    assert!(f.remote.join("named/many/f001").is_file());
    f.down(&f.remote_path("single/a.txt"), "one-file/").await.unwrap();
    assert_eq!(fs::read(f.root.join("one-file/a.txt")).unwrap(), b"alpha\n");
}

/// Kills the connections the server has open (its per-connection processes), as a network cut
/// would end them.
fn cut_connections(sshd: &TestSshd) {
    let pid: i32 = fs::read_to_string(sshd.dir().join("sshd.pid")).unwrap().trim().parse().unwrap();
    for e in fs::read_dir("/proc").unwrap() {
        let name = e.unwrap().file_name();
        let Ok(child) = name.to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let after = stat.rsplit_once(')').map(|(_, r)| r.to_owned()).unwrap_or_default();
        let ppid: i32 = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == pid {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_retried_and_resumes_without_sending_finished_files_again() {
    let Some(f) = fixture() else { return };
    let tree = f.root.join("cut");
    const LARGE: u64 = 200 * 1024 * 1024;
    write(&tree.join("0-large.bin"), &bytes(LARGE as usize, 7), 0o644, 1_600_000_000);
    for i in 0..300 {
        write(&tree.join(format!("small/{i:03}")), &bytes(64 * 1024, i), 0o644, 1_600_000_000);
    }
    chown_tree(&tree, USER);
    let progress: Arc<Progress> = Arc::default();
    let t = transfer(Direction::Upload, "cut/", &f.remote_path("cut/"));

    // Cut once inside the large file and once in the middle of the small ones.
    let cuts = std::sync::atomic::AtomicU32::new(0);
    let (progress_w, cuts_w) = (progress.clone(), &cuts);
    let run = f.run(&t, &progress, 4);
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let (files, _, bytes, _) = progress_w.snapshot();
            let phase = progress_w.phase.load(Ordering::Relaxed);
            match cuts_w.load(Ordering::Relaxed) {
                0 if phase == 2 && bytes > LARGE / 3 && files == 0 => {
                    cut_connections(&f.sshd);
                    cuts_w.store(1, Ordering::Relaxed);
                }
                1 if phase == 2 && files >= 150 => {
                    cut_connections(&f.sshd);
                    cuts_w.store(2, Ordering::Relaxed);
                }
                n if n >= 2 || phase == 3 => break,
                _ => {}
            }
        }
    };
    let (report, ()) = tokio::join!(run, watch);
    let report = report.unwrap();
    assert_eq!(cuts.load(Ordering::Relaxed), 2, "both cuts happened");
    assert_eq!(report.attempts, 3, "{report:?}");
    assert_eq!(snapshot(&f.remote.join("cut")), snapshot(&tree), "hashes, sizes, modes and times are equal");
    // The last attempt sent neither the large file nor the small files finished before the
    // second cut: only the rest.
    assert!(report.unchanged >= 2, "the large file and some small files were not sent again: {report:?}");
    assert_eq!(report.files_sent + report.unchanged, 301, "{report:?}");
    assert_eq!(report.bytes_sent, report.files_sent * 64 * 1024, "{report:?}");
    // No partial copies are left behind.
    assert!(fs::read_dir(f.remote.join("cut")).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".wmpart")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_resumes_from_where_the_cut_left_it() {
    let Some(f) = fixture() else { return };
    let tree = f.root.join("resume");
    const LARGE: u64 = 100 * 1024 * 1024;
    write(&tree.join("big.bin"), &bytes(LARGE as usize, 3), 0o644, 1_600_000_000);
    chown_tree(&tree, USER);
    let progress: Arc<Progress> = Arc::default();
    let t = transfer(Direction::Upload, "resume/", &f.remote_path("resume/"));
    let run = f.run(&t, &progress, 2);
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let (_, _, bytes, _) = progress.snapshot();
            if bytes > LARGE / 2 {
                cut_connections(&f.sshd);
                return;
            }
        }
    };
    let (report, ()) = tokio::join!(run, watch);
    let report = report.unwrap();
    assert_eq!(report.attempts, 2, "{report:?}");
    assert!(report.bytes_sent < LARGE * 6 / 10, "the second attempt sent only the rest: {report:?}");
    assert_eq!(snapshot(&f.remote.join("resume")), snapshot(&tree));

    // And the other way: a download cut in the middle resumes too.
    let progress: Arc<Progress> = Arc::default();
    let t = transfer(Direction::Download, &f.remote_path("resume/"), "resume-back/");
    let run = f.run(&t, &progress, 2);
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let (_, _, bytes, _) = progress.snapshot();
            if bytes > LARGE / 2 {
                cut_connections(&f.sshd);
                return;
            }
        }
    };
    let (report, ()) = tokio::join!(run, watch);
    let report = report.unwrap();
    assert_eq!(report.attempts, 2, "{report:?}");
    assert!(report.bytes_sent < LARGE * 6 / 10, "{report:?}");
    assert_eq!(snapshot(&f.root.join("resume-back")), snapshot(&tree));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_out_of_the_data_directory_is_refused() {
    let Some(f) = fixture() else { return };
    let tree = f.root.join("deck");
    make_tree(&tree, 0);
    std::os::unix::fs::symlink("/etc", tree.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink(&f.other_root, f.root.join("other-link")).unwrap();
    chown_tree(&f.root, USER);
    let other = f.other_root.display().to_string();

    // Paths: `..`, full paths outside the root, the other user's root.
    for bad in [
        "../daemon/cloud",
        "deck/../../daemon/cloud/",
        "/etc/",
        &format!("{other}/"),
        &format!("{}/../x", f.root.display()),
    ] {
        let up = f.up(bad, &f.remote_path("x/")).await.unwrap_err();
        assert!(matches!(up, SyncError::Path(_)), "{bad}: {up:?}");
        let down = f.down(&f.remote_path("x/"), bad).await.unwrap_err();
        assert!(matches!(down, SyncError::Path(_)), "{bad}: {down:?}");
    }

    // Symlinks inside a tree are skipped, and named in the report.
    let up = f.up("deck/", &f.remote_path("deck/")).await.unwrap();
    let skipped: Vec<&str> = up.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        skipped.iter().any(|p| p.ends_with("etc-link")) && skipped.iter().any(|p| p.ends_with("passwd-link")),
        "{up:?}"
    );
    assert!(!f.remote.join("deck/etc-link").exists() && !f.remote.join("deck/passwd-link").exists());

    // A path through a symlink is refused: sending, and receiving into it.
    for source in ["other-link/", "other-link/secret.txt", "deck/etc-link/passwd"] {
        let e = f.up(source, &f.remote_path("leak/")).await.unwrap_err();
        assert!(matches!(e, SyncError::Jail { .. }), "{source}: {e:?}");
    }
    let e = f.down(&f.remote_path("deck/"), "other-link/").await.unwrap_err();
    assert!(matches!(e, SyncError::Jail { .. }), "{e:?}");
    assert!(!f.other_root.join("deck").exists() && !f.other_root.join("a.txt").exists());
    assert!(!f.remote.join("leak").exists());

    // The data root itself must not be a symlink.
    let tmp_top = f.root.parent().unwrap().parent().unwrap().to_owned();
    fs::create_dir_all(tmp_top.join("mallory")).unwrap();
    std::os::unix::fs::symlink(&f.other_root, tmp_top.join("mallory/cloud")).unwrap();
    let local = LocalSide { root: sync::DataRoot::for_user(&f.template, "mallory").unwrap(), identity: None };
    let t = transfer(Direction::Upload, "./", &f.remote_path("m/"));
    let connect = || async {
        let policy = Arc::new(Pinned::new(f.sshd.host_public_key()));
        connect(&f.sshd.target(), &f.key, policy, Duration::from_secs(20))
            .await
            .map_err(|e| SyncError::Connection(e.to_string()))
    };
    let e =
        sync::transfer(connect, &local, &t, &Arc::default(), Retries { retries: 0, pause: Duration::ZERO }, |_, _| {})
            .await
            .unwrap_err();
    assert!(matches!(e, SyncError::Jail { .. }), "{e:?}");

    // Downloads never write through a symlink placed on the instance either: it is skipped.
    std::os::unix::fs::symlink(&other, f.remote.join("deck/planted")).unwrap();
    let down = f.down(&f.remote_path("deck/"), "from-instance/").await.unwrap();
    assert!(down.skipped.iter().any(|(p, _)| p.ends_with("planted")), "{down:?}");
    assert!(!f.root.join("from-instance/planted").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_swapped_in_during_a_transfer_is_refused() {
    let Some(f) = fixture() else { return };
    let tree = f.root.join("swap");
    write(&tree.join("0-large.bin"), &bytes(64 * 1024 * 1024, 5), 0o644, 1_600_000_000);
    write(&tree.join("sub/file.txt"), b"mine", 0o644, 1_600_000_000);
    chown_tree(&tree, USER);
    fs::write(f.other_root.join("file.txt"), b"the other user's file").unwrap();
    chown_tree(&f.other_root, OTHER);
    let progress: Arc<Progress> = Arc::default();
    let t = transfer(Direction::Upload, "swap/", &f.remote_path("swap/"));
    let run = f.run(&t, &progress, 3);
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if progress.snapshot().2 > 0 {
                // While the large file travels, "sub" becomes a symlink to the other user's data.
                fs::rename(tree.join("sub"), tree.join("sub.real")).unwrap();
                std::os::unix::fs::symlink(&f.other_root, tree.join("sub")).unwrap();
                return;
            }
        }
    };
    let (result, ()) = tokio::join!(run, watch);
    let e = result.unwrap_err();
    assert!(matches!(e, SyncError::Jail { .. }), "{e:?}");
    assert!(!f.remote.join("swap/sub/file.txt").exists(), "nothing was read through the symlink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_side_runs_with_the_users_own_rights() {
    if !root_running() {
        eprintln!("note: not root; the core side runs with the test runner's rights and this test has nothing to show");
        return;
    }
    let Some(f) = fixture() else { return };
    // A file in the user's directory that only root may read.
    let tree = f.root.join("mixed");
    write(&tree.join("mine.txt"), b"mine", 0o644, 1_600_000_000);
    chown_tree(&tree, USER);
    write(&tree.join("roots.txt"), b"root only", 0o600, 1_600_000_000);
    std::os::unix::fs::lchown(tree.join("roots.txt"), Some(0), Some(0)).unwrap();
    // Files and directories the user may not read are skipped and named; the rest arrives.
    write(&tree.join("roots-large.bin"), &bytes(9 << 20, 7), 0o600, 1_600_000_000);
    std::os::unix::fs::lchown(tree.join("roots-large.bin"), Some(0), Some(0)).unwrap();
    write(&tree.join("closed/inside.txt"), b"closed", 0o644, 1_600_000_000);
    fs::set_permissions(tree.join("closed"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::lchown(tree.join("closed"), Some(0), Some(0)).unwrap();
    // Something already on the instance under the unreadable directory: not deleted.
    write(&f.remote.join("mixed/closed/kept.txt"), b"kept", 0o644, 1_600_000_000);
    let t = Transfer { delete: true, ..transfer(Direction::Upload, "mixed/", &f.remote_path("mixed/")) };
    let report = f.run(&t, &Arc::default(), 0).await.unwrap();
    assert_eq!(fs::read(f.remote.join("mixed/mine.txt")).unwrap(), b"mine");
    assert!(!f.remote.join("mixed/roots.txt").exists());
    assert!(!f.remote.join("mixed/roots-large.bin").exists());
    assert!(f.remote.join("mixed/closed/kept.txt").exists(), "nothing deleted under a directory not read");
    let skipped: Vec<&str> = report.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(report.skipped.len(), 3, "{skipped:?}");
    for name in ["mixed/roots.txt", "mixed/roots-large.bin", "mixed/closed"] {
        assert!(skipped.iter().any(|p| p.ends_with(name)), "{name} in {skipped:?}");
    }
    assert!(report.skipped.iter().all(|(_, why)| why.contains("permission denied")), "{report:?}");
    assert_eq!(report.files_sent, 1);

    // A directory of the data root the user may not write to: downloads into it fail the same way.
    let locked = f.root.join("locked");
    fs::create_dir_all(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(f.remote.join("src")).unwrap();
    fs::write(f.remote.join("src/x"), b"x").unwrap();
    let e = f.down(&f.remote_path("src/"), "locked/").await.unwrap_err();
    assert!(matches!(e, SyncError::Denied(_)), "{e:?}");

    // A login without a system account cannot transfer at all while the core runs as root.
    let e = LocalSide::for_user(&f.template, "no-such-account-wm").unwrap_err();
    assert!(matches!(e, SyncError::Account(_)), "{e:?}");
}
