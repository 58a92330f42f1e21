//! Instances and volumes against the local EC2 emulator (moto) through aws-sdk-ec2: compliance
//! refusals before any cloud call, a launch of several tagged instances with new encrypted volumes,
//! visibility and control rights, power off/on/reboot, batch actions, limits and lifetimes, a
//! launch that fails half-way and is rolled back, reconcile after changes made behind the core's
//! back, and terminate keeping the volumes. The core never connects to the emulator's invented
//! addresses: nothing here opens SSH.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/discovery.rs"]
mod discovery;
use discovery::discovery_server;
#[path = "common/catalog.rs"]
mod catalog;
use catalog::{allowed_provider, analysts_may_launch, aws_provider, imported_image};

use std::time::Duration;

use wintermute_api::instances::{
    AllowedSecurityGroups, AttachVolume, InstanceAction, InstanceStatus, LaunchRequest, LaunchStorage, Limits,
    NewStorage, NewVolume, VolumeStatus, VolumeType,
};
use wintermute_api::providers::{ImagePatch, OsType};
use wintermute_api::setup::Setup;
use wintermute_api::tasks::TaskState;
use wintermute_api::ErrorCode;
use wintermute_cloud::{CloudProvider, InstanceSpec, InstanceState, ObjectRef, Tags, TAG_CORE};
use wintermute_cloud_aws::testing::moto;
use wintermute_core::store::Backend;
use wintermute_core::testing::TestCore;

const REGION: &str = "us-east-1";

fn launch_req(image_id: i64) -> LaunchRequest {
    LaunchRequest {
        name: "lamp".into(),
        description: "tests".into(),
        tags: String::new(),
        image_id,
        instance_type: "t3.micro".into(),
        count: None,
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::None,
        // The emulator's addresses are invented: the core must not connect to them.
        setup: Setup { provision: false, ..Setup::default() },
    }
}

