//! Small building blocks every screen uses: error boxes, dialogs, state badges, times.

use std::future::Future;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::{JsCast, JsValue};
use wintermute_api::client::{Client, ClientError};
use wintermute_api::tasks::TaskState;

use crate::api::{act, use_auth};

mod menu;
mod provider;
mod table;

pub use menu::{menu_item, open_button, MenuButton, RowMenu};
pub use provider::ProviderRegion;
pub use table::{ListTable, RemovableRows};

/// A time in the browser's local zone, e.g. "24/04/2026, 14:03:11".
pub fn fmt_time(t: &DateTime<Utc>) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(t.timestamp_millis() as f64));
    String::from(d.to_locale_string("en-GB", &JsValue::UNDEFINED))
}

pub fn fmt_opt_time(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())
}

/// A failure message, shown where the action was, readable by screen readers at once.
#[component]
pub fn ErrorBox(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! {
                <div class="error" role="alert">
                    <strong>"Error: "</strong>
                    {e}
                </div>
            }
        })
    }
}

/// A modal dialog, labelled by its title: the first field gets the focus, Tab and Shift+Tab stay
/// inside it, Escape or the close button calls `on_close`, and the focus goes back to where it
/// was (the button that opened it) when it closes.
#[component]
pub fn Modal(
    #[prop(into)] title: Signal<String>,
    on_close: Callback<()>,
    #[prop(optional)] wide: bool,
    children: Children,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    let opener = SendWrapper::new(web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element()));
    on_cleanup(move || {
        if let Some(el) = opener.take().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = el.focus();
        }
    });
    Effect::new(move |_| {
        if let Some(el) = node.get() {
            focus_first_field(&el);
        }
    });
    let title_id = format!("dialog-title-{}", DIALOGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Escape" => {
            ev.stop_propagation();
            on_close.run(());
        }
        "Tab" => {
            if let Some(el) = node.get_untracked() {
                trap_tab(&el, &ev);
            }
        }
        _ => {}
    };
    view! {
        <div class="backdrop" on:keydown=keydown>
            <div
                class="modal"
                class:wide=wide
                role="dialog"
                aria-modal="true"
                aria-labelledby=title_id.clone()
                node_ref=node
            >
                <header class="modal-head">
                    <h2 id=title_id.clone()>{move || title.get()}</h2>
                    <button type="button" class="icon-button" aria-label="Close" on:click=move |_| on_close.run(())>
                        "×"
                    </button>
                </header>
                {children()}
            </div>
        </div>
    }
}

/// Numbers the dialogs, for their title ids.
static DIALOGS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), \
                         select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

/// Elements of `el` the keyboard reaches, in order, leaving out hidden tab panels.
fn focusable(el: &web_sys::HtmlDivElement) -> Vec<web_sys::HtmlElement> {
    let Ok(list) = el.query_selector_all(FOCUSABLE) else { return Vec::new() };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .filter(|e| e.offset_parent().is_some())
        .collect()
}

/// Keeps Tab inside the dialog: from the last element to the first, and back with Shift.
fn trap_tab(el: &web_sys::HtmlDivElement, ev: &web_sys::KeyboardEvent) {
    let items = focusable(el);
    let (Some(first), Some(last)) = (items.first(), items.last()) else { return };
    let active = web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element());
    let at = |e: &web_sys::HtmlElement| active.as_ref().is_some_and(|a| a == e.unchecked_ref::<web_sys::Element>());
    let inside = active.as_ref().is_some_and(|a| el.contains(Some(a)));
    if ev.shift_key() && (at(first) || !inside) {
        ev.prevent_default();
        let _ = last.focus();
    } else if !ev.shift_key() && (at(last) || !inside) {
        ev.prevent_default();
        let _ = first.focus();
    }
}

fn focus_first_field(el: &web_sys::HtmlDivElement) {
    let selector = "input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), \
                    .modal-body button:not([disabled])";
    if let Ok(Some(first)) = el.query_selector(selector) {
        if let Ok(first) = first.dyn_into::<web_sys::HtmlElement>() {
            let _ = first.focus();
        }
    }
}

