//! The append-only audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Failure,
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
            AuditOutcome::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<AuditOutcome> {
        [AuditOutcome::Success, AuditOutcome::Failure, AuditOutcome::Denied].into_iter().find(|o| o.as_str() == s)
    }
}

/// Who did what, when, from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<i64>,
    /// The login used, also for failed logins of unknown users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Dotted action name, e.g. `auth.login`, `user.create`, `setting.change`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    pub outcome: AuditOutcome,
    /// Details of the action; never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}
