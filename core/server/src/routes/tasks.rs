//! `/api/v1/tasks`, maintenance and debug tasks.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use wintermute_api::tasks::{DebugTaskRequest, MaintenanceRequest, Task, TaskLogLine};
use wintermute_api::{ApiError, Page};
use wintermute_core::tasks::TaskQuery;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path, Query};
use crate::state::AppState;

/// Tasks the caller may see (own ones; everybody's with "control tasks"), newest first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", security(("bearer" = [])), params(TaskQuery),
    responses((status = 200, body = Page<Task>), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn list(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<TaskQuery>,
) -> HttpResult<axum::Json<Page<Task>>> {
    Ok(axum::Json(s.engine.tasks_list(&c, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<axum::Json<Task>> {
    Ok(axum::Json(s.engine.tasks_get(&c, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only lines after this sequence number.
    pub after: Option<i64>,
}

/// A task's log lines, oldest first.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/log", tag = "tasks", security(("bearer" = [])), params(("id" = i64, Path), LogQuery),
    responses((status = 200, body = [TaskLogLine]), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn log(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> HttpResult<axum::Json<Vec<TaskLogLine>>> {
    Ok(axum::Json(s.engine.tasks_log(&c, id, q.after).await?))
}

/// Cancel a task: one's own, or anybody's with "control tasks".
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, description = "not_cancellable", body = ApiError)))]
pub async fn cancel(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<axum::Json<Task>> {
    Ok(axum::Json(s.engine.tasks_cancel(&c, id).await?))
}

/// Start a maintenance task (administrators).
#[utoipa::path(post, path = "/api/v1/admin/maintenance", tag = "tasks", security(("bearer" = [])), request_body = MaintenanceRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub async fn maintenance(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<MaintenanceRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.start_maintenance(&c, &req.action).await?)))
}

/// Start a step-counting task (only on cores configured with `debug.test_tasks = true`).
#[utoipa::path(post, path = "/api/v1/debug/tasks", tag = "tasks", security(("bearer" = [])), request_body = DebugTaskRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 404, description = "debug tasks disabled", body = ApiError), (status = 422, body = ApiError)))]
pub async fn debug_task(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<DebugTaskRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.start_debug_task(&c, &req).await?)))
}
