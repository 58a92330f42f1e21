//! [`OpenstackProvider`]: the [`CloudProvider`] for OpenStack.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use wintermute_cloud::{
    AccountInfo, AddressInfo, AttachmentState, CallPolicy, CloudError, CloudProvider, ImageInfo, ImageQuery,
    InstanceInfo, InstanceSpec, InstanceStateChange, InstanceTypeInfo, KeyPairInfo, Operation, Region,
    SecurityGroupInfo, Tags, VolumeAttachment, VolumeInfo, VolumeSpec,
};

use crate::client::{Client, Service};
use crate::{compute, images, network, storage, OpenstackSettings};

/// OpenStack through its REST APIs, authenticated with a Keystone v3 password.
///
/// Timeouts and retries: every HTTP request has `attempt_timeout`; every provider call (which
/// may make several requests) has `call_timeout` and is repeated after a transient failure only
/// when [`wintermute_cloud::retry`] says it may be. A token is renewed `renew_before` its expiry,
/// and once more when a service answers 401 (the call is then repeated once with the new token).
pub struct OpenstackProvider {
    client: Client,
    policy: CallPolicy,
}

impl OpenstackProvider {
    /// A provider with these settings. Nothing is sent yet.
    pub fn new(settings: OpenstackSettings) -> Result<Self, CloudError> {
        match url::Url::parse(&settings.auth_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                let last = u.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default().to_string();
                if last.starts_with('v') && last[1..].chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(CloudError::InvalidRequest(format!(
                        "give the auth URL without its version suffix (not …/{last})"
                    )));
                }
            }
            _ => {
                return Err(CloudError::InvalidRequest(format!(
                    "the auth URL {:?} is not an http(s) URL",
                    settings.auth_url
                )))
            }
        }
        if settings.username.trim().is_empty() || settings.password.expose().is_empty() {
            return Err(CloudError::Auth("the user name and the password are both needed".into()));
        }
        if settings.project.trim().is_empty() {
            return Err(CloudError::InvalidRequest("the project is needed".into()));
        }
        check_region(&settings.default_region)?;
        if !matches!(settings.interface.as_str(), "public" | "internal" | "admin") {
            return Err(CloudError::InvalidRequest(format!(
                "the interface is public, internal or admin, not {:?}",
                settings.interface
            )));
        }
        let policy = CallPolicy {
            timeout: settings.call_timeout,
            attempt_timeout: settings.call_timeout,
            ..CallPolicy::default()
        };
        Ok(Self { client: Client::new(settings)?, policy })
    }

    /// The settings (the password stays redacted in their `Debug`).
    pub fn settings(&self) -> &OpenstackSettings {
        self.client.settings()
    }

    /// How many times this provider authenticated with Keystone (tokens are cached and renewed).
    pub fn authentications(&self) -> u64 {
        self.client.authentications()
    }

    /// The microversion chosen for Nova (`compute`) or Cinder (`volume`) in `region`.
    pub async fn microversion(&self, service: &str, region: &str) -> Result<Option<String>, CloudError> {
        let svc = match service {
            "compute" => Service::Compute,
            "volume" => Service::Volume,
            other => return Err(CloudError::InvalidRequest(format!("no microversions for {other}"))),
        };
        let session = self.client.session(Operation::CheckCredentials).await?;
        let e = self.client.endpoint(Operation::CheckCredentials, &session, svc, region).await?;
        Ok(e.microversion.map(|(_, v)| v))
    }

    fn mode(&self) -> crate::AddressMode {
        self.settings().address_mode
    }

    /// How long a launch waits for a new server's network port (floating addresses).
    fn port_wait(&self) -> Duration {
        self.settings().call_timeout / 2
    }
}

/// OpenStack region names are free text in Keystone (`RegionOne`, `regionOne`, `eu-de-1`); they
/// go into no host name, but into logs and queries: letters, digits, `-`, `_` and `.`.
pub(crate) fn check_region(region: &str) -> Result<(), CloudError> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CloudError::InvalidRequest(format!("`{region}` is not a region name")))
    }
}

fn check_ids(what: &str, ids: &[String]) -> Result<(), CloudError> {
    for id in ids {
        if id.is_empty() || id.len() > 255 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(CloudError::not_found(what, id.clone()));
        }
    }
    Ok(())
}

impl fmt::Debug for OpenstackProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenstackProvider").field("settings", self.settings()).finish_non_exhaustive()
    }
}

