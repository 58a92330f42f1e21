//! Wintermute's SSH client: how the core reaches every instance.
//!
//! The core is the only holder of a user's private key ([`wintermute_custody::UserKeyPair`]), so
//! everything that happens on an instance — provisioning steps, secrets fed to `cryptsetup`, the
//! web console, data sync — goes through a [`Session`] opened here with [`connect`]:
//!
//! ```no_run
//! # async fn demo(key: &wintermute_custody::UserKeyPair, host_key: String) -> Result<(), wintermute_ssh::SshError> {
//! use std::{sync::Arc, time::Duration};
//! use wintermute_ssh::{connect, Pinned, SshTarget};
//!
//! let target = SshTarget::new("10.0.0.5", 22, "ubuntu");
//! let session = connect(&target, key, Arc::new(Pinned::new(host_key)), Duration::from_secs(20)).await?;
//! let out = session.exec("uname -r", None).await?;
//! println!("{} -> {}", out.exit_status, String::from_utf8_lossy(&out.stdout));
//! session.close().await;
//! # Ok(()) }
//! ```
//!
//! [`Session::open_terminal`] opens an interactive shell or command on a pseudo-terminal, with
//! raw bytes both ways and window size changes (the web console and `wmai ssh`).
//!
//! The server's host key is checked by a [`HostKeyPolicy`] before the user authenticates, so a
//! server that is not the expected one never sees a signature made with the user's key.
//!
//! With the cargo feature `test-sshd`, [`test_sshd::TestSshd`] runs a real OpenSSH server on
//! loopback for tests (this crate's and other crates').

mod connect;
mod error;
mod exec;
mod handler;
mod host_key;
mod pipe;
mod session;
mod target;
mod terminal;

#[cfg(feature = "test-sshd")]
pub mod test_sshd;

pub use connect::connect;
pub use error::SshError;
pub use exec::{ExecOutput, Stream, MAX_EXEC_OUTPUT};
pub use host_key::{AcceptAny, HostKeyPolicy, Pinned};
pub use pipe::{PipeEvent, PipeReader, PipeWriter};
pub use session::Session;
pub use target::SshTarget;
pub use terminal::{
    TerminalEvent, TerminalExit, TerminalInput, TerminalOutput, TerminalRequest, MAX_TERMINAL_SIZE, MIN_TERMINAL_SIZE,
};
