//! `/api/v1/objects` and `/api/v1/rights`: the object-rights mechanism ("Edit security").

use axum::extract::State;
use serde::Deserialize;
use wintermute_api::rights::{ObjectKind, ObjectSecurity, ObjectSummary, RightChange, RightSet};
use wintermute_api::ApiError;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ObjectsQuery {
    /// Only objects of this kind.
    pub kind: Option<ObjectKind>,
}

/// Objects the caller may view, with the caller's rights on each.
#[utoipa::path(get, path = "/api/v1/objects", tag = "rights", security(("bearer" = [])), params(ObjectsQuery),
    responses((status = 200, body = [ObjectSummary]), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn objects(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<ObjectsQuery>,
) -> HttpResult<axum::Json<Vec<ObjectSummary>>> {
    Ok(axum::Json(s.engine.objects_list(&c, q.kind).await?))
}

/// Owner and group rights of an object (needs the view right on it).
#[utoipa::path(get, path = "/api/v1/rights/{kind}/{id}", tag = "rights", security(("bearer" = [])),
    params(("kind" = ObjectKind, Path), ("id" = i64, Path)),
    responses((status = 200, body = ObjectSecurity), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn security(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path((kind, id)): Path<(ObjectKind, i64)>,
) -> HttpResult<axum::Json<ObjectSecurity>> {
    Ok(axum::Json(s.engine.object_security(&c, kind, id).await?))
}

/// Replace the rights of one group on an object (owner or administrator).
#[utoipa::path(put, path = "/api/v1/rights/{kind}/{id}/groups/{group_id}", tag = "rights", security(("bearer" = [])),
    params(("kind" = ObjectKind, Path), ("id" = i64, Path), ("group_id" = i64, Path)), request_body = RightSet,
    responses((status = 200, body = ObjectSecurity), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn set_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path((kind, id, group)): Path<(ObjectKind, i64, i64)>,
    Json(req): Json<RightSet>,
) -> HttpResult<axum::Json<ObjectSecurity>> {
    Ok(axum::Json(s.engine.set_group_rights(&c, kind, id, group, &req).await?))
}

/// Grant one right to one group on one object (owner or administrator).
#[utoipa::path(post, path = "/api/v1/rights/grant", tag = "rights", security(("bearer" = [])), request_body = RightChange,
    responses((status = 200, body = ObjectSecurity), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn grant(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<RightChange>,
) -> HttpResult<axum::Json<ObjectSecurity>> {
    Ok(axum::Json(s.engine.change_right(&c, &req, true).await?))
}

/// Revoke one right of one group on one object (owner or administrator).
#[utoipa::path(post, path = "/api/v1/rights/revoke", tag = "rights", security(("bearer" = [])), request_body = RightChange,
    responses((status = 200, body = ObjectSecurity), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn revoke(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<RightChange>,
) -> HttpResult<axum::Json<ObjectSecurity>> {
    Ok(axum::Json(s.engine.change_right(&c, &req, false).await?))
}
