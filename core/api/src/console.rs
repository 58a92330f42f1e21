//! The SSH console: the WebSocket protocol of `GET /api/v1/instances/{id}/console` and the
//! recorded console sessions.
//!
//! ## The WebSocket
//!
//! Open it with the query of [`ConsoleQuery`] (window size, `TERM`, optionally a command) and the
//! token as for any route (`Authorization: Bearer` or `?token=`). Refusals that need no SSH
//! connection (not logged in, no "SSH console" right, no such instance, a stopped instance, an
//! unknown resume token) are ordinary HTTP errors before the upgrade. Everything after it:
//!
//! * **Binary frames** carry terminal bytes: from the client, what is typed (or a command's stdin);
//!   from the core, what the remote side prints, as is.
//! * **Text frames** carry one JSON control message each: [`ConsoleClientMessage`] from the client,
//!   [`ConsoleServerMessage`] from the core.
//!
//! The core first sends [`ConsoleServerMessage::Ready`] (or an `error` and closes), then output.
//! Output bytes are numbered from 0 at the session's start: `Ready.offset` is the number of the
//! next byte sent. A client that acknowledges what it received ([`ConsoleClientMessage::Ack`],
//! e.g. every 64 KiB) gets exact replay after a reconnect and bounded buffering: the core keeps
//! unacknowledged output (up to [`CONSOLE_WINDOW_BYTES`]) and stops reading from the instance
//! when that much is unacknowledged. Without acks the core keeps the last
//! [`CONSOLE_WINDOW_BYTES`] sent.
//!
//! When the WebSocket drops, the session stays open for the reconnect grace period
//! (`WMAIS_CONSOLE_RECONNECT_SECONDS`). Reconnect with `resume=<Ready.resume_token>` and
//! `offset=<bytes received>`: the core replays from there. A second connection with the token
//! takes the session over and the first one gets `closed` with reason `replaced`.
//!
//! At the end the core sends [`ConsoleServerMessage::Exit`] (when the remote process reported a
//! status) and [`ConsoleServerMessage::Closed`], then a WebSocket close frame. The core pings
//! every 20 s; a client silent for 60 s is taken as gone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorCode;

/// How much unacknowledged output the core keeps per session (and the most it replays).
pub const CONSOLE_WINDOW_BYTES: u64 = 1024 * 1024;

/// Default `TERM` when the client names none.
pub const DEFAULT_TERM: &str = "xterm-256color";

/// Query of `GET /api/v1/instances/{id}/console`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsoleQuery {
    /// Terminal width in columns (1–10000, default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u32>,
    /// Terminal height in rows (1–10000, default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    /// `TERM` of the terminal (default `xterm-256color`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// Run this command (through the login shell) instead of an interactive shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// With a command: `false` runs it without a terminal (raw output, stdout and stderr in one
    /// stream). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<bool>,
    /// Reattach to this session (`Ready.resume_token`) instead of opening a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// With `resume`: the number of output bytes received so far; replay starts there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The bearer token, for clients that cannot set headers (browsers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Control messages from the client (text frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConsoleClientMessage {
    /// The terminal's window changed size.
    Resize { cols: u32, rows: u32 },
    /// All output bytes before `offset` arrived; the core may forget them.
    Ack { offset: u64 },
    /// End of input (a command reading stdin sees its end).
    Eof,
    /// End the session now (instead of keeping it for a reconnect).
    Close,
}

/// Why a console session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleEndReason {
    /// The shell or command ended.
    Exited,
    /// The user closed it (`close` message).
    ClosedByUser,
    /// Nothing was typed or printed for `WMAIS_CONSOLE_IDLE_MINUTES`.
    IdleTimeout,
    /// The client went away and did not come back within the reconnect grace period.
    Abandoned,
    /// The SSH connection to the instance was lost.
    ConnectionLost,
    /// The core shut down.
    CoreShutdown,
}

