//! Running commands: collected output, streamed output, and secrets through stdin.

use std::fmt;
use std::ops::ControlFlow;
use std::pin::pin;

use russh::{ChannelMsg, Sig};
use wintermute_custody::SecretString;
use zeroize::Zeroizing;

use crate::error::SshError;
use crate::session::Session;

/// The most output (stdout and stderr together) [`Session::exec`] keeps in memory: 64 MiB.
pub const MAX_EXEC_OUTPUT: usize = 64 * 1024 * 1024;

/// Which output a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a finished command left behind.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit status; `128 + n` when it was killed by signal `n` (as a shell shows
    /// it), 255 for a signal without a number here.
    pub exit_status: u32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit_status == 0
    }
}

impl fmt::Debug for ExecOutput {
    /// Lengths and the first KiB of each stream, so a failing test or log line stays readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = |bytes: &[u8]| String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned();
        f.debug_struct("ExecOutput")
            .field("exit_status", &self.exit_status)
            .field("stdout_len", &self.stdout.len())
            .field("stdout", &head(&self.stdout))
            .field("stderr_len", &self.stderr.len())
            .field("stderr", &head(&self.stderr))
            .finish()
    }
}

impl Session {
    /// Runs `command` (through the login shell, as `ssh host command` does), writes `stdin` to
    /// it if given and then closes its stdin (EOF), and returns its exit status and output.
    ///
    /// Output is kept in memory up to [`MAX_EXEC_OUTPUT`]; beyond that the command is cut off
    /// and the result is [`SshError::OutputTooLarge`]. Use [`Session::exec_streaming`] for
    /// commands that print a lot. A non-zero exit status is not an error here: check it.
    pub async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, SshError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let exit_status = self
            .run(command, stdin, |stream, data| {
                if stdout.len() + stderr.len() + data.len() > MAX_EXEC_OUTPUT {
                    return ControlFlow::Break(());
                }
                match stream {
                    Stream::Stdout => stdout.extend_from_slice(data),
                    Stream::Stderr => stderr.extend_from_slice(data),
                }
                ControlFlow::Continue(())
            })
            .await?
            .ok_or(SshError::OutputTooLarge { limit: MAX_EXEC_OUTPUT })?;
        Ok(ExecOutput { exit_status, stdout, stderr })
    }

    /// Like [`Session::exec`], but hands each chunk of output to `on_output` as it arrives (in
    /// order within each stream) instead of collecting it, so long steps can feed a task log
    /// live and print any amount. Returns the exit status.
    pub async fn exec_streaming(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        mut on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<u32, SshError> {
        let status = self
            .run(command, stdin, |stream, data| {
                on_output(stream, data);
                ControlFlow::Continue(())
            })
            .await?;
        status.ok_or_else(|| SshError::Channel("the command was stopped".to_owned()))
    }

    /// Runs `command` with `secret` and a newline written to its stdin, then EOF.
    ///
    /// This is how secrets reach a machine — volume passphrases going to `cryptsetup`, for
    /// one: through the encrypted channel into the process's stdin, never in its command line or
    /// environment, where `ps`, `/proc/<pid>/cmdline`, shell history or audit logs would show it.
    /// Write the command so it reads one line, e.g. `cryptsetup open /dev/xvdf data` (no
    /// `--key-file`: cryptsetup then reads the passphrase up to the newline; `--key-file=-`
    /// would keep the newline as part of the key) or `read -r x` in a script.
    ///
    /// A secret containing a line break is refused, since the command would see only its first
    /// line. Our copy of the line is zeroed after sending; copies inside the SSH library's packet
    /// buffers are not under our control.
    pub async fn exec_with_secret(&self, command: &str, secret: &SecretString) -> Result<ExecOutput, SshError> {
        let secret = secret.expose();
        if secret.contains(['\n', '\r']) {
            return Err(SshError::SecretNotOneLine);
        }
        let mut line = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
        line.extend_from_slice(secret.as_bytes());
        line.push(b'\n');
        self.exec(command, Some(&line)).await
    }

    /// Runs one command on a new channel. `sink` gets the output as it arrives and may stop the
    /// command (`Break`): then the channel is closed and the result is `Ok(None)`.
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        mut sink: impl FnMut(Stream, &[u8]) -> ControlFlow<()>,
    ) -> Result<Option<u32>, SshError> {
        let target = &self.target;
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| SshError::Channel(format!("could not open a channel to {target}: {e}")))?;
        let (mut reader, writer) = channel.split();
        writer
            .exec(true, command)
            .await
            .map_err(|e| SshError::Channel(format!("could not start the command on {target}: {e}")))?;

        // Stdin goes in alongside reading the output: a command may print before it has read
        // all of its input, and would stall if nobody read its output meanwhile.
        let mut feed = pin!(async {
            if let Some(data) = stdin {
                writer.data_bytes(data.to_vec()).await?;
            }
            writer.eof().await
        });
        let mut feeding = true;
        let mut feed_error = None;
        let mut exit_status = None;
        loop {
            tokio::select! {
                fed = &mut feed, if feeding => {
                    feeding = false;
                    feed_error = fed.err();
                }
                msg = reader.wait() => {
                    let (stream, data) = match msg {
                        None => break,
                        Some(ChannelMsg::Data { data }) => (Stream::Stdout, data),
                        Some(ChannelMsg::ExtendedData { data, ext: 1 }) => (Stream::Stderr, data),
                        Some(ChannelMsg::ExitStatus { exit_status: status }) => {
                            exit_status = Some(status);
                            continue;
                        }
                        Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                            tracing::debug!(%target, "command killed by signal {signal_name:?}");
                            exit_status = Some(signal_status(&signal_name));
                            continue;
                        }
                        Some(ChannelMsg::Failure) => {
                            return Err(SshError::Channel(format!("{target} refused to run the command")));
                        }
                        Some(_) => continue,
                    };
                    if sink(stream, &data).is_break() {
                        if let Err(e) = writer.close().await {
                            tracing::debug!(%target, "closing a stopped channel: {e}");
                        }
                        return Ok(None);
                    }
                }
            }
        }
        match (exit_status, feed_error) {
            (Some(status), _) => Ok(Some(status)),
            (None, Some(e)) => Err(SshError::Channel(format!(
                "sending the command's input to {target} failed ({e}) and it reported no exit status"
            ))),
            (None, None) if self.handle.is_closed() => {
                Err(SshError::Protocol(format!("the connection to {target} was lost before the command finished")))
            }
            (None, None) => Err(SshError::Channel(format!("the command on {target} ended without an exit status"))),
        }
    }
}

/// `128 + n` for signal `n`, as shells report a killed command.
pub(crate) fn signal_status(signal: &Sig) -> u32 {
    let number = match signal {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => return 255,
    };
    128 + number
}
