//! Instances: launch several with tags, find them by tag, power them off and on, terminate.

use wintermute_cloud::{CloudProvider, InstanceState, TAG_CORE, TAG_OBJECT, TAG_OWNER};
use wintermute_custody::UserKeyPair;

use crate::common::{self, REGION};
use crate::support::{amazon_linux_image, managed, spec, CORE_ID};

fn states(list: &[wintermute_cloud::InstanceInfo]) -> Vec<InstanceState> {
    list.iter().map(|i| i.state).collect()
}

#[tokio::test]
async fn instances_life_cycle() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let image = amazon_linux_image(&p).await;
    let key = UserKeyPair::generate("bob@wintermute");
    p.import_key_pair(REGION, "wm-bob", &key.public_openssh(), &managed("bob", "key_pair", 2)).await.unwrap();
    let group = p
        .ensure_security_group(
            REGION,
            "wintermute-ssh",
            "Wintermute SSH",
            Some("203.0.113.7/32"),
            &managed("admin", "security_group", 1),
        )
        .await
        .unwrap();

    let mut wanted = spec(&image, 3, managed("bob", "instance", 10).with("team", "data"));
    wanted.key_name = Some("wm-bob".into());
    wanted.security_group_ids = vec![group.id.clone()];
    let launched = p.run_instances(REGION, &wanted).await.unwrap();
    assert_eq!(launched.len(), 3);
    for i in &launched {
        assert!(i.id.starts_with("i-"), "{i:?}");
        assert!(matches!(i.state, InstanceState::Pending | InstanceState::Running), "{i:?}");
        assert_eq!(i.image_id.as_deref(), Some(image.as_str()));
        assert_eq!(i.instance_type.as_deref(), Some("t3.micro"));
        assert_eq!(i.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(i.tags.name(), Some("web"));
        assert_eq!(i.tags.get("team"), Some("data"));
        assert!(i.tags.is_managed_by(CORE_ID));
        // (The emulator's addresses are made up: never connect to them.)
        assert!(i.private_ip.is_some());
    }
    let mut ids: Vec<String> = launched.iter().map(|i| i.id.clone()).collect();
    ids.sort();

    // Found again by the core's tags.
    let by_owner = p.instances_by_tag(REGION, TAG_OWNER, "bob").await.unwrap();
    let mut found: Vec<String> = by_owner.iter().map(|i| i.id.clone()).collect();
    found.sort();
    assert_eq!(found, ids);
    assert_eq!(p.instances_by_tag(REGION, TAG_CORE, CORE_ID).await.unwrap().len(), 3);
    assert_eq!(p.instances_by_tag(REGION, TAG_OBJECT, "instance#10").await.unwrap().len(), 3);
    assert!(p.instances_by_tag(REGION, TAG_OWNER, "carol").await.unwrap().is_empty());

    // Power off two, then on again.
    let two = &ids[..2];
    let stopping = p.stop_instances(REGION, two).await.unwrap();
    assert_eq!(stopping.len(), 2);
    assert!(stopping.iter().all(|c| c.previous == InstanceState::Running), "{stopping:?}");
    assert!(stopping.iter().all(|c| matches!(c.current, InstanceState::Stopping | InstanceState::Stopped)));
    let now = p.describe_instances(REGION, &ids).await.unwrap();
    let stopped = now.iter().filter(|i| i.state == InstanceState::Stopped).count();
    assert_eq!(stopped, 2, "{:?}", states(&now));

    let starting = p.start_instances(REGION, two).await.unwrap();
    assert!(starting.iter().all(|c| c.previous == InstanceState::Stopped), "{starting:?}");
    let now = p.describe_instances(REGION, &ids).await.unwrap();
    assert_eq!(states(&now), [InstanceState::Running; 3]);

    p.reboot_instances(REGION, &ids[2..]).await.unwrap();

    // Terminate all; they stay visible (terminated) for a while, as on EC2.
    let gone = p.terminate_instances(REGION, &ids).await.unwrap();
    assert_eq!(gone.len(), 3);
    assert!(gone.iter().all(|c| c.current.is_gone()), "{gone:?}");
    let now = p.describe_instances(REGION, &ids).await.unwrap();
    assert_eq!(states(&now), [InstanceState::Terminated; 3]);
    let tagged = p.instances_by_tag(REGION, TAG_OWNER, "bob").await.unwrap();
    assert!(tagged.iter().all(|i| i.state == InstanceState::Terminated));

    // An empty selection is never "everything".
    assert!(p.describe_instances(REGION, &[]).await.unwrap().is_empty());
    assert!(p.terminate_instances(REGION, &[]).await.unwrap().is_empty());
}
