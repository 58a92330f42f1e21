//! Reading and changing task records; every change is published as a live event.

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::events::Event;
use wintermute_api::tasks::{LogLevel, Task, TaskLogLine, TaskState};
use wintermute_api::users::Permission;
use wintermute_api::Page;

use super::NewTask;
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult, StoreError};
use crate::store::{flag, RowExt};
use crate::time::{now_ms, opt_dt, to_dt};

pub(crate) const TASK_COLUMNS: &str =
    "t.id, t.kind, t.title, t.owner_id, u.login AS owner_login, t.target_kind, t.target_id, \
     t.state, t.progress, t.message, t.cancel_requested, t.attempts, t.created_at, t.started_at, t.finished_at";

pub(crate) fn task_from_row(r: &AnyRow) -> Result<Task, StoreError> {
    let state = r.text("state")?;
    Ok(Task {
        id: r.int("id")?,
        kind: r.text("kind")?,
        title: r.text("title")?,
        owner_id: r.int("owner_id")?,
        owner_login: r.text("owner_login")?,
        target_kind: r.opt_text("target_kind")?,
        target_id: r.opt_int("target_id")?,
        state: TaskState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt { table: "tasks", detail: format!("state {state:?}") })?,
        progress: r.real("progress")?,
        message: r.text("message")?,
        cancel_requested: r.flag("cancel_requested")?,
        attempts: r.int("attempts")?,
        created_at: to_dt(r.int("created_at")?),
        started_at: opt_dt(r.opt_int("started_at")?),
        finished_at: opt_dt(r.opt_int("finished_at")?),
    })
}

/// Filters of `GET /api/v1/tasks`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only tasks in this state.
    pub state: Option<String>,
    /// Only the caller's own tasks (default false: every task the caller may see).
    pub mine: Option<bool>,
    /// At most this many (1–500, default 100).
    pub limit: Option<u32>,
    /// Only tasks with a smaller id (paging).
    pub before: Option<i64>,
}

impl Engine {
    /// Whether the caller may see (and follow) a task of this owner.
    pub fn may_see_task(caller: &Caller, owner_id: i64) -> bool {
        owner_id == caller.user_id || caller.has(Permission::ControlTasks)
    }

    pub(crate) async fn task_record(&self, id: i64) -> CoreResult<Task> {
        let r = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN users u ON u.id = t.owner_id WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no task {id}")))?;
        Ok(task_from_row(&r)?)
    }

    pub(crate) async fn publish_task(&self, id: i64) {
        match self.task_record(id).await {
            Ok(task) => self.events().publish(Event::Task { task }),
            Err(e) => tracing::warn!(task = id, "could not publish a task event: {e}"),
        }
    }

