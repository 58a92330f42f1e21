//! Exit codes of `wmai` and how an error maps to one. Scripts rely on these numbers:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | any other error (the core failed, an unexpected answer, a local I/O error...) |
//! | 2    | usage error: bad flags or arguments (clap), a bad core URL, a kind, right, permission or state name that does not exist, a password that cannot be read |
//! | 3    | not logged in: no token, or the token is invalid or expired (API code `unauthorized`); also a wrong login or password at `wmai login` (`invalid_credentials`) |
//! | 4    | forbidden (`forbidden`, `account_disabled`) or `password_change_required` (run `wmai passwd`) |
//! | 5    | not found (`not_found`, or a login, group name or id that does not exist) |
//! | 6    | invalid input (`invalid_field`, `invalid_body`, `invalid_json`, `weak_password`, `conflict`, `not_cancellable`, `wrong_passphrase`, `host_key_changed`, new passwords that do not match, an output file that exists) |
//! | 7    | the core cannot be reached |
//! | 10   | the followed task failed |
//! | 11   | the followed task was cancelled |
//!
//! `wmai ssh` is the exception, as `ssh` is: it exits with the remote command's (or shell's)
//! status, and with 255 when the session could not be opened or ended without a status.
//!
//! Errors print `error: <message> (<code>)` on stderr, with the API's message and code when the
//! core sent one.

use std::fmt;

use wintermute_api::client::ClientError;
use wintermute_api::ErrorCode;

/// The same table, for `wmai --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success
   1  any other error
   2  usage error (bad flags, arguments or names)
   3  not logged in, or the token is invalid or expired (also a wrong password at login)
   4  forbidden, or the password must be changed first (wmai passwd)
   5  not found (API object, login, group name or id)
   6  invalid input (invalid field/body/JSON, weak password, conflict, wrong passphrase,
      changed host key, an output file that exists without --force)
   7  the core cannot be reached
  10  the followed task failed
  11  the followed task was cancelled
  `wmai ssh` exits with the remote command's status, or 255 when the session failed.

Environment:
  WMAI_URL          core URL (default: the one of the last `wmai login`)
  WMAI_TOKEN        use this token (e.g. a personal API token) instead of the stored login
  WMAI_TOKEN_STORE  auto (default), keyring or file: where `wmai login` keeps the token
  WMAI_CONFIG_DIR   configuration directory (default: <OS config dir>/wintermute)";

/// A process exit status of `wmai`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    Error,
    Usage,
    NotLoggedIn,
    Forbidden,
    NotFound,
    Invalid,
    Unreachable,
    TaskFailed,
    TaskCancelled,
    /// `wmai ssh`: the remote command's exit status.
    Remote(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::NotLoggedIn => 3,
            Exit::Forbidden => 4,
            Exit::NotFound => 5,
            Exit::Invalid => 6,
            Exit::Unreachable => 7,
            Exit::TaskFailed => 10,
            Exit::TaskCancelled => 11,
            Exit::Remote(n) => n,
        }
    }
}

/// The exit status for an error code sent by the core.
pub fn for_api_code(code: ErrorCode) -> Exit {
    match code {
        ErrorCode::Unauthorized | ErrorCode::InvalidCredentials => Exit::NotLoggedIn,
        ErrorCode::Forbidden
        | ErrorCode::AccountDisabled
        | ErrorCode::PasswordChangeRequired
        | ErrorCode::LimitExceeded => Exit::Forbidden,
        ErrorCode::NotFound => Exit::NotFound,
        ErrorCode::InvalidField
        | ErrorCode::InvalidBody
        | ErrorCode::InvalidJson
        | ErrorCode::WeakPassword
        | ErrorCode::Conflict
        | ErrorCode::NotCancellable
        | ErrorCode::WrongPassphrase
        | ErrorCode::HostKeyChanged => Exit::Invalid,
        ErrorCode::IntegrityError
        | ErrorCode::TooManyAttempts
        | ErrorCode::PayloadTooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::MethodNotAllowed
        | ErrorCode::ServiceUnavailable
        | ErrorCode::Internal => Exit::Error,
    }
}

/// An error raised by the CLI itself, with its exit status and a short code for the message.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    pub fn new(exit: Exit, code: &'static str, message: impl Into<String>) -> CliError {
        CliError { exit, code, message: message.into() }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(Exit::Usage, "usage", message)
    }

    pub fn not_logged_in(message: impl Into<String>) -> CliError {
        CliError::new(Exit::NotLoggedIn, "not_logged_in", message)
    }

    pub fn not_found(message: impl Into<String>) -> CliError {
        CliError::new(Exit::NotFound, "not_found", message)
    }

    pub fn invalid(message: impl Into<String>) -> CliError {
        CliError::new(Exit::Invalid, "invalid_input", message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// What to tell the user about an error that ended a command, and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub exit: Exit,
    /// The `error: ...` line, without the `error: ` prefix; empty when nothing is to be said
    /// (a remote command's exit status).
    pub message: String,
    /// A second line with what to do about it.
    pub hint: Option<String>,
}

/// Classifies an error: the first [`CliError`] or [`ClientError`] in its chain decides.
pub fn report(err: &anyhow::Error) -> Report {
    if let Some(failure) = err.downcast_ref::<crate::commands::ssh::SshFailure>() {
        return Report { exit: Exit::Remote(255), ..report(&failure.0) };
    }
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            if e.message.is_empty() {
                return Report { exit: e.exit, message: String::new(), hint: None };
            }
            return Report { exit: e.exit, message: format!("{} ({})", e.message, e.code), hint: None };
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return client_report(e);
        }
    }
    Report { exit: Exit::Error, message: format!("{err:#}"), hint: None }
}

