//! The russh event handler. It decides nothing itself: the host key goes to the
//! [`HostKeyPolicy`], and the policy's refusal comes back out of the handshake as an error.
//! Channel traffic does not pass through here (each channel has its own receiver).

use std::sync::Arc;

use russh::keys::{PublicKey, PublicKeyOrCertificate};

use crate::host_key::HostKeyPolicy;

pub(crate) struct Forwarder {
    pub(crate) policy: Arc<dyn HostKeyPolicy>,
}

/// The handler's error: russh's own, or the policy's refusal with its reason.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKeyRejected(String),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        Self::Ssh(e)
    }
}

impl russh::client::Handler for Forwarder {
    type Error = HandlerError;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let offered = openssh_line(offered)
            .map_err(|e| HandlerError::HostKeyRejected(format!("the host key could not be encoded: {e}")))?;
        match self.policy.check(&offered).await {
            Ok(()) => Ok(true),
            Err(reason) => Err(HandlerError::HostKeyRejected(reason)),
        }
    }
}

/// `<type> <base64>` (no comment). For a host certificate, the certified key: the key exchange is
/// signed with that key, so it is what identifies the server.
fn openssh_line(offered: &PublicKeyOrCertificate) -> Result<String, russh::keys::ssh_key::Error> {
    let key = match offered {
        PublicKeyOrCertificate::PublicKey { key, .. } => PublicKey::new(key.key_data().clone(), ""),
        PublicKeyOrCertificate::Certificate(cert) => PublicKey::new(cert.public_key().clone(), ""),
    };
    Ok(key.to_openssh()?.trim_end().to_owned())
}
