//! An authenticated SSH connection to one instance.

use std::fmt;

use russh::client::Handle;
use russh::Disconnect;

use crate::handler::Forwarder;
use crate::target::SshTarget;

/// An open, authenticated SSH connection. Commands run on their own channels, so one session
/// runs several at once (`&self` everywhere). Keepalives detect a dead peer. Dropping the
/// session ends the connection; [`Session::close`] ends it politely (and works through a shared reference, e.g. an `Arc<Session>`).
pub struct Session {
    pub(crate) handle: Handle<Forwarder>,
    pub(crate) target: SshTarget,
}

impl Session {
    /// Whom this session is logged in to.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// True once the connection is gone (closed, or lost: keepalive timeout, server gone).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Says goodbye to the server and ends the connection. Commands still running on it are cut
    /// off. Never fails: a connection that is already gone is closed too.
    pub async fn close(&self) {
        if let Err(e) = self.handle.disconnect(Disconnect::ByApplication, "", "en").await {
            tracing::debug!(target = %self.target, "SSH disconnect: {e}");
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("target", &self.target).finish_non_exhaustive()
    }
}
