//! Commands with streamed input and output both ways: bulk data going in and coming out at
//! once, with back-pressure (data sync uses these to move files).

use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use crate::error::SshError;
use crate::exec::{signal_status, Stream};
use crate::session::Session;
use crate::target::SshTarget;

/// The input side of a running command: its stdin.
pub struct PipeWriter {
    writer: ChannelWriteHalf<Msg>,
    target: SshTarget,
}

/// The output side of a running command: stdout and stderr as they arrive, then its exit status.
pub struct PipeReader {
    reader: ChannelReadHalf,
    target: SshTarget,
    exit_status: Option<u32>,
}

/// What a [`PipeReader`] yields.
#[derive(Debug)]
pub enum PipeEvent {
    Output(Stream, Bytes),
    /// The command is over; `128 + n` when it was killed by signal `n`.
    Exit(u32),
}

impl Session {
    /// Starts `command` (through the login shell) and returns its stdin and its output. Writes
    /// wait while the server's window is full, so a fast sender never piles data up in memory.
    pub async fn exec_pipe(&self, command: &str) -> Result<(PipeWriter, PipeReader), SshError> {
        let target = &self.target;
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| SshError::Channel(format!("could not open a channel to {target}: {e}")))?;
        let (reader, writer) = channel.split();
        writer
            .exec(true, command)
            .await
            .map_err(|e| SshError::Channel(format!("could not start the command on {target}: {e}")))?;
        Ok((
            PipeWriter { writer, target: target.clone() },
            PipeReader { reader, target: target.clone(), exit_status: None },
        ))
    }
}

impl PipeWriter {
    /// Sends `data` to the command's stdin.
    pub async fn write(&self, data: Bytes) -> Result<(), SshError> {
        let target = &self.target;
        self.writer
            .data_bytes(data)
            .await
            .map_err(|e| SshError::Channel(format!("sending data to the command on {target} failed: {e}")))
    }

    /// Closes the command's stdin (end of file).
    pub async fn eof(&self) -> Result<(), SshError> {
        let target = &self.target;
        self.writer
            .eof()
            .await
            .map_err(|e| SshError::Channel(format!("closing the input of the command on {target} failed: {e}")))
    }
}

impl PipeReader {
    /// The next chunk of output, or the exit status once the command is over. After
    /// [`PipeEvent::Exit`] the next call returns the same status again. A channel that closes
    /// without an exit status (the connection was lost) is an error.
    pub async fn next(&mut self) -> Result<PipeEvent, SshError> {
        loop {
            match self.reader.wait().await {
                Some(ChannelMsg::Data { data }) => return Ok(PipeEvent::Output(Stream::Stdout, data)),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => return Ok(PipeEvent::Output(Stream::Stderr, data)),
                Some(ChannelMsg::ExitStatus { exit_status }) => self.exit_status = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    self.exit_status = Some(signal_status(&signal_name))
                }
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::Channel(format!("{} refused to run the command", self.target)))
                }
                Some(_) => {}
                None => {
                    return match self.exit_status {
                        Some(status) => Ok(PipeEvent::Exit(status)),
                        None => Err(SshError::Protocol(format!(
                            "the connection to {} was lost before the command finished",
                            self.target
                        ))),
                    }
                }
            }
        }
    }

    /// Reads everything that is left; returns the exit status, stdout and stderr.
    pub async fn collect(mut self) -> Result<crate::ExecOutput, SshError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        loop {
            match self.next().await? {
                PipeEvent::Output(Stream::Stdout, d) => stdout.extend_from_slice(&d),
                PipeEvent::Output(Stream::Stderr, d) => stderr.extend_from_slice(&d),
                PipeEvent::Exit(exit_status) => return Ok(crate::ExecOutput { exit_status, stdout, stderr }),
            }
        }
    }
}
