//! The account, its regions and its instance types.

use aws_sdk_ec2::types::AccountAttributeName;
use wintermute_cloud::{AccountInfo, CloudError, InstanceTypeInfo, Operation, Region};

use crate::client::Ec2;
use crate::convert::filter;

/// Checks the credentials with DescribeAccountAttributes, and learns the account id from the
/// owner of a `default` security group.
pub(crate) async fn check_credentials(ec2: &Ec2, region: &str) -> Result<AccountInfo, CloudError> {
    let op = Operation::CheckCredentials;
    let attributes = ec2
        .client
        .describe_account_attributes()
        .attribute_names(AccountAttributeName::DefaultVpc)
        .attribute_names(AccountAttributeName::from("max-instances"))
        .send()
        .await
        .map_err(ec2.err(op))?;
    let value = |name: &str| {
        attributes
            .account_attributes()
            .iter()
            .find(|a| a.attribute_name() == Some(name))
            .and_then(|a| a.attribute_values().first())
            .and_then(|v| v.attribute_value())
            .map(str::to_string)
    };
    let groups = ec2
        .client
        .describe_security_groups()
        .filters(filter("group-name", ["default"]))
        .max_results(5)
        .send()
        .await
        .map_err(ec2.err(op))?;
    let account_id = groups.security_groups().iter().find_map(|g| g.owner_id()).map(str::to_string);
    Ok(AccountInfo {
        provider: "aws".into(),
        account_id,
        region: region.to_string(),
        default_network: value("default-vpc").filter(|v| v != "none"),
        max_instances: value("max-instances").and_then(|v| v.parse().ok()),
    })
}

/// The regions enabled for the account, by name.
pub(crate) async fn regions(ec2: &Ec2) -> Result<Vec<Region>, CloudError> {
    let out = ec2.client.describe_regions().send().await.map_err(ec2.err(Operation::Regions))?;
    let mut regions: Vec<Region> = out
        .regions()
        .iter()
        .filter_map(|r| Some(Region { name: r.region_name()?.to_string(), endpoint: r.endpoint().map(str::to_string) }))
        .collect();
    regions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(regions)
}

/// Every instance type of the region with its vCPUs and memory, by name.
pub(crate) async fn instance_types(ec2: &Ec2) -> Result<Vec<InstanceTypeInfo>, CloudError> {
    let op = Operation::InstanceTypes;
    let mut pages = ec2.client.describe_instance_types().max_results(100).into_paginator().send();
    let mut types = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(ec2.err(op))?;
        types.extend(page.instance_types().iter().filter_map(|t| {
            Some(InstanceTypeInfo {
                name: t.instance_type()?.as_str().to_string(),
                vcpus: t.v_cpu_info().and_then(|v| v.default_v_cpus()).and_then(|n| u32::try_from(n).ok())?,
                memory_mib: t.memory_info().and_then(|m| m.size_in_mib()).and_then(|n| u64::try_from(n).ok())?,
            })
        }));
    }
    types.sort_by(|a, b| a.name.cmp(&b.name));
    types.dedup_by(|a, b| a.name == b.name);
    Ok(types)
}
