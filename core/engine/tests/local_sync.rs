//! Data sync with a real local-provider guest (QEMU, the built Debian 12 image): a launch with
//! an upload stage puts a tree from the owner's data directory onto the guest's encrypted volume
//! after it is mounted; an upload task afterwards moves nothing; a download task brings it back
//! byte for byte with modes and times. Needs QEMU and the cached guest image (built by test-all).
//!
//! The owner is `nobody`, a system account every Debian has, because a core running as root
//! (as in CI) does the file work with the owner's own system account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use wintermute_api::instances::{InstanceAction, LaunchRequest, LaunchStorage, NewStorage, VolumeType};
use wintermute_api::providers::{ImagePatch, LocalImageRequest, NewProvider, ProviderKind, ProviderPatch};
use wintermute_api::setup::{DataUpload, Setup};
use wintermute_api::sync::TransferRequest;
use wintermute_api::tasks::{Task, TaskState};
use wintermute_api::users::NewUser;
use wintermute_core::store::Backend;
use wintermute_core::sync::Direction;
use wintermute_core::testing::{TestCore, TEST_PASSWORD};
use wintermute_core::Caller;

const OWNER: &str = "nobody";

async fn finished(core: &TestCore, caller: &Caller, id: i64, wait: Duration) -> Task {
    let started = std::time::Instant::now();
    loop {
        let t = core.engine.tasks_get(caller, id).await.unwrap();
        if t.state.is_finished() {
            return t;
        }
        assert!(started.elapsed() < wait, "task {id} did not finish within {wait:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn log_of(core: &TestCore, caller: &Caller, id: i64) -> String {
    let lines = core.engine.tasks_log(caller, id, None).await.unwrap();
    lines.iter().map(|l| l.line.clone()).collect::<Vec<_>>().join("\n")
}

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
async fn a_guest_gets_data_at_launch_and_gives_it_back() {
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
    let shared = image_dir.clone();
    let core = TestCore::start_with(Backend::Sqlite, move |c| c.local.image_dir = Some(shared)).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    engine.settings_set(&admin, "WMAIS_CONNECTION_RETRY_PAUSE", json!(2)).await.unwrap();
    engine.settings_set(&admin, "WMAIS_CONNECTION_ATTEMPTS", json!(150)).await.unwrap();
    let tmp = tempfile::Builder::new().prefix("wintermute-guest-sync.").tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    engine
        .settings_set(&admin, "WMAIS_DATA_BASE_PATH", json!(format!("{}/%USER%", tmp.path().display())))
        .await
        .unwrap();

    // The owner: an administrator here, so it may use the provider and image without grants.
    let req = NewUser {
        login: OWNER.into(),
        password: "Temporary-Pass-0815".into(),
        enabled: true,
        is_admin: true,
        ..Default::default()
    };
    engine.users_create(&admin, &req).await.unwrap();
    let r = engine.login(OWNER, "Temporary-Pass-0815", None).await.unwrap();
    let c = engine.authenticate(&r.token, None).await.unwrap();
    engine.change_own_password(&c, "Temporary-Pass-0815", TEST_PASSWORD).await.unwrap();
    let owner = core.login(OWNER, TEST_PASSWORD).await;

    // The owner's data: nested, empty, unicode, modes, and a file large enough to resume.
    let root = tmp.path().join(OWNER);
    let deck = root.join("deck");
    for (rel, data, mode) in [
        ("a.txt", b"alpha\n".to_vec(), 0o644),
        ("empty", Vec::new(), 0o600),
        ("sub/deeper/run.sh", b"#!/bin/sh\necho hi\n".to_vec(), 0o755),
        ("ünïcødé ✓/data.bin", (0..300_000u32).map(|i| (i % 253) as u8).collect(), 0o640),
        ("large.bin", (0..12_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect(), 0o644),
    ] {
        let p = deck.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    if nix::unistd::geteuid().is_root() {
        let status = std::process::Command::new("chown").args(["-R", "nobody:nogroup"]).arg(&root).status().unwrap();
        assert!(status.success());
    }

    // --- the provider and its image ---
    let p = engine
        .providers_create(
            &admin,
            &NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..Default::default() },
        )
        .await
        .unwrap();
    let t =
        finished(&core, &admin, engine.providers_sync(&admin, p.id).await.unwrap().id, Duration::from_secs(60)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let patch = ProviderPatch {
        allowed_regions: Some(vec!["local".into()]),
        allowed_instance_types: Some(vec!["local.small".into()]),
        ..Default::default()
    };
    engine.providers_update(&admin, p.id, &patch).await.unwrap();
    let req = LocalImageRequest { recipe: Some("debian-12".into()), ..Default::default() };
    let t = engine.local_images_start(&admin, p.id, &req).await.unwrap();
    let t = finished(&core, &admin, t.id, Duration::from_secs(600)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let image = engine.images_list(&admin).await.unwrap().into_iter().find(|i| i.name == "debian-12").unwrap();
    engine.images_update(&admin, image.id, &ImagePatch { enabled: Some(true), ..Default::default() }).await.unwrap();

    // --- a guest with an encrypted volume and the upload stage ---
    let launch = LaunchRequest {
        name: "data".into(),
        description: String::new(),
        tags: String::new(),
        image_id: image.id,
        instance_type: "local.small".into(),
        count: Some(1),
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::New(NewStorage {
            size_gb: 1,
            volume_type: VolumeType::GeneralPurpose,
            iops: None,
            encrypted: true,
            mount_point: Some("/mnt/data".into()),
            device: None,
        }),
        setup: Setup {
            data_upload: vec![DataUpload { source: format!("{}/", deck.display()), target: "/mnt/data/deck/".into() }],
            ..Setup::default()
        },
    };
    let l = engine.instances_launch(&owner, &launch).await.unwrap();
    let t = finished(&core, &owner, l.task.id, Duration::from_secs(900)).await;
    let log = log_of(&core, &owner, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{log}", t.message);
    assert!(log.contains("5 files") && log.contains("uploading"), "{log}");
    let id = l.instances[0].id;

    // Nothing changed: an upload task moves nothing.
    let req =
        TransferRequest { source: "deck/".into(), target: "/mnt/data/deck/".into(), delete: false, checksum: false };
    let t = engine.start_instance_transfer(&owner, id, Direction::Upload, &req).await.unwrap();
    let t = finished(&core, &owner, t.id, Duration::from_secs(300)).await;
    let log = log_of(&core, &owner, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{log}", t.message);
    assert!(log.contains("0 files (0 B) sent, 5 unchanged"), "{log}");

    // Back from the guest's volume: the same bytes, modes and times.
    let req =
        TransferRequest { source: "/mnt/data/deck".into(), target: "back/".into(), delete: false, checksum: false };
    let t = engine.start_instance_transfer(&owner, id, Direction::Download, &req).await.unwrap();
    let t = finished(&core, &owner, t.id, Duration::from_secs(300)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{}", t.message, log_of(&core, &owner, t.id).await);
    assert_eq!(snapshot(&root.join("back/deck")), snapshot(&deck));

    let t = engine.instances_action(&owner, id, InstanceAction::Terminate).await.unwrap();
    let t = finished(&core, &owner, t.id, Duration::from_secs(300)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
}
