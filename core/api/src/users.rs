//! Users, global permissions (manual 6.5.1, 6.5.2) and groups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Global permissions a user can be granted ("Edit security" on a user, manual 6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Create other user accounts.
    CreateUser,
    /// Modify other users' properties and security.
    ChangeUser,
    /// Create and share UDS scripts.
    CreateUds,
    /// Export one's own private SSH key.
    DownloadSshKeys,
    /// Cancel anybody's tasks (everyone may cancel their own).
    ControlTasks,
    /// Read the audit log.
    ViewLogs,
    /// Read the core's own server logs.
    GetServerLogs,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::CreateUser,
        Permission::ChangeUser,
        Permission::CreateUds,
        Permission::DownloadSshKeys,
        Permission::ControlTasks,
        Permission::ViewLogs,
        Permission::GetServerLogs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CreateUser => "create_user",
            Permission::ChangeUser => "change_user",
            Permission::CreateUds => "create_uds",
            Permission::DownloadSshKeys => "download_ssh_keys",
            Permission::ControlTasks => "control_tasks",
            Permission::ViewLogs => "view_logs",
            Permission::GetServerLogs => "get_server_logs",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user record (manual 6.5.1). The password is never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub enabled: bool,
    pub is_admin: bool,
    /// True until the user replaces a password that an administrator set.
    pub must_change_password: bool,
    pub permissions: Vec<Permission>,
    /// Ids of the groups the user belongs to.
    pub groups: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub login: String,
    /// Temporary password; the user must change it at first login.
    pub password: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    /// Defaults to the WMAIS_DEFAULT_TIMEZONE setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub is_admin: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /api/v1/users/{id}`: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Write-only. Setting another user's password makes it temporary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
}

/// `PUT /api/v1/users/{id}/permissions`: the full set of global permissions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionSet {
    pub permissions: Vec<Permission>,
}

/// A short reference to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRef {
    pub id: i64,
    pub login: String,
}

/// A group of users; object rights are granted to groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub members: Vec<UserRef>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/groups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Initial members, by user id.
    #[serde(default)]
    pub members: Vec<i64>,
}

/// `PATCH /api/v1/groups/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces the member list when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<i64>>,
}
