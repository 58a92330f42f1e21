//! Data sync (7.3.6, 7.4.1): upload and download tasks between the caller's data directory on the
//! core and an instance or volume, and files streamed between a workstation and an instance
//! through the core.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wintermute_api::sync::{Deleted, FileList, FileProgress, FileSums, RemoteTree, TarUpload, TransferRequest};
use wintermute_api::tasks::Task;
use wintermute_api::ApiError;
use wintermute_core::sync::{Direction, FileMeta};

use crate::error::HttpResult;
use crate::extract::{Authed, Json, Path, Query};
use crate::state::AppState;

/// Upload from the caller's data directory on the core to the instance ("upload data"); a task
/// with live progress. Only new or changed files move; a trailing `/` on the source means its
/// contents.
#[utoipa::path(post, path = "/api/v1/instances/{id}/upload", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TransferRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn upload(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<TransferRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    let task = s.engine.start_instance_transfer(&c, id, Direction::Upload, &req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(task)))
}

/// Download from the instance into the caller's data directory on the core ("download data");
/// a task.
#[utoipa::path(post, path = "/api/v1/instances/{id}/download", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TransferRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn download(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<TransferRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    let task = s.engine.start_instance_transfer(&c, id, Direction::Download, &req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(task)))
}

/// Upload to a volume: the instance path is relative to the volume's mount point on the
/// instance it is attached to; a task.
#[utoipa::path(post, path = "/api/v1/volumes/{id}/upload", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TransferRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn volume_upload(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<TransferRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    let task = s.engine.start_volume_transfer(&c, id, Direction::Upload, &req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(task)))
}

/// Download from a volume (paths relative to its mount point); a task.
#[utoipa::path(post, path = "/api/v1/volumes/{id}/download", tag = "volumes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TransferRequest,
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn volume_download(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<TransferRequest>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    let task = s.engine.start_volume_transfer(&c, id, Direction::Download, &req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(task)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    /// A full path on the instance (or `~/…`).
    pub path: String,
}

/// The tree under a path on the instance, with partial copies left by cut uploads (either data
/// right): what a workstation compares its files with before sending.
#[utoipa::path(get, path = "/api/v1/instances/{id}/files", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path), PathQuery),
    responses((status = 200, body = RemoteTree), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn files(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<PathQuery>,
) -> HttpResult<axum::Json<RemoteTree>> {
    Ok(axum::Json(s.engine.instance_files(&c, id, &q.path).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PutQuery {
    /// The file's full path on the instance.
    pub path: String,
    /// Bytes the partial copy holds already (0 for a new file); the body is the rest or a part.
    #[serde(default)]
    pub offset: u64,
    /// The file's whole size.
    pub size: u64,
    /// Its modification time: seconds since 1970 and nanoseconds.
    pub mtime: i64,
    #[serde(default)]
    pub mtime_nsec: u32,
    /// Permission bits (e.g. 420 for 0644).
    pub mode: u32,
}

/// Streams a file, or the next piece of it, from a workstation to the instance ("upload data").
/// The body is appended to the file's partial copy, which must hold `offset` bytes (409
/// otherwise: list again and resume); when it holds `size` bytes the file gets its mode and
/// time and is put in place.
#[utoipa::path(put, path = "/api/v1/instances/{id}/files", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path), PutQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = FileProgress), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn put_file(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<PutQuery>,
    body: Body,
) -> HttpResult<axum::Json<FileProgress>> {
    let meta = FileMeta { size: q.size, mtime: (q.mtime, q.mtime_nsec.min(999_999_999)), mode: q.mode & 0o7777 };
    Ok(axum::Json(s.engine.instance_file_put(&c, id, &q.path, q.offset, meta, body.into_data_stream()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// The file's full path on the instance.
    pub path: String,
    /// Start at this byte (to resume a cut download).
    #[serde(default)]
    pub offset: u64,
}

/// Streams a file of the instance to a workstation from byte `offset` on ("download data").
#[utoipa::path(get, path = "/api/v1/instances/{id}/files/content", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path), GetQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn get_file(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<GetQuery>,
) -> HttpResult<Response> {
    let rx = s.engine.instance_file_get(&c, id, &q.path, q.offset).await?;
    Ok(streamed("application/octet-stream", rx))
}

/// A response whose body is what `rx` yields; an error cuts the body short (the client sees an
/// incomplete response, never a shortened file taken as whole).
fn streamed(
    content_type: &'static str,
    rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, String>>,
) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map_err(std::io::Error::other), rx))
    });
    ([(header::CONTENT_TYPE, content_type)], Body::from_stream(stream)).into_response()
}

/// Streams a tar archive (POSIX pax) of files and directories from a workstation into the
/// directory `path` on the instance ("upload data"), made if missing: many files in one request,
/// with modes and times kept, directories (empty ones too) included. The stream goes through to
/// `tar -x` on the instance as it arrives; anything but regular files and directories with
/// relative names inside is refused (422). Large files are better sent with
/// `PUT …/files`, which resumes.
#[utoipa::path(put, path = "/api/v1/instances/{id}/files/tar", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path), PathQuery),
    request_body(content = Vec<u8>, content_type = "application/x-tar"),
    responses((status = 200, body = TarUpload), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn put_tar(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<PathQuery>,
    body: Body,
) -> HttpResult<axum::Json<TarUpload>> {
    Ok(axum::Json(s.engine.instance_tar_put(&c, id, &q.path, body.into_data_stream()).await?))
}

/// The named files under a directory of the instance as one tar stream (POSIX pax, with modes
/// and times; "download data").
#[utoipa::path(post, path = "/api/v1/instances/{id}/files/tar", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = FileList,
    responses((status = 200, content_type = "application/x-tar", body = Vec<u8>), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn get_tar(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(list): Json<FileList>,
) -> HttpResult<Response> {
    let rx = s.engine.instance_tar_get(&c, id, &list).await?;
    Ok(streamed("application/x-tar", rx))
}

/// Deletes the named files and directories under a directory of the instance ("upload data"):
/// what a sync with delete removes there.
#[utoipa::path(post, path = "/api/v1/instances/{id}/files/delete", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = FileList,
    responses((status = 200, body = Deleted), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn delete_files(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(list): Json<FileList>,
) -> HttpResult<axum::Json<Deleted>> {
    Ok(axum::Json(Deleted { deleted: s.engine.instance_files_delete(&c, id, &list).await? }))
}

/// The SHA-256 of the named files under a directory of the instance (either data right): what
/// a sync by checksum compares.
#[utoipa::path(post, path = "/api/v1/instances/{id}/files/sums", tag = "instances", security(("bearer" = [])), params(("id" = i64, Path)), request_body = FileList,
    responses((status = 200, body = FileSums), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn file_sums(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(list): Json<FileList>,
) -> HttpResult<axum::Json<FileSums>> {
    Ok(axum::Json(FileSums { sums: s.engine.instance_files_sums(&c, id, &list).await? }))
}
