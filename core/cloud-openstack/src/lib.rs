//! The OpenStack provider of Wintermute: [`OpenstackProvider`] implements
//! [`wintermute_cloud::CloudProvider`] over the public REST APIs of Keystone v3, Nova, Glance,
//! Cinder and Neutron, with `reqwest` (rustls).
//!
//! * Keystone v3 password authentication ([`OpenstackSettings`]): auth URL without a version
//!   suffix, user, password (unsealed by key custody; never in `Debug` output or messages),
//!   project and domain. The token is cached and renewed before it expires, and once more when a
//!   service refuses it.
//! * Endpoints come from the token's catalogue, by region and interface; each service's version
//!   document gives the versioned URL and the microversion range, and Nova and Cinder calls carry
//!   the microversion they were written for (`OpenStack-API-Version`).
//! * Tags are Nova server metadata, Cinder volume metadata and Neutron `key=value` tags.
//! * Addresses ([`AddressMode`]): a floating IP per server, made at launch and released at
//!   termination, or the fixed address when the core sits inside the cloud's network.

mod client;
mod compute;
mod convert;
mod error;
mod images;
mod network;
mod provider;
mod settings;
mod storage;

pub use provider::OpenstackProvider;
pub use settings::{AddressMode, OpenstackSettings};

#[cfg(feature = "test-openstack")]
pub mod testing;
