//! Scenarios (manual 6.6): user defined scripts (UDS) kept by the core and run on instances at
//! the end of their set-up; and cloud templates (7.3.3–7.3.5): a create-instance request saved
//! under a name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::instances::LaunchRequest;
use crate::rights::ObjectRight;
use crate::users::UserRef;

/// Where a script may run: any Linux, or one distribution family (checked against the image's
/// OS type at launch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptPlatform {
    #[default]
    LinuxGeneric,
    Debian,
    Ubuntu,
    Fedora,
    Centos,
    Rhel,
    Sles,
}

impl ScriptPlatform {
    pub const ALL: [ScriptPlatform; 7] = [
        ScriptPlatform::LinuxGeneric,
        ScriptPlatform::Debian,
        ScriptPlatform::Ubuntu,
        ScriptPlatform::Fedora,
        ScriptPlatform::Centos,
        ScriptPlatform::Rhel,
        ScriptPlatform::Sles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScriptPlatform::LinuxGeneric => "linux-generic",
            ScriptPlatform::Debian => "debian",
            ScriptPlatform::Ubuntu => "ubuntu",
            ScriptPlatform::Fedora => "fedora",
            ScriptPlatform::Centos => "centos",
            ScriptPlatform::Rhel => "rhel",
            ScriptPlatform::Sles => "sles",
        }
    }

    pub fn parse(s: &str) -> Option<ScriptPlatform> {
        ScriptPlatform::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether a script for this platform may run on an image of OS type `os` (its
    /// `OsType::as_str`).
    pub fn fits(self, os: &str) -> bool {
        self == ScriptPlatform::LinuxGeneric || self.as_str() == os
    }
}

/// The set-up stage after which a script runs. Only the last one exists in this version: after
/// the instance is completely configured and its data transfers are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptStage {
    #[default]
    PostDataTransfer,
}

impl ScriptStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptStage::PostDataTransfer => "post-data-transfer",
        }
    }

    pub fn parse(s: &str) -> Option<ScriptStage> {
        (s == "post-data-transfer").then_some(ScriptStage::PostDataTransfer)
    }
}

/// Private scripts are for their owner (and the groups given rights with "Edit security");
/// shared ones every user of the core may view and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScriptAccess {
    #[default]
    Private,
    Shared,
}

impl ScriptAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptAccess::Private => "private",
            ScriptAccess::Shared => "shared",
        }
    }

    pub fn parse(s: &str) -> Option<ScriptAccess> {
        match s {
            "private" => Some(ScriptAccess::Private),
            "shared" => Some(ScriptAccess::Shared),
            _ => None,
        }
    }
}

/// A user defined script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Script {
    pub id: i64,
    /// The file name on the instance (`myTestScript.sh`).
    pub name: String,
    pub description: String,
    /// The interpreter: `bash` (the default) runs the script with bash; any other type runs the
    /// file itself, so its `#!` line chooses.
    pub script_type: String,
    pub platform: ScriptPlatform,
    pub stage: ScriptStage,
    pub access: ScriptAccess,
    /// Default call parameters (a launch may give others).
    pub parameters: String,
    pub content: String,
    pub owner: UserRef,
    /// What the caller may do with it (`view` = use it in a launch, `change` = edit it).
    pub my_rights: Vec<ObjectRight>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/scenarios` (needs the "create UDS" permission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScript {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "bash")]
    pub script_type: String,
    #[serde(default)]
    pub platform: ScriptPlatform,
    #[serde(default)]
    pub stage: ScriptStage,
    #[serde(default)]
    pub access: ScriptAccess,
    #[serde(default)]
    pub parameters: String,
    pub content: String,
}

fn bash() -> String {
    "bash".into()
}

/// `PATCH /api/v1/scenarios/{id}`: the fields to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScriptPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<ScriptPlatform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<ScriptStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<ScriptAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// A saved create-instance request (the "Save as template" button). Passwords are never saved:
/// a template with a setup user asks for the password when it is launched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: i64,
    pub name: String,
    /// The provider of the request's image.
    pub provider_id: i64,
    pub request: LaunchRequest,
    pub owner: UserRef,
    pub my_rights: Vec<ObjectRight>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/templates` (needs "create instance template" on the image's provider), and
/// `PUT /api/v1/templates/{id}` to replace one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub name: String,
    pub request: LaunchRequest,
}

/// `POST /api/v1/templates/{id}/launch`: launch the template as saved, with a new name, count
/// and setup password when given. Needs "create instances" or "create instance from template"
/// on the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TemplateLaunch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The password of the template's setup user (required when the template has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in ScriptPlatform::ALL {
            assert_eq!(ScriptPlatform::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(p.as_str()));
        }
        assert!(ScriptPlatform::Debian.fits("debian"));
        assert!(!ScriptPlatform::Debian.fits("ubuntu"));
        assert!(ScriptPlatform::LinuxGeneric.fits("sles"));
        assert_eq!(serde_json::to_value(ScriptStage::PostDataTransfer).unwrap(), "post-data-transfer");
        let s: NewScript =
            serde_json::from_value(serde_json::json!({"name": "a.sh", "content": "#!/bin/bash\n"})).unwrap();
        assert_eq!(
            (s.script_type.as_str(), s.access, s.platform),
            ("bash", ScriptAccess::Private, ScriptPlatform::LinuxGeneric)
        );
    }
}
