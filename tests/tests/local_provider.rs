//! The local provider through the real `wmais` and `wmai`, as `scripts/run-core` starts them:
//!
//! * with `[bootstrap] local_provider` on, the first start registers provider `local`
//!   (synchronized, its region and sizes allowed, the status saying KVM or TCG) and the Debian 12
//!   image (from the tests' image folder, where it is built once) enabled; a restart does
//!   nothing new;
//! * `wmai admin local-image build|import` follow their task, and refuse bad input with the
//!   API's codes;
//! * a host without QEMU: the core starts with a warning and no local provider, and an import
//!   is refused naming the package to install.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use wintermute_api::client::{Client, TaskQuery};
use wintermute_api::providers::{LocalImageRequest, NewProvider, OsType, ProviderKind};
use wintermute_api::tasks::{Task, TaskState};
use wintermute_api::ErrorCode;
use wintermute_cloud_local::image::default_image_dir;
use wintermute_cloud_local::{find_program, QEMU_IMG, QEMU_SYSTEM};
use wintermute_tests::{wait_for, Core, CoreOptions, Wmai};

const BOOTSTRAP_KIND: &str = "provider.bootstrap_local";

/// Whether QEMU is here; under CI its absence is a failure, elsewhere a skip.
fn have_qemu() -> bool {
    let ok = find_program(QEMU_SYSTEM.0).is_some() && find_program(QEMU_IMG.0).is_some();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "QEMU is needed under CI; scripts/test-all installs it");
        eprintln!("SKIPPED: qemu-system-x86 and qemu-utils are not installed");
    }
    ok
}

/// The tests' shared image folder, where the Debian image is built once.
fn image_dir() -> PathBuf {
    std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir).unwrap()
}

async fn all_tasks(c: &Client) -> Vec<Task> {
    c.tasks(&TaskQuery { mine: Some(false), limit: Some(500), ..Default::default() }).await.unwrap().items
}

async fn log_text(c: &Client, id: i64) -> String {
    c.task_log(id, None).await.unwrap().iter().map(|l| l.line.clone()).collect::<Vec<_>>().join("\n")
}

