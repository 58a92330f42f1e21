//! The cloud provider abstraction of Wintermute.
//!
//! The core launches and manages machines in clouds (AWS EC2 now; OpenStack and a local QEMU lab
//! later) only through [`CloudProvider`], one implementation per cloud. This crate holds the
//! trait, the types it speaks (all serde-serializable, none holding secrets), [`CloudError`],
//! the tagging convention that lets the core find everything it created ([`Tags::managed`]),
//! and the timeout/retry rules every call follows ([`retry`]).

pub mod access;
pub mod address;
pub mod catalogue;
pub mod cidr;
pub mod error;
pub mod image;
pub mod instance;
pub mod provider;
pub mod retry;
pub mod tags;
pub mod volume;

pub use access::{KeyPairInfo, SecurityGroupInfo};
pub use address::AddressInfo;
pub use catalogue::{AccountInfo, InstanceTypeInfo, Region};
pub use cidr::{Cidr, ANYWHERE_V4};
pub use error::CloudError;
pub use image::{ImageInfo, ImageQuery};
pub use instance::{InstanceInfo, InstanceSpec, InstanceState, InstanceStateChange};
pub use provider::CloudProvider;
pub use retry::{CallKind, CallPolicy, Operation};
pub use tags::{ObjectRef, Tags, TAG_CORE, TAG_MANAGED, TAG_NAME, TAG_OBJECT, TAG_OWNER};
pub use volume::{AttachmentState, VolumeAttachment, VolumeInfo, VolumeSpec, VolumeState, VolumeType};