impl ConsoleEndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleEndReason::Exited => "exited",
            ConsoleEndReason::ClosedByUser => "closed_by_user",
            ConsoleEndReason::IdleTimeout => "idle_timeout",
            ConsoleEndReason::Abandoned => "abandoned",
            ConsoleEndReason::ConnectionLost => "connection_lost",
            ConsoleEndReason::CoreShutdown => "core_shutdown",
        }
    }

    pub fn parse(s: &str) -> Option<ConsoleEndReason> {
        [
            ConsoleEndReason::Exited,
            ConsoleEndReason::ClosedByUser,
            ConsoleEndReason::IdleTimeout,
            ConsoleEndReason::Abandoned,
            ConsoleEndReason::ConnectionLost,
            ConsoleEndReason::CoreShutdown,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Why the core ends one WebSocket of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleCloseReason {
    /// The session is over (see `ended`).
    Ended,
    /// Another connection took the session over with the resume token.
    Replaced,
}

/// Control messages from the core (text frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsoleServerMessage {
    /// The session is attached; binary output frames follow.
    Ready {
        /// The console session (see `GET /api/v1/console-sessions/{id}`).
        session_id: i64,
        /// Reattach with this after a dropped connection (valid for this user, on this core).
        resume_token: String,
        /// Number of the first output byte that follows.
        offset: u64,
        /// Output bytes before `offset` that were asked for but are no longer kept.
        missed: u64,
        /// Whether the session is recorded.
        recording: bool,
        /// Seconds a dropped connection may take to come back.
        reconnect_grace_seconds: u64,
        /// Minutes without input or output after which the session ends (0: never).
        idle_timeout_minutes: u64,
    },
    /// The remote process ended with this status (`128 + n` when killed by signal `n`).
    Exit {
        status: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
    },
    /// The core ends this connection.
    Closed {
        reason: ConsoleCloseReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ended: Option<ConsoleEndReason>,
        message: String,
    },
    /// The session could not be opened or failed; the connection closes after it.
    Error { code: ErrorCode, message: String },
}

/// A console session: who opened a terminal on which instance, when, for how long, how much went
/// through it, and whether it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsoleSession {
    pub id: i64,
    pub instance_id: i64,
    pub instance_name: String,
    pub user_id: i64,
    pub user_login: String,
    /// The command run instead of a shell, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    pub started_at: DateTime<Utc>,
    /// Absent while the session is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Milliseconds from start to end (so far, while open).
    pub duration_ms: i64,
    /// Bytes typed (sent to the instance).
    pub bytes_in: i64,
    /// Bytes printed (received from the instance).
    pub bytes_out: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<ConsoleEndReason>,
    /// Whether an asciicast recording exists (`GET /api/v1/console-sessions/{id}/recording`).
    pub recorded: bool,
    /// Size of the recording file in bytes.
    pub recording_bytes: i64,
}

/// Query of the console session lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsoleSessionQuery {
    /// At most this many sessions (1–500, default 100), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only sessions older than this id (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_read_as_documented() {
        let m: ConsoleClientMessage = serde_json::from_str(r#"{"type":"resize","cols":120,"rows":40}"#).unwrap();
        assert_eq!(m, ConsoleClientMessage::Resize { cols: 120, rows: 40 });
        let m: ConsoleClientMessage = serde_json::from_str(r#"{"type":"ack","offset":65536}"#).unwrap();
        assert_eq!(m, ConsoleClientMessage::Ack { offset: 65536 });
        assert!(serde_json::from_str::<ConsoleClientMessage>(r#"{"type":"resize","cols":1}"#).is_err());
        let exit = serde_json::to_value(ConsoleServerMessage::Exit { status: 7, signal: None }).unwrap();
        assert_eq!(exit, serde_json::json!({"type": "exit", "status": 7}));
        for r in [ConsoleEndReason::Exited, ConsoleEndReason::IdleTimeout, ConsoleEndReason::CoreShutdown] {
            assert_eq!(ConsoleEndReason::parse(r.as_str()), Some(r));
        }
    }
}
