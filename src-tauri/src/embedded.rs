//! The embedded core: the core server library run inside the app, for an analyst without a
//! shared core. It listens on 127.0.0.1 on a port the system picks (nobody else reaches it), keeps
//! its SQLite database in the app's data folder and its master key in the OS keyring, and sets up
//! the local provider (QEMU guests on this computer) on its first start, as `scripts/run-core`
//! does for a core on a workstation.
//!
//! `WMAIS__…` environment variables still apply (e.g. `WMAIS__LOCAL__IMAGE_DIR`, or
//! `WMAIS__KEYS__KIND=file` where no keyring exists): the same layering as `wmais`.

use std::path::Path;

use tokio_util::sync::CancellationToken;
use wintermute_api::client::Client;
use wintermute_core::{Config, Engine, FirstStart};
use wintermute_custody::KeyStoreConfig;

use crate::error::{DesktopError, ErrorKind};

/// A running embedded core.
pub struct EmbeddedCore {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn failed(what: impl std::fmt::Display) -> DesktopError {
    DesktopError::new(ErrorKind::EmbeddedCore, format!("The core on this computer could not start: {what}"))
}

/// The configuration of the embedded core in `dir`: the core's defaults and `WMAIS__…`
/// environment, then what the desktop app needs.
pub fn config(dir: &Path) -> Result<Config, DesktopError> {
    let loaded = Config::load(None, std::env::vars()).map_err(failed)?;
    for key in &loaded.unknown_keys {
        tracing::warn!("unknown configuration key {key:?} ignored");
    }
    let mut cfg = loaded.config;
    cfg.storage.data_dir = dir.to_owned();
    // Loopback only, any free port: the app is the only client.
    cfg.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.server.public_url = None;
    if std::env::var_os("WMAIS__KEYS__KIND").is_none() {
        // One keyring entry per core folder, so two folders never share a master key.
        let KeyStoreConfig::Keyring { service, .. } = KeyStoreConfig::desktop_default() else {
            return Err(failed("the desktop key store is not the keyring"));
        };
        cfg.keys = KeyStoreConfig::Keyring { service, account: Some(format!("master-key:{}", dir.display())) };
    }
    if std::env::var_os("WMAIS__BOOTSTRAP__LOCAL_PROVIDER").is_none() {
        cfg.bootstrap.local_provider = true;
    }
    Ok(cfg)
}

impl EmbeddedCore {
    /// Opens the core in `dir` (creating it on first start) and serves it. On the first start the
    /// core's temporary admin password comes back too.
    pub async fn start(dir: &Path) -> Result<(EmbeddedCore, Option<FirstStart>), DesktopError> {
        std::fs::create_dir_all(dir).map_err(|e| DesktopError::io(dir.display(), e))?;
        let mut cfg = config(dir)?;
        let listener = tokio::net::TcpListener::bind(cfg.server.listen).await.map_err(failed)?;
        cfg.server.listen = listener.local_addr().map_err(failed)?;
        let url = cfg.public_url().trim_end_matches('/').to_owned();
        let (engine, first) = Engine::open(cfg).await.map_err(failed)?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(wintermute_server::serve(listener, engine, shutdown.clone()));
        tracing::info!("embedded core listening on {url}");
        Ok((EmbeddedCore { url, shutdown, server }, first))
    }

    /// Stops serving and closes the database (the task workers finish their step first).
    pub async fn stop(self) {
        self.shutdown.cancel();
        match self.server.await {
            Ok(Ok(())) => tracing::info!("embedded core stopped"),
            Ok(Err(e)) => tracing::warn!("embedded core stopped with an error: {e}"),
            Err(e) => tracing::warn!("embedded core task failed: {e}"),
        }
    }
}

/// Replaces the first start's temporary admin password with the one the person chose on the
/// first-run screen, so they log in with a password they know.
pub async fn set_admin_password(url: &str, first: &FirstStart, password: &str) -> Result<(), DesktopError> {
    let mut client = Client::new(url)?;
    client.login(&first.login, &first.password).await?;
    client.change_password(&first.password, password).await?;
    let _ = client.logout().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_embedded_core_listens_on_loopback_with_the_keyring_and_the_local_provider() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path()).unwrap();
        assert!(cfg.server.listen.ip().is_loopback());
        assert_eq!(cfg.server.listen.port(), 0);
        assert_eq!(cfg.storage.data_dir, dir.path());
        if std::env::var_os("WMAIS__KEYS__KIND").is_none() {
            assert!(
                matches!(cfg.keys, KeyStoreConfig::Keyring { account: Some(ref a), .. } if a.ends_with(&dir.path().display().to_string()))
            );
        }
        if std::env::var_os("WMAIS__BOOTSTRAP__LOCAL_PROVIDER").is_none() {
            assert!(cfg.bootstrap.local_provider);
        }
    }
}
