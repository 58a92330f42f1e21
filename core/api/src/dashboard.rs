//! `GET /api/v1/dashboard` (manual 7.2.1): tiles, activity and day-by-day history of the caller.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dashboard {
    pub tiles: DashboardTiles,
    /// Newest first: what the caller's tasks did lately.
    pub activity: Vec<ActivityEntry>,
    pub history: DashboardHistory,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardTiles {
    /// The caller's instances in state `running`.
    pub instances_running: i64,
    /// Extra volumes attached to the caller's instances.
    pub volumes_attached: i64,
    /// Their total size in GB.
    pub volumes_size_gb: i64,
    /// The caller's tasks queued or running.
    pub tasks_running: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActivityEntry {
    pub at: DateTime<Utc>,
    pub task_id: i64,
    pub task_kind: String,
    pub task_title: String,
    pub line: String,
}

/// One value per day, oldest first, `days` long (WMAIS_DASHBOARD_HISTORY_DAYS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardHistory {
    pub days: Vec<NaiveDate>,
    /// Instances created on that day.
    pub created_instances: Vec<i64>,
    /// Instances that existed (not yet terminated) at some time that day.
    pub active_instances: Vec<i64>,
    /// Extra volumes that existed that day.
    pub volumes: Vec<i64>,
    /// Tasks started that day.
    pub tasks: Vec<i64>,
}
