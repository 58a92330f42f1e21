//! Instances and volumes on OpenStack: a provider configured with Keystone v3 credentials (the
//! real Keystone of the test lab) and synchronised (regions, flavors), a Glance image imported,
//! compliance refusals before any cloud call, a launch of several tagged instances with new
//! encrypted volumes, power off/on/reboot, a launch that fails half-way and is rolled back,
//! reconcile after changes made behind the core's back, and terminate keeping the volumes and
//! leaving no server or floating IP behind. The fake cloud's addresses lead nowhere: nothing here
//! opens SSH.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/discovery.rs"]
mod discovery;
use discovery::discovery_server;
#[path = "common/catalog.rs"]
mod catalog;
use catalog::{allowed_provider, analysts_may_launch, imported_image};

use wintermute_api::instances::{
    AllowedSecurityGroups, InstanceAction, InstanceStatus, LaunchRequest, LaunchStorage, NewStorage, NewVolume,
    VolumeStatus, VolumeType,
};
use wintermute_api::providers::{ImagePatch, NewProvider, OsType, ProviderKind, ProviderPatch};
use wintermute_api::setup::Setup;
use wintermute_api::tasks::TaskState;
use wintermute_api::ErrorCode;
use wintermute_cloud::{CloudProvider, InstanceSpec, InstanceState, ObjectRef, Tags, TAG_CORE};
use wintermute_cloud_openstack::testing::{Lab, PASSWORD, PROJECT, REGION, USER};
use wintermute_core::store::Backend;
use wintermute_core::testing::TestCore;

fn launch_req(image_id: i64) -> LaunchRequest {
    LaunchRequest {
        name: "lamp".into(),
        description: "tests".into(),
        tags: String::new(),
        image_id,
        instance_type: "m1.small".into(),
        count: None,
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::None,
        // The fake cloud's addresses lead nowhere: the core must not connect to them.
        setup: Setup { provision: false, ..Setup::default() },
    }
}

