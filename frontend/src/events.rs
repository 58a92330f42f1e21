//! Live task events from the core's WebSocket (`/api/v1/events`): task states and log lines as
//! they happen. One connection per logged-in app, reopened after a drop, closed (with its
//! callbacks released) when the user logs out.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};
use wintermute_api::events::Event;
use wintermute_api::tasks::{Task, TaskLogLine, TaskState};

/// How many log lines are kept per task for the live views (older ones are reloaded on demand).
const MAX_LINES_PER_TASK: usize = 5000;
/// Wait before reconnecting after the connection dropped.
const RECONNECT_MS: i32 = 3000;

/// What the live views read. `generation` grows on every reconnect or skipped event, telling
/// views to reload from the API what they show; `resources` grows when an instance or a volume
/// of the user changed (the dashboard's tiles count them).
#[derive(Clone, Copy)]
pub struct Live {
    pub tasks: RwSignal<BTreeMap<i64, Task>>,
    pub logs: RwSignal<BTreeMap<i64, Vec<TaskLogLine>>>,
    pub connected: RwSignal<bool>,
    pub generation: RwSignal<u64>,
    pub resources: RwSignal<u64>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            tasks: RwSignal::new(BTreeMap::new()),
            logs: RwSignal::new(BTreeMap::new()),
            connected: RwSignal::new(false),
            generation: RwSignal::new(0),
            resources: RwSignal::new(0),
        }
    }

    /// Adds lines loaded from the API, keeping the order and dropping those already known.
    pub fn merge_log(&self, task_id: i64, lines: Vec<TaskLogLine>) {
        self.logs.update(|logs| {
            let known = logs.entry(task_id).or_default();
            for l in lines {
                add_line(known, l);
            }
        });
    }

    /// Keeps the newer of two views of a task. Answers of the API and events of the socket
    /// can arrive in either order; a finished task never runs again, so a finished state wins
    /// over an unfinished one, and a cancel request once seen stays.
    pub fn merge_task(&self, task: Task) {
        self.tasks.update(|t| match t.get(&task.id) {
            Some(known) if is_older(&task, known) => {}
            _ => {
                t.insert(task.id, task);
            }
        });
    }

    fn apply(&self, ev: Event) {
        match ev {
            Event::Task { task } => {
                self.tasks.with_untracked(|t| crate::desktop::task_changed(t.get(&task.id), &task));
                self.merge_task(task)
            }
            Event::TaskLog { line } => self.logs.update(|logs| add_line(logs.entry(line.task_id).or_default(), line)),
            Event::Instance { .. } | Event::Volume { .. } => self.resources.update(|g| *g += 1),
            Event::Lagged { .. } => self.generation.update(|g| *g += 1),
        }
    }
}

/// Whether `new` is an older state of the task than `known`.
fn is_older(new: &Task, known: &Task) -> bool {
    if known.state.is_finished() != new.state.is_finished() {
        return known.state.is_finished();
    }
    if known.state.is_finished() {
        return false;
    }
    if known.cancel_requested != new.cancel_requested {
        return known.cancel_requested;
    }
    (known.state == TaskState::Running && new.state == TaskState::Queued)
        || (known.state == new.state && new.progress < known.progress)
}

fn add_line(known: &mut Vec<TaskLogLine>, line: TaskLogLine) {
    match known.last() {
        None => known.push(line),
        Some(last) if line.seq > last.seq => known.push(line),
        Some(_) => {
            if let Err(at) = known.binary_search_by_key(&line.seq, |l| l.seq) {
                known.insert(at, line);
            }
        }
    }
    if known.len() > MAX_LINES_PER_TASK {
        let extra = known.len() - MAX_LINES_PER_TASK;
        known.drain(..extra);
    }
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// The open socket and the callbacks it calls; dropping it detaches and closes everything.
struct Connection {
    ws: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onopen(None);
        let _ = self.ws.close();
    }
}

/// State shared by the callbacks: the connection, the pending reconnect timer, and whether the
/// owner is gone.
#[derive(Default)]
struct Shared {
    conn: Option<Connection>,
    retry: Option<(i32, Closure<dyn FnMut()>)>,
    stopped: bool,
}

/// Keeps `live` fed from the events of the core at `url` (`ws(s)://…/api/v1/events?token=…`)
/// for as long as the calling component lives.
pub fn connect(live: Live, url: String) {
    let shared = Rc::new(RefCell::new(Shared::default()));
    open(live, url, shared.clone());
    let guard = SendWrapper::new(shared);
    on_cleanup(move || {
        let shared = guard.take();
        let mut s = shared.borrow_mut();
        s.stopped = true;
        if let Some((id, _)) = s.retry.take() {
            if let Some(w) = web_sys::window() {
                w.clear_timeout_with_handle(id);
            }
        }
        s.conn = None;
        live.connected.set(false);
    });
}

fn open(live: Live, url: String, shared: Rc<RefCell<Shared>>) {
    let Ok(ws) = WebSocket::new(&url) else {
        schedule_reconnect(live, url, shared);
        return;
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        if let Some(text) = e.data().as_string() {
            if let Ok(ev) = serde_json::from_str::<Event>(&text) {
                live.apply(ev);
            }
        }
    });
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        live.connected.set(true);
        // Events may have been missed while disconnected: views reload.
        live.generation.update(|g| *g += 1);
    });
    let on_close = {
        let shared = Rc::downgrade(&shared);
        let url = url.clone();
        Closure::<dyn FnMut(CloseEvent)>::new(move |_| {
            live.connected.set(false);
            if let Some(shared) = shared.upgrade() {
                schedule_reconnect(live, url.clone(), shared);
            }
        })
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    shared.borrow_mut().conn = Some(Connection { ws, _on_message: on_message, _on_close: on_close, _on_open: on_open });
}

fn schedule_reconnect(live: Live, url: String, shared: Rc<RefCell<Shared>>) {
    if shared.borrow().stopped {
        return;
    }
    let weak = Rc::downgrade(&shared);
    let cb = Closure::<dyn FnMut()>::new(move || {
        if let Some(shared) = weak.upgrade() {
            let stopped = {
                let mut s = shared.borrow_mut();
                // The timer's own closure is released after this call returns, by the next open.
                s.conn = None;
                s.stopped
            };
            if !stopped {
                open(live, url.clone(), shared);
            }
        }
    });
    let Some(window) = web_sys::window() else { return };
    if let Ok(id) =
        window.set_timeout_with_callback_and_timeout_and_arguments_0(cb.as_ref().unchecked_ref(), RECONNECT_MS)
    {
        // Replacing an earlier timer's closure drops it; it has already run.
        shared.borrow_mut().retry = Some((id, cb));
    }
}
