//! A real OpenSSH server on loopback, for tests (cargo feature `test-sshd`).
//!
//! Each [`TestSshd`] runs its own `/usr/sbin/sshd -D -e` in a temporary directory: a fresh
//! Ed25519 host key, a `HOME` for the sessions inside that directory (set with `SetEnv`, so
//! `~/.ssh/authorized_keys` is the file the server reads and a command run as root never touches
//! `/root`), an `authorized_keys` file the test controls, password and keyboard-interactive
//! logins off, listening on `127.0.0.1` on a free port, logging to a file the test can read
//! ([`TestSshd::log`]). The login account is the one running the tests (`root` in CI). The server
//! is killed when the value is dropped.
//!
//! The system's sshd service is not involved (scripts/test-all installs `openssh-server` without
//! starting it). When `/usr/sbin/sshd` is missing, [`TestSshd::start_or_skip`] returns `None`
//! after printing a note, so the tests skip — except under `CI`, where a missing server fails
//! them.
//!
//! This module is test support: it panics, with a message, on anything unexpected.

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::target::SshTarget;

/// The OpenSSH server binary the tests run.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd gets to start answering.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running OpenSSH server for one test. Killed on drop.
pub struct TestSshd {
    dir: TempDir,
    child: Child,
    port: u16,
    user: String,
    host_public_key: String,
}

impl TestSshd {
    /// Starts a server that accepts these public keys (`authorized_keys` lines). Panics when it
    /// cannot, e.g. when `/usr/sbin/sshd` is missing (see [`TestSshd::start_or_skip`]).
    pub fn start(authorized_public_keys: &[&str]) -> TestSshd {
        if !Path::new(SSHD).exists() {
            panic!("{SSHD} is missing: install openssh-server (scripts/test-all does)");
        }
        let dir = tempfile::Builder::new()
            .prefix("wintermute-sshd.")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a temporary directory for sshd: {e}"));
        let user = current_user();
        privilege_separation_dir();
        let host_key = dir.path().join("host_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "wintermute-test-sshd", "-f"])
            .arg(&host_key));
        let host_public_key = read(&host_key.with_extension("pub"));
        let host_public_key = host_public_key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        write_authorized_keys(dir.path(), authorized_public_keys);

        // The port is picked, released, then bound by sshd: another process may take it in
        // between, so a failed start is retried on another port.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = write_config(dir.path(), port);
            let log = dir.path().join("sshd.log");
            let stderr = fs::File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {SSHD}: {e}"));
            if wait_ready(&mut child, port, &log) {
                return TestSshd { dir, child, port, user, host_public_key };
            }
            // It exited, most likely because the port was taken: try another.
            let _ = child.wait();
            last_log = read(&log);
        }
        panic!("sshd did not start; its last log:\n{last_log}");
    }

    /// [`TestSshd::start`], or `None` with a note on stderr when `/usr/sbin/sshd` is not
    /// installed and the environment variable `CI` is unset. Under `CI` a missing sshd panics:
    /// the tests must not pass there by skipping.
    pub fn start_or_skip(authorized_public_keys: &[&str]) -> Option<TestSshd> {
        if !Path::new(SSHD).exists() && std::env::var_os("CI").is_none() {
            eprintln!(
                "note: {SSHD} not found, skipping this SSH test (install openssh-server, \
                 or run scripts/test-all, which does)"
            );
            return None;
        }
        Some(Self::start(authorized_public_keys))
    }

    /// The server's host key: `ssh-ed25519 AAAA...` (no comment), as a
    /// [`HostKeyPolicy`](crate::HostKeyPolicy) is offered it.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account to log in as: the one running the tests (`id -un`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Where to connect: `user()@127.0.0.1:port()`.
    pub fn target(&self) -> SshTarget {
        SshTarget::new("127.0.0.1", self.port, self.user.clone())
    }

    /// Replaces the accepted public keys; sshd reads the file at each login.
    pub fn set_authorized_keys(&self, authorized_public_keys: &[&str]) {
        write_authorized_keys(self.dir.path(), authorized_public_keys);
    }

    /// Everything sshd has logged so far (one line per event, e.g. `Accepted publickey for ...`).
    pub fn log(&self) -> String {
        read(&self.dir.path().join("sshd.log"))
    }

    /// The temporary directory holding the configuration, keys and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `authorized_keys` file sshd reads: `$HOME/.ssh/authorized_keys` of the sessions, whose
    /// `HOME` is a directory of this server (so commands run as root never touch `/root`).
    pub fn authorized_keys_path(&self) -> PathBuf {
        self.dir.path().join("home/.ssh/authorized_keys")
    }
}

