//! The SSH console on a real local-provider guest: a Debian VM booted under QEMU by
//! `wintermute_cloud_local` with the owner's core-held public key, recorded as an instance of the
//! core. Typing and reading, a window size change, reconnect with replay, the exit status, and a
//! recording that replays what the client saw.
//!
//! Skips with a note when QEMU is missing (or the image is not built and cannot be, without root
//! and debootstrap) — except under CI, where that fails. `scripts/test-all` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::console::{add_instance, try_open, Console};
use common::TestServer;
use reqwest::Method;
use serde_json::Value;
use wintermute_cloud::{CloudProvider, InstanceSpec, Tags};
use wintermute_cloud_local::image::{build_debian_image, default_image_dir, DEBIAN_12, LOGIN_USER};
use wintermute_cloud_local::{find_program, LocalProvider, LocalSettings, QEMU_IMG, QEMU_SYSTEM, REGION, ZONE};
use wintermute_core::store::Backend;

/// From launch to a shell prompt (20–40 s measured under emulation).
const BOOT_WAIT: Duration = Duration::from_secs(240);

fn can_run() -> bool {
    let mut missing = Vec::new();
    for (program, package) in [QEMU_SYSTEM, QEMU_IMG] {
        if find_program(program).is_none() {
            missing.push(format!("{program} (package {package})"));
        }
    }
    let image_dir = std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir);
    let cached = image_dir.is_some_and(|d| d.join("debian-12-r1.qcow2").is_file());
    if !cached && !nix_root() {
        missing.push("root, to build the guest image".into());
    }
    if missing.is_empty() {
        return true;
    }
    let note = format!("the console guest test needs {}; run scripts/test-all to install them", missing.join(", "));
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{note}");
    }
    eprintln!("SKIPPED: {note}");
    false
}

fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// Kills the guests of a provider folder however the test ends.
struct Guests(tempfile::TempDir);

impl Drop for Guests {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.0.path().join("instances")) else { return };
        for entry in entries.flatten() {
            let Ok(pid) = std::fs::read_to_string(entry.path().join("qemu.pid")) else { continue };
            let Ok(pid) = pid.trim().parse::<i32>() else { continue };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*entry.path().to_string_lossy()) {
                let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

async fn image(dir: &Path) -> PathBuf {
    build_debian_image(dir, |message, _| eprintln!("[image] {message}")).await.unwrap().path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_a_local_guest() {
    if !can_run() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let s = TestServer::start_with(Backend::Sqlite, |c| c.storage.data_dir = dir).await;
    let (alice_id, alice) = s.user("alice", &[]).await;
    let key = s.engine.user_public_key(alice_id).await.unwrap();

    // A guest that trusts alice's key, booted by the local provider directly.
    let image_dir = std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir).unwrap();
    let image = image(&image_dir).await;
    let guests = Guests(tempfile::Builder::new().prefix("wm-console-guest-").tempdir().unwrap());
    let provider = LocalProvider::new(LocalSettings::new(guests.0.path())).unwrap();
    let image_id = provider.import_image(DEBIAN_12, &image, Some("console test")).await.unwrap().image_id;
    provider.import_key_pair(REGION, "alice", &key.public_key, &Tags::new()).await.unwrap();
    let spec = InstanceSpec {
        name: "guest".into(),
        image_id,
        instance_type: "local.small".into(),
        key_name: Some("alice".into()),
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new(),
        availability_zone: Some(ZONE.into()),
        user_data: None,
    };
    let vm = provider.run_instances(REGION, &spec).await.unwrap().remove(0);
    let port = vm.ssh_port.unwrap();
    let instance = add_instance(&s.engine, alice_id, "guest", port, LOGIN_USER).await;

    // Until its sshd answers, the console says the instance is unreachable.
    let started = Instant::now();
    let mut c = loop {
        let mut ws = try_open(&s, &alice, instance, "cols=90&rows=25").await.unwrap();
        // An SSH connection attempt gives up after 20 s.
        let first = common::console::next_control_within(&mut ws, Duration::from_secs(60)).await;
        if first["type"] == "ready" {
            break Console::with_ready(ws, first);
        }
        assert_eq!(first["code"], "service_unavailable", "{first}");
        assert!(started.elapsed() < BOOT_WAIT, "no SSH on the guest within {BOOT_WAIT:?}: {first}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    eprintln!("console on the guest after {:?}", started.elapsed());

    c.type_str("hostname; echo $((6 * 7)); stty size\n").await;
    c.read_until("25 90").await;
    assert!(c.text().contains(&vm.id), "the guest's hostname: {}", c.text());
    assert!(c.text().contains("42\r\n"), "{}", c.text());
    let mark = c.received.len();
    c.resize(140, 45).await;
    c.type_str("stty size\n").await;
    c.read_until_from(mark, "45 140").await;

    // Dropped while the guest prints; the reconnect replays exactly the rest.
    c.type_str("sleep 1; seq 1 300 | sed 's/^/guest-line-/'; echo end-$((2*21))\n").await;
    let token = c.token();
    let seen = c.offset();
    let before = c.received.clone();
    drop(c);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ws = try_open(&s, &alice, instance, &format!("resume={token}&offset={seen}")).await.unwrap();
    let mut r = Console::ready(ws).await;
    assert_eq!(r.ready["offset"].as_u64(), Some(seen));
    r.read_until("end-42").await;
    assert_eq!(r.text().matches("guest-line-300\r\n").count(), 1, "{}", r.text());

    r.type_str("exit 3\n").await;
    let controls = r.read_to_end().await;
    assert!(controls.iter().any(|m| m["type"] == "exit" && m["status"] == 3), "{controls:?}");

    // The recording is what the two connections saw, in order.
    let id = r.session_id();
    let cast = s
        .http
        .get(format!("{}/api/v1/console-sessions/{id}/recording", s.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let played: String = cast
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e[1] == "o")
        .map(|e| e[2].as_str().unwrap().to_owned())
        .collect();
    let mut seen_bytes = before;
    seen_bytes.extend_from_slice(&r.received);
    assert_eq!(played, String::from_utf8_lossy(&seen_bytes));
    let row = s.call(Method::GET, &format!("/api/v1/console-sessions/{id}"), Some(&alice), None).await.body;
    assert_eq!((row["exit_status"].as_u64(), row["end_reason"].as_str()), (Some(3), Some("exited")), "{row}");
    drop(guests);
    s.stop().await;
}