async fn wait_status(core: &TestCore, id: i64, want: InstanceStatus, secs: u64) {
    for _ in 0..secs * 10 {
        let i = core.engine.instances_get(&core.admin, id).await.unwrap();
        if i.status == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let i = core.engine.instances_get(&core.admin, id).await.unwrap();
    panic!("instance {id} is {} ({}), not {want}", i.status, i.status_message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_volumes_on_the_ec2_emulator_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_volumes_on_the_ec2_emulator_postgres() {
    if wintermute_core::testing::backends().contains(&Backend::Postgres) {
        story(Backend::Postgres).await;
    }
}

async fn story(backend: Backend) {
    let Some(moto) = moto().await else { return };
    let ec2 = moto.provider();
    let core = TestCore::start(backend).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    let (ana, ana_c) = core.user("ana").await;
    let (_bob, bob_c) = core.user("bob").await;
    let discover = discovery_server("203.0.113.7\n").await;
    engine.settings_set(&admin, "WMAIS_SG_AUTO_IP_DISCOVER", serde_json::json!(discover)).await.unwrap();

    // --- a provider, an allowed region and type, an enabled image ---
    let p = allowed_provider(&core, &aws_provider(moto.url()), REGION, "t3.micro").await;
    let ami = engine.images_search(&admin, p.id, REGION, "amzn").await.unwrap()[0].cloud_id.clone();
    let image = imported_image(&core, p.id, REGION, &ami).await;
    let g = analysts_may_launch(&core, vec![ana.id], p.id, image.id).await;

    // --- refusals, all before any cloud call ---
    let code =
        |r: Result<_, wintermute_core::CoreError>| r.map(|_: wintermute_api::instances::Launch| ()).unwrap_err().code();
    assert_eq!(
        code(engine.instances_launch(&ana_c, &launch_req(image.id)).await),
        ErrorCode::Forbidden,
        "image disabled"
    );
    engine
        .images_update(
            &admin,
            image.id,
            &ImagePatch { enabled: Some(true), os_type: Some(OsType::Debian), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(code(engine.instances_launch(&ana_c, &launch_req(9999)).await), ErrorCode::NotFound);
    assert_eq!(code(engine.instances_launch(&bob_c, &launch_req(image.id)).await), ErrorCode::Forbidden, "no rights");
    let bad_type = LaunchRequest { instance_type: "m5.24xlarge".into(), ..launch_req(image.id) };
    let e = engine.instances_launch(&ana_c, &bad_type).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    assert!(e.to_string().contains("m5.24xlarge") && e.to_string().contains("t3.micro"), "{e}");
    let bad_tags = LaunchRequest { tags: "1-5:php".into(), count: Some(3), ..launch_req(image.id) };
    let e = engine.instances_launch(&ana_c, &bad_tags).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidField, "{e}");
    assert_eq!(
        code(engine.instances_launch(&ana_c, &LaunchRequest { count: Some(0), ..launch_req(image.id) }).await),
        ErrorCode::InvalidField
    );
    let storage = |size_gb, volume_type, iops| {
        LaunchStorage::New(NewStorage { size_gb, volume_type, iops, encrypted: true, mount_point: None, device: None })
    };
    for (s, why) in [
        (storage(0, VolumeType::GeneralPurpose, None), "size 0"),
        (storage(1_000_000, VolumeType::GeneralPurpose, None), "absurd size"),
        (storage(10, VolumeType::ProvisionedIops, None), "no IOPS"),
        (storage(10, VolumeType::Magnetic, Some(500)), "IOPS on magnetic"),
        (
            LaunchStorage::New(NewStorage {
                size_gb: 1,
                volume_type: VolumeType::GeneralPurpose,
                iops: None,
                encrypted: true,
                mount_point: Some("/mnt/../etc".into()),
                device: None,
            }),
            "mount point escape",
        ),
    ] {
        let r = LaunchRequest { storage: s, ..launch_req(image.id) };
        assert_eq!(code(engine.instances_launch(&ana_c, &r).await), ErrorCode::InvalidField, "{why}");
    }
    let sg = LaunchRequest { security_groups: vec!["sg-12345678".into()], ..launch_req(image.id) };
    assert_eq!(code(engine.instances_launch(&ana_c, &sg).await), ErrorCode::Forbidden, "group not made available");
    assert!(engine.instances_list(&admin, true).await.unwrap().is_empty(), "refusals leave no record");
    let core_id = engine.core_id().await.unwrap();
    assert!(ec2.instances_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().is_empty(), "and nothing in the cloud");

    // --- an administrator makes the default group available ---
    let groups = engine.security_groups_list(&admin, p.id, REGION).await.unwrap();
    let default = groups.iter().find(|g| g.name == "default").expect("the region's default group");
    engine
        .security_groups_allow(
            &admin,
            p.id,
            &AllowedSecurityGroups { region: REGION.into(), group_ids: vec![default.group_id.clone()] },
        )
        .await
        .unwrap();
    let seen = engine.security_groups_list(&ana_c, p.id, REGION).await.unwrap();
    assert_eq!(seen.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["default"]);

    // --- launch three tagged instances, each with a new encrypted volume ---
    let req = LaunchRequest {
        tags: "1-3:php, 1:haproxy".into(),
        count: Some(3),
        security_groups: vec![default.group_id.clone()],
        storage: storage(2, VolumeType::GeneralPurpose, None),
        ..launch_req(image.id)
    };
    let launch = engine.instances_launch(&ana_c, &req).await.unwrap();
    assert_eq!(launch.instances.len(), 3);
    assert!(launch.instances.iter().all(|i| i.status == InstanceStatus::Creating));
    let t = core.finished_task(&ana_c, launch.task.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let mine = engine.instances_list(&ana_c, false).await.unwrap();
    assert_eq!(mine.len(), 3);
    let first = mine.iter().find(|i| i.launch_index == 1).unwrap();
    assert_eq!(first.name, "lamp-1");
    assert_eq!(first.tags, ["php", "haproxy"]);
    assert_eq!(first.status, InstanceStatus::Running);
    assert_eq!(first.login_user, "admin", "the distribution's default login user");
    assert_eq!(first.volumes.len(), 1);
    assert!(first.volumes[0].encrypted);
    assert!(first.security_groups.contains(&default.group_id) && first.security_groups.len() == 2);
    // Every cloud object carries the core's tags with its owner and record.
    let cloud_first = &ec2.describe_instances(REGION, &[first.cloud_id.clone().unwrap()]).await.unwrap()[0];
    assert_eq!(cloud_first.tags.owner(), Some("ana"));
    assert_eq!(cloud_first.tags.object(), Some(ObjectRef::new("instance", first.id)));
    assert_eq!(cloud_first.tags.get("wintermute:tags"), Some("php haproxy"));
    assert_eq!(cloud_first.tags.name(), Some("lamp-1"));
    let vols = engine.volumes_list(&ana_c, false).await.unwrap();
    assert_eq!(vols.len(), 3);
    assert!(vols.iter().all(|v| v.status == VolumeStatus::InUse && v.encrypted && v.size_gb == 2));
    let cloud_vol = &ec2.describe_volumes(REGION, &[vols[0].cloud_id.clone().unwrap()]).await.unwrap()[0];
    assert_eq!(cloud_vol.tags.owner(), Some("ana"));
    assert_eq!(cloud_vol.attachments.len(), 1);
    for v in &vols {
        assert!(engine.has_volume_key(v.id).await.unwrap(), "encrypted volumes get a key");
    }
    // The core's SSH group opens port 22 to the discovered address only.
    let core_sg = ec2
        .security_groups(REGION)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == format!("wintermute-{core_id}-ssh"))
        .expect("the core's SSH group");
    assert_eq!(core_sg.ssh_cidrs, ["203.0.113.7/32"]);
    assert!(first.security_groups.contains(&core_sg.id));

    // --- visibility and control rights ---
    assert!(engine.instances_list(&bob_c, false).await.unwrap().is_empty());
    assert_eq!(engine.instances_get(&bob_c, first.id).await.unwrap_err().code(), ErrorCode::Forbidden);
    let all: Vec<i64> = mine.iter().map(|i| i.id).collect();
    assert_eq!(
        engine.instances_batch(&bob_c, &all, InstanceAction::Terminate).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    assert_eq!(
        engine.instances_action(&ana_c, first.id, InstanceAction::PowerOn).await.unwrap_err().code(),
        ErrorCode::Conflict,
        "a running instance cannot be powered on"
    );

    // --- power off, power on, reboot ---
    let t = engine.instances_action(&ana_c, first.id, InstanceAction::PowerOff).await.unwrap();
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().status, InstanceStatus::ShuttingDown);
    assert_eq!(core.finished_task(&ana_c, t.id).await.state, TaskState::Succeeded);
    let off = engine.instances_get(&ana_c, first.id).await.unwrap();
    assert_eq!((off.status, off.cloud_state.as_deref()), (InstanceStatus::Stopped, Some("stopped")));
    assert_eq!(
        ec2.describe_instances(REGION, &[first.cloud_id.clone().unwrap()]).await.unwrap()[0].state,
        InstanceState::Stopped
    );

    // --- limits: ana may run 3; two run now ---
    engine
        .set_user_limits(
            &admin,
            ana.id,
            &Limits { max_running_instances: Some(3), max_volume_gb: Some(8), ..Default::default() },
        )
        .await
        .unwrap();
    let view = engine.user_limits(&ana_c, ana.id).await.unwrap();
    assert_eq!((view.usage.running_instances, view.usage.volume_gb), (2, 6));
    let two = LaunchRequest { count: Some(2), ..launch_req(image.id) };
    assert_eq!(code(engine.instances_launch(&ana_c, &two).await), ErrorCode::LimitExceeded);
    let big = LaunchRequest { storage: storage(3, VolumeType::GeneralPurpose, None), ..launch_req(image.id) };
    let e = engine.instances_launch(&ana_c, &big).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::LimitExceeded, "6 + 3 GB > 8 GB");
    assert!(e.to_string().contains("GB"), "{e}");
    // a group limit counts all members together
    engine
        .set_group_limits(&admin, g.id, &Limits { max_running_instances: Some(2), ..Default::default() })
        .await
        .unwrap();
    let e = engine.instances_action(&ana_c, first.id, InstanceAction::PowerOn).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::LimitExceeded);
    assert!(e.to_string().contains("analysts"), "{e}");
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().status, InstanceStatus::Stopped, "unchanged");
    engine.set_group_limits(&admin, g.id, &Limits::default()).await.unwrap();
    assert_eq!(
        engine.set_user_limits(&ana_c, ana.id, &Limits::default()).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    let t = engine.instances_action(&ana_c, first.id, InstanceAction::PowerOn).await.unwrap();
    assert_eq!(core.finished_task(&ana_c, t.id).await.state, TaskState::Succeeded);
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().status, InstanceStatus::Running);
    let t = engine.instances_action(&ana_c, first.id, InstanceAction::Reboot).await.unwrap();
    assert_eq!(core.finished_task(&ana_c, t.id).await.state, TaskState::Succeeded);
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().status, InstanceStatus::Running);
    engine.set_user_limits(&admin, ana.id, &Limits::default()).await.unwrap();

    // --- a launch that fails half-way is rolled back ---
    // A volume that the cloud loses behind the core's back: the launch gets as far as attaching it.
    let spare = engine
        .volumes_create(
            &ana_c,
            &NewVolume {
                provider_id: p.id,
                region: REGION.into(),
                availability_zone: Some(first.availability_zone.clone().unwrap()),
                name: "spare".into(),
                size_gb: 1,
                volume_type: VolumeType::GeneralPurpose,
                iops: None,
                encrypted: false,
                mount_point: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(spare.status, VolumeStatus::Available);
    ec2.delete_volume(REGION, spare.cloud_id.as_deref().unwrap()).await.unwrap();
    let reuse = LaunchRequest {
        name: "doomed".into(),
        storage: LaunchStorage::Reuse { volume_id: spare.id, device: None, mount_point: None },
        ..launch_req(image.id)
    };
    let launch = engine.instances_launch(&ana_c, &reuse).await.unwrap();
    let t = core.finished_task(&ana_c, launch.task.id).await;
    assert_eq!(t.state, TaskState::Failed);
    let doomed = engine.instances_get(&ana_c, launch.instances[0].id).await.unwrap();
    assert_eq!(doomed.status, InstanceStatus::Terminated, "{}", doomed.status_message);
    assert!(doomed.status_message.contains("everything it created was removed"), "{}", doomed.status_message);
    let in_cloud = ec2.describe_instances(REGION, &[doomed.cloud_id.clone().unwrap()]).await.unwrap();
    assert!(in_cloud.iter().all(|i| i.state.is_gone()), "the half-made instance was terminated");

    // --- reconcile: changes made behind the core's back ---
    let second = mine.iter().find(|i| i.launch_index == 2).unwrap();
    ec2.stop_instances(REGION, &[second.cloud_id.clone().unwrap()]).await.unwrap();
    let third = mine.iter().find(|i| i.launch_index == 3).unwrap();
    let third_vol = third.volumes[0].id;
    engine.volumes_detach(&ana_c, third_vol).await.unwrap();
    ec2.terminate_instances(REGION, &[third.cloud_id.clone().unwrap()]).await.unwrap();
    // An instance made by this core with no record (a launch cut short by a crash).
    let orphan = ec2
        .run_instances(
            REGION,
            &InstanceSpec {
                name: "orphan".into(),
                image_id: ami.clone(),
                instance_type: "t3.micro".into(),
                key_name: None,
                security_group_ids: vec![],
                count: 1,
                tags: Tags::managed(&core_id, "ana", &ObjectRef::new("instance", 424242)),
                availability_zone: None,
                user_data: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(engine.providers_reconcile(&ana_c, p.id).await.unwrap_err().code(), ErrorCode::Forbidden);
    let t = engine.providers_reconcile(&admin, p.id).await.unwrap();
    let t = core.finished_task(&admin, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let second = engine.instances_get(&ana_c, second.id).await.unwrap();
    assert_eq!(second.status, InstanceStatus::Stopped, "powered off in the console");
    let third = engine.instances_get(&ana_c, third.id).await.unwrap();
    assert_eq!(third.status, InstanceStatus::Terminated, "terminated in the console");
    assert!(third.status_message.contains("outside Wintermute"), "{}", third.status_message);
    let orphan_now = ec2.describe_instances(REGION, &[orphan[0].id.clone()]).await.unwrap();
    assert!(orphan_now[0].state.is_gone(), "the orphan was terminated");
    let spare = engine.volumes_get(&ana_c, spare.id).await.unwrap();
    assert_eq!(spare.status, VolumeStatus::Deleted, "the volume deleted in the cloud is marked deleted");

    // --- attach, detach, delete a volume ---
    let v3 = engine.volumes_get(&ana_c, third_vol).await.unwrap();
    assert_eq!(v3.status, VolumeStatus::Available);
    let attach = AttachVolume { instance_id: first.id, device: Some("/dev/xvdg".into()) };
    assert_eq!(engine.volumes_attach(&bob_c, v3.id, &attach).await.unwrap_err().code(), ErrorCode::Forbidden);
    let bad = AttachVolume { instance_id: first.id, device: Some("/dev/sda1".into()) };
    assert_eq!(engine.volumes_attach(&ana_c, v3.id, &bad).await.unwrap_err().code(), ErrorCode::InvalidField);
    let taken = AttachVolume { instance_id: first.id, device: Some("/dev/xvdf".into()) };
    assert_eq!(engine.volumes_attach(&ana_c, v3.id, &taken).await.unwrap_err().code(), ErrorCode::Conflict);
    let v3 = engine.volumes_attach(&ana_c, v3.id, &attach).await.unwrap();
    assert_eq!((v3.status, v3.instance_id), (VolumeStatus::InUse, Some(first.id)));
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().volumes.len(), 2);
    assert_eq!(engine.volumes_delete(&ana_c, v3.id).await.unwrap_err().code(), ErrorCode::Conflict, "attached");
    engine.volumes_detach(&ana_c, v3.id).await.unwrap();
    engine.volumes_delete(&ana_c, v3.id).await.unwrap();
    assert!(!engine.has_volume_key(v3.id).await.unwrap(), "the key goes with the volume");
    assert!(ec2.describe_volumes(REGION, &[v3.cloud_id.clone().unwrap()]).await.map(|v| v.is_empty()).unwrap_or(true));

    // --- the maximum lifetime powers instances off ---
    engine
        .set_user_limits(&admin, ana.id, &Limits { max_lifetime_hours: Some(1), ..Default::default() })
        .await
        .unwrap();
    sqlx::query("UPDATE instances SET expires_at = 1 WHERE id = $1")
        .bind(first.id)
        .execute(engine.store().pool())
        .await
        .unwrap();
    wait_status(&core, first.id, InstanceStatus::Stopped, 40).await;

    // --- batch terminate keeps the volumes ---
    let ids = vec![first.id, second.id];
    let t = engine.instances_batch(&ana_c, &ids, InstanceAction::Terminate).await.unwrap();
    let t = core.finished_task(&ana_c, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    for id in &ids {
        assert_eq!(engine.instances_get(&ana_c, *id).await.unwrap().status, InstanceStatus::Terminated);
    }
    assert!(engine.instances_list(&ana_c, false).await.unwrap().is_empty());
    assert_eq!(engine.instances_list(&ana_c, true).await.unwrap().len(), 4, "history stays");
    let left = engine.volumes_list(&ana_c, false).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|v| v.status == VolumeStatus::Available && v.instance_id.is_none()));
    drop(moto);
}
