//! Test support: the image, a provider in a temporary folder, SSH to the guests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use wintermute_cloud::{CloudProvider, InstanceInfo, InstanceState};
use wintermute_cloud_local::image::{build_debian_image, default_image_dir, BuiltImage, DEBIAN_12, LOGIN_USER};
use wintermute_cloud_local::{find_program, LocalProvider, LocalSettings, QEMU_IMG, QEMU_SYSTEM, REGION};
use wintermute_custody::UserKeyPair;
use wintermute_ssh::{connect, HostKeyPolicy, Session, SshTarget};

/// How long a guest may take from launch to an SSH login (20–40 s measured under emulation).
pub const SSH_WAIT: Duration = Duration::from_secs(180);

/// Whether the host can run these tests. Prints a note and returns `false` when not, unless
/// `CI` is set: then it panics, so no CI run passes by skipping.
pub fn can_run(need_image_build: bool) -> bool {
    let mut missing = Vec::new();
    for (program, package) in [QEMU_SYSTEM, QEMU_IMG] {
        if find_program(program).is_none() {
            missing.push(format!("{program} (package {package})"));
        }
    }
    if need_image_build {
        if find_program("debootstrap").is_none() && !Path::new("/usr/sbin/debootstrap").exists() {
            missing.push("debootstrap (package debootstrap)".into());
        }
        if !nix::unistd::geteuid().is_root() {
            missing.push("root (to build the image)".into());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let note = format!("local provider VM tests need {}; run scripts/test-all to install them", missing.join(", "));
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{note}");
    }
    eprintln!("SKIPPED: {note}");
    false
}

/// The Debian image, built the first time (with its progress on stderr).
pub async fn image() -> BuiltImage {
    let dir = std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir).unwrap();
    let mut last = -1.0;
    let built = build_debian_image(&dir, |message, fraction| {
        // Every step, but debootstrap's many lines only every 5 %.
        if !message.starts_with("debootstrap: ") || fraction - last >= 0.05 {
            eprintln!("[image {:3.0}%] {message}", fraction * 100.0);
            last = fraction;
        }
    })
    .await
    .unwrap();
    if !built.cached {
        eprintln!("image built in {} s: {}", built.metadata.build_seconds, built.path.display());
    }
    built
}

/// A provider with its state in a temporary folder; its VMs are killed when it is dropped.
pub struct Lab {
    pub provider: LocalProvider,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("wm-local-").tempdir().unwrap();
        let provider = LocalProvider::new(LocalSettings::new(dir.path())).unwrap();
        Self { provider, dir }
    }

    /// A second provider on the same folder (the core restarted).
    pub fn reopen(&self) -> LocalProvider {
        LocalProvider::new(LocalSettings::new(self.dir.path())).unwrap()
    }

    /// Registers the built image.
    pub async fn import(&self, image: &BuiltImage) -> String {
        self.provider.import_image(DEBIAN_12, &image.path, Some("test image")).await.unwrap().image_id
    }
}

impl Drop for Lab {
    /// Kills every QEMU of this folder, whatever the test did (a failed assertion included).
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("instances")) else { return };
        for entry in entries.flatten() {
            let Ok(pid) = std::fs::read_to_string(entry.path().join("qemu.pid")) else { continue };
            let Ok(pid) = pid.trim().parse::<i32>() else { continue };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*entry.path().to_string_lossy()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Records the host key a server offers.
#[derive(Default)]
pub struct Recorder(pub Mutex<Option<String>>);

#[async_trait]
impl HostKeyPolicy for Recorder {
    async fn check(&self, offered: &str) -> Result<(), String> {
        *self.0.lock().await = Some(offered.to_string());
        Ok(())
    }
}

/// The SSH target of a running instance.
pub fn target(info: &InstanceInfo) -> SshTarget {
    SshTarget::new(info.public_ip.clone().unwrap(), info.ssh_port.unwrap(), LOGIN_USER)
}

/// Logs in to the instance as soon as its sshd answers (a forwarded port that accepts but
/// sends no banner is "not ready"), within [`SSH_WAIT`]. Returns the session, the host key it
/// offered, and how long it took.
pub async fn wait_ssh(
    provider: &LocalProvider,
    id: &str,
    key: &UserKeyPair,
    policy: Arc<dyn HostKeyPolicy>,
) -> (Session, Duration) {
    let started = Instant::now();
    let mut last_error = String::new();
    while started.elapsed() < SSH_WAIT {
        let info = describe(provider, id).await;
        assert_eq!(info.state, InstanceState::Running, "{id} while waiting for SSH");
        match connect(&target(&info), key, policy.clone(), Duration::from_secs(10)).await {
            Ok(session) => return (session, started.elapsed()),
            Err(e) if e.is_not_ready() => last_error = e.to_string(),
            Err(e) => panic!("SSH to {id} failed: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let status = provider.vm_status(id).await.unwrap();
    let console = std::fs::read_to_string(&status.console_log).unwrap_or_default();
    let tail: String = console.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect();
    panic!("{id}: no SSH within {SSH_WAIT:?} ({last_error}); console:\n{tail}");
}

/// Runs a command, asserts it succeeded, and returns its stdout (trimmed).
pub async fn sh(session: &Session, command: &str) -> String {
    let out = session.exec(command, None).await.unwrap();
    assert!(out.success(), "`{command}` failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub async fn describe(provider: &LocalProvider, id: &str) -> InstanceInfo {
    let mut infos = provider.describe_instances(REGION, &[id.to_string()]).await.unwrap();
    assert_eq!(infos.len(), 1);
    infos.remove(0)
}

/// Waits (up to `wait`) until the instance is in `state`.
pub async fn wait_state(provider: &LocalProvider, id: &str, state: InstanceState, wait: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let now = describe(provider, id).await.state;
        if now == state {
            return started.elapsed();
        }
        assert!(started.elapsed() < wait, "{id} is still {now} after {wait:?}, expected {state}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