    /// Queues a task owned by `owner_id`. The task runs as soon as a worker is free.
    pub async fn task_submit(&self, owner_id: i64, t: NewTask) -> CoreResult<Task> {
        let handler = self
            .inner
            .tasks
            .handler(&t.kind)
            .ok_or_else(|| CoreError::Internal(format!("no handler for task kind {}", t.kind)))?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO tasks (kind, title, owner_id, target_kind, target_id, state, progress, message, params, resumable, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, 'waiting for a worker', $6, $7, $8) RETURNING id",
        )
        .bind(&t.kind)
        .bind(&t.title)
        .bind(owner_id)
        .bind(t.target_kind.clone())
        .bind(t.target_id)
        .bind(t.params.to_string())
        .bind(flag(handler.resumable()))
        .bind(now_ms())
        .fetch_one(self.store().pool())
        .await?;
        self.publish_task(id).await;
        self.inner.tasks.wake.notify_one();
        self.task_record(id).await
    }

    pub async fn tasks_list(&self, caller: &Caller, q: &TaskQuery) -> CoreResult<Page<Task>> {
        let state = match &q.state {
            Some(s) => Some(
                TaskState::parse(s)
                    .ok_or_else(|| {
                        CoreError::invalid(
                            "state",
                            format!("{s:?} is not a task state (queued, running, succeeded, failed, cancelled)"),
                        )
                    })?
                    .as_str(),
            ),
            None => None,
        };
        let only_own = q.mine.unwrap_or(false) || !caller.has(Permission::ControlTasks);
        let limit = crate::validate::limit(q.limit)?;
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN users u ON u.id = t.owner_id \
             WHERE ($1 IS NULL OR t.state = $1) AND ($2 = 0 OR t.owner_id = $3) AND ($4 IS NULL OR t.id < $4) \
             ORDER BY t.id DESC LIMIT $5"
        ))
        .bind(state)
        .bind(flag(only_own))
        .bind(caller.user_id)
        .bind(q.before)
        .bind(limit + 1)
        .fetch_all(self.store().pool())
        .await?;
        let mut items = rows.iter().take(limit as usize).map(task_from_row).collect::<Result<Vec<_>, _>>()?;
        items.truncate(limit as usize);
        let next_before = if rows.len() as i64 > limit { items.last().map(|t| t.id) } else { None };
        Ok(Page { items, next_before })
    }

    pub async fn tasks_get(&self, caller: &Caller, id: i64) -> CoreResult<Task> {
        let t = self.task_record(id).await?;
        if !Self::may_see_task(caller, t.owner_id) {
            return Err(CoreError::forbidden(format!("task {id} belongs to somebody else")));
        }
        Ok(t)
    }

    /// Log lines of a task after `after` (a line's `seq`), oldest first, at most 5000.
    pub async fn tasks_log(&self, caller: &Caller, id: i64, after: Option<i64>) -> CoreResult<Vec<TaskLogLine>> {
        self.tasks_get(caller, id).await?;
        let rows = sqlx::query(
            "SELECT seq, at, level, line FROM task_logs WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT 5000",
        )
        .bind(id)
        .bind(after.unwrap_or(0))
        .fetch_all(self.store().pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TaskLogLine {
                    task_id: id,
                    seq: r.int("seq")?,
                    at: to_dt(r.int("at")?),
                    level: LogLevel::parse(&r.text("level")?).unwrap_or(LogLevel::Info),
                    line: r.text("line")?,
                })
            })
            .collect()
    }

    /// Cancels a task: a queued one at once, a running one at its next step boundary.
    pub async fn tasks_cancel(&self, caller: &Caller, id: i64) -> CoreResult<Task> {
        let t = self.task_record(id).await?;
        if t.owner_id != caller.user_id && !caller.has(Permission::ControlTasks) {
            return Err(CoreError::forbidden("cancelling other users' tasks needs the \"control tasks\" permission"));
        }
        if t.state.is_finished() {
            return Err(CoreError::NotCancellable(format!("task {id} has already {}", t.state)));
        }
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "UPDATE tasks SET cancel_requested = 1, \
             state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
             message = CASE WHEN state = 'queued' THEN 'cancelled before it started' ELSE 'cancelling' END, \
             finished_at = CASE WHEN state = 'queued' THEN $1 ELSE finished_at END \
             WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("task.cancel", AuditOutcome::Success)
                .target("task", id)
                .details(json!({"kind": t.kind, "owner": t.owner_login})),
        )
        .await?;
        tx.commit().await?;
        if let Some(token) = self.inner.tasks.running.lock().ok().and_then(|m| m.get(&id).cloned()) {
            token.cancel();
        }
        self.task_log_append(id, LogLevel::Warn, &format!("cancel requested by {}", caller.login)).await?;
        self.publish_task(id).await;
        self.task_record(id).await
    }

    pub(crate) async fn task_log_append(&self, id: i64, level: LogLevel, line: &str) -> CoreResult<()> {
        let now = now_ms();
        let line: String = line.chars().take(8000).collect();
        let mut tx = self.store().write_tx().await?;
        let (seq,): (i64,) = sqlx::query_as("UPDATE tasks SET log_seq = log_seq + 1 WHERE id = $1 RETURNING log_seq")
            .bind(id)
            .fetch_one(&mut *tx.tx)
            .await?;
        sqlx::query("INSERT INTO task_logs (task_id, seq, at, level, line) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(seq)
            .bind(now)
            .bind(level.as_str())
            .bind(&line)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.events().publish(Event::TaskLog { line: TaskLogLine { task_id: id, seq, at: to_dt(now), level, line } });
        Ok(())
    }

    pub(crate) async fn task_set_progress(&self, id: i64, fraction: f64, message: &str) -> CoreResult<()> {
        sqlx::query("UPDATE tasks SET progress = $1, message = $2 WHERE id = $3 AND state = 'running'")
            .bind(fraction)
            .bind(message.chars().take(500).collect::<String>())
            .bind(id)
            .execute(self.store().pool())
            .await?;
        self.publish_task(id).await;
        Ok(())
    }

    pub(crate) async fn task_checkpoint(&self, id: i64, state: &Value) -> CoreResult<()> {
        sqlx::query("UPDATE tasks SET checkpoint = $1 WHERE id = $2")
            .bind(state.to_string())
            .bind(id)
            .execute(self.store().pool())
            .await?;
        Ok(())
    }

    /// Ends a task in a final state, unless it already ended.
    pub(crate) async fn task_finish(&self, id: i64, state: TaskState, message: &str) -> CoreResult<()> {
        let progress_sql = if state == TaskState::Succeeded { "1" } else { "progress" };
        sqlx::query(&format!(
            "UPDATE tasks SET state = $1, message = $2, finished_at = $3, progress = {progress_sql}, lease_owner = NULL, lease_until = NULL \
             WHERE id = $4 AND state IN ('queued', 'running')"
        ))
        .bind(state.as_str())
        .bind(message.chars().take(2000).collect::<String>())
        .bind(now_ms())
        .bind(id)
        .execute(self.store().pool())
        .await?;
        self.publish_task(id).await;
        Ok(())
    }
}
