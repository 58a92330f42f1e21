//! What the provider records about each object (the JSON files described in `store.rs`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use wintermute_cloud::{Tags, VolumeType};

/// Whether an instance should be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Power {
    /// It should run: a missing process means it crashed (or the guest powered itself off).
    On,
    /// It should be off: a process still there is shutting down.
    Off,
    /// Terminated: only this record is left.
    Terminated,
}

/// How an instance's last QEMU process ended, when it ended without being asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Exit {
    /// The guest powered itself off (the console shows the kernel's "Power down").
    GuestPoweroff,
    /// The process went away otherwise: killed, or QEMU failed.
    Crashed,
}

/// An instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InstanceRecord {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub instance_type: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub key_name: Option<String>,
    pub tags: Tags,
    pub created: DateTime<Utc>,
    /// When its QEMU was last started.
    pub launch_time: Option<DateTime<Utc>>,
    pub power: Power,
    /// When it was asked to power off (it is killed when it has not after the stop timeout).
    pub stop_requested: Option<DateTime<Utc>>,
    /// How its last process ended by itself, if it did.
    pub exit: Option<Exit>,
    /// When it was terminated (its record is forgotten an hour later).
    pub terminated: Option<DateTime<Utc>>,
    /// The loopback port forwarded to its port 22, while it runs.
    pub ssh_port: Option<u16>,
    /// Its SMBIOS UUID.
    pub uuid: String,
    pub private_ip: Ipv4Addr,
    pub private_mac: String,
    /// Attached volumes, in attachment order.
    pub volumes: Vec<String>,
}

/// A volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VolumeRecord {
    pub id: String,
    pub size_gb: u32,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub availability_zone: String,
    pub tags: Tags,
    pub created: DateTime<Utc>,
    /// The instance it is attached to.
    pub attached_to: Option<String>,
}

/// A registered image: a disk image file the provider clones instances from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The file, absolute. It is used in place (never copied) and must stay there while
    /// instances made from it exist.
    pub path: PathBuf,
    /// `qcow2` or `raw`.
    pub format: String,
    pub created: DateTime<Utc>,
}

/// An imported public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyPairRecord {
    pub id: String,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
    pub tags: Tags,
}

/// A security group. The local provider records them so the engine can work as with a cloud;
/// there is nothing to enforce: an instance's SSH port listens on 127.0.0.1 only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub ssh_cidrs: Vec<String>,
    pub tags: Tags,
}
