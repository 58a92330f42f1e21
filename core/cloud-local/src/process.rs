//! Finding and ending an instance's QEMU process.
//!
//! QEMU runs daemonized (`-daemonize`, parent = init), so VMs outlive the core; a new provider
//! finds them again through `qemu.pid`. A pid is taken for ours only when that process's
//! command line names the instance's QMP socket, so a pid the system reused after a crash is
//! never mistaken for a VM (nor killed).

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::time::{sleep, Instant};

/// The pid of the QEMU running in instance folder `dir`, if one runs.
pub(crate) fn running_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("qemu.pid")).ok()?.trim().parse().ok()?;
    if pid <= 1 {
        return None;
    }
    // A zombie has an empty command line: it is gone too.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    // As QEMU's option syntax writes it (commas doubled).
    let socket = dir.join("qmp.sock").to_str()?.replace(',', ",,");
    cmdline.split(|b| *b == 0).any(|arg| String::from_utf8_lossy(arg).contains(&socket)).then_some(pid)
}

/// Waits until the QEMU of `dir` with this `pid` is gone; `false` when it still runs after
/// `wait`. A QEMU started there meanwhile (another pid) does not count.
pub(crate) async fn wait_pid_gone(dir: &Path, pid: i32, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if running_pid(dir) != Some(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Kills the QEMU of `dir` with this `pid` (SIGKILL) and waits until it is gone (up to 10 s).
pub(crate) async fn kill_pid_and_wait(dir: &Path, pid: i32) -> bool {
    if running_pid(dir) != Some(pid) {
        return true;
    }
    if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGKILL) {
        tracing::warn!(pid, "cannot kill QEMU: {e}");
    }
    wait_pid_gone(dir, pid, Duration::from_secs(10)).await
}

/// Kills whatever QEMU runs in `dir` and waits until it is gone.
pub(crate) async fn kill_and_wait(dir: &Path) -> bool {
    match running_pid(dir) {
        Some(pid) => kill_pid_and_wait(dir, pid).await,
        None => true,
    }
}

/// The resident memory of the QEMU of `dir`, in KiB.
pub(crate) fn rss_kib(dir: &Path) -> Option<u64> {
    let pid = running_pid(dir)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[tokio::test]
    async fn only_a_process_naming_the_socket_counts() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qmp.sock");
        // A stand-in for QEMU: a process whose command line names the socket (`exec -a` sets its
        // argv[0], so the process is `sleep` itself and leaves nothing behind when killed).
        let mut child = Command::new("bash")
            .args(["-c", "exec -a \"qemu $0\" sleep 30", socket.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert_eq!(running_pid(dir.path()), None, "no pid file");
        std::fs::write(dir.path().join("qemu.pid"), format!("{pid}\n")).unwrap();
        // Until the child has exec'd, its command line is still ours.
        for _ in 0..100 {
            if running_pid(dir.path()).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(running_pid(dir.path()), Some(pid));
        assert!(rss_kib(dir.path()).is_some());

        // Another folder's pid file pointing at it: not ours.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("qemu.pid"), format!("{pid}\n")).unwrap();
        assert_eq!(running_pid(other.path()), None);
        assert!(kill_and_wait(other.path()).await);
        assert!(!wait_pid_gone(dir.path(), pid, Duration::from_millis(200)).await, "not killed through another folder");

        // It is our child here, so reap it as it dies (QEMU's parent is init).
        let reaper = std::thread::spawn(move || child.wait());
        assert!(kill_and_wait(dir.path()).await);
        reaper.join().unwrap().unwrap();
        assert_eq!(running_pid(dir.path()), None);
    }
}