fn client_report(e: &ClientError) -> Report {
    match e {
        ClientError::Api(api) => {
            let hint = match api.code {
                ErrorCode::PasswordChangeRequired => Some("change your password with `wmai passwd`".to_owned()),
                ErrorCode::Unauthorized => Some("log in again with `wmai login <url>`".to_owned()),
                ErrorCode::TooManyAttempts => api.retry_after.map(|s| format!("retry in {s} seconds")),
                _ => None,
            };
            let message = match &api.field {
                Some(field) if !api.message.starts_with(field.as_str()) => {
                    format!("{}: {} ({})", field, api.message, api.code)
                }
                _ => format!("{} ({})", api.message, api.code),
            };
            Report { exit: for_api_code(api.code), message, hint }
        }
        ClientError::Transport { url, source } => Report {
            exit: Exit::Unreachable,
            message: format!("cannot reach the core at {url}: {} (unreachable)", root_cause(source)),
            hint: None,
        },
        ClientError::Unexpected { .. } => {
            Report { exit: Exit::Error, message: format!("{e} (unexpected_answer)"), hint: None }
        }
        ClientError::BadUrl(..) => Report { exit: Exit::Usage, message: format!("{e} (bad_url)"), hint: None },
    }
}

/// The innermost error message, e.g. "Connection refused (os error 111)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wintermute_api::ApiError;

    #[test]
    fn api_codes_map_to_documented_exit_codes() {
        let cases = [
            (ErrorCode::Unauthorized, 3),
            (ErrorCode::InvalidCredentials, 3),
            (ErrorCode::Forbidden, 4),
            (ErrorCode::PasswordChangeRequired, 4),
            (ErrorCode::AccountDisabled, 4),
            (ErrorCode::LimitExceeded, 4),
            (ErrorCode::NotFound, 5),
            (ErrorCode::InvalidField, 6),
            (ErrorCode::InvalidBody, 6),
            (ErrorCode::InvalidJson, 6),
            (ErrorCode::WeakPassword, 6),
            (ErrorCode::Conflict, 6),
            (ErrorCode::NotCancellable, 6),
            (ErrorCode::WrongPassphrase, 6),
            (ErrorCode::HostKeyChanged, 6),
            (ErrorCode::IntegrityError, 1),
            (ErrorCode::Internal, 1),
            (ErrorCode::ServiceUnavailable, 1),
            (ErrorCode::TooManyAttempts, 1),
        ];
        for (code, exit) in cases {
            assert_eq!(for_api_code(code).code(), exit, "{code}");
        }
    }

    #[test]
    fn exit_numbers_are_stable() {
        let all = [
            (Exit::Success, 0),
            (Exit::Error, 1),
            (Exit::Usage, 2),
            (Exit::NotLoggedIn, 3),
            (Exit::Forbidden, 4),
            (Exit::NotFound, 5),
            (Exit::Invalid, 6),
            (Exit::Unreachable, 7),
            (Exit::TaskFailed, 10),
            (Exit::TaskCancelled, 11),
        ];
        for (exit, n) in all {
            assert_eq!(exit.code(), n);
        }
    }

    #[test]
    fn api_error_report_has_message_and_code() {
        let err = anyhow::Error::new(ClientError::Api(ApiError::new(ErrorCode::NotFound, "no such user")));
        let r = report(&err);
        assert_eq!(r.exit, Exit::NotFound);
        assert_eq!(r.message, "no such user (not_found)");
    }

    #[test]
    fn field_is_named_when_the_message_does_not() {
        let err =
            anyhow::Error::new(ClientError::Api(ApiError::field(ErrorCode::InvalidField, "email", "not an address")));
        assert_eq!(report(&err).message, "email: not an address (invalid_field)");
        assert_eq!(report(&err).exit, Exit::Invalid);
        // A value that happens to contain the field's name does not hide the field.
        let err = anyhow::Error::new(ClientError::Api(ApiError::field(
            ErrorCode::InvalidField,
            "email",
            "\"not-an-email\" is not a valid e-mail address",
        )));
        assert!(report(&err).message.starts_with("email: "), "{}", report(&err).message);
        let err = anyhow::Error::new(ClientError::Api(ApiError::field(
            ErrorCode::InvalidField,
            "login",
            "login must not be empty",
        )));
        assert_eq!(report(&err).message, "login must not be empty (invalid_field)");
    }

    #[test]
    fn password_change_required_gives_a_hint() {
        let err = anyhow::Error::new(ClientError::Api(ApiError::new(ErrorCode::PasswordChangeRequired, "change it")));
        let r = report(&err);
        assert_eq!(r.exit.code(), 4);
        assert!(r.hint.unwrap_or_default().contains("wmai passwd"));
    }

    #[test]
    fn cli_errors_keep_their_exit_through_context() {
        let err = anyhow::Error::new(CliError::not_logged_in("not logged in")).context("whoami");
        let r = report(&err);
        assert_eq!(r.exit, Exit::NotLoggedIn);
        assert_eq!(r.message, "not logged in (not_logged_in)");
    }

    #[test]
    fn other_errors_are_exit_1() {
        let err = anyhow::anyhow!("disk full");
        assert_eq!(report(&err).exit, Exit::Error);
        assert_eq!(report(&err).message, "disk full");
    }

    #[test]
    fn bad_url_is_a_usage_error() {
        let err = anyhow::Error::new(ClientError::BadUrl("x".into(), "bad".into()));
        assert_eq!(report(&err).exit, Exit::Usage);
    }
}
