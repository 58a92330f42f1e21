//! The one trait every cloud implements.

use async_trait::async_trait;

use crate::{
    AccountInfo, AddressInfo, CloudError, ImageInfo, ImageQuery, InstanceInfo, InstanceSpec, InstanceStateChange,
    InstanceTypeInfo, KeyPairInfo, Region, SecurityGroupInfo, Tags, VolumeAttachment, VolumeInfo, VolumeSpec,
};

/// Everything the core asks of a cloud. One implementation per cloud (AWS, OpenStack, the local
/// lab); the engine talks to clouds only through this trait.
///
/// Rules every implementation follows:
/// * every call has a deadline, and only the calls that are safe to repeat are retried (see
///   [`crate::retry`] for which ones);
/// * errors are [`CloudError`]s sorted by what the caller can do; messages carry no secrets;
/// * calls that take a list of ids do nothing (and ask the cloud nothing) for an empty list, so
///   an empty selection never turns into "all objects";
/// * unknown ids are reported as [`CloudError::NotFound`].
#[async_trait]
pub trait CloudProvider: Send + Sync {
    /// Checks that the credentials work, and tells what it learnt about the account.
    async fn check_credentials(&self) -> Result<AccountInfo, CloudError>;

    /// The regions the account may use.
    async fn regions(&self) -> Result<Vec<Region>, CloudError>;

    /// The instance types offered in `region`, with their vCPUs and memory, sorted by name.
    async fn instance_types(&self, region: &str) -> Result<Vec<InstanceTypeInfo>, CloudError>;

    /// Images in `region` that match `query`, newest first, at most the query's limit.
    async fn find_images(&self, region: &str, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError>;

    /// Gives the cloud a public key (OpenSSH format) under `name`. Idempotent: when a pair
    /// with that name and the same key exists, that is success; with a different key it is
    /// [`CloudError::InvalidRequest`].
    async fn import_key_pair(
        &self,
        region: &str,
        name: &str,
        public_key_openssh: &str,
        tags: &Tags,
    ) -> Result<KeyPairInfo, CloudError>;

    /// Deletes a key pair; deleting one that does not exist is success.
    async fn delete_key_pair(&self, region: &str, name: &str) -> Result<(), CloudError>;

    /// Makes sure the security group `name` exists (created with `description` and `tags` if
    /// missing), and that TCP port 22 is open to exactly `ssh_cidr` (`0.0.0.0/0` when `None`):
    /// every other rule that opens port 22 is revoked.
    async fn ensure_security_group(
        &self,
        region: &str,
        name: &str,
        description: &str,
        ssh_cidr: Option<&str>,
        tags: &Tags,
    ) -> Result<SecurityGroupInfo, CloudError>;

    /// The security groups in `region`.
    async fn security_groups(&self, region: &str) -> Result<Vec<SecurityGroupInfo>, CloudError>;

    /// Launches `spec.count` instances, all or nothing.
    async fn run_instances(&self, region: &str, spec: &InstanceSpec) -> Result<Vec<InstanceInfo>, CloudError>;

    /// Describes these instances.
    async fn describe_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceInfo>, CloudError>;

    /// Every instance with the tag `key` = `value` (terminated ones too, while the cloud still
    /// shows them).
    async fn instances_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<InstanceInfo>, CloudError>;

    /// Powers these instances on.
    async fn start_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError>;

    /// Powers these instances off (their volumes are kept).
    async fn stop_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError>;

    /// Reboots these instances.
    async fn reboot_instances(&self, region: &str, ids: &[String]) -> Result<(), CloudError>;

    /// Terminates these instances for good.
    async fn terminate_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError>;

    /// Creates a volume.
    async fn create_volume(&self, region: &str, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError>;

    /// Attaches a volume to an instance as `device` (e.g. `/dev/sdf`).
    async fn attach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> Result<VolumeAttachment, CloudError>;

    /// Detaches a volume from an instance.
    async fn detach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<VolumeAttachment, CloudError>;

    /// Deletes a volume (it must be detached).
    async fn delete_volume(&self, region: &str, volume_id: &str) -> Result<(), CloudError>;

    /// Describes these volumes.
    async fn describe_volumes(&self, region: &str, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError>;

    /// Every volume with the tag `key` = `value`.
    async fn volumes_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError>;

    /// Allocates a public address that outlives instances (an Elastic IP, a floating IP).
    /// Clouds without such addresses refuse with [`CloudError::InvalidRequest`].
    async fn allocate_address(&self, region: &str, tags: &Tags) -> Result<AddressInfo, CloudError> {
        let _ = (region, tags);
        Err(CloudError::InvalidRequest("this cloud has no public addresses to allocate".into()))
    }

    /// Points an allocated address at an instance (moving it from another one if needed).
    async fn associate_address(
        &self,
        region: &str,
        allocation_id: &str,
        instance_id: &str,
    ) -> Result<AddressInfo, CloudError> {
        let _ = (region, instance_id);
        Err(CloudError::not_found("address", allocation_id))
    }

    /// Unhooks an address from its instance; an address pointing nowhere is success.
    async fn disassociate_address(&self, region: &str, allocation_id: &str) -> Result<(), CloudError> {
        let _ = region;
        Err(CloudError::not_found("address", allocation_id))
    }

    /// Gives an address back; releasing one that does not exist is success.
    async fn release_address(&self, region: &str, allocation_id: &str) -> Result<(), CloudError> {
        let _ = (region, allocation_id);
        Ok(())
    }

    /// Every address with the tag `key` = `value`.
    async fn addresses_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<AddressInfo>, CloudError> {
        let _ = (region, key, value);
        Ok(Vec::new())
    }
}