#[async_trait]
impl CloudProvider for OpenstackProvider {
    async fn check_credentials(&self) -> Result<AccountInfo, CloudError> {
        let c = &self.client;
        let region = self.settings().default_region.clone();
        self.policy
            .run(Operation::CheckCredentials, || async {
                let op = Operation::CheckCredentials;
                let session = c.session(op).await?;
                if !session.regions().contains(&region) {
                    return Err(CloudError::InvalidRequest(format!(
                        "region {region:?} is not in the cloud's catalogue (regions: {})",
                        session.regions().join(", ")
                    )));
                }
                let max_instances = compute::max_instances(c, &region, op).await?;
                let default_network = network::default_network(c, &region, op).await?;
                Ok(AccountInfo {
                    provider: "openstack".into(),
                    account_id: Some(session.project_id.clone()),
                    region: region.clone(),
                    default_network,
                    max_instances,
                })
            })
            .await
    }

    async fn regions(&self) -> Result<Vec<Region>, CloudError> {
        let c = &self.client;
        self.policy
            .run(Operation::Regions, || async {
                let session = c.session(Operation::Regions).await?;
                Ok(session.regions().into_iter().map(|name| Region { name, endpoint: None }).collect())
            })
            .await
    }

    async fn instance_types(&self, region: &str) -> Result<Vec<InstanceTypeInfo>, CloudError> {
        check_region(region)?;
        self.policy.run(Operation::InstanceTypes, || compute::instance_types(&self.client, region)).await
    }

    async fn find_images(&self, region: &str, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError> {
        check_region(region)?;
        self.policy.run(Operation::FindImages, || images::find(&self.client, region, query)).await
    }

    async fn import_key_pair(
        &self,
        region: &str,
        name: &str,
        public_key_openssh: &str,
        _tags: &Tags,
    ) -> Result<KeyPairInfo, CloudError> {
        // Nova key pairs carry no tags; the core finds its pairs by name.
        check_region(region)?;
        self.policy
            .run(Operation::ImportKeyPair, || compute::import_key_pair(&self.client, region, name, public_key_openssh))
            .await
    }

    async fn delete_key_pair(&self, region: &str, name: &str) -> Result<(), CloudError> {
        check_region(region)?;
        self.policy.run(Operation::DeleteKeyPair, || compute::delete_key_pair(&self.client, region, name)).await
    }

    async fn ensure_security_group(
        &self,
        region: &str,
        name: &str,
        description: &str,
        ssh_cidr: Option<&str>,
        tags: &Tags,
    ) -> Result<SecurityGroupInfo, CloudError> {
        check_region(region)?;
        self.policy
            .run(Operation::EnsureSecurityGroup, || {
                network::ensure_group(&self.client, region, name, description, ssh_cidr, tags)
            })
            .await
    }

    async fn security_groups(&self, region: &str) -> Result<Vec<SecurityGroupInfo>, CloudError> {
        check_region(region)?;
        self.policy.run(Operation::SecurityGroups, || network::security_groups(&self.client, region)).await
    }

    async fn run_instances(&self, region: &str, spec: &InstanceSpec) -> Result<Vec<InstanceInfo>, CloudError> {
        check_region(region)?;
        let (mode, wait) = (self.mode(), self.port_wait());
        self.policy.run(Operation::RunInstances, || compute::run(&self.client, region, spec, mode, wait)).await
    }

    async fn describe_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceInfo>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        check_region(region)?;
        check_ids("instance", ids)?;
        let op = Operation::DescribeInstances;
        self.policy.run(op, || compute::describe(&self.client, region, op, ids, self.mode())).await
    }

    async fn instances_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<InstanceInfo>, CloudError> {
        check_region(region)?;
        self.policy
            .run(Operation::InstancesByTag, || compute::by_tag(&self.client, region, key, value, self.mode()))
            .await
    }

