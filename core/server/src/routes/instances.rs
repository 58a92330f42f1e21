//! `/api/v1/instances`, `/api/v1/volumes`, a provider's security groups and reconcile, and the
//! usage limits of users and groups.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use wintermute_api::instances::{
    ActionRequest, AllowedSecurityGroups, AttachVolume, BatchActionRequest, Instance, InstancePatch, Launch,
    LaunchRequest, Limits, LimitsView, NewVolume, SecurityGroup, Volume, VolumePatch,
};
use wintermute_api::tasks::Task;
use wintermute_api::ApiError;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path, Query};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Also list terminated instances (deleted volumes).
    #[serde(default)]
    pub all: bool,
}

/// Instances the caller may view, newest first.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = [Instance]), (status = 401, body = ApiError)))]
pub async fn list(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<ListQuery>,
) -> HttpResult<axum::Json<Vec<Instance>>> {
    Ok(axum::Json(s.engine.instances_list(&c, q.all).await?))
}

/// Launch instances ("Create" of 7.3.2). Every compliance check runs before any cloud call; the
/// launch itself is a task.
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", security(("bearer" = [])), request_body = LaunchRequest,
    responses((status = 202, body = Launch), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn launch(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<LaunchRequest>,
) -> HttpResult<(StatusCode, axum::Json<Launch>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.instances_launch(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Instance), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Instance>> {
    Ok(axum::Json(s.engine.instances_get(&c, id).await?))
}

/// Rename an instance or change its description ("change instance").
#[utoipa::path(patch, path = "/api/v1/instances/{id}", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = InstancePatch,
    responses((status = 200, body = Instance), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<InstancePatch>,
) -> HttpResult<axum::Json<Instance>> {
    Ok(axum::Json(s.engine.instances_update(&c, id, &req).await?))
}

/// Power off, power on, reboot or terminate an instance ("control instance"); a task.
#[utoipa::path(post, path = "/api/v1/instances/{id}/actions", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ActionRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn action(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<ActionRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.instances_action(&c, id, req.action).await?)))
}

/// One action on several instances (7.3.7); refused as a whole when one of them does not allow it.
#[utoipa::path(post, path = "/api/v1/instances/batch", tag = "instances", security(("bearer" = [])), request_body = BatchActionRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn batch(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<BatchActionRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.instances_batch(&c, &req.instance_ids, req.action).await?)))
}

/// Volumes the caller may view (7.4).
#[utoipa::path(get, path = "/api/v1/volumes", tag = "volumes", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = [Volume]), (status = 401, body = ApiError)))]
pub async fn list_volumes(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<ListQuery>,
) -> HttpResult<axum::Json<Vec<Volume>>> {
    Ok(axum::Json(s.engine.volumes_list(&c, q.all).await?))
}

/// Create a volume on its own ("create volume" on the provider).
#[utoipa::path(post, path = "/api/v1/volumes", tag = "volumes", security(("bearer" = [])), request_body = NewVolume,
    responses((status = 201, body = Volume), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn create_volume(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewVolume>,
) -> HttpResult<(StatusCode, axum::Json<Volume>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.volumes_create(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/volumes/{id}", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Volume), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_volume(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Volume>> {
    Ok(axum::Json(s.engine.volumes_get(&c, id).await?))
}

/// Rename a volume or set its mount point ("change volume").
#[utoipa::path(patch, path = "/api/v1/volumes/{id}", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = VolumePatch,
    responses((status = 200, body = Volume), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update_volume(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<VolumePatch>,
) -> HttpResult<axum::Json<Volume>> {
    Ok(axum::Json(s.engine.volumes_update(&c, id, &req).await?))
}

/// Delete a detached volume and its encryption key ("control volume").
#[utoipa::path(delete, path = "/api/v1/volumes/{id}", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn delete_volume(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<StatusCode> {
    s.engine.volumes_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Attach an available volume to an instance ("control" on both).
#[utoipa::path(post, path = "/api/v1/volumes/{id}/attach", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AttachVolume,
    responses((status = 200, body = Volume), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn attach_volume(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<AttachVolume>,
) -> HttpResult<axum::Json<Volume>> {
    Ok(axum::Json(s.engine.volumes_attach(&c, id, &req).await?))
}

/// Detach a volume from its instance ("control volume").
#[utoipa::path(post, path = "/api/v1/volumes/{id}/detach", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Volume), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn detach_volume(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Volume>> {
    Ok(axum::Json(s.engine.volumes_detach(&c, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegionQuery {
    /// An allowed region of the provider.
    pub region: String,
}

/// A region's security groups: all of them with their `allowed` flag for administrators, the ones
/// users may add for everyone else ("view" on the provider).
#[utoipa::path(get, path = "/api/v1/providers/{id}/security-groups", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path), RegionQuery),
    responses((status = 200, body = [SecurityGroup]), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn security_groups(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<RegionQuery>,
) -> HttpResult<axum::Json<Vec<SecurityGroup>>> {
    Ok(axum::Json(s.engine.security_groups_list(&c, id, &q.region).await?))
}

/// Choose the security groups users may add in a region (administrators).
#[utoipa::path(put, path = "/api/v1/providers/{id}/security-groups", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AllowedSecurityGroups,
    responses((status = 200, body = [SecurityGroup]), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn allow_security_groups(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<AllowedSecurityGroups>,
) -> HttpResult<axum::Json<Vec<SecurityGroup>>> {
    Ok(axum::Json(s.engine.security_groups_allow(&c, id, &req).await?))
}

/// Compare the core's records with the cloud and repair the drift (administrators; a task).
#[utoipa::path(post, path = "/api/v1/providers/{id}/reconcile", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn reconcile(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.providers_reconcile(&c, id).await?)))
}

/// A user's usage limits and what they use now (the user or administrators).
#[utoipa::path(get, path = "/api/v1/users/{id}/limits", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = LimitsView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn user_limits(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<LimitsView>> {
    Ok(axum::Json(s.engine.user_limits(&c, id).await?))
}

/// Set a user's usage limits (administrators); absent fields mean no limit.
#[utoipa::path(put, path = "/api/v1/users/{id}/limits", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)), request_body = Limits,
    responses((status = 200, body = LimitsView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn set_user_limits(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<Limits>,
) -> HttpResult<axum::Json<LimitsView>> {
    Ok(axum::Json(s.engine.set_user_limits(&c, id, &req).await?))
}

/// A group's usage limits and what its members use together (members or administrators).
#[utoipa::path(get, path = "/api/v1/groups/{id}/limits", tag = "groups", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = LimitsView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn group_limits(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<LimitsView>> {
    Ok(axum::Json(s.engine.group_limits(&c, id).await?))
}

/// Set a group's usage limits (administrators).
#[utoipa::path(put, path = "/api/v1/groups/{id}/limits", tag = "groups", security(("bearer" = [])), params(("id" = i64, Path)), request_body = Limits,
    responses((status = 200, body = LimitsView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn set_group_limits(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<Limits>,
) -> HttpResult<axum::Json<LimitsView>> {
    Ok(axum::Json(s.engine.set_group_limits(&c, id, &req).await?))
}
