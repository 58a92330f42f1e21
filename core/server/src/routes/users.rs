//! `/api/v1/users` and `/api/v1/groups`.

use axum::extract::State;
use axum::http::StatusCode;
use wintermute_api::users::{Group, GroupPatch, NewGroup, NewUser, PermissionSet, User, UserPatch};
use wintermute_api::ApiError;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path};
use crate::state::AppState;

/// Users the caller may see: everybody for user managers, oneself otherwise.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [User]), (status = 401, body = ApiError)))]
pub async fn list(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<User>>> {
    Ok(axum::Json(s.engine.users_list(&c).await?))
}

/// Create a user ("create user" permission). The password is temporary.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = User), (status = 401, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewUser>,
) -> HttpResult<(StatusCode, axum::Json<User>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.users_create(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<axum::Json<User>> {
    Ok(axum::Json(s.engine.users_get(&c, id).await?))
}

/// Change a user: one's own profile, or anybody's with "change user".
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)), request_body = UserPatch,
    responses((status = 200, body = User), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<UserPatch>,
) -> HttpResult<axum::Json<User>> {
    Ok(axum::Json(s.engine.users_update(&c, id, &req).await?))
}

/// Delete a user who owns nothing ("change user").
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn delete(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<StatusCode> {
    s.engine.users_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a user's global permissions ("Edit security" of a user).
#[utoipa::path(put, path = "/api/v1/users/{id}/permissions", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = PermissionSet,
    responses((status = 200, body = User), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn set_permissions(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<PermissionSet>,
) -> HttpResult<axum::Json<User>> {
    Ok(axum::Json(s.engine.users_set_permissions(&c, id, &req).await?))
}

/// Groups the caller may see.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = [Group]), (status = 401, body = ApiError)))]
pub async fn list_groups(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<Group>>> {
    Ok(axum::Json(s.engine.groups_list(&c).await?))
}

/// Create a group ("change user").
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])), request_body = NewGroup,
    responses((status = 201, body = Group), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewGroup>,
) -> HttpResult<(StatusCode, axum::Json<Group>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.groups_create(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Group), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Group>> {
    Ok(axum::Json(s.engine.groups_get(&c, id).await?))
}

/// Rename a group, change its description or replace its members ("change user").
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", security(("bearer" = [])), params(("id" = i64, Path)), request_body = GroupPatch,
    responses((status = 200, body = Group), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<GroupPatch>,
) -> HttpResult<axum::Json<Group>> {
    Ok(axum::Json(s.engine.groups_update(&c, id, &req).await?))
}

/// Delete a group and the rights granted to it ("change user").
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_group(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<StatusCode> {
    s.engine.groups_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
