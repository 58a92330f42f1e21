//! Volumes of each type: create, attach, detach, delete, find by tag.

use wintermute_cloud::{AttachmentState, CloudError, CloudProvider, VolumeSpec, VolumeState, VolumeType, TAG_OWNER};

use crate::common::{self, REGION};
use crate::support::{amazon_linux_image, managed, spec};

#[tokio::test]
async fn volumes_of_each_type() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let image = amazon_linux_image(&p).await;
    let instance = p.run_instances(REGION, &spec(&image, 1, managed("carol", "instance", 20))).await.unwrap().remove(0);
    let zone = instance.availability_zone.clone().unwrap();

    let mut volume_ids = Vec::new();
    for (n, (volume_type, iops)) in
        [(VolumeType::GeneralPurpose, None), (VolumeType::ProvisionedIops, Some(1000)), (VolumeType::Magnetic, None)]
            .into_iter()
            .enumerate()
    {
        let tags = managed("carol", "volume", 30 + n as u32).with("Name", volume_type.display_name());
        let volume = p
            .create_volume(
                REGION,
                &VolumeSpec { size_gb: 10, volume_type, iops, availability_zone: zone.clone(), tags: tags.clone() },
            )
            .await
            .unwrap();
        assert!(volume.id.starts_with("vol-"), "{volume:?}");
        assert_eq!(volume.size_gb, 10);
        assert_eq!(volume.volume_type, Some(volume_type), "{volume:?}");
        assert_eq!(volume.availability_zone.as_deref(), Some(zone.as_str()));
        assert!(matches!(volume.state, VolumeState::Creating | VolumeState::Available), "{volume:?}");
        assert_eq!(volume.tags, tags);
        if volume_type == VolumeType::ProvisionedIops {
            assert_eq!(volume.iops, Some(1000));
        }

        // Attach, detach (the emulator needs the instance id, which the trait always passes).
        let device = format!("/dev/sd{}", ['f', 'g', 'h'][n]);
        let attached = p.attach_volume(REGION, &volume.id, &instance.id, &device).await.unwrap();
        assert_eq!(attached.instance_id, instance.id);
        assert_eq!(attached.device.as_deref(), Some(device.as_str()));
        assert!(matches!(attached.state, AttachmentState::Attaching | AttachmentState::Attached));
        let now = p.describe_volumes(REGION, std::slice::from_ref(&volume.id)).await.unwrap().remove(0);
        assert_eq!(now.state, VolumeState::InUse);
        assert_eq!(now.attachments.len(), 1);
        assert_eq!(now.attachments[0].instance_id, instance.id);

        let detached = p.detach_volume(REGION, &volume.id, &instance.id).await.unwrap();
        assert!(matches!(detached.state, AttachmentState::Detaching | AttachmentState::Detached), "{detached:?}");
        let now = p.describe_volumes(REGION, std::slice::from_ref(&volume.id)).await.unwrap().remove(0);
        assert_eq!(now.state, VolumeState::Available);
        assert!(now.attachments.is_empty());
        volume_ids.push(volume.id);
    }

    // Found again by tag (the instance's root volume carries the instance's tags too).
    let carols = p.volumes_by_tag(REGION, TAG_OWNER, "carol").await.unwrap();
    for id in &volume_ids {
        assert!(carols.iter().any(|v| &v.id == id), "{id} not found by tag");
    }
    let magnetic = p.volumes_by_tag(REGION, "Name", "Magnetic").await.unwrap();
    assert_eq!(magnetic.len(), 1);
    assert_eq!(magnetic[0].volume_type, Some(VolumeType::Magnetic));

    for id in &volume_ids {
        p.delete_volume(REGION, id).await.unwrap();
    }
    let err = p.describe_volumes(REGION, &volume_ids[..1]).await.unwrap_err();
    assert_eq!(err, CloudError::not_found("volume", &volume_ids[0]));
    p.terminate_instances(REGION, &[instance.id]).await.unwrap();
}

#[tokio::test]
async fn volume_requests_are_checked_first() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let no_iops = VolumeSpec {
        size_gb: 10,
        volume_type: VolumeType::ProvisionedIops,
        iops: None,
        availability_zone: "us-east-1a".into(),
        tags: managed("carol", "volume", 1),
    };
    assert!(matches!(p.create_volume(REGION, &no_iops).await, Err(CloudError::InvalidRequest(_))));
    assert!(p.volumes_by_tag(REGION, TAG_OWNER, "carol").await.unwrap().is_empty(), "nothing was created");
}