impl Drop for TestSshd {
    /// Kills the listening server. Connections still open keep their own sshd process until
    /// the client goes away.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for TestSshd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSshd").field("port", &self.port).field("dir", &self.dir.path()).finish()
    }
}

/// Waits until sshd accepts a connection and sends its banner. False if it exited.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while started.elapsed() < READY_TIMEOUT {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if banner(addr) {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("sshd did not answer on {addr} within {READY_TIMEOUT:?}; its log:\n{}", read(log));
}

/// True once a connection to `addr` gets an `SSH-` banner line.
fn banner(addr: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
    if stream.set_read_timeout(Some(Duration::from_secs(2))).is_err() {
        return false;
    }
    let mut line = String::new();
    matches!(BufReader::new(stream).read_line(&mut line), Ok(n) if n > 0) && line.starts_with("SSH-")
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let d = dir.display();
    let mut config = format!(
        "ListenAddress 127.0.0.1:{port}\n\
         HostKey {d}/host_key\n\
         PidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/home/.ssh/authorized_keys\n\
         SetEnv HOME={d}/home\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PermitRootLogin prohibit-password\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         LogLevel INFO\n\
         # Tests open many connections at once; the defaults (10 unauthenticated, 10 channels per\n\
         # connection) would drop some.\n\
         MaxStartups 200\n\
         MaxSessions 100\n\
         Subsystem sftp internal-sftp\n"
    );
    let path = dir.join("sshd_config");
    // OpenSSH 9.8+ penalises addresses after failed logins or silent connections: in a test
    // that fails a login on purpose and then logs in, 127.0.0.1 would be shut out. Older
    // servers do not know the option, so it is added only when `sshd -t` accepts it.
    let with_penalties_off = format!("{config}PerSourcePenalties no\n");
    write(&path, &with_penalties_off);
    let accepted = Command::new(SSHD)
        .args(["-t", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if accepted {
        config = with_penalties_off;
    }
    write(&path, &config);
    path
}

fn write_authorized_keys(dir: &Path, keys: &[&str]) {
    let mut text = keys.join("\n");
    text.push('\n');
    let ssh_dir = dir.join("home/.ssh");
    fs::create_dir_all(&ssh_dir).unwrap_or_else(|e| panic!("creating {}: {e}", ssh_dir.display()));
    // Write then rename, so a login never reads a half-written file.
    let tmp = ssh_dir.join("authorized_keys.tmp");
    write(&tmp, &text);
    let path = ssh_dir.join("authorized_keys");
    fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("renaming {} to {}: {e}", tmp.display(), path.display()));
}

/// sshd running as root needs its privilege-separation directory (a service start would make
/// it; nothing starts the service here).
fn privilege_separation_dir() {
    let dir = Path::new("/run/sshd");
    if dir.is_dir() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match fs::DirBuilder::new().mode(0o755).recursive(true).create(dir) {
            Ok(()) => {
                // The umask may have narrowed the mode.
                let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
            }
            // Not root: sshd then runs without privilege separation and does not need it.
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
            Err(e) => panic!("creating {}: {e}", dir.display()),
        }
    }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap_or_else(|e| panic!("running id -un: {e}"));
    let user = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || user.is_empty() {
        panic!("id -un failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    user
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    if !out.status.success() {
        panic!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
