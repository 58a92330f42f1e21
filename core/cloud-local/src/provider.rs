//! [`LocalProvider`]: the [`CloudProvider`] whose instances are QEMU virtual machines on this host.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;
use wintermute_cloud::{
    AccountInfo, CloudError, CloudProvider, ImageInfo, ImageQuery, InstanceInfo, InstanceSpec, InstanceStateChange,
    InstanceTypeInfo, KeyPairInfo, Region, SecurityGroupInfo, Tags, VolumeAttachment, VolumeInfo, VolumeSpec,
};

use crate::error::io_error;
use crate::host::{require_program, Accel, QEMU_IMG, QEMU_SYSTEM};
use crate::network::PrivateNetwork;
use crate::settings::{LocalSettings, REGION, ZONE};
use crate::store::Store;

/// The provider's state shared with its background tasks.
pub(crate) struct Local {
    pub settings: LocalSettings,
    pub store: Store,
    pub accel: Accel,
    pub network: PrivateNetwork,
    /// Held by every call that reads and then changes state, so calls of one provider never
    /// interleave their changes (and QMP sockets, which serve one client at a time, are used
    /// by one call at a time).
    pub lock: Mutex<()>,
}

impl Local {
    /// The system emulator, or an error naming its package.
    pub(crate) fn qemu_system(&self) -> Result<PathBuf, CloudError> {
        let program = &self.settings.qemu_system;
        require_program(program, QEMU_SYSTEM.1)
    }

    /// The disk image tool, or an error naming its package.
    pub(crate) fn qemu_img(&self) -> Result<PathBuf, CloudError> {
        require_program(&self.settings.qemu_img, QEMU_IMG.1)
    }

    /// Refuses any region but [`REGION`].
    pub(crate) fn check_region(region: &str) -> Result<(), CloudError> {
        if region == REGION {
            Ok(())
        } else {
            Err(CloudError::InvalidRequest(format!("the local provider has one region, `{REGION}`, not `{region}`")))
        }
    }

    /// Refuses any zone but [`ZONE`].
    pub(crate) fn check_zone(zone: &str) -> Result<(), CloudError> {
        if zone == ZONE {
            Ok(())
        } else {
            Err(CloudError::InvalidRequest(format!(
                "the local provider has one availability zone, `{ZONE}`, not `{zone}`"
            )))
        }
    }
}

/// Instances as QEMU virtual machines on the core's host.
///
/// * One daemonized QEMU per running instance (KVM when the host has working hardware
///   virtualisation, software emulation otherwise: see [`LocalProvider::accel`]), with a
///   copy-on-write overlay on a registered image as its root disk, its serial console in a
///   log file and a QMP socket for power and hot-plug.
/// * SSH: a loopback port forwarded to the guest's port 22, reported as `public_ip`
///   127.0.0.1 and `ssh_port`.
/// * The instances of a provider share a private Ethernet segment (see `network.rs`).
/// * Keys and per-instance settings reach the guest through QEMU's fw_cfg (read by the image's
///   first-boot step, see [`crate::image`]); never a private key.
/// * State lives in files under the base directory, so a new provider on the same folder (the
///   core restarted) finds its running VMs again through their pid files.
#[derive(Clone)]
pub struct LocalProvider {
    pub(crate) local: Arc<Local>,
}

impl LocalProvider {
    /// A provider with its state under `settings.base_dir` (created if missing). Nothing is
    /// started; a missing QEMU is reported by the calls that need it (and by
    /// [`CloudProvider::check_credentials`]).
    pub fn new(settings: LocalSettings) -> Result<Self, CloudError> {
        if settings.instance_types.is_empty() {
            return Err(CloudError::InvalidRequest("the local provider needs at least one instance type".into()));
        }
        if let Some(t) = settings.instance_types.iter().find(|t| t.vcpus == 0 || t.memory_mib < 128) {
            return Err(CloudError::InvalidRequest(format!(
                "instance type `{}` needs at least 1 vCPU and 128 MiB of memory",
                t.name
            )));
        }
        std::fs::create_dir_all(&settings.base_dir)
            .map_err(|e| io_error("cannot create the folder", &settings.base_dir, &e))?;
        // Absolute: QEMU runs from `/` once daemonized.
        let base = settings
            .base_dir
            .canonicalize()
            .map_err(|e| io_error("cannot resolve the folder", &settings.base_dir, &e))?;
        // A unix socket path holds at most 107 bytes.
        let longest = base.join("instances/i-0123456789abcdef/qmp.sock");
        if longest.as_os_str().len() > 107 {
            return Err(CloudError::InvalidRequest(format!(
                "the local provider's folder {} is too long a path for its QMP sockets (at most ~70 characters)",
                base.display()
            )));
        }
        let store = Store::open(&base)?;
        let network = PrivateNetwork::load_or_create(&store)?;
        let settings = LocalSettings { base_dir: base, ..settings };
        let local = Local { settings, store, accel: Accel::detect(), network, lock: Mutex::new(()) };
        Ok(Self { local: Arc::new(local) })
    }

