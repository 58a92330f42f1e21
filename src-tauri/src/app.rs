//! The app's state (which core, the embedded core when it runs) and its windows.
//!
//! How the web view reaches the core: every window loads the frontend bundled into this binary
//! (the same build the core serves to browsers) from the app's own origin, and the page is told
//! the core's URL by the desktop bridge (`window.__WINTERMUTE_DESKTOP__`, set by an
//! initialization script before the page's own code runs); the core answers CORS for the app's
//! origin. The other way — navigating the window to the core's URL — was not chosen: the page
//! can call the app's native commands (read files from this computer and send them, the keyring),
//! and that power must stay with code shipped in the app, never with whatever a remote server
//! sends. It also keeps the app working offline up to the first-run screen, and the same app
//! works with a core of another version.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};
use wintermute_core::FirstStart;

use crate::embedded::EmbeddedCore;
use crate::error::DesktopError;
use crate::settings::{CoreChoice, Paths, Settings};
use crate::token;

/// Shared by every window and command.
pub struct Desktop {
    pub paths: Paths,
    pub inner: tokio::sync::Mutex<Inner>,
    seq: AtomicU32,
}

#[derive(Default)]
pub struct Inner {
    pub settings: Settings,
    /// The core in use (no trailing slash); None while the first-run screen shows.
    pub core_url: Option<String>,
    pub embedded: Option<EmbeddedCore>,
    /// A fresh embedded core's temporary admin password, until the first-run screen replaced it.
    pub first_start: Option<FirstStart>,
    /// Why the remembered core could not be used (shown on the first-run screen).
    pub startup_error: Option<String>,
}

/// What a page learns from the desktop bridge when it loads.
#[derive(Debug, Serialize)]
struct Bridge<'a> {
    core: Option<&'a str>,
    token: Option<String>,
    embedded: bool,
    /// The core remembered from the last run, when it could not be used now.
    error: Option<&'a str>,
    version: &'static str,
}

impl Desktop {
    pub fn new(paths: Paths) -> Desktop {
        Desktop { paths, inner: tokio::sync::Mutex::new(Inner::default()), seq: AtomicU32::new(0) }
    }

    fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Starts with what was remembered: the shared core's URL, or the embedded core started.
    pub async fn start(&self) {
        let settings = Settings::load(&self.paths);
        let mut inner = self.inner.lock().await;
        match &settings.core {
            Some(CoreChoice::Remote { url }) => inner.core_url = Some(url.clone()),
            Some(CoreChoice::Embedded) => match EmbeddedCore::start(&self.paths.core_dir()).await {
                Ok((core, first)) => {
                    // A core folder made anew (its files were removed): the admin's password must
                    // be chosen again on the first-run screen.
                    if first.is_none() {
                        inner.core_url = Some(core.url.clone());
                    }
                    inner.first_start = first;
                    inner.embedded = Some(core);
                }
                Err(e) => inner.startup_error = Some(e.message),
            },
            None => {}
        }
        inner.settings = settings;
    }

    /// The page's bridge object as a script that runs before the page's own code.
    async fn init_script(&self) -> String {
        let inner = self.inner.lock().await;
        let url = inner.core_url.clone();
        drop(inner);
        let token = match &url {
            // A keyring that fails only means logging in again.
            Some(u) => token::get(u).unwrap_or_else(|e| {
                tracing::warn!("no token from the keyring: {e}");
                None
            }),
            None => None,
        };
        let inner = self.inner.lock().await;
        let bridge = Bridge {
            core: url.as_deref(),
            token,
            embedded: inner.embedded.is_some() && url.is_some(),
            error: inner.startup_error.as_deref(),
            version: env!("CARGO_PKG_VERSION"),
        };
        let json = serde_json::to_string(&bridge).unwrap_or_else(|_| "{}".into());
        format!("window.__WINTERMUTE_DESKTOP__ = Object.freeze({json});")
    }

    /// Opens a new main window (the first-run screen, or the app on the chosen core) and closes
    /// the earlier ones, consoles included: they belonged to the core used before.
    pub async fn open_main(&self, app: &AppHandle) -> Result<WebviewWindow, DesktopError> {
        let old: Vec<WebviewWindow> = app.webview_windows().into_values().collect();
        let script = self.init_script().await;
        let label = format!("main-{}", self.next());
        let window = WebviewWindowBuilder::new(app, label, WebviewUrl::App("index.html".into()))
            .title("Wintermute")
            .inner_size(1280.0, 820.0)
            .min_inner_size(480.0, 400.0)
            .initialization_script(&script)
            .build()?;
        for w in old {
            let _ = w.destroy();
        }
        Ok(window)
    }

    /// The SSH console of an instance in a window of its own.
    pub async fn open_console(
        &self,
        app: &AppHandle,
        instance_id: i64,
        name: Option<&str>,
    ) -> Result<(), DesktopError> {
        if self.inner.lock().await.core_url.is_none() {
            return Err(DesktopError::invalid("Choose a core first."));
        }
        let script = self.init_script().await;
        let title = match name {
            Some(n) if !n.is_empty() => format!("Console: {n}"),
            _ => format!("Console: instance {instance_id}"),
        };
        let label = format!("console-{instance_id}-{}", self.next());
        WebviewWindowBuilder::new(app, label, WebviewUrl::App(format!("instances/{instance_id}/console").into()))
            .title(title)
            .inner_size(960.0, 640.0)
            .initialization_script(&script)
            .build()?;
        Ok(())
    }

    /// Stops the embedded core, if it runs.
    pub async fn stop_embedded(&self) {
        let core = self.inner.lock().await.embedded.take();
        if let Some(core) = core {
            core.stop().await;
        }
    }
}

/// Shows the app's windows again (a second start, a link opened).
pub fn focus_main(app: &AppHandle) {
    if let Some(w) = app.webview_windows().into_iter().find(|(l, _)| l.starts_with("main-")).map(|(_, w)| w) {
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}
