//! Claiming, running, lease renewal, recovery after a crash, and hand-back at shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wintermute_api::tasks::{LogLevel, TaskState};

use super::context::{TaskContext, TaskFailure};
use super::query::{task_from_row, TASK_COLUMNS};
use crate::engine::Engine;
use crate::error::CoreResult;
use crate::store::{Backend, RowExt};
use crate::time::now_ms;

const RECOVERED_RESUMED: &str = "resumed after the core restarted";
const RECOVERED_FAILED: &str =
    "the core stopped while this task was running, and this kind of task cannot be resumed; start it again";

impl Engine {
    /// Tasks left `running` by a core that is gone: resumable ones go back to the queue, the others
    /// fail with the reason. On SQLite only one core uses the database, so at start every running
    /// task is orphaned; on PostgreSQL a task is orphaned when its lease ran out.
    pub(crate) async fn recover_tasks(&self) -> CoreResult<()> {
        self.recover_orphans(self.store().backend() == Backend::Sqlite).await
    }

    async fn recover_orphans(&self, all_running: bool) -> CoreResult<()> {
        let now = now_ms();
        let rows = sqlx::query("SELECT id, resumable FROM tasks WHERE state = 'running' AND ($1 = 1 OR lease_until IS NULL OR lease_until < $2)")
            .bind(i64::from(all_running))
            .bind(now)
            .fetch_all(self.store().pool())
            .await?;
        for r in rows {
            let id = r.int("id")?;
            if r.flag("resumable")? {
                let done = sqlx::query(
                    "UPDATE tasks SET state = 'queued', message = $1, lease_owner = NULL, lease_until = NULL \
                     WHERE id = $2 AND state = 'running' AND ($3 = 1 OR lease_until IS NULL OR lease_until < $4)",
                )
                .bind(RECOVERED_RESUMED)
                .bind(id)
                .bind(i64::from(all_running))
                .bind(now)
                .execute(self.store().pool())
                .await?;
                if done.rows_affected() > 0 {
                    self.task_log_append(
                        id,
                        LogLevel::Warn,
                        "the core running this task stopped; the task will resume",
                    )
                    .await?;
                    self.publish_task(id).await;
                }
            } else {
                self.task_log_append(id, LogLevel::Error, RECOVERED_FAILED).await?;
                self.task_finish(id, TaskState::Failed, RECOVERED_FAILED).await?;
            }
        }
        Ok(())
    }

    /// Takes the oldest queued task, marking it running under this process's lease.
    async fn claim_next(&self) -> CoreResult<Option<i64>> {
        let mgr = &self.inner.tasks;
        let now = now_ms();
        let pick = match self.store().backend() {
            Backend::Postgres => {
                "SELECT id FROM tasks WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            }
            Backend::Sqlite => "SELECT id FROM tasks WHERE state = 'queued' ORDER BY id LIMIT 1",
        };
        let sql = format!(
            "UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2, \
             started_at = COALESCE(started_at, $3), message = 'started' WHERE id = ({pick}) RETURNING id"
        );
        let mut tx = self.store().write_tx().await?;
        let row: Option<(i64,)> = sqlx::query_as(&sql)
            .bind(&mgr.replica_id)
            .bind(now + mgr.lease_ms)
            .bind(now)
            .fetch_optional(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.0))
    }

    /// Renews the leases of this process's tasks and notices cancels requested through another replica.
    async fn heartbeat(&self) -> CoreResult<()> {
        let mgr = &self.inner.tasks;
        let ids: Vec<i64> = mgr.running.lock().map(|m| m.keys().copied().collect()).unwrap_or_default();
        let until = now_ms() + mgr.lease_ms;
        for id in ids {
            let row = sqlx::query(
                "UPDATE tasks SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 RETURNING cancel_requested",
            )
            .bind(until)
            .bind(id)
            .bind(&mgr.replica_id)
            .fetch_optional(self.store().pool())
            .await?;
            let cancel = match row {
                Some(r) => r.flag("cancel_requested")?,
                None => true, // the lease was lost: stop working on it
            };
            if cancel {
                if let Some(t) = mgr.running.lock().ok().and_then(|m| m.get(&id).cloned()) {
                    t.cancel();
                }
            }
        }
        Ok(())
    }

    async fn execute(&self, id: i64) {
        let mgr = &self.inner.tasks;
        let token = CancellationToken::new();
        if let Ok(mut m) = mgr.running.lock() {
            m.insert(id, token.clone());
        }
        let outcome = self.execute_inner(id, token).await;
        if let Ok(mut m) = mgr.running.lock() {
            m.remove(&id);
        }
        if let Err(e) = outcome {
            tracing::error!(task = id, "task bookkeeping failed: {e}");
        }
    }

