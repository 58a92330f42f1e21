//! The manual's WMAIS_* settings (6.1, 8.3): readable by everyone, writable by administrators.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingType {
    Integer,
    Boolean,
    String,
}

/// One setting, its current value and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Setting {
    /// The manual's name, e.g. `WMAIS_CONNECTION_ATTEMPTS`.
    pub name: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    #[schema(value_type = Object)]
    pub default: serde_json::Value,
    pub value_type: SettingType,
    pub description: String,
    /// Allowed values, in words (range, choices, format).
    pub constraint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// `PUT /api/v1/settings/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingUpdate {
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}
