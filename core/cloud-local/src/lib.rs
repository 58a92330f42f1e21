//! The "local" cloud provider of Wintermute: instances are QEMU virtual machines on the core's
//! host, so Wintermute works with no cloud account, and the tests get real Linux guests.
//!
//! * [`LocalProvider`] implements [`wintermute_cloud::CloudProvider`]: instances (one
//!   daemonized QEMU each, KVM or software emulation, see [`Accel`]), volumes hot-plugged
//!   through QMP and seen in the guest as `/dev/disk/by-id/virtio-<volume id>`
//!   ([`guest_device`]), a private network shared by the provider's instances, SSH on a
//!   loopback port ([`SSH_HOST`] and [`wintermute_cloud::InstanceInfo::ssh_port`]).
//! * [`image::build_debian_image`] builds the Debian 12 image those instances boot,
//!   [`image::import_disk_image`] copies another qcow2/raw disk image of the host into the image
//!   folder, and [`LocalProvider::import_image`] registers either with a provider.
//! * Instance types are CPU and memory sizes ([`LocalSettings::instance_types`]).
//!
//! The host needs `qemu-system-x86` and `qemu-utils` (same version); building the image also
//! needs `debootstrap`, `e2fsprogs` and root.

mod access;
mod error;
mod host;
pub mod image;
mod images;
mod instances;
mod network;
mod process;
mod provider;
mod qemu;
mod qmp;
mod records;
mod settings;
mod store;
mod volumes;

pub use host::{find_program, Accel, QEMU_IMG, QEMU_SYSTEM};
pub use instances::{VmStatus, SSH_HOST};
pub use provider::LocalProvider;
pub use settings::{default_instance_types, LocalSettings, REGION, ZONE};
pub use volumes::guest_device;
