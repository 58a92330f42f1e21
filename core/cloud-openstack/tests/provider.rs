//! The OpenStack provider against a real Keystone and the fake Nova, Glance, Cinder and Neutron
//! registered in its catalogue: authentication, token renewal, catalogue, microversions and every
//! call of the provider trait.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wintermute_cloud::{
    CloudError, CloudProvider, ImageQuery, InstanceSpec, InstanceState, Tags, VolumeSpec, VolumeState, VolumeType,
    TAG_CORE,
};
use wintermute_cloud_openstack::testing::{FakeOptions, Lab, PASSWORD, PROJECT, REGION, USER};
use wintermute_cloud_openstack::{AddressMode, OpenstackProvider, OpenstackSettings};
use wintermute_custody::SecretString;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example";
const OTHER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd5yLD1B5tnkfC7bIPsCevBZv8Nf9ZSgWPVlgvs0o6i bob@example";

fn spec(lab: &Lab, count: u32, core: &str) -> InstanceSpec {
    InstanceSpec {
        name: "web".into(),
        image_id: lab.fake.image_id("debian-12-genericcloud-amd64").unwrap(),
        instance_type: "m1.small".into(),
        key_name: None,
        security_group_ids: vec![],
        count,
        tags: Tags::new().with(TAG_CORE, core).with("wintermute:managed", "true").with("team", "ops"),
        availability_zone: None,
        user_data: Some("#!/bin/sh\necho hello\n".into()),
    }
}

