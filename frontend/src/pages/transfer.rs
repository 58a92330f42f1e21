//! Upload and download dialogs (manual 7.3.6 "Upload Data" / "Download Data", 7.4.1): between
//! the user's data directory on the core and an instance or volume (a sync task followed live,
//! with cancel), and between this computer and an instance through the core (files sent piece by
//! piece with a byte progress bar; a file fetched into a download with its progress).
//!
//! [`send_files`] is the one path every workstation upload takes: the browser's file input
//! gives it `web_sys::File`s, the desktop app its native picker's files (anything that is a
//! [`LocalFile`]).

use std::future::Future;
use std::pin::Pin;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wintermute_api::client::{Client, ClientError, FileMeta};
use wintermute_api::sync::{human_bytes, progress_text, RemoteFile, TransferRequest};
use wintermute_api::tasks::Task;
use wintermute_api::{ApiError, ErrorCode};

use crate::api::{act, use_auth};
use crate::pages::tasks::TaskFollow;
use crate::ui::{tab_button, ErrorBox, Modal, Progress};

/// Bytes per PUT: small enough for a live bar and a cheap resume, large enough to keep the
/// per-request cost low.
const PIECE: u64 = 1024 * 1024;

/// What the data moves to or from.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Instance {
        id: i64,
        name: String,
    },
    /// A volume: instance paths are relative to its mount point.
    Volume {
        id: i64,
        name: String,
        mount_point: Option<String>,
    },
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Instance { name, .. } | Target::Volume { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Upload,
    Download,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Core,
    Computer,
}

/// "Upload data" / "Download data" of an instance or volume: the data directory on the core
/// (always), this computer (instances only).
#[component]
pub fn TransferDialog(target: Target, way: Way, on_close: Callback<()>) -> impl IntoView {
    let side = RwSignal::new(Side::Core);
    let is_instance = matches!(target, Target::Instance { .. });
    let title = match way {
        Way::Upload => format!("Upload data to {}", target.name()),
        Way::Download => format!("Download data from {}", target.name()),
    };
    let computer = match (&target, way) {
        (Target::Instance { id, .. }, Way::Upload) => view! { <ComputerUpload instance_id=*id /> }.into_any(),
        (Target::Instance { id, .. }, Way::Download) => view! { <ComputerDownload instance_id=*id /> }.into_any(),
        _ => ().into_any(),
    };
    view! {
        <Modal title=title on_close=on_close wide=true>
            <div class="modal-body stack transfer">
                <Show when=move || is_instance>
                    <div class="tabs" role="tablist">
                        {tab_button(side, Side::Core, "Data on the core")}
                        {tab_button(side, Side::Computer, "This computer")}
                    </div>
                </Show>
                <div class="tab-panel" role="tabpanel" hidden=move || side.get() != Side::Core>
                    <CoreTransfer target=target.clone() way=way />
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || side.get() != Side::Computer>
                    {computer}
                </div>
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                </div>
            </div>
        </Modal>
    }
}