/// A 1 MiB raw disk: a boot sector and nothing else.
fn tiny_disk(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.img");
    let mut bytes = vec![0u8; 1 << 20];
    bytes[510..512].copy_from_slice(&[0x55, 0xaa]);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_sets_up_the_local_provider_once() {
    if !have_qemu() {
        return;
    }
    let opts = CoreOptions::new()
        .env("WMAIS__BOOTSTRAP__LOCAL_PROVIDER", "true")
        .env("WMAIS__LOCAL__IMAGE_DIR", image_dir().to_string_lossy());
    let mut core = Core::start(opts).await.unwrap();
    let admin = core.admin_client().await.unwrap();

    // The set-up is a task of the core (a build of the image first, when the folder has none).
    let task = wait_for("the local provider set-up", Duration::from_secs(30 * 60), Duration::from_secs(1), || async {
        let tasks = all_tasks(&admin).await;
        Ok(tasks.into_iter().find(|t| t.kind == BOOTSTRAP_KIND && t.state.is_finished()))
    })
    .await
    .unwrap();
    let log = log_text(&admin, task.id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{}\n{log}", task.message);
    for step in [
        "registered the local provider \"local\"",
        "synchronizing its configuration",
        "allowed: region local",
        "ready: users can launch debian-12",
    ] {
        assert!(log.contains(step), "{step:?} in the task log:\n{log}");
    }
    let printed = core.logs();
    assert!(
        printed.contains("local provider set-up: registered the local provider"),
        "steps in the core's output:\n{printed}"
    );
    assert!(printed.contains("the local provider is ready"), "{printed}");

    let providers = admin.providers().await.unwrap();
    assert_eq!(providers.len(), 1, "{providers:?}");
    let p = &providers[0];
    assert_eq!((p.kind, p.name.as_str(), p.status.as_str()), (ProviderKind::Local, "local", "synced"));
    assert!(
        p.status_message.starts_with("guests run with KVM") || p.status_message.starts_with("guests run with TCG"),
        "{}",
        p.status_message
    );
    assert!(p.regions.iter().all(|r| r.allowed) && p.regions.iter().any(|r| r.name == "local"), "{:?}", p.regions);
    assert!(p.instance_types.iter().all(|t| t.allowed) && p.instance_types.iter().any(|t| t.name == "local.small"));
    let images = admin.images().await.unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    let debian = &images[0];
    assert_eq!((debian.name.as_str(), debian.provider_id, debian.enabled), ("debian-12", p.id, true));
    assert_eq!((debian.os_type, debian.login_user.as_str()), (Some(OsType::Debian), "debian"));

    // The CLI: build (found in the image folder: the same image) and import, each followed to its end.
    let url = core.url().trim_end_matches('/').to_owned();
    let wmai = Wmai::new().unwrap().env("WMAI_URL", &url).env("WMAI_TOKEN", admin.token().unwrap());
    let out = wmai.run(&["admin", "local-image", "build", "debian-12"]).await.expect_code(0);
    out.clone()
        .expect_stdout("is built already")
        .expect_stdout(&format!("is image {} of the catalogue, enabled", debian.id))
        .expect_stdout("succeeded");
    assert_eq!(admin.images().await.unwrap().len(), 1, "no second entry for the same image");
    let dir = tempfile::tempdir().unwrap();
    let disk = tiny_disk(dir.path());
    let disk_arg = disk.to_string_lossy().into_owned();
    let copies = || -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(image_dir().join("imported")) else { return Vec::new() };
        entries.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().contains("/e2e-tiny-")).collect()
    };
    let before = copies();
    wmai.run(&[
        "admin",
        "local-image",
        "import",
        &disk_arg,
        "--name",
        "e2e-tiny",
        "--os-type",
        "ubuntu",
        "--provider",
        "local",
    ])
    .await
    .expect_code(0)
    .expect_stdout("is a raw disk image")
    .expect_stdout("disabled: an administrator enables it");
    let tiny = admin.images().await.unwrap().into_iter().find(|i| i.name == "e2e-tiny").expect("imported");
    assert_eq!((tiny.enabled, tiny.os_type), (false, Some(OsType::Ubuntu)));
    // The copy in the shared image folder is this test's own: remove it.
    let made: Vec<PathBuf> = copies().into_iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(made.len(), 1, "one copy of the imported file: {made:?}");
    std::fs::remove_file(&made[0]).unwrap();
    // Refusals, with the API's codes and exit codes.
    wmai.run(&["admin", "local-image", "build", "arch-linux"]).await.expect_error(6, "known: debian-12");
    wmai.run(&["admin", "local-image", "import", "/nonexistent/disk.qcow2"]).await.expect_error(6, "does not exist");
    wmai.run(&["admin", "local-image", "import", "Cargo.toml"]).await.expect_error(6, "not a qcow2 or raw disk image");
    wmai.run(&["admin", "local-image", "build", "debian-12", "--provider", "nope"])
        .await
        .expect_error(5, "no provider");
    let json =
        wmai.run(&["admin", "local-image", "build", "debian-12", "--no-follow", "--json"]).await.expect_code(0).json();
    assert_eq!(json["kind"], "provider.local_image", "{json}");

    // A restart does nothing new.
    assert!(core.terminate().await.unwrap().success());
    core.restart().await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let logs = core.logs_tail(40);
    assert!(logs.contains("the local provider was set up at an earlier start: nothing to do"), "{logs}");
    let set_ups = all_tasks(&admin).await.into_iter().filter(|t| t.kind == BOOTSTRAP_KIND).count();
    assert_eq!(set_ups, 1);
    assert_eq!(admin.providers().await.unwrap().len(), 1);
    let debians = admin.images().await.unwrap().into_iter().filter(|i| i.name == "debian-12").count();
    assert_eq!(debians, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_qemu_the_core_starts_and_says_what_to_install() {
    // A host without QEMU: the core's PATH has nothing in it.
    let empty = tempfile::tempdir().unwrap();
    let opts = CoreOptions::new()
        .env("PATH", empty.path().to_string_lossy())
        .env("WMAIS__BOOTSTRAP__LOCAL_PROVIDER", "true")
        .env("WMAIS__LOCAL__IMAGE_DIR", empty.path().join("images").to_string_lossy());
    let core = Core::start(opts).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let logs = core.logs();
    assert!(
        logs.contains("no local provider: this host lacks qemu-system-x86_64 (Debian package qemu-system-x86)")
            && logs.contains("apt-get install qemu-system-x86 qemu-utils"),
        "{logs}"
    );
    assert!(admin.providers().await.unwrap().is_empty());
    assert!(all_tasks(&admin).await.iter().all(|t| t.kind != BOOTSTRAP_KIND));

    // An import is refused at once, naming the package.
    let req = NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..Default::default() };
    let lab = admin.create_provider(&req).await.unwrap();
    let disk = tiny_disk(empty.path());
    let req = LocalImageRequest { path: Some(disk.to_string_lossy().into_owned()), ..Default::default() };
    let e = admin.local_image(lab.id, &req).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ServiceUnavailable), "{e}");
    assert!(e.to_string().contains("apt-get install qemu-utils"), "{e}");
    let url = core.url().trim_end_matches('/').to_owned();
    let wmai = Wmai::new().unwrap().env("WMAI_URL", &url).env("WMAI_TOKEN", admin.token().unwrap());
    wmai.run(&["admin", "local-image", "import", &disk.to_string_lossy()]).await.expect_error(1, "qemu-utils");
}