async fn wait_state(
    p: &OpenstackProvider,
    ids: &[String],
    state: InstanceState,
) -> Vec<wintermute_cloud::InstanceInfo> {
    for _ in 0..100 {
        let infos = p.describe_instances(REGION, ids).await.unwrap();
        if infos.iter().all(|i| i.state == state) {
            return infos;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instances {ids:?} did not reach {state}");
}

async fn wait_volume(p: &OpenstackProvider, id: &str, state: VolumeState) -> wintermute_cloud::VolumeInfo {
    for _ in 0..100 {
        let v = p.describe_volumes(REGION, &[id.to_string()]).await.unwrap().remove(0);
        if v.state == state {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("volume {id} did not become {state:?}");
}

/// Waits until the fake has no servers left (deletion takes a moment).
async fn gone(lab: &Lab) {
    for _ in 0..50 {
        if lab.fake.servers().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("servers left: {:?}", lab.fake.servers());
}

#[tokio::test]
async fn credentials_catalogue_and_microversions() {
    let Some(lab) = Lab::start().await else { return };
    let p = lab.provider();
    let account = p.check_credentials().await.unwrap();
    assert_eq!(account.provider, "openstack");
    assert_eq!(account.account_id.as_deref(), Some(lab.project_id.as_str()));
    assert_eq!(account.region, REGION);
    assert_eq!(account.max_instances, Some(20));
    assert!(account.default_network.is_some());
    let regions: Vec<String> = p.regions().await.unwrap().into_iter().map(|r| r.name).collect();
    assert!(regions.contains(&REGION.to_string()), "{regions:?}");
    let types = p.instance_types(REGION).await.unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["m1.large", "m1.medium", "m1.small", "m1.tiny"]);
    assert_eq!((types[2].vcpus, types[2].memory_mib), (1, 2048));
    // The newest microversion the provider knows, within what the cloud offers.
    assert_eq!(p.microversion("compute", REGION).await.unwrap().as_deref(), Some("2.79"));
    assert_eq!(p.microversion("volume", REGION).await.unwrap().as_deref(), Some("3.60"));
    let seen = lab.fake.seen();
    let flavors = seen.iter().find(|s| s.path.ends_with("/flavors/detail")).unwrap();
    assert_eq!(flavors.microversion.as_deref(), Some("compute 2.79"));
    // One token served every call.
    assert_eq!(p.authentications(), 1);
    // A region the catalogue does not have is named as such.
    let err = p.instance_types("RegionTwo").await.unwrap_err();
    assert!(matches!(&err, CloudError::InvalidRequest(m) if m.contains("RegionTwo") && m.contains(REGION)), "{err}");
}

#[tokio::test]
async fn bad_credentials_are_a_clear_error() {
    let Some(lab) = Lab::start().await else { return };
    let wrong =
        OpenstackSettings::new(lab.keystone.url(), USER, SecretString::new("not-the-password".into()), PROJECT, REGION);
    let err = OpenstackProvider::new(wrong).unwrap().check_credentials().await.unwrap_err();
    assert!(matches!(&err, CloudError::Auth(m) if m.contains(USER) && m.contains(PROJECT)), "{err}");
    assert!(!err.to_string().contains("not-the-password"));
    let no_project =
        OpenstackSettings::new(lab.keystone.url(), USER, SecretString::new(PASSWORD.into()), "nowhere", REGION);
    assert!(matches!(OpenstackProvider::new(no_project).unwrap().check_credentials().await, Err(CloudError::Auth(_))));
    let other_domain = lab.settings().with_domain("Elsewhere");
    assert!(matches!(
        OpenstackProvider::new(other_domain).unwrap().check_credentials().await,
        Err(CloudError::Auth(_))
    ));
    let versioned = OpenstackSettings { auth_url: format!("{}/v3", lab.keystone.url()), ..lab.settings() };
    assert!(matches!(OpenstackProvider::new(versioned), Err(CloudError::InvalidRequest(m)) if m.contains("version")));
    let not_keystone = OpenstackSettings { auth_url: lab.fake.url(), ..lab.settings() };
    let err = OpenstackProvider::new(not_keystone).unwrap().check_credentials().await.unwrap_err();
    assert!(matches!(&err, CloudError::InvalidRequest(m) if m.contains("Keystone")), "{err}");
    let wrong_region = OpenstackSettings { default_region: "RegionTwo".into(), ..lab.settings() };
    let err = OpenstackProvider::new(wrong_region).unwrap().check_credentials().await.unwrap_err();
    assert!(matches!(&err, CloudError::InvalidRequest(m) if m.contains("RegionTwo")), "{err}");
    let closed = OpenstackSettings { auth_url: "http://127.0.0.1:9".into(), ..lab.settings() };
    let err = OpenstackProvider::new(closed).unwrap().check_credentials().await.unwrap_err();
    assert!(matches!(err, CloudError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn tokens_are_renewed_before_expiry_and_after_a_refusal() {
    let Some(lab) = Lab::start().await else { return };
    let p = lab.provider();
    p.instance_types(REGION).await.unwrap();
    p.security_groups(REGION).await.unwrap();
    assert_eq!(p.authentications(), 1);
    // Keystone revokes the provider's token: the fake answers 401, the provider logs in again
    // and the call goes through.
    let used = lab.fake.last_token().unwrap();
    lab.keystone.revoke(&used).await;
    let types = p.instance_types(REGION).await.unwrap();
    assert_eq!(types.len(), 4);
    assert_eq!(p.authentications(), 2);
    assert_ne!(lab.fake.last_token().unwrap(), used);
    // A token that expires within the renewal margin is renewed before use (Keystone's tokens
    // last an hour here; a margin of two hours renews every time).
    let eager = OpenstackSettings { renew_before: Duration::from_secs(7200), ..lab.settings() };
    let p = OpenstackProvider::new(eager).unwrap();
    p.instance_types(REGION).await.unwrap();
    p.instance_types(REGION).await.unwrap();
    assert_eq!(p.authentications(), 2);
}

#[tokio::test]
async fn images_are_found_by_name_id_and_owner() {
    let Some(lab) = Lab::start().await else { return };
    let p = lab.provider();
    let found = p.find_images(REGION, &ImageQuery::from_search("debian").unwrap()).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name.as_deref(), Some("debian-12-genericcloud-amd64"));
    assert_eq!(found[0].architecture.as_deref(), Some("x86_64"));
    assert_eq!(found[0].state.as_deref(), Some("active"));
    let id = found[0].image_id.clone();
    let by_id = p
        .find_images(REGION, &ImageQuery::from_search(&format!("image_id:{id}, not-an-image")).unwrap())
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].image_id, id);
    let own = ImageQuery { owners: vec!["self".into()], ..ImageQuery::default() };
    assert!(p.find_images(REGION, &own).await.unwrap().is_empty());
    lab.fake.add_image("lab-golden-2026", &lab.project_id, "2026-10-01T00:00:00Z");
    lab.fake.add_image("lab-golden-2025", &lab.project_id, "2025-10-01T00:00:00Z");
    let mine = p.find_images(REGION, &own).await.unwrap();
    let names: Vec<_> = mine.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["lab-golden-2026", "lab-golden-2025"], "newest first");
    let limited = ImageQuery { max_results: Some(1), ..ImageQuery::from_search("-").unwrap() };
    assert_eq!(p.find_images(REGION, &limited).await.unwrap().len(), 1);
    assert!(matches!(p.find_images(REGION, &ImageQuery::default()).await, Err(CloudError::InvalidRequest(_))));
}

#[tokio::test]
async fn key_pairs_and_security_groups() {
    let Some(lab) = Lab::start().await else { return };
    let p = lab.provider();
    let tags = Tags::new().with(TAG_CORE, "core-1");
    let k = p.import_key_pair(REGION, "wm-alice", KEY, &tags).await.unwrap();
    assert_eq!(k.name, "wm-alice");
    assert!(k.fingerprint.is_some());
    // Same key again (another comment): fine. Another key under the name: refused.
    let again = KEY.replace("alice@example", "other comment");
    assert_eq!(p.import_key_pair(REGION, "wm-alice", &again, &tags).await.unwrap().name, "wm-alice");
    assert!(matches!(
        p.import_key_pair(REGION, "wm-alice", OTHER_KEY, &tags).await,
        Err(CloudError::InvalidRequest(_))
    ));
    assert!(matches!(p.import_key_pair(REGION, "bad", "not a key", &tags).await, Err(CloudError::InvalidRequest(_))));
    assert_eq!(lab.fake.key_pairs().len(), 1);
    p.delete_key_pair(REGION, "wm-alice").await.unwrap();
    p.delete_key_pair(REGION, "wm-alice").await.unwrap();
    assert!(lab.fake.key_pairs().is_empty());

    let g =
        p.ensure_security_group(REGION, "wm-ssh", "SSH from the core", Some("203.0.113.7/24"), &tags).await.unwrap();
    assert_eq!(g.ssh_cidrs, ["203.0.113.0/24"]);
    assert_eq!(g.description.as_deref(), Some("SSH from the core"));
    let again = p.ensure_security_group(REGION, "wm-ssh", "ignored", Some("198.51.100.0/24"), &tags).await.unwrap();
    assert_eq!(again.id, g.id);
    assert_eq!(again.ssh_cidrs, ["198.51.100.0/24"]);
    let open = p.ensure_security_group(REGION, "wm-ssh", "", None, &tags).await.unwrap();
    assert_eq!(open.ssh_cidrs, ["0.0.0.0/0"]);
    let groups = p.security_groups(REGION).await.unwrap();
    let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["default", "wm-ssh"]);
    let in_fake = lab.fake.security_groups().into_iter().find(|x| x["id"] == g.id.as_str()).unwrap();
    assert_eq!(in_fake["tags"][0], "wintermute:core=core-1");
    assert!(matches!(
        p.ensure_security_group(REGION, "x", "", Some("300.1.1.1/8"), &tags).await,
        Err(CloudError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn servers_launch_power_and_terminate_leaving_nothing() {
    let Some(lab) = Lab::start().await else { return };
    let p = lab.provider();
    let tags = Tags::new().with(TAG_CORE, "core-1");
    p.import_key_pair(REGION, "wm-alice", KEY, &tags).await.unwrap();
    let g = p.ensure_security_group(REGION, "wm-ssh", "SSH", None, &tags).await.unwrap();
    let mut s = spec(&lab, 3, "core-1");
    s.key_name = Some("wm-alice".into());
    s.security_group_ids = vec![g.id.clone()];
    let made = p.run_instances(REGION, &s).await.unwrap();
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running)));
    assert!(made.iter().all(|i| i.tags.name() == Some("web")));
    let ids: Vec<String> = made.iter().map(|i| i.id.clone()).collect();
    let running = wait_state(&p, &ids, InstanceState::Running).await;
    for i in &running {
        assert!(i.public_ip.as_deref().unwrap().starts_with("172.24.4."), "{i:?}");
        assert!(i.private_ip.as_deref().unwrap().starts_with("10.0.0."), "{i:?}");
        assert_eq!(i.instance_type.as_deref(), Some("m1.small"));
        assert_eq!(i.availability_zone.as_deref(), Some("nova"));
        assert_eq!(i.tags.get("team"), Some("ops"));
        assert!(i.launch_time.is_some());
    }
    // Each server's floating IP carries its tags, so that nothing made is unfindable.
    let addresses = p.addresses_by_tag(REGION, TAG_CORE, "core-1").await.unwrap();
    assert_eq!(addresses.len(), 3);
    assert!(addresses.iter().all(|a| a.instance_id.as_ref().is_some_and(|i| ids.contains(i))));
    let tagged = p.instances_by_tag(REGION, TAG_CORE, "core-1").await.unwrap();
    assert_eq!(tagged.len(), 3);
    assert!(p.instances_by_tag(REGION, TAG_CORE, "core-2").await.unwrap().is_empty());
    let servers = lab.fake.servers();
    assert!(servers.iter().all(|s| s["key_name"] == "wm-alice" && s["security_groups"][0]["name"] == "wm-ssh"));

    let changes = p.stop_instances(REGION, &ids[..1]).await.unwrap();
    assert_eq!((changes[0].previous, changes[0].current), (InstanceState::Running, InstanceState::Stopping));
    wait_state(&p, &ids[..1], InstanceState::Stopped).await;
    // Stopping a stopped server changes nothing (as on EC2).
    assert_eq!(p.stop_instances(REGION, &ids[..1]).await.unwrap()[0].current, InstanceState::Stopped);
    p.start_instances(REGION, &ids[..1]).await.unwrap();
    wait_state(&p, &ids[..1], InstanceState::Running).await;
    p.reboot_instances(REGION, &ids[1..2]).await.unwrap();
    wait_state(&p, &ids[1..2], InstanceState::Running).await;

    let gone = p.terminate_instances(REGION, &ids).await.unwrap();
    assert!(gone.iter().all(|c| c.current == InstanceState::ShuttingDown));
    // Deleted servers still read as terminated, not as unknown.
    wait_state(&p, &ids, InstanceState::Terminated).await;
    assert!(lab.fake.servers().is_empty());
    assert!(lab.fake.floating_ips().is_empty(), "floating IPs released with their servers");
    assert!(p.terminate_instances(REGION, &ids).await.unwrap().iter().all(|c| c.current == InstanceState::Terminated));
    let unknown = "00000000-0000-4000-8000-000000000000".to_string();
    assert!(matches!(p.describe_instances(REGION, &[unknown]).await, Err(CloudError::NotFound { .. })));
    assert!(matches!(p.describe_instances(REGION, &["../etc".into()]).await, Err(CloudError::NotFound { .. })));
    // Empty selections ask the cloud nothing.
    let before = lab.fake.seen().len();
    assert!(p.describe_instances(REGION, &[]).await.unwrap().is_empty());
    assert!(p.terminate_instances(REGION, &[]).await.unwrap().is_empty());
    assert_eq!(lab.fake.seen().len(), before);
}

#[tokio::test]
async fn a_launch_is_all_or_nothing() {
    let opts = FakeOptions { max_instances: 2, ..FakeOptions::default() };
    let Some(lab) = Lab::start_with(opts).await else { return };
    let p = lab.provider();
    let err = p.run_instances(REGION, &spec(&lab, 3, "core-1")).await.unwrap_err();
    assert!(matches!(&err, CloudError::LimitExceeded(m) if m.contains("Quota")), "{err}");
    gone(&lab).await;
    assert!(lab.fake.floating_ips().is_empty());
    let unknown_flavor = InstanceSpec { instance_type: "m9.huge".into(), ..spec(&lab, 1, "core-1") };
    assert!(
        matches!(p.run_instances(REGION, &unknown_flavor).await, Err(CloudError::InvalidRequest(m)) if m.contains("m9.huge"))
    );
    let unknown_image =
        InstanceSpec { image_id: "00000000-0000-4000-8000-000000000000".into(), ..spec(&lab, 1, "core-1") };
    assert!(matches!(p.run_instances(REGION, &unknown_image).await, Err(CloudError::InvalidRequest(_))));
    let bad_tag = InstanceSpec { tags: Tags::new().with("no/slashes", "x"), ..spec(&lab, 1, "core-1") };
    assert!(matches!(p.run_instances(REGION, &bad_tag).await, Err(CloudError::InvalidRequest(_))));
    gone(&lab).await;
    // Fixed addresses: no floating IP is made, the fixed address is the one to use.
    let fixed = OpenstackProvider::new(lab.settings().with_address_mode(AddressMode::Fixed)).unwrap();
    let made = fixed.run_instances(REGION, &spec(&lab, 1, "core-1")).await.unwrap();
    let ids = vec![made[0].id.clone()];
    let info = wait_state(&fixed, &ids, InstanceState::Running).await.remove(0);
    assert!(info.public_ip.as_deref().unwrap().starts_with("10.0.0."));
    assert!(lab.fake.floating_ips().is_empty());
    // A server the cloud broke reads as failed.
    lab.fake.break_server(&ids[0]);
    assert_eq!(fixed.describe_instances(REGION, &ids).await.unwrap()[0].state, InstanceState::Failed);
}

#[tokio::test]
async fn volumes_are_made_attached_detached_and_deleted() {
    let Some(lab) = Lab::start().await else { return };
    let p = lab.provider();
    let made = p.run_instances(REGION, &spec(&lab, 1, "core-1")).await.unwrap();
    let server = made[0].id.clone();
    wait_state(&p, std::slice::from_ref(&server), InstanceState::Running).await;
    let tags = Tags::new().with(TAG_CORE, "core-1").with("Name", "data");
    let vs = VolumeSpec {
        size_gb: 8,
        volume_type: VolumeType::GeneralPurpose,
        iops: None,
        availability_zone: "nova".into(),
        tags,
    };
    let v = p.create_volume(REGION, &vs).await.unwrap();
    assert_eq!((v.size_gb, v.state, v.volume_type), (8, VolumeState::Creating, Some(VolumeType::GeneralPurpose)));
    wait_volume(&p, &v.id, VolumeState::Available).await;
    let a = p.attach_volume(REGION, &v.id, &server, "/dev/sdf").await.unwrap();
    assert_eq!(a.instance_id, server);
    assert_eq!(a.device.as_deref(), Some("/dev/vdb"));
    let attached = wait_volume(&p, &v.id, VolumeState::InUse).await;
    assert_eq!(attached.attachments[0].instance_id, server);
    assert!(matches!(p.delete_volume(REGION, &v.id).await, Err(CloudError::InvalidRequest(_))));
    assert!(matches!(p.attach_volume(REGION, &v.id, &server, "/dev/sdg").await, Err(CloudError::InvalidRequest(_))));
    p.detach_volume(REGION, &v.id, &server).await.unwrap();
    wait_volume(&p, &v.id, VolumeState::Available).await;
    let by_tag = p.volumes_by_tag(REGION, TAG_CORE, "core-1").await.unwrap();
    assert_eq!(by_tag.len(), 1);
    assert_eq!(by_tag[0].tags.name(), Some("data"));
    p.delete_volume(REGION, &v.id).await.unwrap();
    for _ in 0..50 {
        if lab.fake.volumes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(lab.fake.volumes().is_empty());
    assert!(matches!(p.describe_volumes(REGION, std::slice::from_ref(&v.id)).await, Err(CloudError::NotFound { .. })));
    assert!(matches!(p.delete_volume(REGION, &v.id).await, Err(CloudError::NotFound { .. })));
    // Kinds: Provisioned IOPS needs a volume type of that name (the fake has io2), Magnetic has none.
    let piops = VolumeSpec { volume_type: VolumeType::ProvisionedIops, iops: Some(3000), ..vs.clone() };
    assert_eq!(p.create_volume(REGION, &piops).await.unwrap().volume_type, Some(VolumeType::ProvisionedIops));
    let magnetic = VolumeSpec { volume_type: VolumeType::Magnetic, ..vs.clone() };
    assert!(
        matches!(p.create_volume(REGION, &magnetic).await, Err(CloudError::InvalidRequest(m)) if m.contains("Magnetic"))
    );
    let elsewhere = VolumeSpec { availability_zone: "az9".into(), ..vs };
    assert!(matches!(p.create_volume(REGION, &elsewhere).await, Err(CloudError::InvalidRequest(_))));
}

#[tokio::test]
async fn floating_addresses_are_allocated_moved_and_released() {
    let Some(lab) = Lab::start().await else { return };
    let p = OpenstackProvider::new(lab.settings().with_address_mode(AddressMode::Fixed)).unwrap();
    let made = p.run_instances(REGION, &spec(&lab, 2, "core-1")).await.unwrap();
    let ids: Vec<String> = made.iter().map(|i| i.id.clone()).collect();
    wait_state(&p, &ids, InstanceState::Running).await;
    let tags = Tags::new().with(TAG_CORE, "core-1");
    let a = p.allocate_address(REGION, &tags).await.unwrap();
    assert!(a.public_ip.starts_with("172.24.4."));
    assert_eq!(a.instance_id, None);
    let on_first = p.associate_address(REGION, &a.allocation_id, &ids[0]).await.unwrap();
    assert_eq!(on_first.instance_id.as_deref(), Some(ids[0].as_str()));
    let moved = p.associate_address(REGION, &a.allocation_id, &ids[1]).await.unwrap();
    assert_eq!(moved.instance_id.as_deref(), Some(ids[1].as_str()));
    let listed = p.addresses_by_tag(REGION, TAG_CORE, "core-1").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].instance_id.as_deref(), Some(ids[1].as_str()));
    p.disassociate_address(REGION, &a.allocation_id).await.unwrap();
    assert_eq!(p.addresses_by_tag(REGION, TAG_CORE, "core-1").await.unwrap()[0].instance_id, None);
    p.release_address(REGION, &a.allocation_id).await.unwrap();
    p.release_address(REGION, &a.allocation_id).await.unwrap();
    assert!(p.addresses_by_tag(REGION, TAG_CORE, "core-1").await.unwrap().is_empty());
    assert!(matches!(p.disassociate_address(REGION, &a.allocation_id).await, Err(CloudError::NotFound { .. })));
}
