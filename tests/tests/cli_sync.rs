//! `wmai upload` and `wmai download` against a real core (`wmais`) and a real OpenSSH server
//! standing in for an instance: between the user's data directory on the core and the instance
//! (a task with progress, only changes moving, the jail refusing paths outside the directory),
//! and between this machine and the instance through the core (`--local`), which never hands
//! the CLI a key.
//!
//! The core runs the file work with the user's own system account when it runs as root (as in
//! CI), so the Wintermute user here is `nobody`, an account every Debian system has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wintermute_api::users::NewUser;
use wintermute_ssh::test_sshd::TestSshd;
use wintermute_tests::console::InstanceRegistry;
use wintermute_tests::{Core, CoreOptions, Wmai};

const USER: &str = "nobody";
const PASSWORD: &str = "Second-Pass-2468";

fn chown_tree(path: &Path) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let user = nix::unistd::User::from_name(USER).unwrap().unwrap();
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

fn make_tree(top: &Path) {
    for (rel, data, mode) in [
        ("a.txt", b"alpha\n".to_vec(), 0o644),
        ("empty", Vec::new(), 0o600),
        ("sub/deeper/run.sh", b"#!/bin/sh\necho hi\n".to_vec(), 0o755),
        ("ünïcødé ✓/data.bin", (0..200_000u32).map(|i| (i % 251) as u8).collect(), 0o640),
        ("large/big.bin", (0..20_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect(), 0o644),
    ] {
        let p = top.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Files under `top`: size, mode, mtime seconds and content.
fn snapshot(top: &Path) -> BTreeMap<String, (u64, u32, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![top.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                let rel = p.strip_prefix(top).unwrap().to_string_lossy().into_owned();
                out.insert(rel, (m.size(), m.mode() & 0o7777, m.mtime(), fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// A core with the user `nobody`, whose data directory is under a temporary directory, and an
/// instance `web` (a real sshd on loopback writing under the same temporary directory).
struct Lab {
    core: Core,
    admin: wintermute_api::client::Client,
    tmp: tempfile::TempDir,
    _sshd: TestSshd,
    _registry: InstanceRegistry,
}

impl Lab {
    async fn start() -> Option<Lab> {
        let core = Core::start(CoreOptions::new()).await.unwrap();
        let admin = core.admin_client().await.unwrap();
        let tmp = tempfile::Builder::new().prefix("wintermute-cli-sync.").tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let template = format!("{}/%USER%/cloud", tmp.path().display());
        admin.set_setting("WMAIS_DATA_BASE_PATH", serde_json::json!(template)).await.unwrap();
        admin.set_setting("WMAIS_DATA_TRANSFER_PAUSE_BETWEEN_RETRY", serde_json::json!(1)).await.unwrap();
        let user = admin
            .create_user(&NewUser {
                login: USER.into(),
                password: "Temp-Pass-1234".into(),
                enabled: true,
                ..NewUser::default()
            })
            .await
            .unwrap();
        let mut client = core.client().unwrap();
        client.login(USER, "Temp-Pass-1234").await.unwrap();
        client.change_password("Temp-Pass-1234", PASSWORD).await.unwrap();
        let key = admin.ssh_key(user.id).await.unwrap();
        let sshd = TestSshd::start_or_skip(&[&key.public_key])?;
        let registry = InstanceRegistry::new(&core, &admin).await.unwrap();
        registry.add(user.id, "web", sshd.port(), sshd.user()).await.unwrap();
        fs::create_dir_all(tmp.path().join("instance")).unwrap();
        Some(Lab { core, admin, tmp, _sshd: sshd, _registry: registry })
    }

    /// The user's data directory on the core.
    fn root(&self) -> PathBuf {
        self.tmp.path().join(USER).join("cloud")
    }

    /// Where the instance's files are.
    fn remote(&self) -> PathBuf {
        self.tmp.path().join("instance")
    }

    /// This machine's files.
    fn here(&self) -> PathBuf {
        self.tmp.path().join("workstation")
    }

    /// `wmai`, logged in as the user at `url` (the core's own by default).
    async fn wmai(&self, url: Option<&str>) -> Wmai {
        let wmai = Wmai::new().unwrap();
        let url = url.unwrap_or(self.core.url()).to_owned();
        wmai.run_with_stdin(&["login", &url, "--user", USER, "--password-stdin"], &format!("{PASSWORD}\n"))
            .await
            .expect_code(0);
        wmai
    }

    /// Audit entries of `action`.
    async fn audit(&self, action: &str) -> Vec<serde_json::Value> {
        let q = wintermute_api::client::AuditQuery { action: Some(action.into()), ..Default::default() };
        let audit = serde_json::to_value(self.admin.audit(&q).await.unwrap()).unwrap();
        audit["items"].as_array().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmai_upload_and_download_between_the_data_directory_this_machine_and_an_instance() {
    let Some(lab) = Lab::start().await else { return };
    let (tmp, admin) = (&lab.tmp, &lab.admin);
    let root = lab.root();
    make_tree(&root.join("deck"));
    chown_tree(&tmp.path().join(USER));
    let remote = lab.remote();
    let r = |rel: &str| format!("{}/{rel}", remote.display());
    let wmai = lab.wmai(None).await;

    // Data directory -> instance, as a task that the command follows to its end.
    let out = wmai.run(&["upload", "web", "deck/", &r("data/")]).await.expect_code(0);
    assert!(out.stdout.contains("5 files") || out.stderr.contains("5 files"), "{out}");
    assert_eq!(snapshot(&remote.join("data")), snapshot(&root.join("deck")));
    // Nothing changed: nothing moves.
    let out = wmai.run(&["upload", "web", "deck/", &r("data/")]).await.expect_code(0);
    assert!(out.stdout.contains("0 files") || out.stderr.contains("0 files"), "{out}");
    // Instance -> data directory, given as a full path inside it.
    wmai.run(&["download", "web", &r("data"), &format!("{}/back", root.display())]).await.expect_code(0);
    assert_eq!(snapshot(&root.join("back/data")), snapshot(&root.join("deck")));
    if nix::unistd::geteuid().is_root() {
        let owner = fs::metadata(root.join("back/data/a.txt")).unwrap().uid();
        assert_eq!(owner, nix::unistd::User::from_name(USER).unwrap().unwrap().uid.as_raw());
    }

    // The jail: `..` and paths outside the data directory are refused before anything runs.
    wmai.run(&["upload", "web", "../../etc/", &r("leak/")]).await.expect_error(6, "not allowed");
    wmai.run(&["download", "web", &r("data/"), "/etc/"]).await.expect_error(6, "outside your data directory");
    assert!(!remote.join("leak").exists());

    // This machine -> instance through the core, and back; a second run sends nothing.
    let here = tmp.path().join("workstation");
    make_tree(&here.join("mine"));
    let mine = format!("{}/", here.join("mine").display());
    let out = wmai.run(&["upload", "--local", "web", &mine, &r("ws/")]).await.expect_code(0);
    assert!(out.stdout.contains("5 files sent"), "{out}");
    assert_eq!(snapshot(&remote.join("ws")), snapshot(&here.join("mine")));
    let out = wmai.run(&["upload", "--local", "web", &mine, &r("ws/")]).await.expect_code(0);
    assert!(out.stdout.contains("0 files sent"), "{out}");
    let back = here.join("back");
    let out = wmai.run(&["download", "--local", "web", &r("ws/"), back.to_str().unwrap()]).await.expect_code(0);
    assert!(out.stdout.contains("5 files received"), "{out}");
    assert_eq!(snapshot(&back), snapshot(&here.join("mine")));

    // A file the user may not read on the core is skipped, named in the task's log, counted in
    // its result and audited; the rest arrives.
    let closed = root.join("closed");
    fs::create_dir_all(&closed).unwrap();
    fs::write(closed.join("open.txt"), b"open").unwrap();
    fs::write(closed.join("secret.txt"), b"secret").unwrap();
    chown_tree(&closed);
    fs::set_permissions(closed.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::lchown(closed.join("secret.txt"), Some(0), Some(0)).unwrap();
    }
    let mut user = lab.core.client().unwrap();
    user.login(USER, PASSWORD).await.unwrap();
    let web = user.instances(false).await.unwrap().into_iter().find(|i| i.name == "web").unwrap();
    let req = wintermute_api::sync::TransferRequest {
        source: "closed/".into(),
        target: r("closed/"),
        delete: false,
        checksum: false,
    };
    let task = user.upload(web.id, &req).await.unwrap();
    let task = loop {
        let t = user.task(task.id).await.unwrap();
        if t.finished_at.is_some() {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task.state, wintermute_api::tasks::TaskState::Succeeded, "{task:?}");
    let log = user.task_log(task.id, None).await.unwrap();
    assert!(log.iter().any(|l| l.line.contains("1 files") && l.line.contains("1 skipped")), "{log:?}");
    assert!(log.iter().any(|l| l.line.contains("secret.txt") && l.line.contains("permission denied")), "{log:?}");
    assert_eq!(fs::read(remote.join("closed/open.txt")).unwrap(), b"open");
    assert!(!remote.join("closed/secret.txt").exists());
    let skipped = lab.audit("data.transfer.skipped").await;
    assert!(skipped.iter().any(|e| e["details"].to_string().contains("secret.txt")), "{skipped:?}");

    // Every transfer is on record (read by the administrator: the audit log needs "view logs").
    let q = wintermute_api::client::AuditQuery { action: Some("data.transfer".into()), ..Default::default() };
    let audit = serde_json::to_value(admin.audit(&q).await.unwrap()).unwrap();
    let outcomes: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.iter().filter(|o| **o == "success").count() >= 3, "{audit}");
    assert!(outcomes.iter().filter(|o| **o == "denied").count() >= 2, "{audit}");
}

/// Directories under `top` (itself left out): mode and mtime seconds.
fn dirs(top: &Path) -> BTreeMap<String, (u32, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![top.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            if m.is_dir() {
                out.insert(p.strip_prefix(top).unwrap().to_string_lossy().into_owned(), (m.mode() & 0o7777, m.mtime()));
                stack.push(p);
            }
        }
    }
    out
}

fn set_mtime(p: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::open(p).unwrap().set_times(fs::FileTimes::new().set_modified(t).set_accessed(t)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmai_local_sync_sends_many_files_in_one_stream_with_empty_dirs_deletes_and_checksums() {
    let Some(lab) = Lab::start().await else { return };
    let remote = lab.remote();
    let r = |rel: &str| format!("{}/{rel}", remote.display());
    let wmai = lab.wmai(None).await;
    let here = lab.here();
    let mine = here.join("many");
    for i in 0..300 {
        let p = mine.join(format!("d{}/f{i:03}.txt", i % 7));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, format!("file {i}\n").repeat(i % 13)).unwrap();
    }
    fs::create_dir_all(mine.join("empty/deeper")).unwrap();
    fs::set_permissions(mine.join("empty/deeper"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(mine.join("d3"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", mine.join("d1/link")).unwrap();
    for d in ["empty/deeper", "empty", "d3", "d0"] {
        set_mtime(&mine.join(d), 1_500_000_000);
    }
    let src = format!("{}/", mine.display());

    let out = lab_run(&wmai, &["upload", "--local", "web", &src, &r("many/")]).await;
    assert!(out.stdout.contains("300 files sent"), "{out}");
    assert!(out.stdout.contains("1 skipped") && out.stderr.contains("d1/link"), "{out}");
    assert_eq!(snapshot(&remote.join("many")), snapshot(&mine));
    assert_eq!(dirs(&remote.join("many")), dirs(&mine), "empty directories, modes and times kept");
    assert!(!remote.join("many/d1/link").exists());
    // 300 small files: one stream through the core (one audited request), not one per file.
    let uploads = lab.audit("data.transfer").await;
    let streams = uploads.iter().filter(|e| e["details"]["workstation"] == true).count();
    assert_eq!(streams, 1, "{uploads:?}");

    // Unchanged: nothing moves. Changed content of the same size and time: only --checksum sees it.
    let out = lab_run(&wmai, &["upload", "--local", "web", &src, &r("many/")]).await;
    assert!(out.stdout.contains("0 files sent"), "{out}");
    let uploads = lab.audit("data.transfer").await;
    let streams = uploads.iter().filter(|e| e["details"]["workstation"] == true).count();
    assert_eq!(streams, 1, "nothing changed, no stream: {uploads:?}");
    let victim = remote.join("many/d2/f100.txt");
    let before = fs::metadata(&victim).unwrap();
    let mut changed = fs::read(&victim).unwrap();
    changed[0] ^= 0x20;
    fs::write(&victim, &changed).unwrap();
    set_mtime(&victim, before.mtime() as u64);
    let out = lab_run(&wmai, &["upload", "--local", "web", &src, &r("many/")]).await;
    assert!(out.stdout.contains("0 files sent"), "{out}");
    let out = lab_run(&wmai, &["upload", "--local", "--checksum", "web", &src, &r("many/")]).await;
    assert!(out.stdout.contains("1 files sent"), "{out}");
    assert_eq!(fs::read(&victim).unwrap(), fs::read(mine.join("d2/f100.txt")).unwrap());

    // Extra files on the instance stay unless --delete.
    fs::write(remote.join("many/extra.txt"), b"x").unwrap();
    fs::create_dir_all(remote.join("many/old/dir")).unwrap();
    lab_run(&wmai, &["upload", "--local", "web", &src, &r("many/")]).await;
    assert!(remote.join("many/extra.txt").exists());
    let out = lab_run(&wmai, &["upload", "--local", "--delete", "web", &src, &r("many/")]).await;
    assert!(out.stdout.contains("2 deleted"), "{out}");
    assert!(!remote.join("many/extra.txt").exists() && !remote.join("many/old").exists());
    assert_eq!(dirs(&remote.join("many")), dirs(&mine));

    // The core reads the stream's headers on the way: a name leaving the directory is refused
    // before it reaches the instance.
    let mut user = lab.core.client().unwrap();
    user.login(USER, PASSWORD).await.unwrap();
    let web = user.instances(false).await.unwrap().into_iter().find(|i| i.name == "web").unwrap();
    let entry = |name: &str, data: &[u8]| {
        let mut a = wintermute_api::tar::header(name, false, 0o644, data.len() as u64, (1_600_000_000, 0));
        a.extend_from_slice(data);
        a.resize(a.len() + wintermute_api::tar::padding(data.len() as u64), 0);
        a
    };
    let mut evil = entry("fine.txt", b"fine");
    evil.extend(entry("../escaped.txt", b"out"));
    evil.extend(wintermute_api::tar::trailer());
    let e = user.put_tar(web.id, &r("evil/"), evil).await.unwrap_err();
    assert!(e.to_string().contains("escaped.txt"), "{e}");
    assert!(!remote.join("escaped.txt").exists());
    // A stream cut short is an error, not a success.
    let mut cut = entry("whole.txt", b"whole");
    cut.extend(entry("half.txt", &[7u8; 4096]));
    cut.truncate(cut.len() - 1000);
    let e = user.put_tar(web.id, &r("cut/"), cut).await.unwrap_err();
    assert!(e.to_string().contains("ended early"), "{e}");
    let ok = user
        .put_tar(web.id, &r("ok/"), [entry("one.txt", b"1"), wintermute_api::tar::trailer().to_vec()].concat())
        .await
        .unwrap();
    assert_eq!((ok.files, ok.bytes), (1, 1));
    assert_eq!(fs::read(remote.join("ok/one.txt")).unwrap(), b"1");

    // Back to this machine in one stream, empty directories and their modes and times too.
    let back = here.join("back");
    let out = lab_run(&wmai, &["download", "--local", "web", &r("many/"), back.to_str().unwrap()]).await;
    assert!(out.stdout.contains("300 files received"), "{out}");
    assert_eq!(snapshot(&back), snapshot(&remote.join("many")));
    assert_eq!(dirs(&back), dirs(&remote.join("many")));
    // --delete and --checksum the other way.
    fs::write(back.join("mine-only.txt"), b"y").unwrap();
    let local_victim = back.join("d4/f004.txt");
    let m = fs::metadata(&local_victim).unwrap();
    let mut c = fs::read(&local_victim).unwrap();
    c[0] ^= 0x20;
    fs::write(&local_victim, &c).unwrap();
    set_mtime(&local_victim, m.mtime() as u64);
    let out =
        lab_run(&wmai, &["download", "--local", "--delete", "--checksum", "web", &r("many/"), back.to_str().unwrap()])
            .await;
    assert!(out.stdout.contains("1 files received") && out.stdout.contains("1 deleted"), "{out}");
    assert!(!back.join("mine-only.txt").exists());
    assert_eq!(snapshot(&back), snapshot(&remote.join("many")));
}

async fn lab_run(wmai: &Wmai, args: &[&str]) -> wintermute_tests::cli::CliOutput {
    wmai.run(args).await.expect_code(0)
}

/// A loopback relay to the core that counts the bytes each way, and can cut the connection
/// once the bytes sent to the core pass a mark.
struct Counter {
    url: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    /// When not 0: the connection carrying the byte that passes it is dropped (once).
    cut_at: Arc<AtomicU64>,
}

impl Counter {
    async fn start(core_url: &str) -> Counter {
        let target: std::net::SocketAddr =
            core_url.trim_start_matches("http://").trim_end_matches('/').split('/').next().unwrap().parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let cut_at = Arc::new(AtomicU64::new(0));
        let (u, d, c) = (up.clone(), down.clone(), cut_at.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (u, d, c) = (u.clone(), d.clone(), c.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { return };
                    let (mut ir, mut iw) = inbound.into_split();
                    let (mut or, mut ow) = outbound.into_split();
                    // Whichever way ends (or is cut), both sockets close with this task.
                    tokio::select! {
                        () = copy_counting(&mut ir, &mut ow, u, Some(c)) => {}
                        () = copy_counting(&mut or, &mut iw, d, None) => {}
                    }
                });
            }
        });
        Counter { url, up, down, cut_at }
    }

    fn reset(&self) {
        self.up.store(0, Ordering::SeqCst);
        self.down.store(0, Ordering::SeqCst);
    }
}

async fn copy_counting(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    n: Arc<AtomicU64>,
    cut_at: Option<Arc<AtomicU64>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                let total = n.fetch_add(k as u64, Ordering::SeqCst) + k as u64;
                if let Some(c) = &cut_at {
                    let at = c.load(Ordering::SeqCst);
                    if at != 0 && total >= at && c.compare_exchange(at, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                        return;
                    }
                }
                if to.write_all(&buf[..k]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Starts `wmai ARGS` and kills it once `file` holds at least `at` bytes; then waits until the
/// file stops growing (the other side has written what reached it) and returns its size.
async fn cut_when(wmai: &Wmai, args: &[&str], file: &Path, at: u64) -> u64 {
    let mut child = tokio::process::Command::new(wintermute_tests::binary::bin_path("wmai").unwrap())
        .args(args)
        .env("WMAI_CONFIG_DIR", wmai.config_dir())
        .env("WMAI_TOKEN_STORE", "file")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let n = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        if n >= at {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "wmai ended before the cut ({n} bytes of {})", file.display());
        assert!(std::time::Instant::now() < deadline, "{} never reached {at} bytes", file.display());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.unwrap();
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let n = fs::metadata(file).unwrap().len();
        if n == last {
            return n;
        }
        last = n;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmai_local_transfers_cut_mid_file_resume_without_sending_the_bytes_again() {
    let Some(lab) = Lab::start().await else { return };
    let counter = Counter::start(lab.core.url()).await;
    let wmai = lab.wmai(Some(&counter.url)).await;
    let remote = lab.remote();
    let here = lab.here();
    fs::create_dir_all(&here).unwrap();
    const SIZE: u64 = 48 * 1024 * 1024;
    let big = here.join("big.bin");
    let data: Vec<u8> = (0..SIZE as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    fs::write(&big, &data).unwrap();
    set_mtime(&big, 1_600_000_000);

    // Upload cut by killing wmai in the middle of the file (past its first piece): the
    // instance keeps the partial copy, and the next run sends only the rest.
    let part = remote.join(format!(".big.bin.{SIZE:x}-{:x}.wmpart", 1_600_000_000));
    let dst = format!("{}/", remote.display());
    let held = cut_when(&wmai, &["upload", "--local", "web", big.to_str().unwrap(), &dst], &part, 20 << 20).await;
    assert!(held > 0 && held < SIZE, "cut mid-file: {held}");
    assert!(!remote.join("big.bin").exists());
    counter.reset();
    let out = wmai.run(&["--json", "upload", "--local", "web", big.to_str().unwrap(), &dst]).await.expect_code(0);
    assert_eq!(out.json()["bytes_sent"], SIZE - held, "{out}");
    let up = counter.up.load(Ordering::SeqCst);
    assert!(up < SIZE - held + (1 << 20), "the second run sent {up} bytes for the {} missing", SIZE - held);
    assert!(up >= SIZE - held);
    assert_eq!(fs::read(remote.join("big.bin")).unwrap(), data, "the whole file arrived intact");
    assert!(!part.exists());

    // Download cut the same way: the partial copy here is resumed from its length.
    let back = here.join("back");
    fs::create_dir_all(&back).unwrap();
    let src = format!("{}/big.bin", remote.display());
    let local_part = back.join(format!(".big.bin.{SIZE:x}-{:x}.wmpart", 1_600_000_000));
    let held =
        cut_when(&wmai, &["download", "--local", "web", &src, back.to_str().unwrap()], &local_part, 20 << 20).await;
    assert!(held > 0 && held < SIZE, "cut mid-file: {held}");
    counter.reset();
    let out = wmai.run(&["--json", "download", "--local", "web", &src, back.to_str().unwrap()]).await.expect_code(0);
    assert_eq!(out.json()["bytes_received"], SIZE - held, "{out}");
    let down = counter.down.load(Ordering::SeqCst);
    assert!(down < SIZE - held + (1 << 20), "the second run received {down} bytes for the {} missing", SIZE - held);
    assert_eq!(fs::read(back.join("big.bin")).unwrap(), data);
    assert_eq!(fs::metadata(back.join("big.bin")).unwrap().mtime(), 1_600_000_000);

    // A connection cut mid-file while wmai keeps running: it asks where the instance's copy
    // stands and goes on from there in the same run.
    fs::remove_file(remote.join("big.bin")).unwrap();
    counter.reset();
    counter.cut_at.store(20 << 20, Ordering::SeqCst);
    let out = wmai.run(&["--json", "upload", "--local", "web", big.to_str().unwrap(), &dst]).await.expect_code(0);
    assert_eq!(counter.cut_at.load(Ordering::SeqCst), 0, "the connection was cut");
    assert!(out.stderr.contains("resuming"), "{out}");
    assert_eq!(fs::read(remote.join("big.bin")).unwrap(), data, "the whole file arrived intact");
    assert_eq!(out.json()["bytes_sent"], SIZE, "{out}");
    let up = counter.up.load(Ordering::SeqCst);
    assert!(up < SIZE + (8 << 20), "{up} bytes sent for a {SIZE}-byte file cut once");
}
