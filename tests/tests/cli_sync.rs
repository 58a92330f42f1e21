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
use std::path::Path;

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
            } else {
                let rel = p.strip_prefix(top).unwrap().to_string_lossy().into_owned();
                out.insert(rel, (m.size(), m.mode() & 0o7777, m.mtime(), fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmai_upload_and_download_between_the_data_directory_this_machine_and_an_instance() {
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
    let Some(sshd) = TestSshd::start_or_skip(&[&key.public_key]) else { return };
    let registry = InstanceRegistry::new(&core, &admin).await.unwrap();
    registry.add(user.id, "web", sshd.port(), sshd.user()).await.unwrap();

    let root = tmp.path().join(USER).join("cloud");
    make_tree(&root.join("deck"));
    chown_tree(&tmp.path().join(USER));
    let remote = tmp.path().join("instance");
    fs::create_dir_all(&remote).unwrap();
    let r = |rel: &str| format!("{}/{rel}", remote.display());

    let wmai = Wmai::new().unwrap();
    let url = core.url().to_owned();
    wmai.run_with_stdin(&["login", &url, "--user", USER, "--password-stdin"], &format!("{PASSWORD}\n"))
        .await
        .expect_code(0);

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

    // Every transfer is on record (read by the administrator: the audit log needs "view logs").
    let q = wintermute_api::client::AuditQuery { action: Some("data.transfer".into()), ..Default::default() };
    let audit = serde_json::to_value(admin.audit(&q).await.unwrap()).unwrap();
    let outcomes: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.iter().filter(|o| **o == "success").count() >= 3, "{audit}");
    assert!(outcomes.iter().filter(|o| **o == "denied").count() >= 2, "{audit}");
}
