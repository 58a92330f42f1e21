//! What the admin chooses for the local provider.

use std::path::PathBuf;
use std::time::Duration;

use wintermute_cloud::InstanceTypeInfo;

use crate::host::{QEMU_IMG, QEMU_SYSTEM};

/// The provider's one region.
pub const REGION: &str = "local";
/// The provider's one availability zone.
pub const ZONE: &str = "local-a";

/// Settings of a [`crate::LocalProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// Where the provider keeps its state: instances, volumes, registered images, the private
    /// network. One provider (one process) per folder.
    pub base_dir: PathBuf,
    /// The instance types (CPU and memory sizes) users may launch.
    pub instance_types: Vec<InstanceTypeInfo>,
    /// Most instances that may exist at once (terminated ones not counted).
    pub max_instances: u32,
    /// Largest volume, in GiB (volumes are sparse files, so this guards against typos more
    /// than against a full disk).
    pub max_volume_gb: u32,
    /// How long a guest has to power off after an ACPI power-button press before its QEMU is
    /// killed.
    pub stop_timeout: Duration,
    /// The system emulator (a name looked up in `PATH`, or a path).
    pub qemu_system: String,
    /// The disk image tool (a name looked up in `PATH`, or a path).
    pub qemu_img: String,
}

impl LocalSettings {
    /// Defaults, with state under `base_dir`: the types of [`default_instance_types`], 16
    /// instances, volumes up to 1 TiB, 60 s to power off.
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
            instance_types: default_instance_types(),
            max_instances: 16,
            max_volume_gb: 1024,
            stop_timeout: Duration::from_secs(60),
            qemu_system: QEMU_SYSTEM.0.to_string(),
            qemu_img: QEMU_IMG.0.to_string(),
        }
    }
}

/// `local.small` (1 vCPU, 512 MiB), `local.medium` (2 vCPUs, 1 GiB), `local.large` (2 vCPUs,
/// 2 GiB). Under software emulation a small guest takes ~315 MB of host memory.
pub fn default_instance_types() -> Vec<InstanceTypeInfo> {
    let t = |name: &str, vcpus, memory_mib| InstanceTypeInfo { name: name.to_string(), vcpus, memory_mib };
    vec![t("local.small", 1, 512), t("local.medium", 2, 1024), t("local.large", 2, 2048)]
}
