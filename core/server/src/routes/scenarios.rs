//! `/api/v1/scenarios` (user defined scripts, manual 6.6) and `/api/v1/templates` (cloud
//! templates, 7.3.3–7.3.5).

use axum::extract::State;
use axum::http::StatusCode;
use wintermute_api::instances::Launch;
use wintermute_api::scenarios::{NewScript, NewTemplate, Script, ScriptPatch, Template, TemplateLaunch};
use wintermute_api::ApiError;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path};
use crate::state::AppState;

/// Scripts the caller may use or edit: their own, shared ones, and those shared with a group.
#[utoipa::path(get, path = "/api/v1/scenarios", tag = "scenarios", security(("bearer" = [])),
    responses((status = 200, body = [Script]), (status = 401, body = ApiError)))]
pub async fn list(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<Script>>> {
    Ok(axum::Json(s.engine.scripts_list(&c).await?))
}

/// Create a script (the "create UDS" permission).
#[utoipa::path(post, path = "/api/v1/scenarios", tag = "scenarios", security(("bearer" = [])), request_body = NewScript,
    responses((status = 201, body = Script), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewScript>,
) -> HttpResult<(StatusCode, axum::Json<Script>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.scripts_create(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/scenarios/{id}", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Script), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<axum::Json<Script>> {
    Ok(axum::Json(s.engine.scripts_get(&c, id).await?))
}

/// Edit a script ("change UDS"); sharing it with every user needs "create UDS".
#[utoipa::path(patch, path = "/api/v1/scenarios/{id}", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ScriptPatch,
    responses((status = 200, body = Script), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<ScriptPatch>,
) -> HttpResult<axum::Json<Script>> {
    Ok(axum::Json(s.engine.scripts_update(&c, id, &req).await?))
}

/// Delete a script ("change UDS"). Launches under way keep their copy.
#[utoipa::path(delete, path = "/api/v1/scenarios/{id}", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<StatusCode> {
    s.engine.scripts_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Templates the caller may view.
#[utoipa::path(get, path = "/api/v1/templates", tag = "scenarios", security(("bearer" = [])),
    responses((status = 200, body = [Template]), (status = 401, body = ApiError)))]
pub async fn list_templates(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<Template>>> {
    Ok(axum::Json(s.engine.templates_list(&c).await?))
}

/// Save a create-instance request as a template ("create instance template" on the provider of
/// its image). Passwords are not saved.
#[utoipa::path(post, path = "/api/v1/templates", tag = "scenarios", security(("bearer" = [])), request_body = NewTemplate,
    responses((status = 201, body = Template), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create_template(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewTemplate>,
) -> HttpResult<(StatusCode, axum::Json<Template>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.templates_create(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Template), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_template(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Template>> {
    Ok(axum::Json(s.engine.templates_get(&c, id).await?))
}

/// Replace a template's name and request ("change").
#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)), request_body = NewTemplate,
    responses((status = 200, body = Template), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn replace_template(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<NewTemplate>,
) -> HttpResult<axum::Json<Template>> {
    Ok(axum::Json(s.engine.templates_replace(&c, id, &req).await?))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_template(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<StatusCode> {
    s.engine.templates_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Launch a template as saved, with a new name, count and setup password when given ("create
/// instances" or "create instance from template" on the provider; every other launch check).
#[utoipa::path(post, path = "/api/v1/templates/{id}/launch", tag = "scenarios", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TemplateLaunch,
    responses((status = 202, body = Launch), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn launch_template(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<TemplateLaunch>,
) -> HttpResult<(StatusCode, axum::Json<Launch>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.templates_launch(&c, id, &req).await?)))
}
