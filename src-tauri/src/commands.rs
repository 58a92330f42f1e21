//! The commands the page calls through the desktop bridge (`invoke`). Each returns a
//! [`DesktopError`] on failure: the core's code and message, or what failed here.

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Emitter, State};
use tauri_plugin_dialog::DialogExt;
use tauri_plugin_notification::NotificationExt;
use wintermute_api::client::Client;

use crate::app::Desktop;
use crate::embedded::{self, EmbeddedCore};
use crate::error::{DesktopError, ErrorKind};
use crate::settings::{normalize_core_url, CoreChoice};
use crate::token;
use crate::transfer::{self, Progress, Summary};

/// The core chosen on the first-run screen.
#[derive(Debug, Serialize)]
pub struct Chosen {
    pub url: String,
    /// True when an existing embedded core was reopened (its admin password was not changed).
    pub existing: bool,
}

async fn core_url(state: &Desktop) -> Result<String, DesktopError> {
    state.inner.lock().await.core_url.clone().ok_or_else(|| DesktopError::invalid("No core is chosen yet."))
}

/// Uses the shared core at `url` from now on (after checking that a core answers there).
#[tauri::command(rename_all = "snake_case")]
pub async fn use_remote_core(app: AppHandle, state: State<'_, Desktop>, url: String) -> Result<Chosen, DesktopError> {
    let url = normalize_core_url(&url)?;
    Client::new(&url)?.health().await?;
    state.stop_embedded().await;
    {
        let mut inner = state.inner.lock().await;
        inner.settings.core = Some(CoreChoice::Remote { url: url.clone() });
        inner.settings.save(&state.paths)?;
        inner.core_url = Some(url.clone());
        inner.first_start = None;
        inner.startup_error = None;
    }
    state.open_main(&app).await?;
    Ok(Chosen { url, existing: true })
}

/// Runs a core on this computer from now on. On its first start the administrator `admin`
/// gets `password` (instead of the core's temporary one).
#[tauri::command(rename_all = "snake_case")]
pub async fn use_embedded_core(
    app: AppHandle,
    state: State<'_, Desktop>,
    password: String,
) -> Result<Chosen, DesktopError> {
    let running = state.inner.lock().await.embedded.as_ref().map(|c| c.url.clone());
    let url = match running {
        Some(url) => url,
        None => {
            let (core, first) = EmbeddedCore::start(&state.paths.core_dir()).await?;
            let url = core.url.clone();
            let mut inner = state.inner.lock().await;
            inner.embedded = Some(core);
            inner.first_start = first;
            url
        }
    };
    let first = state.inner.lock().await.first_start.take();
    let existing = first.is_none();
    if let Some(first) = &first {
        if let Err(e) = embedded::set_admin_password(&url, first, &password).await {
            // Keep it for the next try (e.g. a password the core finds too short).
            state.inner.lock().await.first_start =
                Some(wintermute_core::FirstStart { login: first.login.clone(), password: first.password.clone() });
            return Err(e);
        }
    }
    {
        let mut inner = state.inner.lock().await;
        inner.settings.core = Some(CoreChoice::Embedded);
        inner.settings.save(&state.paths)?;
        inner.core_url = Some(url.clone());
        inner.startup_error = None;
    }
    state.open_main(&app).await?;
    Ok(Chosen { url, existing })
}

/// Back to the first-run screen to choose another core (the embedded core stops).
#[tauri::command(rename_all = "snake_case")]
pub async fn switch_core(app: AppHandle, state: State<'_, Desktop>) -> Result<(), DesktopError> {
    switch(&app, &state).await
}

pub async fn switch(app: &AppHandle, state: &Desktop) -> Result<(), DesktopError> {
    state.stop_embedded().await;
    {
        let mut inner = state.inner.lock().await;
        inner.settings.core = None;
        inner.settings.save(&state.paths)?;
        inner.core_url = None;
        inner.first_start = None;
        inner.startup_error = None;
    }
    state.open_main(app).await?;
    Ok(())
}

