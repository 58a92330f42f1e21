//! Instances: launch, describe, power and terminate.

use aws_sdk_ec2::types::{
    HttpTokensState, Instance, InstanceMetadataOptionsRequest, InstanceStateChange as SdkStateChange, InstanceType,
    Placement, ResourceType,
};
use base64::Engine as _;
use wintermute_cloud::{
    CloudError, InstanceInfo, InstanceSpec, InstanceState, InstanceStateChange, Operation, TAG_NAME,
};

use crate::client::Ec2;
use crate::convert::{sdk_count, tag_filter, tag_spec, tags_from, time};

/// Launches `spec.count` instances, all or nothing. The SDK gives the request an idempotency
/// token, so its own retries cannot launch a second set.
pub(crate) async fn run(ec2: &Ec2, spec: &InstanceSpec) -> Result<Vec<InstanceInfo>, CloudError> {
    spec.validate()?;
    let mut tags = spec.tags.clone();
    if !spec.name.is_empty() {
        tags.insert(TAG_NAME, spec.name.clone());
    }
    let tag_specs: Vec<_> =
        [ResourceType::Instance, ResourceType::Volume].into_iter().filter_map(|r| tag_spec(r, &tags)).collect();
    let count = sdk_count(spec.count);
    let out = ec2
        .client
        .run_instances()
        .image_id(&spec.image_id)
        .instance_type(InstanceType::from(spec.instance_type.as_str()))
        .min_count(count)
        .max_count(count)
        .set_key_name(spec.key_name.clone())
        .set_security_group_ids((!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.clone()))
        .set_tag_specifications((!tag_specs.is_empty()).then_some(tag_specs))
        .set_placement(spec.availability_zone.as_ref().map(|z| Placement::builder().availability_zone(z).build()))
        .set_user_data(spec.user_data.as_ref().map(|u| base64::engine::general_purpose::STANDARD.encode(u)))
        // Instance metadata only with a session token (IMDSv2).
        .metadata_options(InstanceMetadataOptionsRequest::builder().http_tokens(HttpTokensState::Required).build())
        .send()
        .await
        .map_err(ec2.err_about(Operation::RunInstances, &named(spec)))?;
    Ok(out.instances().iter().filter_map(info).collect())
}

/// Describes these instances (an empty list asks nothing).
pub(crate) async fn describe(ec2: &Ec2, ids: &[String]) -> Result<Vec<InstanceInfo>, CloudError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut instances = Vec::new();
    let mut next = None;
    loop {
        let out = ec2
            .client
            .describe_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .set_next_token(next)
            .send()
            .await
            .map_err(ec2.err_about(Operation::DescribeInstances, ids))?;
        instances.extend(out.reservations().iter().flat_map(|r| r.instances()).filter_map(info));
        next = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if next.is_none() {
            return Ok(instances);
        }
    }
}

/// Every instance tagged `key` = `value`.
pub(crate) async fn by_tag(ec2: &Ec2, key: &str, value: &str) -> Result<Vec<InstanceInfo>, CloudError> {
    let mut pages =
        ec2.client.describe_instances().filters(tag_filter(key, value)).max_results(1000).into_paginator().send();
    let mut instances = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(ec2.err(Operation::InstancesByTag))?;
        instances.extend(page.reservations().iter().flat_map(|r| r.instances()).filter_map(info));
    }
    Ok(instances)
}

/// Powers instances on.
pub(crate) async fn start(ec2: &Ec2, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = ec2
        .client
        .start_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(ec2.err_about(Operation::StartInstances, ids))?;
    Ok(changes(out.starting_instances()))
}

/// Powers instances off.
pub(crate) async fn stop(ec2: &Ec2, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = ec2
        .client
        .stop_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(ec2.err_about(Operation::StopInstances, ids))?;
    Ok(changes(out.stopping_instances()))
}

/// Reboots instances; never repeated, not even by the SDK (a repeat would reboot again).
pub(crate) async fn reboot(ec2: &Ec2, ids: &[String]) -> Result<(), CloudError> {
    if ids.is_empty() {
        return Ok(());
    }
    ec2.client
        .reboot_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .customize()
        .config_override(Ec2::no_retries())
        .send()
        .await
        .map_err(ec2.err_about(Operation::RebootInstances, ids))?;
    Ok(())
}

/// Terminates instances.
pub(crate) async fn terminate(ec2: &Ec2, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = ec2
        .client
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(ec2.err_about(Operation::TerminateInstances, ids))?;
    Ok(changes(out.terminating_instances()))
}

/// The objects a launch names, for not-found errors.
fn named(spec: &InstanceSpec) -> Vec<&str> {
    let mut names = vec![spec.image_id.as_str()];
    names.extend(spec.key_name.as_deref());
    names.extend(spec.security_group_ids.iter().map(String::as_str));
    names
}

fn state_of(state: Option<&aws_sdk_ec2::types::InstanceState>) -> InstanceState {
    state.and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default().parse().unwrap_or(InstanceState::Unknown)
}

fn changes(list: &[SdkStateChange]) -> Vec<InstanceStateChange> {
    list.iter()
        .filter_map(|c| {
            Some(InstanceStateChange {
                id: c.instance_id()?.to_string(),
                previous: state_of(c.previous_state()),
                current: state_of(c.current_state()),
            })
        })
        .collect()
}

fn info(i: &Instance) -> Option<InstanceInfo> {
    let s = |v: Option<&str>| v.map(str::to_string);
    Some(InstanceInfo {
        id: i.instance_id()?.to_string(),
        state: state_of(i.state()),
        instance_type: i.instance_type().map(|t| t.as_str().to_string()),
        image_id: s(i.image_id()),
        public_ip: s(i.public_ip_address()).filter(|a| !a.is_empty()),
        ssh_port: None,
        private_ip: s(i.private_ip_address()).filter(|a| !a.is_empty()),
        launch_time: i.launch_time().and_then(time),
        tags: tags_from(i.tags()),
        availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
    })
}
