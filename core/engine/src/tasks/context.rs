//! What a running task sees: its record, its parameters and checkpoint, a log, progress and cancel.

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wintermute_api::tasks::{LogLevel, Task};

use crate::engine::Engine;
use crate::error::CoreError;

/// Why a task did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

impl From<CoreError> for TaskFailure {
    fn from(e: CoreError) -> Self {
        TaskFailure::Failed(e.to_string())
    }
}

pub struct TaskContext {
    pub task: Task,
    pub params: Value,
    /// What the task saved with `checkpoint` before an interruption, when it is resumed.
    pub resumed_from: Option<Value>,
    pub(crate) engine: Engine,
    pub(crate) cancel: CancellationToken,
}

impl TaskContext {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the task is asked to stop.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// `Err(Cancelled)` when the task was asked to stop: call at step boundaries.
    pub fn check_cancel(&self) -> Result<(), TaskFailure> {
        if self.is_cancelled() {
            Err(TaskFailure::Cancelled)
        } else {
            Ok(())
        }
    }

    pub async fn log(&self, level: LogLevel, line: &str) {
        if let Err(e) = self.engine.task_log_append(self.task.id, level, line).await {
            tracing::warn!(task = self.task.id, "could not write a task log line: {e}");
        }
    }

    pub async fn info(&self, line: &str) {
        self.log(LogLevel::Info, line).await
    }

    /// Progress from 0.0 to 1.0 and what the task is doing now.
    pub async fn progress(&self, fraction: f64, message: &str) {
        if let Err(e) = self.engine.task_set_progress(self.task.id, fraction.clamp(0.0, 1.0), message).await {
            tracing::warn!(task = self.task.id, "could not record task progress: {e}");
        }
    }

    /// Saves how far the task got, so that a resumed run can continue from there.
    pub async fn checkpoint(&self, state: &Value) -> Result<(), TaskFailure> {
        self.engine.task_checkpoint(self.task.id, state).await.map_err(TaskFailure::from)
    }
}
