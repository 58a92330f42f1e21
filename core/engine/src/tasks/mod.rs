//! Tasks: every long action is a task with an owner, a state, progress and a timestamped log.
//!
//! Tasks are queued in the database and claimed by workers with a lease (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, so replicas of a shared core never run one task twice). A running task renews
//! its lease; when a core dies, its tasks' leases run out and the next core (or replica) resumes
//! the resumable ones and fails the others with the reason. Owners cancel their own tasks,
//! "control tasks" cancels anybody's.

mod builtin;
mod context;
mod query;
mod start;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::RngCore;
use tokio_util::sync::CancellationToken;

pub use builtin::register_builtin;
pub use context::{TaskContext, TaskFailure};
pub use query::TaskQuery;
pub(crate) use worker::run_workers;

/// A kind of task: what runs when a task of this kind is claimed.
#[async_trait::async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// The `kind` column of its tasks, e.g. `maintenance.prune_history`.
    fn kind(&self) -> &'static str;
    /// Whether a task interrupted by a crash or restart may simply run again (from its checkpoint).
    fn resumable(&self) -> bool;
    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure>;
}

/// A task to queue.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: String,
    pub title: String,
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    pub params: serde_json::Value,
}

pub struct TaskManager {
    /// Identifies this process in leases.
    pub(crate) replica_id: String,
    pub(crate) handlers: Mutex<HashMap<&'static str, Arc<dyn TaskHandler>>>,
    /// Cancel switches of the tasks running in this process.
    pub(crate) running: Mutex<HashMap<i64, CancellationToken>>,
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) workers: usize,
    pub(crate) lease_ms: i64,
}

impl TaskManager {
    pub fn new(config: &crate::config::Config) -> TaskManager {
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        let mgr = TaskManager {
            replica_id: hex::encode(id),
            handlers: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            workers: config.tasks.workers,
            lease_ms: (config.tasks.lease_seconds as i64) * 1000,
        };
        register_builtin(&mgr, config);
        mgr
    }

    /// Makes a kind of task runnable.
    pub fn register(&self, handler: Arc<dyn TaskHandler>) {
        if let Ok(mut h) = self.handlers.lock() {
            h.insert(handler.kind(), handler);
        }
    }

    pub(crate) fn handler(&self, kind: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.lock().ok().and_then(|h| h.get(kind).cloned())
    }
}
