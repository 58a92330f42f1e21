//! Starting the core's own tasks on behalf of a user.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::tasks::{DebugTaskRequest, Task};

use super::builtin::{DEBUG_STEPS, DEBUG_STEPS_ONCE, PRUNE_HISTORY};
use super::NewTask;
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};

impl Engine {
    /// Starts a maintenance task (administrators only).
    pub async fn start_maintenance(&self, caller: &Caller, action: &str) -> CoreResult<Task> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators start maintenance tasks"));
        }
        let (kind, title) = match action {
            "prune_history" => (PRUNE_HISTORY, "Prune task history"),
            other => {
                return Err(CoreError::invalid(
                    "action",
                    format!("unknown maintenance action {other:?}; known: prune_history"),
                ))
            }
        };
        let task = self
            .task_submit(
                caller.user_id,
                NewTask {
                    kind: kind.into(),
                    title: title.into(),
                    target_kind: None,
                    target_id: None,
                    params: json!({}),
                },
            )
            .await?;
        self.audit(
            &caller.actor(),
            AuditRecord::new("maintenance.start", AuditOutcome::Success)
                .target("task", task.id)
                .details(json!({"action": action})),
        )
        .await?;
        Ok(task)
    }

    /// The id of a queued or running task of this kind, if there is one.
    pub(crate) async fn pending_task_of_kind(&self, kind: &str) -> CoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM tasks WHERE kind = $1 AND state IN ('queued', 'running') LIMIT 1")
                .bind(kind)
                .fetch_optional(self.store().pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Who owns the tasks the core starts by itself: the first enabled administrator, if any.
    pub(crate) async fn system_task_owner(&self) -> CoreResult<Option<i64>> {
        let admin: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM users WHERE is_admin = 1 AND enabled = 1 ORDER BY id LIMIT 1")
                .fetch_optional(self.store().pool())
                .await?;
        Ok(admin.map(|a| a.0))
    }

    /// Queues a task of the core itself, owned by the first enabled administrator (tasks need an
    /// owner who can see and cancel them). Nothing happens on a core without administrators.
    pub(crate) async fn submit_system_task(&self, kind: &str, title: &str) -> CoreResult<()> {
        if let Some(owner) = self.system_task_owner().await? {
            let task = NewTask {
                kind: kind.into(),
                title: title.into(),
                target_kind: None,
                target_id: None,
                params: json!({}),
            };
            self.task_submit(owner, task).await?;
        }
        Ok(())
    }

    /// Queues the daily history pruning when none was queued in the last 24 hours. On a shared
    /// core only one replica gets to queue it per day.
    pub(crate) async fn schedule_daily(&self) -> CoreResult<()> {
        let since = crate::time::now_ms() - 86_400_000;
        let recent = sqlx::query("SELECT id FROM tasks WHERE kind = $1 AND created_at > $2 LIMIT 1")
            .bind(PRUNE_HISTORY)
            .bind(since)
            .fetch_optional(self.store().pool())
            .await?;
        if recent.is_none() {
            self.submit_system_task(PRUNE_HISTORY, "Prune task history (daily)").await?;
        }
        Ok(())
    }

    /// Starts a step-counting task for the caller, when the core runs with `debug.test_tasks`.
    pub async fn start_debug_task(&self, caller: &Caller, req: &DebugTaskRequest) -> CoreResult<Task> {
        if !self.config().debug.test_tasks {
            return Err(CoreError::not_found("debug tasks are not enabled on this core"));
        }
        if req.steps == 0 || req.steps > 3600 {
            return Err(CoreError::invalid("steps", "steps must be 1 to 3600"));
        }
        let kind = if req.resumable { DEBUG_STEPS } else { DEBUG_STEPS_ONCE };
        self.task_submit(
            caller.user_id,
            NewTask {
                kind: kind.into(),
                title: format!("Count {} steps", req.steps),
                target_kind: None,
                target_id: None,
                params: json!({"steps": req.steps, "fail_at": req.fail_at}),
            },
        )
        .await
    }
}
