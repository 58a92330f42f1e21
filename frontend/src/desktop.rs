//! The bridge to the desktop app (Tauri). In a browser none of this is there and every function
//! here says so (`None`, nothing rendered); in the app, the app sets `window.__WINTERMUTE_DESKTOP__`
//! before this code runs (which core, the token kept in the OS keyring) and offers its commands
//! through `window.__TAURI_INTERNALS__.invoke`.
//!
//! What the app adds: the first-run screen (a shared core's address, or a core run on this
//! computer), the token in the OS keyring instead of the page's storage, consoles in windows of
//! their own, uploads of files and folders chosen in the native picker, and downloads to a place
//! chosen in it.

use std::cell::OnceCell;

use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wintermute_api::ErrorCode;

use crate::ui::ErrorBox;

/// What the app tells the page when it loads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Bridge {
    /// The core in use; None on the first-run screen.
    pub core: Option<String>,
    /// The session token kept in the OS keyring for that core.
    pub token: Option<String>,
    /// Why the core remembered from the last run could not be used.
    pub error: Option<String>,
}

thread_local! {
    static BRIDGE: OnceCell<Option<Bridge>> = const { OnceCell::new() };
}

/// The bridge, when this page runs in the desktop app.
pub fn bridge() -> Option<Bridge> {
    BRIDGE.with(|b| b.get_or_init(read_bridge).clone())
}

fn read_bridge() -> Option<Bridge> {
    let window = web_sys::window()?;
    let value = js_sys::Reflect::get(&window, &JsValue::from_str("__WINTERMUTE_DESKTOP__")).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let text = js_sys::JSON::stringify(&value).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}

pub fn is_desktop() -> bool {
    bridge().is_some()
}

/// The core the app chose (None in a browser, or before the first-run screen is answered).
pub fn core_url() -> Option<String> {
    bridge().and_then(|b| b.core)
}

/// A failed desktop command: the core's code and message, or what failed in the app.
#[derive(Debug, Clone, Deserialize)]
pub struct DesktopError {
    pub kind: String,
    #[serde(default)]
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl DesktopError {
    fn other(message: impl Into<String>) -> DesktopError {
        DesktopError { kind: "bridge".into(), code: None, message: message.into() }
    }
}

/// Calls a command of the app with `args` (an object: its fields are the command's arguments).
pub async fn invoke<T: DeserializeOwned>(cmd: &str, args: &impl Serialize) -> Result<T, DesktopError> {
    let window = web_sys::window().ok_or_else(|| DesktopError::other("no window"))?;
    let internals = js_sys::Reflect::get(&window, &JsValue::from_str("__TAURI_INTERNALS__"))
        .map_err(|_| DesktopError::other("not in the desktop app"))?;
    let invoke: js_sys::Function = js_sys::Reflect::get(&internals, &JsValue::from_str("invoke"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| DesktopError::other("not in the desktop app"))?;
    let json = serde_json::to_string(args).map_err(|e| DesktopError::other(e.to_string()))?;
    let args = js_sys::JSON::parse(&json).map_err(|_| DesktopError::other("arguments are not JSON"))?;
    let promise: js_sys::Promise = invoke
        .call2(&internals, &JsValue::from_str(cmd), &args)
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or_else(|| DesktopError::other(format!("the app refused the command {cmd}")))?;
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(v) => from_js(&v).map_err(DesktopError::other),
        Err(e) => Err(from_js::<DesktopError>(&e)
            .unwrap_or_else(|_| DesktopError::other(e.as_string().unwrap_or_else(|| format!("{cmd} failed"))))),
    }
}

fn from_js<T: DeserializeOwned>(v: &JsValue) -> Result<T, String> {
    let text = if v.is_undefined() {
        "null".to_owned()
    } else {
        js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string()).unwrap_or_else(|| "null".into())
    };
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct NoArgs {}

#[derive(Serialize)]
struct TokenArgs<'a> {
    token: &'a str,
}

/// Keeps the session token in the OS keyring (the app's replacement for the page's storage).
pub fn save_token(token: &str) {
    let token = token.to_owned();
    spawn_local(async move {
        if let Err(e) = invoke::<()>("save_token", &TokenArgs { token: &token }).await {
            web_sys::console::warn_1(&format!("the token was not kept: {}", e.message).into());
        }
    });
}

pub fn forget_token() {
    spawn_local(async move {
        if let Err(e) = invoke::<()>("forget_token", &NoArgs {}).await {
            web_sys::console::warn_1(&format!("the kept token was not removed: {}", e.message).into());
        }
    });
}

/// A desktop notification (a long task ended).
pub fn notify(title: &str, body: &str) {
    #[derive(Serialize)]
    struct Args<'a> {
        title: &'a str,
        body: &'a str,
    }
    let (title, body) = (title.to_owned(), body.to_owned());
    spawn_local(async move {
        let _ = invoke::<()>("notify", &Args { title: &title, body: &body }).await;
    });
}

