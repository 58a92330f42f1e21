//! Master key rotation, online: a new master key becomes current while the old one stays usable;
//! every data key is re-wrapped with the new key, one row at a time; then the old key is retired.
//! A crash anywhere leaves the old key in the store, so everything still opens and the next start
//! finishes the job (the task is resumable, and a start that finds an old key queues one).

use std::sync::Arc;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::keys::KeyStatus;
use wintermute_api::tasks::Task;
use wintermute_custody::{unwrap_data_key, wrap_data_key};

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};

pub const ROTATE_MASTER: &str = "keys.rotate_master";

pub(crate) struct RotateMaster;

#[async_trait::async_trait]
impl TaskHandler for RotateMaster {
    fn kind(&self) -> &'static str {
        ROTATE_MASTER
    }

    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        ctx.engine().rotate_master_key(ctx).await.map_err(TaskFailure::from)
    }
}

pub(crate) fn register(engine_tasks: &crate::tasks::TaskManager) {
    engine_tasks.register(Arc::new(RotateMaster));
}

impl Engine {
    pub fn key_status(&self, caller: &Caller) -> CoreResult<KeyStatus> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators see the master key's state"));
        }
        let set = self.custody().set()?;
        Ok(KeyStatus {
            store: self.custody().store_name().into(),
            store_writable: self.custody().store_writable(),
            current_key_id: set.current.id().to_string(),
            previous_key_ids: set.previous.iter().map(|k| k.id().to_string()).collect(),
            data_keys: 0,
            data_keys_on_previous: 0,
            rotation_in_progress: !set.previous.is_empty(),
        })
    }

    pub async fn key_status_full(&self, caller: &Caller) -> CoreResult<KeyStatus> {
        let mut s = self.key_status(caller)?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM data_keys").fetch_one(self.store().pool()).await?;
        let (old,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM data_keys WHERE master_key_id <> $1")
            .bind(&s.current_key_id)
            .fetch_one(self.store().pool())
            .await?;
        s.data_keys = n;
        s.data_keys_on_previous = old;
        Ok(s)
    }

    /// Starts a rotation of the master key (administrators).
    pub async fn start_master_key_rotation(&self, caller: &Caller) -> CoreResult<Task> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators rotate the master key"));
        }
        if !self.custody().store_writable() {
            return Err(CoreError::Conflict(format!(
                "the {} key store is read-only: put a new master key there yourself, keeping the old one as a second line",
                self.custody().store_name()
            )));
        }
        if let Some(id) = self.pending_task_of_kind(ROTATE_MASTER).await? {
            return Err(CoreError::Conflict(format!("a master key rotation is already under way (task {id})")));
        }
        let task = self
            .task_submit(
                caller.user_id,
                NewTask {
                    kind: ROTATE_MASTER.into(),
                    title: "Rotate the master key".into(),
                    target_kind: None,
                    target_id: None,
                    params: json!({}),
                },
            )
            .await?;
        self.audit(
            &caller.actor(),
            AuditRecord::new("keys.rotate_start", AuditOutcome::Success).target("task", task.id),
        )
        .await?;
        Ok(task)
    }

    /// At start: a master key set with an old key in it means a rotation was interrupted; queue
    /// one to finish it unless one is already queued.
    pub(crate) async fn resume_interrupted_rotation(&self) -> CoreResult<()> {
        if self.custody().set()?.previous.is_empty() || !self.custody().store_writable() {
            return Ok(());
        }
        if self.pending_task_of_kind(ROTATE_MASTER).await?.is_none() {
            self.submit_system_task(ROTATE_MASTER, "Finish an interrupted master key rotation").await?;
        }
        Ok(())
    }

    async fn rotate_master_key(&self, ctx: &TaskContext) -> CoreResult<()> {
        let _guard = self.custody().lock.lock().await;
        let mut set = self.custody().set()?;
        if set.previous.is_empty() {
            let next = set.rotate();
            self.custody().replace_set(next.clone(), true)?;
            ctx.info(&format!(
                "new master key {} is current; {} stays until every data key is re-wrapped",
                next.current.id(),
                set.current.id()
            ))
            .await;
            set = next;
        } else {
            ctx.info(&format!("continuing the rotation to master key {}", set.current.id())).await;
        }
        let current = set.current.id().to_string();
        let rows = sqlx::query("SELECT id, wrapped FROM data_keys WHERE master_key_id <> $1 ORDER BY id")
            .bind(&current)
            .fetch_all(self.store().pool())
            .await?;
        let total = rows.len();
        let crash_after = self.config().debug.crash_after_rewraps;
        for (i, r) in rows.iter().enumerate() {
            ctx.check_cancel()
                .map_err(|_| CoreError::Conflict("the rotation was stopped; start it again to finish".into()))?;
            let id = r.int("id")?;
            let key = unwrap_data_key(&set, id, &r.text("wrapped")?)?;
            let wrapped = wrap_data_key(&set.current, id, &key)?;
            sqlx::query("UPDATE data_keys SET wrapped = $1, master_key_id = $2 WHERE id = $3")
                .bind(wrapped)
                .bind(&current)
                .bind(id)
                .execute(self.store().pool())
                .await?;
            ctx.progress((i + 1) as f64 / (total.max(1)) as f64, &format!("re-wrapped {} of {total} data keys", i + 1))
                .await;
            if crash_after.is_some_and(|n| (i + 1) as u32 >= n) {
                // Test hook (debug.crash_after_rewraps): die like a power cut, in the middle.
                tracing::error!("debug.crash_after_rewraps reached: aborting the process");
                std::process::abort();
            }
        }
        let retired: Vec<String> = set.previous.iter().map(|k| k.id().to_string()).collect();
        self.custody().replace_set(set.retire_previous(), true)?;
        self.custody().forget_data_keys();
        ctx.info(&format!("{total} data keys re-wrapped; retired master key(s) {}", retired.join(", "))).await;
        self.audit(
            &Actor::system(),
            AuditRecord::new("keys.rotate_finish", AuditOutcome::Success).target("task", ctx.task.id).details(json!({
                "current": current, "retired": retired, "data_keys": total,
            })),
        )
        .await?;
        Ok(())
    }
}
