//! The generic object-rights mechanism ("Edit security" on providers, images, UDS, instances, volumes).
//!
//! A right is granted to a group on one object. Owners have every right on their objects,
//! administrators on everything, everyone else nothing unless a group of theirs was granted it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::users::UserRef;

/// Kinds of objects that carry group rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Provider,
    Image,
    Uds,
    Instance,
    Volume,
    Template,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Provider,
        ObjectKind::Image,
        ObjectKind::Uds,
        ObjectKind::Instance,
        ObjectKind::Volume,
        ObjectKind::Template,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Provider => "provider",
            ObjectKind::Image => "image",
            ObjectKind::Uds => "uds",
            ObjectKind::Instance => "instance",
            ObjectKind::Volume => "volume",
            ObjectKind::Template => "template",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The rights that make sense on this kind (manual 6.3.3, 6.4.4, 6.6.2, 7.3.6, 7.4.1).
    pub fn rights(self) -> &'static [ObjectRight] {
        use ObjectRight::*;
        match self {
            ObjectKind::Provider => &[
                View,
                CreateInstances,
                CreateInstanceFromTemplate,
                CreateInstanceTemplate,
                CreateVolume,
                ImportImages,
                ImportVolumes,
            ],
            ObjectKind::Image => &[View, Change],
            ObjectKind::Uds => &[View, Change],
            ObjectKind::Instance => &[View, Change, Control, SshConsole, UploadData, DownloadData],
            ObjectKind::Volume => &[View, Change, Control, UploadData, DownloadData],
            ObjectKind::Template => &[View, Change],
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A right on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectRight {
    /// See and use the object at all ("View provider configuration", "View image", "View UDS"...).
    View,
    /// Modify the object's settings.
    Change,
    /// Start, stop, delete (instances and volumes).
    Control,
    /// Open an SSH console on an instance.
    SshConsole,
    /// Upload data to an instance or volume.
    UploadData,
    /// Download data from an instance or volume.
    DownloadData,
    /// Start new instances at this provider.
    CreateInstances,
    /// Start new instances from saved templates.
    CreateInstanceFromTemplate,
    /// Save instance templates.
    CreateInstanceTemplate,
    /// Create and use block storage volumes at this provider.
    CreateVolume,
    /// Import images from this provider.
    ImportImages,
    /// Import already existing volumes.
    ImportVolumes,
}

impl ObjectRight {
    pub const ALL: [ObjectRight; 12] = [
        ObjectRight::View,
        ObjectRight::Change,
        ObjectRight::Control,
        ObjectRight::SshConsole,
        ObjectRight::UploadData,
        ObjectRight::DownloadData,
        ObjectRight::CreateInstances,
        ObjectRight::CreateInstanceFromTemplate,
        ObjectRight::CreateInstanceTemplate,
        ObjectRight::CreateVolume,
        ObjectRight::ImportImages,
        ObjectRight::ImportVolumes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectRight::View => "view",
            ObjectRight::Change => "change",
            ObjectRight::Control => "control",
            ObjectRight::SshConsole => "ssh_console",
            ObjectRight::UploadData => "upload_data",
            ObjectRight::DownloadData => "download_data",
            ObjectRight::CreateInstances => "create_instances",
            ObjectRight::CreateInstanceFromTemplate => "create_instance_from_template",
            ObjectRight::CreateInstanceTemplate => "create_instance_template",
            ObjectRight::CreateVolume => "create_volume",
            ObjectRight::ImportImages => "import_images",
            ObjectRight::ImportVolumes => "import_volumes",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectRight> {
        ObjectRight::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for ObjectRight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rights of one group on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupRights {
    pub group_id: i64,
    pub group_name: String,
    pub rights: Vec<ObjectRight>,
}

/// `GET /api/v1/rights/{kind}/{id}`: who may do what with an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectSecurity {
    pub object_kind: ObjectKind,
    pub object_id: i64,
    pub name: String,
    pub owner: UserRef,
    /// Rights that make sense on this kind of object.
    pub available_rights: Vec<ObjectRight>,
    pub groups: Vec<GroupRights>,
}

/// `PUT /api/v1/rights/{kind}/{id}/groups/{group_id}`: the full set of a group's rights on an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RightSet {
    pub rights: Vec<ObjectRight>,
}

/// `POST /api/v1/rights/grant` and `/revoke`: one right for one group on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RightChange {
    pub object_kind: ObjectKind,
    pub object_id: i64,
    pub group_id: i64,
    pub right: ObjectRight,
}

/// An object the caller may view, as listed by `GET /api/v1/objects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectSummary {
    pub object_kind: ObjectKind,
    pub object_id: i64,
    pub name: String,
    pub owner: UserRef,
    /// The caller's effective rights on it.
    pub my_rights: Vec<ObjectRight>,
}