/// Tasks that ran at least this long get a notification when they end.
const LONG_TASK_SECONDS: i64 = 10;

/// A task event arrived: in the app, a long task that ended while this page followed it gets a
/// desktop notification.
pub fn task_changed(known: Option<&wintermute_api::tasks::Task>, new: &wintermute_api::tasks::Task) {
    if !is_desktop() || !new.state.is_finished() || known.is_none_or(|k| k.state.is_finished()) {
        return;
    }
    let ran = match (new.started_at, new.finished_at) {
        (Some(s), Some(f)) => (f - s).num_seconds(),
        _ => 0,
    };
    if ran >= LONG_TASK_SECONDS {
        notify(&format!("Task {:?}: {}", new.state, new.title), &new.message);
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Chosen {
    #[allow(dead_code)]
    url: String,
}

/// The first-run screen: a shared core's address, or a core run on this computer. The app
/// opens a new window on the chosen core when one of them succeeds.
#[component]
pub fn Setup() -> impl IntoView {
    let url = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let remote_error = RwSignal::new(None::<String>);
    let local_error = RwSignal::new(bridge().and_then(|b| b.error));
    let connect = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[derive(Serialize)]
        struct Args {
            url: String,
        }
        busy.set(true);
        remote_error.set(None);
        let args = Args { url: url.get_untracked() };
        spawn_local(async move {
            if let Err(e) = invoke::<Chosen>("use_remote_core", &args).await {
                remote_error.set(Some(e.message));
            }
            busy.set(false);
        });
    };
    let run_here = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[derive(Serialize)]
        struct Args {
            password: String,
        }
        if password.get_untracked() != repeat.get_untracked() {
            local_error.set(Some("The two passwords differ.".into()));
            return;
        }
        busy.set(true);
        local_error.set(None);
        let args = Args { password: password.get_untracked() };
        spawn_local(async move {
            if let Err(e) = invoke::<Chosen>("use_embedded_core", &args).await {
                local_error.set(Some(e.message));
            }
            busy.set(false);
        });
    };
    view! {
        <div class="auth-page desktop-setup">
            <div class="card auth-card">
                <h1>
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Wintermute"
                </h1>
                <p class="muted">"Which core should this app use? You can switch later (menu Wintermute → Switch core)."</p>
                <form class="setup-remote" on:submit=connect>
                    <h2>"Your organization's core"</h2>
                    <label>
                        "Core address"
                        <input type="text" name="core_url" placeholder="https://wintermute.example.org" required bind:value=url />
                    </label>
                    <ErrorBox error=remote_error />
                    <button type="submit" class="primary" disabled=move || busy.get()>"Connect"</button>
                </form>
                <form class="setup-embedded" on:submit=run_here>
                    <h2>"Run a core on this computer"</h2>
                    <p class="muted">
                        "The core runs inside this app, reachable only from this computer; its key is kept in the "
                        "system keyring. Its administrator is " <strong>"admin"</strong> ": choose the password."
                    </p>
                    <label>
                        "Password for admin"
                        <input type="password" name="admin_password" autocomplete="new-password" required bind:value=password />
                    </label>
                    <label>
                        "Repeat the password"
                        <input type="password" name="repeat_password" autocomplete="new-password" required bind:value=repeat />
                    </label>
                    <ErrorBox error=local_error />
                    <button type="submit" class="primary" disabled=move || busy.get()>
                        {move || if busy.get() { "Starting…" } else { "Run a core here" }}
                    </button>
                </form>
            </div>
        </div>
    }
}

/// Progress of an upload or a download, as the app reports it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct Progress {
    transfer: String,
    instance_id: i64,
    file: String,
    files_done: usize,
    files_total: usize,
    bytes_done: u64,
    bytes_total: u64,
    finished: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Summary {
    files: usize,
    bytes: u64,
    target: String,
}

/// The console page's desktop tools: the console in its own window, files or a folder of this
/// computer (native picker) sent to a folder on the instance, and a file or folder of the
/// instance saved on this computer (native save or folder picker). Nothing in a browser.
pub fn console_tools(instance_id: i64, name: Signal<Option<String>>, token: String) -> Option<AnyView> {
    is_desktop().then(|| view! { <ConsoleTools instance_id name token /> }.into_any())
}

