//! Tasks: every long action of the core, with progress, a log and cancel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 5] =
        [TaskState::Queued, TaskState::Running, TaskState::Succeeded, TaskState::Failed, TaskState::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A finished task never changes state again.
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: i64,
    /// What the task does, e.g. `create_instance`, `maintenance.prune_history`.
    pub kind: String,
    /// One line for people: "Create 3 instances of web".
    pub title: String,
    pub owner_id: i64,
    pub owner_login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<i64>,
    pub state: TaskState,
    /// 0.0 to 1.0.
    pub progress: f64,
    /// What the task is doing now, or why it ended.
    pub message: String,
    pub cancel_requested: bool,
    /// How many times the task was started (more than one after a resume).
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<LogLevel> {
        [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error].into_iter().find(|l| l.as_str() == s)
    }
}

/// One timestamped line of a task's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskLogLine {
    pub task_id: i64,
    /// Increases by one per line of the task.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub line: String,
}

/// `POST /api/v1/admin/maintenance`: start a maintenance task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// `prune_history`: delete finished tasks and their logs older than WMAIS_DASHBOARD_HISTORY_DAYS.
    pub action: String,
}

/// `POST /api/v1/debug/tasks` (only when the core runs with `debug.test_tasks = true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugTaskRequest {
    /// Number of one-second steps.
    pub steps: u32,
    /// Whether a restart resumes the task (otherwise it is failed).
    #[serde(default)]
    pub resumable: bool,
    /// Fail at this step, to show failure handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_at: Option<u32>,
}
