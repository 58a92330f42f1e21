//! Errors of the engine. Each maps to one stable API error code.

use wintermute_api::{ApiError, ErrorCode};

/// Failures of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unreadable record in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("cannot prepare the database location {path}: {source}")]
    Location { path: String, source: std::io::Error },
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_foreign_key_violation())
    }
}

/// Everything an engine call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("wrong login or password")]
    InvalidCredentials,
    #[error("this account is disabled; ask an administrator")]
    AccountDisabled,
    #[error("too many failed logins; try again in {retry_after} seconds")]
    TooManyAttempts { retry_after: u64 },
    #[error("you must change your temporary password first (POST /api/v1/auth/password)")]
    PasswordChangeRequired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0}")]
    NotCancellable(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Custody(#[from] wintermute_custody::CustodyError),
    #[error(
        "instance {instance_id} offered SSH host key {offered}, but {expected} was pinned at first contact; \
         refusing to connect until an administrator accepts the change (POST /api/v1/instances/{instance_id}/host-key/accept)"
    )]
    HostKeyChanged { instance_id: i64, expected: String, offered: String },
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> CoreError {
        CoreError::InvalidField { field: field.into(), message: message.into() }
    }

    pub fn forbidden(message: impl Into<String>) -> CoreError {
        CoreError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> CoreError {
        CoreError::NotFound(message.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::Unauthorized(_) => ErrorCode::Unauthorized,
            CoreError::InvalidCredentials => ErrorCode::InvalidCredentials,
            CoreError::AccountDisabled => ErrorCode::AccountDisabled,
            CoreError::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            CoreError::PasswordChangeRequired => ErrorCode::PasswordChangeRequired,
            CoreError::Forbidden(_) => ErrorCode::Forbidden,
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::Conflict(_) => ErrorCode::Conflict,
            CoreError::InvalidField { .. } => ErrorCode::InvalidField,
            CoreError::WeakPassword(_) => ErrorCode::WeakPassword,
            CoreError::NotCancellable(_) => ErrorCode::NotCancellable,
            CoreError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            CoreError::Store(e) if e.is_unique_violation() => ErrorCode::Conflict,
            CoreError::Store(StoreError::Database(sqlx::Error::PoolTimedOut)) => ErrorCode::ServiceUnavailable,
            CoreError::Store(_) | CoreError::Internal(_) => ErrorCode::Internal,
            CoreError::HostKeyChanged { .. } => ErrorCode::HostKeyChanged,
            CoreError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            CoreError::Custody(c) => custody_code(c),
        }
    }

    /// The error as sent to clients. Internal details stay in the core's log.
    pub fn to_api(&self) -> ApiError {
        let code = self.code();
        let mut e = match (self, code) {
            (CoreError::Store(_), ErrorCode::Conflict) => {
                ApiError::new(code, "an object with this name already exists")
            }
            (CoreError::Store(_), ErrorCode::ServiceUnavailable) => {
                ApiError::new(code, "the database is busy; try again shortly")
            }
            (CoreError::Custody(_), ErrorCode::IntegrityError) => ApiError::new(
                code,
                "a stored secret failed its integrity check (modified, or sealed by a key this core does not hold); see the core's log",
            ),
            (CoreError::Store(_) | CoreError::Internal(_), _) => {
                ApiError::new(code, "internal error in the core; the core's log has the details")
            }
            _ => ApiError::new(code, self.to_string()),
        };
        if let CoreError::InvalidField { field, .. } = self {
            e.field = Some(field.clone());
        }
        if let CoreError::WeakPassword(_) = self {
            e.field = Some("password".into());
        }
        if let CoreError::TooManyAttempts { retry_after } = self {
            e.retry_after = Some(*retry_after);
        }
        e
    }
}

fn custody_code(e: &wintermute_custody::CustodyError) -> ErrorCode {
    use wintermute_custody::CustodyError as C;
    match e {
        C::Tampered { .. } | C::UnknownKey { .. } | C::BadFormat(_) => ErrorCode::IntegrityError,
        C::WrongPassphrase => ErrorCode::WrongPassphrase,
        C::KeyStoreUnavailable { .. }
        | C::NoMasterKey { .. }
        | C::KeyFileTooOpen { .. }
        | C::KeyFileWrongOwner { .. } => ErrorCode::ServiceUnavailable,
        C::KeyStoreReadOnly { .. } | C::KeyAlreadyExists { .. } => ErrorCode::Conflict,
        C::InvalidInput(_) => ErrorCode::InvalidField,
        _ => ErrorCode::Internal,
    }
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> Self {
        CoreError::Store(StoreError::Database(e))
    }
}