/// Keeps the session token of the current core in the OS keyring.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_token(state: State<'_, Desktop>, token: String) -> Result<(), DesktopError> {
    let url = core_url(&state).await?;
    tauri::async_runtime::spawn_blocking(move || token::set(&url, &token))
        .await
        .map_err(|e| DesktopError::new(ErrorKind::Keyring, e.to_string()))?
}

/// Removes the session token of the current core from the OS keyring.
#[tauri::command(rename_all = "snake_case")]
pub async fn forget_token(state: State<'_, Desktop>) -> Result<(), DesktopError> {
    let url = core_url(&state).await?;
    tauri::async_runtime::spawn_blocking(move || token::delete(&url))
        .await
        .map_err(|e| DesktopError::new(ErrorKind::Keyring, e.to_string()))?
}

/// Opens the SSH console of an instance in a window of its own.
#[tauri::command(rename_all = "snake_case")]
pub async fn open_console_window(
    app: AppHandle,
    state: State<'_, Desktop>,
    instance_id: i64,
    name: Option<String>,
) -> Result<(), DesktopError> {
    state.open_console(&app, instance_id, name.as_deref()).await
}

/// Shows a desktop notification (the page calls it when a task it follows ends). A system
/// without a notification service only logs it.
#[tauri::command(rename_all = "snake_case")]
pub fn notify(app: AppHandle, title: String, body: String) {
    notify_now(&app, &title, &body);
}

pub fn notify_now(app: &AppHandle, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::info!("notification not shown ({e}): {title}: {body}");
    }
}

/// Lets the person choose files (or one folder) in the native picker, then sends them to
/// `target` on the instance, as [`upload_paths`] does.
#[tauri::command(rename_all = "snake_case")]
pub async fn pick_and_upload(
    app: AppHandle,
    state: State<'_, Desktop>,
    token: String,
    instance_id: i64,
    target: String,
    folder: bool,
) -> Result<Summary, DesktopError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let dialog = app.dialog().file().set_title(if folder { "Folder to upload" } else { "Files to upload" });
    if folder {
        dialog.pick_folder(move |p| {
            let _ = tx.send(p.map(|p| vec![p]));
        });
    } else {
        dialog.pick_files(move |p| {
            let _ = tx.send(p);
        });
    }
    let chosen = rx.await.ok().flatten().ok_or_else(|| DesktopError::new(ErrorKind::Cancelled, "Nothing chosen."))?;
    let paths: Vec<PathBuf> = chosen.into_iter().filter_map(|p| p.into_path().ok()).collect();
    run_upload(&app, &state, token, instance_id, &target, paths).await
}

/// Sends files and folders of this computer to the folder `target` on an instance (the transfer
/// the native picker feeds). Progress arrives as `transfer-progress` events; a notification
/// says when it is done.
#[tauri::command(rename_all = "snake_case")]
pub async fn upload_paths(
    app: AppHandle,
    state: State<'_, Desktop>,
    token: String,
    instance_id: i64,
    target: String,
    paths: Vec<String>,
) -> Result<Summary, DesktopError> {
    let paths = paths.into_iter().map(PathBuf::from).collect();
    run_upload(&app, &state, token, instance_id, &target, paths).await
}

async fn run_upload(
    app: &AppHandle,
    state: &Desktop,
    token: String,
    instance_id: i64,
    target: &str,
    paths: Vec<PathBuf>,
) -> Result<Summary, DesktopError> {
    if paths.is_empty() {
        return Err(DesktopError::new(ErrorKind::Cancelled, "Nothing chosen."));
    }
    let client = Client::new(&core_url(state).await?)?.with_token(token);
    let files = tauri::async_runtime::spawn_blocking(move || transfer::collect(&paths))
        .await
        .map_err(|e| DesktopError::new(ErrorKind::Io, e.to_string()))??;
    let id = format!("upload-{instance_id}-{}", rand::random::<u32>());
    let files_total = files.len();
    let bytes_total: u64 = files.values().map(|f| f.size).sum();
    let emit = |file: &str, files_done: usize, bytes_done: u64, finished: bool| {
        let p = Progress {
            transfer: id.clone(),
            instance_id,
            file: file.to_owned(),
            files_done,
            files_total,
            bytes_done,
            bytes_total,
            finished,
        };
        let _ = app.emit("transfer-progress", p);
    };
    let result = transfer::upload(&client, instance_id, target, &files, |f, n, b| emit(f, n, b, false)).await;
    match &result {
        Ok(s) => {
            emit("", s.files, s.bytes, true);
            notify_now(app, "Upload finished", &format!("{} files ({} bytes) sent to {}", s.files, s.bytes, s.target));
        }
        Err(e) => notify_now(app, "Upload failed", &e.message),
    }
    result
}

