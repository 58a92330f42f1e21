//! SSH keys of users, host keys of instances, the master key, backup and restore.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use wintermute_api::keys::decode_passphrase_header;
use wintermute_api::keys::{
    BackupRequest, HostKey, KeyStatus, RestoreSummary, SshKeyExportRequest, SshPrivateKey, SshPublicKey,
    BACKUP_PASSPHRASE_HEADER,
};
use wintermute_api::tasks::Task;
use wintermute_api::{ApiError, ErrorCode};

use crate::error::{HttpError, HttpResult};
use crate::extract::{Authed, Json, Path};
use crate::state::AppState;

/// A user's public SSH key (one's own; anybody's for administrators). Made on first use.
#[utoipa::path(get, path = "/api/v1/users/{id}/ssh-key", tag = "keys", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = SshPublicKey), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn ssh_key(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<SshPublicKey>> {
    Ok(axum::Json(s.engine.ssh_public_key(&c, id).await?))
}

/// Export a private SSH key: one's own with "download SSH keys", anybody's for administrators. Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/ssh-key/export", tag = "keys", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = SshKeyExportRequest,
    responses((status = 200, body = SshPrivateKey), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn ssh_export(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Json(req): Json<SshKeyExportRequest>,
) -> HttpResult<axum::Json<SshPrivateKey>> {
    Ok(axum::Json(s.engine.ssh_export(&c, id, req.passphrase.as_deref()).await?))
}

/// Replace a user's SSH key pair (administrators). Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/ssh-key/rotate", tag = "keys", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = SshPublicKey), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn ssh_rotate(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<SshPublicKey>> {
    Ok(axum::Json(s.engine.ssh_rotate(&c, id).await?))
}

/// Retry handing a rotated key over to the user's instances (administrators). The old key is
/// kept until the new one is on every instance.
#[utoipa::path(post, path = "/api/v1/users/{id}/ssh-key/push", tag = "keys", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn ssh_push(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.ssh_push(&c, id).await?)))
}

/// The host key pinned for an instance, and a different one it offered since, if any.
#[utoipa::path(get, path = "/api/v1/instances/{id}/host-key", tag = "keys", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = HostKey), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn host_key(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<HostKey>> {
    Ok(axum::Json(s.engine.host_key(&c, id).await?))
}

/// Accept the different host key an instance offered (administrators). Audited.
#[utoipa::path(post, path = "/api/v1/instances/{id}/host-key/accept", tag = "keys", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = HostKey), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn accept_host_key(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<HostKey>> {
    Ok(axum::Json(s.engine.accept_host_key(&c, id).await?))
}

/// The master key's state (administrators).
#[utoipa::path(get, path = "/api/v1/admin/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyStatus), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn key_status(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<KeyStatus>> {
    Ok(axum::Json(s.engine.key_status_full(&c).await?))
}

/// Rotate the master key online, as a task (administrators).
#[utoipa::path(post, path = "/api/v1/admin/keys/rotate", tag = "keys", security(("bearer" = [])),
    responses((status = 202, body = Task), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
pub async fn rotate(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<(StatusCode, axum::Json<Task>)> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.engine.start_master_key_rotation(&c).await?)))
}

fn scratch_file(s: &AppState, what: &str) -> std::path::PathBuf {
    let n: u64 = rand_suffix();
    s.engine.config().storage.data_dir.join(format!(".{what}-{n:016x}.tmp"))
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (t as u64) ^ (std::process::id() as u64).rotate_left(32)
}

/// Removes a scratch file when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An encrypted backup of the whole core: database and key material (administrators). The
/// answer is the archive (application/octet-stream).
#[utoipa::path(post, path = "/api/v1/admin/backup", tag = "keys", security(("bearer" = [])), request_body = BackupRequest,
    responses((status = 200, description = "the encrypted archive", content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub async fn backup(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<BackupRequest>,
) -> HttpResult<Response> {
    let scratch = Scratch(scratch_file(&s, "backup"));
    s.engine.backup_to_file(&c, &req.passphrase, &scratch.0).await?;
    let file = tokio::fs::File::open(&scratch.0)
        .await
        .map_err(|e| HttpError::new(ErrorCode::Internal, format!("backup file: {e}")))?;
    // The open file stays readable after the name is removed.
    drop(scratch);
    let stream = tokio_util::io::ReaderStream::new(file);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_DISPOSITION, "attachment; filename=\"wintermute.backup\"")
        .body(Body::from_stream(stream))
        .map_err(|e| HttpError::new(ErrorCode::Internal, e.to_string()))
}

/// Restore a backup into this core, which must be fresh (administrators). The body is the
/// archive; the passphrase goes base64-encoded in the `X-Wintermute-Backup-Passphrase` header.
/// Login sessions of the backup are revoked (people log in again); API tokens stay valid.
#[utoipa::path(post, path = "/api/v1/admin/restore", tag = "keys", security(("bearer" = [])),
    params(("x-wintermute-backup-passphrase" = String, Header, description = "the backup's passphrase, base64-encoded")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = RestoreSummary), (status = 401, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn restore(
    State(s): State<AppState>,
    Authed(c): Authed,
    headers: HeaderMap,
    req: Request,
) -> HttpResult<axum::Json<RestoreSummary>> {
    if !c.is_admin {
        return Err(wintermute_core::CoreError::forbidden("only administrators restore backups").into());
    }
    s.engine.require_fresh().await?;
    let passphrase = headers
        .get(BACKUP_PASSPHRASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(decode_passphrase_header)
        .map(zeroize::Zeroizing::new)
        .ok_or_else(|| {
            HttpError(ApiError::field(
                ErrorCode::InvalidField,
                "passphrase",
                format!("send the passphrase base64-encoded in the {BACKUP_PASSPHRASE_HEADER} header"),
            ))
        })?;
    let scratch = Scratch(scratch_file(&s, "restore"));
    let mut file = tokio::fs::File::create(&scratch.0)
        .await
        .map_err(|e| HttpError::new(ErrorCode::Internal, format!("restore file: {e}")))?;
    let limit = s.engine.config().server.restore_limit_bytes;
    let mut size: u64 = 0;
    let mut body = req.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| HttpError::new(ErrorCode::InvalidBody, format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(HttpError::new(
                ErrorCode::PayloadTooLarge,
                "the backup is larger than this core accepts (server.restore_limit_bytes)",
            ));
        }
        file.write_all(&chunk).await.map_err(|e| HttpError::new(ErrorCode::Internal, format!("restore file: {e}")))?;
    }
    file.flush().await.map_err(|e| HttpError::new(ErrorCode::Internal, format!("restore file: {e}")))?;
    drop(file);
    Ok(axum::Json(s.engine.restore_from_file(&c, &passphrase, &scratch.0).await?))
}
