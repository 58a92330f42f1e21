//! Every failure leaves the server as `{"code", "message"}` with the code's HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use wintermute_api::{ApiError, ErrorCode};
use wintermute_core::CoreError;

/// An API error on its way to the client.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

pub type HttpResult<T> = Result<T, HttpError>;

impl HttpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> HttpError {
        HttpError(ApiError::new(code, message))
    }
}

impl From<CoreError> for HttpError {
    fn from(e: CoreError) -> Self {
        let api = e.to_api();
        if api.code == ErrorCode::Internal || api.code == ErrorCode::ServiceUnavailable {
            tracing::error!("request failed: {e}");
        }
        HttpError(api)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.0.retry_after;
        let mut resp = (status, axum::Json(self.0)).into_response();
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