/// Between the data directory on the core and the instance or volume: a sync task.
#[component]
fn CoreTransfer(target: Target, way: Way) -> impl IntoView {
    let auth = use_auth();
    let (core_hint, remote_hint) = match &target {
        Target::Instance { .. } => ("e.g. deck1/ (inside your data directory)", "e.g. /mnt/data/"),
        Target::Volume { .. } => ("e.g. deck1/ (inside your data directory)", "e.g. results/ (inside the volume)"),
    };
    let mount = match &target {
        Target::Volume { mount_point, .. } => mount_point.clone(),
        Target::Instance { .. } => None,
    };
    let source = RwSignal::new(String::new());
    let dest = RwSignal::new(String::new());
    let delete = RwSignal::new(false);
    let checksum = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let task = RwSignal::new(None::<i64>);
    let (source_label, source_hint, dest_label, dest_hint) = match way {
        Way::Upload => ("Source path on the core", core_hint, "Target path on the instance", remote_hint),
        Way::Download => ("Source path on the instance", remote_hint, "Target path on the core", core_hint),
    };
    let target = StoredValue::new(target);
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = TransferRequest {
            source: source.get_untracked().trim().to_owned(),
            target: dest.get_untracked().trim().to_owned(),
            delete: delete.get_untracked(),
            checksum: checksum.get_untracked(),
        };
        let t = target.get_value();
        act(
            auth,
            busy,
            error,
            move |c: Client| async move {
                match (t, way) {
                    (Target::Instance { id, .. }, Way::Upload) => c.upload(id, &req).await,
                    (Target::Instance { id, .. }, Way::Download) => c.download(id, &req).await,
                    (Target::Volume { id, .. }, Way::Upload) => c.volume_upload(id, &req).await,
                    (Target::Volume { id, .. }, Way::Download) => c.volume_download(id, &req).await,
                }
            },
            move |t: Task| task.set(Some(t.id)),
        );
    };
    view! {
        <form class="stack core-transfer" on:submit=start>
            <p class="hint">
                "Only new or changed files move. A trailing / on the source means its contents; the target is a directory."
                {mount.map(|m| format!(" Volume paths are inside its mount point {m}."))}
            </p>
            <label>
                {source_label}
                <input type="text" name="source" required=true placeholder=source_hint bind:value=source />
            </label>
            <label>
                {dest_label}
                <input type="text" name="target" required=true placeholder=dest_hint bind:value=dest />
            </label>
            <label class="check">
                <input type="checkbox" name="delete" bind:checked=delete />
                " Delete what the target has and the source has not"
            </label>
            <label class="check">
                <input type="checkbox" name="checksum" bind:checked=checksum />
                " Compare contents (SHA-256) instead of size and time"
            </label>
            <ErrorBox error=error />
            <div class="buttons">
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {match way {
                        Way::Upload => "Start upload",
                        Way::Download => "Start download",
                    }}
                </button>
            </div>
        </form>
        {move || {
            task.get().map(|id| view! { <TaskFollow task_id=id class="transfer-progress" label="Transfer" /> })
        }}
    }
}

/// A file on this computer that can be sent to an instance: the browser's `File`, or what the
/// desktop app's native picker gives.
pub trait LocalFile {
    /// Its path relative to the destination, `/`-separated (`report.pdf`, `deck1/input.dat`).
    fn relative_path(&self) -> String;
    fn size(&self) -> u64;
    /// Modification time in milliseconds since 1970.
    fn modified_ms(&self) -> f64;
    /// Bytes `start..end` of it.
    fn read(&self, start: u64, end: u64) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>>>>;
}

impl LocalFile for web_sys::File {
    fn relative_path(&self) -> String {
        // A folder chosen with `webkitdirectory` gives each file's path below the folder's parent.
        let rel = js_sys::Reflect::get(self, &JsValue::from_str("webkitRelativePath"))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        if rel.is_empty() {
            self.name()
        } else {
            rel
        }
    }

    fn size(&self) -> u64 {
        web_sys::Blob::size(self) as u64
    }

    fn modified_ms(&self) -> f64 {
        self.last_modified()
    }

    fn read(&self, start: u64, end: u64) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>>>> {
        let piece = self.slice_with_f64_and_f64(start as f64, end as f64);
        Box::pin(async move {
            let blob = piece.map_err(|e| js_text(&e))?;
            let buf = JsFuture::from(blob.array_buffer()).await.map_err(|e| js_text(&e))?;
            Ok(js_sys::Uint8Array::new(&buf).to_vec())
        })
    }
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| "the browser could not read the file".into())
}

/// How far a workstation transfer is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    pub files_done: usize,
    pub files_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// The file being sent now.
    pub current: String,
}

/// Why a workstation upload stopped.
#[derive(Debug)]
pub enum SendError {
    Core(ClientError),
    Read(String, String),
    Cancelled,
}

