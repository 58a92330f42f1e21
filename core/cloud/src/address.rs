//! Public addresses that outlive an instance (Elastic IPs on AWS, floating IPs on OpenStack).

use serde::{Deserialize, Serialize};

use crate::Tags;

/// A public address of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressInfo {
    /// The cloud's id for the allocation, e.g. `eipalloc-…`.
    pub allocation_id: String,
    /// The address itself.
    pub public_ip: String,
    /// The instance it points to, if any.
    pub instance_id: Option<String>,
    /// The cloud's id for that association, if any.
    pub association_id: Option<String>,
    /// Its tags.
    pub tags: Tags,
}