    async fn start_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        check_region(region)?;
        check_ids("instance", ids)?;
        self.policy.run(Operation::StartInstances, || compute::start(&self.client, region, ids)).await
    }

    async fn stop_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        check_region(region)?;
        check_ids("instance", ids)?;
        self.policy.run(Operation::StopInstances, || compute::stop(&self.client, region, ids)).await
    }

    async fn reboot_instances(&self, region: &str, ids: &[String]) -> Result<(), CloudError> {
        if ids.is_empty() {
            return Ok(());
        }
        check_region(region)?;
        check_ids("instance", ids)?;
        self.policy.run(Operation::RebootInstances, || compute::reboot(&self.client, region, ids)).await
    }

    async fn terminate_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        check_region(region)?;
        check_ids("instance", ids)?;
        self.policy.run(Operation::TerminateInstances, || compute::terminate(&self.client, region, ids)).await
    }

    async fn create_volume(&self, region: &str, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError> {
        check_region(region)?;
        self.policy.run(Operation::CreateVolume, || storage::create(&self.client, region, spec)).await
    }

    async fn attach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        check_region(region)?;
        check_ids("volume", &[volume_id.to_string()])?;
        check_ids("instance", &[instance_id.to_string()])?;
        self.policy
            .run(Operation::AttachVolume, || async {
                let a = compute::attach(&self.client, region, volume_id, instance_id, device).await?;
                Ok(VolumeAttachment {
                    instance_id: instance_id.to_string(),
                    device: a["device"].as_str().map(str::to_string).or_else(|| Some(device.to_string())),
                    state: AttachmentState::Attaching,
                })
            })
            .await
    }

    async fn detach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        check_region(region)?;
        check_ids("volume", &[volume_id.to_string()])?;
        check_ids("instance", &[instance_id.to_string()])?;
        self.policy
            .run(Operation::DetachVolume, || async {
                compute::detach(&self.client, region, volume_id, instance_id).await?;
                Ok(VolumeAttachment {
                    instance_id: instance_id.to_string(),
                    device: None,
                    state: AttachmentState::Detaching,
                })
            })
            .await
    }

    async fn delete_volume(&self, region: &str, volume_id: &str) -> Result<(), CloudError> {
        check_region(region)?;
        check_ids("volume", &[volume_id.to_string()])?;
        self.policy.run(Operation::DeleteVolume, || storage::delete(&self.client, region, volume_id)).await
    }

    async fn describe_volumes(&self, region: &str, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        check_region(region)?;
        check_ids("volume", ids)?;
        self.policy.run(Operation::DescribeVolumes, || storage::describe(&self.client, region, ids)).await
    }

    async fn volumes_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError> {
        check_region(region)?;
        self.policy.run(Operation::VolumesByTag, || storage::by_tag(&self.client, region, key, value)).await
    }

    async fn allocate_address(&self, region: &str, tags: &Tags) -> Result<AddressInfo, CloudError> {
        check_region(region)?;
        let op = Operation::AllocateAddress;
        self.policy.run(op, || network::allocate(&self.client, region, op, tags)).await
    }

    async fn associate_address(
        &self,
        region: &str,
        allocation_id: &str,
        instance_id: &str,
    ) -> Result<AddressInfo, CloudError> {
        check_region(region)?;
        check_ids("address", &[allocation_id.to_string()])?;
        check_ids("instance", &[instance_id.to_string()])?;
        let op = Operation::AssociateAddress;
        self.policy.run(op, || network::associate(&self.client, region, op, allocation_id, instance_id)).await
    }

    async fn disassociate_address(&self, region: &str, allocation_id: &str) -> Result<(), CloudError> {
        check_region(region)?;
        check_ids("address", &[allocation_id.to_string()])?;
        self.policy
            .run(Operation::DisassociateAddress, || network::disassociate(&self.client, region, allocation_id))
            .await
    }

    async fn release_address(&self, region: &str, allocation_id: &str) -> Result<(), CloudError> {
        check_region(region)?;
        if check_ids("address", &[allocation_id.to_string()]).is_err() {
            return Ok(());
        }
        let op = Operation::ReleaseAddress;
        self.policy.run(op, || network::release(&self.client, region, op, allocation_id)).await
    }

    async fn addresses_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<AddressInfo>, CloudError> {
        check_region(region)?;
        self.policy.run(Operation::AddressesByTag, || network::addresses_by_tag(&self.client, region, key, value)).await
    }
}

#[cfg(test)]
mod tests {
    use wintermute_custody::SecretString;

    use super::*;

    fn settings() -> OpenstackSettings {
        OpenstackSettings::new(
            "http://127.0.0.1:5000",
            "alice",
            SecretString::new("pw-very-secret".into()),
            "lab",
            "RegionOne",
        )
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = OpenstackProvider::new(settings()).unwrap();
        let out = format!("{p:?} {p:#?}");
        assert!(!out.contains("pw-very-secret"), "{out}");
        assert!(out.contains("alice"));
        let _: Box<dyn CloudProvider> = Box::new(p);
    }

    #[test]
    fn bad_settings_are_refused() {
        let with = |f: fn(&mut OpenstackSettings)| {
            let mut s = settings();
            f(&mut s);
            OpenstackProvider::new(s)
        };
        assert!(
            matches!(with(|s| s.auth_url = "http://127.0.0.1:5000/v3".into()), Err(CloudError::InvalidRequest(m)) if m.contains("version suffix"))
        );
        assert!(with(|s| s.auth_url = "ftp://x".into()).is_err());
        assert!(matches!(with(|s| s.password = SecretString::new(String::new())), Err(CloudError::Auth(_))));
        assert!(with(|s| s.project = " ".into()).is_err());
        assert!(with(|s| s.default_region = "a/b".into()).is_err());
        assert!(with(|s| s.interface = "private".into()).is_err());
        assert!(check_region("RegionOne").is_ok() && check_region("eu-de_1.a").is_ok());
    }
}
