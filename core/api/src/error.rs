//! The error body every failing call returns: `{"code", "message"}` with a stable code.

use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes. Clients match on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No or an invalid/expired token.
    Unauthorized,
    /// Login or password wrong.
    InvalidCredentials,
    /// The account exists but is disabled.
    AccountDisabled,
    /// Too many failed logins; retry later.
    TooManyAttempts,
    /// The caller must change their password before doing anything else.
    PasswordChangeRequired,
    /// The caller lacks the right for this action.
    Forbidden,
    /// The object does not exist or the caller may not see it.
    NotFound,
    /// The object already exists or is in a state that forbids the action.
    Conflict,
    /// The body is not valid JSON.
    InvalidJson,
    /// The body is JSON but not of the expected shape (wrong type, unknown or missing field).
    InvalidBody,
    /// A field has a value that is not allowed; `field` names it.
    InvalidField,
    /// The password is too weak.
    WeakPassword,
    /// The body is larger than the core accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The task is already finished and cannot be cancelled.
    NotCancellable,
    /// A dependency of the core (database, key store) is unavailable.
    ServiceUnavailable,
    /// A sealed secret failed its integrity check: it was modified or its key is missing.
    IntegrityError,
    /// An instance offered a different SSH host key than the one pinned at first contact.
    HostKeyChanged,
    /// The passphrase does not open this backup (or key).
    WrongPassphrase,
    /// A usage limit an administrator set (running instances, volume size) would be exceeded.
    LimitExceeded,
    /// An unexpected failure inside the core; the message says where to look.
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code is sent with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized | ErrorCode::InvalidCredentials => 401,
            ErrorCode::AccountDisabled
            | ErrorCode::PasswordChangeRequired
            | ErrorCode::Forbidden
            | ErrorCode::LimitExceeded => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::NotCancellable | ErrorCode::HostKeyChanged => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::InvalidJson
            | ErrorCode::InvalidBody
            | ErrorCode::InvalidField
            | ErrorCode::WeakPassword
            | ErrorCode::WrongPassphrase => 422,
            ErrorCode::TooManyAttempts => 429,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::Internal | ErrorCode::IntegrityError => 500,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::PasswordChangeRequired => "password_change_required",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotCancellable => "not_cancellable",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::IntegrityError => "integrity_error",
            ErrorCode::HostKeyChanged => "host_key_changed",
            ErrorCode::WrongPassphrase => "wrong_passphrase",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ApiError {
    pub code: ErrorCode,
    /// What went wrong, in words a person understands.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying (`too_many_attempts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), field: None, retry_after: None }
    }

    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), field: Some(field.into()), retry_after: None }
    }
}