/// Sends `files` from this computer into the directory `destination` on instance `instance_id`
/// (a full path or `~/…`), piece by piece through the core, calling `progress` after every
/// piece and stopping between pieces once `cancelled` says so. A partial copy left by an
/// earlier cut upload of the same file (same size and time) is resumed, not sent again.
pub async fn send_files(
    client: &Client,
    instance_id: i64,
    files: &[Box<dyn LocalFile>],
    destination: &str,
    progress: impl Fn(&Sent),
    cancelled: impl Fn() -> bool,
) -> Result<Sent, SendError> {
    let dir = destination.trim().trim_end_matches('/');
    let dir = if dir.is_empty() && destination.trim().starts_with('/') { "" } else { dir };
    let mut sent =
        Sent { files_total: files.len(), bytes_total: files.iter().map(|f| f.size()).sum(), ..Sent::default() };
    progress(&sent);
    // Partial copies to resume (the directory may not exist yet: nothing to resume then).
    let partial = client.instance_files(instance_id, &format!("{dir}/")).await.map(|t| t.partial).unwrap_or_default();
    for f in files {
        let rel = f.relative_path();
        let path = format!("{dir}/{rel}");
        let size = f.size();
        let ms = f.modified_ms().max(0.0);
        let meta = FileMeta {
            size,
            mtime: (ms / 1000.0).floor() as i64,
            mtime_nsec: ((ms % 1000.0) * 1_000_000.0) as u32,
            mode: 0o644,
        };
        sent.current = rel.clone();
        let mut offset =
            partial.iter().find(|p| p.path == rel && p.size == size && p.mtime == meta.mtime).map_or(0, |p| p.bytes);
        sent.bytes_done += offset;
        loop {
            if cancelled() {
                return Err(SendError::Cancelled);
            }
            let end = (offset + PIECE).min(size);
            let data = f.read(offset, end).await.map_err(|e| SendError::Read(rel.clone(), e))?;
            match client.put_file_piece(instance_id, &path, offset, meta, data).await {
                Ok(p) => {
                    sent.bytes_done += p.bytes.saturating_sub(offset);
                    offset = p.bytes;
                    progress(&sent);
                    if p.complete || offset >= size {
                        break;
                    }
                }
                // The instance holds a different amount than we thought: go on from there.
                Err(e) if e.code() == Some(ErrorCode::Conflict) => {
                    let tree = client.instance_files(instance_id, &format!("{dir}/")).await.map_err(SendError::Core)?;
                    let Some(have) = tree.partial.iter().find(|p| p.path == rel).map(|p| p.bytes) else {
                        return Err(SendError::Core(e));
                    };
                    sent.bytes_done = sent.bytes_done - offset + have;
                    offset = have;
                }
                Err(e) => return Err(SendError::Core(e)),
            }
        }
        sent.files_done += 1;
        progress(&sent);
    }
    sent.current.clear();
    Ok(sent)
}

/// The input's chosen files, as [`LocalFile`]s.
fn chosen(input: &web_sys::HtmlInputElement) -> Vec<Box<dyn LocalFile>> {
    let Some(list) = input.files() else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).map(|f| Box::new(f) as Box<dyn LocalFile>).collect()
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Where a workstation transfer is, for its view.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Running,
    Done(String),
    Failed(String),
}

/// The progress part of a workstation transfer: bar, numbers, outcome.
#[component]
fn TransferStatus(phase: RwSignal<Phase>, fraction: Signal<f64>, line: Signal<String>) -> impl IntoView {
    let state = move || match phase.get() {
        Phase::Idle => "",
        Phase::Running => "running",
        Phase::Done(_) => "done",
        Phase::Failed(_) => "failed",
    };
    view! {
        <Show when=move || phase.get() != Phase::Idle>
            <section class="workstation-progress" aria-label="Transfer" data-state=state>
                <Progress value=fraction />
                <p class="task-message" role="status">{move || line.get()}</p>
                {move || match phase.get() {
                    Phase::Done(m) => view! { <p class="ok">{m}</p> }.into_any(),
                    Phase::Failed(m) => view! { <div class="error" role="alert"><strong>"Error: "</strong>{m}</div> }.into_any(),
                    _ => ().into_any(),
                }}
            </section>
        </Show>
    }
}

