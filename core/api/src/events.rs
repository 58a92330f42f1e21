//! Messages of the live event stream at `/api/v1/events` (WebSocket, JSON text frames).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::instances::{Instance, Volume};
use crate::tasks::{Task, TaskLogLine};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A task was created or changed state, progress or message.
    Task { task: Task },
    /// A task wrote a log line.
    TaskLog { line: TaskLogLine },
    /// An instance changed (status, addresses, volumes…); sent to those who may view it.
    Instance { instance: Box<Instance> },
    /// A volume changed; sent to those who may view it.
    Volume { volume: Box<Volume> },
    /// The stream fell behind and skipped this many events; reload what you show.
    Lagged { skipped: u64 },
}
