//! Small building blocks every screen uses: error boxes, dialogs, state badges, times.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use wasm_bindgen::JsValue;
use wintermute_api::tasks::TaskState;

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

/// A modal dialog: Escape or the close button calls `on_close`; the first field gets the focus.
#[component]
pub fn Modal(
    #[prop(into)] title: Signal<String>,
    on_close: Callback<()>,
    #[prop(optional)] wide: bool,
    children: Children,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if let Some(el) = node.get() {
            focus_first_field(&el);
        }
    });
    let title_id = format!("dialog-title-{}", DIALOGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    view! {
        <div class="backdrop" on:keydown=move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Escape" {
                ev.stop_propagation();
                on_close.run(());
            }
        }>
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

fn focus_first_field(el: &web_sys::HtmlDivElement) {
    use wasm_bindgen::JsCast;
    let selector = "input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), \
                    .modal-body button:not([disabled])";
    if let Ok(Some(first)) = el.query_selector(selector) {
        if let Ok(first) = first.dyn_into::<web_sys::HtmlElement>() {
            let _ = first.focus();
        }
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
