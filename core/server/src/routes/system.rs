//! Health, audit, settings and dashboard.

use axum::extract::State;
use wintermute_api::audit::AuditEntry;
use wintermute_api::dashboard::Dashboard;
use wintermute_api::settings::{Setting, SettingUpdate};
use wintermute_api::{ApiError, Health, Page};
use wintermute_core::audit::AuditQuery;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path, Query};
use crate::state::AppState;

/// Whether the core is up; no login needed.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(s): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: s.engine.store().backend().as_str().into(),
    })
}

/// The audit log, newest first ("view logs").
#[utoipa::path(get, path = "/api/v1/audit", tag = "system", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn audit(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<AuditQuery>,
) -> HttpResult<axum::Json<Page<AuditEntry>>> {
    Ok(axum::Json(s.engine.audit_list(&c, &q).await?))
}

/// Every setting with its value, default and meaning.
#[utoipa::path(get, path = "/api/v1/settings", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = [Setting]), (status = 401, body = ApiError)))]
pub async fn settings(State(s): State<AppState>, Authed(c): Authed) -> axum::Json<Vec<Setting>> {
    axum::Json(s.engine.settings_list(&c))
}

#[utoipa::path(get, path = "/api/v1/settings/{name}", tag = "system", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 200, body = Setting), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn setting(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
) -> HttpResult<axum::Json<Setting>> {
    Ok(axum::Json(s.engine.settings_get(&c, &name)?))
}

/// Change a setting (administrators).
#[utoipa::path(put, path = "/api/v1/settings/{name}", tag = "system", security(("bearer" = [])), params(("name" = String, Path)),
    request_body = SettingUpdate,
    responses((status = 200, body = Setting), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn set_setting(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
    Json(req): Json<SettingUpdate>,
) -> HttpResult<axum::Json<Setting>> {
    Ok(axum::Json(s.engine.settings_set(&c, &name, req.value).await?))
}

/// The caller's dashboard: tiles, recent activity, day-by-day history.
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = Dashboard), (status = 401, body = ApiError)))]
pub async fn dashboard(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Dashboard>> {
    Ok(axum::Json(s.engine.dashboard(&c).await?))
}