/// This computer -> instance: files or a folder into a directory on the instance.
#[component]
fn ComputerUpload(instance_id: i64) -> impl IntoView {
    let auth = use_auth();
    let files_input = NodeRef::<leptos::html::Input>::new();
    let folder_input = NodeRef::<leptos::html::Input>::new();
    let dest = RwSignal::new("~/".to_string());
    let picked = RwSignal::new(String::new());
    let phase = RwSignal::new(Phase::Idle);
    let sent = RwSignal::new(Sent::default());
    let started = RwSignal::new(0.0f64);
    let cancel = RwSignal::new(false);
    // The folder picker (`webkitdirectory`: every file of a chosen folder, with its path).
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });
    let count_chosen = move || {
        let mut files = Vec::new();
        for input in [files_input.get_untracked(), folder_input.get_untracked()].into_iter().flatten() {
            files.extend(chosen(&input));
        }
        let bytes: u64 = files.iter().map(|f| f.size()).sum();
        picked.set(if files.is_empty() {
            String::new()
        } else {
            format!("{} file(s), {} chosen", files.len(), human_bytes(bytes))
        });
    };
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut files = Vec::new();
        for input in [files_input.get_untracked(), folder_input.get_untracked()].into_iter().flatten() {
            files.extend(chosen(&input));
        }
        if files.is_empty() {
            phase.set(Phase::Failed("Choose one or more files (or a folder) first.".into()));
            return;
        }
        let client = match auth.client() {
            Ok(c) => c,
            Err(e) => {
                phase.set(Phase::Failed(e));
                return;
            }
        };
        let destination = dest.get_untracked();
        cancel.set(false);
        started.set(now_ms());
        phase.set(Phase::Running);
        spawn_local(async move {
            let out = send_files(
                &client,
                instance_id,
                &files,
                &destination,
                |s| sent.set(s.clone()),
                || cancel.get_untracked(),
            )
            .await;
            phase.set(match out {
                Ok(s) => Phase::Done(format!(
                    "Done: {} file(s), {} sent to {destination}",
                    s.files_done,
                    human_bytes(s.bytes_done)
                )),
                Err(SendError::Cancelled) => Phase::Failed("Cancelled.".into()),
                Err(SendError::Read(name, why)) => Phase::Failed(format!("Could not read {name}: {why}")),
                Err(SendError::Core(e)) => Phase::Failed(auth.error_text(&e)),
            });
        });
    };
    let fraction = Signal::derive(move || {
        sent.with(|s| if s.bytes_total > 0 { s.bytes_done as f64 / s.bytes_total as f64 } else { 1.0 })
    });
    let line = Signal::derive(move || {
        let s = sent.get();
        let secs = (now_ms() - started.get()) / 1000.0;
        let mut text = progress_text((s.files_done as u64, s.files_total as u64), (s.bytes_done, s.bytes_total), secs);
        if !s.current.is_empty() {
            text = format!("{text} — {}", s.current);
        }
        text
    });
    view! {
        <form class="stack computer-upload" on:submit=start>
            <label>
                "Files"
                <input type="file" name="files" multiple=true node_ref=files_input on:change=move |_| count_chosen() />
            </label>
            <label>
                "Or a folder"
                <input type="file" name="folder" node_ref=folder_input on:change=move |_| count_chosen() />
            </label>
            <p class="sub">{move || picked.get()}</p>
            <label>
                "Destination directory on the instance"
                <input type="text" name="destination" required=true placeholder="e.g. ~/ or /mnt/data/" bind:value=dest />
            </label>
            <div class="buttons">
                <Show when=move || phase.get() == Phase::Running>
                    <button type="button" class="danger" on:click=move |_| cancel.set(true)>"Cancel"</button>
                </Show>
                <button type="submit" class="primary" disabled=move || phase.get() == Phase::Running>"Send"</button>
            </div>
        </form>
        <TransferStatus phase=phase fraction=fraction line=line />
    }
}

