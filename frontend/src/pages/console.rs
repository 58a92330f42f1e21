//! The SSH console of an instance (manual 7.3.6): an xterm.js terminal over the core's console
//! WebSocket (`/api/v1/instances/{id}/console`, protocol in `wintermute_api::console`). It fills
//! the window and tells the core its size, acknowledges output once the terminal has drawn it
//! (the core's flow control), copies and pastes (buttons, or Ctrl+Shift+C / Ctrl+Shift+V), and
//! reattaches with the resume token after a dropped connection. Several consoles open as tabs
//! of the page; closing a tab, or leaving the page, ends its session and releases every callback.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use send_wrapper::SendWrapper;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, MessageEvent, WebSocket};
use wintermute_api::console::{ConsoleClientMessage, ConsoleCloseReason, ConsoleServerMessage};
use wintermute_api::instances::{Instance, InstanceStatus};

use crate::api::{core_url, load_into, use_auth, Loaded};
use crate::xterm::{self, Disposable, FitAddon, Terminal};

/// Acknowledge output every this many bytes (the core keeps up to 1 MiB unacknowledged).
const ACK_EVERY: u64 = 64 * 1024;
/// Reattach attempts after a drop, and the wait between them.
const MAX_RETRIES: u32 = 10;
const RETRY_MS: i32 = 2000;

/// Where the connection is, as the toolbar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting,
    Connected,
    Reconnecting(u32),
    /// The session is over; the text says why.
    Ended(String),
    /// It could not be opened or failed.
    Failed(String),
}

/// One tab of the console page: a console session of an instance.
#[derive(Clone, Copy)]
struct Tab {
    key: u32,
    instance: i64,
    /// The instance's name, once loaded.
    name: RwSignal<Option<String>>,
}

/// The console page: consoles in tabs. It opens with the console of the instance in its address;
/// "New tab" opens another session of the same instance, "Open console of…" one of another
/// running instance. Every tab keeps its session while another one shows; closing a tab ends it.
#[component]
pub fn Console() -> impl IntoView {
    let auth = use_auth();
    let params = use_params_map();
    let id = params.with_untracked(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let tabs = RwSignal::new(vec![Tab { key: 1, instance: id, name: RwSignal::new(None) }]);
    let active = RwSignal::new(1u32);
    let next_key = StoredValue::new(2u32);
    let running = RwSignal::new(Loaded::<Vec<Instance>>::Loading);
    load_into(auth, running, move |c| async move {
        c.instances(false).await.map(|l| l.into_iter().filter(|i| i.status == InstanceStatus::Running).collect())
    });

    let open = move |instance: i64, name: Option<String>| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        tabs.update(|t| t.push(Tab { key, instance, name: RwSignal::new(name) }));
        active.set(key);
    };
    let close = move |key: u32| {
        let mut next_active = None;
        tabs.update(|t| {
            if let Some(pos) = t.iter().position(|x| x.key == key) {
                t.remove(pos);
                if active.get_untracked() == key {
                    next_active = t.get(pos).or_else(|| t.last()).map(|x| x.key);
                }
            }
        });
        if let Some(k) = next_active {
            active.set(k);
        }
    };
    // "desk-1", and "desk-1 (2)" for a second session of the same instance.
    let label = move |tab: Tab| {
        let base = tab.name.get().unwrap_or_else(|| format!("instance {}", tab.instance));
        let nth = tabs.with(|t| t.iter().filter(|x| x.instance == tab.instance && x.key <= tab.key).count());
        if nth > 1 {
            format!("{base} ({nth})")
        } else {
            base
        }
    };
    let title = move || {
        let tab = tabs.with(|t| t.iter().find(|x| x.key == active.get()).copied());
        match tab {
            Some(tab) => format!("Console: {}", label(tab)),
            None => "Console".to_string(),
        }
    };
    let other = RwSignal::new(String::new());
    view! {
        <section class="page console-page">
            <div class="page-head">
                <h1>{title}</h1>
                <div class="buttons console-tools">
                    <A href="/instances">"Back to instances"</A>
                </div>
            </div>
            <div class="console-tabs" role="tablist" aria-label="Consoles">
                <For each=move || tabs.get() key=|t| t.key let:tab>
                    <div class="console-tab" class:active=move || active.get() == tab.key data-tab=tab.key>
                        <button
                            type="button"
                            role="tab"
                            class="tab-label"
                            aria-selected=move || (active.get() == tab.key).to_string()
                            on:click=move |_| active.set(tab.key)
                        >
                            {move || label(tab)}
                        </button>
                        <button
                            type="button"
                            class="tab-close"
                            title="Close this console"
                            aria-label=move || format!("Close {}", label(tab))
                            on:click=move |_| close(tab.key)
                        >
                            "×"
                        </button>
                    </div>
                </For>
                <button
                    type="button"
                    class="tab-new"
                    title="Another session of this instance"
                    on:click=move |_| {
                        let current = tabs.with_untracked(|t| t.iter().find(|x| x.key == active.get_untracked()).copied());
                        let (instance, name) = current.map_or((id, None), |t| (t.instance, t.name.get_untracked()));
                        open(instance, name);
                    }
                >
                    "+ New tab"
                </button>
                <select
                    class="tab-open"
                    aria-label="Open the console of another instance"
                    prop:value=move || other.get()
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if let Ok(instance) = v.parse::<i64>() {
                            let name = running.with_untracked(|r| {
                                r.ready().and_then(|l| l.iter().find(|i| i.id == instance).map(|i| i.name.clone()))
                            });
                            open(instance, name);
                        }
                        other.set(String::new());
                    }
                >
                    <option value="">"Open console of…"</option>
                    {move || {
                        running
                            .with(|r| r.ready().cloned().unwrap_or_default())
                            .into_iter()
                            .map(|i| view! { <option value=i.id.to_string()>{i.name}</option> })
                            .collect_view()
                    }}
                </select>
            </div>
            <Show when=move || tabs.with(|t| t.is_empty())>
                <p class="muted">"No console is open. Open one above, or go back to the instances."</p>
            </Show>
            <For each=move || tabs.get() key=|t| t.key let:tab>
                <ConsoleTab tab active=Signal::derive(move || active.get() == tab.key) />
            </For>
        </section>
    }
}

