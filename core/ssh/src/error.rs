//! What can go wrong talking SSH to an instance.

use std::io;

/// An SSH failure, worded for the person reading the task log. No variant ever carries key
/// material: host keys appear only as fingerprints (inside `reason`), user keys not at all.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The TCP connection could not be made (refused, unreachable, name not resolved).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },

    /// A step did not finish in time; `what` says which (TCP connect, SSH banner, key exchange,
    /// authentication).
    #[error("timed out waiting for {what}")]
    Timeout { what: String },

    /// The port accepts connections but no SSH server answers on it yet: the connection was
    /// closed before the SSH banner. A booting machine behind NAT (QEMU user networking, cloud
    /// load balancers) looks like this until its sshd is up; try again later.
    #[error("{addr} accepted the connection but closed it before any SSH banner (is sshd up yet?)")]
    NotReady { addr: String },

    /// The [`HostKeyPolicy`](crate::HostKeyPolicy) refused the server's host key. Nothing was
    /// sent to authenticate.
    #[error("the server's host key was rejected: {reason}")]
    HostKeyRejected { reason: String },

    /// The server did not accept the user's key for this login.
    #[error("the SSH server refused the key for user {user:?} (is the public key in its authorized_keys?)")]
    AuthFailed { user: String },

    /// The user's private key could not be turned into an SSH signing key.
    #[error("the user's SSH key cannot be used: {0}")]
    Key(String),

    /// [`Session::exec_with_secret`](crate::Session::exec_with_secret) feeds a secret as one
    /// line; this one has a line break in it.
    #[error("the secret contains a line break, so it cannot be passed as one line on stdin")]
    SecretNotOneLine,

    /// A channel (one command) failed: refused, or cut off before it finished.
    #[error("SSH channel: {0}")]
    Channel(String),

    /// The SSH conversation itself failed (handshake, broken connection, keepalive timeout).
    #[error("SSH protocol: {0}")]
    Protocol(String),

    /// [`Session::exec`](crate::Session::exec) collects output in memory up to a limit; use
    /// [`Session::exec_streaming`](crate::Session::exec_streaming) for more.
    #[error("the command printed more than {limit} bytes; it was stopped (stream its output instead)")]
    OutputTooLarge { limit: usize },
}

impl SshError {
    /// True for the errors that a machine which is still booting produces (nothing listening, no
    /// banner yet, silence): worth retrying while waiting for an instance to come up.
    pub fn is_not_ready(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Timeout { .. } | Self::NotReady { .. })
    }
}