fn openstack_provider(lab: &Lab) -> NewProvider {
    NewProvider {
        kind: Some(ProviderKind::Openstack),
        name: "openstack".into(),
        description: "the lab cloud".into(),
        access_key_id: USER.into(),
        secret_access_key: PASSWORD.into(),
        endpoint_url: Some(lab.keystone.url()),
        default_region: Some(REGION.into()),
        project: Some(PROJECT.into()),
        domain: Some("Default".into()),
        address_mode: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_providers_are_checked_and_synchronised() {
    let Some(lab) = Lab::start().await else { return };
    let core = TestCore::start(Backend::Sqlite).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    let (_ana, ana_c) = core.user("ana").await;
    let req = openstack_provider(&lab);
    let code = |r: Result<wintermute_api::providers::Provider, wintermute_core::CoreError>| r.unwrap_err().code();
    assert_eq!(code(engine.providers_create(&ana_c, &req).await), ErrorCode::Forbidden);
    for (bad, why) in [
        (NewProvider { endpoint_url: None, ..req.clone() }, "no auth URL"),
        (NewProvider { endpoint_url: Some(format!("{}/v3", lab.keystone.url())), ..req.clone() }, "versioned URL"),
        (NewProvider { project: None, ..req.clone() }, "no project"),
        (NewProvider { secret_access_key: String::new(), ..req.clone() }, "no password"),
        (NewProvider { address_mode: Some("public".into()), ..req.clone() }, "unknown address mode"),
        (NewProvider { default_region: Some("Region One".into()), ..req.clone() }, "bad region"),
    ] {
        assert_eq!(code(engine.providers_create(&admin, &bad).await), ErrorCode::InvalidField, "{why}");
    }
    let aws_with_project = NewProvider {
        kind: Some(ProviderKind::Aws),
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        endpoint_url: None,
        ..req.clone()
    };
    assert_eq!(code(engine.providers_create(&admin, &aws_with_project).await), ErrorCode::InvalidField);

    let p = engine.providers_create(&admin, &req).await.unwrap();
    assert_eq!(p.kind, ProviderKind::Openstack);
    assert_eq!((p.project.as_deref(), p.domain.as_deref()), (Some(PROJECT), Some("Default")));
    assert_eq!(p.address_mode.as_deref(), Some("floating"));
    assert_eq!(p.default_region, REGION);
    // The password is sealed, never returned, never in the audit log.
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains(PASSWORD), "{json}");
    let t = core.finished_task(&admin, engine.providers_sync(&admin, p.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let p = engine.providers_get(&admin, p.id).await.unwrap();
    assert_eq!(p.status, "synced");
    assert_eq!(p.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [REGION]);
    let flavors: Vec<&str> = p.instance_types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(flavors, ["m1.tiny", "m1.small", "m1.medium", "m1.large"]);
    assert!(p.instance_types.iter().all(|t| !t.allowed), "nothing allowed until an administrator says so");

    // A wrong password: the sync fails with Keystone's refusal, and says so.
    let wrong = engine
        .providers_create(
            &admin,
            &NewProvider { name: "wrong".into(), secret_access_key: "not-it".into(), ..openstack_provider(&lab) },
        )
        .await
        .unwrap();
    let t = core.finished_task(&admin, engine.providers_sync(&admin, wrong.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.message.contains("Keystone refused") && t.message.contains(USER), "{}", t.message);
    assert!(!t.message.contains("not-it"));
    assert_eq!(engine.providers_get(&admin, wrong.id).await.unwrap().status, "error");
    // A new password fixes it.
    engine
        .providers_update(
            &admin,
            wrong.id,
            &ProviderPatch { secret_access_key: Some(PASSWORD.into()), ..Default::default() },
        )
        .await
        .unwrap();
    let t = core.finished_task(&admin, engine.providers_sync(&admin, wrong.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    // Project, domain and address mode can be changed (OpenStack providers only).
    let fixed = ProviderPatch { address_mode: Some("fixed".into()), ..Default::default() };
    let changed = engine.providers_update(&admin, wrong.id, &fixed).await.unwrap();
    assert_eq!((changed.address_mode.as_deref(), changed.project.as_deref()), (Some("fixed"), Some(PROJECT)));
    let other = ProviderPatch { project: Some("nowhere".into()), ..Default::default() };
    engine.providers_update(&admin, wrong.id, &other).await.unwrap();
    let t = core.finished_task(&admin, engine.providers_sync(&admin, wrong.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Failed, "the new project is used at once");
    let bad = ProviderPatch { address_mode: Some("both".into()), ..Default::default() };
    assert_eq!(engine.providers_update(&admin, wrong.id, &bad).await.unwrap_err().code(), ErrorCode::InvalidField);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_volumes_on_openstack_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_volumes_on_openstack_postgres() {
    if wintermute_core::testing::backends().contains(&Backend::Postgres) {
        story(Backend::Postgres).await;
    }
}

async fn story(backend: Backend) {
    let Some(lab) = Lab::start().await else { return };
    let os = lab.provider();
    let core = TestCore::start(backend).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    let (ana, ana_c) = core.user("ana").await;
    let (_bob, bob_c) = core.user("bob").await;
    let discover = discovery_server("203.0.113.7\n").await;
    engine.settings_set(&admin, "WMAIS_SG_AUTO_IP_DISCOVER", serde_json::json!(discover)).await.unwrap();

    // --- a provider, an allowed region and flavor, an enabled Glance image ---
    let p = allowed_provider(&core, &openstack_provider(&lab), REGION, "m1.small").await;
    let found = engine.images_search(&admin, p.id, REGION, "debian").await.unwrap();
    assert_eq!(found.len(), 1);
    let glance_id = found[0].cloud_id.clone();
    let by_id = engine.images_search(&admin, p.id, REGION, &format!("image_id:{glance_id}")).await.unwrap();
    assert_eq!(by_id[0].name, "debian-12-genericcloud-amd64");
    let image = imported_image(&core, p.id, REGION, &glance_id).await;
    assert!(!image.enabled, "imported images start disabled");
    analysts_may_launch(&core, vec![ana.id], p.id, image.id).await;

    // --- refusals, all before any cloud call ---
    let calls_before = lab.fake.seen().len();
    let code =
        |r: Result<_, wintermute_core::CoreError>| r.map(|_: wintermute_api::instances::Launch| ()).unwrap_err().code();
    assert_eq!(code(engine.instances_launch(&ana_c, &launch_req(image.id)).await), ErrorCode::Forbidden, "disabled");
    engine
        .images_update(
            &admin,
            image.id,
            &ImagePatch { enabled: Some(true), os_type: Some(OsType::Debian), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(code(engine.instances_launch(&bob_c, &launch_req(image.id)).await), ErrorCode::Forbidden, "no rights");
    let bad_type = LaunchRequest { instance_type: "m1.large".into(), ..launch_req(image.id) };
    let e = engine.instances_launch(&ana_c, &bad_type).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    assert!(e.to_string().contains("m1.large") && e.to_string().contains("m1.small"), "{e}");
    let bad_tags = LaunchRequest { tags: "1-5:php".into(), count: Some(3), ..launch_req(image.id) };
    assert_eq!(code(engine.instances_launch(&ana_c, &bad_tags).await), ErrorCode::InvalidField);
    let sg = LaunchRequest { security_groups: vec!["not-offered".into()], ..launch_req(image.id) };
    assert_eq!(code(engine.instances_launch(&ana_c, &sg).await), ErrorCode::Forbidden, "group not made available");
    assert!(engine.instances_list(&admin, true).await.unwrap().is_empty(), "refusals leave no record");
    assert_eq!(lab.fake.seen().len(), calls_before, "and ask the cloud nothing");

    // --- an administrator makes the project's default group available ---
    let groups = engine.security_groups_list(&admin, p.id, REGION).await.unwrap();
    let default = groups.iter().find(|g| g.name == "default").expect("the project's default group");
    engine
        .security_groups_allow(
            &admin,
            p.id,
            &AllowedSecurityGroups { region: REGION.into(), group_ids: vec![default.group_id.clone()] },
        )
        .await
        .unwrap();

    // --- launch three tagged instances, each with a new encrypted volume ---
    let storage = |size_gb| {
        LaunchStorage::New(NewStorage {
            size_gb,
            volume_type: VolumeType::GeneralPurpose,
            iops: None,
            encrypted: true,
            mount_point: None,
            device: None,
        })
    };
    let req = LaunchRequest {
        tags: "1-3:php, 1:haproxy".into(),
        count: Some(3),
        security_groups: vec![default.group_id.clone()],
        storage: storage(2),
        ..launch_req(image.id)
    };
    let launch = engine.instances_launch(&ana_c, &req).await.unwrap();
    assert_eq!(launch.instances.len(), 3);
    let t = core.finished_task(&ana_c, launch.task.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let mine = engine.instances_list(&ana_c, false).await.unwrap();
    assert_eq!(mine.len(), 3);
    let first = mine.iter().find(|i| i.launch_index == 1).unwrap();
    assert_eq!(first.name, "lamp-1");
    assert_eq!(first.tags, ["php", "haproxy"]);
    assert_eq!(first.status, InstanceStatus::Running);
    assert_eq!(first.availability_zone.as_deref(), Some("nova"));
    assert!(first.public_ip.as_deref().is_some_and(|ip| ip.starts_with("172.24.4.")), "{:?}", first.public_ip);
    assert_eq!(first.volumes.len(), 1);
    assert!(first.volumes[0].encrypted);
    assert!(first.security_groups.contains(&default.group_id) && first.security_groups.len() == 2);
    // Every cloud object carries the core's tags with its owner and record.
    let core_id = engine.core_id().await.unwrap();
    let cloud_first = &os.describe_instances(REGION, &[first.cloud_id.clone().unwrap()]).await.unwrap()[0];
    assert_eq!(cloud_first.tags.owner(), Some("ana"));
    assert_eq!(cloud_first.tags.object(), Some(ObjectRef::new("instance", first.id)));
    assert_eq!(cloud_first.tags.get("wintermute:tags"), Some("php haproxy"));
    assert_eq!(cloud_first.tags.name(), Some("lamp-1"));
    assert_eq!(os.addresses_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().len(), 3, "floating IPs are tagged");
    let vols = engine.volumes_list(&ana_c, false).await.unwrap();
    assert_eq!(vols.len(), 3);
    assert!(vols.iter().all(|v| v.status == VolumeStatus::InUse && v.encrypted && v.size_gb == 2));
    let cloud_vol = &os.describe_volumes(REGION, &[vols[0].cloud_id.clone().unwrap()]).await.unwrap()[0];
    assert_eq!(cloud_vol.tags.owner(), Some("ana"));
    assert_eq!(cloud_vol.attachments.len(), 1);
    // The core's SSH group opens port 22 to the discovered address only; its key pair is in Nova.
    let core_sg = os
        .security_groups(REGION)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == format!("wintermute-{core_id}-ssh"))
        .expect("the core's SSH group");
    assert_eq!(core_sg.ssh_cidrs, ["203.0.113.7/32"]);
    assert!(first.security_groups.contains(&core_sg.id));
    assert_eq!(lab.fake.key_pairs().len(), 1);

    // --- power off, power on, reboot ---
    let t = engine.instances_action(&ana_c, first.id, InstanceAction::PowerOff).await.unwrap();
    assert_eq!(core.finished_task(&ana_c, t.id).await.state, TaskState::Succeeded);
    let off = engine.instances_get(&ana_c, first.id).await.unwrap();
    assert_eq!((off.status, off.cloud_state.as_deref()), (InstanceStatus::Stopped, Some("stopped")));
    let t = engine.instances_action(&ana_c, first.id, InstanceAction::PowerOn).await.unwrap();
    assert_eq!(core.finished_task(&ana_c, t.id).await.state, TaskState::Succeeded);
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().status, InstanceStatus::Running);
    let t = engine.instances_action(&ana_c, first.id, InstanceAction::Reboot).await.unwrap();
    assert_eq!(core.finished_task(&ana_c, t.id).await.state, TaskState::Succeeded);
    assert_eq!(engine.instances_get(&ana_c, first.id).await.unwrap().status, InstanceStatus::Running);

    // --- a launch that fails half-way is rolled back, leaving nothing in the cloud ---
    let spare = engine
        .volumes_create(
            &ana_c,
            &NewVolume {
                provider_id: p.id,
                region: REGION.into(),
                availability_zone: None,
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
    assert_eq!(spare.availability_zone.as_deref(), Some("nova"));
    os.delete_volume(REGION, spare.cloud_id.as_deref().unwrap()).await.unwrap();
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
    let in_cloud = os.describe_instances(REGION, &[doomed.cloud_id.clone().unwrap()]).await.unwrap();
    assert!(in_cloud.iter().all(|i| i.state.is_gone()), "the half-made server was deleted");
    assert_eq!(os.addresses_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().len(), 3, "its floating IP too");

    // --- reconcile: changes made behind the core's back ---
    let second = mine.iter().find(|i| i.launch_index == 2).unwrap();
    os.stop_instances(REGION, &[second.cloud_id.clone().unwrap()]).await.unwrap();
    let third = mine.iter().find(|i| i.launch_index == 3).unwrap();
    let third_vol = third.volumes[0].id;
    engine.volumes_detach(&ana_c, third_vol).await.unwrap();
    os.terminate_instances(REGION, &[third.cloud_id.clone().unwrap()]).await.unwrap();
    // A server made by this core with no record (a launch cut short by a crash).
    let orphan = os
        .run_instances(
            REGION,
            &InstanceSpec {
                name: "orphan".into(),
                image_id: glance_id.clone(),
                instance_type: "m1.small".into(),
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
    // A floating IP left by a launch cut short (its instance has no record), and one of a live
    // instance that points nowhere for a moment: only the first is given back.
    let stray = os
        .allocate_address(REGION, &Tags::managed(&core_id, "ana", &ObjectRef::new("instance", 434343)))
        .await
        .unwrap();
    let live_one = os
        .allocate_address(REGION, &Tags::managed(&core_id, "ana", &ObjectRef::new("instance", first.id)))
        .await
        .unwrap();
    // Let the cloud finish what it was told (the fake takes a moment, as a real cloud does).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let t = engine.providers_reconcile(&admin, p.id).await.unwrap();
    let t = core.finished_task(&admin, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let second = engine.instances_get(&ana_c, second.id).await.unwrap();
    assert_eq!(second.status, InstanceStatus::Stopped, "powered off behind the core's back");
    let third = engine.instances_get(&ana_c, third.id).await.unwrap();
    assert_eq!(third.status, InstanceStatus::Terminated, "deleted behind the core's back");
    let orphan_now = os.describe_instances(REGION, &[orphan[0].id.clone()]).await.unwrap();
    assert!(orphan_now[0].state.is_gone(), "the orphan was terminated");
    let spare = engine.volumes_get(&ana_c, spare.id).await.unwrap();
    assert_eq!(spare.status, VolumeStatus::Deleted, "the volume deleted in the cloud is marked deleted");
    let left: Vec<String> =
        os.addresses_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().into_iter().map(|a| a.allocation_id).collect();
    assert!(!left.contains(&stray.allocation_id), "the stray floating IP was released");
    assert!(left.contains(&live_one.allocation_id), "a live instance's address is kept");
    os.release_address(REGION, &live_one.allocation_id).await.unwrap();

    // --- batch terminate keeps the volumes, and leaves no server or floating IP ---
    let ids = vec![first.id, second.id];
    let t = engine.instances_batch(&ana_c, &ids, InstanceAction::Terminate).await.unwrap();
    let t = core.finished_task(&ana_c, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    for id in &ids {
        assert_eq!(engine.instances_get(&ana_c, *id).await.unwrap().status, InstanceStatus::Terminated);
    }
    let left = engine.volumes_list(&ana_c, false).await.unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|v| v.status == VolumeStatus::Available && v.instance_id.is_none()));
    assert!(lab.fake.servers().iter().all(|s| s["OS-EXT-STS:task_state"] == "deleting"), "every server is going");
    assert!(os.instances_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().iter().all(|i| i.state.is_gone()));
    assert!(lab.fake.floating_ips().is_empty(), "no floating IP left behind");
    assert!(os.addresses_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().is_empty());
    let _ = InstanceState::Terminated;
}
