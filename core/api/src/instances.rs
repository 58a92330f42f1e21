//! Instances (manual 7.3), storage volumes (7.4), security groups users may add (6.1.1) and the
//! usage limits administrators set on users and groups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::providers::{OsType, ProviderKind};
use crate::tasks::Task;

/// Where an instance is in its life (manual 7.3.1), plus `terminated` for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// The launch task is asking the cloud for it.
    Creating,
    /// It boots, its storage is attached and (later) it is provisioned.
    Initializing,
    /// Ready to use.
    Running,
    Rebooting,
    /// Its encrypted storage is being opened and mounted.
    Mounting,
    /// Powering off.
    ShuttingDown,
    /// Being terminated.
    Terminating,
    /// Powered off; its disks are kept.
    Stopped,
    /// A step failed; `status_message` says which.
    Failed,
    /// Gone for good.
    Terminated,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 10] = [
        InstanceStatus::Creating,
        InstanceStatus::Initializing,
        InstanceStatus::Running,
        InstanceStatus::Rebooting,
        InstanceStatus::Mounting,
        InstanceStatus::ShuttingDown,
        InstanceStatus::Terminating,
        InstanceStatus::Stopped,
        InstanceStatus::Failed,
        InstanceStatus::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Creating => "creating",
            InstanceStatus::Initializing => "initializing",
            InstanceStatus::Running => "running",
            InstanceStatus::Rebooting => "rebooting",
            InstanceStatus::Mounting => "mounting",
            InstanceStatus::ShuttingDown => "shutting_down",
            InstanceStatus::Terminating => "terminating",
            InstanceStatus::Stopped => "stopped",
            InstanceStatus::Failed => "failed",
            InstanceStatus::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<InstanceStatus> {
        InstanceStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of volume the manual offers (7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum VolumeType {
    /// "General Purpose (SSD)".
    #[default]
    GeneralPurpose,
    /// "Provisioned IOPS (SSD)": needs `iops`.
    ProvisionedIops,
    /// "Magnetic".
    Magnetic,
}

impl VolumeType {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeType::GeneralPurpose => "general_purpose",
            VolumeType::ProvisionedIops => "provisioned_iops",
            VolumeType::Magnetic => "magnetic",
        }
    }

    pub fn parse(s: &str) -> Option<VolumeType> {
        [VolumeType::GeneralPurpose, VolumeType::ProvisionedIops, VolumeType::Magnetic]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Default mount point of new volumes.
pub const DEFAULT_MOUNT_POINT: &str = "/mnt/data";
/// Default device name: known to work on every supported distribution (7.3.2).
pub const DEFAULT_DEVICE: &str = "/dev/xvdf";
/// Largest volume the core creates (the EBS limit), in GiB.
pub const MAX_VOLUME_GB: i64 = 16_384;

fn default_true() -> bool {
    true
}

/// "New" storage in the create-instance dialog: one volume per instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStorage {
    pub size_gb: i64,
    #[serde(default)]
    pub volume_type: VolumeType,
    /// Provisioned IOPS volumes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    /// Encrypted by the core with a key it keeps (default on; highly recommended).
    #[serde(default = "default_true")]
    pub encrypted: bool,
    /// Default `/mnt/data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    /// Default `/dev/xvdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// The storage strategy of a launch (7.3.2): none, a new volume per instance, or an existing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum LaunchStorage {
    #[default]
    None,
    New(NewStorage),
    /// Reattach an available volume (one instance per launch).
    Reuse {
        volume_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mount_point: Option<String>,
    },
}

/// `POST /api/v1/instances`: the "Create Instance" dialog (7.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `1-5:php, 2-3:apache, 1:haproxy`: instance numbers (from 1) and the tags they get.
    #[serde(default)]
    pub tags: String,
    /// An enabled image the caller may view; it fixes the provider and region.
    pub image_id: i64,
    pub instance_type: String,
    /// How many instances (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Extra security groups (cloud ids) an administrator made available in this region. The core's
    /// own SSH group is always added.
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    #[serde(default)]
    pub storage: LaunchStorage,
    /// The "Setup" tab: updates, packages, services, a user; provisioning on or off.
    #[serde(default)]
    pub setup: crate::setup::Setup,
}

/// The answer to a launch: the task doing it and the instances it makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Launch {
    pub task: Task,
    pub instances: Vec<Instance>,
}

