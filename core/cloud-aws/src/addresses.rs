//! Elastic IPs: public addresses that outlive an instance.

use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use wintermute_cloud::{AddressInfo, CloudError, Operation, Tags};

use crate::client::Ec2;
use crate::convert::{tag_filter, tag_spec, tags_from};

fn info(a: &Address) -> Option<AddressInfo> {
    Some(AddressInfo {
        allocation_id: a.allocation_id()?.to_string(),
        public_ip: a.public_ip()?.to_string(),
        // Some endpoints send empty strings rather than leaving the fields out.
        instance_id: a.instance_id().filter(|s| !s.is_empty()).map(str::to_string),
        association_id: a.association_id().filter(|s| !s.is_empty()).map(str::to_string),
        tags: tags_from(a.tags()),
    })
}

/// Allocates an address in the VPC domain; never repeated (each call allocates another one).
pub(crate) async fn allocate(ec2: &Ec2, tags: &Tags) -> Result<AddressInfo, CloudError> {
    let out = ec2
        .client
        .allocate_address()
        .domain(DomainType::Vpc)
        .set_tag_specifications(tag_spec(ResourceType::ElasticIp, tags).map(|t| vec![t]))
        .customize()
        .config_override(Ec2::no_retries())
        .send()
        .await
        .map_err(ec2.err(Operation::AllocateAddress))?;
    Ok(AddressInfo {
        allocation_id: out
            .allocation_id()
            .ok_or_else(|| CloudError::Unavailable("the cloud allocated an address without an id".into()))?
            .to_string(),
        public_ip: out.public_ip().unwrap_or_default().to_string(),
        instance_id: None,
        association_id: None,
        tags: tags.clone(),
    })
}

async fn describe(ec2: &Ec2, allocation_id: &str) -> Result<AddressInfo, CloudError> {
    let out = ec2
        .client
        .describe_addresses()
        .allocation_ids(allocation_id)
        .send()
        .await
        .map_err(ec2.err_about(Operation::AssociateAddress, &[allocation_id]))?;
    out.addresses().iter().find_map(info).ok_or_else(|| CloudError::not_found("address", allocation_id))
}

/// Points the address at an instance, taking it from another instance if it had one.
pub(crate) async fn associate(ec2: &Ec2, allocation_id: &str, instance_id: &str) -> Result<AddressInfo, CloudError> {
    ec2.client
        .associate_address()
        .allocation_id(allocation_id)
        .instance_id(instance_id)
        .allow_reassociation(true)
        .send()
        .await
        .map_err(ec2.err_about(Operation::AssociateAddress, &[allocation_id, instance_id]))?;
    describe(ec2, allocation_id).await
}

/// Unhooks the address from its instance (nothing to do when it points nowhere).
pub(crate) async fn disassociate(ec2: &Ec2, allocation_id: &str) -> Result<(), CloudError> {
    let current = describe(ec2, allocation_id).await?;
    let Some(association) = current.association_id else { return Ok(()) };
    match ec2
        .client
        .disassociate_address()
        .association_id(&association)
        .send()
        .await
        .map_err(ec2.err_about(Operation::DisassociateAddress, &[association.as_str()]))
    {
        Ok(_) | Err(CloudError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Releases the address; a missing one is success.
pub(crate) async fn release(ec2: &Ec2, allocation_id: &str) -> Result<(), CloudError> {
    match ec2
        .client
        .release_address()
        .allocation_id(allocation_id)
        .send()
        .await
        .map_err(ec2.err_about(Operation::ReleaseAddress, &[allocation_id]))
    {
        Ok(_) | Err(CloudError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every address with the tag `key` = `value`.
pub(crate) async fn by_tag(ec2: &Ec2, key: &str, value: &str) -> Result<Vec<AddressInfo>, CloudError> {
    let out = ec2
        .client
        .describe_addresses()
        .filters(tag_filter(key, value))
        .send()
        .await
        .map_err(ec2.err(Operation::AddressesByTag))?;
    Ok(out.addresses().iter().filter_map(info).collect())
}
