//! What a cloud account offers: the account itself, its regions and its instance types.

use serde::{Deserialize, Serialize};

/// What a successful credentials check learnt about the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The provider kind, e.g. `aws`.
    pub provider: String,
    /// The account (AWS) or project (OpenStack) id, when the cloud tells it.
    pub account_id: Option<String>,
    /// The region the check ran in.
    pub region: String,
    /// The id of the account's default network (VPC) in that region, if any.
    pub default_network: Option<String>,
    /// The account's instance limit, when the cloud reports one.
    pub max_instances: Option<u32>,
}

/// A region of a cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// The region's name, e.g. `eu-west-1`.
    pub name: String,
    /// The regional API endpoint, when the cloud tells it.
    pub endpoint: Option<String>,
}

/// An instance type (AWS) or flavor (OpenStack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTypeInfo {
    /// The type's name, e.g. `t3.micro`.
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}