/// An instance the core launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Instance {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub owner_id: i64,
    pub owner_login: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub provider_kind: ProviderKind,
    pub region: String,
    /// The cloud's id (`i-…`), once the cloud gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    pub image_id: i64,
    pub image_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    pub instance_type: String,
    pub status: InstanceStatus,
    /// Why it failed, or what happened last.
    pub status_message: String,
    /// What the cloud last said (`running`, `stopped`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_state: Option<String>,
    /// Its tags from the launch's tag list.
    pub tags: Vec<String>,
    /// Its number within its launch (from 1) and the launch's size.
    pub launch_index: i64,
    pub launch_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Where the core reaches its SSH server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_port: Option<i64>,
    pub login_user: String,
    /// Attached volumes.
    pub volumes: Vec<VolumeRef>,
    /// When the core powers it off (its owner's maximum lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_task_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<DateTime<Utc>>,
}

/// A volume as the instance list shows it (the "Storage" column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VolumeRef {
    pub id: i64,
    pub size_gb: i64,
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
}

/// `PATCH /api/v1/instances/{id}` ("change instance").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Instance controls (7.3.6) that run as tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceAction {
    PowerOff,
    PowerOn,
    Reboot,
    Terminate,
    /// Open and mount the encrypted volumes again (they stay locked after a reboot).
    MountStorage,
    /// Run the set-up of a failed instance again, as its launch asked for it (every stage is
    /// safe to run again: nothing is formatted or created twice).
    RetrySetup,
}

impl InstanceAction {
    pub const ALL: [InstanceAction; 6] = [
        InstanceAction::PowerOff,
        InstanceAction::PowerOn,
        InstanceAction::Reboot,
        InstanceAction::Terminate,
        InstanceAction::MountStorage,
        InstanceAction::RetrySetup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceAction::PowerOff => "power_off",
            InstanceAction::PowerOn => "power_on",
            InstanceAction::Reboot => "reboot",
            InstanceAction::Terminate => "terminate",
            InstanceAction::MountStorage => "mount_storage",
            InstanceAction::RetrySetup => "retry_setup",
        }
    }

    pub fn parse(s: &str) -> Option<InstanceAction> {
        InstanceAction::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// `POST /api/v1/instances/{id}/actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: InstanceAction,
}

/// `POST /api/v1/instances/batch` (7.3.7): one action on several instances; refused as a whole when
/// the caller lacks the right on any of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchActionRequest {
    pub action: InstanceAction,
    pub instance_ids: Vec<i64>,
}

/// Where a volume is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeStatus {
    Creating,
    Available,
    InUse,
    Deleting,
    Deleted,
    Error,
}

impl VolumeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeStatus::Creating => "creating",
            VolumeStatus::Available => "available",
            VolumeStatus::InUse => "in_use",
            VolumeStatus::Deleting => "deleting",
            VolumeStatus::Deleted => "deleted",
            VolumeStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<VolumeStatus> {
        [
            VolumeStatus::Creating,
            VolumeStatus::Available,
            VolumeStatus::InUse,
            VolumeStatus::Deleting,
            VolumeStatus::Deleted,
            VolumeStatus::Error,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A storage volume (7.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Volume {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub owner_login: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    pub size_gb: i64,
    pub volume_type: VolumeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    pub encrypted: bool,
    pub status: VolumeStatus,
    pub status_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/volumes`: a volume on its own ("create volume" right on the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVolume {
    pub provider_id: i64,
    pub region: String,
    /// Default: the region's first zone (`<region>a`; `local` for local providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    pub name: String,
    pub size_gb: i64,
    #[serde(default)]
    pub volume_type: VolumeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    #[serde(default = "default_true")]
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
}

/// `PATCH /api/v1/volumes/{id}` ("change volume").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
}

/// `POST /api/v1/volumes/{id}/attach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachVolume {
    pub instance_id: i64,
    /// Default `/dev/xvdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// A security group of a provider's region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecurityGroup {
    pub region: String,
    /// The cloud's id (`sg-…`).
    pub group_id: String,
    pub name: String,
    pub description: String,
    /// Whether users may add it to their instances.
    pub allowed: bool,
    /// The core's own SSH group (always added, never chosen).
    pub managed: bool,
}

/// `PUT /api/v1/providers/{id}/security-groups`: the groups users may add in a region
/// (administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowedSecurityGroups {
    pub region: String,
    pub group_ids: Vec<String>,
}

/// Usage limits of a user or a group; `None` is unlimited. A user's own limits cap what they use;
/// a group's limits cap what all its members use together; the maximum lifetime is the smallest
/// that applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Instances not stopped nor terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running_instances: Option<i64>,
    /// Total size of volumes not deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_volume_gb: Option<i64>,
    /// Hours after launch (or power-on) at which the core powers an instance off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_hours: Option<i64>,
}

/// What a user or group uses now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub running_instances: i64,
    pub volume_gb: i64,
}

/// `GET /api/v1/users/{id}/limits` and `/api/v1/groups/{id}/limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LimitsView {
    pub limits: Limits,
    pub usage: Usage,
}