    /// How the guests' CPUs run on this host.
    pub fn accel(&self) -> Accel {
        self.local.accel
    }

    /// The settings (with the base directory made absolute).
    pub fn settings(&self) -> &LocalSettings {
        &self.local.settings
    }

    /// The base directory.
    pub fn base_dir(&self) -> &Path {
        self.local.store.base()
    }
}

impl fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalProvider")
            .field("base_dir", &self.local.store.base())
            .field("accel", &self.local.accel)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CloudProvider for LocalProvider {
    async fn check_credentials(&self) -> Result<AccountInfo, CloudError> {
        self.local.account_info()
    }

    async fn regions(&self) -> Result<Vec<Region>, CloudError> {
        Ok(vec![Region { name: REGION.to_string(), endpoint: None }])
    }

    async fn instance_types(&self, region: &str) -> Result<Vec<InstanceTypeInfo>, CloudError> {
        Local::check_region(region)?;
        let mut types = self.local.settings.instance_types.clone();
        types.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(types)
    }

    async fn find_images(&self, region: &str, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.find_images(query)
    }

    async fn import_key_pair(
        &self,
        region: &str,
        name: &str,
        public_key_openssh: &str,
        tags: &Tags,
    ) -> Result<KeyPairInfo, CloudError> {
        Local::check_region(region)?;
        self.local.import_key_pair(name, public_key_openssh, tags).await
    }

    async fn delete_key_pair(&self, region: &str, name: &str) -> Result<(), CloudError> {
        Local::check_region(region)?;
        self.local.delete_key_pair(name).await
    }

    async fn ensure_security_group(
        &self,
        region: &str,
        name: &str,
        description: &str,
        ssh_cidr: Option<&str>,
        tags: &Tags,
    ) -> Result<SecurityGroupInfo, CloudError> {
        Local::check_region(region)?;
        self.local.ensure_security_group(name, description, ssh_cidr, tags).await
    }

    async fn security_groups(&self, region: &str) -> Result<Vec<SecurityGroupInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.security_groups()
    }

    async fn run_instances(&self, region: &str, spec: &InstanceSpec) -> Result<Vec<InstanceInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.run_instances(spec).await
    }

    async fn describe_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.describe_instances(ids).await
    }

    async fn instances_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<InstanceInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.instances_by_tag(key, value).await
    }

    async fn start_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        Local::check_region(region)?;
        self.local.start_instances(ids).await
    }

    async fn stop_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        Local::check_region(region)?;
        Local::stop_instances(&self.local, ids).await
    }

    async fn reboot_instances(&self, region: &str, ids: &[String]) -> Result<(), CloudError> {
        Local::check_region(region)?;
        self.local.reboot_instances(ids).await
    }

    async fn terminate_instances(&self, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        Local::check_region(region)?;
        self.local.terminate_instances(ids).await
    }

    async fn create_volume(&self, region: &str, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError> {
        Local::check_region(region)?;
        self.local.create_volume(spec).await
    }

    async fn attach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        Local::check_region(region)?;
        self.local.attach_volume(volume_id, instance_id, device).await
    }

    async fn detach_volume(
        &self,
        region: &str,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        Local::check_region(region)?;
        self.local.detach_volume(volume_id, instance_id).await
    }

    async fn delete_volume(&self, region: &str, volume_id: &str) -> Result<(), CloudError> {
        Local::check_region(region)?;
        self.local.delete_volume(volume_id).await
    }

    async fn describe_volumes(&self, region: &str, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.describe_volumes(ids).await
    }

    async fn volumes_by_tag(&self, region: &str, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError> {
        Local::check_region(region)?;
        self.local.volumes_by_tag(key, value).await
    }
}
