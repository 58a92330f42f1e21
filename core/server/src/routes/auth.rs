//! `/api/v1/auth/*`: login, logout, password, personal API tokens, who am I.

use axum::extract::State;
use axum::http::StatusCode;
use wintermute_api::auth::{
    ApiToken, ChangePasswordRequest, CreatedApiToken, LoginRequest, LoginResponse, NewApiToken,
};
use wintermute_api::users::User;
use wintermute_api::ApiError;

use crate::error::HttpResult;
use crate::extract::{Authed, AuthedAny, ClientAddr, Json, Path};
use crate::state::AppState;

/// Log in with login and password; answers a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials", body = ApiError),
              (status = 403, description = "account_disabled", body = ApiError), (status = 429, description = "too_many_attempts", body = ApiError)))]
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> HttpResult<axum::Json<LoginResponse>> {
    Ok(axum::Json(s.engine.login(&req.login, &req.password, addr.as_deref()).await?))
}

/// Revoke the token of this call.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ApiError)))]
pub async fn logout(State(s): State<AppState>, AuthedAny(c): AuthedAny) -> HttpResult<StatusCode> {
    s.engine.logout(&c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change one's own password (also while a temporary password must be replaced).
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = ApiError), (status = 422, description = "weak_password or wrong current password", body = ApiError)))]
pub async fn change_password(
    State(s): State<AppState>,
    AuthedAny(c): AuthedAny,
    Json(req): Json<ChangePasswordRequest>,
) -> HttpResult<StatusCode> {
    s.engine.change_own_password(&c, &req.current_password, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The calling user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ApiError)))]
pub async fn me(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<User>> {
    Ok(axum::Json(s.engine.users_get(&c, c.user_id).await?))
}

/// The caller's personal API tokens.
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = [ApiToken]), (status = 401, body = ApiError)))]
pub async fn list_tokens(State(s): State<AppState>, Authed(c): Authed) -> HttpResult<axum::Json<Vec<ApiToken>>> {
    Ok(axum::Json(s.engine.list_api_tokens(&c).await?))
}

/// Create a personal API token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])), request_body = NewApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create_token(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewApiToken>,
) -> HttpResult<(StatusCode, axum::Json<CreatedApiToken>)> {
    Ok((StatusCode::CREATED, axum::Json(s.engine.create_api_token(&c, &req).await?)))
}

/// Revoke one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn revoke_token(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<StatusCode> {
    s.engine.revoke_api_token(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