/// Instance -> this computer: a directory listed, a file of it fetched and saved.
#[component]
fn ComputerDownload(instance_id: i64) -> impl IntoView {
    let auth = use_auth();
    let path = RwSignal::new("~/".to_string());
    let listing = RwSignal::new(None::<(String, Vec<RemoteFile>)>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let phase = RwSignal::new(Phase::Idle);
    let got = RwSignal::new((0u64, 0u64));
    let started = RwSignal::new(0.0f64);
    let saved = RwSignal::new(None::<(String, String)>);
    let cancel = RwSignal::new(false);
    let list = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let p = path.get_untracked().trim().to_owned();
        act(
            auth,
            busy,
            error,
            move |c: Client| {
                let p = p.clone();
                async move { c.instance_files(instance_id, &p).await.map(|t| (p, t)) }
            },
            move |(p, tree)| {
                if tree.kind == "missing" {
                    error.set(Some(format!("{p} does not exist on the instance.")));
                    listing.set(None);
                    return;
                }
                let files: Vec<RemoteFile> = tree.files.into_iter().filter(|f| !f.dir).collect();
                // A file named directly: its own folder is the listing.
                let dir = if tree.kind == "file" {
                    p.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default()
                } else {
                    format!("{}/", p.trim_end_matches('/'))
                };
                listing.set(Some((dir, files)));
            },
        );
    };
    let fetch = move |full: String, name: String, size: u64| {
        let client = match auth.client() {
            Ok(c) => c,
            Err(e) => {
                phase.set(Phase::Failed(e));
                return;
            }
        };
        cancel.set(false);
        got.set((0, size));
        started.set(now_ms());
        phase.set(Phase::Running);
        spawn_local(async move {
            let out =
                receive_file(&client, instance_id, &full, size, |n| got.set((n, size)), || cancel.get_untracked())
                    .await;
            match out.and_then(|bytes| save_as(&name, &bytes).map(|url| (url, bytes.len()))) {
                Ok((url, n)) => {
                    if let Some((old, _)) = saved.get_untracked() {
                        let _ = web_sys::Url::revoke_object_url(&old);
                    }
                    saved.set(Some((url, name.clone())));
                    phase.set(Phase::Done(format!("Done: {name} ({}) saved to your downloads", human_bytes(n as u64))));
                }
                Err(e) => phase.set(Phase::Failed(match e {
                    SendError::Cancelled => "Cancelled.".into(),
                    SendError::Read(_, why) => why,
                    SendError::Core(e) => auth.error_text(&e),
                })),
            }
        });
    };
    on_cleanup(move || {
        if let Some((url, _)) = saved.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
    });
    let fraction = Signal::derive(move || got.with(|(n, t)| if *t > 0 { *n as f64 / *t as f64 } else { 1.0 }));
    let line = Signal::derive(move || {
        let (n, t) = got.get();
        let files = if n >= t { 1 } else { 0 };
        progress_text((files, 1), (n, t), (now_ms() - started.get()) / 1000.0)
    });
    view! {
        <form class="stack computer-download" on:submit=list>
            <label>
                "Directory or file on the instance"
                <input type="text" name="remote_path" required=true placeholder="e.g. ~/ or /mnt/data/results/" bind:value=path />
            </label>
            <ErrorBox error=error />
            <div class="buttons">
                <button type="submit" disabled=move || busy.get()>"List"</button>
            </div>
        </form>
        {move || {
            listing
                .get()
                .map(|(dir, files)| {
                    if files.is_empty() {
                        return view! { <p class="muted">{format!("No files in {dir}")}</p> }.into_any();
                    }
                    view! {
                        <ul class="plain remote-files">
                            {files
                                .into_iter()
                                .map(|f| {
                                    let full = format!("{dir}{}", f.path);
                                    let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_owned();
                                    let size = f.size;
                                    view! {
                                        <li data-path=f.path.clone()>
                                            <button
                                                type="button"
                                                class="small"
                                                disabled=move || phase.get() == Phase::Running
                                                on:click=move |_| fetch(full.clone(), name.clone(), size)
                                            >
                                                "Download"
                                            </button>
                                            " "
                                            <code>{f.path.clone()}</code>
                                            <span class="sub">{format!(" {}", human_bytes(f.size))}</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                })
        }}
        <TransferStatus phase=phase fraction=fraction line=line />
        <Show when=move || phase.get() == Phase::Running>
            <button type="button" class="danger" on:click=move |_| cancel.set(true)>"Cancel"</button>
        </Show>
        {move || {
            saved
                .get()
                .map(|(url, name)| {
                    view! {
                        <p>
                            <a class="saved-file" href=url download=name.clone()>{format!("Save {name} again")}</a>
                        </p>
                    }
                })
        }}
    }
}

/// Fetches the file at `path` of an instance (`GET /api/v1/instances/{id}/files/content`) as
/// it streams from the core, calling `progress` with the bytes so far. The typed client reads a
/// body only whole on wasm, so this one call reads the stream with the browser's `fetch`, at the
/// client's URL and with its token; a refusal is the core's error, as the client reports it.
async fn receive_file(
    client: &Client,
    instance_id: i64,
    path: &str,
    size: u64,
    progress: impl Fn(u64),
    cancelled: impl Fn() -> bool,
) -> Result<Vec<u8>, SendError> {
    let mut url = client.url(&format!("instances/{instance_id}/files/content")).map_err(SendError::Core)?;
    url.query_pairs_mut().append_pair("path", path).append_pair("offset", "0");
    let url = url.to_string();
    let broke = |e: JsValue| SendError::Read(path.to_owned(), format!("the download broke off: {}", js_text(&e)));
    let headers = web_sys::Headers::new().map_err(broke)?;
    if let Some(token) = client.token() {
        headers.set("Authorization", &format!("Bearer {token}")).map_err(broke)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    let window = web_sys::window().ok_or_else(|| broke(JsValue::NULL))?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(|_| {
            SendError::Read(path.to_owned(), "The core cannot be reached. Check the connection and try again.".into())
        })?
        .unchecked_into();
    if !resp.ok() {
        let status = resp.status();
        let body = match resp.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        return Err(SendError::Core(match serde_json::from_str::<ApiError>(&body) {
            Ok(api) => ClientError::Api(api),
            Err(_) => ClientError::Unexpected { status, body },
        }));
    }
    let Some(body) = resp.body() else { return Ok(Vec::new()) };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut out = Vec::with_capacity(size as usize);
    loop {
        if cancelled() {
            let _ = reader.cancel();
            return Err(SendError::Cancelled);
        }
        let chunk = JsFuture::from(reader.read()).await.map_err(broke)?;
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|v| v.as_bool());
        if done != Some(false) {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).map_err(broke)?;
        out.extend(js_sys::Uint8Array::new(&value).to_vec());
        progress(out.len() as u64);
    }
    Ok(out)
}

/// Hands `bytes` to the browser as a download named `name`; returns the object URL (kept for
/// "save again", revoked when the dialog closes).
fn save_as(name: &str, bytes: &[u8]) -> Result<String, SendError> {
    let fail = |e: JsValue| SendError::Read(name.to_owned(), js_text(&e));
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/octet-stream");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let doc = web_sys::window().and_then(|w| w.document()).ok_or_else(|| fail(JsValue::NULL))?;
    let a: web_sys::HtmlAnchorElement = doc.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    Ok(url)
}