#[component]
fn ConsoleTools(instance_id: i64, name: Signal<Option<String>>, token: String) -> impl IntoView {
    let auth = crate::api::use_auth();
    let target = RwSignal::new("~/uploads".to_string());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let status = RwSignal::new(None::<String>);
    let listener = ProgressListener::start(instance_id, status);
    on_cleanup(move || drop(listener));

    let open_window = move |_| {
        #[derive(Serialize)]
        struct Args {
            instance_id: i64,
            name: Option<String>,
        }
        let args = Args { instance_id, name: name.get_untracked() };
        spawn_local(async move {
            if let Err(e) = invoke::<()>("open_console_window", &args).await {
                error.set(Some(e.message));
            }
        });
    };
    let token = StoredValue::new(token);
    let upload = move |folder: bool| {
        #[derive(Serialize)]
        struct Args {
            token: String,
            instance_id: i64,
            target: String,
            folder: bool,
        }
        let args = Args { token: token.get_value(), instance_id, target: target.get_untracked(), folder };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match invoke::<Summary>("pick_and_upload", &args).await {
                Ok(s) => status.set(Some(format!("{} files ({} bytes) sent to {}", s.files, s.bytes, s.target))),
                Err(e) if e.kind == "cancelled" => {}
                Err(e) => {
                    // A session the core no longer accepts ends here, as for any call of the page.
                    if e.code == Some(ErrorCode::Unauthorized) {
                        auth.clear();
                    }
                    error.set(Some(e.message))
                }
            }
            busy.set(false);
        });
    };
    let source = RwSignal::new(String::new());
    let download = move |_| {
        #[derive(Serialize)]
        struct Args {
            token: String,
            instance_id: i64,
            source: String,
        }
        let wanted = source.get_untracked();
        if wanted.trim().is_empty() {
            error.set(Some("Say which file or folder of the instance to download.".into()));
            return;
        }
        let args = Args { token: token.get_value(), instance_id, source: wanted };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match invoke::<Summary>("pick_and_download", &args).await {
                Ok(s) => status.set(Some(format!("{} files ({} bytes) saved in {}", s.files, s.bytes, s.target))),
                Err(e) if e.kind == "cancelled" => {}
                Err(e) => {
                    if e.code == Some(ErrorCode::Unauthorized) {
                        auth.clear();
                    }
                    error.set(Some(e.message))
                }
            }
            busy.set(false);
        });
    };
    view! {
        <div class="desktop-tools buttons">
            <button type="button" on:click=open_window>"Open in new window"</button>
            <label class="inline">
                "Upload to folder "
                <input type="text" name="upload_target" size="14" bind:value=target />
            </label>
            <button type="button" disabled=move || busy.get() on:click=move |_| upload(false)>"Upload files…"</button>
            <button type="button" disabled=move || busy.get() on:click=move |_| upload(true)>"Upload folder…"</button>
            <label class="inline">
                "Download "
                <input type="text" name="download_source" size="14" placeholder="~/results" bind:value=source />
            </label>
            <button type="button" disabled=move || busy.get() on:click=download>"Download to this computer…"</button>
            <span class="muted" role="status" data-testid="transfer-status">{move || status.get()}</span>
            <ErrorBox error=error />
        </div>
    }
}

/// Listens to the app's `transfer-progress` events for one instance while the page shows.
struct ProgressListener {
    _callback: SendWrapper<Closure<dyn FnMut(JsValue)>>,
    unlisten: SendWrapper<std::rc::Rc<std::cell::RefCell<Option<js_sys::Function>>>>,
}

impl ProgressListener {
    fn start(instance_id: i64, status: RwSignal<Option<String>>) -> Option<ProgressListener> {
        let window = web_sys::window()?;
        let tauri = js_sys::Reflect::get(&window, &JsValue::from_str("__TAURI__")).ok()?;
        let event = js_sys::Reflect::get(&tauri, &JsValue::from_str("event")).ok()?;
        let listen: js_sys::Function =
            js_sys::Reflect::get(&event, &JsValue::from_str("listen")).ok()?.dyn_into().ok()?;
        let callback = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Ok(payload) = js_sys::Reflect::get(&ev, &JsValue::from_str("payload")) else { return };
            let Ok(p) = from_js::<Progress>(&payload) else { return };
            if p.instance_id != instance_id {
                return;
            }
            let (done, doing) =
                if p.transfer.starts_with("download-") { ("Download", "Downloading") } else { ("Upload", "Uploading") };
            status.set(Some(if p.finished {
                format!("{done} done: {} files, {} bytes", p.files_total, p.bytes_total)
            } else {
                format!(
                    "{doing} {} ({} of {} files, {} of {} bytes)",
                    p.file,
                    p.files_done + 1,
                    p.files_total,
                    p.bytes_done,
                    p.bytes_total
                )
            }));
        });
        let unlisten = std::rc::Rc::new(std::cell::RefCell::new(None::<js_sys::Function>));
        let promise: js_sys::Promise = listen
            .call2(&event, &JsValue::from_str("transfer-progress"), callback.as_ref().unchecked_ref())
            .ok()?
            .dyn_into()
            .ok()?;
        let slot = unlisten.clone();
        spawn_local(async move {
            if let Ok(f) = wasm_bindgen_futures::JsFuture::from(promise).await {
                *slot.borrow_mut() = f.dyn_into().ok();
            }
        });
        Some(ProgressListener { _callback: SendWrapper::new(callback), unlisten: SendWrapper::new(unlisten) })
    }
}

impl Drop for ProgressListener {
    fn drop(&mut self) {
        if let Some(f) = self.unlisten.borrow_mut().take() {
            let _ = f.call0(&JsValue::NULL);
        }
    }
}
