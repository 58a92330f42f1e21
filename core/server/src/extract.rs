//! Request extractors whose failures are API errors: JSON bodies, path and query parameters, and
//! the authenticated caller.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use wintermute_api::ErrorCode;
use wintermute_core::Caller;

use crate::error::HttpError;
use crate::state::AppState;

/// A JSON object body. Malformed JSON, anything but an object, the wrong shape and oversize
/// bodies are typed API errors. (serde alone would accept `[]` for a struct.)
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(HttpError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                HttpError::new(ErrorCode::PayloadTooLarge, "the request body is larger than this core accepts")
            } else {
                HttpError::new(
                    ErrorCode::InvalidBody,
                    format!("the request body could not be read: {}", rej.body_text()),
                )
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| HttpError::new(ErrorCode::InvalidJson, format!("the request body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(HttpError::new(ErrorCode::InvalidBody, "the request body must be a JSON object"));
        }
        serde_path_to_error::deserialize(value).map(Json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = if path == "." { inner.to_string() } else { format!("{path}: {inner}") };
            HttpError::new(ErrorCode::InvalidBody, format!("the request body does not fit: {msg}"))
        })
    }
}

/// Path parameters; a malformed one (e.g. a non-numeric id) is `invalid_field`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rej) => Err(path_rejection(rej)),
        }
    }
}

fn path_rejection(rej: PathRejection) -> HttpError {
    let mut e = HttpError::new(ErrorCode::InvalidField, format!("a path parameter is malformed: {}", rej.body_text()));
    e.0.field = Some("path".into());
    e
}

/// Query parameters; unknown or malformed ones are `invalid_field`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rej) => Err(query_rejection(rej)),
        }
    }
}

fn query_rejection(rej: QueryRejection) -> HttpError {
    let mut e = HttpError::new(ErrorCode::InvalidField, format!("a query parameter is malformed: {}", rej.body_text()));
    e.0.field = Some("query".into());
    e
}

/// The client's address, for the audit log and the login throttle.
pub fn client_address(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string())
}

fn bearer(parts: &Parts) -> Option<String> {
    let h = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// Token from the Authorization header, or from `?token=` (browsers cannot set headers on WebSockets).
fn token_of(parts: &Parts, allow_query: bool) -> Option<String> {
    bearer(parts).or_else(|| {
        if !allow_query {
            return None;
        }
        parts.uri.query()?.split('&').find_map(|kv| kv.strip_prefix("token=").map(str::to_owned))
    })
}

async fn authenticate(parts: &Parts, state: &AppState, allow_query: bool) -> Result<Caller, HttpError> {
    let token = token_of(parts, allow_query)
        .ok_or_else(|| HttpError::new(ErrorCode::Unauthorized, "log in first: send Authorization: Bearer <token>"))?;
    Ok(state.engine.authenticate(&token, client_address(parts).as_deref()).await?)
}

/// A logged-in caller who has no temporary password left to change.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state, false).await?;
        if caller.must_change_password {
            return Err(wintermute_core::CoreError::PasswordChangeRequired.into());
        }
        Ok(Authed(caller))
    }
}

/// A logged-in caller who may still have to change a temporary password (password change, logout).
pub struct AuthedAny(pub Caller);

impl FromRequestParts<AppState> for AuthedAny {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AuthedAny(authenticate(parts, state, false).await?))
    }
}

/// Like `Authed`, also accepting `?token=` (WebSocket upgrades from browsers).
pub struct AuthedWs(pub Caller);

impl FromRequestParts<AppState> for AuthedWs {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state, true).await?;
        if caller.must_change_password {
            return Err(wintermute_core::CoreError::PasswordChangeRequired.into());
        }
        Ok(AuthedWs(caller))
    }
}

/// The client's address without authentication (login).
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(parts)))
    }
}