/// The session of one tab: its toolbar and terminal. Hidden while another tab shows (the session
/// goes on); fitted again when it shows. Removing the tab ends the session and releases it.
#[component]
fn ConsoleTab(tab: Tab, active: Signal<bool>) -> impl IntoView {
    let auth = use_auth();
    let id = tab.instance;
    let instance = RwSignal::new(Loaded::<Instance>::Loading);
    load_into(auth, instance, move |c| async move { c.instance(id).await });
    Effect::new(move |_| {
        if let Some(name) = instance.with(|i| i.ready().map(|i| i.name.clone())) {
            tab.name.set(Some(name));
        }
    });
    let link = RwSignal::new(Link::Connecting);
    let exit = RwSignal::new(None::<u32>);
    let node = NodeRef::<leptos::html::Div>::new();
    let session = StoredValue::new(None::<SendWrapper<Rc<Session>>>);
    let token = auth.session.with_untracked(|s| s.as_ref().map(|s| s.token.clone())).unwrap_or_default();

    Effect::new(move |_| {
        let Some(el) = node.get() else { return };
        if session.with_value(|s| s.is_some()) {
            return;
        }
        let s = Session::start(&el, id, token.clone(), link, exit);
        session.set_value(Some(SendWrapper::new(s)));
    });
    // Shown again: its size may have changed while hidden (a hidden terminal cannot be measured).
    Effect::new(move |was: Option<bool>| {
        let now = active.get();
        if now && was == Some(false) {
            let weak = session.with_value(|s| s.as_ref().map(|s| SendWrapper::new(Rc::downgrade(s))));
            if let (Some(weak), Some(w)) = (weak, web_sys::window()) {
                let refit = Closure::once_into_js(move || {
                    if let Some(s) = weak.upgrade() {
                        s.refit();
                    }
                });
                let _ = w.request_animation_frame(refit.unchecked_ref());
            }
        }
        now
    });
    on_cleanup(move || {
        if let Some(s) = session.try_update_value(|s| s.take()).flatten() {
            s.dispose();
        }
    });

    let with_session = move |f: &dyn Fn(&Rc<Session>)| session.with_value(|s| s.as_ref().map(|s| f(s)));
    let link_text = move || match link.get() {
        Link::Connecting => "connecting…".to_string(),
        Link::Connected => "connected".to_string(),
        Link::Reconnecting(n) => format!("connection lost, reconnecting (attempt {n})…"),
        Link::Ended(why) => format!("ended: {why}"),
        Link::Failed(why) => format!("failed: {why}"),
    };
    let over = move || matches!(link.get(), Link::Ended(_) | Link::Failed(_));
    view! {
        <div class="console-panel" role="tabpanel" data-tab=tab.key hidden=move || !active.get()>
            <div class="console-bar">
            <div class="buttons console-tools">
                <span
                    class="console-state"
                    data-testid="console-state"
                    role="status"
                    class:bad=over
                    class:warn=move || matches!(link.get(), Link::Connecting | Link::Reconnecting(_))
                >
                    {link_text}
                    {move || exit.get().map(|s| format!(" (exit status {s})"))}
                </span>
                <button type="button" title="Ctrl+Shift+C" on:click=move |_| {
                    with_session(&|s| s.copy());
                }>"Copy"</button>
                <button type="button" title="Ctrl+Shift+V" on:click=move |_| {
                    with_session(&|s| s.paste());
                }>"Paste"</button>
                <Show when=over>
                    <button type="button" class="primary" on:click=move |_| {
                        with_session(&|s| s.reconnect_new());
                    }>"Open a new session"</button>
                </Show>
                <Show when=move || !over()>
                    <button type="button" class="danger" on:click=move |_| {
                        with_session(&|s| s.end());
                    }>"End session"</button>
                </Show>
            </div>
            {crate::desktop::console_tools(id, Signal::derive(move || tab.name.get()), auth.session.with_untracked(|s| s.as_ref().map(|s| s.token.clone())).unwrap_or_default())}
            </div>
            <div class="terminal" node_ref=node aria-label="Terminal"></div>
        </div>
    }
}