/// Asks the instance what `source` is, then lets the person choose where it goes here in the
/// native picker (a file: the save dialog; a folder: a folder it is put in), then fetches it as
/// [`download_to`] does.
#[tauri::command(rename_all = "snake_case")]
pub async fn pick_and_download(
    app: AppHandle,
    state: State<'_, Desktop>,
    token: String,
    instance_id: i64,
    source: String,
) -> Result<Summary, DesktopError> {
    let client = Client::new(&core_url(&state).await?)?.with_token(token.clone());
    let remote = transfer::remote(&client, instance_id, &source).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = remote.name().to_owned();
    match &remote {
        transfer::Remote::File { .. } => {
            app.dialog().file().set_title("Save the file as").set_file_name(&name).save_file(move |p| {
                let _ = tx.send(p);
            })
        }
        transfer::Remote::Folder { .. } => {
            app.dialog().file().set_title(format!("Folder to put {name} in")).pick_folder(move |p| {
                let _ = tx.send(p.map(|p| p.into_path().map(|d| d.join(&name).into())).and_then(Result::ok));
            })
        }
    }
    let dest = rx
        .await
        .ok()
        .flatten()
        .and_then(|p| p.into_path().ok())
        .ok_or_else(|| DesktopError::new(ErrorKind::Cancelled, "Nothing chosen."))?;
    run_download(&app, client, instance_id, remote, dest).await
}

/// Fetches `source` (a file or a folder) of an instance to `dest` on this computer (the
/// transfer the native picker feeds): a file to that path, a folder's files into the folder
/// `dest`. Progress arrives as `transfer-progress` events; a notification says when it is done.
#[tauri::command(rename_all = "snake_case")]
pub async fn download_to(
    app: AppHandle,
    state: State<'_, Desktop>,
    token: String,
    instance_id: i64,
    source: String,
    dest: String,
) -> Result<Summary, DesktopError> {
    let client = Client::new(&core_url(&state).await?)?.with_token(token);
    let remote = transfer::remote(&client, instance_id, &source).await?;
    run_download(&app, client, instance_id, remote, PathBuf::from(dest)).await
}

async fn run_download(
    app: &AppHandle,
    client: Client,
    instance_id: i64,
    remote: transfer::Remote,
    dest: PathBuf,
) -> Result<Summary, DesktopError> {
    let id = format!("download-{instance_id}-{}", rand::random::<u32>());
    let (files_total, bytes_total) = remote.totals();
    let emit = |file: &str, files_done: usize, bytes_done: u64, finished: bool| {
        let p = Progress {
            transfer: id.clone(),
            instance_id,
            file: file.to_owned(),
            files_done,
            files_total,
            bytes_done,
            bytes_total,
            finished,
        };
        let _ = app.emit("transfer-progress", p);
    };
    let result = transfer::download(&client, instance_id, &remote, &dest, |f, n, b| emit(f, n, b, false)).await;
    match &result {
        Ok(s) => {
            emit("", s.files, s.bytes, true);
            notify_now(
                app,
                "Download finished",
                &format!("{} files ({} bytes) saved in {}", s.files, s.bytes, s.target),
            );
        }
        Err(e) => notify_now(app, "Download failed", &e.message),
    }
    result
}
