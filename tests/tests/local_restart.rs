//! A core killed (SIGKILL) while a local-provider guest runs: after the restart the instance is
//! still listed as running, its machine was not lost or leaked, and it is still controllable
//! (powered off, then terminated). Needs QEMU and the cached guest image (built by test-all).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use wintermute_api::client::Client;
use wintermute_api::instances::{InstanceAction, InstanceStatus, LaunchRequest, LaunchStorage};
use wintermute_api::providers::{ImagePatch, LocalImageRequest, NewProvider, ProviderKind, ProviderPatch};
use wintermute_api::setup::Setup;
use wintermute_api::tasks::{Task, TaskState};
use wintermute_tests::{Core, CoreOptions};

async fn finished(c: &Client, id: i64, wait: Duration) -> Task {
    let started = Instant::now();
    loop {
        let t = c.task(id).await.unwrap();
        if t.state.is_finished() {
            return t;
        }
        assert!(started.elapsed() < wait, "task {id} did not finish within {wait:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// QEMU processes whose command line names this core's data directory.
fn guests_of(core: &Core) -> usize {
    let dir = core.data_dir().to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("qemu-system") && c.contains(&dir))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_core_finds_its_running_guests_again() {
    if wintermute_cloud_local::find_program(wintermute_cloud_local::QEMU_SYSTEM.0).is_none() {
        assert!(std::env::var_os("CI").is_none(), "QEMU is needed under CI");
        eprintln!("SKIPPED: no QEMU");
        return;
    }
    let image_dir = wintermute_cloud_local::image::default_image_dir().expect("a cache directory");
    if wintermute_cloud_local::image::find_built_image(&image_dir).is_none() {
        assert!(std::env::var_os("CI").is_none(), "the guest image is built by scripts/test-all");
        eprintln!("SKIPPED: no built guest image in {}", image_dir.display());
        return;
    }
    // The image folder shared with test-all's build, so the recipe finds the built image.
    let mut core =
        Core::start(CoreOptions::new().env("WMAIS__LOCAL__IMAGE_DIR", image_dir.to_string_lossy())).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let p = admin
        .create_provider(&NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..Default::default() })
        .await
        .unwrap();
    let t = finished(&admin, admin.sync_provider(p.id).await.unwrap().id, Duration::from_secs(60)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    admin
        .update_provider(
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec!["local".into()]),
                allowed_instance_types: Some(vec!["local.small".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let t = admin
        .local_image(p.id, &LocalImageRequest { recipe: Some("debian-12".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(finished(&admin, t.id, Duration::from_secs(600)).await.state, TaskState::Succeeded);
    let image = admin.images().await.unwrap().into_iter().find(|i| i.name == "debian-12").unwrap();
    admin.update_image(image.id, &ImagePatch { enabled: Some(true), ..Default::default() }).await.unwrap();

    let launch = admin
        .launch(&LaunchRequest {
            name: "survivor".into(),
            description: String::new(),
            tags: String::new(),
            image_id: image.id,
            instance_type: "local.small".into(),
            count: Some(1),
            security_groups: vec![],
            swarm: None,
            storage: LaunchStorage::None,
            setup: Setup { provision: false, ..Setup::default() },
        })
        .await
        .unwrap();
    let t = finished(&admin, launch.task.id, Duration::from_secs(300)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let id = launch.instances[0].id;
    assert_eq!(admin.instance(id).await.unwrap().status, InstanceStatus::Running);
    assert_eq!(guests_of(&core), 1, "one QEMU process for the guest");

    // --- the core dies; the guest does not ---
    core.kill().await.unwrap();
    assert_eq!(guests_of(&core), 1, "the guest outlives the core");
    core.restart().await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let i = admin.instance(id).await.unwrap();
    assert_eq!(i.status, InstanceStatus::Running, "{}", i.status_message);
    // A reconcile agrees with the record: the machine is found again, nothing is "drift".
    let t = finished(&admin, admin.reconcile_provider(p.id).await.unwrap().id, Duration::from_secs(60)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    assert!(t.message.is_empty() || !t.message.contains("error"), "{}", t.message);
    assert_eq!(admin.instance(id).await.unwrap().status, InstanceStatus::Running);
    assert_eq!(guests_of(&core), 1, "not leaked, not doubled");

    // --- and it is still controllable ---
    let t = finished(
        &admin,
        admin.instance_action(id, InstanceAction::PowerOff).await.unwrap().id,
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    assert_eq!(admin.instance(id).await.unwrap().status, InstanceStatus::Stopped);
    assert_eq!(guests_of(&core), 0, "powered off: no QEMU process");
    let t = finished(
        &admin,
        admin.instance_action(id, InstanceAction::Terminate).await.unwrap().id,
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    assert_eq!(admin.instance(id).await.unwrap().status, InstanceStatus::Terminated);
}
