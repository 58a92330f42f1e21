//! Interactive channels: a login shell or a command on a pseudo-terminal (PTY) that can be resized,
//! or a command without one, with raw bytes in both directions.
//!
//! [`Session::open_terminal`] opens one and returns it split in two: a [`TerminalInput`] (keys,
//! window size, end of input — usable from any task, by shared reference) and a
//! [`TerminalOutput`] that yields the bytes the remote side prints and, last, how it ended. This
//! is what the web console and `wmai ssh` run on.

use bytes::Bytes;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Pty};

use crate::error::SshError;
use crate::exec::signal_status;
use crate::session::Session;
use crate::target::SshTarget;

/// The smallest and largest window sizes accepted (columns and rows).
pub const MIN_TERMINAL_SIZE: u32 = 1;
pub const MAX_TERMINAL_SIZE: u32 = 10_000;

/// What to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRequest {
    /// `TERM` of the PTY, e.g. `xterm-256color`.
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    /// A command run through the login shell (as `ssh host command`); `None` starts the login
    /// shell itself.
    pub command: Option<String>,
    /// Whether to allocate a PTY. Without one (commands only) the output is the command's stdout
    /// followed by its stderr as they come, with no terminal translation (`\n` stays `\n`).
    pub pty: bool,
}

impl TerminalRequest {
    /// A login shell on a PTY of this size.
    pub fn shell(term: impl Into<String>, cols: u32, rows: u32) -> Self {
        Self { term: term.into(), cols, rows, command: None, pty: true }
    }
}

/// How the remote side ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalExit {
    /// The exit status; `128 + n` for a process killed by signal `n`.
    pub status: u32,
    /// The signal's name when it was killed (`TERM`, `KILL`, ...).
    pub signal: Option<String>,
}

/// One thing the remote side did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// Bytes printed (on a PTY: the terminal's output; without: stdout or stderr).
    Output(Bytes),
    /// The process ended. More output may still follow before [`TerminalEvent::Closed`].
    Exit(TerminalExit),
    /// The channel is closed: nothing more will come.
    Closed,
}

/// The sending half: keys, window size changes, end of input. Every method takes `&self`, so
/// one value can be shared (e.g. in an `Arc`) by the tasks that feed it.
pub struct TerminalInput {
    writer: ChannelWriteHalf<russh::client::Msg>,
    target: SshTarget,
}

/// The receiving half.
pub struct TerminalOutput {
    reader: ChannelReadHalf,
    closed: bool,
}

impl Session {
    /// Opens a channel with a PTY (when `req.pty`) and starts the login shell or `req.command`
    /// on it. Fails when the server refuses the PTY, the shell or the command.
    pub async fn open_terminal(&self, req: &TerminalRequest) -> Result<(TerminalInput, TerminalOutput), SshError> {
        let target = &self.target;
        let (cols, rows) = (clamp(req.cols), clamp(req.rows));
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| SshError::Channel(format!("could not open a channel to {target}: {e}")))?;
        let (mut reader, writer) = channel.split();
        if req.pty {
            // Defaults as OpenSSH's client sends them for an interactive terminal.
            let modes = [(Pty::VINTR, 3), (Pty::VERASE, 127), (Pty::ICRNL, 1), (Pty::ONLCR, 1), (Pty::ECHO, 1)];
            writer
                .request_pty(true, &req.term, cols, rows, 0, 0, &modes)
                .await
                .map_err(|e| SshError::Channel(format!("could not request a terminal on {target}: {e}")))?;
            expect_success(&mut reader, target, "a terminal (PTY)").await?;
        }
        match &req.command {
            Some(command) => writer.exec(true, command.as_bytes()).await,
            None => writer.request_shell(true).await,
        }
        .map_err(|e| SshError::Channel(format!("could not start the shell on {target}: {e}")))?;
        let what = if req.command.is_some() { "the command" } else { "a login shell" };
        expect_success(&mut reader, target, what).await?;
        Ok((TerminalInput { writer, target: target.clone() }, TerminalOutput { reader, closed: false }))
    }
}

/// Waits for the answer to a request sent with `want_reply`.
async fn expect_success(reader: &mut ChannelReadHalf, target: &SshTarget, what: &str) -> Result<(), SshError> {
    loop {
        match reader.wait().await {
            Some(ChannelMsg::Success) => return Ok(()),
            Some(ChannelMsg::Failure) => return Err(SshError::Channel(format!("{target} refused {what}"))),
            Some(ChannelMsg::WindowAdjusted { .. }) => {}
            Some(other) => {
                return Err(SshError::Channel(format!("{target} answered {other:?} when asked for {what}")));
            }
            None => return Err(SshError::Channel(format!("{target} closed the channel when asked for {what}"))),
        }
    }
}

fn clamp(n: u32) -> u32 {
    n.clamp(MIN_TERMINAL_SIZE, MAX_TERMINAL_SIZE)
}

impl TerminalInput {
    /// Sends bytes as typed (or as stdin of a command). Waits while the server's window is full.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<(), SshError> {
        self.writer.data_bytes(data).await.map_err(|e| self.lost(e))
    }

    /// Tells the server the terminal's new size (the remote side gets SIGWINCH).
    pub async fn resize(&self, cols: u32, rows: u32) -> Result<(), SshError> {
        self.writer.window_change(clamp(cols), clamp(rows), 0, 0).await.map_err(|e| self.lost(e))
    }

    /// Ends the input (EOF): a command reading stdin sees its end.
    pub async fn eof(&self) -> Result<(), SshError> {
        self.writer.eof().await.map_err(|e| self.lost(e))
    }

    /// Closes the channel; the remote side gets a hang-up.
    pub async fn close(&self) {
        if let Err(e) = self.writer.close().await {
            tracing::debug!(target = %self.target, "closing a terminal channel: {e}");
        }
    }

    fn lost(&self, e: russh::Error) -> SshError {
        SshError::Channel(format!("the terminal channel to {} is gone: {e}", self.target))
    }
}

impl TerminalOutput {
    /// The next thing that happened; [`TerminalEvent::Closed`] once at the end, then `Closed`
    /// again on every call.
    pub async fn next(&mut self) -> TerminalEvent {
        if self.closed {
            return TerminalEvent::Closed;
        }
        loop {
            match self.reader.wait().await {
                Some(ChannelMsg::Data { data }) => return TerminalEvent::Output(data),
                Some(ChannelMsg::ExtendedData { data, .. }) => return TerminalEvent::Output(data),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    return TerminalEvent::Exit(TerminalExit { status: exit_status, signal: None })
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    let status = signal_status(&signal_name);
                    let name = format!("{signal_name:?}");
                    return TerminalEvent::Exit(TerminalExit { status, signal: Some(name) });
                }
                Some(ChannelMsg::Close) | None => {
                    self.closed = true;
                    return TerminalEvent::Closed;
                }
                Some(_) => continue,
            }
        }
    }

    /// Like [`TerminalOutput::next`], but only what is already there: `None` when the next event
    /// has not arrived yet. Lets a caller gather a burst of output into one message.
    pub fn try_next(&mut self) -> Option<TerminalEvent> {
        use futures_util::FutureExt;
        self.next().now_or_never()
    }
}
