//! [`AwsProvider`]: the [`CloudProvider`] for AWS EC2.

use std::fmt;

use async_trait::async_trait;
use wintermute_cloud::{
    AccountInfo, AddressInfo, CallPolicy, CloudError, CloudProvider, ImageInfo, ImageQuery, InstanceInfo, InstanceSpec,
    InstanceStateChange, InstanceTypeInfo, KeyPairInfo, Operation, Region, SecurityGroupInfo, Tags, VolumeAttachment,
    VolumeInfo, VolumeSpec,
};

use crate::client::{Clients, Ec2};
use crate::{addresses, catalogue, images, instances, key_pairs, security_groups, volumes, AwsSettings};

/// AWS EC2 through the official SDK, with static credentials.
///
/// Timeouts and retries: the SDK retries in its standard mode (exponential backoff with
/// jitter, a retry quota, `max_attempts` attempts), with a timeout per attempt and per SDK
/// call. The calls that must not be repeated ([`wintermute_cloud::CallKind::Mutating`]) have
/// the SDK's retries switched off, except RunInstances and CreateVolume, which the SDK makes
/// safe to repeat with an idempotency token. On top, every provider call (which may make
/// several SDK calls) has one deadline, `call_timeout`, and is not repeated again.
pub struct AwsProvider {
    clients: Clients,
    policy: CallPolicy,
}

impl AwsProvider {
    /// A provider with these settings. Nothing is sent to AWS yet.
    pub fn new(settings: AwsSettings) -> Result<Self, CloudError> {
        crate::client::check_region(&settings.default_region)?;
        if let Some(url) = &settings.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CloudError::InvalidRequest(format!("the endpoint `{url}` is not an http(s) URL")));
            }
        }
        if settings.access_key_id.trim().is_empty() || settings.secret_access_key.expose().is_empty() {
            return Err(CloudError::Auth("the access key id and the secret access key are both needed".into()));
        }
        let policy = CallPolicy::deadline_only(settings.call_timeout);
        Ok(Self { clients: Clients::new(settings), policy })
    }

    /// The settings (the secret stays redacted in their `Debug`).
    pub fn settings(&self) -> &AwsSettings {
        self.clients.settings()
    }

    fn ec2(&self, region: &str) -> Result<Ec2, CloudError> {
        self.clients.get(region)
    }

    fn default_ec2(&self) -> Result<Ec2, CloudError> {
        self.clients.get(&self.settings().default_region)
    }
}

impl fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsProvider").field("settings", self.settings()).finish_non_exhaustive()
    }
}

#[async_trait]
impl CloudProvider for AwsProvider {
    async fn check_credentials(&self) -> Result<AccountInfo, CloudError> {
        let ec2 = self.default_ec2()?;
        let region = &self.settings().default_region;
        self.policy.run(Operation::CheckCredentials, || catalogue::check_credentials(&ec2, region)).await
    }

    async fn regions(&self) -> Result<Vec<Region>, CloudError> {
        let ec2 = self.default_ec2()?;
        self.policy.run(Operation::Regions, || catalogue::regions(&ec2)).await
    }

