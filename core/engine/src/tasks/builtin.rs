//! Task kinds of the core itself.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wintermute_api::tasks::LogLevel;

use super::context::{TaskContext, TaskFailure};
use super::{TaskHandler, TaskManager};
use crate::config::Config;

pub const PRUNE_HISTORY: &str = "maintenance.prune_history";
pub const DEBUG_STEPS: &str = "debug.steps";
pub const DEBUG_STEPS_ONCE: &str = "debug.steps_once";

pub fn register_builtin(mgr: &TaskManager, config: &Config) {
    mgr.register(Arc::new(PruneHistory));
    crate::custody::register_tasks(mgr);
    crate::providers::register_tasks(mgr);
    crate::instances::register_tasks(mgr);
    crate::sync::task::register(mgr);
    if config.debug.test_tasks {
        mgr.register(Arc::new(DebugSteps { resumable: true }));
        mgr.register(Arc::new(DebugSteps { resumable: false }));
    }
}

/// Deletes finished tasks (and their logs) older than WMAIS_DASHBOARD_HISTORY_DAYS, and old
/// failed-login records. The audit log is never pruned. Runs by itself once a day (see
/// `Engine::schedule_daily`) and on demand through `POST /api/v1/admin/maintenance`.
struct PruneHistory;

#[async_trait::async_trait]
impl TaskHandler for PruneHistory {
    fn kind(&self) -> &'static str {
        PRUNE_HISTORY
    }

    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let engine = ctx.engine();
        let days = engine.setting_i64("WMAIS_DASHBOARD_HISTORY_DAYS");
        let cutoff = crate::time::now_ms() - days * 86_400_000;
        ctx.info(&format!("removing finished tasks older than {days} days")).await;
        let pool = engine.store().pool();
        let mut removed = 0u64;
        loop {
            ctx.check_cancel()?;
            // In batches, so a large backlog neither locks the database for long nor loses progress.
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1 AND id <> $2 ORDER BY id LIMIT 500",
            )
            .bind(cutoff)
            .bind(ctx.task.id)
            .fetch_all(pool)
            .await
            .map_err(|e| TaskFailure::Failed(format!("reading old tasks failed: {e}")))?;
            if ids.is_empty() {
                break;
            }
            let mut tx = engine.store().write_tx().await.map_err(|e| TaskFailure::Failed(e.to_string()))?;
            for (id,) in &ids {
                for sql in ["DELETE FROM task_logs WHERE task_id = $1", "DELETE FROM tasks WHERE id = $1"] {
                    sqlx::query(sql)
                        .bind(id)
                        .execute(&mut *tx.tx)
                        .await
                        .map_err(|e| TaskFailure::Failed(e.to_string()))?;
                }
            }
            tx.commit().await.map_err(|e| TaskFailure::Failed(e.to_string()))?;
            removed += ids.len() as u64;
            ctx.progress(0.5, &format!("{removed} old tasks removed")).await;
        }
        let failures = sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(crate::time::now_ms() - 86_400_000)
            .execute(pool)
            .await
            .map_err(|e| TaskFailure::Failed(e.to_string()))?
            .rows_affected();
        ctx.info(&format!("removed {removed} finished tasks and {failures} old failed-login records")).await;
        Ok(())
    }
}

/// Counts one-second steps with progress, checkpoints and log lines; enabled only by
/// `debug.test_tasks`. Tests use it to show what the task machinery does around any real task:
/// progress, cancel, failure, and what a crash does to resumable and non-resumable tasks.
struct DebugSteps {
    resumable: bool,
}

#[async_trait::async_trait]
impl TaskHandler for DebugSteps {
    fn kind(&self) -> &'static str {
        if self.resumable {
            DEBUG_STEPS
        } else {
            DEBUG_STEPS_ONCE
        }
    }

    fn resumable(&self) -> bool {
        self.resumable
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let steps = ctx.params.get("steps").and_then(|v| v.as_u64()).unwrap_or(1);
        let fail_at = ctx.params.get("fail_at").and_then(|v| v.as_u64());
        let start = ctx.resumed_from.as_ref().and_then(|c| c.get("done")).and_then(|v| v.as_u64()).unwrap_or(0);
        if start > 0 {
            ctx.info(&format!("resuming at step {}", start + 1)).await;
        }
        for step in start + 1..=steps {
            tokio::select! {
                _ = ctx.cancelled() => return Err(TaskFailure::Cancelled),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if fail_at == Some(step) {
                ctx.log(LogLevel::Error, &format!("step {step} failed as asked")).await;
                return Err(TaskFailure::Failed(format!("step {step} of {steps} failed")));
            }
            ctx.info(&format!("step {step} of {steps} done")).await;
            ctx.checkpoint(&json!({"done": step})).await?;
            ctx.progress(step as f64 / steps as f64, &format!("step {step} of {steps}")).await;
        }
        Ok(())
    }
}
