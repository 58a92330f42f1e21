//! Opening a session: TCP, banner, key exchange with the host-key check, public-key login.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{decode_secret_key, PrivateKeyWithHashAlg};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use wintermute_custody::UserKeyPair;

use crate::error::SshError;
use crate::handler::{Forwarder, HandlerError};
use crate::host_key::HostKeyPolicy;
use crate::session::Session;
use crate::target::SshTarget;

/// How often an idle connection is probed, and how many unanswered probes end it.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 4;

/// Connects to `target`, checks the server's host key with `policy`, then logs in as
/// `target.user` with `key`.
///
/// `timeout` bounds the whole opening: TCP connect, the server's SSH banner, key exchange and
/// authentication. A port that accepts the connection but says nothing (a NAT in front of a
/// machine whose sshd is not up yet, as with QEMU user networking) ends in
/// [`SshError::Timeout`], one that closes it at once in [`SshError::NotReady`]; both, and
/// [`SshError::Connect`], satisfy [`SshError::is_not_ready`], for callers that wait for a new
/// instance.
///
/// The host key is checked before authentication: a refused server never receives a signature
/// made with the user's key.
pub async fn connect(
    target: &SshTarget,
    key: &UserKeyPair,
    policy: Arc<dyn HostKeyPolicy>,
    timeout: Duration,
) -> Result<Session, SshError> {
    let deadline = Instant::now() + timeout;
    let addr = target.addr();
    let key = signing_key(key)?;

    let what = || format!("a TCP connection to {addr}");
    let stream = step(deadline, timeout, what, TcpStream::connect((target.host.as_str(), target.port)))
        .await?
        .map_err(|source| SshError::Connect { addr: addr.clone(), source })?;
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%addr, "set_nodelay: {e}");
    }

    // Wait for the first byte of the banner without taking it from the stream, so a silent port
    // and a closed one are told apart from a failing handshake.
    let what = || format!("the SSH banner from {addr} (the port accepts connections but nothing answers yet)");
    match step(deadline, timeout, what, stream.peek(&mut [0u8; 1])).await? {
        Ok(0) | Err(_) => return Err(SshError::NotReady { addr }),
        Ok(_) => {}
    }

    let config = Arc::new(russh::client::Config {
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..Default::default()
    });
    let handler = Forwarder { policy };
    let what = || format!("the SSH key exchange with {addr}");
    let mut handle = step(deadline, timeout, what, russh::client::connect_stream(config, stream, handler))
        .await?
        .map_err(|e| match e {
            HandlerError::HostKeyRejected(reason) => SshError::HostKeyRejected { reason },
            HandlerError::Ssh(e) => SshError::Protocol(format!("the SSH handshake with {addr} failed: {e}")),
        })?;

    let what = || format!("SSH authentication as {} at {addr}", target.user);
    let login = handle.authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(key, None));
    let result = step(deadline, timeout, what, login)
        .await?
        .map_err(|e| SshError::Protocol(format!("SSH authentication at {addr} failed: {e}")))?;
    if !result.success() {
        return Err(SshError::AuthFailed { user: target.user.clone() });
    }
    tracing::debug!(%target, "SSH session open");
    Ok(Session { handle, target: target.clone() })
}

/// The user's key as russh wants it, read back from its OpenSSH PEM text.
fn signing_key(key: &UserKeyPair) -> Result<Arc<russh::keys::PrivateKey>, SshError> {
    let pem = key
        .private_openssh()
        .map_err(|_| SshError::Key("the private key could not be encoded as OpenSSH text".to_owned()))?;
    let key = decode_secret_key(pem.expose(), None)
        .map_err(|_| SshError::Key("the private key's OpenSSH text could not be read back".to_owned()))?;
    Ok(Arc::new(key))
}

/// Runs `future` until the shared deadline; `what` names the step in the timeout error.
async fn step<T>(
    deadline: Instant,
    timeout: Duration,
    what: impl FnOnce() -> String,
    future: impl Future<Output = T>,
) -> Result<T, SshError> {
    timeout_at(deadline, future)
        .await
        .map_err(|_| SshError::Timeout { what: format!("{} (gave up after {timeout:?})", what()) })
}
