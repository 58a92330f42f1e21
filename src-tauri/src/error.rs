//! The one error type of the desktop side: what every Tauri command returns on failure.
//!
//! It crosses to the page as JSON (`{"kind": "core", "code": "not_found", "message": "…"}`): the
//! core's own code and message when the core refused something, otherwise what went wrong here
//! in words a person understands. Never a bare string.

use serde::Serialize;
use wintermute_api::client::ClientError;
use wintermute_api::ErrorCode;

/// Where a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The core answered with an error: `code` and `message` are the core's.
    Core,
    /// The core could not be reached, or answered something that is not its API.
    Unreachable,
    /// The embedded core could not start.
    EmbeddedCore,
    /// The OS keyring refused or did not answer.
    Keyring,
    /// A file or folder on this computer could not be read or written.
    Io,
    /// The request itself is not valid (an empty URL, passwords that differ, …).
    Invalid,
    /// The person closed the file picker without choosing.
    Cancelled,
    /// A window could not be opened.
    Window,
}

/// A failed desktop command, as the page receives it.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct DesktopError {
    pub kind: ErrorKind,
    /// The core's error code (only for [`ErrorKind::Core`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl DesktopError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> DesktopError {
        DesktopError { kind, code: None, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> DesktopError {
        DesktopError::new(ErrorKind::Invalid, message)
    }

    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> DesktopError {
        DesktopError::new(ErrorKind::Io, format!("{what}: {e}"))
    }
}

impl From<ClientError> for DesktopError {
    fn from(e: ClientError) -> DesktopError {
        match e {
            ClientError::Api(api) => {
                let mut message = api.message;
                if let Some(f) = api.field.filter(|f| !message.contains(f.as_str())) {
                    message = format!("{message} (field: {f})");
                }
                DesktopError { kind: ErrorKind::Core, code: Some(api.code), message }
            }
            ClientError::Transport { url, .. } => {
                // The core's address, not the API route that was called.
                let core = url::Url::parse(&url).map(|u| u.origin().ascii_serialization()).unwrap_or(url);
                DesktopError::new(ErrorKind::Unreachable, format!("The core at {core} cannot be reached."))
            }
            ClientError::Unexpected { status, .. } => DesktopError::new(
                ErrorKind::Unreachable,
                format!("This address answered, but not as a Wintermute core does (HTTP {status})."),
            ),
            ClientError::BadUrl(url, why) => {
                DesktopError::invalid(format!("{url} is not a usable core address: {why}"))
            }
        }
    }
}

impl From<wintermute_api::tar::TarError> for DesktopError {
    fn from(e: wintermute_api::tar::TarError) -> DesktopError {
        DesktopError::invalid(format!("The instance's answer cannot be read: {e}"))
    }
}

impl From<tauri::Error> for DesktopError {
    fn from(e: tauri::Error) -> DesktopError {
        DesktopError::new(ErrorKind::Window, format!("The window could not be opened: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_core_error_keeps_the_cores_code_and_message() {
        let api = wintermute_api::ApiError::new(ErrorCode::NotFound, "instance 7 does not exist");
        let e = DesktopError::from(ClientError::Api(api));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "core", "code": "not_found", "message": "instance 7 does not exist"})
        );
    }

    #[test]
    fn a_local_error_has_no_code() {
        let json = serde_json::to_value(DesktopError::invalid("the passwords differ")).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "invalid", "message": "the passwords differ"}));
    }
}