/// One console: the terminal, its WebSocket and every callback they hold.
pub struct Session {
    inner: RefCell<Inner>,
}

struct Inner {
    instance: i64,
    token: String,
    term: Terminal,
    fit: FitAddon,
    link: RwSignal<Link>,
    exit: RwSignal<Option<u32>>,
    ws: Option<WebSocket>,
    ws_callbacks: Vec<Box<dyn std::any::Any>>,
    /// Output bytes received (the offset of the next one) and the last offset acknowledged.
    received: u64,
    acked: u64,
    resume: Option<String>,
    ended: bool,
    disposed: bool,
    retries: u32,
    timer: Option<i32>,
    subscriptions: Vec<Disposable>,
    term_callbacks: Vec<Box<dyn std::any::Any>>,
    on_window_resize: Option<Closure<dyn FnMut()>>,
}

impl Session {
    fn start(
        el: &web_sys::HtmlDivElement,
        instance: i64,
        token: String,
        link: RwSignal<Link>,
        exit: RwSignal<Option<u32>>,
    ) -> Rc<Session> {
        let term = Terminal::new(&xterm::options());
        let fit = FitAddon::new();
        term.load_addon(&fit);
        term.open(el);
        fit.fit();
        let s = Rc::new(Session {
            inner: RefCell::new(Inner {
                instance,
                token,
                term,
                fit,
                link,
                exit,
                ws: None,
                ws_callbacks: Vec::new(),
                received: 0,
                acked: 0,
                resume: None,
                ended: false,
                disposed: false,
                retries: 0,
                timer: None,
                subscriptions: Vec::new(),
                term_callbacks: Vec::new(),
                on_window_resize: None,
            }),
        });
        s.wire_terminal();
        s.connect();
        s.inner.borrow().term.focus();
        s
    }