    async fn instance_types(&self, region: &str) -> Result<Vec<InstanceTypeInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::InstanceTypes, || catalogue::instance_types(&ec2)).await
    }

    async fn find_images(&self, region: &str, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::FindImages, || images::find(&ec2, query)).await
    }

    async fn import_key_pair(
        &self,
        region: &str,
        name: &str,
        public_key_openssh: &str,
        tags: &Tags,
    ) -> Result<KeyPairInfo, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::ImportKeyPair, || key_pairs::import(&ec2, name, public_key_openssh, tags)).await
    }

    async fn delete_key_pair(&self, region: &str, name: &str) -> Result<(), CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::DeleteKeyPair, || key_pairs::delete(&ec2, name)).await
    }

    async fn ensure_security_group(
        &self,
        region: &str,
        name: &str,
        description: &str,
        ssh_cidr: Option<&str>,
        tags: &Tags,
    ) -> Result<SecurityGroupInfo, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy
            .run(Operation::EnsureSecurityGroup, || security_groups::ensure(&ec2, name, description, ssh_cidr, tags))
            .await
    }

    async fn security_groups(&self, region: &str) -> Result<Vec<SecurityGroupInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::SecurityGroups, || security_groups::list(&ec2)).await
    }

    async fn run_instances(&self, region: &str, spec: &InstanceSpec) -> Result<Vec<InstanceInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::RunInstances, || instances::run(&ec2, spec)).await
    }

    async fn describe_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::DescribeInstances, || instances::describe(&ec2, ids)).await
    }

    async fn instances_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<InstanceInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::InstancesByTag, || instances::by_tag(&ec2, key, value)).await
    }

    async fn start_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::StartInstances, || instances::start(&ec2, ids)).await
    }

    async fn stop_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::StopInstances, || instances::stop(&ec2, ids)).await
    }

    async fn reboot_instances(&self, region: &str, ids: &[String]) -> Result<(), CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::RebootInstances, || instances::reboot(&ec2, ids)).await
    }

    async fn terminate_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::TerminateInstances, || instances::terminate(&ec2, ids)).await
    }

    async fn create_volume(&self, region: &str, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::CreateVolume, || volumes::create(&ec2, spec)).await
    }

    async fn attach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::AttachVolume, || volumes::attach(&ec2, volume_id, instance_id, device)).await
    }

    async fn detach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::DetachVolume, || volumes::detach(&ec2, volume_id, instance_id)).await
    }

    async fn delete_volume(&self, region: &str, volume_id: &str) -> Result<(), CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::DeleteVolume, || volumes::delete(&ec2, volume_id)).await
    }

    async fn describe_volumes(&self, region: &str, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::DescribeVolumes, || volumes::describe(&ec2, ids)).await
    }

    async fn volumes_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::VolumesByTag, || volumes::by_tag(&ec2, key, value)).await
    }

    async fn allocate_address(&self, region: &str, tags: &Tags) -> Result<AddressInfo, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::AllocateAddress, || addresses::allocate(&ec2, tags)).await
    }

    async fn associate_address(
        &self,
        region: &str,
        allocation_id: &str,
        instance_id: &str,
    ) -> Result<AddressInfo, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::AssociateAddress, || addresses::associate(&ec2, allocation_id, instance_id)).await
    }

    async fn disassociate_address(&self, region: &str, allocation_id: &str) -> Result<(), CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::DisassociateAddress, || addresses::disassociate(&ec2, allocation_id)).await
    }

    async fn release_address(&self, region: &str, allocation_id: &str) -> Result<(), CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::ReleaseAddress, || addresses::release(&ec2, allocation_id)).await
    }

    async fn addresses_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<AddressInfo>, CloudError> {
        let ec2 = self.ec2(region)?;
        self.policy.run(Operation::AddressesByTag, || addresses::by_tag(&ec2, key, value)).await
    }
}

#[cfg(test)]
mod tests {
    use wintermute_custody::SecretString;

    use super::*;

    fn settings() -> AwsSettings {
        AwsSettings::new("AKIAEXAMPLE", SecretString::new("very-secret-value".into()), "us-east-1")
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let p = AwsProvider::new(settings()).unwrap();
        let _ = p.ec2("eu-west-1").unwrap();
        let out = format!("{p:?} {p:#?}");
        assert!(!out.contains("very-secret-value"), "{out}");
        assert!(out.contains("AKIAEXAMPLE"));
        // The engine holds providers as trait objects.
        let _: Box<dyn CloudProvider> = Box::new(p);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(AwsProvider::new(AwsSettings { default_region: "nowhere!".into(), ..settings() }).is_err());
        assert!(AwsProvider::new(settings().with_endpoint_url("ftp://x")).is_err());
        let no_secret = AwsSettings { secret_access_key: SecretString::new(String::new()), ..settings() };
        assert!(matches!(AwsProvider::new(no_secret), Err(CloudError::Auth(_))));
        let p = AwsProvider::new(settings()).unwrap();
        assert!(matches!(p.ec2("us-east-1/../x"), Err(CloudError::InvalidRequest(_))));
    }
}