/// "Are you sure?": a dialog with a sentence, Cancel and a red button that runs `action`; its
/// failure shows in the dialog, its success calls `on_done`.
#[component]
pub fn Confirm<F, Fut, T>(
    #[prop(into)] title: String,
    #[prop(into)] text: String,
    /// The red button's word ("Delete", "Terminate"…).
    #[prop(into)]
    confirm: String,
    on_close: Callback<()>,
    on_done: Callback<()>,
    action: F,
) -> impl IntoView
where
    F: Fn(Client) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ClientError>> + 'static,
    T: 'static,
{
    let auth = use_auth();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let run = move |_| {
        let action = action.clone();
        act(auth, busy, error, action, move |_| on_done.run(()));
    };
    view! {
        <Modal title=title on_close=on_close>
            <div class="modal-body stack">
                <p>{text}</p>
                <ErrorBox error=error />
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
                    <button type="button" class="danger" disabled=move || busy.get() on:click=run>{confirm}</button>
                </div>
            </div>
        </Modal>
    }
}

/// The end of a dialog's form: its error, "Cancel" and the submit button (`submit`: "Save",
/// "Create"…), greyed while `busy` or while `blocked` says the form is not ready.
#[component]
pub fn DialogButtons(
    error: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
    on_close: Callback<()>,
    submit: &'static str,
    #[prop(optional, into)] blocked: Option<Signal<bool>>,
) -> impl IntoView {
    let disabled = move || busy.get() || blocked.is_some_and(|b| b.get());
    view! {
        <ErrorBox error=error />
        <div class="buttons">
            <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
            <button type="submit" class="primary" disabled=disabled>{submit}</button>
        </div>
    }
}

/// A tab of a dialog's tab bar, showing panel `this` of `current` when chosen.
pub fn tab_button<T: Copy + PartialEq + Send + Sync + 'static>(
    current: RwSignal<T>,
    this: T,
    label: &'static str,
) -> impl IntoView {
    view! {
        <button
            type="button"
            role="tab"
            aria-selected=move || (current.get() == this).to_string()
            class:active=move || current.get() == this
            on:click=move |_| current.set(this)
        >
            {label}
        </button>
    }
}

/// A task state as a coloured word.
#[component]
pub fn StateBadge(state: TaskState) -> impl IntoView {
    view! { <span class=format!("badge state-{}", state.as_str())>{state.as_str()}</span> }
}

/// A person, for the user menu (drawn, not a font's emoji: not every system has one).
#[component]
pub fn PersonIcon() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
            <circle cx="8" cy="5" r="3" fill="currentColor"></circle>
            <path d="M2 15c0-3.3 2.7-5.5 6-5.5s6 2.2 6 5.5z" fill="currentColor"></path>
        </svg>
    }
}

/// A yes/no cell.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A progress bar for a fraction from 0 to 1.
#[component]
pub fn Progress(#[prop(into)] value: Signal<f64>) -> impl IntoView {
    let pct = move || (value.get().clamp(0.0, 1.0) * 100.0).round();
    view! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct>
            <div class="progress-fill" style:width=move || format!("{}%", pct())></div>
        </div>
    }
}

/// A value that shows more about itself when clicked (the manual's "extra info" fields): a
/// native disclosure widget, so the keyboard opens it too; Escape closes it.
#[component]
pub fn Info(
    #[prop(into)] label: String,
    /// Class of the visible value (a badge, say).
    #[prop(optional, into)]
    class: String,
    children: Children,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Details>::new();
    // The pop-over floats over the page (tables clip what sticks out of them): placed under the
    // value when it opens, kept inside the window.
    let place = move |_| {
        let Some(d) = node.get_untracked() else { return };
        if !d.open() {
            return;
        }
        let (Ok(Some(summary)), Ok(Some(pop))) = (d.query_selector("summary"), d.query_selector(".popover")) else {
            return;
        };
        let Ok(pop) = pop.dyn_into::<web_sys::HtmlElement>() else { return };
        let r = summary.get_bounding_client_rect();
        let width = web_sys::window().and_then(|w| w.inner_width().ok()).and_then(|v| v.as_f64()).unwrap_or(1024.0);
        let left = r.left().min(width - pop.offset_width() as f64 - 8.0).max(8.0);
        let style = pop.style();
        let _ = style.set_property("position", "fixed");
        let _ = style.set_property("top", &format!("{}px", r.bottom() + 4.0));
        let _ = style.set_property("left", &format!("{left}px"));
    };
    view! {
        <details
            class="info"
            node_ref=node
            on:toggle=place
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" {
                    if let Some(d) = node.get_untracked() {
                        d.set_open(false);
                    }
                }
            }
        >
            <summary><span class=class>{label}</span></summary>
            <div class="popover">{children()}</div>
        </details>
    }
}
