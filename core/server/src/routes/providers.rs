//! `/api/v1/providers` and `/api/v1/images`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use wintermute_api::providers::{
    Image, ImageCandidate, ImagePatch, ImportImage, LocalImageRequest, NewProvider, Provider, ProviderPatch,
};
use wintermute_api::tasks::Task;
use wintermute_api::ApiError;

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path, Query};
use crate::state::AppState;

/// Providers the caller may use ("view provider configuration").
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", security(("bearer" = [])),
    responses((status = 200, body = [Provider]), (status = 401, body = ApiError)))]
pub async fn list(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<Provider>>> {
    Ok(axum::Json(s.engine.providers_list(&c).await?))
}

/// Configure a provider account (administrators). The secret access key is sealed at once.
#[utoipa::path(post, path = "/api/v1/providers", tag = "providers", security(("bearer" = [])), request_body = NewProvider,
    responses((status = 201, body = Provider), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewProvider>,
) -> HttpResult<(StatusCode, axum::Json<Provider>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.providers_create(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/providers/{id}", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Provider), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Provider>> {
    Ok(axum::Json(s.engine.providers_get(&c, id).await?))
}

/// Change a provider, its credentials, allowed regions and instance types (administrators).
#[utoipa::path(patch, path = "/api/v1/providers/{id}", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ProviderPatch,
    responses((status = 200, body = Provider), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<ProviderPatch>,
) -> HttpResult<axum::Json<Provider>> {
    Ok(axum::Json(s.engine.providers_update(&c, id, &req).await?))
}

/// Remove a provider without images or instances (administrators).
#[utoipa::path(delete, path = "/api/v1/providers/{id}", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn delete(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<StatusCode> {
    s.engine.providers_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Synchronize configuration": check the credentials, load regions and instance types (a task).
#[utoipa::path(post, path = "/api/v1/providers/{id}/sync", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn sync(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.providers_sync(&c, id).await?)))
}

/// Build an image by recipe (`debian-12`), or import a qcow2/raw disk image file of the core's
/// host, into a local provider's catalogue, disabled (administrators). A task with the steps in
/// its log. Refused at once: a provider that is not local, an unknown recipe, a path that is not
/// a disk image, a host without the programs it needs (the message names their packages).
#[utoipa::path(post, path = "/api/v1/providers/{id}/local-images", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = LocalImageRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn local_images(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<LocalImageRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.local_images_start(&c, id, &req).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageSearch {
    /// An allowed region of the provider.
    pub region: String,
    /// `image_id:ami-…` (several ids separated by commas) or text the image's name contains.
    pub q: String,
}

/// Search a provider's image registry ("import images" on the provider).
#[utoipa::path(get, path = "/api/v1/providers/{id}/images", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path), ImageSearch),
    responses((status = 200, body = [ImageCandidate]), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn search_images(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<ImageSearch>,
) -> HttpResult<axum::Json<Vec<ImageCandidate>>> {
    Ok(axum::Json(s.engine.images_search(&c, id, &q.region, &q.q).await?))
}

/// Images the caller may view (disabled ones only for those who may change them).
#[utoipa::path(get, path = "/api/v1/images", tag = "providers", security(("bearer" = [])),
    responses((status = 200, body = [Image]), (status = 401, body = ApiError)))]
pub async fn list_images(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<Image>>> {
    Ok(axum::Json(s.engine.images_list(&c).await?))
}

/// Import an image from a provider's registry, disabled ("import images" on the provider).
#[utoipa::path(post, path = "/api/v1/images", tag = "providers", security(("bearer" = [])), request_body = ImportImage,
    responses((status = 201, body = Image), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn import_image(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<ImportImage>,
) -> HttpResult<(StatusCode, axum::Json<Image>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.images_import(&c, &req).await?)))
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Image), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_image(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<Image>> {
    Ok(axum::Json(s.engine.images_get(&c, id).await?))
}

/// Edit an image: name, OS type, description, login user, enabled ("change image").
#[utoipa::path(patch, path = "/api/v1/images/{id}", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ImagePatch,
    responses((status = 200, body = Image), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn update_image(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<ImagePatch>,
) -> HttpResult<axum::Json<Image>> {
    Ok(axum::Json(s.engine.images_update(&c, id, &req).await?))
}

/// Remove an image from the core's list ("change image").
#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "providers", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_image(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<StatusCode> {
    s.engine.images_delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