    /// Typing, pasting, size changes and the copy/paste keys.
    fn wire_terminal(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let on_data = {
            let weak = weak.clone();
            Closure::<dyn FnMut(String)>::new(move |data: String| {
                if let Some(s) = weak.upgrade() {
                    s.send_bytes(data.as_bytes());
                }
            })
        };
        let on_binary = {
            let weak = weak.clone();
            Closure::<dyn FnMut(String)>::new(move |data: String| {
                if let Some(s) = weak.upgrade() {
                    let bytes: Vec<u8> = data.chars().map(|c| c as u32 as u8).collect();
                    s.send_bytes(&bytes);
                }
            })
        };
        let on_resize = {
            let weak = weak.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                if let (Some(s), Some((cols, rows))) = (weak.upgrade(), xterm::size_of(&ev)) {
                    s.send_control(&ConsoleClientMessage::Resize { cols, rows });
                }
            })
        };
        let keys = {
            let weak = weak.clone();
            Closure::<dyn FnMut(web_sys::KeyboardEvent) -> bool>::new(move |ev: web_sys::KeyboardEvent| {
                let Some(s) = weak.upgrade() else { return true };
                if ev.type_() != "keydown" || !ev.ctrl_key() || !ev.shift_key() {
                    return true;
                }
                match ev.key().to_ascii_lowercase().as_str() {
                    "c" => {
                        s.copy();
                        false
                    }
                    "v" => {
                        ev.prevent_default();
                        s.paste();
                        false
                    }
                    _ => true,
                }
            })
        };
        let on_window_resize = {
            let weak = weak.clone();
            Closure::<dyn FnMut()>::new(move || {
                if let Some(s) = weak.upgrade() {
                    s.inner.borrow().fit.fit();
                }
            })
        };
        let mut inner = self.inner.borrow_mut();
        let subs =
            vec![inner.term.on_data(&on_data), inner.term.on_binary(&on_binary), inner.term.on_resize(&on_resize)];
        inner.term.attach_custom_key_event_handler(&keys);
        inner.subscriptions = subs;
        if let Some(w) = web_sys::window() {
            let _ = w.add_event_listener_with_callback("resize", on_window_resize.as_ref().unchecked_ref());
        }
        inner.on_window_resize = Some(on_window_resize);
        inner.term_callbacks = vec![Box::new(on_data), Box::new(on_binary), Box::new(on_resize), Box::new(keys)];
    }

    fn url(inner: &Inner) -> String {
        let base = core_url();
        let ws = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", base.trim_start_matches("http://")),
        };
        let mut url = format!(
            "{ws}/api/v1/instances/{}/console?cols={}&rows={}&token={}",
            inner.instance,
            inner.term.cols().max(1),
            inner.term.rows().max(1),
            js_sys::encode_uri_component(&inner.token)
        );
        if let Some(r) = &inner.resume {
            url.push_str(&format!("&resume={}&offset={}", js_sys::encode_uri_component(r), inner.received));
        }
        url
    }

    /// Opens the WebSocket (a new session, or the same one again with the resume token).
    fn connect(self: &Rc<Self>) {
        let url = {
            let mut inner = self.inner.borrow_mut();
            inner.timer = None;
            if inner.disposed {
                return;
            }
            Self::url(&inner)
        };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                self.inner.borrow().link.set(Link::Failed("the browser refused to open the connection".into()));
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let weak = Rc::downgrade(self);
        let on_message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                if let Some(s) = weak.upgrade() {
                    s.on_message(ev);
                }
            })
        };
        let on_close = {
            let weak = weak.clone();
            Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |_ev: web_sys::CloseEvent| {
                if let Some(s) = weak.upgrade() {
                    s.on_close();
                }
            })
        };
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut inner = self.inner.borrow_mut();
        if let Some(old) = inner.ws.take() {
            detach(&old);
            let _ = old.close();
        }
        inner.ws = Some(ws);
        inner.ws_callbacks = vec![Box::new(on_message), Box::new(on_close)];
    }

    fn on_message(self: &Rc<Self>, ev: MessageEvent) {
        let data = ev.data();
        if let Some(buf) = data.dyn_ref::<js_sys::ArrayBuffer>() {
            let bytes = js_sys::Uint8Array::new(buf);
            let mut inner = self.inner.borrow_mut();
            inner.received += u64::from(bytes.length());
            if inner.received - inner.acked >= ACK_EVERY {
                // Acknowledge once the terminal has parsed these bytes: a slow tab slows the core.
                let offset = inner.received;
                inner.acked = offset;
                let weak: Weak<Session> = Rc::downgrade(self);
                let done = Closure::once_into_js(move || {
                    if let Some(s) = weak.upgrade() {
                        s.send_control(&ConsoleClientMessage::Ack { offset });
                    }
                });
                inner.term.write_bytes_then(&bytes, done.unchecked_ref());
            } else {
                inner.term.write_bytes(&bytes);
            }
            return;
        }
        let Some(text) = data.as_string() else { return };
        let Ok(msg) = serde_json::from_str::<ConsoleServerMessage>(&text) else { return };
        let mut inner = self.inner.borrow_mut();
        match msg {
            ConsoleServerMessage::Ready { resume_token, offset, missed, .. } => {
                if missed > 0 {
                    inner.term.write_str(&format!("\r\n\x1b[33m[{missed} bytes of output were lost]\x1b[0m\r\n"));
                }
                inner.received = offset;
                inner.acked = offset;
                inner.resume = Some(resume_token);
                inner.retries = 0;
                inner.link.set(Link::Connected);
                // The window may have changed size while reconnecting.
                let (cols, rows) = (inner.term.cols(), inner.term.rows());
                drop(inner);
                self.send_control(&ConsoleClientMessage::Resize { cols, rows });
            }
            ConsoleServerMessage::Exit { status, .. } => inner.exit.set(Some(status)),
            ConsoleServerMessage::Closed { reason, message, .. } => {
                inner.ended = true;
                let why = match reason {
                    ConsoleCloseReason::Replaced => "another window took the session over".to_string(),
                    ConsoleCloseReason::Ended => message,
                };
                inner.term.write_str(&format!("\r\n\x1b[33m[session ended: {why}]\x1b[0m\r\n"));
                inner.link.set(Link::Ended(why));
            }
            ConsoleServerMessage::Error { message, .. } => {
                inner.ended = true;
                inner.term.write_str(&format!("\r\n\x1b[31m[{message}]\x1b[0m\r\n"));
                inner.link.set(Link::Failed(message));
            }
        }
    }

    fn on_close(self: &Rc<Self>) {
        let mut inner = self.inner.borrow_mut();
        if inner.disposed || inner.ended {
            return;
        }
        if inner.resume.is_none() {
            // Refused before the upgrade: the browser does not say why, the instance page does.
            inner.ended = true;
            inner.link.set(Link::Failed(
                "the core refused the console (is the instance running, and may you open its SSH console?)".into(),
            ));
            return;
        }
        if inner.retries >= MAX_RETRIES {
            inner.ended = true;
            inner.link.set(Link::Failed("the connection could not be restored".into()));
            return;
        }
        inner.retries += 1;
        inner.link.set(Link::Reconnecting(inner.retries));
        let weak = Rc::downgrade(self);
        let again = Closure::once_into_js(move || {
            if let Some(s) = weak.upgrade() {
                s.connect();
            }
        });
        inner.timer = web_sys::window().and_then(|w| {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(again.unchecked_ref(), RETRY_MS).ok()
        });
    }

    fn send_bytes(&self, bytes: &[u8]) {
        let inner = self.inner.borrow();
        if let Some(ws) = inner.ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) {
            let _ = ws.send_with_u8_array(bytes);
        }
    }

    fn send_control(&self, msg: &ConsoleClientMessage) {
        let Ok(text) = serde_json::to_string(msg) else { return };
        let inner = self.inner.borrow();
        if let Some(ws) = inner.ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) {
            let _ = ws.send_with_str(&text);
        }
    }

    /// Fits the terminal to its box again and gives it the keyboard (its tab shows again).
    fn refit(&self) {
        let inner = self.inner.borrow();
        inner.fit.fit();
        inner.term.focus();
    }

    /// Copies the selection to the clipboard.
    pub fn copy(&self) {
        let text = self.inner.borrow().term.get_selection();
        if text.is_empty() {
            return;
        }
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&text);
        }
    }

    /// Types the clipboard's text into the terminal.
    pub fn paste(self: &Rc<Self>) {
        let Some(w) = web_sys::window() else { return };
        let read = w.navigator().clipboard().read_text();
        let weak = Rc::downgrade(self);
        let weak = SendWrapper::new(weak);
        leptos::task::spawn_local(async move {
            if let Ok(text) = wasm_bindgen_futures::JsFuture::from(read).await {
                if let (Some(s), Some(text)) = (weak.upgrade(), text.as_string()) {
                    let inner = s.inner.borrow();
                    inner.term.paste(&text);
                    inner.term.focus();
                }
            }
        });
    }

    /// "End session": the core closes the shell now instead of keeping it for a reconnect.
    pub fn end(&self) {
        self.send_control(&ConsoleClientMessage::Close);
    }

    /// After the end: a fresh session in the same terminal.
    pub fn reconnect_new(self: &Rc<Self>) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.resume = None;
            inner.ended = false;
            inner.received = 0;
            inner.acked = 0;
            inner.retries = 0;
            inner.exit.set(None);
            inner.link.set(Link::Connecting);
            inner.term.write_str("\r\n");
        }
        self.connect();
        self.inner.borrow().term.focus();
    }

    /// Ends the session and releases the socket, the terminal and every callback.
    pub fn dispose(&self) {
        self.send_control(&ConsoleClientMessage::Close);
        let mut inner = self.inner.borrow_mut();
        inner.disposed = true;
        if let (Some(t), Some(w)) = (inner.timer.take(), web_sys::window()) {
            w.clear_timeout_with_handle(t);
        }
        if let Some(ws) = inner.ws.take() {
            detach(&ws);
            let _ = ws.close();
        }
        inner.ws_callbacks.clear();
        for s in inner.subscriptions.drain(..) {
            s.dispose();
        }
        if let (Some(cb), Some(w)) = (inner.on_window_resize.take(), web_sys::window()) {
            let _ = w.remove_event_listener_with_callback("resize", cb.as_ref().unchecked_ref());
        }
        inner.term.dispose();
        inner.term_callbacks.clear();
    }
}

fn detach(ws: &WebSocket) {
    ws.set_onmessage(None);
    ws.set_onclose(None);
}
