//! EBS volumes: create, attach, detach, delete, describe.

use aws_sdk_ec2::types::{ResourceType, Volume, VolumeAttachment as SdkAttachment, VolumeType as SdkVolumeType};
use wintermute_cloud::{
    AttachmentState, CloudError, Operation, VolumeAttachment, VolumeInfo, VolumeSpec, VolumeState, VolumeType,
};

use crate::client::Ec2;
use crate::convert::{count, sdk_count, tag_filter, tag_spec, tags_from};

/// Creates a volume. The SDK gives the request an idempotency token, so its own retries cannot
/// make a second volume.
pub(crate) async fn create(ec2: &Ec2, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError> {
    spec.validate()?;
    let out = ec2
        .client
        .create_volume()
        .availability_zone(&spec.availability_zone)
        .size(sdk_count(spec.size_gb))
        .volume_type(SdkVolumeType::from(spec.volume_type.ebs_name()))
        .set_iops(spec.iops.map(sdk_count))
        .set_tag_specifications(tag_spec(ResourceType::Volume, &spec.tags).map(|t| vec![t]))
        .send()
        .await
        .map_err(ec2.err(Operation::CreateVolume))?;
    let id = out.volume_id().ok_or_else(|| CloudError::Provider {
        code: "NoVolumeId".into(),
        message: "EC2 created a volume but did not say its id".into(),
    })?;
    Ok(VolumeInfo {
        id: id.to_string(),
        size_gb: count(out.size()).unwrap_or(spec.size_gb),
        volume_type: out.volume_type().and_then(|t| VolumeType::from_ebs(t.as_str())),
        iops: count(out.iops()),
        state: state(out.state().map(|s| s.as_str())),
        availability_zone: out.availability_zone().map(str::to_string),
        attachments: out.attachments().iter().filter_map(attachment).collect(),
        tags: tags_from(out.tags()),
    })
}

/// Attaches a volume; never repeated, not even by the SDK (a repeat fails on the volume now
/// in use).
pub(crate) async fn attach(
    ec2: &Ec2,
    volume_id: &str,
    instance_id: &str,
    device: &str,
) -> Result<VolumeAttachment, CloudError> {
    let out = ec2
        .client
        .attach_volume()
        .volume_id(volume_id)
        .instance_id(instance_id)
        .device(device)
        .customize()
        .config_override(Ec2::no_retries())
        .send()
        .await
        .map_err(ec2.err_about(Operation::AttachVolume, &[volume_id, instance_id]))?;
    Ok(VolumeAttachment {
        instance_id: out.instance_id().unwrap_or(instance_id).to_string(),
        device: Some(out.device().unwrap_or(device).to_string()),
        state: attachment_state(out.state().map(|s| s.as_str())),
    })
}

/// Detaches a volume from an instance; never repeated, not even by the SDK.
pub(crate) async fn detach(ec2: &Ec2, volume_id: &str, instance_id: &str) -> Result<VolumeAttachment, CloudError> {
    let out = ec2
        .client
        .detach_volume()
        .volume_id(volume_id)
        .instance_id(instance_id)
        .customize()
        .config_override(Ec2::no_retries())
        .send()
        .await
        .map_err(ec2.err_about(Operation::DetachVolume, &[volume_id, instance_id]))?;
    Ok(VolumeAttachment {
        instance_id: out.instance_id().unwrap_or(instance_id).to_string(),
        device: out.device().map(str::to_string),
        state: attachment_state(out.state().map(|s| s.as_str())),
    })
}

/// Deletes a volume.
pub(crate) async fn delete(ec2: &Ec2, volume_id: &str) -> Result<(), CloudError> {
    ec2.client
        .delete_volume()
        .volume_id(volume_id)
        .send()
        .await
        .map_err(ec2.err_about(Operation::DeleteVolume, &[volume_id]))?;
    Ok(())
}

/// Describes these volumes (an empty list asks nothing).
pub(crate) async fn describe(ec2: &Ec2, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut volumes = Vec::new();
    let mut next = None;
    loop {
        let out = ec2
            .client
            .describe_volumes()
            .set_volume_ids(Some(ids.to_vec()))
            .set_next_token(next)
            .send()
            .await
            .map_err(ec2.err_about(Operation::DescribeVolumes, ids))?;
        volumes.extend(out.volumes().iter().filter_map(info));
        next = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if next.is_none() {
            return Ok(volumes);
        }
    }
}

/// Every volume tagged `key` = `value`.
pub(crate) async fn by_tag(ec2: &Ec2, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError> {
    let mut pages =
        ec2.client.describe_volumes().filters(tag_filter(key, value)).max_results(500).into_paginator().send();
    let mut volumes = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(ec2.err(Operation::VolumesByTag))?;
        volumes.extend(page.volumes().iter().filter_map(info));
    }
    Ok(volumes)
}

fn info(v: &Volume) -> Option<VolumeInfo> {
    Some(VolumeInfo {
        id: v.volume_id()?.to_string(),
        size_gb: count(v.size()).unwrap_or(0),
        volume_type: v.volume_type().and_then(|t| VolumeType::from_ebs(t.as_str())),
        iops: count(v.iops()),
        state: state(v.state().map(|s| s.as_str())),
        availability_zone: v.availability_zone().map(str::to_string),
        attachments: v.attachments().iter().filter_map(attachment).collect(),
        tags: tags_from(v.tags()),
    })
}

fn attachment(a: &SdkAttachment) -> Option<VolumeAttachment> {
    Some(VolumeAttachment {
        instance_id: a.instance_id()?.to_string(),
        device: a.device().map(str::to_string),
        state: attachment_state(a.state().map(|s| s.as_str())),
    })
}

fn state(s: Option<&str>) -> VolumeState {
    s.unwrap_or_default().parse().unwrap_or(VolumeState::Unknown)
}

fn attachment_state(s: Option<&str>) -> AttachmentState {
    s.unwrap_or_default().parse().unwrap_or(AttachmentState::Unknown)
}
