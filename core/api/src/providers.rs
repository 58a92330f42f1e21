//! Cloud providers (manual 6.3) and their images (6.4).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Aws,
    Openstack,
    Local,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Aws => "aws",
            ProviderKind::Openstack => "openstack",
            ProviderKind::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        [ProviderKind::Aws, ProviderKind::Openstack, ProviderKind::Local].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderRegion {
    pub name: String,
    /// Whether users may use it.
    pub allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderInstanceType {
    pub name: String,
    pub vcpus: i64,
    pub memory_mib: i64,
    /// Whether users may launch it.
    pub allowed: bool,
}

/// A provider account. The secret credential is never returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Provider {
    pub id: i64,
    pub kind: ProviderKind,
    pub name: String,
    pub description: String,
    /// AWS: the access key id. OpenStack: the user's login name.
    pub access_key_id: String,
    /// AWS: another API endpoint than the cloud's own (a private cloud or an emulator).
    /// OpenStack: the Keystone auth URL, without a version suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// OpenStack: the project (tenant) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// OpenStack: the domain of the user and of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// OpenStack: which server address the core uses, `floating` or `fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_mode: Option<String>,
    pub default_region: String,
    /// `new` (never synchronised), `synced` or `error`.
    pub status: String,
    pub status_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<DateTime<Utc>>,
    pub regions: Vec<ProviderRegion>,
    pub instance_types: Vec<ProviderInstanceType>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/providers` (administrators).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    pub kind: Option<ProviderKind>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// AWS: the access key id (required). OpenStack: the user's login name (required). Unused by
    /// local providers.
    #[serde(default)]
    pub access_key_id: String,
    /// AWS: the secret access key; OpenStack: the user's password. Write-only, sealed by the
    /// core's key custody (required). Unused by local providers.
    #[serde(default)]
    pub secret_access_key: String,
    /// AWS: another EC2 endpoint (optional). OpenStack: the Keystone auth URL without a version
    /// suffix, e.g. `https://keystone.example.com:5000` (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Default `us-east-1` (AWS), `RegionOne` (OpenStack) or `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
    /// OpenStack: the project (tenant) name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// OpenStack: the domain of the user and of the project (default `Default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// OpenStack: `floating` (default: each server gets a floating IP) or `fixed` (the core is
    /// inside the cloud's network and uses the servers' fixed addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_mode: Option<String>,
}

/// `PATCH /api/v1/providers/{id}` (administrators).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// An empty string removes the override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
    /// OpenStack: the project (tenant) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// OpenStack: the domain of the user and of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// OpenStack: `floating` or `fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_mode: Option<String>,
    /// The regions users may use (names loaded by "Synchronize configuration").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_regions: Option<Vec<String>>,
    /// The instance types users may launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_instance_types: Option<Vec<String>>,
}

/// Operating system families the provisioning knows (manual 6.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OsType {
    Debian,
    Ubuntu,
    Fedora,
    Centos,
    Rhel,
    Sles,
}

impl OsType {
    pub const ALL: [OsType; 6] =
        [OsType::Debian, OsType::Ubuntu, OsType::Fedora, OsType::Centos, OsType::Rhel, OsType::Sles];

    pub fn as_str(self) -> &'static str {
        match self {
            OsType::Debian => "debian",
            OsType::Ubuntu => "ubuntu",
            OsType::Fedora => "fedora",
            OsType::Centos => "centos",
            OsType::Rhel => "rhel",
            OsType::Sles => "sles",
        }
    }

    pub fn parse(s: &str) -> Option<OsType> {
        OsType::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The login user of the distribution's official cloud images.
    pub fn default_login_user(self) -> &'static str {
        match self {
            OsType::Debian => "admin",
            OsType::Ubuntu => "ubuntu",
            OsType::Fedora => "fedora",
            OsType::Centos => "centos",
            OsType::Rhel | OsType::Sles => "ec2-user",
        }
    }
}

/// An imported image. Users can launch it once an administrator enabled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    pub id: i64,
    pub provider_id: i64,
    pub provider_name: String,
    pub region: String,
    /// The cloud's id, e.g. `ami-…`.
    pub cloud_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    pub description: String,
    /// The account the user's key is installed for; empty means the distribution's default.
    pub login_user: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An image found in a provider's registry, offered for import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImageCandidate {
    pub cloud_id: String,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub architecture: String,
    pub creation_date: String,
    /// Already in the core's image list.
    pub imported: bool,
}

/// `POST /api/v1/images`: import an image from a provider's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportImage {
    pub provider_id: i64,
    pub region: String,
    pub cloud_id: String,
}

/// `PATCH /api/v1/images/{id}` (manual 6.4.4 "Edit").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `POST /api/v1/providers/{id}/local-images` (administrators): puts an image into a local
/// provider's catalogue, disabled, as a task. Either `recipe` (build it from Debian's packages
/// on the core's host, once: a built image is reused) or `path` (import a qcow2 or raw disk
/// image file of the core's host, copied into the core's image folder).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalImageRequest {
    /// A build recipe: `debian-12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// An absolute path on the core's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The image's name (default: the recipe, or the file's name without its extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Default: what the recipe builds, or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default: `debian` for a recipe, unset for an imported file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    /// Default: `debian` for a recipe, empty for an imported file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_user: Option<String>,
}
