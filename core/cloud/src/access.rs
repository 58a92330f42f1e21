//! How machines are reached: SSH key pairs and security groups.

use serde::{Deserialize, Serialize};

/// A key pair the cloud knows (only ever a public key: the core keeps private keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPairInfo {
    /// The key pair's name.
    pub name: String,
    /// The cloud's id for it, when it has one.
    pub key_pair_id: Option<String>,
    /// The fingerprint the cloud computed.
    pub fingerprint: Option<String>,
}

/// A security group, with the SSH part of its inbound rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupInfo {
    /// The group's id, e.g. `sg-0abc…`.
    pub id: String,
    /// The group's name.
    pub name: String,
    /// The group's description.
    pub description: Option<String>,
    /// The address ranges allowed in on TCP port 22 (by any rule that covers port 22).
    pub ssh_cidrs: Vec<String>,
}