    async fn execute_inner(&self, id: i64, token: CancellationToken) -> CoreResult<()> {
        let r = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS}, t.params, t.checkpoint FROM tasks t JOIN users u ON u.id = t.owner_id WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_one(self.store().pool())
        .await?;
        let task = task_from_row(&r)?;
        if task.cancel_requested {
            token.cancel();
        }
        let params = serde_json::from_str(&r.text("params")?).unwrap_or(serde_json::Value::Null);
        let resumed_from = r.opt_text("checkpoint")?.and_then(|c| serde_json::from_str(&c).ok());
        self.publish_task(id).await;
        let Some(handler) = self.inner.tasks.handler(&task.kind) else {
            let msg = format!("this core cannot run tasks of kind {}", task.kind);
            self.task_log_append(id, LogLevel::Error, &msg).await?;
            return self.task_finish(id, TaskState::Failed, &msg).await;
        };
        if task.attempts > 1 {
            self.task_log_append(id, LogLevel::Info, &format!("attempt {} of this task", task.attempts)).await?;
        }
        let ctx = TaskContext { task, params, resumed_from, engine: self.clone(), cancel: token.clone() };
        let result = handler.run(&ctx).await;
        match result {
            Ok(()) if token.is_cancelled() && self.task_record(id).await?.cancel_requested => {
                self.task_finish(id, TaskState::Cancelled, "cancelled").await
            }
            Ok(()) => {
                self.task_log_append(id, LogLevel::Info, "finished").await?;
                self.task_finish(id, TaskState::Succeeded, "finished").await
            }
            Err(TaskFailure::Cancelled) => {
                if self.task_record(id).await?.cancel_requested {
                    self.task_log_append(id, LogLevel::Warn, "cancelled").await?;
                    self.task_finish(id, TaskState::Cancelled, "cancelled").await
                } else {
                    // Stopped because the core is shutting down or lost the lease: leave it to recovery.
                    Ok(())
                }
            }
            Err(TaskFailure::Failed(msg)) => {
                self.task_log_append(id, LogLevel::Error, &msg).await?;
                self.task_finish(id, TaskState::Failed, &msg).await
            }
        }
    }

    /// At shutdown: resumable tasks of this process go back to the queue, the others fail.
    async fn hand_back(&self) -> CoreResult<()> {
        let mgr = &self.inner.tasks;
        let rows = sqlx::query("SELECT id, resumable FROM tasks WHERE state = 'running' AND lease_owner = $1")
            .bind(&mgr.replica_id)
            .fetch_all(self.store().pool())
            .await?;
        for r in rows {
            let id = r.int("id")?;
            if r.flag("resumable")? {
                sqlx::query("UPDATE tasks SET state = 'queued', message = 'waiting: the core shut down', lease_owner = NULL, lease_until = NULL WHERE id = $1")
                    .bind(id)
                    .execute(self.store().pool())
                    .await?;
                self.task_log_append(id, LogLevel::Warn, "the core shut down; the task will resume at its next start")
                    .await?;
                self.publish_task(id).await;
            } else {
                let msg = "the core shut down while this task was running, and this kind of task cannot be resumed";
                self.task_log_append(id, LogLevel::Error, msg).await?;
                self.task_finish(id, TaskState::Failed, msg).await?;
            }
        }
        Ok(())
    }
}

/// The worker loop of one core process.
pub(crate) async fn run_workers(engine: Engine, shutdown: CancellationToken) {
    let mgr = &engine.inner.tasks;
    let slots = Arc::new(Semaphore::new(mgr.workers));
    let mut running = tokio::task::JoinSet::new();
    let mut beat = tokio::time::interval(Duration::from_millis((mgr.lease_ms / 3).max(1000) as u64));
    let mut daily = tokio::time::interval(Duration::from_secs(3600));
    loop {
        // Take as many queued tasks as there are free slots.
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            match engine.claim_next().await {
                Ok(Some(id)) => {
                    let e = engine.clone();
                    running.spawn(async move {
                        e.execute(id).await;
                        drop(permit);
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!("could not claim a task: {err}");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = mgr.wake.notified() => {}
            _ = beat.tick() => {
                if let Err(e) = engine.heartbeat().await {
                    tracing::warn!("task lease renewal failed: {e}");
                }
                if let Err(e) = engine.recover_orphans(false).await {
                    tracing::warn!("task recovery failed: {e}");
                }
                if let Err(e) = engine.reload_settings().await {
                    tracing::warn!("settings reload failed: {e}");
                }
                if let Err(e) = engine.enforce_lifetimes().await {
                    tracing::warn!("could not power off instances past their lifetime: {e}");
                }
                if let Err(e) = engine.schedule_reconciles().await {
                    tracing::warn!("could not schedule reconciles: {e}");
                }
            }
            _ = daily.tick() => {
                if let Err(e) = engine.schedule_daily().await {
                    tracing::warn!("could not schedule the daily maintenance: {e}");
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    // Shutdown: stop the running tasks at their next step, give them a moment, hand the rest back.
    if let Ok(m) = mgr.running.lock() {
        for t in m.values() {
            t.cancel();
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while running.join_next().await.is_some() {} }).await;
    running.abort_all();
    if let Err(e) = engine.hand_back().await {
        tracing::warn!("could not hand back running tasks at shutdown: {e}");
    }
}
